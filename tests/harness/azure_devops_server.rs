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

#[derive(Default)]
struct World {
    /// By `organization/project/repo`.
    repos: HashMap<String, Repo>,
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

async fn list(
    State(server): State<Server>,
    Path((organization, project, repo)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut w = server.world.lock().unwrap();
    w.log.push(Logged {
        uri: uri.to_string(),
        authorization: h("authorization"),
        fed_auth_redirect: h("x-tfs-fedauthredirect"),
    });
    let answer = |status: StatusCode, content_type: &str, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .header("x-tfs-session", "9b1a2c3d-0000-4000-8000-000000000000")
            .header("activityid", "0f0e0d0c-0000-4000-8000-000000000000")
            .body(Body::from(body))
            .unwrap()
    };
    let json_answer =
        |status: StatusCode, body: String| answer(status, "application/json; charset=utf-8", body);
    let key = format!("{organization}/{project}/{repo}");
    let Some(r) = w.repos.get(&key) else {
        let project_known = w
            .repos
            .keys()
            .any(|k| k.starts_with(&format!("{organization}/{project}/")));
        return if project_known {
            json_answer(
                StatusCode::NOT_FOUND,
                not_found(
                    "GitRepositoryNotFoundException",
                    &format!(
                        "TF401019: The Git repository with name or identifier {repo} does not exist or you do not have permissions for the operation you are attempting."
                    ),
                ),
            )
        } else {
            json_answer(
                StatusCode::NOT_FOUND,
                not_found(
                    "ProjectDoesNotExistWithNameException",
                    &format!(
                        "TF200016: The following project does not exist: {project}. Verify that the name of the project is correct and that the project exists on the specified Azure DevOps Server."
                    ),
                ),
            )
        };
    };
    let sign_in = || {
        answer(
            StatusCode::NON_AUTHORITATIVE_INFORMATION,
            "text/html; charset=utf-8",
            SIGN_IN_PAGE.into(),
        )
    };
    if r.mode == Mode::SignInPage {
        return sign_in();
    }
    if let Some(token) = &r.token {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(":{token}"))
        );
        if h("authorization") != Some(expected) {
            // Without `X-TFS-FedAuthRedirect: Suppress`, a browser-style redirect to sign in.
            return if h("x-tfs-fedauthredirect").as_deref() == Some("Suppress") {
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
            };
        }
    }
    match r.mode {
        Mode::Ok | Mode::SignInPage => {}
        Mode::RetryAfter { secs } => {
            let reset = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + secs;
            return Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .header("retry-after", secs.to_string())
                .header("x-ratelimit-resource", "Core")
                .header("x-ratelimit-delay", "0.5")
                .header("x-ratelimit-limit", "200")
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-reset", reset.to_string())
                .header("content-type", "application/json; charset=utf-8")
                .body(Body::from(r#"{"$id":"1","innerException":null,"message":"Request was blocked due to exceeding usage of resource 'Core' in namespace 'User'.","typeKey":"RequestBlockedException","errorCode":0}"#))
                .unwrap();
        }
        Mode::ServerError => {
            return json_answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"$id":"1","innerException":null,"message":"An unexpected error occurred.","typeKey":"Exception","errorCode":0}"#.into(),
            );
        }
        Mode::Malformed => return json_answer(StatusCode::OK, r#"{"value": [{"pullRequestId": "#.into()),
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
    let body = json!({"value": items, "count": items.len()}).to_string();
    let mut resp = answer(
        StatusCode::OK,
        "application/json; charset=utf-8",
        format!("\u{feff}{body}"),
    );
    if let Some(token) = next_token {
        resp.headers_mut()
            .insert("x-ms-continuationtoken", token.parse().unwrap());
    }
    resp
}
