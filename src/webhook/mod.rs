//! Webhooks for the controller: `POST /api/webhook` on its HTTP server.
//!
//! Stage: trigger (I/O: HTTP in; on the leader, refreshes go to the controller in process with no
//! write to the API server; on a sharded replica, the sets of shards it does not hold are
//! refreshed by forwarding the event to their owner over HTTP (`forward.rs`); on a standby
//! replica, and when the owner cannot be reached, they are written as Argo CD's refresh
//! annotation through the Kubernetes API). The endpoint tells the forge by its headers, has the
//! forge's module verify the request (each refuses every request while its secret is not
//! configured) and parse the event into a [`Change`], then refreshes only the ApplicationSets the
//! change [`affects`]: a push those whose git generators read the pushed repository and revision,
//! a pull-request event those whose pull-request generators watch that repository (and expires
//! its cached listing, so the refresh asks the forge). A push also refreshes the sets whose
//! `scmProvider` generators scan the pushed repository, their cached listings of its owner
//! expired first (`scm.rs`; Argo CD refreshes no `scmProvider` set on a webhook). As in Argo CD,
//! every accepted event also refreshes the sets that use a plugin generator (a plugin may read
//! anything).
//!
//! One file per forge, pure (parsing and verification): `github.rs`, `gitlab.rs`, `gitea.rs`
//! (Gitea, Forgejo, Gogs), `bitbucket.rs` (Server and Cloud), `azure.rs` (Azure DevOps). The
//! endpoint asks them in this order: Azure DevOps (`X-Vss-ActivityId`), Gitea (whose requests
//! carry GitHub's headers too), GitLab, Bitbucket (`X-Event-Key`), else GitHub.
//!
//! Expiring cached listings: GitHub, GitLab and Gitea clients are the endpoint's own (the
//! controller's sources share them). A pull-request source of another forge joins with one
//! [`Webhooks::on_pull_request`] call where the controller builds its sources; the callback gets
//! the repository key of [`Change::RepoPullRequest`] on every accepted pull-request event of that
//! forge, and of every repository a set with Argo CD's refresh annotation watches
//! ([`watched_repositories`], [`Webhooks::expire_registered`]); its `scmProvider` source with one
//! [`Webhooks::on_scan`] call, given the scanned owner ([`scanned_owners`]). The generator specs of those
//! forges are read as JSON with Argo CD's field names ([`Watched`]), so they keep working when the
//! CRD types them.
//!
//! Differences from Argo CD (§3.12 of docs/argo-appset-spec.md): a bad signature is 401 (Argo CD:
//! 400); on the leader the refresh is an in-process trigger rather than an annotation patch per
//! ApplicationSet, so a burst of events costs no API writes and coalesces in the controller's
//! queue (a standby replica sets Argo CD's refresh annotation, which the leader follows; a
//! sharded replica forwards the event to the replicas holding the other sets' shards);
//! pull-request actions `ready_for_review`, `converted_to_draft` and `edited` also refresh (they
//! change what `ignoreDraft` and title-based templates generate).

use std::sync::{
    Arc, Mutex, OnceLock, RwLock,
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
    sources::{GitHub, GitLab, Gitea},
};

mod azure;
mod bitbucket;
mod forward;
mod gitea;
mod github;
mod gitlab;
mod scm;

pub use azure::parse_azure_event;
pub use bitbucket::{is_bitbucket_cloud_event, parse_bitbucket_cloud_event, parse_bitbucket_server_event};
pub use forward::{Envelope, FORWARDED_PATH};
pub use gitea::{parse_gitea_event, sign_hex};
pub use github::{parse_event, sign};
pub use gitlab::parse_gitlab_event;

/// A forge whose webhooks `/api/webhook` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Forge {
    /// GitHub and GitHub Enterprise (`X-GitHub-Event`).
    GitHub,
    /// GitLab (`X-Gitlab-Event`).
    GitLab,
    /// Gitea, Forgejo and Gogs (`X-Gitea-Event`, `X-Forgejo-Event`, `X-Gogs-Event`).
    Gitea,
    /// Bitbucket Server and Data Center (`X-Event-Key` without `X-Hook-UUID`).
    BitbucketServer,
    /// Bitbucket Cloud (`X-Event-Key` with `X-Hook-UUID`).
    BitbucketCloud,
    /// Azure DevOps service hooks (`X-Vss-ActivityId`; the event is the body's `eventType`).
    AzureDevOps,
}

impl Forge {
    /// The forge's name in answers and logs.
    pub fn name(self) -> &'static str {
        match self {
            Forge::GitHub => "GitHub",
            Forge::GitLab => "GitLab",
            Forge::Gitea => "Gitea",
            Forge::BitbucketServer => "Bitbucket Server",
            Forge::BitbucketCloud => "Bitbucket Cloud",
            Forge::AzureDevOps => "Azure DevOps",
        }
    }

    /// Whether `event` is this forge's ping (GitHub's `ping`, Bitbucket Server's
    /// `diagnostics:ping`): the endpoint answers `{"pong": true}` and refreshes nothing.
    pub fn is_ping(self, event: &str) -> bool {
        matches!(
            (self, event),
            (Forge::GitHub, "ping") | (Forge::BitbucketServer, "diagnostics:ping")
        )
    }
}

/// Expires a forge's cached pull-request listings of one repository, given its key (the `repo`
/// of [`Change::RepoPullRequest`]: `project/repo` on Bitbucket Server, `owner/repo` on Bitbucket
/// Cloud, `organization/project/repo` on Azure DevOps; lower case).
pub type ExpireListing = Arc<dyn Fn(&str) + Send + Sync>;

/// The expiries of `forge` in `list` (copied out, so none runs under the lock).
fn registered(list: &RwLock<Vec<(Forge, ExpireListing)>>, forge: Forge) -> Vec<ExpireListing> {
    list.read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(f, _)| *f == forge)
        .map(|(_, e)| e.clone())
        .collect()
}

/// A refusal: the status and the message the sender sees.
type Refusal = (StatusCode, String);

/// The header `name` of a request, when it is text.
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `Err(401)` saying that `what` is not configured (`how`), so every event of that forge is
/// refused.
fn unconfigured(what: &str, how: &str) -> Refusal {
    (
        StatusCode::UNAUTHORIZED,
        format!("no {what} is configured ({how}); every such event is refused"),
    )
}

/// GitHub's largest webhook payload (25 MB).
const MAX_PAYLOAD: usize = 25 << 20;

/// The webhook endpoint's state, shared by the HTTP server and the controller.
pub struct Webhooks {
    secret: Option<Vec<u8>>,
    /// GitLab's secret token (`webhook.gitlab.secret`).
    gitlab_secret: OnceLock<Vec<u8>>,
    github: Arc<GitHub>,
    gitlab: Arc<GitLab>,
    gitea: Arc<Gitea>,
    /// Gitea's, Forgejo's and Gogs's HMAC secret (`webhook.gitea.secret`, `webhook.gogs.secret`).
    gitea_secret: OnceLock<Vec<u8>>,
    /// Bitbucket Server's HMAC secret (`webhook.bitbucketserver.secret`).
    bitbucket_server_secret: OnceLock<Vec<u8>>,
    /// Bitbucket Cloud's webhook UUID (`webhook.bitbucket.uuid`).
    bitbucket_uuid: OnceLock<Vec<u8>>,
    /// Bitbucket Cloud's HMAC secret (`webhook.bitbucket.secret`).
    bitbucket_secret: OnceLock<Vec<u8>>,
    /// Azure DevOps basic authentication: (username, password).
    azure_devops_auth: OnceLock<(Vec<u8>, Vec<u8>)>,
    /// Listing expiries registered per forge ([`Webhooks::on_pull_request`]).
    expirers: RwLock<Vec<(Forge, ExpireListing)>>,
    /// `scmProvider` listing expiries registered per forge ([`Webhooks::on_scan`]).
    scan_expirers: RwLock<Vec<(Forge, ExpireListing)>>,
    sets: OnceLock<Store<ApplicationSet>>,
    standby: OnceLock<(kube::Client, crate::namespaces::Namespaces)>,
    /// With sharding: whether this replica reconciles set `namespace/name`; the others' sets
    /// are refreshed through the refresh annotation.
    owns: OnceLock<OwnsSet>,
    forwarding: OnceLock<Forwarding>,
    tx: mpsc::UnboundedSender<ObjectRef<ApplicationSet>>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<ObjectRef<ApplicationSet>>>>,
    accepted: AtomicU64,
    rejected: AtomicU64,
    refreshes: AtomicU64,
    /// Events processed at once (Argo CD's `--webhook-parallelism-limit`); more wait.
    parallelism: tokio::sync::Semaphore,
}

/// Whether this replica reconciles ApplicationSet `namespace/name`.
type OwnsSet = Box<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// Where the sets of other replicas' shards are refreshed (see [`Webhooks::forwarding`]).
struct Forwarding {
    identity: String,
    client: reqwest::Client,
    peer_of: PeerOf,
}

/// Which other replica reconciles set (namespace, name), if another does.
type PeerOf = Box<dyn Fn(&str, &str) -> Option<crate::shard::Peer> + Send + Sync>;

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
            gitea: Arc::new(Gitea::new(github.max_age())),
            gitea_secret: OnceLock::new(),
            bitbucket_server_secret: OnceLock::new(),
            bitbucket_uuid: OnceLock::new(),
            bitbucket_secret: OnceLock::new(),
            azure_devops_auth: OnceLock::new(),
            expirers: RwLock::new(Vec::new()),
            scan_expirers: RwLock::new(Vec::new()),
            github,
            sets: OnceLock::new(),
            standby: OnceLock::new(),
            owns: OnceLock::new(),
            forwarding: OnceLock::new(),
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

    /// The Gitea client whose pull-request listings a Gitea `pull_request` event expires (the
    /// controller's: see [`crate::sources::Live::with_gitea`]).
    pub fn gitea(&self) -> &Arc<Gitea> {
        &self.gitea
    }

    /// Have `expire` called with the repository key of every accepted pull-request event of
    /// `forge` (and, through [`Webhooks::expire_registered`], of the repositories a set with
    /// Argo CD's refresh annotation watches), so that the refresh asks the forge instead of a
    /// cached listing. This is how a pull-request source with a cache joins the webhooks: one
    /// line where the controller builds its sources, e.g.
    /// `hooks.on_pull_request(Forge::BitbucketServer, move |repo| client.expire(repo))`.
    /// GitHub, GitLab and Gitea need none: their clients are the endpoint's own.
    pub fn on_pull_request(&self, forge: Forge, expire: impl Fn(&str) + Send + Sync + 'static) {
        self.expirers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push((forge, Arc::new(expire)));
    }

    /// Expire `forge`'s cached pull-request listings of `repo` (a key as [`ExpireListing`] and
    /// [`Change::listings`] give it): the endpoint's GitHub, GitLab or Gitea client, and every
    /// expiry registered for `forge`.
    pub fn expire(&self, forge: Forge, repo: &str) {
        match forge {
            Forge::GitHub | Forge::Gitea => {
                if let Some((owner, name)) = repo.split_once('/') {
                    if forge == Forge::GitHub {
                        self.github.expire(owner, name);
                    } else {
                        self.gitea.expire(owner, name);
                    }
                }
            }
            Forge::GitLab => self.gitlab.expire(repo),
            _ => {}
        }
        self.expire_registered(forge, repo);
    }

    /// Have `expire` called with the scanned owner (the key of [`scanned_owners`]) of every
    /// `scmProvider` generator of `forge` a push concerns or Argo CD's refresh annotation names,
    /// so the refresh lists repositories and branches again. The `scmProvider` counterpart of
    /// [`Webhooks::on_pull_request`], for the forges whose clients are not the endpoint's own.
    pub fn on_scan(&self, forge: Forge, expire: impl Fn(&str) + Send + Sync + 'static) {
        self.scan_expirers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push((forge, Arc::new(expire)));
    }

    /// Expire `forge`'s cached `scmProvider` listings of `owner` (organization, group, owner,
    /// project key, or `organization/teamProject`; lower case): the endpoint's GitHub, GitLab or
    /// Gitea client, and every expiry registered with [`Webhooks::on_scan`].
    pub fn expire_scanned(&self, forge: Forge, owner: &str) {
        match forge {
            Forge::GitHub => self.github.expire_organization(owner),
            Forge::GitLab => self.gitlab.expire(owner),
            Forge::Gitea => self.gitea.expire_owner(owner),
            _ => {}
        }
        for expire in registered(&self.scan_expirers, forge) {
            expire(owner);
        }
    }

    /// Call only the expiries registered for `forge` with `repo`.
    pub fn expire_registered(&self, forge: Forge, repo: &str) {
        for expire in registered(&self.expirers, forge) {
            expire(repo);
        }
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

    /// With sharding: this replica refreshes only the sets `owns` says it reconciles; the
    /// others get the refresh annotation (through the client of [`Webhooks::standby_via`]),
    /// which their owner follows.
    pub fn sharded(&self, owns: impl Fn(&str, &str) -> bool + Send + Sync + 'static) {
        let _ = self.owns.set(Box::new(owns));
    }

    /// With sharding: forward an event to the replica `peer_of` names for a set this replica
    /// does not reconcile (the owner refreshes it in process), rather than annotate the set;
    /// `identity` names this replica to the others. Sets whose owner is unknown, or whose
    /// forward fails, still get the annotation.
    pub fn forwarding(
        &self,
        identity: &str,
        peer_of: impl Fn(&str, &str) -> Option<crate::shard::Peer> + Send + Sync + 'static,
    ) {
        // Without an HTTP client (its TLS setup failed), the others' sets keep the annotation.
        let client = match reqwest::Client::builder().build() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "no HTTP client to forward webhooks with: refreshing other replicas' sets through the annotation");
                return;
            }
        };
        let _ = self.forwarding.set(Forwarding {
            identity: identity.to_string(),
            client,
            peer_of: Box::new(peer_of),
        });
    }

    /// With sharding by `shards` (this replica named `identity`): refresh only the sets of the
    /// shards it holds ([`Webhooks::sharded`]), forward the others' to their holders
    /// ([`Webhooks::forwarding`]).
    pub fn sharded_by(&self, shards: &Arc<crate::lease::Shards>, identity: &str) {
        self.sharded({
            let shards = shards.clone();
            move |ns, name| shards.owns(ns, name)
        });
        self.forwarding(identity, {
            let shards = shards.clone();
            move |ns, name| shards.peer(ns, name)
        });
    }

    /// Expire every listing `change` makes stale, once, before any refresh: the event's own
    /// keys, and each affected set's keyed as its generator names the repository (an event
    /// that does not tell every part, an Azure DevOps remote URL without the organization,
    /// still expires it) or the owner its scmProvider scans.
    fn expire_for(&self, change: &Change, affected: &[Arc<ApplicationSet>]) {
        let mut stale: std::collections::BTreeSet<(Forge, String)> = change.listings().into_iter().collect();
        let mut scanned = std::collections::BTreeSet::new();
        for set in affected {
            stale.extend(watched_repositories_of(set, Some(change)));
            scanned.extend(scanned_owners(set, Some(change)));
        }
        for (forge, repo) in &stale {
            self.expire(*forge, repo);
        }
        for (forge, owner) in &scanned {
            self.expire_scanned(*forge, owner);
        }
    }

    /// Refresh `affected`: in process for the sets this replica reconciles; with sharding,
    /// the others' by forwarding the forge's `request` to their owners (when given: a
    /// forwarded event is not forwarded again), else through the refresh annotation.
    async fn refresh(
        &self,
        affected: &[Arc<ApplicationSet>],
        request: Option<(&HeaderMap, &[u8])>,
    ) -> Result<Refreshed, String> {
        let mut done = Refreshed::default();
        let mut to_peers: std::collections::BTreeMap<crate::shard::Peer, Vec<String>> = Default::default();
        let mut to_annotate = Vec::new();
        for set in affected {
            let r = ObjectRef::from_obj(&**set);
            let ns = r.namespace.clone().unwrap_or_default();
            let key = format!("{ns}/{}", r.name);
            done.refreshed.push(key.clone());
            match (self.owns.get(), self.standby.get()) {
                (Some(owns), Some(_)) if !owns(&ns, &r.name) => {
                    let peer = self
                        .forwarding
                        .get()
                        .filter(|_| request.is_some())
                        .and_then(|f| (f.peer_of)(&ns, &r.name));
                    match peer {
                        Some(peer) => to_peers.entry(peer).or_default().push(key),
                        None => to_annotate.push(key),
                    }
                }
                _ => {
                    let _ = self.tx.send(r);
                }
            }
        }
        if let (Some(forwarding), Some((headers, body))) = (self.forwarding.get(), request) {
            let sent = futures::future::join_all(to_peers.into_iter().map(|(peer, sets)| async move {
                let envelope = forward::Envelope::new(&forwarding.identity, headers, body, sets);
                let result = forward::send(&forwarding.client, &peer, &envelope).await;
                (peer, envelope.sets, result)
            }))
            .await;
            for (peer, sets, result) in sent {
                match result {
                    Ok(()) => done.forwarded.entry(peer.identity).or_default().extend(sets),
                    Err(e) => {
                        tracing::warn!(error = %e, "forwarding a webhook failed: refreshing through the annotation");
                        to_annotate.extend(sets);
                    }
                }
            }
        }
        if let Some((client, _)) = self.standby.get() {
            for key in to_annotate {
                let (ns, name) = key.split_once('/').unwrap_or(("", &key));
                annotate_refresh(client, ns, name)
                    .await
                    .map_err(|e| format!("refreshing {key} through the API server: {e}"))?;
                done.annotated.push(key);
            }
        }
        self.refreshes
            .fetch_add(done.refreshed.len() as u64, Ordering::Relaxed);
        Ok(done)
    }
}

/// How a webhook's refreshes were made.
#[derive(Debug, Default)]
struct Refreshed {
    /// Every set refreshed, as `namespace/name`.
    refreshed: Vec<String>,
    /// Those forwarded to their owner, by its identity.
    forwarded: std::collections::BTreeMap<String, Vec<String>>,
    /// Those given the refresh annotation.
    annotated: Vec<String>,
}

impl Refreshed {
    /// The answer's body.
    fn json(&self) -> serde_json::Value {
        let mut body = json!({"refreshed": self.refreshed});
        if !self.forwarded.is_empty() {
            body["forwarded"] = json!(self.forwarded);
        }
        if !self.annotated.is_empty() {
            body["throughAnnotation"] = json!(self.annotated);
        }
        body
    }
}

/// Whether `tag` (hex, surrounding whitespace ignored) is the HMAC-SHA256 of `body` under
/// `secret` (constant time).
fn hmac_verifies(secret: &[u8], body: &[u8], tag: &str) -> bool {
    let Ok(tag) = hex::decode(tag.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&tag).is_ok()
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
    /// A pull request of a repository on Gitea, Bitbucket Server, Bitbucket Cloud or Azure
    /// DevOps changed.
    RepoPullRequest {
        /// Which forge.
        forge: Forge,
        /// Lower-case host the repository is served from (Azure DevOps: `dev.azure.com` for
        /// `*.visualstudio.com` too); empty when the event does not say (Bitbucket Cloud).
        host: String,
        /// The repository as the forge's pull-request generator names it, lower case:
        /// `owner/repo` (Gitea, Bitbucket Cloud), `project/repo` (Bitbucket Server: project key,
        /// repository slug), `organization/project/repo` (Azure DevOps; the organization empty
        /// when the repository URL does not tell it).
        repo: String,
    },
    /// Several changes in one event (a push of several branches or tags).
    Several(Vec<Change>),
}

impl Change {
    /// The cached pull-request listings this change makes stale: (forge, repository key as
    /// [`Webhooks::expire`] takes it).
    pub fn listings(&self) -> Vec<(Forge, String)> {
        match self {
            Change::Push { .. } => Vec::new(),
            Change::PullRequest { owner, repo, .. } => vec![(Forge::GitHub, format!("{owner}/{repo}"))],
            // A generator names its project by id or by path: both listings go.
            Change::MergeRequest {
                project_id,
                project_path,
                ..
            } => [project_id, project_path]
                .into_iter()
                .filter(|p| !p.is_empty())
                .map(|p| (Forge::GitLab, p.clone()))
                .collect(),
            Change::RepoPullRequest { forge, repo, .. } => vec![(*forge, repo.clone())],
            Change::Several(changes) => changes.iter().flat_map(Change::listings).collect(),
        }
    }
}

/// A repository a pull-request generator of Gitea, Bitbucket Server, Bitbucket Cloud or Azure
/// DevOps watches, as a [`Change::RepoPullRequest`] names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// Which forge.
    pub forge: Forge,
    /// Lower-case host of the generator's API (empty: templated or not given, any host).
    pub host: String,
    /// The key's parts as written (`owner`, `repo`; `project`, `repo`; `organization`,
    /// `project`, `repo`).
    pub parts: Vec<String>,
}

impl Watched {
    /// Whether `change` is a pull-request change of this repository: same forge, same host when
    /// both are known, each part equal ignoring case (as the forges compare names), templated
    /// or unknown (empty) parts matching anything.
    pub fn matches(&self, change: &Change) -> bool {
        if let Change::Several(changes) = change {
            return changes.iter().any(|c| self.matches(c));
        }
        let Change::RepoPullRequest { forge, host, repo } = change else {
            return false;
        };
        let parts: Vec<&str> = repo.split('/').collect();
        *forge == self.forge
            && (self.host.is_empty() || host.is_empty() || self.host == *host)
            && parts.len() == self.parts.len()
            && self.parts.iter().zip(parts).all(|(want, got)| {
                let want = want.trim();
                want.is_empty() || got.is_empty() || templated(want) || want.eq_ignore_ascii_case(got)
            })
    }

    /// The key of the repository ([`ExpireListing`]), unless a part is templated.
    pub fn key(&self) -> Option<String> {
        (!self.parts.iter().any(|p| templated(p))).then(|| {
            self.parts
                .iter()
                .map(|p| p.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
                .join("/")
        })
    }
}

/// A forge's pull-request generator spec as JSON: the raw object the CRD keeps for Bitbucket and
/// Azure DevOps today, and what a typed spec serializes to later (Argo CD's field names), so this
/// reads both.
fn spec_json(spec: &impl serde::Serialize) -> Option<serde_json::Value> {
    serde_json::to_value(spec)
        .ok()
        .filter(serde_json::Value::is_object)
}

/// The string field `name` of a JSON spec (empty when absent or not a string).
fn field<'a>(spec: &'a serde_json::Value, name: &str) -> &'a str {
    spec.get(name)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
}

/// The repositories a pull-request generator of Gitea, Bitbucket Server, Bitbucket Cloud or Azure
/// DevOps watches.
fn watched(p: &crate::crd::PullRequestGenerator) -> Vec<Watched> {
    [
        gitea::watched(p),
        bitbucket::watched_server(p),
        bitbucket::watched_cloud(p),
        azure::watched(p),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The repositories whose pull-request listings Argo CD's refresh annotation on `set` expires,
/// for the forges of [`Watched`] (Gitea, Bitbucket Server and Cloud, Azure DevOps): (forge, key).
/// Templated ones are left out (their listings age out).
pub fn watched_repositories(set: &ApplicationSet) -> Vec<(Forge, String)> {
    watched_repositories_of(set, None)
}

/// [`watched_repositories`], only those `change` (when given) concerns.
fn watched_repositories_of(set: &ApplicationSet, change: Option<&Change>) -> Vec<(Forge, String)> {
    GeneratorSpec::all_in(&set.spec.generators)
        .iter()
        .filter_map(|k| match k {
            GeneratorSpec::PullRequest(p) => Some(watched(p)),
            _ => None,
        })
        .flatten()
        .filter(|w| change.is_none_or(|c| w.matches(c)))
        .filter_map(|w| Some((w.forge, w.key()?)))
        .collect()
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
    if let Change::Several(changes) = change {
        return changes.iter().any(|c| git_matches(repo_url, revision, c));
    }
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
                || watched(p).iter().any(|w| w.matches(change))
        }
        GeneratorSpec::ScmProvider(g) => scm::scanned(g).iter().any(|s| s.matches(change)),
        // Argo CD's shouldRefreshPluginGenerator: a plugin may read anything, so every event
        // refreshes the sets that use one.
        GeneratorSpec::Plugin(_) => true,
        _ => false,
    })
}

/// The `scmProvider` scopes of `set` (every one, with `change` None: Argo CD's refresh
/// annotation; else those `change` pushes to) whose cached listings go before a refresh:
/// (forge, key as [`Webhooks::expire_scanned`] takes it). Templated ones are left out (their
/// listings age out).
pub fn scanned_owners(set: &ApplicationSet, change: Option<&Change>) -> Vec<(Forge, String)> {
    GeneratorSpec::all_in(&set.spec.generators)
        .iter()
        .filter_map(|k| match k {
            GeneratorSpec::ScmProvider(g) => Some(scm::scanned(g)),
            _ => None,
        })
        .flatten()
        .filter(|s| change.is_none_or(|c| s.matches(c)))
        .filter_map(|s| Some((s.forge, s.key()?)))
        .collect()
}

/// Whether `change` may change what `set` generates.
pub fn affects(set: &ApplicationSet, change: &Change) -> bool {
    entries_match(&set.spec.generators, change)
}

// ---- HTTP ----------------------------------------------------------------------------------------

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Which forge sent the request, verified the forge's way: (forge, event name).
fn receive(hooks: &Webhooks, headers: &HeaderMap, body: &[u8]) -> Result<(Forge, String), Refusal> {
    // Gitea and Forgejo send GitHub's and Gogs's headers too: they are told apart first, as Argo
    // CD does; Azure DevOps by its activity id.
    if header(headers, "x-vss-activityid").is_some() {
        return Ok((Forge::AzureDevOps, hooks.receive_azure(headers, body)?));
    }
    if let Some(event) = gitea::event(headers) {
        return Ok((Forge::Gitea, hooks.receive_gitea(event, headers, body)?));
    }
    if let Some(event) = header(headers, "x-gitlab-event") {
        return Ok((Forge::GitLab, hooks.receive_gitlab(event, headers)?));
    }
    if let Some(event) = header(headers, "x-event-key") {
        return hooks.receive_bitbucket(event, headers, body);
    }
    Ok((Forge::GitHub, hooks.receive_github(headers, body)?))
}

/// The change `event` of `forge` announces (None: nothing to refresh).
fn parse(forge: Forge, event: &str, body: &[u8]) -> Result<Option<Change>, String> {
    match forge {
        Forge::GitHub => parse_event(event, body),
        Forge::GitLab => parse_gitlab_event(event, body),
        Forge::Gitea => parse_gitea_event(event, body),
        Forge::BitbucketServer => parse_bitbucket_server_event(event, body),
        Forge::BitbucketCloud => parse_bitbucket_cloud_event(event, body),
        Forge::AzureDevOps => parse_azure_event(event, body),
    }
}

async fn handle(State(hooks): State<Arc<Webhooks>>, headers: HeaderMap, body: Bytes) -> Response {
    let reject = |status: StatusCode, message: &str| {
        hooks.rejected.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%status, message, "webhook refused");
        answer(status, json!({"error": message}))
    };
    let (forge, event) = match receive(&hooks, &headers, &body) {
        Ok(received) => received,
        Err((status, message)) => return reject(status, &message),
    };
    let event = event.as_str();
    // The semaphore is never closed; were it, the event is processed anyway.
    let _slot = hooks.parallelism.acquire().await.ok();
    let change = match parse(forge, event, &body) {
        Ok(c) => c,
        Err(message) => return reject(StatusCode::BAD_REQUEST, &message),
    };
    hooks.accepted.fetch_add(1, Ordering::Relaxed);
    if forge.is_ping(event) {
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
    let affected: Vec<_> = sets.state().into_iter().filter(|s| affects(s, &change)).collect();
    hooks.expire_for(&change, &affected);
    match hooks.refresh(&affected, Some((&headers, &body))).await {
        Ok(done) => {
            tracing::info!(
                forge = forge.name(),
                event,
                refreshed = done.refreshed.len(),
                forwarded = done.forwarded.values().map(Vec::len).sum::<usize>(),
                annotated = done.annotated.len(),
                "webhook"
            );
            answer(StatusCode::OK, done.json())
        }
        Err(message) => reject(StatusCode::SERVICE_UNAVAILABLE, &message),
    }
}

/// A webhook another replica forwarded ([`forward`]): the forge's request is verified as if it
/// came from the forge, and the listed sets it affects are refreshed here, never forwarded again
/// (those of a shard this replica no longer holds get the refresh annotation).
async fn handle_forwarded(State(hooks): State<Arc<Webhooks>>, body: Bytes) -> Response {
    use kube::ResourceExt;
    let reject = |status: StatusCode, message: &str| {
        hooks.rejected.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%status, message, "forwarded webhook refused");
        answer(status, json!({"error": message}))
    };
    let envelope: forward::Envelope = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => return reject(StatusCode::BAD_REQUEST, &format!("not a forwarded webhook: {e}")),
    };
    let (headers, request) = match envelope.request() {
        Ok(r) => r,
        Err(e) => return reject(StatusCode::BAD_REQUEST, &format!("forwarded webhook: {e}")),
    };
    let (forge, event) = match receive(&hooks, &headers, &request) {
        Ok(received) => received,
        Err((status, message)) => return reject(status, &message),
    };
    let _slot = hooks.parallelism.acquire().await.ok();
    let change = match parse(forge, &event, &request) {
        Ok(Some(c)) => c,
        Ok(None) => return answer(StatusCode::OK, json!({"ignored": event, "refreshed": []})),
        Err(message) => return reject(StatusCode::BAD_REQUEST, &message),
    };
    hooks.accepted.fetch_add(1, Ordering::Relaxed);
    let Some(sets) = hooks.sets.get() else {
        return reject(
            StatusCode::SERVICE_UNAVAILABLE,
            "the controller is not running in this process",
        );
    };
    let wanted: std::collections::BTreeSet<&str> = envelope.sets.iter().map(String::as_str).collect();
    let affected: Vec<_> = sets
        .state()
        .into_iter()
        .filter(|s| {
            let key = format!(
                "{}/{}",
                s.metadata.namespace.as_deref().unwrap_or_default(),
                s.name_any()
            );
            wanted.contains(key.as_str()) && affects(s, &change)
        })
        .collect();
    hooks.expire_for(&change, &affected);
    match hooks.refresh(&affected, None).await {
        Ok(done) => {
            tracing::info!(
                forge = forge.name(),
                event,
                from = %envelope.from,
                refreshed = done.refreshed.len(),
                annotated = done.annotated.len(),
                "forwarded webhook"
            );
            answer(StatusCode::OK, done.json())
        }
        Err(message) => reject(StatusCode::SERVICE_UNAVAILABLE, &message),
    }
}

/// Set [`REFRESH_ANNOTATION`] on ApplicationSet `ns/name`.
async fn annotate_refresh(client: &kube::Client, ns: &str, name: &str) -> Result<(), kube::Error> {
    use kube::api::{Patch, PatchParams};
    let patch = json!({"metadata": {"annotations": {REFRESH_ANNOTATION: "true"}}});
    kube::Api::<ApplicationSet>::namespaced(client.clone(), ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
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
    use kube::{Api, ResourceExt, api::ListParams};
    let apis: Vec<Api<ApplicationSet>> = match namespaces.exact() {
        Some(names) => names
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect(),
        None => vec![Api::all(client.clone())],
    };
    let mut refreshed = Vec::new();
    for api in apis {
        for set in api.list(&ListParams::default()).await? {
            if !namespaces.allows(&set.namespace().unwrap_or_default()) || !affects(&set, change) {
                continue;
            }
            let ns = set.namespace().unwrap_or_default();
            annotate_refresh(client, &ns, &set.name_any()).await?;
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
        .route(FORWARDED_PATH, post(handle_forwarded))
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

    /// For each (repoURL, revision, refreshed): whether `change` refreshes a git directories
    /// generator reading that repository at that revision.
    pub(super) fn assert_git_refreshes(change: &Change, rows: &[(&str, &str, bool)]) {
        for (url, revision, refreshed) in rows {
            let s =
                set(json!([{"git": {"repoURL": url, "revision": revision, "directories": [{"path": "*"}]}}]));
            assert_eq!(
                affects(&s, change),
                *refreshed,
                "{url} at {revision:?}: {change:?}"
            );
        }
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
    fn an_event_expires_the_listing_as_the_generator_keys_it_even_when_it_omits_a_part() {
        let s = set(json!([{"pullRequest": {"azuredevops": {
            "organization": "Contoso", "project": "Platform", "repo": "GitOps"}}}]));
        // An Azure DevOps Server remote URL does not tell the organization.
        let change = Change::Several(vec![Change::RepoPullRequest {
            forge: Forge::AzureDevOps,
            host: String::new(),
            repo: "/platform/gitops".into(),
        }]);
        assert_eq!(
            watched_repositories_of(&s, Some(&change)),
            [(Forge::AzureDevOps, "contoso/platform/gitops".to_string())]
        );
        let other = Change::RepoPullRequest {
            forge: Forge::AzureDevOps,
            host: String::new(),
            repo: "/platform/other".into(),
        };
        assert_eq!(watched_repositories_of(&s, Some(&other)), []);
    }

    #[test]
    fn registered_expiries_get_the_repository_key_of_their_forge_only() {
        let hooks = Webhooks::new(None, Arc::new(GitHub::new(None, std::time::Duration::ZERO)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        for forge in [Forge::BitbucketServer, Forge::AzureDevOps] {
            let seen = seen.clone();
            hooks.on_pull_request(forge, move |repo| {
                seen.lock().unwrap().push((forge, repo.to_string()));
            });
        }
        let change = Change::RepoPullRequest {
            forge: Forge::BitbucketServer,
            host: "bitbucket.example.com".into(),
            repo: "plat/gitops".into(),
        };
        for (forge, repo) in change.listings() {
            hooks.expire(forge, &repo);
        }
        hooks.expire(Forge::BitbucketCloud, "ws/repo");
        hooks.expire_registered(Forge::AzureDevOps, "contoso/platform/gitops");
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (Forge::BitbucketServer, "plat/gitops".to_string()),
                (Forge::AzureDevOps, "contoso/platform/gitops".to_string())
            ]
        );
    }

    #[test]
    fn the_refresh_annotation_expires_the_listings_each_generator_watches() {
        let s = set(json!([
            {"pullRequest": {"bitbucketServer": {"project": "PLAT", "repo": "GitOps", "api": "https://bb.example.com"}}},
            {"pullRequest": {"bitbucket": {"owner": "ws", "repo": "{{repo}}"}}},
            {"matrix": {"generators": [
                {"list": {"elements": [{"a": "1"}]}},
                {"pullRequest": {"azuredevops": {"organization": "Contoso", "project": "Platform", "repo": "gitops"}}}]}},
            {"pullRequest": {"gitea": {"owner": "Platform", "repo": "GitOps", "api": "https://gitea.example.com"}}},
            {"pullRequest": {"github": {"owner": "o", "repo": "r"}}}
        ]));
        assert_eq!(
            watched_repositories(&s),
            [
                (Forge::BitbucketServer, "plat/gitops".to_string()),
                (Forge::AzureDevOps, "contoso/platform/gitops".to_string()),
                (Forge::Gitea, "platform/gitops".to_string()),
            ],
            "templated ones left out; GitHub and GitLab have their own lists"
        );
    }

    /// Hostile bodies (truncated, wrong types, deep nesting, binary) to every parser under every
    /// event it reads: an error or nothing, never a panic.
    #[test]
    fn no_parser_panics_on_hostile_input() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let mut bodies: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"null".to_vec(),
            b"{\"ref\": null, \"repository\": []}".to_vec(),
            b"{\"resource\": {\"refUpdates\": [{\"name\": 7}]}}".to_vec(),
            b"{\"push\": {\"changes\": [{\"new\": null, \"old\": null}]}, \"repository\": {}}".to_vec(),
            b"{\"changes\": [{}], \"repository\": {\"links\": {\"clone\": [{}]}}}".to_vec(),
            deep.into_bytes(),
            (0..=255u8).collect(),
        ];
        for forge in [
            "gitea",
            "bitbucket-server",
            "bitbucket-cloud",
            "azuredevops",
            "gitlab",
        ] {
            for entry in std::fs::read_dir(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/webhooks")
                    .join(forge),
            )
            .unwrap()
            {
                let body = std::fs::read(entry.unwrap().path()).unwrap();
                // Every prefix cut at a few places: truncated deliveries.
                for cut in [1, body.len() / 3, body.len() / 2, body.len() - 1] {
                    bodies.push(body[..cut].to_vec());
                }
            }
        }
        let events: &[(Forge, &[&str])] = &[
            (Forge::GitHub, &["push", "pull_request", "ping"]),
            (
                Forge::GitLab,
                &["Push Hook", "Tag Push Hook", "Merge Request Hook", "System Hook"],
            ),
            (Forge::Gitea, &["push", "pull_request"]),
            (
                Forge::BitbucketServer,
                &["repo:refs_changed", "pr:opened", "pr:deleted"],
            ),
            (Forge::BitbucketCloud, &["repo:push", "pullrequest:created"]),
            (Forge::AzureDevOps, &["git.push", "git.pullrequest.updated"]),
        ];
        let plugin =
            set(json!([{"git": {"repoURL": "https://x/y", "revision": "HEAD", "files": [{"path": "a"}]}}]));
        for body in &bodies {
            for (forge, names) in events {
                for event in *names {
                    if let Ok(Some(change)) = parse(*forge, event, body) {
                        let _ = affects(&plugin, &change);
                    }
                }
            }
        }
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
