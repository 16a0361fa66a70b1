//! GitHub and GitLab webhooks for the controller: `POST /api/webhook` on its HTTP server.
//!
//! Stage: trigger (I/O: HTTP in; on the leader, refreshes go to the controller in process with no
//! write to the API server; on a standby replica, they are written as Argo CD's refresh
//! annotation through the Kubernetes API). A `push` refreshes only the ApplicationSets whose git generators read the pushed
//! repository and revision; a `pull_request` event refreshes only those whose pull-request
//! generators watch that owner/repo (and expires the cached pull-request listing, so the
//! refresh asks GitHub). `ping` answers `pong`.
//!
//! Every GitHub request must carry a valid `X-Hub-Signature-256` (HMAC-SHA256 of the body with the
//! shared secret, compared in constant time); a missing or wrong signature is 401 and triggers
//! nothing. Without a configured secret every request is refused.
//!
//! GitLab events (`X-Gitlab-Event`) carry GitLab's secret token in `X-Gitlab-Token`, compared in
//! constant time with Argo CD's `webhook.gitlab.secret`; without that secret every GitLab event
//! is refused. `Push Hook` and `Tag Push Hook` refresh the sets whose git generators read the
//! project's repository at that revision; `Merge Request Hook` (actions `open`, `close`,
//! `reopen`, `update`, `merge`, as Argo CD) refreshes the sets whose `pullRequest.gitlab`
//! generators watch that project on that host, and expires its cached listing; a `System Hook`
//! is read by its `object_kind`. As in Argo CD, every accepted event also refreshes the sets that
//! use a plugin generator (a plugin may read anything). Unlike Argo CD, which compares the generator's `project` with the
//! merge request's numeric project id only, a `project` written as its path
//! (`group/sub/project`) matches too.
//!
//! Differences from Argo CD (§3.12 of docs/argo-appset-spec.md): a bad signature is 401 (Argo CD: 400); on the
//! leader the refresh is an in-process trigger rather than an annotation patch per ApplicationSet,
//! so a burst of events costs no API writes and coalesces in the controller's queue (a standby
//! replica sets Argo CD's refresh annotation, which the leader follows); pull-request actions
//! `ready_for_review`, `converted_to_draft` and `edited` also refresh (they change what
//! `ignoreDraft` and title-based templates generate).

use std::sync::{
    Arc, Mutex, OnceLock,
    atomic::{AtomicU64, Ordering},
};

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use futures::Stream;
use hmac::{Hmac, Mac};
use kube::runtime::reflector::{ObjectRef, Store};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::{
    crd::{ApplicationSet, ApplicationSetGenerator},
    generators::GeneratorSpec,
    sources::{GitHub, GitLab},
};

/// GitHub's largest webhook payload (25 MB).
const MAX_PAYLOAD: usize = 25 << 20;

/// The webhook endpoint's state, shared by the HTTP server and the controller.
pub struct Webhooks {
    secret: Option<Vec<u8>>,
    /// GitLab's secret token (`webhook.gitlab.secret`).
    gitlab_secret: OnceLock<Vec<u8>>,
    github: Arc<GitHub>,
    gitlab: Arc<GitLab>,
    sets: OnceLock<Store<ApplicationSet>>,
    standby: OnceLock<(kube::Client, crate::namespaces::Namespaces)>,
    tx: mpsc::UnboundedSender<ObjectRef<ApplicationSet>>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<ObjectRef<ApplicationSet>>>>,
    accepted: AtomicU64,
    rejected: AtomicU64,
    refreshes: AtomicU64,
    /// Events processed at once (Argo CD's `--webhook-parallelism-limit`); more wait.
    parallelism: tokio::sync::Semaphore,
}

/// Argo CD's default `--webhook-parallelism-limit`.
pub const DEFAULT_PARALLELISM: usize = 50;

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

/// Counters of the webhook endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookStats {
    /// Events with a valid signature.
    pub accepted: u64,
    /// Requests refused (no or wrong signature, unknown event, malformed payload).
    pub rejected: u64,
    /// ApplicationSet refreshes sent to the controller.
    pub refreshes: u64,
}

impl Webhooks {
    /// Webhooks verified with `secret` (None: every request is refused). `github` must be the
    /// controller's GitHub client, whose pull-request listings a `pull_request` event expires.
    pub fn new(secret: Option<Vec<u8>>, github: Arc<GitHub>) -> Arc<Self> {
        Self::with_parallelism(secret, github, DEFAULT_PARALLELISM)
    }

    /// [`Webhooks::new`] processing at most `parallelism` events at once.
    pub fn with_parallelism(secret: Option<Vec<u8>>, github: Arc<GitHub>, parallelism: usize) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        Arc::new(Webhooks {
            secret: secret.filter(|s| !s.is_empty()),
            gitlab_secret: OnceLock::new(),
            gitlab: Arc::new(GitLab::new(github.max_age())),
            github,
            sets: OnceLock::new(),
            standby: OnceLock::new(),
            tx,
            rx: Mutex::new(Some(rx)),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
            parallelism: tokio::sync::Semaphore::new(parallelism.max(1)),
        })
    }

    /// The GitHub client refreshes go through.
    pub fn github(&self) -> &Arc<GitHub> {
        &self.github
    }

    /// The GitLab client whose merge-request listings a `Merge Request Hook` expires (the
    /// controller's: see [`crate::sources::Live::with_gitlab`]).
    pub fn gitlab(&self) -> &Arc<GitLab> {
        &self.gitlab
    }

    /// Accept GitLab events carrying `secret` in `X-Gitlab-Token` (Argo CD's
    /// `webhook.gitlab.secret`; an empty one is ignored, and only the first one set counts).
    pub fn set_gitlab_secret(&self, secret: Vec<u8>) {
        if !secret.is_empty() {
            let _ = self.gitlab_secret.set(secret);
        }
    }

    /// Whether `token` is GitLab's secret token (constant time).
    pub fn verify_gitlab(&self, token: Option<&str>) -> bool {
        let (Some(secret), Some(token)) = (self.gitlab_secret.get(), token) else {
            return false;
        };
        let token = token.as_bytes();
        // Compare HMACs of both under a fixed key: constant time whatever the lengths.
        let mac = |b: &[u8]| {
            let mut m = Hmac::<Sha256>::new_from_slice(b"appset-gitlab-token")
                .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
            m.update(b);
            m.finalize().into_bytes()
        };
        let expected = mac(secret);
        let mut got = Hmac::<Sha256>::new_from_slice(b"appset-gitlab-token")
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        got.update(token);
        got.verify_slice(&expected).is_ok()
    }

    /// Counters.
    pub fn stats(&self) -> WebhookStats {
        WebhookStats {
            accepted: self.accepted.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            refreshes: self.refreshes.load(Ordering::Relaxed),
        }
    }

    /// The controller's side: the ApplicationSets it reconciles, and the stream of refreshes
    /// (None when a controller attached already).
    pub fn attach(
        &self,
        sets: Store<ApplicationSet>,
    ) -> Option<impl Stream<Item = ObjectRef<ApplicationSet>> + Send + 'static> {
        let rx = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        let _ = self.sets.set(sets);
        Some(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|r| (r, rx))
        }))
    }

    /// While no controller is attached (a standby replica), refresh through the API server
    /// instead: list the ApplicationSets of the served `namespaces` and set Argo CD's refresh
    /// annotation on the matching ones, which the leader reconciles (§3.11 of docs/argo-appset-spec.md).
    pub fn standby_via(&self, client: kube::Client, namespaces: crate::namespaces::Namespaces) {
        let _ = self.standby.set((client, namespaces));
    }

    /// Whether `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body` (constant-time).
    pub fn verify(&self, body: &[u8], signature: Option<&str>) -> bool {
        let (Some(secret), Some(sig)) = (&self.secret, signature) else {
            return false;
        };
        let Some(tag) = sig
            .strip_prefix("sha256=")
            .and_then(|h| hex::decode(h.trim()).ok())
        else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&tag).is_ok()
    }
}

/// `sha256=<hex>` for `body` under `secret` (what GitHub sends; for clients and tests).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // An HMAC accepts keys of any length.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

// ---- events -------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct Repository {
    #[serde(default)]
    name: String,
    #[serde(default)]
    owner: Option<Owner>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    clone_url: Option<String>,
    #[serde(default)]
    ssh_url: Option<String>,
    #[serde(default)]
    git_url: Option<String>,
    /// API URL of the repository (`https://api.github.com/repos/o/r`).
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    default_branch: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Owner {
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PushEvent {
    #[serde(rename = "ref")]
    ref_: String,
    repository: Repository,
}

#[derive(Debug, Deserialize)]
struct PullRequestEvent {
    action: String,
    repository: Repository,
}

/// What an event asks to refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Commits pushed to `revision` (a branch or tag name) of a repository known by `urls`;
    /// `touched_head`: the revision is the default branch.
    Push {
        /// The repository's URLs (web, clone, ssh, git), as keys ([`repo_key`]).
        repos: Vec<String>,
        /// Branch or tag name (`refs/heads/` or `refs/tags/` stripped).
        revision: String,
        /// Whether the pushed branch is the default branch (HEAD).
        touched_head: bool,
    },
    /// A merge request of a GitLab project on the host `host` changed.
    MergeRequest {
        /// Lower-case host of the project's web URL (`gitlab.com`, a self-managed host).
        host: String,
        /// The target project's numeric id.
        project_id: String,
        /// The target project's path (`group/sub/project`), lower case.
        project_path: String,
    },
    /// A pull request of `owner/repo` on the API host `api_host` changed.
    PullRequest {
        /// Lower-case API host (`api.github.com`, a GitHub Enterprise host).
        api_host: String,
        /// Lower-case owner.
        owner: String,
        /// Lower-case repository.
        repo: String,
    },
}

/// A repository URL reduced to `host/path`, lower case, without scheme, user, port, `.git` or
/// trailing slash: `https://github.com/Org/Repo.git`, `git@github.com:org/repo` and
/// `ssh://git@github.com:22/org/repo` are all `github.com/org/repo`.
pub fn repo_key(url: &str) -> String {
    let url = url.trim().to_ascii_lowercase();
    let (host, path) = match url.split_once("://") {
        Some((_, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            (authority.to_string(), path.to_string())
        }
        // scp-like `user@host:path`
        None => match url.split_once(':') {
            Some((authority, path)) => (authority.to_string(), path.to_string()),
            None => (url.clone(), String::new()),
        },
    };
    let host = host.rsplit_once('@').map_or(host.as_str(), |(_, h)| h);
    let host = host.split_once(':').map_or(host, |(h, _)| h);
    let host = host
        .strip_prefix("ssh.")
        .or_else(|| host.strip_prefix("altssh."))
        .unwrap_or(host);
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    format!("{host}/{path}")
}

/// The host of an API base URL, `default` when it is empty (`https://api.github.com/` →
/// `api.github.com`).
fn host_of(api: &str, default: &str) -> String {
    let key = repo_key(if api.trim().is_empty() { default } else { api });
    key.split('/').next().unwrap_or_default().to_string()
}

/// The API host of a GitHub API base URL (`https://api.github.com/` when empty).
fn api_host(api: &str) -> String {
    host_of(api, "https://api.github.com")
}

/// Pull-request actions that change what a pull-request generator generates.
const PR_ACTIONS: &[&str] = &[
    "opened",
    "closed",
    "reopened",
    "synchronize",
    "labeled",
    "unlabeled",
    "edited",
    "ready_for_review",
    "converted_to_draft",
];

/// A push of `ref_` (`refs/heads/x`, `refs/tags/v1`) to the repository known by `urls`.
fn push_change<'u>(
    ref_: &str,
    urls: impl IntoIterator<Item = &'u Option<String>>,
    default_branch: Option<&str>,
) -> Change {
    let revision = ref_.splitn(3, '/').nth(2).unwrap_or(ref_).to_string();
    Change::Push {
        touched_head: default_branch == Some(revision.as_str()),
        repos: urls.into_iter().flatten().map(|u| repo_key(u)).collect(),
        revision,
    }
}

/// Parse a GitHub event into the change it announces (None: nothing to refresh).
pub fn parse_event(event: &str, body: &[u8]) -> Result<Option<Change>, String> {
    match event {
        "push" => {
            let e: PushEvent =
                serde_json::from_slice(body).map_err(|e| format!("malformed push event: {e}"))?;
            let r = &e.repository;
            Ok(Some(push_change(
                &e.ref_,
                [&r.html_url, &r.clone_url, &r.ssh_url, &r.git_url],
                r.default_branch.as_deref(),
            )))
        }
        "pull_request" => {
            let e: PullRequestEvent =
                serde_json::from_slice(body).map_err(|e| format!("malformed pull_request event: {e}"))?;
            if !PR_ACTIONS.contains(&e.action.as_str()) {
                return Ok(None);
            }
            let r = &e.repository;
            let owner = r
                .owner
                .as_ref()
                .and_then(|o| o.login.clone().or_else(|| o.name.clone()))
                .unwrap_or_default();
            Ok(Some(Change::PullRequest {
                api_host: r
                    .url
                    .as_deref()
                    .map(api_host)
                    .unwrap_or_else(|| "api.github.com".into()),
                owner: owner.to_ascii_lowercase(),
                repo: r.name.to_ascii_lowercase(),
            }))
        }
        _ => Ok(None),
    }
}

#[derive(Debug, Deserialize, Default)]
struct GitLabProject {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    web_url: Option<String>,
    #[serde(default)]
    git_http_url: Option<String>,
    #[serde(default)]
    git_ssh_url: Option<String>,
    #[serde(default)]
    http_url: Option<String>,
    #[serde(default)]
    ssh_url: Option<String>,
    #[serde(default)]
    default_branch: Option<String>,
    #[serde(default)]
    path_with_namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GitLabEvent {
    #[serde(default)]
    object_kind: String,
    #[serde(default, rename = "ref")]
    ref_: Option<String>,
    #[serde(default)]
    project: Option<GitLabProject>,
    #[serde(default)]
    object_attributes: Option<GitLabMergeRequest>,
}

#[derive(Debug, Deserialize)]
struct GitLabMergeRequest {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    target_project_id: Option<u64>,
}

/// Merge-request actions that refresh (Argo CD's `gitlabAllowedPullRequestActions`).
const MR_ACTIONS: &[&str] = &["open", "close", "reopen", "update", "merge"];

/// Parse a GitLab event (`X-Gitlab-Event`: `Push Hook`, `Tag Push Hook`, `Merge Request Hook`,
/// `System Hook`) into the change it announces (None: nothing to refresh).
pub fn parse_gitlab_event(event: &str, body: &[u8]) -> Result<Option<Change>, String> {
    if !matches!(
        event,
        "Push Hook" | "Tag Push Hook" | "Merge Request Hook" | "System Hook"
    ) {
        return Ok(None);
    }
    let e: GitLabEvent =
        serde_json::from_slice(body).map_err(|e| format!("malformed GitLab {event} event: {e}"))?;
    let project = e.project.unwrap_or_default();
    match e.object_kind.as_str() {
        "push" | "tag_push" => {
            let p = &project;
            Ok(Some(push_change(
                e.ref_.as_deref().unwrap_or_default(),
                [
                    &p.web_url,
                    &p.git_http_url,
                    &p.git_ssh_url,
                    &p.http_url,
                    &p.ssh_url,
                ],
                p.default_branch.as_deref(),
            )))
        }
        "merge_request" => {
            let Some(mr) = e.object_attributes else {
                return Err("malformed GitLab merge request event: no object_attributes".into());
            };
            if !mr.action.as_deref().is_some_and(|a| MR_ACTIONS.contains(&a)) {
                return Ok(None);
            }
            let host = project
                .web_url
                .as_deref()
                .map(|u| repo_key(u).split('/').next().unwrap_or_default().to_string())
                .unwrap_or_default();
            Ok(Some(Change::MergeRequest {
                host,
                project_id: mr
                    .target_project_id
                    .or(project.id)
                    .map(|i| i.to_string())
                    .unwrap_or_default(),
                project_path: project
                    .path_with_namespace
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
            }))
        }
        _ => Ok(None),
    }
}

/// The host of a GitLab API base URL (`https://gitlab.com/` when empty, as Argo CD).
fn gitlab_host(api: &str) -> String {
    host_of(api, "https://gitlab.com/")
}

/// A generator field that is templated (matrix interpolation): it may match anything.
fn templated(s: &str) -> bool {
    s.contains("{{") || s.contains("[[")
}

fn git_matches(repo_url: &str, revision: &str, change: &Change) -> bool {
    let Change::Push {
        repos,
        revision: pushed,
        touched_head,
    } = change
    else {
        return false;
    };
    if !templated(repo_url) && !repos.contains(&repo_key(repo_url)) {
        return false;
    }
    if templated(revision) {
        return true;
    }
    let stripped = revision
        .strip_prefix("refs/heads/")
        .or_else(|| revision.strip_prefix("refs/tags/"))
        .unwrap_or(revision);
    match stripped {
        "" | "HEAD" => *touched_head,
        r => r == pushed || revision == pushed,
    }
}

fn entries_match(entries: &[ApplicationSetGenerator], change: &Change) -> bool {
    GeneratorSpec::all_in(entries).iter().any(|k| match k {
        GeneratorSpec::Git(g) => git_matches(&g.repo_url, &g.revision, change),
        GeneratorSpec::PullRequest(p) => match (change, &p.github, &p.gitlab) {
            (
                Change::PullRequest {
                    api_host: host,
                    owner,
                    repo,
                },
                Some(gh),
                _,
            ) => {
                (templated(&gh.owner) || gh.owner.eq_ignore_ascii_case(owner))
                    && (templated(&gh.repo) || gh.repo.eq_ignore_ascii_case(repo))
                    && (templated(&gh.api) || api_host(&gh.api) == *host)
            }
            (
                Change::MergeRequest {
                    host,
                    project_id,
                    project_path,
                },
                _,
                Some(gl),
            ) => {
                let project = gl.project.trim();
                (templated(project)
                    || (!project_id.is_empty() && project == project_id)
                    || (!project_path.is_empty() && project.eq_ignore_ascii_case(project_path)))
                    && (templated(&gl.api) || gitlab_host(&gl.api) == *host)
            }
            _ => false,
        },
        // Argo CD's shouldRefreshPluginGenerator: a plugin may read anything, so every event
        // refreshes the sets that use one.
        GeneratorSpec::Plugin(_) => true,
        _ => false,
    })
}

/// Whether `change` may change what `set` generates.
pub fn affects(set: &ApplicationSet, change: &Change) -> bool {
    entries_match(&set.spec.generators, change)
}

// ---- HTTP ----------------------------------------------------------------------------------------

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn handle(State(hooks): State<Arc<Webhooks>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let reject = |status: StatusCode, message: &str| {
        hooks.rejected.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%status, message, "webhook refused");
        answer(status, json!({"error": message}))
    };
    let (event, parsed) = if let Some(event) = header("x-gitlab-event") {
        if hooks.gitlab_secret.get().is_none() {
            return reject(
                StatusCode::UNAUTHORIZED,
                "no GitLab webhook secret is configured (--webhook-gitlab-secret or argocd-secret webhook.gitlab.secret); every GitLab event is refused",
            );
        }
        if !hooks.verify_gitlab(header("x-gitlab-token")) {
            return reject(StatusCode::UNAUTHORIZED, "missing or invalid X-Gitlab-Token");
        }
        (
            event,
            parse_gitlab_event as fn(&str, &[u8]) -> Result<Option<Change>, String>,
        )
    } else {
        if hooks.secret.is_none() {
            return reject(
                StatusCode::UNAUTHORIZED,
                "no webhook secret is configured (--webhook-secret or argocd-secret webhook.github.secret); every event is refused",
            );
        }
        if !hooks.verify(&body, header("x-hub-signature-256")) {
            return reject(StatusCode::UNAUTHORIZED, "missing or invalid X-Hub-Signature-256");
        }
        let Some(event) = header("x-github-event") else {
            return reject(
                StatusCode::BAD_REQUEST,
                "Unknown webhook event (no X-GitHub-Event header)",
            );
        };
        (
            event,
            parse_event as fn(&str, &[u8]) -> Result<Option<Change>, String>,
        )
    };
    // The semaphore is never closed; were it, the event is processed anyway.
    let _slot = hooks.parallelism.acquire().await.ok();
    let change = match parsed(event, &body) {
        Ok(c) => c,
        Err(message) => return reject(StatusCode::BAD_REQUEST, &message),
    };
    hooks.accepted.fetch_add(1, Ordering::Relaxed);
    if event == "ping" {
        return answer(StatusCode::OK, json!({"pong": true}));
    }
    let Some(change) = change else {
        return answer(StatusCode::OK, json!({"ignored": event, "refreshed": []}));
    };
    let Some(sets) = hooks.sets.get() else {
        return match hooks.standby.get() {
            Some((client, namespaces)) => match refresh_through_api(client, namespaces, &change).await {
                Ok(refreshed) => {
                    hooks
                        .refreshes
                        .fetch_add(refreshed.len() as u64, Ordering::Relaxed);
                    answer(
                        StatusCode::OK,
                        json!({"refreshed": refreshed, "through": "annotation"}),
                    )
                }
                Err(e) => reject(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("refreshing through the API server: {e}"),
                ),
            },
            None => reject(
                StatusCode::SERVICE_UNAVAILABLE,
                "the controller is not running in this process (not the leader); send webhooks to the leader",
            ),
        };
    };
    match &change {
        Change::PullRequest { owner, repo, .. } => hooks.github.expire(owner, repo),
        Change::MergeRequest {
            project_id,
            project_path,
            ..
        } => {
            // A generator names its project by id or by path: both listings go.
            for p in [project_id, project_path].into_iter().filter(|p| !p.is_empty()) {
                hooks.gitlab.expire(p);
            }
        }
        Change::Push { .. } => {}
    }
    let mut refreshed = Vec::new();
    for set in sets.state() {
        if affects(&set, &change) {
            let r = ObjectRef::from_obj(&*set);
            refreshed.push(format!("{}/{}", r.namespace.clone().unwrap_or_default(), r.name));
            let _ = hooks.tx.send(r);
        }
    }
    hooks
        .refreshes
        .fetch_add(refreshed.len() as u64, Ordering::Relaxed);
    tracing::info!(event, refreshed = refreshed.len(), "webhook");
    answer(StatusCode::OK, json!({"refreshed": refreshed}))
}

/// Argo CD's refresh annotation: the controller bypasses cached pull-request listings for a set
/// that carries it and removes it after a successful reconcile.
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/application-set-refresh";

/// The standby's refresh: set [`REFRESH_ANNOTATION`] on every affected ApplicationSet.
async fn refresh_through_api(
    client: &kube::Client,
    namespaces: &crate::namespaces::Namespaces,
    change: &Change,
) -> Result<Vec<String>, kube::Error> {
    use kube::{
        Api, ResourceExt,
        api::{ListParams, Patch, PatchParams},
    };
    let apis: Vec<Api<ApplicationSet>> = match namespaces.exact() {
        Some(names) => names
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect(),
        None => vec![Api::all(client.clone())],
    };
    let patch = json!({"metadata": {"annotations": {REFRESH_ANNOTATION: "true"}}});
    let mut refreshed = Vec::new();
    for api in apis {
        for set in api.list(&ListParams::default()).await? {
            if !namespaces.allows(&set.namespace().unwrap_or_default()) || !affects(&set, change) {
                continue;
            }
            let ns = set.namespace().unwrap_or_default();
            Api::<ApplicationSet>::namespaced(client.clone(), &ns)
                .patch(&set.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            refreshed.push(format!("{ns}/{}", set.name_any()));
        }
    }
    Ok(refreshed)
}

/// The GitLab projects an ApplicationSet's pull-request generators watch (as written).
pub fn merge_request_projects(set: &ApplicationSet) -> Vec<String> {
    GeneratorSpec::all_in(&set.spec.generators)
        .iter()
        .filter_map(|k| match k {
            GeneratorSpec::PullRequest(p) => p.gitlab.as_ref().map(|gl| gl.project.clone()),
            _ => None,
        })
        .collect()
}

/// The GitHub repositories (`owner`, `repo`) an ApplicationSet's pull-request generators watch.
pub fn pull_request_repos(set: &ApplicationSet) -> Vec<(String, String)> {
    GeneratorSpec::all_in(&set.spec.generators)
        .iter()
        .filter_map(|k| match k {
            GeneratorSpec::PullRequest(p) => p.github.as_ref().map(|gh| (gh.owner.clone(), gh.repo.clone())),
            _ => None,
        })
        .collect()
}

/// The webhook endpoint, `POST /api/webhook`.
pub fn endpoint(hooks: Arc<Webhooks>) -> Router {
    Router::new()
        .route("/api/webhook", post(handle))
        .layer(DefaultBodyLimit::max(MAX_PAYLOAD))
        .with_state(hooks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(generators: serde_json::Value) -> ApplicationSet {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "s", "namespace": "argocd"},
            "spec": {"generators": generators, "template": {"metadata": {}, "spec": {"project": "default"}}}
        }))
        .unwrap()
    }

    fn push(url: &str, r#ref: &str, default_branch: &str) -> Change {
        let body = json!({"ref": r#ref, "repository": {"html_url": url, "clone_url": format!("{url}.git"),
                          "ssh_url": "git@github.com:Org/Repo.git", "default_branch": default_branch}});
        parse_event("push", body.to_string().as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn repository_urls_compare_across_schemes_users_ports_suffixes_and_case() {
        for url in [
            "https://github.com/org/repo",
            "https://github.com/Org/Repo.git",
            "http://github.com/org/repo/",
            "git@github.com:org/repo.git",
            "ssh://git@github.com:22/org/repo",
            "ssh://git@ssh.github.com/org/repo.git",
            "https://user@GitHub.com/org/repo",
        ] {
            assert_eq!(repo_key(url), "github.com/org/repo", "{url}");
        }
        assert_ne!(repo_key("https://github.com/org/repo2"), "github.com/org/repo");
    }

    #[test]
    fn a_push_refreshes_git_generators_of_that_repository_and_revision() {
        let git = |url: &str, rev: &str| {
            set(json!([{"git": {"repoURL": url, "revision": rev, "directories": [{"path": "*"}]}}]))
        };
        let main = push("https://github.com/Org/Repo", "refs/heads/main", "main");
        assert!(affects(&git("git@github.com:org/repo.git", "HEAD"), &main));
        assert!(affects(&git("https://github.com/org/repo", ""), &main));
        assert!(affects(&git("https://github.com/org/repo", "main"), &main));
        assert!(affects(
            &git("https://github.com/org/repo", "refs/heads/main"),
            &main
        ));
        assert!(!affects(&git("https://github.com/org/repo", "release"), &main));
        assert!(!affects(&git("https://github.com/org/other", "HEAD"), &main));
        // A push to another branch does not touch HEAD.
        let feature = push("https://github.com/org/repo", "refs/heads/feat/x", "main");
        assert!(!affects(&git("https://github.com/org/repo", "HEAD"), &feature));
        assert!(affects(&git("https://github.com/org/repo", "feat/x"), &feature));
        // Tags.
        let tag = push("https://github.com/org/repo", "refs/tags/v1", "main");
        assert!(affects(&git("https://github.com/org/repo", "v1"), &tag));
        // Inside a matrix, and with a templated URL (interpolated from the first child).
        let nested = set(json!([{"matrix": {"generators": [
            {"list": {"elements": [{"u": "https://github.com/org/repo"}]}},
            {"git": {"repoURL": "{{u}}", "revision": "HEAD", "files": [{"path": "x"}]}}]}}]));
        assert!(affects(&nested, &main));
        assert!(!affects(&set(json!([{"list": {"elements": []}}])), &main));
    }

    #[test]
    fn a_pull_request_event_refreshes_generators_of_that_owner_repo_and_api() {
        let event = |action: &str, api_url: &str| {
            let body = json!({"action": action, "repository": {"name": "Repo", "owner": {"login": "Org"}, "url": api_url}});
            parse_event("pull_request", body.to_string().as_bytes()).unwrap()
        };
        let pr = |owner: &str, repo: &str, api: &str| {
            set(json!([{"pullRequest": {"github": {"owner": owner, "repo": repo, "api": api}}}]))
        };
        let opened = event("opened", "https://api.github.com/repos/Org/Repo").unwrap();
        assert!(affects(&pr("org", "repo", ""), &opened));
        assert!(affects(&pr("ORG", "Repo", "https://api.github.com/"), &opened));
        assert!(!affects(&pr("org", "other", ""), &opened));
        assert!(!affects(
            &pr("org", "repo", "https://ghe.example.com/api/v3"),
            &opened
        ));
        let ghe = event("synchronize", "https://ghe.example.com/api/v3/repos/Org/Repo").unwrap();
        assert!(affects(
            &pr("org", "repo", "https://ghe.example.com/api/v3"),
            &ghe
        ));
        assert!(affects(&pr("org", "repo", ""), &opened));
        // Actions that change nothing generated are ignored.
        assert_eq!(event("assigned", "https://api.github.com/repos/Org/Repo"), None);
        assert!(event("ready_for_review", "https://api.github.com/repos/Org/Repo").is_some());
        // A push is not a pull-request change.
        assert!(!affects(
            &pr("org", "repo", ""),
            &push("https://github.com/org/repo", "refs/heads/main", "main")
        ));
    }

    fn gitlab_fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/webhooks/gitlab")
                .join(name),
        )
        .unwrap()
    }

    /// GitLab's documented payloads (tests/fixtures/webhooks/gitlab).
    #[test]
    fn gitlab_pushes_tags_and_merge_requests_parse_as_argo_cd_reads_them() {
        let push = parse_gitlab_event("Push Hook", &gitlab_fixture("push.json"))
            .unwrap()
            .unwrap();
        let Change::Push {
            repos,
            revision,
            touched_head,
        } = &push
        else {
            panic!("{push:?}")
        };
        assert_eq!((revision.as_str(), *touched_head), ("master", true));
        assert!(
            repos.contains(&"example.com/mike/diaspora".to_string()),
            "{repos:?}"
        );
        let dirs = |url: &str, revision: &str| {
            set(json!([{"git": {"repoURL": url, "revision": revision, "directories": [{"path": "*"}]}}]))
        };
        assert!(affects(&dirs("git@example.com:mike/diaspora.git", "HEAD"), &push));
        assert!(affects(
            &dirs("https://example.com/mike/diaspora", "master"),
            &push
        ));
        assert!(!affects(&dirs("https://example.com/mike/other", "master"), &push));
        assert!(!affects(
            &dirs("https://example.com/mike/diaspora", "release"),
            &push
        ));

        let tag = parse_gitlab_event("Tag Push Hook", &gitlab_fixture("tag_push.json"))
            .unwrap()
            .unwrap();
        assert!(affects(
            &dirs("http://example.com/jsmith/example.git", "v1.0.0"),
            &tag
        ));
        assert!(!affects(
            &dirs("http://example.com/jsmith/example.git", "HEAD"),
            &tag
        ));

        let mr = parse_gitlab_event("Merge Request Hook", &gitlab_fixture("merge_request.json"))
            .unwrap()
            .unwrap();
        assert_eq!(
            mr,
            Change::MergeRequest {
                host: "example.com".into(),
                project_id: "1".into(),
                project_path: "gitlabhq/gitlab-test".into(),
            }
        );
        let gitlab = |project: &str, api: &str| {
            set(json!([{"pullRequest": {"gitlab": {"project": project, "api": api}}}]))
        };
        // By id (Argo CD's only match) and, unlike Argo CD, by path; on the project's host only.
        assert!(affects(&gitlab("1", "https://example.com/"), &mr));
        assert!(affects(
            &gitlab("GitlabHQ/gitlab-test", "https://example.com"),
            &mr
        ));
        assert!(affects(&gitlab("{{project}}", "https://example.com"), &mr));
        assert!(!affects(&gitlab("2", "https://example.com/"), &mr));
        assert!(!affects(&gitlab("1", ""), &mr), "the default API is gitlab.com");
        assert!(!affects(
            &dirs("http://example.com/gitlabhq/gitlab-test.git", "HEAD"),
            &mr
        ));
        // An action Argo CD does not refresh on; events it does not read.
        assert_eq!(
            parse_gitlab_event(
                "System Hook",
                &gitlab_fixture("system_merge_request_approved.json")
            )
            .unwrap(),
            None
        );
        assert_eq!(parse_gitlab_event("Note Hook", b"{").unwrap(), None);
        assert!(
            parse_gitlab_event("Push Hook", b"{")
                .unwrap_err()
                .starts_with("malformed GitLab Push Hook event")
        );
    }

    #[test]
    fn every_event_refreshes_the_sets_with_a_plugin_generator_as_in_argo_cd() {
        let plugin = set(json!([{"matrix": {"generators": [
            {"list": {"elements": [{"a": "1"}]}},
            {"plugin": {"configMapRef": {"name": "p"}}}
        ]}}]));
        let list = set(json!([{"list": {"elements": [{"a": "1"}]}}]));
        let mr = parse_gitlab_event("Merge Request Hook", &gitlab_fixture("merge_request.json"))
            .unwrap()
            .unwrap();
        let push = parse_gitlab_event("Push Hook", &gitlab_fixture("push.json"))
            .unwrap()
            .unwrap();
        for change in [&mr, &push] {
            assert!(affects(&plugin, change), "{change:?}");
            assert!(!affects(&list, change), "{change:?}");
        }
    }

    #[test]
    fn the_gitlab_token_is_compared_whole() {
        let hooks = Webhooks::new(None, Arc::new(GitHub::new(None, std::time::Duration::ZERO)));
        assert!(!hooks.verify_gitlab(Some("s3cret")), "no secret: refused");
        hooks.set_gitlab_secret(b"s3cret".to_vec());
        assert!(hooks.verify_gitlab(Some("s3cret")));
        for wrong in ["s3cre", "s3cret ", "", "S3CRET"] {
            assert!(!hooks.verify_gitlab(Some(wrong)), "{wrong:?}");
        }
        assert!(!hooks.verify_gitlab(None));
    }

    #[test]
    fn signatures_are_hmac_sha256_of_the_body() {
        let hooks = Webhooks::new(
            Some(b"s3cret".to_vec()),
            Arc::new(GitHub::new(None, std::time::Duration::ZERO)),
        );
        let body = br#"{"zen": "x"}"#;
        let good = sign(b"s3cret", body);
        assert!(hooks.verify(body, Some(&good)));
        assert!(!hooks.verify(b"{}", Some(&good)), "another body");
        assert!(!hooks.verify(body, Some(&sign(b"other", body))), "another secret");
        assert!(!hooks.verify(body, None), "unsigned");
        assert!(!hooks.verify(body, Some("sha1=abc")), "not sha256");
        assert!(!hooks.verify(body, Some("sha256=zz")), "not hex");
        // GitHub's documented example (docs.github.com, "Validating webhook deliveries").
        assert_eq!(
            sign(b"It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        let unset = Webhooks::new(None, Arc::new(GitHub::new(None, std::time::Duration::ZERO)));
        assert!(
            !unset.verify(body, Some(&good)),
            "no secret configured: nothing verifies"
        );
    }
}
