//! Webhooks for the controller: `POST /api/webhook` on its HTTP server.
//!
//! Stage: trigger (I/O: HTTP in; on the leader, refreshes go to the controller in process with no
//! write to the API server; on a standby replica, they are written as Argo CD's refresh
//! annotation through the Kubernetes API). The endpoint tells the forge by its headers, has the
//! forge's module verify the request (each refuses every request while its secret is not
//! configured) and parse the event into a [`Change`], then refreshes only the ApplicationSets the
//! change [`affects`]: a push those whose git generators read the pushed repository and revision,
//! a pull-request event those whose pull-request generators watch that repository (and expires
//! its cached listing, so the refresh asks the forge). As in Argo CD, every accepted event also
//! refreshes the sets that use a plugin generator (a plugin may read anything).
//!
//! One file per forge, pure (parsing and verification): `github.rs`, `gitlab.rs`.
//!
//! Differences from Argo CD (§3.12 of docs/argo-appset-spec.md): a bad signature is 401 (Argo CD:
//! 400); on the leader the refresh is an in-process trigger rather than an annotation patch per
//! ApplicationSet, so a burst of events costs no API writes and coalesces in the controller's
//! queue (a standby replica sets Argo CD's refresh annotation, which the leader follows);
//! pull-request actions `ready_for_review`, `converted_to_draft` and `edited` also refresh (they
//! change what `ignoreDraft` and title-based templates generate).

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
use serde_json::json;
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::{
    crd::{ApplicationSet, ApplicationSetGenerator},
    generators::GeneratorSpec,
    sources::{GitHub, GitLab},
};

mod github;
mod gitlab;

pub use github::{parse_event, sign};
pub use gitlab::parse_gitlab_event;

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
}

/// Whether `given` is `secret` (constant time whatever the lengths: HMACs of both under a fixed
/// key are compared).
fn same_secret(secret: &[u8], given: &[u8]) -> bool {
    let mac = |b: &[u8]| {
        let mut m = Hmac::<Sha256>::new_from_slice(b"appset-webhook-secret")
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(b);
        m
    };
    let expected = mac(secret).finalize().into_bytes();
    mac(given).verify_slice(&expected).is_ok()
}

// ---- events -------------------------------------------------------------------------------------

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
        GeneratorSpec::PullRequest(p) => {
            p.github.as_ref().is_some_and(|gh| github::watches(gh, change))
                || p.gitlab.as_ref().is_some_and(|gl| gitlab::watches(gl, change))
        }
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

    /// An ApplicationSet `argocd/s` with these generators.
    pub(super) fn set(generators: serde_json::Value) -> ApplicationSet {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "s", "namespace": "argocd"},
            "spec": {"generators": generators, "template": {"metadata": {}, "spec": {"project": "default"}}}
        }))
        .unwrap()
    }

    /// A payload of `forge`'s corpus (tests/fixtures/webhooks/<forge>/<name>).
    pub(super) fn fixture(forge: &str, name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/webhooks")
                .join(forge)
                .join(name),
        )
        .unwrap()
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
    fn every_event_refreshes_the_sets_with_a_plugin_generator_as_in_argo_cd() {
        let plugin = set(json!([{"matrix": {"generators": [
            {"list": {"elements": [{"a": "1"}]}},
            {"plugin": {"configMapRef": {"name": "p"}}}
        ]}}]));
        let list = set(json!([{"list": {"elements": [{"a": "1"}]}}]));
        let mr = parse_gitlab_event("Merge Request Hook", &fixture("gitlab", "merge_request.json"))
            .unwrap()
            .unwrap();
        let push = parse_gitlab_event("Push Hook", &fixture("gitlab", "push.json"))
            .unwrap()
            .unwrap();
        for change in [&mr, &push] {
            assert!(affects(&plugin, change), "{change:?}");
            assert!(!affects(&list, change), "{change:?}");
        }
    }
}
