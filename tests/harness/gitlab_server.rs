//! A GitLab-shaped HTTP server on 127.0.0.1 for tests: `GET /api/v4/projects/{id}/merge_requests`
//! (the project's path URL-encoded as one segment, or its numeric id) with merge-request objects
//! as GitLab documents them, `page`/`per_page` pagination with `X-Next-Page`, `X-Page`,
//! `X-Total-Pages` and `Link` headers, `state=` and `labels=` filters applied as GitLab applies
//! them, weak `ETag`s and `304 Not Modified`, `RateLimit-*` headers, 429 with `Retry-After`,
//! 401 without the expected token, 500s, malformed bodies and 404s. It records every request.

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

struct Project {
    id: u64,
    mrs: Vec<Value>,
    mode: Mode,
    /// The token `PRIVATE-TOKEN` must carry (None: anonymous reads are allowed).
    token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub uri: String,
    pub if_none_match: Option<String>,
    pub private_token: Option<String>,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct World {
    projects: HashMap<String, Project>,
    log: Vec<Logged>,
    served_304: usize,
}

#[derive(Clone)]
pub struct Server {
    pub base: String,
    world: Arc<Mutex<World>>,
}

/// A merge request as GitLab's `GET /projects/:id/merge_requests` documents it.
pub fn mr(iid: u64, source: &str, target: &str, labels: &[&str], state: &str) -> Value {
    let sha = format!("{iid:04x}{}", "0123456789abcdef".repeat(3))
        .chars()
        .take(40)
        .collect::<String>();
    json!({
        "id": 90_000 + iid,
        "iid": iid,
        "project_id": 3,
        "title": format!("Merge request {iid}"),
        "description": "Fixes things",
        "state": state,
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-02T00:00:00.000Z",
        "merged_by": null,
        "target_branch": target,
        "source_branch": source,
        "upvotes": 0,
        "downvotes": 0,
        "author": {"id": 10 + iid % 3, "name": "Dev", "username": format!("dev{}", iid % 3),
                   "state": "active", "avatar_url": null, "web_url": "https://gitlab.example.com/dev"},
        "assignee": null,
        "source_project_id": 3,
        "target_project_id": 3,
        "labels": labels,
        "draft": false,
        "work_in_progress": false,
        "milestone": null,
        "merge_when_pipeline_succeeds": false,
        "merge_status": "can_be_merged",
        "detailed_merge_status": "mergeable",
        "sha": sha,
        "merge_commit_sha": null,
        "squash_commit_sha": null,
        "user_notes_count": 1,
        "should_remove_source_branch": true,
        "force_remove_source_branch": false,
        "web_url": format!("https://gitlab.example.com/group/app/-/merge_requests/{iid}"),
        "references": {"short": format!("!{iid}"), "relative": format!("!{iid}"), "full": format!("group/app!{iid}")},
        "time_stats": {"time_estimate": 0, "total_time_spent": 0},
        "squash": false,
        "task_completion_status": {"count": 0, "completed_count": 0},
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
            .route("/api/v4/projects/{id}/merge_requests", get(list))
            .with_state(server.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        server
    }

    pub fn add_project(&self, path: &str, mrs: Vec<Value>) {
        let mut w = self.world.lock().unwrap();
        let id = 1000 + w.projects.len() as u64;
        w.projects.insert(
            path.into(),
            Project {
                id,
                mrs,
                mode: Mode::Ok,
                token: None,
            },
        );
    }

    pub fn require_token(&self, path: &str, token: &str) {
        self.world.lock().unwrap().projects.get_mut(path).unwrap().token = Some(token.into());
    }

    pub fn set_mode(&self, path: &str, mode: Mode) {
        self.world.lock().unwrap().projects.get_mut(path).unwrap().mode = mode;
    }

    pub fn edit_mrs(&self, path: &str, f: impl FnOnce(&mut Vec<Value>)) {
        f(&mut self.world.lock().unwrap().projects.get_mut(path).unwrap().mrs);
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
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut w = server.world.lock().unwrap();
    w.log.push(Logged {
        uri: uri.to_string(),
        if_none_match: h("if-none-match"),
        private_token: h("private-token"),
        authorization: h("authorization"),
    });
    let answer = |status: StatusCode, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let Some(project) = w
        .projects
        .iter()
        .find(|(path, p)| **path == id || p.id.to_string() == id)
        .map(|(_, p)| p)
    else {
        return answer(
            StatusCode::NOT_FOUND,
            r#"{"message":"404 Project Not Found"}"#.into(),
        );
    };
    if let Some(token) = &project.token
        && h("private-token").as_deref() != Some(token)
    {
        return answer(
            StatusCode::UNAUTHORIZED,
            r#"{"message":"401 Unauthorized"}"#.into(),
        );
    }
    match project.mode {
        Mode::Ok => {}
        Mode::RetryAfter { secs } => {
            return Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .header("retry-after", secs.to_string())
                .header("ratelimit-remaining", "0")
                .header("ratelimit-limit", "600")
                .body(Body::from("Retry later"))
                .unwrap();
        }
        Mode::ServerError => {
            return answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"message":"500 Internal Server Error"}"#.into(),
            );
        }
        Mode::Malformed => return answer(StatusCode::OK, r#"{"not": "a list"#.into()),
    }
    let state = query.get("state").cloned().unwrap_or_default();
    let labels: Vec<&str> = query
        .get("labels")
        .map(|l| l.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let matching: Vec<&Value> = project
        .mrs
        .iter()
        .filter(|m| state.is_empty() || state == "all" || m["state"] == state.as_str())
        .filter(|m| {
            labels
                .iter()
                .all(|l| m["labels"].as_array().is_some_and(|a| a.iter().any(|x| x == l)))
        })
        .collect();
    let per_page: usize = query
        .get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .clamp(1, 100);
    let page: usize = query.get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let total_pages = matching.len().div_ceil(per_page).max(1);
    let items: Vec<&Value> = matching
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .copied()
        .collect();
    let body = serde_json::to_string(&items).unwrap();
    let etag = super::weak_etag(&body);
    let next = if page < total_pages {
        (page + 1).to_string()
    } else {
        String::new()
    };
    let mut builder = Response::builder()
        .header("etag", &etag)
        .header("x-page", page.to_string())
        .header("x-per-page", per_page.to_string())
        .header("x-total", matching.len().to_string())
        .header("x-total-pages", total_pages.to_string())
        .header("x-next-page", &next)
        .header("ratelimit-limit", "600")
        .header("ratelimit-remaining", "599");
    if !next.is_empty() {
        builder = builder.header(
            "link",
            format!(
                "<{}/api/v4/projects/{}/merge_requests?page={next}&per_page={per_page}>; rel=\"next\"",
                server.base, project.id
            ),
        );
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
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}
