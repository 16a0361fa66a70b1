//! A Bitbucket-shaped HTTP server on 127.0.0.1 for tests, answering in both of Atlassian's
//! shapes:
//!
//! - Bitbucket Server (Data Center) REST 1.0: `GET /rest/api/1.0/projects/{project}/repos/{repo}/pull-requests`
//!   with pull-request objects as Atlassian documents them, `start`/`limit` paging (`limit`
//!   capped at [`SERVER_MAX_LIMIT`], as an instance's `page.max` setting caps it) answered with
//!   `size`, `limit`, `start`, `isLastPage` and `nextPageStart`, the `state=` filter (default
//!   `OPEN`), and no ETags (Bitbucket Server sends none on this resource).
//! - Bitbucket Cloud REST 2.0: `GET /2.0/repositories/{workspace}/{repo}/pullrequests` with
//!   Cloud's pull-request objects, `page`/`pagelen` paging (at most 50) answered with `size`,
//!   `page`, `pagelen`, `next` and `previous` URLs, the `state=` filter (default `OPEN`), strong
//!   `ETag`s and `304 Not Modified`.
//!
//! - Bitbucket Server's repository endpoints the `scmProvider` generator reads:
//!   `GET …/projects/{project}/repos` (repositories with `links.clone`), `…/repos/{slug}/branches`
//!   and `…/branches/default` (`displayId`, `latestCommit`; 404 for an empty repository), and
//!   `…/repos/{slug}/browse/{path}?at=` (404 for a path absent at that commit), paged as above.
//!
//! - Bitbucket Cloud's repository endpoints the `scmProvider` generator reads:
//!   `GET /2.0/repositories/{workspace}` (repositories with `mainbranch` and `links.clone`),
//!   `…/{slug}/refs/branches[/{name}]` (`name`, `target.hash`; 404 for a missing branch) and
//!   `…/{slug}/src/{commit}/{path}?format=meta` (404 for a path absent at that commit), paged
//!   like Cloud's pull requests (at most [`CLOUD_SCM_MAX_PAGELEN`]) with strong `ETag`s.
//!
//! Both: 429 with `Retry-After`, 401 without the expected `Authorization`, 500s, malformed
//! bodies, 404s with Atlassian's error bodies, and (Cloud) a `next` URL naming another host. It
//! records every request.

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

/// The largest `limit` the Bitbucket Server shape honours.
pub const SERVER_MAX_LIMIT: usize = 25;
/// The largest `pagelen` the Bitbucket Cloud shape honours (Cloud's own maximum).
pub const CLOUD_MAX_PAGELEN: usize = 50;
/// The largest `pagelen` the Bitbucket Cloud repository and branch listings honour here (Cloud
/// allows 100; smaller pages keep paging tests small).
pub const CLOUD_SCM_MAX_PAGELEN: usize = 20;

#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Ok,
    /// 429 with `Retry-After`.
    RetryAfter {
        secs: u64,
    },
    ServerError,
    /// A body that is not the documented JSON.
    Malformed,
    /// Server shape: `isLastPage: false` without `nextPageStart`.
    NoNextPageStart,
    /// Cloud shape: the first page's `next` names this base URL (another host) instead.
    NextOnHost(String),
}

struct Repo {
    pulls: Vec<Value>,
    mode: Mode,
    /// The `Authorization` header a request must carry (None: anonymous reads are allowed).
    authorization: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub uri: String,
    pub if_none_match: Option<String>,
    pub authorization: Option<String>,
}

/// A repository of a Bitbucket Server project (the `scmProvider` endpoints).
#[derive(Clone, Debug)]
pub struct ScmRepo {
    pub id: u64,
    pub slug: String,
    pub name: String,
    /// `None`: an empty repository (no default branch).
    pub default_branch: Option<String>,
    /// (name, latest commit, files at that commit).
    pub branches: Vec<super::FixtureBranch>,
}

/// A Bitbucket Server project (the `scmProvider` endpoints).
struct ScmProject {
    repos: Vec<ScmRepo>,
    mode: Mode,
    authorization: Option<String>,
}

#[derive(Default)]
struct World {
    scm_projects: HashMap<String, ScmProject>,
    /// Bitbucket Cloud workspaces (the `scmProvider` endpoints).
    cloud_workspaces: HashMap<String, ScmProject>,
    server_repos: HashMap<String, Repo>,
    cloud_repos: HashMap<String, Repo>,
    log: Vec<Logged>,
    served_304: usize,
}

#[derive(Clone)]
pub struct Server {
    pub base: String,
    world: Arc<Mutex<World>>,
}

fn sha(number: u64) -> String {
    format!("{number:04x}{}", "cb3cf2e4d1517c83e720d2585b9402dbef71f992")
        .chars()
        .take(40)
        .collect()
}

/// A pull request as Bitbucket Server's `GET …/pull-requests` documents it.
pub fn server_pull(number: u64, from: &str, to: &str, state: &str, draft: bool) -> Value {
    let repository = json!({
        "slug": "shop", "id": 1, "name": "shop", "hierarchyId": "e3c939f9ef4a7fae272e",
        "scmId": "git", "state": "AVAILABLE", "statusMessage": "Available", "forkable": true,
        "project": {"key": "SHOP", "id": 1, "name": "Shop", "public": false, "type": "NORMAL",
                    "links": {"self": [{"href": "https://bitbucket.example.com/projects/SHOP"}]}},
        "public": false,
        "links": {"clone": [{"href": "https://bitbucket.example.com/scm/shop/shop.git", "name": "http"}],
                  "self": [{"href": "https://bitbucket.example.com/projects/SHOP/repos/shop/browse"}]}
    });
    let user = |n: u64| {
        json!({"name": format!("dev{n}"), "emailAddress": format!("dev{n}@example.com"), "active": true,
               "displayName": format!("Developer {n}"), "id": 100 + n, "slug": format!("dev{n}"), "type": "NORMAL",
               "links": {"self": [{"href": format!("https://bitbucket.example.com/users/dev{n}")}]}})
    };
    json!({
        "id": number,
        "version": 3,
        "title": format!("Pull request {number}"),
        "description": "It's a kludge, but put the tuple from the database in the cache.",
        "state": state,
        "open": state == "OPEN",
        "closed": state != "OPEN",
        "draft": draft,
        "createdDate": 1_767_225_600_000_u64,
        "updatedDate": 1_767_312_000_000_u64,
        "fromRef": {"id": format!("refs/heads/{from}"), "displayId": from, "latestCommit": sha(number),
                    "type": "BRANCH", "repository": repository},
        "toRef": {"id": format!("refs/heads/{to}"), "displayId": to,
                  "latestCommit": "5b766e3564a3453808f3cd3dd3f2e5fad8ef0e7a", "type": "BRANCH", "repository": repository},
        "locked": false,
        "author": {"user": user(number % 3), "role": "AUTHOR", "approved": false, "status": "UNAPPROVED"},
        "reviewers": [{"user": user(9), "lastReviewedCommit": sha(number), "role": "REVIEWER",
                       "approved": true, "status": "APPROVED"}],
        "participants": [],
        "properties": {"mergeResult": {"outcome": "CLEAN", "current": true}, "resolvedTaskCount": 0,
                       "commentCount": 1, "openTaskCount": 0},
        "links": {"self": [{"href": format!("https://bitbucket.example.com/projects/SHOP/repos/shop/pull-requests/{number}")}]}
    })
}

/// A pull request as Bitbucket Cloud's `GET /repositories/{workspace}/{repo}/pullrequests`
/// documents it (`source.commit.hash` is Cloud's 12-character short hash).
pub fn cloud_pull(number: u64, source: &str, destination: &str, state: &str, draft: bool) -> Value {
    let repository = json!({"type": "repository", "full_name": "example/shop", "name": "shop",
                            "uuid": "{c1b5e1a0-3b0f-4a8e-9d6b-0c2f5e8e1a11}",
                            "links": {"html": {"href": "https://bitbucket.org/example/shop"}}});
    let author = json!({"type": "user", "display_name": format!("Developer {}", number % 3),
                        "nickname": format!("dev{}", number % 3),
                        "account_id": format!("5b10a2844c20165700ede2{:02}", number % 3),
                        "uuid": format!("{{d301aafa-d676-4ee0-88be-962be7417567-{}}}", number % 3),
                        "links": {"avatar": {"href": "https://avatar-management.example/initials/D-3.png"}}});
    json!({
        "type": "pullrequest",
        "id": number,
        "title": format!("Pull request {number}"),
        "description": "",
        "state": state,
        "draft": draft,
        "author": author,
        "source": {"branch": {"name": source}, "commit": {"type": "commit", "hash": &sha(number)[..12],
                   "links": {"self": {"href": format!("https://api.bitbucket.org/2.0/repositories/example/shop/commit/{}", &sha(number)[..12])}}},
                   "repository": repository},
        "destination": {"branch": {"name": destination}, "commit": {"type": "commit", "hash": "5b766e3564a3"},
                        "repository": repository},
        "merge_commit": null,
        "comment_count": 0,
        "task_count": 0,
        "close_source_branch": true,
        "closed_by": null,
        "reason": "",
        "created_on": "2026-01-01T00:00:00.000000+00:00",
        "updated_on": "2026-01-02T00:00:00.000000+00:00",
        "links": {"self": {"href": format!("https://api.bitbucket.org/2.0/repositories/example/shop/pullrequests/{number}")},
                  "html": {"href": format!("https://bitbucket.org/example/shop/pull-requests/{number}")}},
        "summary": {"type": "rendered", "raw": "", "markup": "markdown", "html": ""}
    })
}

fn json_answer(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json;charset=UTF-8")
        .body(Body::from(body))
        .unwrap()
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
            .route(
                "/rest/api/1.0/projects/{project}/repos/{repo}/pull-requests",
                get(server_list),
            )
            .route("/2.0/repositories/{owner}/{repo}/pullrequests", get(cloud_list))
            .route("/rest/api/1.0/projects/{project}/repos", get(scm_repos))
            .route(
                "/rest/api/1.0/projects/{project}/repos/{repo}/{*resource}",
                get(scm_resource),
            )
            .route("/2.0/repositories/{owner}", get(cloud_scm_repos))
            .route(
                "/2.0/repositories/{owner}/{repo}/{*resource}",
                get(cloud_scm_resource),
            )
            .with_state(server.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        server
    }

    fn repos(world: &mut World, cloud: bool) -> &mut HashMap<String, Repo> {
        if cloud {
            &mut world.cloud_repos
        } else {
            &mut world.server_repos
        }
    }

    /// A Bitbucket Server repository `PROJECT/slug`.
    pub fn add_server_repo(&self, key: &str, pulls: Vec<Value>) {
        self.add(false, key, pulls);
    }

    /// A Bitbucket Cloud repository `workspace/slug`.
    pub fn add_cloud_repo(&self, key: &str, pulls: Vec<Value>) {
        self.add(true, key, pulls);
    }

    fn add(&self, cloud: bool, key: &str, pulls: Vec<Value>) {
        let mut w = self.world.lock().unwrap();
        Self::repos(&mut w, cloud).insert(
            key.into(),
            Repo {
                pulls,
                mode: Mode::Ok,
                authorization: None,
            },
        );
    }

    /// Requests must carry this `Authorization` header.
    pub fn require_authorization(&self, cloud: bool, key: &str, value: &str) {
        let mut w = self.world.lock().unwrap();
        Self::repos(&mut w, cloud).get_mut(key).unwrap().authorization = Some(value.into());
    }

    pub fn set_mode(&self, cloud: bool, key: &str, mode: Mode) {
        let mut w = self.world.lock().unwrap();
        Self::repos(&mut w, cloud).get_mut(key).unwrap().mode = mode;
    }

    pub fn edit_pulls(&self, cloud: bool, key: &str, f: impl FnOnce(&mut Vec<Value>)) {
        let mut w = self.world.lock().unwrap();
        f(&mut Self::repos(&mut w, cloud).get_mut(key).unwrap().pulls);
    }

    pub fn log(&self) -> Vec<Logged> {
        self.world.lock().unwrap().log.clone()
    }

    pub fn clear_log(&self) {
        self.world.lock().unwrap().log.clear();
    }

    /// A Bitbucket Server project of `n` repositories `{prefix}NN` (slug lower case, name as
    /// given), default branch `main`; every third repository has `deploy/app.yaml`.
    pub fn add_scm_project(&self, project: &str, prefix: &str, n: u64) {
        let repos = super::scm_fixture(prefix, n)
            .into_iter()
            .map(|(i, name, branches)| ScmRepo {
                id: 1000 + i,
                slug: name.to_ascii_lowercase(),
                default_branch: Some("main".into()),
                branches,
                name,
            })
            .collect();
        self.world.lock().unwrap().scm_projects.insert(
            project.into(),
            ScmProject {
                repos,
                mode: Mode::Ok,
                authorization: None,
            },
        );
    }

    pub fn edit_scm_project(&self, project: &str, f: impl FnOnce(&mut Vec<ScmRepo>)) {
        f(&mut self
            .world
            .lock()
            .unwrap()
            .scm_projects
            .get_mut(project)
            .unwrap()
            .repos);
    }

    pub fn require_scm_authorization(&self, project: &str, value: &str) {
        self.world
            .lock()
            .unwrap()
            .scm_projects
            .get_mut(project)
            .unwrap()
            .authorization = Some(value.into());
    }

    pub fn set_scm_mode(&self, project: &str, mode: Mode) {
        self.world
            .lock()
            .unwrap()
            .scm_projects
            .get_mut(project)
            .unwrap()
            .mode = mode;
    }

    /// A Bitbucket Cloud workspace with the repositories of [`Server::add_scm_project`].
    pub fn add_cloud_workspace(&self, workspace: &str, prefix: &str, n: u64) {
        self.add_scm_project(workspace, prefix, n);
        let mut w = self.world.lock().unwrap();
        let p = w.scm_projects.remove(workspace).unwrap();
        w.cloud_workspaces.insert(workspace.into(), p);
    }

    fn cloud_workspace(&self, workspace: &str, f: impl FnOnce(&mut ScmProject)) {
        f(self
            .world
            .lock()
            .unwrap()
            .cloud_workspaces
            .get_mut(workspace)
            .unwrap());
    }

    pub fn edit_cloud_workspace(&self, workspace: &str, f: impl FnOnce(&mut Vec<ScmRepo>)) {
        self.cloud_workspace(workspace, |p| f(&mut p.repos));
    }

    pub fn require_cloud_authorization(&self, workspace: &str, value: &str) {
        self.cloud_workspace(workspace, |p| p.authorization = Some(value.into()));
    }

    pub fn set_cloud_mode(&self, workspace: &str, mode: Mode) {
        self.cloud_workspace(workspace, |p| p.mode = mode);
    }

    pub fn served_304(&self) -> usize {
        self.world.lock().unwrap().served_304
    }
}

/// Logs the request, then the repository's answer for everything but a listing: `Err` is the
/// response (404, 401, a mode's failure), `Ok` the matching pull requests and the mode.
fn admit(
    server: &Server,
    cloud: bool,
    key: &str,
    uri: &str,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<(Vec<Value>, Mode), Box<Response>> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut w = server.world.lock().unwrap();
    log_request(&mut w, uri, headers);
    let Some(r) = Server::repos(&mut w, cloud).get(key) else {
        return Err(Box::new(json_answer(
            StatusCode::NOT_FOUND,
            if cloud {
                r#"{"type": "error", "error": {"message": "Repository not found"}}"#.into()
            } else {
                format!(
                    r#"{{"errors":[{{"context":null,"message":"Repository {key} does not exist.","exceptionName":"com.atlassian.bitbucket.repository.NoSuchRepositoryException"}}]}}"#
                )
            },
        )));
    };
    if let Some(expected) = &r.authorization
        && h("authorization").as_deref() != Some(expected.as_str())
    {
        return Err(Box::new(json_answer(
            StatusCode::UNAUTHORIZED,
            if cloud {
                r#"{"type": "error", "error": {"message": "Unauthorized"}}"#.into()
            } else {
                SERVER_UNAUTHORIZED.into()
            },
        )));
    }
    if let Some(failure) = mode_failure(&r.mode) {
        return Err(Box::new(failure));
    }
    let state = query
        .get("state")
        .map_or("OPEN", String::as_str)
        .to_ascii_uppercase();
    let pulls = r
        .pulls
        .iter()
        .filter(|p| state == "ALL" || p["state"] == state.as_str())
        .cloned()
        .collect();
    Ok((pulls, r.mode.clone()))
}

async fn server_list(
    State(server): State<Server>,
    Path((project, repo)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let key = format!("{project}/{repo}");
    let (pulls, mode) = match admit(&server, false, &key, &uri.to_string(), &headers, &query) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    paged(pulls, &query, mode != Mode::NoNextPageStart)
}

async fn cloud_list(
    State(server): State<Server>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let key = format!("{owner}/{repo}");
    let (pulls, mode) = match admit(&server, true, &key, &uri.to_string(), &headers, &query) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let pagelen = query
        .get("pagelen")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10usize)
        .clamp(1, CLOUD_MAX_PAGELEN);
    let page: usize = query.get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let state = query.get("state").map_or("OPEN", String::as_str);
    let values: Vec<&Value> = pulls.iter().skip((page - 1) * pagelen).take(pagelen).collect();
    let link = |base: &str, n: usize| {
        format!("{base}/2.0/repositories/{key}/pullrequests?pagelen={pagelen}&state={state}&page={n}")
    };
    let mut body = json!({"size": pulls.len(), "page": page, "pagelen": pagelen, "values": values});
    if page * pagelen < pulls.len() {
        body["next"] = json!(match &mode {
            Mode::NextOnHost(other) => link(other, page + 1),
            _ => link(&server.base, page + 1),
        });
    }
    if page > 1 {
        body["previous"] = json!(link(&server.base, page - 1));
    }
    etagged(&server, &headers, &body)
}

/// A Bitbucket Cloud `200` with a strong `ETag`, or `304 Not Modified` when the request names it.
fn etagged(server: &Server, headers: &HeaderMap, body: &Value) -> Response {
    let body = body.to_string();
    let etag = super::strong_etag(&body);
    let if_none_match = headers.get("if-none-match").and_then(|v| v.to_str().ok());
    if if_none_match == Some(etag.as_str()) {
        server.world.lock().unwrap().served_304 += 1;
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header("etag", &etag)
            .body(Body::empty())
            .unwrap();
    }
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json; charset=utf-8")
        .header("etag", &etag)
        .body(Body::from(body))
        .unwrap()
}

const SERVER_UNAUTHORIZED: &str = r#"{"errors":[{"context":null,"message":"Authentication failed. Please check your credentials and try again.","exceptionName":"com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException"}]}"#;

fn log_request(w: &mut World, uri: &str, headers: &HeaderMap) {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    w.log.push(Logged {
        uri: uri.to_string(),
        if_none_match: h("if-none-match"),
        authorization: h("authorization"),
    });
}

/// The failing answer of a mode (`None`: answer normally).
fn mode_failure(mode: &Mode) -> Option<Response> {
    match mode {
        Mode::RetryAfter { secs } => Some(
            Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .header("retry-after", secs.to_string())
                .body(Body::from("Too Many Requests"))
                .unwrap(),
        ),
        Mode::ServerError => Some(json_answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"errors":[{"context":null,"message":"An unexpected error has occurred","exceptionName":null}]}"#.into(),
        )),
        Mode::Malformed => Some(json_answer(StatusCode::OK, r#"{"values": {"id": 101}"#.into())),
        _ => None,
    }
}

/// Logs the request, then the project's repositories or the failing response.
fn scm_admit(
    server: &Server,
    project: &str,
    uri: &str,
    headers: &HeaderMap,
) -> Result<Vec<ScmRepo>, Box<Response>> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut w = server.world.lock().unwrap();
    log_request(&mut w, uri, headers);
    let Some(p) = w.scm_projects.get(project) else {
        return Err(Box::new(json_answer(
            StatusCode::NOT_FOUND,
            format!(
                r#"{{"errors":[{{"context":null,"message":"Project {project} does not exist.","exceptionName":"com.atlassian.bitbucket.project.NoSuchProjectException"}}]}}"#
            ),
        )));
    };
    let refused = p
        .authorization
        .as_ref()
        .is_some_and(|expected| h("authorization").as_ref() != Some(expected));
    if refused {
        return Err(Box::new(json_answer(
            StatusCode::UNAUTHORIZED,
            SERVER_UNAUTHORIZED.into(),
        )));
    }
    mode_failure(&p.mode).map_or_else(|| Ok(p.repos.clone()), |f| Err(Box::new(f)))
}

/// Logs the request, then the project's repository `slug` or the failing response.
fn scm_repo(
    server: &Server,
    project: &str,
    slug: &str,
    uri: &str,
    headers: &HeaderMap,
) -> Result<ScmRepo, Box<Response>> {
    let repos = scm_admit(server, project, uri, headers)?;
    repos.into_iter().find(|r| r.slug == slug).ok_or_else(|| {
        Box::new(json_answer(
            StatusCode::NOT_FOUND,
            format!(
                r#"{{"errors":[{{"context":null,"message":"Repository {slug} does not exist.","exceptionName":"com.atlassian.bitbucket.repository.NoSuchRepositoryException"}}]}}"#
            ),
        ))
    })
}

/// A Bitbucket Server paged answer of `items` (`start`/`limit`: `limit` defaults to 25 and is
/// capped by the instance's maximum); `nextPageStart` only `with_next`.
fn paged(items: Vec<Value>, query: &HashMap<String, String>, with_next: bool) -> Response {
    let limit = query
        .get("limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(25usize)
        .clamp(1, SERVER_MAX_LIMIT);
    let start: usize = query.get("start").and_then(|v| v.parse().ok()).unwrap_or(0);
    let values: Vec<&Value> = items.iter().skip(start).take(limit).collect();
    let is_last_page = start + values.len() >= items.len();
    let mut page = json!({
        "size": values.len(), "limit": limit, "start": start, "isLastPage": is_last_page, "values": values,
    });
    if !is_last_page && with_next {
        page["nextPageStart"] = json!(start + values.len());
    }
    json_answer(StatusCode::OK, page.to_string())
}

fn branch_json(name: &str, sha: &str, default: bool) -> Value {
    json!({"id": format!("refs/heads/{name}"), "displayId": name, "type": "BRANCH",
           "latestCommit": sha, "latestChangeset": sha, "isDefault": default})
}

async fn scm_repos(
    State(server): State<Server>,
    Path(project): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let repos = match scm_admit(&server, &project, &uri.to_string(), &headers) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let host = server.base.trim_start_matches("http://").to_string();
    let items = repos
        .iter()
        .map(|r| {
            let p = project.to_ascii_lowercase();
            json!({"slug": r.slug, "id": r.id, "name": r.name, "scmId": "git", "state": "AVAILABLE",
                   "forkable": true, "public": false,
                   "project": {"key": project, "id": 1, "name": project, "type": "NORMAL"},
                   "links": {"clone": [
                       {"href": format!("ssh://git@{host}:7999/{p}/{}.git", r.slug), "name": "ssh"},
                       {"href": format!("{}/scm/{p}/{}.git", server.base, r.slug), "name": "http"}],
                     "self": [{"href": format!("{}/projects/{project}/repos/{}/browse", server.base, r.slug)}]}})
        })
        .collect();
    paged(items, &query, true)
}

/// `…/repos/{slug}/branches`, `…/branches/default` and `…/browse/{path}`.
async fn scm_resource(
    State(server): State<Server>,
    Path((project, slug, resource)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let r = match scm_repo(&server, &project, &slug, &uri.to_string(), &headers) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    match resource.as_str() {
        "branches" => {
            let items = r
                .branches
                .iter()
                .map(|(name, sha, _)| branch_json(name, sha, r.default_branch.as_deref() == Some(name)))
                .collect();
            paged(items, &query, true)
        }
        "branches/default" => scm_default_branch(&r),
        other => match other.strip_prefix("browse/") {
            Some(path) => scm_browse(&r, path, &query),
            None => json_answer(StatusCode::NOT_FOUND, "{}".into()),
        },
    }
}

fn scm_default_branch(r: &ScmRepo) -> Response {
    let default = r
        .default_branch
        .as_ref()
        .and_then(|d| r.branches.iter().find(|(name, _, _)| name == d));
    match default {
        Some((name, sha, _)) => json_answer(StatusCode::OK, branch_json(name, sha, true).to_string()),
        // Bitbucket Server answers an empty repository's default branch with 404.
        None => json_answer(
            StatusCode::NOT_FOUND,
            r#"{"errors":[{"context":null,"message":"Repository has no branches.","exceptionName":"com.atlassian.bitbucket.repository.NoSuchBranchException"}]}"#.into(),
        ),
    }
}

fn scm_browse(r: &ScmRepo, path: &str, query: &HashMap<String, String>) -> Response {
    let slug = &r.slug;
    let at = query.get("at").cloned().unwrap_or_default();
    let Some((_, _, files)) = r.branches.iter().find(|(name, sha, _)| *sha == at || *name == at) else {
        return json_answer(
            StatusCode::NOT_FOUND,
            format!(
                r#"{{"errors":[{{"context":null,"message":"Commit '{at}' does not exist in repository '{slug}'.","exceptionName":"com.atlassian.bitbucket.commit.NoSuchCommitException"}}]}}"#
            ),
        );
    };
    let path = path.trim_matches('/');
    let Some(file) = super::path_kind(files, path) else {
        return json_answer(
            StatusCode::NOT_FOUND,
            format!(
                r#"{{"errors":[{{"context":"path","message":"The path \"{path}\" does not exist at revision \"{at}\"","exceptionName":"com.atlassian.bitbucket.content.NoSuchPathException"}}]}}"#
            ),
        );
    };
    // `type=true` asks only the path's type.
    json_answer(
        StatusCode::OK,
        json!({"type": if file { "FILE" } else { "DIRECTORY" }}).to_string(),
    )
}

fn cloud_error(status: StatusCode, message: &str) -> Response {
    json_answer(
        status,
        json!({"type": "error", "error": {"message": message}}).to_string(),
    )
}

/// Logs the request, then the workspace's repositories and mode, or the failing response.
fn cloud_admit(
    server: &Server,
    workspace: &str,
    uri: &str,
    headers: &HeaderMap,
) -> Result<(Vec<ScmRepo>, Mode), Box<Response>> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut w = server.world.lock().unwrap();
    log_request(&mut w, uri, headers);
    let Some(p) = w.cloud_workspaces.get(workspace) else {
        return Err(Box::new(cloud_error(
            StatusCode::NOT_FOUND,
            &format!("No workspace with identifier '{workspace}'."),
        )));
    };
    if p.authorization
        .as_ref()
        .is_some_and(|expected| h("authorization").as_ref() != Some(expected))
    {
        return Err(Box::new(cloud_error(StatusCode::UNAUTHORIZED, "Unauthorized")));
    }
    match mode_failure(&p.mode) {
        Some(f) => Err(Box::new(f)),
        None => Ok((p.repos.clone(), p.mode.clone())),
    }
}

/// A Bitbucket Cloud paged answer of `items` at `link` (`page`, `pagelen` at most
/// [`CLOUD_SCM_MAX_PAGELEN`]; `next` on `mode`'s other host when asked).
fn cloud_paged(
    server: &Server,
    headers: &HeaderMap,
    items: Vec<Value>,
    query: &HashMap<String, String>,
    path: &str,
    mode: &Mode,
) -> Response {
    let pagelen = query
        .get("pagelen")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10usize)
        .clamp(1, CLOUD_SCM_MAX_PAGELEN);
    let page: usize = query.get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let values: Vec<&Value> = items.iter().skip((page - 1) * pagelen).take(pagelen).collect();
    let mut body = json!({"size": items.len(), "page": page, "pagelen": pagelen, "values": values});
    if page * pagelen < items.len() {
        let base = match mode {
            Mode::NextOnHost(other) => other.as_str(),
            _ => server.base.as_str(),
        };
        body["next"] = json!(format!("{base}/2.0/{path}?pagelen={pagelen}&page={}", page + 1));
    }
    etagged(server, headers, &body)
}

fn cloud_uuid(id: u64) -> String {
    format!("{{c1b5e1a0-3b0f-4a8e-9d6b-{id:012}}}")
}

/// `GET /2.0/repositories/{workspace}`: repositories as Bitbucket Cloud documents them.
async fn cloud_scm_repos(
    State(server): State<Server>,
    Path(owner): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let (repos, mode) = match cloud_admit(&server, &owner, &uri.to_string(), &headers) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let host = server.base.trim_start_matches("http://").to_string();
    let items = repos
        .iter()
        .map(|r| {
            let full = format!("{owner}/{}", r.slug);
            json!({"type": "repository", "full_name": full, "name": r.name, "slug": r.slug,
                   "uuid": cloud_uuid(r.id), "is_private": true, "scm": "git", "language": "",
                   "created_on": "2026-01-01T00:00:00.000000+00:00", "updated_on": "2026-01-02T00:00:00.000000+00:00",
                   "size": 4096, "has_issues": false, "has_wiki": false, "fork_policy": "no_public_forks",
                   "mainbranch": r.default_branch.as_ref().map(|b| json!({"type": "branch", "name": b})),
                   "workspace": {"type": "workspace", "slug": owner, "name": owner, "uuid": "{a0b1c2d3-0000-4000-8000-000000000001}"},
                   "links": {"self": {"href": format!("{}/2.0/repositories/{full}", server.base)},
                             "html": {"href": format!("https://bitbucket.org/{full}")},
                             "clone": [{"name": "https", "href": format!("https://ci-bot@{host}/{full}.git")},
                                       {"name": "ssh", "href": format!("git@{host}:{full}.git")}]}})
        })
        .collect();
    cloud_paged(
        &server,
        &headers,
        items,
        &query,
        &format!("repositories/{owner}"),
        &mode,
    )
}

fn cloud_branch_json(name: &str, sha: &str) -> Value {
    json!({"name": name, "type": "branch", "default_merge_strategy": "merge_commit",
           "merge_strategies": ["merge_commit", "squash", "fast_forward"],
           "target": {"type": "commit", "hash": sha, "date": "2026-01-01T00:00:00+00:00",
                      "message": "Update\n", "author": {"type": "author", "raw": "Dev <dev@example.com>"}},
           "links": {"self": {"href": format!("https://api.bitbucket.org/2.0/refs/branches/{name}")}}})
}

/// `…/{slug}/refs/branches`, `…/refs/branches/{name}` and `…/src/{commit}/{path}`.
async fn cloud_scm_resource(
    State(server): State<Server>,
    Path((owner, slug, resource)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let (repos, mode) = match cloud_admit(&server, &owner, &uri.to_string(), &headers) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let Some(r) = repos.iter().find(|r| r.slug == slug) else {
        return cloud_error(StatusCode::NOT_FOUND, "Repository not found");
    };
    if resource == "refs/branches" {
        let items = r
            .branches
            .iter()
            .map(|(n, sha, _)| cloud_branch_json(n, sha))
            .collect();
        let path = format!("repositories/{owner}/{slug}/refs/branches");
        return cloud_paged(&server, &headers, items, &query, &path, &mode);
    }
    if let Some(name) = resource.strip_prefix("refs/branches/") {
        return match r.branches.iter().find(|(n, _, _)| n == name) {
            Some((n, sha, _)) => etagged(&server, &headers, &cloud_branch_json(n, sha)),
            None => cloud_error(StatusCode::NOT_FOUND, &format!("Branch \"{name}\" not found")),
        };
    }
    let Some((at, path)) = resource
        .strip_prefix("src/")
        .and_then(|rest| rest.split_once('/'))
    else {
        return cloud_error(StatusCode::NOT_FOUND, "Resource not found");
    };
    let Some((_, sha, files)) = r.branches.iter().find(|(_, sha, _)| sha == at) else {
        return cloud_error(StatusCode::NOT_FOUND, &format!("Commit not found: {at}"));
    };
    let path = path.trim_matches('/');
    let Some(file) = super::path_kind(files, path) else {
        return cloud_error(
            StatusCode::NOT_FOUND,
            &format!("No such file or directory: {path}"),
        );
    };
    json_answer(
        StatusCode::OK,
        json!({"path": path, "type": if file { "commit_file" } else { "commit_directory" },
               "commit": {"type": "commit", "hash": sha}})
        .to_string(),
    )
}
