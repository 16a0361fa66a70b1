//! One forge-shaped HTTP server on 127.0.0.1 answering the SCM provider generator's endpoints
//! of GitHub (`/api/v3`), GitLab (`/api/v4`) and Gitea (`/api/v1`) from one model of
//! organizations, repositories, branches (with commit SHAs) and the files at each branch:
//!
//! - GitHub: `GET /orgs/{org}/repos`, `/repos/{o}/{r}/branches[/{b}]`,
//!   `/repos/{o}/{r}/contents/{path}?ref=` (pages through `Link: rel="next"`).
//! - GitLab: `GET /groups/{group}/projects`, `/projects/{id}/repository/branches[/{b}]`,
//!   `/projects/{id}/repository/files/{path}?ref=`, `/projects/{id}/repository/tree?path=&ref=`
//!   (pages through `X-Next-Page`, `X-Total-Pages` and `Link`).
//! - Gitea: `GET /orgs/{org}/repos`, `/repos/{o}/{r}/labels`, `/repos/{o}/{r}/branches[/{b}]`,
//!   `/repos/{o}/{r}/contents/{path}?ref=` (pages through `Link`).
//!
//! Payloads carry the fields each forge documents (and more than appset reads). Listings send weak
//! `ETag`s and answer a matching `If-None-Match` with `304`. An organization can require a token
//! (401 otherwise) or be switched to answer 429 with `Retry-After`, 500 or a malformed body. One
//! server serves all three forges because the model (and its paging, ETag and failure code) is the
//! same; the pull-request servers stay in their own files. Every request is logged.

#![allow(dead_code, clippy::result_large_err)]

use std::{
    collections::{BTreeMap, HashMap},
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

#[derive(Clone, Debug)]
pub struct Branch {
    pub name: String,
    pub sha: String,
    pub files: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Repo {
    pub id: u64,
    pub name: String,
    pub topics: Vec<String>,
    pub default_branch: String,
    pub branches: Vec<Branch>,
    pub archived: bool,
}

#[derive(Default)]
struct Org {
    repos: Vec<Repo>,
    mode: Option<Mode>,
    token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub uri: String,
    pub if_none_match: Option<String>,
    pub authorization: Option<String>,
    pub private_token: Option<String>,
}

#[derive(Default)]
struct World {
    orgs: BTreeMap<String, Org>,
    log: Vec<Logged>,
    served_304: usize,
    next_id: u64,
}

#[derive(Clone)]
pub struct Server {
    pub base: String,
    world: Arc<Mutex<World>>,
}

/// A SHA for (repository, branch, generation).
pub fn sha(repo: &str, branch: &str, generation: u32) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (repo, branch, generation).hash(&mut h);
    let x = h.finish();
    format!("{x:016x}{x:016x}{:08x}", x as u32)
}

#[derive(Clone, Copy, PartialEq)]
enum Forge {
    GitHub,
    GitLab,
    Gitea,
}

impl Server {
    pub async fn start() -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let server = Server {
            base: format!("http://{addr}"),
            world: Arc::new(Mutex::new(World {
                next_id: 100,
                ..World::default()
            })),
        };
        let app = Router::new()
            .route("/api/v3/orgs/{org}/repos", get(on(Forge::GitHub, repos)))
            .route("/api/v3/repos/{o}/{r}/branches", get(on(Forge::GitHub, branches)))
            .route(
                "/api/v3/repos/{o}/{r}/branches/{b}",
                get(on(Forge::GitHub, branch)),
            )
            .route(
                "/api/v3/repos/{o}/{r}/contents/{*path}",
                get(on(Forge::GitHub, contents)),
            )
            .route("/api/v4/groups/{group}/projects", get(gl_projects))
            .route("/api/v4/projects/{id}/repository/branches", get(gl_branches))
            .route("/api/v4/projects/{id}/repository/branches/{b}", get(gl_branch))
            .route("/api/v4/projects/{id}/repository/files/{path}", get(gl_file))
            .route("/api/v4/projects/{id}/repository/tree", get(gl_tree))
            .route("/api/v1/orgs/{org}/repos", get(on(Forge::Gitea, repos)))
            .route("/api/v1/repos/{o}/{r}/labels", get(on(Forge::Gitea, labels)))
            .route("/api/v1/repos/{o}/{r}/branches", get(on(Forge::Gitea, branches)))
            .route(
                "/api/v1/repos/{o}/{r}/branches/{b}",
                get(on(Forge::Gitea, branch)),
            )
            .route(
                "/api/v1/repos/{o}/{r}/contents/{*path}",
                get(on(Forge::Gitea, contents)),
            )
            .with_state(server.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        server
    }

    /// Add `n` repositories `{prefix}{i}` to `org`, each with a default branch `main` holding
    /// `files` (every third one also `deploy/app.yaml` when `deploy_every_third`).
    pub fn add_repos(&self, org: &str, prefix: &str, n: usize, deploy_every_third: bool) {
        for i in 0..n {
            let mut files = vec!["README.md".to_string()];
            if deploy_every_third && i % 3 == 0 {
                files.push("deploy/app.yaml".into());
            }
            let name = format!("{prefix}{i:03}");
            self.add_repo(org, &name, &["team"], vec![("main", files)]);
        }
    }

    /// Add one repository whose first branch is the default one.
    pub fn add_repo(&self, org: &str, name: &str, topics: &[&str], branches: Vec<(&str, Vec<String>)>) {
        let mut w = self.world.lock().unwrap();
        w.next_id += 1;
        let id = w.next_id;
        let repo = Repo {
            id,
            name: name.into(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            default_branch: branches
                .first()
                .map(|b| b.0.to_string())
                .unwrap_or_else(|| "main".into()),
            branches: branches
                .into_iter()
                .map(|(b, files)| Branch {
                    name: b.into(),
                    sha: sha(name, b, 0),
                    files,
                })
                .collect(),
            archived: false,
        };
        w.orgs.entry(org.into()).or_default().repos.push(repo);
    }

    /// Change a repository in place.
    pub fn edit_repo(&self, org: &str, name: &str, f: impl FnOnce(&mut Repo)) {
        let mut w = self.world.lock().unwrap();
        let repo = w
            .orgs
            .get_mut(org)
            .unwrap()
            .repos
            .iter_mut()
            .find(|r| r.name == name)
            .unwrap();
        f(repo);
    }

    pub fn require_token(&self, org: &str, token: &str) {
        self.world
            .lock()
            .unwrap()
            .orgs
            .entry(org.into())
            .or_default()
            .token = Some(token.into());
    }

    pub fn set_mode(&self, org: &str, mode: Mode) {
        self.world
            .lock()
            .unwrap()
            .orgs
            .entry(org.into())
            .or_default()
            .mode = Some(mode);
    }

    pub fn log(&self) -> Vec<Logged> {
        self.world.lock().unwrap().log.clone()
    }

    pub fn clear_log(&self) {
        self.world.lock().unwrap().log.clear();
    }

    pub fn served_304(&self) -> usize {
        self.world.lock().unwrap().served_304
    }
}

fn answer(status: StatusCode, body: impl Into<String>) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(Body::from(body.into()))
        .unwrap()
}

fn not_found() -> Response {
    answer(StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#)
}

/// Log the request and check the organization's token and mode; the organization's repositories
/// on success.
fn admit(
    server: &Server,
    forge: Forge,
    org: Option<&str>,
    uri: &str,
    headers: &HeaderMap,
) -> Result<Vec<Repo>, Response> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut w = server.world.lock().unwrap();
    w.log.push(Logged {
        uri: uri.to_string(),
        if_none_match: h("if-none-match"),
        authorization: h("authorization"),
        private_token: h("private-token"),
    });
    let Some(org) = org.and_then(|o| w.orgs.get(o)) else {
        return Err(not_found());
    };
    if let Some(token) = &org.token {
        let sent = match forge {
            Forge::GitHub => h("authorization") == Some(format!("Bearer {token}")),
            Forge::GitLab => h("private-token").as_deref() == Some(token.as_str()),
            Forge::Gitea => h("authorization") == Some(format!("token {token}")),
        };
        if !sent {
            return Err(answer(
                StatusCode::UNAUTHORIZED,
                r#"{"message":"Bad credentials"}"#,
            ));
        }
    }
    match org.mode.unwrap_or(Mode::Ok) {
        Mode::Ok => Ok(org.repos.clone()),
        Mode::RetryAfter { secs } => Err(Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header("retry-after", secs.to_string())
            .body(Body::from("Too Many Requests"))
            .unwrap()),
        Mode::ServerError => Err(answer(StatusCode::INTERNAL_SERVER_ERROR, r#"{"message":"boom"}"#)),
        Mode::Malformed => Err(answer(StatusCode::OK, r#"{"not": "a list"#)),
    }
}

/// One page of `items` (page size from `per_page`/`limit`), with the forge's paging headers, a
/// weak ETag and `304` for a matching `If-None-Match`.
fn page(
    server: &Server,
    forge: Forge,
    uri: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    items: Vec<Value>,
) -> Response {
    let size_key = if forge == Forge::Gitea {
        "limit"
    } else {
        "per_page"
    };
    let default = if forge == Forge::Gitea { 30 } else { 20 };
    let per_page: usize = match query.get(size_key).and_then(|v| v.parse().ok()).unwrap_or(0) {
        0 => default,
        n => n.min(if forge == Forge::Gitea { 50 } else { 100 }),
    };
    let page: usize = query.get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<&Value> = items.iter().skip((page - 1) * per_page).take(per_page).collect();
    let body = serde_json::to_string(&slice).unwrap();
    let etag = super::weak_etag(&body);
    let path = uri.split('?').next().unwrap_or(uri);
    let mut builder = Response::builder().header("etag", &etag);
    if page < last {
        let next = format!("{}{path}?{size_key}={per_page}&page={}", server.base, page + 1);
        builder = builder.header("link", format!("<{next}>; rel=\"next\""));
        if forge == Forge::GitLab {
            builder = builder.header("x-next-page", (page + 1).to_string());
        }
    } else if forge == Forge::GitLab {
        builder = builder.header("x-next-page", "");
    }
    if forge == Forge::GitLab {
        builder = builder
            .header("x-page", page.to_string())
            .header("x-total-pages", last.to_string())
            .header("x-total", items.len().to_string());
    }
    let inm = headers.get("if-none-match").and_then(|v| v.to_str().ok());
    if inm == Some(etag.as_str()) {
        server.world.lock().unwrap().served_304 += 1;
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

/// One object with an ETag (and `304` for a matching `If-None-Match`).
fn object(server: &Server, headers: &HeaderMap, v: Value) -> Response {
    let body = v.to_string();
    let etag = super::weak_etag(&body);
    if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        server.world.lock().unwrap().served_304 += 1;
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header("etag", etag)
            .body(Body::empty())
            .unwrap();
    }
    Response::builder()
        .status(StatusCode::OK)
        .header("etag", etag)
        .header("content-type", "application/json; charset=utf-8")
        .body(Body::from(body))
        .unwrap()
}

fn find<'a>(repos: &'a [Repo], name: &str) -> Option<&'a Repo> {
    repos.iter().find(|r| r.name == name)
}

fn at_ref<'a>(repo: &'a Repo, r: &str) -> Option<&'a Branch> {
    repo.branches.iter().find(|b| b.sha == r || b.name == r)
}

/// `Some(true)` a file, `Some(false)` a directory, `None` nothing at `path`.
fn lookup(branch: &Branch, path: &str) -> Option<bool> {
    super::path_kind(&branch.files, path)
}

// ---- GitHub and Gitea (the same routes under /api/v3 and /api/v1) ----------------------------

/// What every handler is given.
struct Req {
    s: Server,
    forge: Forge,
    path: Vec<String>,
    q: HashMap<String, String>,
    uri: String,
    headers: HeaderMap,
}

/// A handler of `forge` as an axum handler.
/// A boxed handler answer.
type Answer = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

/// The extractors every GitHub- and Gitea-shaped handler takes, in order.
type Parts0 = State<Server>;
type Parts1 = Path<Vec<String>>;
type Parts2 = Query<HashMap<String, String>>;
type Parts3 = OriginalUri;
type Parts4 = HeaderMap;

fn on<F, Fut>(
    forge: Forge,
    f: F,
) -> impl Fn(Parts0, Parts1, Parts2, Parts3, Parts4) -> Answer + Clone + Send + 'static
where
    F: Fn(Req) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    move |State(s), Path(path), Query(q), OriginalUri(uri), headers| {
        let f = f.clone();
        Box::pin(async move {
            f(Req {
                s,
                forge,
                path,
                q,
                uri: uri.to_string(),
                headers,
            })
            .await
        })
    }
}

impl Req {
    /// The organization's repositories (path segment 0), admitted.
    fn repos(&self) -> Result<Vec<Repo>, Response> {
        admit(
            &self.s,
            self.forge,
            self.path.first().map(String::as_str),
            &self.uri,
            &self.headers,
        )
    }

    /// The repository named by path segment 1.
    fn repo(&self) -> Result<Repo, Response> {
        let repos = self.repos()?;
        find(&repos, &self.path[1]).cloned().ok_or_else(not_found)
    }
}

fn repo_json(server: &Server, forge: Forge, org: &str, r: &Repo) -> Value {
    let host = if forge == Forge::GitHub {
        "github.example"
    } else {
        "gitea.example"
    };
    json!({
        "id": r.id, "node_id": format!("R_{}", r.id), "name": r.name, "full_name": format!("{org}/{}", r.name),
        "private": false, "fork": false, "owner": {"login": org, "id": 1, "type": "Organization", "username": org},
        "html_url": format!("https://{host}/{org}/{}", r.name),
        "url": format!("{}/repos/{org}/{}", server.base, r.name),
        "ssh_url": format!("git@{host}:{org}/{}.git", r.name),
        "clone_url": format!("https://{host}/{org}/{}.git", r.name),
        "default_branch": r.default_branch, "topics": r.topics, "archived": r.archived,
        "visibility": "public", "pushed_at": "2026-01-01T00:00:00Z",
        "permissions": {"admin": false, "push": false, "pull": true},
    })
}

async fn repos(req: Req) -> Response {
    let repos = match req.repos() {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let items = repos
        .iter()
        .map(|r| repo_json(&req.s, req.forge, &req.path[0], r))
        .collect();
    page(&req.s, req.forge, &req.uri, &req.q, &req.headers, items)
}

fn branch_json(forge: Forge, b: &Branch) -> Value {
    match forge {
        Forge::Gitea => {
            json!({"name": b.name, "commit": {"id": b.sha, "message": "Change\n"}, "protected": false})
        }
        _ => {
            json!({"name": b.name, "commit": {"sha": b.sha, "url": "https://api.github.example/commits"}, "protected": false})
        }
    }
}

async fn branches(req: Req) -> Response {
    match req.repo() {
        Ok(repo) => {
            let items = repo.branches.iter().map(|b| branch_json(req.forge, b)).collect();
            page(&req.s, req.forge, &req.uri, &req.q, &req.headers, items)
        }
        Err(resp) => resp,
    }
}

async fn branch(req: Req) -> Response {
    match req.repo() {
        Ok(repo) => match repo.branches.iter().find(|x| x.name == req.path[2]) {
            Some(b) => object(&req.s, &req.headers, branch_json(req.forge, b)),
            None => not_found(),
        },
        Err(resp) => resp,
    }
}

async fn contents(req: Req) -> Response {
    let repo = match req.repo() {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let path = &req.path[2];
    let at = req
        .q
        .get("ref")
        .map(String::as_str)
        .unwrap_or(&repo.default_branch);
    match at_ref(&repo, at).and_then(|b| lookup(b, path)) {
        Some(true) => answer(
            StatusCode::OK,
            json!({"type": "file", "encoding": "base64", "size": 5, "name": path.rsplit('/').next(), "path": path, "content": "aGVsbG8=", "sha": "3f"}).to_string(),
        ),
        Some(false) => answer(StatusCode::OK, json!([{"type": "file", "name": "x", "path": format!("{path}/x")}]).to_string()),
        None => not_found(),
    }
}

// ---- GitLab ---------------------------------------------------------------------------------

fn gl_repo_of(s: &Server, id: &str) -> Option<(String, Repo)> {
    let w = s.world.lock().unwrap();
    w.orgs.iter().find_map(|(org, o)| {
        o.repos
            .iter()
            .find(|r| r.id.to_string() == id)
            .map(|r| (org.clone(), r.clone()))
    })
}

async fn gl_projects(
    State(s): State<Server>,
    Path(group): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let uri = uri.to_string();
    let repos = match admit(&s, Forge::GitLab, Some(&group), &uri, &headers) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let archived = q.get("archived").map(String::as_str) == Some("true");
    let topic = q.get("topic").cloned();
    let items = repos
        .iter()
        .filter(|r| archived || !r.archived)
        .filter(|r| topic.as_ref().is_none_or(|t| r.topics.contains(t)))
        .map(|r| {
            json!({
                "id": r.id, "name": r.name, "path": r.name, "path_with_namespace": format!("{group}/{}", r.name),
                "namespace": {"id": 9, "name": group, "path": group, "kind": "group", "full_path": group},
                "default_branch": r.default_branch,
                "ssh_url_to_repo": format!("git@gitlab.example:{group}/{}.git", r.name),
                "http_url_to_repo": format!("https://gitlab.example/{group}/{}.git", r.name),
                "web_url": format!("https://gitlab.example/{group}/{}", r.name),
                "topics": r.topics, "tag_list": r.topics, "archived": r.archived, "visibility": "private",
                "last_activity_at": "2026-01-01T00:00:00.000Z",
            })
        })
        .collect();
    page(&s, Forge::GitLab, &uri, &q, &headers, items)
}

fn gl_branch_json(b: &Branch, default: &str) -> Value {
    json!({"name": b.name, "merged": false, "protected": b.name == default, "default": b.name == default,
           "commit": {"id": b.sha, "short_id": &b.sha[..8], "title": "Change", "author_name": "Dev"}})
}

async fn gl_branches(
    State(s): State<Server>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let uri = uri.to_string();
    let org = gl_repo_of(&s, &id).map(|(o, _)| o);
    let repos = match admit(&s, Forge::GitLab, org.as_deref(), &uri, &headers) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let Some(repo) = repos.iter().find(|r| r.id.to_string() == id) else {
        return not_found();
    };
    let items = repo
        .branches
        .iter()
        .map(|b| gl_branch_json(b, &repo.default_branch))
        .collect();
    page(&s, Forge::GitLab, &uri, &q, &headers, items)
}

async fn gl_branch(
    State(s): State<Server>,
    Path((id, b)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let org = gl_repo_of(&s, &id).map(|(o, _)| o);
    let repos = match admit(&s, Forge::GitLab, org.as_deref(), &uri.to_string(), &headers) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let repo = repos.iter().find(|r| r.id.to_string() == id);
    match repo.and_then(|r| r.branches.iter().find(|x| x.name == b).map(|x| (r, x))) {
        Some((r, branch)) => object(&s, &headers, gl_branch_json(branch, &r.default_branch)),
        None => answer(StatusCode::NOT_FOUND, r#"{"message":"404 Branch Not Found"}"#),
    }
}

async fn gl_file(
    State(s): State<Server>,
    Path((id, path)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let org = gl_repo_of(&s, &id).map(|(o, _)| o);
    let repos = match admit(&s, Forge::GitLab, org.as_deref(), &uri.to_string(), &headers) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let repo = repos.iter().find(|r| r.id.to_string() == id);
    let branch = repo.and_then(|r| at_ref(r, q.get("ref").map(String::as_str).unwrap_or_default()));
    match branch.and_then(|b| lookup(b, &path)) {
        Some(true) => answer(
            StatusCode::OK,
            json!({"file_name": path.rsplit('/').next(), "file_path": path, "size": 5, "encoding": "base64",
                   "content": "aGVsbG8=", "ref": q.get("ref"), "blob_id": "b1", "commit_id": branch.map(|b| &b.sha)})
            .to_string(),
        ),
        _ => answer(StatusCode::NOT_FOUND, r#"{"message":"404 File Not Found"}"#),
    }
}

async fn gl_tree(
    State(s): State<Server>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let org = gl_repo_of(&s, &id).map(|(o, _)| o);
    let repos = match admit(&s, Forge::GitLab, org.as_deref(), &uri.to_string(), &headers) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let repo = repos.iter().find(|r| r.id.to_string() == id);
    let branch = repo.and_then(|r| at_ref(r, q.get("ref").map(String::as_str).unwrap_or_default()));
    let path = q.get("path").cloned().unwrap_or_default();
    match branch.and_then(|b| lookup(b, &path)) {
        Some(false) => answer(
            StatusCode::OK,
            json!([{"id": "t1", "name": "x", "type": "blob", "path": format!("{path}/x"), "mode": "100644"}])
                .to_string(),
        ),
        _ => answer(StatusCode::NOT_FOUND, r#"{"message":"404 Tree Not Found"}"#),
    }
}

// ---- Gitea ----------------------------------------------------------------------------------

async fn labels(req: Req) -> Response {
    match req.repo() {
        Ok(repo) => {
            let items = repo
                .topics
                .iter()
                .enumerate()
                .map(|(i, t)| json!({"id": i, "name": t, "color": "00aabb", "description": ""}))
                .collect();
            page(&req.s, req.forge, &req.uri, &req.q, &req.headers, items)
        }
        Err(resp) => resp,
    }
}
