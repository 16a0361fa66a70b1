//! An Azure DevOps-shaped HTTP server on 127.0.0.1 for tests:
//! `GET /{organization}/{project}/_apis/git/repositories/{repo}/pullrequests` answering
//! `{"value": [GitPullRequest...], "count": N}` as Microsoft documents the listing, with the
//! `searchCriteria.status` filter (default `active`), `$top`/`$skip` paging (or, in
//! [`Paging::ContinuationToken`], an `x-ms-continuationtoken` header), a UTF-8 byte order mark
//! before the JSON as IIS sends it, basic auth with an empty user and the personal access token,
//! a 401 for a refused token when `X-TFS-FedAuthRedirect: Suppress` is sent and a `203` HTML
//! sign-in page when it is not (or always, in [`Mode::SignInPage`]), 429 with `Retry-After` and
//! `X-RateLimit-*`, Azure DevOps's 404s for an unknown project or repository, 500s and malformed
//! bodies. It records every request.

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
use base64::Engine;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Ok,
    /// 429 with `Retry-After` and Azure DevOps's `X-RateLimit-*` headers.
    RetryAfter {
        secs: u64,
    },
    /// 203 with an HTML sign-in page, whatever the request carries.
    SignInPage,
    ServerError,
    Malformed,
}

/// How the listing is paged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Paging {
    /// `$top` (at most 100 here; the default 101 is Azure DevOps's) and `$skip`.
    TopSkip,
    /// `n` pull requests a page, the next one named by an `x-ms-continuationtoken` header.
    ContinuationToken { n: usize },
}

struct Repo {
    pulls: Vec<Value>,
    mode: Mode,
    paging: Paging,
    /// The personal access token basic auth must carry (None: anonymous reads are allowed).
    token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub uri: String,
    pub authorization: Option<String>,
    pub fed_auth_redirect: Option<String>,
}

/// A repository of a team project (the `scmProvider` endpoints).
#[derive(Clone, Debug)]
pub struct ScmRepo {
    /// A UUID.
    pub id: String,
    pub name: String,
    /// `None`: an empty repository (Azure DevOps sends no `defaultBranch`).
    pub default_branch: Option<String>,
    /// (name, commit, files at that commit).
    pub branches: Vec<super::FixtureBranch>,
}

/// A team project (the `scmProvider` endpoints).
struct ScmProject {
    repos: Vec<ScmRepo>,
    mode: Mode,
    token: Option<String>,
    /// Repositories a page, the next one named by `x-ms-continuationtoken` (None: one page).
    page: Option<usize>,
}

#[derive(Default)]
struct World {
    /// By `organization/project/repo`.
    repos: HashMap<String, Repo>,
    /// By `organization/project`.
    projects: HashMap<String, ScmProject>,
    log: Vec<Logged>,
}

#[derive(Clone)]
pub struct Server {
    pub base: String,
    world: Arc<Mutex<World>>,
}

/// A `GitPullRequest` as `GET .../pullrequests` documents it (a full object, as Azure DevOps
/// sends it: repository, identities, merge commits, reviewers, labels).
pub fn pull(id: u64, source: &str, target: &str, labels: &[&str], status: &str) -> Value {
    let sha = |salt: &str| {
        format!("{id:04x}{salt}{}", "0123456789abcdef".repeat(3))
            .chars()
            .take(40)
            .collect::<String>()
    };
    let creator = format!("dev{}", id % 3);
    let labels: Vec<Value> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| json!({"id": format!("b8a23f3f-0000-4000-8000-{i:012}"), "name": l, "active": true}))
        .collect();
    let identity = |name: &str| {
        json!({
            "displayName": format!("Dev {name}"),
            "url": format!("https://spsprodcus5.vssps.visualstudio.com/A0c1a2b3c/_apis/Identities/{name}"),
            "_links": {"avatar": {"href": format!("https://dev.azure.com/fabrikam/_apis/GraphProfile/MemberAvatars/aad.{name}")}},
            "id": "54d125f7-69f7-4191-904f-c5b96b6261c8",
            "uniqueName": format!("{name}@fabrikam.example"),
            "imageUrl": format!("https://dev.azure.com/fabrikam/_api/_common/identityImage?id={name}"),
            "descriptor": format!("aad.{name}")
        })
    };
    json!({
        "repository": {
            "id": "3411ebc1-d5aa-464f-9615-0b527bc66719",
            "name": "shop",
            "url": "https://dev.azure.com/fabrikam/_apis/git/repositories/3411ebc1-d5aa-464f-9615-0b527bc66719",
            "project": {"id": "a7573007-bbb3-4341-b726-0c4148a07853", "name": "web", "state": "wellFormed",
                        "visibility": "private", "lastUpdateTime": "0001-01-01T00:00:00"}
        },
        "pullRequestId": id,
        "codeReviewId": id,
        "status": status,
        "createdBy": identity(&creator),
        "creationDate": "2026-01-01T16:30:31.6655471Z",
        "title": format!("Pull request {id}"),
        "description": "Adding a new feature",
        "sourceRefName": format!("refs/heads/{source}"),
        "targetRefName": format!("refs/heads/{target}"),
        "mergeStatus": "succeeded",
        "isDraft": id.is_multiple_of(5),
        "mergeId": "f5fc8381-3fb2-49fe-8a0d-27dcc2d6ef82",
        "lastMergeSourceCommit": {"commitId": sha("a"), "url": format!("https://dev.azure.com/fabrikam/_apis/git/repositories/3411ebc1-d5aa-464f-9615-0b527bc66719/commits/{}", sha("a"))},
        "lastMergeTargetCommit": {"commitId": sha("b"), "url": "https://dev.azure.com/fabrikam/_apis/git/repositories/3411ebc1-d5aa-464f-9615-0b527bc66719/commits/b"},
        "lastMergeCommit": {"commitId": sha("c"), "url": "https://dev.azure.com/fabrikam/_apis/git/repositories/3411ebc1-d5aa-464f-9615-0b527bc66719/commits/c"},
        "reviewers": [{
            "reviewerUrl": "https://dev.azure.com/fabrikam/_apis/git/repositories/3411ebc1-d5aa-464f-9615-0b527bc66719/pullRequests/22/reviewers/d6245f20-2af8-44f4-9451-8107cb2767db",
            "vote": 0, "hasDeclined": false, "isFlagged": false,
            "displayName": "[web]\\Web Team", "id": "d6245f20-2af8-44f4-9451-8107cb2767db",
            "uniqueName": "vstfs:///Classification/TeamProject/a7573007-bbb3-4341-b726-0c4148a07853\\Web Team",
            "isContainer": true
        }],
        "labels": labels,
        "url": format!("https://dev.azure.com/fabrikam/_apis/git/repositories/3411ebc1-d5aa-464f-9615-0b527bc66719/pullRequests/{id}"),
        "supportsIterations": true
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
            .route(
                "/{organization}/{project}/_apis/git/repositories/{repo}/pullrequests",
                get(list),
            )
            .route("/{organization}/{project}/_apis/git/repositories", get(scm_repos))
            .route(
                "/{organization}/{project}/_apis/git/repositories/{repo}/{*resource}",
                get(scm_resource),
            )
            .with_state(server.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        server
    }

    /// `key`: `organization/project/repo`.
    pub fn add_repo(&self, key: &str, pulls: Vec<Value>) {
        self.world.lock().unwrap().repos.insert(
            key.into(),
            Repo {
                pulls,
                mode: Mode::Ok,
                paging: Paging::TopSkip,
                token: None,
            },
        );
    }

    pub fn require_token(&self, key: &str, token: &str) {
        self.world.lock().unwrap().repos.get_mut(key).unwrap().token = Some(token.into());
    }

    pub fn set_mode(&self, key: &str, mode: Mode) {
        self.world.lock().unwrap().repos.get_mut(key).unwrap().mode = mode;
    }

    pub fn set_paging(&self, key: &str, paging: Paging) {
        self.world.lock().unwrap().repos.get_mut(key).unwrap().paging = paging;
    }

    pub fn log(&self) -> Vec<Logged> {
        self.world.lock().unwrap().log.clone()
    }

    pub fn clear_log(&self) {
        self.world.lock().unwrap().log.clear();
    }

    /// A team project `organization/project` of `n` repositories `{prefix}NN`, default branch
    /// `main` (and a `feature/x` branch); every third repository has `deploy/app.yaml`.
    pub fn add_scm_project(&self, key: &str, prefix: &str, n: usize) {
        let repos = super::scm_fixture(prefix, n as u64)
            .into_iter()
            .map(|(i, name, branches)| ScmRepo {
                id: format!("3411ebc1-d5aa-464f-9615-{i:012}"),
                default_branch: Some("main".into()),
                branches,
                name,
            })
            .collect();
        self.world.lock().unwrap().projects.insert(
            key.into(),
            ScmProject {
                repos,
                mode: Mode::Ok,
                token: None,
                page: None,
            },
        );
    }

    fn scm_project(&self, key: &str, f: impl FnOnce(&mut ScmProject)) {
        f(self.world.lock().unwrap().projects.get_mut(key).unwrap());
    }

    pub fn edit_scm_project(&self, key: &str, f: impl FnOnce(&mut Vec<ScmRepo>)) {
        self.scm_project(key, |p| f(&mut p.repos));
    }

    pub fn require_scm_token(&self, key: &str, token: &str) {
        self.scm_project(key, |p| p.token = Some(token.into()));
    }

    pub fn set_scm_mode(&self, key: &str, mode: Mode) {
        self.scm_project(key, |p| p.mode = mode);
    }

    /// Page the repositories `n` at a time, by continuation token.
    pub fn set_scm_page(&self, key: &str, n: usize) {
        self.scm_project(key, |p| p.page = Some(n));
    }
}

const SIGN_IN_PAGE: &str = "<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head>\
<body><form action=\"https://login.microsoftonline.com/\">Sign in to your account</form></body></html>";

fn not_found(type_key: &str, message: &str) -> String {
    json!({
        "$id": "1", "innerException": null, "message": message,
        "typeName": format!("Microsoft.TeamFoundation.Git.Server.{type_key}, Microsoft.TeamFoundation.Git.Server"),
        "typeKey": type_key, "errorCode": 0, "eventId": 3000
    })
    .to_string()
}

fn log_request(w: &mut World, uri: &str, headers: &HeaderMap) {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    w.log.push(Logged {
        uri: uri.to_string(),
        authorization: h("authorization"),
        fed_auth_redirect: h("x-tfs-fedauthredirect"),
    });
}

fn answer(status: StatusCode, content_type: &str, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-tfs-session", "9b1a2c3d-0000-4000-8000-000000000000")
        .header("activityid", "0f0e0d0c-0000-4000-8000-000000000000")
        .body(Body::from(body))
        .unwrap()
}

fn json_answer(status: StatusCode, body: String) -> Response {
    answer(status, "application/json; charset=utf-8", body)
}

/// A `200` JSON answer with the byte order mark IIS sends.
fn bom_json(body: &Value) -> Response {
    answer(
        StatusCode::OK,
        "application/json; charset=utf-8",
        format!("\u{feff}{body}"),
    )
}

fn repo_not_found(repo: &str) -> Response {
    json_answer(
        StatusCode::NOT_FOUND,
        not_found(
            "GitRepositoryNotFoundException",
            &format!(
                "TF401019: The Git repository with name or identifier {repo} does not exist or you do not have permissions for the operation you are attempting."
            ),
        ),
    )
}

fn project_not_found(project: &str) -> Response {
    json_answer(
        StatusCode::NOT_FOUND,
        not_found(
            "ProjectDoesNotExistWithNameException",
            &format!(
                "TF200016: The following project does not exist: {project}. Verify that the name of the project is correct and that the project exists on the specified Azure DevOps Server."
            ),
        ),
    )
}

/// The refusal or failure a request gets before any answer (`None`: answer it): a sign-in page,
/// a refused token, a rate limit, a 500, a malformed body.
fn refusal(mode: Mode, token: Option<&str>, headers: &HeaderMap) -> Option<Response> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let sign_in = || {
        answer(
            StatusCode::NON_AUTHORITATIVE_INFORMATION,
            "text/html; charset=utf-8",
            SIGN_IN_PAGE.into(),
        )
    };
    if mode == Mode::SignInPage {
        return Some(sign_in());
    }
    if let Some(token) = token {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(":{token}"))
        );
        if h("authorization") != Some(expected) {
            // Without `X-TFS-FedAuthRedirect: Suppress`, a browser-style redirect to sign in.
            return Some(if h("x-tfs-fedauthredirect").as_deref() == Some("Suppress") {
                let mut resp = answer(
                    StatusCode::UNAUTHORIZED,
                    "text/html; charset=utf-8",
                    "<html><body>Access Denied: The Personal Access Token used has expired.</body></html>"
                        .into(),
                );
                resp.headers_mut().insert(
                    "www-authenticate",
                    "Bearer authorization_uri=https://login.microsoftonline.com/"
                        .parse()
                        .unwrap(),
                );
                resp
            } else {
                sign_in()
            });
        }
    }
    match mode {
        Mode::Ok | Mode::SignInPage => None,
        Mode::RetryAfter { secs } => {
            let reset = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + secs;
            Some(Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .header("retry-after", secs.to_string())
                .header("x-ratelimit-resource", "Core")
                .header("x-ratelimit-delay", "0.5")
                .header("x-ratelimit-limit", "200")
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-reset", reset.to_string())
                .header("content-type", "application/json; charset=utf-8")
                .body(Body::from(r#"{"$id":"1","innerException":null,"message":"Request was blocked due to exceeding usage of resource 'Core' in namespace 'User'.","typeKey":"RequestBlockedException","errorCode":0}"#))
                .unwrap())
        }
        Mode::ServerError => Some(json_answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"$id":"1","innerException":null,"message":"An unexpected error occurred.","typeKey":"Exception","errorCode":0}"#.into(),
        )),
        Mode::Malformed => Some(json_answer(StatusCode::OK, r#"{"value": [{"pullRequestId": "#.into())),
    }
}

async fn list(
    State(server): State<Server>,
    Path((organization, project, repo)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let mut w = server.world.lock().unwrap();
    log_request(&mut w, &uri.to_string(), &headers);
    let key = format!("{organization}/{project}/{repo}");
    let Some(r) = w.repos.get(&key) else {
        let project_known = w
            .repos
            .keys()
            .any(|k| k.starts_with(&format!("{organization}/{project}/")));
        return if project_known {
            repo_not_found(&repo)
        } else {
            project_not_found(&project)
        };
    };
    if let Some(refused) = refusal(r.mode, r.token.as_deref(), &headers) {
        return refused;
    }
    let status = query
        .get("searchCriteria.status")
        .cloned()
        .unwrap_or_else(|| "active".into());
    let matching: Vec<&Value> = r
        .pulls
        .iter()
        .filter(|p| status == "all" || p["status"] == status.as_str())
        .collect();
    let (skip, top, next_token) = match r.paging {
        Paging::TopSkip => {
            let top: usize = query
                .get("$top")
                .and_then(|v| v.parse().ok())
                .unwrap_or(101)
                .min(100);
            let skip: usize = query.get("$skip").and_then(|v| v.parse().ok()).unwrap_or(0);
            (skip, top, None)
        }
        Paging::ContinuationToken { n } => {
            let skip: usize = query
                .get("continuationToken")
                .and_then(|v| v.strip_prefix("after:"))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let next = (skip + n < matching.len()).then(|| format!("after:{}", skip + n));
            (skip, n, next)
        }
    };
    let items: Vec<&Value> = matching.iter().skip(skip).take(top).copied().collect();
    let mut resp = bom_json(&json!({"value": items, "count": items.len()}));
    if let Some(token) = next_token {
        resp.headers_mut()
            .insert("x-ms-continuationtoken", token.parse().unwrap());
    }
    resp
}

/// Logs the request, then the team project's repositories or the failing response.
fn scm_admit(
    server: &Server,
    key: &str,
    uri: &str,
    headers: &HeaderMap,
) -> Result<Vec<ScmRepo>, Box<Response>> {
    let mut w = server.world.lock().unwrap();
    log_request(&mut w, uri, headers);
    let Some(p) = w.projects.get(key) else {
        return Err(Box::new(project_not_found(
            key.split('/').nth(1).unwrap_or_default(),
        )));
    };
    match refusal(p.mode, p.token.as_deref(), headers) {
        Some(refused) => Err(Box::new(refused)),
        None => Ok(p.repos.clone()),
    }
}

/// `GET /{organization}/{project}/_apis/git/repositories`: `GitRepository` objects as Microsoft
/// documents them (`defaultBranch` absent for an empty repository).
async fn scm_repos(
    State(server): State<Server>,
    Path((organization, project)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let key = format!("{organization}/{project}");
    let repos = match scm_admit(&server, &key, &uri.to_string(), &headers) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let page = server.world.lock().unwrap().projects[&key].page;
    let skip: usize = query
        .get("continuationToken")
        .and_then(|v| v.strip_prefix("after:"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let take = page.unwrap_or(usize::MAX);
    let host = server.base.trim_start_matches("http://").to_string();
    let items: Vec<Value> = repos
        .iter()
        .skip(skip)
        .take(take)
        .map(|r| {
            let mut v = json!({
                "id": r.id, "name": r.name,
                "url": format!("{}/{organization}/_apis/git/repositories/{}", server.base, r.id),
                "project": {"id": "a7573007-bbb3-4341-b726-0c4148a07853", "name": project,
                            "url": format!("{}/{organization}/_apis/projects/a7573007-bbb3-4341-b726-0c4148a07853", server.base),
                            "state": "wellFormed", "revision": 11, "visibility": "private",
                            "lastUpdateTime": "2026-01-01T00:00:00Z"},
                "size": 1024,
                "remoteUrl": format!("{}/{organization}/{project}/_git/{}", server.base, r.name),
                "sshUrl": format!("git@ssh.{host}:v3/{organization}/{project}/{}", r.name),
                "webUrl": format!("{}/{organization}/{project}/_git/{}", server.base, r.name),
                "isDisabled": false, "isInMaintenance": false
            });
            if let Some(d) = &r.default_branch {
                v["defaultBranch"] = json!(format!("refs/heads/{d}"));
            }
            v
        })
        .collect();
    let mut resp = bom_json(&json!({"value": items, "count": items.len()}));
    if let Some(n) = page
        && skip + n < repos.len()
    {
        resp.headers_mut().insert(
            "x-ms-continuationtoken",
            format!("after:{}", skip + n).parse().unwrap(),
        );
    }
    resp
}

fn branch_stats(name: &str, sha: &str, base: bool) -> Value {
    json!({
        "commit": {"commitId": sha,
                   "author": {"name": "Dev", "email": "dev@fabrikam.example", "date": "2026-01-01T00:00:00Z"},
                   "committer": {"name": "Dev", "email": "dev@fabrikam.example", "date": "2026-01-01T00:00:00Z"},
                   "comment": "Update", "url": format!("https://dev.azure.com/fabrikam/_apis/git/repositories/r/commits/{sha}")},
        "name": name, "aheadCount": 0, "behindCount": 0, "isBaseVersion": base
    })
}

/// `…/repositories/{repo}/stats/branches[?name=]` (by name or id) and
/// `…/repositories/{id}/items?path=&versionDescriptor.version=`.
async fn scm_resource(
    State(server): State<Server>,
    Path((organization, project, repo, resource)): Path<(String, String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let key = format!("{organization}/{project}");
    let repos = match scm_admit(&server, &key, &uri.to_string(), &headers) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let Some(r) = repos.iter().find(|r| r.name == repo || r.id == repo) else {
        return repo_not_found(&repo);
    };
    match resource.as_str() {
        "stats/branches" => match query.get("name") {
            Some(name) => match r.branches.iter().find(|(n, _, _)| n == name) {
                Some((n, sha, _)) => bom_json(&branch_stats(n, sha, true)),
                None => json_answer(
                    StatusCode::NOT_FOUND,
                    not_found(
                        "GitBranchNotFoundException",
                        &format!(
                            "TF401175: The version descriptor <Branch: {name} > could not be resolved to a version in the repository {}",
                            r.name
                        ),
                    ),
                ),
            },
            None => {
                let items: Vec<Value> = r
                    .branches
                    .iter()
                    .map(|(n, sha, _)| branch_stats(n, sha, r.default_branch.as_deref() == Some(n)))
                    .collect();
                bom_json(&json!({"value": items, "count": items.len()}))
            }
        },
        "items" => {
            let version = query
                .get("versionDescriptor.version")
                .cloned()
                .unwrap_or_default();
            let path = query.get("path").cloned().unwrap_or_default();
            let at = r
                .branches
                .iter()
                .find(|(n, sha, _)| *sha == version || *n == version);
            let trimmed = path.trim_matches('/');
            let found = at.and_then(|(_, sha, files)| {
                super::path_kind(files, trimmed).map(|file| (sha.clone(), if file { "blob" } else { "tree" }))
            });
            match found {
                Some((sha, kind)) => bom_json(&json!({
                    "objectId": "61a86fdaa79e5c6f5fb6e4026508489feb6ed92c", "gitObjectType": kind,
                    "commitId": sha, "path": format!("/{trimmed}"), "isFolder": kind == "tree",
                    "url": format!("{}/{key}/_apis/git/repositories/{}/items?path={trimmed}", server.base, r.id)
                })),
                None => json_answer(
                    StatusCode::NOT_FOUND,
                    not_found(
                        "GitItemNotFoundException",
                        &format!(
                            "TF401174: The item '{path}' could not be found in the repository '{}' at the version specified by '<Commit: {version} >' (resolved to commit '{version}').",
                            r.name
                        ),
                    ),
                ),
            }
        }
        _ => json_answer(StatusCode::NOT_FOUND, "{}".into()),
    }
}
