//! A Gitea-shaped HTTP server on 127.0.0.1 for tests: `GET /api/v1/repos/{owner}/{repo}/pulls`
//! with pull-request objects as Gitea documents them, `page`/`limit` pagination (at most 50 per
//! page) with `Link` (`next`, `last`) and `X-Total-Count` headers, the `state=` filter, weak
//! `ETag`s and `304 Not Modified` (as a caching proxy in front of Gitea answers), 429 with
//! `Retry-After`, 401 without the expected `Authorization: token …`, 500s, malformed bodies and
//! 404s. It records every request.

#![allow(dead_code)]

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Body,
    extract::{OriginalUri, Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::get,
};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Ok,
    /// 429 with `Retry-After`.
    RetryAfter {
        secs: u64,
    },
    ServerError,
    Malformed,
}

struct Repo {
    pulls: Vec<Value>,
    mode: Mode,
    /// The token `Authorization: token …` must carry (None: anonymous reads are allowed).
    token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub uri: String,
    pub if_none_match: Option<String>,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct World {
    repos: HashMap<String, Repo>,
    log: Vec<Logged>,
    served_304: usize,
}

#[derive(Clone)]
pub struct Server {
    pub base: String,
    world: Arc<Mutex<World>>,
}

/// A pull request as Gitea's `GET /repos/{owner}/{repo}/pulls` documents it.
pub fn pull(number: u64, head: &str, base: &str, labels: &[&str], state: &str) -> Value {
    let sha = format!("{number:04x}{}", "fedcba9876543210".repeat(3))
        .chars()
        .take(40)
        .collect::<String>();
    let labels: Vec<Value> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| json!({"id": i + 1, "name": l, "color": "00aabb", "description": "", "url": ""}))
        .collect();
    let user = json!({"id": 10 + number % 3, "login": format!("dev{}", number % 3),
                      "full_name": "Dev", "email": "dev@noreply.gitea.example", "username": format!("dev{}", number % 3)});
    json!({
        "id": 50_000 + number,
        "url": format!("https://gitea.example.com/org/app/pulls/{number}"),
        "number": number,
        "user": user,
        "title": format!("Pull request {number}"),
        "body": "",
        "labels": labels,
        "milestone": null,
        "assignee": null,
        "assignees": null,
        "state": state,
        "is_locked": false,
        "comments": 0,
        "html_url": format!("https://gitea.example.com/org/app/pulls/{number}"),
        "mergeable": true,
        "merged": false,
        "merged_at": null,
        "merge_commit_sha": null,
        "merged_by": null,
        "draft": false,
        "base": {"label": base, "ref": base, "sha": "72687815ccba81ef014a96201cc2e846a68789d8", "repo_id": 3},
        "head": {"label": head, "ref": head, "sha": sha, "repo_id": 3},
        "merge_base": "72687815ccba81ef014a96201cc2e846a68789d8",
        "due_date": null,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-02T00:00:00Z",
        "closed_at": null,
    })
}

impl Server {
    pub async fn start() -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let server = Server {
            base: format!("http://{addr}"),
            world: Arc::default(),
        };
        let app = Router::new()
            .route("/api/v1/repos/{owner}/{repo}/pulls", get(list))
            .with_state(server.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        server
    }

    pub fn add_repo(&self, full_name: &str, pulls: Vec<Value>) {
        self.world.lock().unwrap().repos.insert(
            full_name.into(),
            Repo {
                pulls,
                mode: Mode::Ok,
                token: None,
            },
        );
    }

    pub fn require_token(&self, full_name: &str, token: &str) {
        self.world.lock().unwrap().repos.get_mut(full_name).unwrap().token = Some(token.into());
    }

    pub fn set_mode(&self, full_name: &str, mode: Mode) {
        self.world.lock().unwrap().repos.get_mut(full_name).unwrap().mode = mode;
    }

    pub fn edit_pulls(&self, full_name: &str, f: impl FnOnce(&mut Vec<Value>)) {
        f(&mut self.world.lock().unwrap().repos.get_mut(full_name).unwrap().pulls);
    }

    pub fn log(&self) -> Vec<Logged> {
        self.world.lock().unwrap().log.clone()
    }

    pub fn served_304(&self) -> usize {
        self.world.lock().unwrap().served_304
    }
}

async fn list(
    State(server): State<Server>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut w = server.world.lock().unwrap();
    w.log.push(Logged {
        uri: uri.to_string(),
        if_none_match: h("if-none-match"),
        authorization: h("authorization"),
    });
    let answer = |status: StatusCode, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json;charset=utf-8")
            .body(Body::from(body))
            .unwrap()
    };
    let full_name = format!("{owner}/{repo}");
    let Some(r) = w.repos.get(&full_name) else {
        return answer(
            StatusCode::NOT_FOUND,
            r#"{"errors":["The target couldn't be found."],"message":"The target couldn't be found.","url":"https://gitea.example.com/api/swagger"}"#.into(),
        );
    };
    if let Some(token) = &r.token
        && h("authorization") != Some(format!("token {token}"))
    {
        return answer(
            StatusCode::UNAUTHORIZED,
            r#"{"message":"token is required","url":"https://gitea.example.com/api/swagger"}"#.into(),
        );
    }
    match r.mode {
        Mode::Ok => {}
        Mode::RetryAfter { secs } => {
            return Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .header("retry-after", secs.to_string())
                .body(Body::from("Too Many Requests"))
                .unwrap();
        }
        Mode::ServerError => {
            return answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"message":"internal error"}"#.into(),
            );
        }
        Mode::Malformed => return answer(StatusCode::OK, r#"{"not": "a list"#.into()),
    }
    let state = query.get("state").cloned().unwrap_or_else(|| "open".into());
    let matching: Vec<&Value> = r
        .pulls
        .iter()
        .filter(|p| state == "all" || p["state"] == state.as_str())
        .collect();
    // Gitea: limit 0 (or absent) is the default page size (30); at most MAX_RESPONSE_ITEMS (50).
    let limit: usize = match query.get("limit").and_then(|v| v.parse().ok()).unwrap_or(0) {
        0 => 30,
        n => n.min(50),
    };
    let page: usize = query.get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let last = matching.len().div_ceil(limit).max(1);
    let items: Vec<&Value> = matching
        .iter()
        .skip((page - 1) * limit)
        .take(limit)
        .copied()
        .collect();
    let body = serde_json::to_string(&items).unwrap();
    let etag = super::weak_etag(&body);
    let link_to = |n: usize, rel: &str| {
        format!(
            "<{}/api/v1/repos/{full_name}/pulls?limit={limit}&page={n}&state={state}>; rel=\"{rel}\"",
            server.base
        )
    };
    let mut links = Vec::new();
    if page < last {
        links.push(link_to(page + 1, "next"));
        links.push(link_to(last, "last"));
    }
    if page > 1 {
        links.push(link_to(1, "first"));
        links.push(link_to(page - 1, "prev"));
    }
    let mut builder = Response::builder()
        .header("etag", &etag)
        .header("x-total-count", matching.len().to_string())
        .header("access-control-expose-headers", "X-Total-Count, Link");
    if !links.is_empty() {
        builder = builder.header("link", links.join(","));
    }
    if h("if-none-match").as_deref() == Some(etag.as_str()) {
        w.served_304 += 1;
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .unwrap();
    }
    builder
        .status(StatusCode::OK)
        .header("content-type", "application/json;charset=utf-8")
        .body(Body::from(body))
        .unwrap()
}
