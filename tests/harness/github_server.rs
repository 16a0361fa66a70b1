//! A GitHub-shaped HTTP server on 127.0.0.1 for tests: `GET /repos/{owner}/{repo}/pulls` with
//! pull-request objects as GitHub documents them, pagination through `Link` headers pointing at
//! `/repositories/{id}/pulls?page=N`, weak `ETag`s and `304 Not Modified`, rate-limit answers,
//! 500s, malformed bodies, 404s, GitHub App installation tokens (also under `/api/v3` as GitHub
//! Enterprise serves it). It records every request.

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
    http::{HeaderMap, Method, StatusCode, Uri},
    response::Response,
    routing::{get, post},
};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Ok,
    /// 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`.
    RateLimited {
        reset: u64,
    },
    /// 429 with `Retry-After`.
    RetryAfter {
        secs: u64,
    },
    ServerError,
    Malformed,
}

pub struct Repo {
    id: u64,
    pulls: Vec<Value>,
    mode: Mode,
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub method: Method,
    pub uri: String,
    pub if_none_match: Option<String>,
    pub authorization: Option<String>,
}

#[derive(Default)]
pub struct World {
    repos: HashMap<(String, String), Repo>,
    log: Vec<Logged>,
    served_304: usize,
    request_counter: u64,
}

#[derive(Clone)]
pub struct Server {
    pub base: String,
    world: Arc<Mutex<World>>,
}

/// A GitHub App private key (RSA 2048, PEM), made by `openssl` for the App credentials that the
/// GitHub-shaped server mints installation tokens for.
pub fn app_private_key() -> String {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("app.pem");
    let ok = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key_path)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl")
        .success();
    assert!(ok, "openssl genpkey");
    std::fs::read_to_string(&key_path).unwrap()
}

pub fn pull(number: u64, branch: &str, base: &str, labels: &[&str], draft: bool) -> Value {
    let sha = format!("{number:04x}{}", "abcdef0123456789".repeat(3))
        .chars()
        .take(40)
        .collect::<String>();
    json!({
        "url": format!("https://api.github.com/repos/example/app/pulls/{number}"),
        "id": 1_000_000 + number,
        "node_id": format!("PR_kwDO{number}"),
        "html_url": format!("https://github.com/example/app/pull/{number}"),
        "number": number,
        "state": "open",
        "locked": false,
        "title": format!("Change number {number}"),
        "user": {"login": format!("dev{}", number % 5), "id": 100 + number % 5, "type": "User"},
        "body": "Please pull these awesome changes",
        "labels": labels.iter().enumerate().map(|(i, l)| json!({
            "id": 200 + i, "node_id": "LA_x", "name": l, "color": "f29513", "default": false
        })).collect::<Vec<_>>(),
        "draft": draft,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-02T00:00:00Z",
        "head": {"label": format!("example:{branch}"), "ref": branch, "sha": sha,
                 "user": {"login": "example"}, "repo": {"id": 1296269, "name": "app"}},
        "base": {"label": format!("example:{base}"), "ref": base, "sha": "0".repeat(40),
                 "user": {"login": "example"}, "repo": {"id": 1296269, "name": "app"}},
        "author_association": "CONTRIBUTOR",
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
        let api = || {
            Router::new()
                .route("/repos/{owner}/{repo}/pulls", get(list_by_name))
                .route("/repositories/{id}/pulls", get(list_by_id))
                .route("/app/installations/{id}/access_tokens", post(installation_token))
        };
        // github.com serves the API at the root, GitHub Enterprise under /api/v3.
        let app = api()
            .nest("/api/v3", api())
            .fallback(not_found)
            .with_state(server.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        server
    }

    pub fn add_repo(&self, owner: &str, repo: &str, pulls: Vec<Value>) {
        let mut w = self.world.lock().unwrap();
        let id = 1000 + w.repos.len() as u64;
        w.repos.insert(
            (owner.into(), repo.into()),
            Repo {
                id,
                pulls,
                mode: Mode::Ok,
            },
        );
    }

    pub fn set_mode(&self, owner: &str, repo: &str, mode: Mode) {
        self.world
            .lock()
            .unwrap()
            .repos
            .get_mut(&(owner.into(), repo.into()))
            .unwrap()
            .mode = mode;
    }

    pub fn edit_pulls(&self, owner: &str, repo: &str, f: impl FnOnce(&mut Vec<Value>)) {
        f(&mut self
            .world
            .lock()
            .unwrap()
            .repos
            .get_mut(&(owner.into(), repo.into()))
            .unwrap()
            .pulls);
    }

    pub fn log(&self) -> Vec<Logged> {
        self.world.lock().unwrap().log.clone()
    }

    pub fn served_304(&self) -> usize {
        self.world.lock().unwrap().served_304
    }
}

fn record(server: &Server, method: Method, uri: &Uri, headers: &HeaderMap) {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    server.world.lock().unwrap().log.push(Logged {
        method,
        uri: uri.to_string(),
        if_none_match: h("if-none-match"),
        authorization: h("authorization"),
    });
}

fn json_response(status: StatusCode, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn not_found(State(s): State<Server>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    record(&s, method, &uri, &headers);
    json_response(
        StatusCode::NOT_FOUND,
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}),
    )
}

async fn list_by_name(
    State(s): State<Server>,
    Path((owner, repo)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    record(&s, Method::GET, &uri, &headers);
    let key = (owner, repo);
    list(&s, |w| w.repos.get(&key).map(|r| r.id), &q, &headers, &uri)
}

async fn list_by_id(
    State(s): State<Server>,
    Path(id): Path<u64>,
    Query(q): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    record(&s, Method::GET, &uri, &headers);
    list(
        &s,
        |w| w.repos.values().find(|r| r.id == id).map(|r| r.id),
        &q,
        &headers,
        &uri,
    )
}

fn list(
    s: &Server,
    find: impl FnOnce(&World) -> Option<u64>,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    uri: &Uri,
) -> Response {
    let prefix = if uri.path().starts_with("/api/v3/") {
        "/api/v3"
    } else {
        ""
    };
    let mut w = s.world.lock().unwrap();
    w.request_counter += 1;
    let request_id = format!("C0DE:{:04X}:{}", w.request_counter, w.request_counter * 7919);
    let Some(id) = find(&w) else {
        return json_response(StatusCode::NOT_FOUND, json!({"message": "Not Found"}));
    };
    let repo = w.repos.values().find(|r| r.id == id).unwrap();
    let per_page: usize = q
        .get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    match repo.mode {
        Mode::Ok => {}
        Mode::RateLimited { reset } => {
            return Response::builder()
                .status(StatusCode::FORBIDDEN)
                .header("content-type", "application/json")
                .header("x-ratelimit-limit", "60")
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-used", "60")
                .header("x-ratelimit-reset", reset.to_string())
                .header("x-github-request-id", request_id.clone())
                .body(Body::from(
                    json!({
                        "message": format!("API rate limit exceeded for 127.0.0.1. (request {request_id})"),
                        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                    })
                    .to_string(),
                ))
                .unwrap();
        }
        Mode::RetryAfter { secs } => {
            return Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .header("retry-after", secs.to_string())
                .header("x-github-request-id", request_id)
                .body(Body::from(
                    json!({"message": "You have exceeded a secondary rate limit."}).to_string(),
                ))
                .unwrap();
        }
        Mode::ServerError => {
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": "Server Error"}),
            );
        }
        Mode::Malformed => {
            return Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(Body::from("[{\"number\": 1, \"head\": {\"ref\": \"x\"}, \"ba"))
                .unwrap();
        }
    }
    let total = repo.pulls.len();
    let last = total.div_ceil(per_page).max(1);
    let items: Vec<Value> = repo
        .pulls
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .cloned()
        .collect();
    let body = Value::Array(items).to_string();
    let etag = super::weak_etag(&body);
    let link_to = |p: usize, rel: &str| {
        format!(
            "<{}{prefix}/repositories/{id}/pulls?per_page={per_page}&page={p}>; rel=\"{rel}\"",
            s.base
        )
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(link_to(page - 1, "prev"));
    }
    if page < last {
        links.push(link_to(page + 1, "next"));
        links.push(link_to(last, "last"));
    }
    if page > 1 {
        links.push(link_to(1, "first"));
    }
    let mut builder = Response::builder()
        .header("etag", etag.clone())
        .header("x-ratelimit-limit", "5000")
        .header("x-ratelimit-remaining", "4999")
        .header("x-github-request-id", request_id);
    if !links.is_empty() {
        builder = builder.header("link", links.join(", "));
    }
    if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        w.served_304 += 1;
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .unwrap();
    }
    builder
        .status(StatusCode::OK)
        .header("content-type", "application/json; charset=utf-8")
        .body(Body::from(body))
        .unwrap()
}

async fn installation_token(
    State(s): State<Server>,
    Path(id): Path<u64>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    record(&s, Method::POST, &uri, &headers);
    json_response(
        StatusCode::CREATED,
        json!({"token": format!("ghs_installation{id}"), "expires_at": "2099-01-01T00:00:00Z",
               "permissions": {"pull_requests": "read"}, "repository_selection": "all"}),
    )
}
