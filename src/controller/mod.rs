//! The controller: keeps each ApplicationSet's Applications equal to what it generates.
//!
//! Stage: controller (I/O: the Kubernetes API; generators reach git and GitHub through `sources`).
//!
//! `reconcile` = the finalizer wrapper around [`sync`] and [`cleanup`]:
//!
//! - [`sync`] (`controller/sync.rs`, step by step): inputs → generate (the
//!   [`pipeline`](crate::pipeline)) → plan ([`plan`](crate::plan)) → execute (server-side apply under one field manager, a
//!   controller ownerReference to the ApplicationSet, deletes per policy) → status. **Fail closed**:
//!   any generator, source or render error means no create, update or delete in that reconcile;
//!   the error goes on the status and the last good Applications stay. A delete budget
//!   (`appset.io/max-deletes` or `--max-deletes`) withholds a reconcile's deletes when there are
//!   more of them than it allows. A reconcile that finds everything up to date writes nothing;
//!   status is patched only when it changes.
//!   With `--enable-progressive-syncs`, a RollingSync set's Applications are applied with
//!   automated sync disabled and synced step by step: [`rollout::status`](crate::rollout::status)
//!   decides, `sync` writes Argo CD's `operation` and `status.applicationStatus`.
//! - `cleanup` (our finalizer, when the ApplicationSet is deleted): with `deletionOrder: Reverse`
//!   (and progressive syncs), first delete the Applications one at a time, last step first; under
//!   `preserveResourcesOnDeletion` or a policy that forbids deletes, release the Applications
//!   (strip the ownerReference and Argo CD's resources finalizer) so garbage collection keeps
//!   them; otherwise let garbage collection delete them.
//!
//! What follows a reconcile (conditions, Warning Event, requeue, the refresh annotation) is
//! decided by a pure function of how it ended (`outcome`), unit-tested without a control plane.
//! This file holds the settings, the shared [`Context`] and the wiring ([`run`]).
//!
//! Triggers: ApplicationSet changes; owned Application changes other than status (Argo CD
//! rewrites Application status constantly; with progressive syncs, also its sync and health
//! status and its operation's phase and start); cluster Secret changes, for the ApplicationSets that
//! use a cluster or clusterDecisionResource generator only; repository credential Secret changes,
//! for the ApplicationSets whose git generators read a repository under that Secret's URL
//! (`credentials`); known-hosts
//! and TLS ConfigMap changes, for those with a git generator; changes of the decision resources
//! that `clusterDecisionResource` generators read (a watch per resource in use, started at run
//! time from their ConfigMaps: `decisions`), for the sets reading the changed object, and changes
//! of those ConfigMaps, for the sets naming them; and a requeue at the smallest generator
//! `requeueAfterSeconds` (or at a GitHub rate limit's reset).

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{ApiResource, ListParams},
    runtime::{
        Controller, WatchStreamExt,
        controller::Action,
        events::{Recorder, Reporter},
        finalizer::{Event as Finalizer, finalizer},
        reflector::{self, ObjectRef, Store},
        watcher::{self, watcher},
    },
};
use tracing::warn;

mod credentials;
mod decisions;
mod outcome;
mod owners;
mod scope;
mod sync;

pub use sync::{cleanup, sync};

use crate::{
    crd::{Application, ApplicationSet, CLUSTER_SECRET_TYPE_LABEL},
    generators::{GeneratorSpec, git::GitOptions},
    live::CachedApplication,
    metrics::Metrics,
    namespaces::Namespaces,
    plan::Policy,
    sources::{GitHub, Live, LiveConfig},
};

/// The finalizer appset puts on ApplicationSets.
pub const FINALIZER: &str = "appset.io/cleanup";

/// Annotation setting an ApplicationSet's delete budget (an integer).
pub const MAX_DELETES_ANNOTATION: &str = "appset.io/max-deletes";

/// Requeue after a generation or validation error (Argo CD's 3 minutes).
pub const ERROR_REQUEUE: Duration = Duration::from_secs(180);

/// How often the watches of decision resources that no ApplicationSet reads any more are stopped.
const DECISION_WATCH_SWEEP: Duration = Duration::from_secs(60);

/// Argo CD's condition types and reasons.
pub mod condition {
    /// Condition type: an error occurred.
    pub const ERROR_OCCURRED: &str = "ErrorOccurred";
    /// Condition type: parameters were generated.
    pub const PARAMETERS_GENERATED: &str = "ParametersGenerated";
    /// Condition type: the Applications are up to date.
    pub const RESOURCES_UP_TO_DATE: &str = "ResourcesUpToDate";
    /// Reason: everything is up to date.
    pub const UP_TO_DATE: &str = "ApplicationSetUpToDate";
    /// Reason: parameters were generated.
    pub const PARAMETERS_GENERATED_REASON: &str = "ParametersGenerated";
    /// Reason: generic error.
    pub const ERROR_REASON: &str = "ErrorOccurred";
    /// Reason: generated Applications failed validation.
    pub const VALIDATION_ERROR: &str = "ApplicationValidationError";
    /// Reason: creating an Application failed.
    pub const CREATE_ERROR: &str = "CreateApplicationError";
    /// Reason: updating an Application failed.
    pub const UPDATE_ERROR: &str = "UpdateApplicationError";
    /// Reason: deleting an Application failed.
    pub const DELETE_ERROR: &str = "DeleteApplicationError";
    /// Reason (appset): deletes withheld by the delete budget.
    pub const DELETE_BUDGET: &str = "DeleteBudgetExceeded";
    /// Message of an up-to-date ApplicationSet.
    pub const UP_TO_DATE_MESSAGE: &str = "All applications have been generated successfully";
    /// Message of successful parameter generation.
    pub const GENERATED_MESSAGE: &str = "Successfully generated parameters for all Applications";
    /// Condition type: a progressive sync is rolling out (True) or complete (False).
    pub const ROLLOUT_PROGRESSING: &str = "RolloutProgressing";
    /// Condition type: the RollingSync configuration has a problem.
    pub const INVALID_ROLLOUT_CONFIG: &str = "InvalidRolloutConfig";
    /// Reason: a rollout is in progress.
    pub const ROLLOUT_MODIFIED: &str = "ApplicationSetModified";
    /// Reason: the rollout is complete.
    pub const ROLLOUT_COMPLETE: &str = "ApplicationSetRolloutComplete";
    /// Reason (appset): the rollout is halted by a failed or Degraded Application.
    pub const ROLLOUT_HALTED: &str = "ApplicationSetRolloutHalted";
    /// Reason: a RollingSync without steps.
    pub const ROLLOUT_ERROR: &str = "ApplicationSetRolloutError";
    /// Reason: the RollingSync configuration has a problem.
    pub const INVALID_ROLLOUT: &str = "ApplicationSetInvalidRolloutConfig";
    /// Reason: the RollingSync configuration is valid.
    pub const VALID_ROLLOUT: &str = "ApplicationSetValidRolloutConfig";
    /// Message of a valid RollingSync configuration.
    pub const VALID_ROLLOUT_MESSAGE: &str = "Rolling Sync Configured correctly";
    /// Message of a complete rollout.
    pub const ROLLOUT_COMPLETE_MESSAGE: &str = "ApplicationSet Rollout has completed";
}

/// Controller settings (`appset run` flags).
#[derive(Debug, Clone)]
pub struct Config {
    /// Namespaces whose ApplicationSets are reconciled besides `controller_namespace`, in Argo
    /// CD's `--applicationset-namespaces` forms: names, globs, `/regex/` (empty: the controller's
    /// namespace only, as Argo CD).
    pub namespaces: Vec<String>,
    /// Argo CD's namespace: cluster Secrets and GitHub App credentials live here.
    pub controller_namespace: String,
    /// The cluster-wide policy.
    pub policy: Policy,
    /// Let ApplicationSets choose their policy (`syncPolicy.applicationsSync`).
    pub enable_policy_override: bool,
    /// ApplicationSets reconciled at once.
    pub concurrency: u16,
    /// Application writes (applies, deletes) in flight at once within one reconcile (Argo CD's
    /// `--concurrent-application-updates`, whose default is 1).
    pub apply_concurrency: usize,
    /// Bare-clone cache directory for git generators.
    pub git_cache_dir: PathBuf,
    /// Default delete budget per reconcile (None: unlimited).
    pub max_deletes: Option<usize>,
    /// Entries of `status.resources` (0: unlimited; `resourcesCount` is always the total).
    pub max_resources_status: usize,
    /// Extra annotation keys whose live values are preserved.
    pub preserved_annotations: Vec<String>,
    /// Extra label keys whose live values are preserved.
    pub preserved_labels: Vec<String>,
    /// GitHub API base URL for pull-request generators without `api`.
    pub github_api: Option<String>,
    /// Token for pull-request generators without credentials (`GITHUB_TOKEN`).
    pub github_token: Option<String>,
    /// How long a pull-request listing is shared without asking GitHub.
    pub github_max_age: Duration,
    /// `URL=PATH` git overrides (tests, air-gapped mirrors).
    pub repo_overrides: Vec<crate::sources::RepoOverride>,
    /// ApplicationSet label keys reported in `argocd_appset_labels` (Argo CD's
    /// `--metrics-applicationset-labels`; empty: the family is off).
    pub metrics_applicationset_labels: Vec<String>,
    /// How git generators select paths (Argo CD's `--enable-new-git-file-globbing` and
    /// `--include-hidden-directories`).
    pub git: GitOptions,
    /// What pull-request generators may do (Argo CD's SCM provider switches).
    pub scm: crate::pipeline::ScmOptions,
    /// Generate, plan and report, but send every Application write with `dryRun=All`.
    pub dry_run: bool,
    /// The webhook endpoint whose refreshes this controller follows (its GitHub client is then
    /// the controller's, so a `pull_request` event can expire the cached listing).
    pub webhooks: Option<Arc<crate::webhook::Webhooks>>,
    /// Progressive syncs (Argo CD's `--enable-progressive-syncs`): RollingSync strategies are
    /// followed; when off, `strategy` is ignored and `status.applicationStatus` cleared.
    pub progressive_syncs: bool,
    /// The shards this replica holds (`--shards`, `--shard`): only their sets are reconciled,
    /// each under a [`Claim`](crate::lease::Claim). None: every set (one replica, or the leader).
    pub shards: Option<Arc<crate::lease::Shards>>,
}

impl Config {
    /// The live sources these settings describe (git, the Kubernetes API, GitHub).
    pub fn live_config(&self) -> LiveConfig {
        LiveConfig::live(
            self.git_cache_dir.clone(),
            self.repo_overrides.clone(),
            self.github_api.clone(),
            self.github_token.clone(),
            self.github_max_age,
        )
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            namespaces: Vec::new(),
            controller_namespace: "argocd".into(),
            policy: Policy::Sync,
            enable_policy_override: true,
            concurrency: 10,
            apply_concurrency: 16,
            git_cache_dir: crate::sources::default_git_cache_dir(),
            max_deletes: None,
            max_resources_status: 5000,
            preserved_annotations: Vec::new(),
            preserved_labels: Vec::new(),
            github_api: None,
            github_token: None,
            github_max_age: Duration::from_secs(30),
            repo_overrides: Vec::new(),
            metrics_applicationset_labels: Vec::new(),
            git: GitOptions::default(),
            scm: crate::pipeline::ScmOptions::default(),
            dry_run: false,
            webhooks: None,
            progressive_syncs: false,
            shards: None,
        }
    }
}

/// Reconcile failures (they requeue with a short backoff; generation errors do not get here:
/// they are written to the status and requeue after [`ERROR_REQUEUE`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done.
        action: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Writing Applications failed (the status says which).
    #[error("{0}")]
    Write(String),
    /// The finalizer helper failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// A deletion in reverse step order waits for an Application to go (not a failure: the
    /// ApplicationSet keeps its finalizer and is looked at again after the duration).
    #[error("{1}")]
    Waiting(Duration, String),
    /// This replica's hold on the set's shard ran out during the reconcile, which was stopped.
    #[error("ApplicationSet {0}: reconcile stopped, this replica's Lease on its shard ran out")]
    ShardLost(String),
}

impl Error {
    fn kube(action: impl Into<String>, source: kube::Error) -> Error {
        Error::Kube {
            action: action.into(),
            source,
        }
    }
}

/// The resourceVersions appset's own applies returned, so that the watch events those writes
/// cause (appset's writes coming back) do not trigger yet another reconcile of the
/// ApplicationSet that made them: a reconcile that applied 1,000 Applications would otherwise be
/// followed by one that re-renders and re-plans them only to find them up to date. A change made
/// by anyone else has another resourceVersion and triggers as usual; an event that arrives
/// before the write's response is recorded also triggers (the safe side).
#[derive(Default)]
struct Echoes(std::sync::Mutex<HashMap<(String, String), String>>);

impl Echoes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), String>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// appset wrote `ns/name`, which is now at `resource_version`.
    fn wrote(&self, ns: &str, name: &str, resource_version: Option<String>) {
        if let Some(rv) = resource_version {
            self.lock().insert((ns.to_string(), name.to_string()), rv);
        }
    }

    /// Whether a write of appset to `ns/name` has not come back through the watch yet (the cache
    /// may then show the Application as it was before that write).
    fn pending(&self, ns: &str, name: &str) -> bool {
        self.lock().contains_key(&(ns.to_string(), name.to_string()))
    }

    /// Whether `app` is exactly the version appset wrote last (the entry is forgotten either way:
    /// any later event is someone else's).
    fn is_echo(&self, app: &CachedApplication) -> bool {
        let key = (app.namespace().unwrap_or_default(), app.name_any());
        self.lock()
            .remove(&key)
            .is_some_and(|rv| app.metadata.resource_version.as_ref() == Some(&rv))
    }
}

/// Shared state of all reconciles.
pub struct Context {
    client: Client,
    config: Config,
    /// The namespaces served (`config.namespaces` compiled).
    namespaces: Namespaces,
    live: Live,
    apps: Store<CachedApplication>,
    /// The ApplicationSets (with sharding, those of other replicas' shards slim: [`scope`]).
    sets: Store<ApplicationSet>,
    /// `apps` by owning ApplicationSet.
    owners: Arc<owners::OwnerIndex>,
    credentials: credentials::CredentialStores,
    /// Argo CD's cluster Secrets in the controller's namespace (destinations are validated
    /// against them).
    clusters: Store<Secret>,
    echoes: Arc<Echoes>,
    /// The watches of the decision resources `clusterDecisionResource` generators read.
    decisions: decisions::DecisionWatches,
    /// The sync operations appset wrote for progressive syncs, by (namespace, Application).
    triggers: std::sync::Mutex<HashMap<(String, String), crate::rollout::status::Trigger>>,
    /// The sets whose last reconcile failed: the status their cached copy shows may not be what
    /// the API server has (a patch lost with its answer, a watch that missed it), so their next
    /// status is written even when it equals the cached one.
    unsure_status: std::sync::Mutex<std::collections::HashSet<(String, String)>>,
    app_resource: ApiResource,
    recorder: Recorder,
    metrics: Arc<Metrics>,
}

impl Context {
    /// The cached Applications `appset` controls, by name.
    fn owned(&self, appset: &ApplicationSet) -> Vec<Arc<CachedApplication>> {
        self.owners.owned(&self.apps, appset)
    }

    /// The shared GitHub client (request counters for metrics and tests).
    pub fn github(&self) -> &Arc<GitHub> {
        self.live.github()
    }
}

/// The Application API resource (dynamic: live Applications are kept as JSON, whatever fields
/// they carry).
pub fn application_resource() -> ApiResource {
    ApiResource::erase::<Application>(&())
}

/// Argo CD's AppProject API resource (appset only reads projects).
pub fn app_project_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AppProject"),
        "appprojects",
    )
}

fn owned_by<'a>(
    apps: &'a [Arc<CachedApplication>],
    appset: &ApplicationSet,
) -> Vec<&'a Arc<CachedApplication>> {
    apps.iter().filter(|a| owners::owns(appset, a)).collect()
}

/// Whether an ApplicationSet reads Argo CD's cluster Secrets anywhere (top level or inside
/// matrix/merge): a cluster generator, or a clusterDecisionResource generator, whose decisions
/// name clusters (Argo CD triggers only the former; a cluster registered after its decision would
/// otherwise wait for the requeue).
pub fn uses_cluster_generator(appset: &ApplicationSet) -> bool {
    GeneratorSpec::all_in(&appset.spec.generators).iter().any(|k| {
        matches!(
            k,
            GeneratorSpec::Clusters(_) | GeneratorSpec::ClusterDecisionResource(_)
        )
    })
}

async fn reconcile(appset: Arc<ApplicationSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = appset.namespace().unwrap_or_default();
    tracing::debug!(appset = %appset.name_any(), namespace = %ns, "reconcile");
    if !ctx.namespaces.allows(&ns) {
        return Ok(Action::await_change());
    }
    // Another replica's shard: not a word to the API server about it. The claim is kept until
    // the reconcile ends, so the shard is not given back under it.
    let claim = match &ctx.config.shards {
        Some(shards) => match shards.claim(&ns, &appset.name_any()) {
            Some(claim) => Some(claim),
            None => return Ok(Action::await_change()),
        },
        None => None,
    };
    // Claimed, the set's shard is loaded whole; the copy this reconcile was handed may have
    // been read just before (a slim copy of when the shard was another replica's).
    let appset = if scope::is_slim(&appset) {
        match ctx.sets.get(&ObjectRef::from_obj(&*appset)) {
            Some(whole) if !scope::is_slim(&whole) => whole,
            _ => return Ok(Action::requeue(Duration::from_secs(1))),
        }
    } else {
        appset
    };
    let api: Api<ApplicationSet> = Api::namespaced(ctx.client.clone(), &ns);
    let key = (ns.clone(), appset.name_any());
    let work = finalizer(&api, FINALIZER, appset, |event| async {
        match event {
            Finalizer::Apply(set) => sync(set, ctx.clone()).await,
            Finalizer::Cleanup(set) => cleanup(set, ctx.clone()).await,
        }
    });
    // The shard's Lease lost while the reconcile runs (renewals failing past the deadline):
    // stop at the next await rather than write beside the replica that takes the shard. What
    // was written stays written, each write whole, as after a crash.
    let lost = async {
        match (&ctx.config.shards, &claim) {
            (Some(shards), Some(claim)) => shards.lost(claim).await,
            _ => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        result = work => result.map_err(|e| Error::Finalizer(Box::new(e))),
        () = lost => Err(Error::ShardLost(format!("{}/{}", key.0, key.1))),
    };
    if result.is_err() {
        ctx.unsure_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
    }
    result
}

fn error_policy(_appset: Arc<ApplicationSet>, error: &Error, _ctx: Arc<Context>) -> Action {
    if let Error::Finalizer(e) = error
        && let kube::runtime::finalizer::Error::CleanupFailed(Error::Waiting(after, what)) = e.as_ref()
    {
        tracing::info!(%what, "deleting in reverse step order");
        return Action::requeue(*after);
    }
    warn!(%error, "reconcile failed");
    Action::requeue(Duration::from_secs(15))
}

// ---- wiring -------------------------------------------------------------------------------------

/// A stream of owned-Application triggers that ignores status-only changes and appset's own
/// writes coming back ([`Echoes`]): an Application passes when its spec, labels, annotations,
/// finalizers, owner references or deletion state change other than by appset's last apply,
/// and always when it is deleted. With progressive syncs (`progressive`), also when what a
/// rollout reads changes: sync and health status, the operation's phase and start, whether an
/// operation is pending (Argo CD's predicate, plus the operation).
fn application_triggers(
    events: impl Stream<Item = Result<watcher::Event<CachedApplication>, watcher::Error>> + Send + 'static,
    echoes: Arc<Echoes>,
    progressive: bool,
) -> impl Stream<Item = Result<CachedApplication, watcher::Error>> + Send + 'static {
    use std::hash::{Hash, Hasher};
    let mut seen: HashMap<String, u64> = HashMap::new();
    events.filter_map(move |ev| {
        let out = match ev {
            Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj)) => {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                obj.spec.as_ref().map(|s| s.get()).hash(&mut h);
                hash_meta(&obj.metadata, &mut h);
                serde_json::to_string(&obj.metadata.owner_references)
                    .unwrap_or_default()
                    .hash(&mut h);
                if progressive && let Some(r) = obj.rollout.as_deref() {
                    (
                        &r.sync_status,
                        &r.health_status,
                        &r.operation_phase,
                        &r.started_at,
                    )
                        .hash(&mut h);
                    r.operation.hash(&mut h);
                }
                let key = format!(
                    "{}/{}/{}",
                    obj.namespace().unwrap_or_default(),
                    obj.name_any(),
                    obj.uid().unwrap_or_default()
                );
                let hash = h.finish();
                let changed = seen.insert(key, hash) != Some(hash);
                let echo = echoes.is_echo(&obj);
                (changed && !echo).then_some(Ok(obj))
            }
            Ok(watcher::Event::Delete(obj)) => {
                seen.remove(&format!(
                    "{}/{}/{}",
                    obj.namespace().unwrap_or_default(),
                    obj.name_any(),
                    obj.uid().unwrap_or_default()
                ));
                Some(Ok(obj))
            }
            Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
            Err(e) => Some(Err(e)),
        };
        futures::future::ready(out)
    })
}

/// The delays between a failed watch and its retry: 0.5 s, doubling to at most 5 s, back to
/// 0.5 s once the watch works again. kube's default (client-go's) doubles to 30 s, so after an
/// API server outage of 20 s a watch could stay down another half-minute while reconciles went
/// on with a stale cache; six watches retrying every 5 s cost an API server nothing.
#[derive(Debug, Clone)]
struct WatchBackoff {
    next: Duration,
}

impl WatchBackoff {
    const FIRST: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(5);
}

impl Default for WatchBackoff {
    fn default() -> Self {
        WatchBackoff { next: Self::FIRST }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let now = self.next;
        self.next = (now * 2).min(Self::MAX);
        Some(now)
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// The controller's own backoff on its merged triggers: none. kube's `Controller` backs off all
/// of its trigger streams together when any one fails (client-go's 30 s cap, with jitter: 49 s
/// was seen), so a Secret watch reconnecting after an API server outage held back the
/// ApplicationSet events that came in meanwhile. Each watch backs off on its own
/// ([`WatchBackoff`]).
#[derive(Debug, Clone, Copy, Default)]
struct EachWatchOnItsOwn;

impl Iterator for EachWatchOnItsOwn {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

impl kube::runtime::utils::Backoff for EachWatchOnItsOwn {
    fn reset(&mut self) {}
}

/// Counts the watch's expiries (410 Gone: the watcher lists again; the relist's objects pass
/// the same change filters, so an unchanged object triggers nothing).
fn counting_expiry<K>(metrics: Arc<Metrics>) -> impl FnMut(&Result<watcher::Event<K>, watcher::Error>) {
    move |event| {
        let gone = match event {
            Err(watcher::Error::WatchError(status)) => status.code == 410,
            Err(watcher::Error::WatchStartFailed(kube::Error::Api(status))) => status.code == 410,
            _ => false,
        };
        if gone {
            tracing::info!("a watch expired (410 Gone): listing again");
            metrics.watch_expired();
        }
    }
}

/// What makes an ApplicationSet worth reconciling again: its spec (generation), labels,
/// annotations (e.g. `appset.io/max-deletes`), finalizers and deletion, not its status.
fn set_change(set: &ApplicationSet) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    set.metadata.generation.hash(&mut h);
    hash_meta(&set.metadata, &mut h);
    Some(h.finish())
}

/// The metadata whose change is worth a reconcile, for ApplicationSets and owned Applications
/// alike: labels, annotations, finalizers and deletion.
fn hash_meta(m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, h: &mut impl std::hash::Hasher) {
    use std::hash::Hash;
    m.labels.hash(h);
    m.annotations.hash(h);
    m.finalizers.hash(h);
    m.deletion_timestamp.as_ref().map(|t| t.0.to_string()).hash(h);
}

/// Wait until a reflector store has its initial list; false if its writer is gone.
///
/// NB: `Store::wait_until_ready` wakes only the most recent of several concurrent waiters
/// (kube-runtime's `DelayedInit` holds one oneshot waker), so concurrent reconciles waiting on it
/// could hang forever. Re-polling on a short timer re-registers each waiter; once the store is
/// ready the answer is memoized and returns at once.
async fn cache_ready<K: Resource + Clone>(store: &Store<K>) -> bool
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    loop {
        match tokio::time::timeout(Duration::from_millis(50), store.wait_until_ready()).await {
            Ok(r) => return r.is_ok(),
            Err(_) => continue,
        }
    }
}

/// When `e` is a failure to reach the API server at all (connection refused, name resolution,
/// TLS, timeout) rather than an answer from it: its causes, each once (kube's own label left
/// out).
pub fn unreachable(e: &kube::Error) -> Option<String> {
    match e {
        kube::Error::HyperError(inner) => Some(crate::text::causes(crate::text::error_chain(inner))),
        kube::Error::Service(inner) => Some(crate::text::causes(crate::text::error_chain(inner.as_ref()))),
        _ => None,
    }
}

/// What a failed first list of ApplicationSets means, worded to point at the fix: the API server
/// cannot be reached, the ApplicationSet CRD is not installed (404), the controller may not list
/// them (403), or what the API server answered.
pub fn first_list_error(e: &kube::Error) -> String {
    if let Some(cause) = unreachable(e) {
        return format!("cannot reach the Kubernetes API server: {cause}");
    }
    match e {
        kube::Error::Api(status) if status.code == 404 => format!(
            "the ApplicationSet CRD (applicationsets.argoproj.io) is not installed: the API server \
             answers 404 ({}); install it with: appset crds | kubectl apply -f -",
            status.message.trim()
        ),
        kube::Error::Api(status) if status.code == 403 => format!(
            "not allowed to list ApplicationSets: {}; the controller's ServiceAccount needs the \
             RBAC that `appset install` prints",
            status.message.trim()
        ),
        other => format!(
            "listing ApplicationSets: {}",
            crate::text::causes(crate::text::error_chain(other))
        ),
    }
}

/// Run the controller until the returned future is dropped.
pub async fn run(client: Client, config: Config) -> anyhow::Result<()> {
    run_with(client, config, Arc::new(Metrics::default()), None).await
}

/// [`run`], recording into `metrics` (readiness included) and sending on `ready` once the
/// ApplicationSet and Application caches are filled.
pub async fn run_with(
    client: Client,
    config: Config,
    metrics: Arc<Metrics>,
    ready: Option<tokio::sync::oneshot::Sender<()>>,
) -> anyhow::Result<()> {
    crate::install_crypto_provider();
    let concurrency = config.concurrency.max(1);
    let app_resource = application_resource();
    let namespaces =
        Namespaces::new(&config.controller_namespace, &config.namespaces).map_err(|e| anyhow::anyhow!(e))?;
    let appsets: Api<ApplicationSet> = match namespaces.single() {
        Some(one) => Api::namespaced(client.clone(), one),
        None => Api::all(client.clone()),
    };
    if let Err(e) = appsets.list(&ListParams::default().limit(1)).await {
        anyhow::bail!(first_list_error(&e));
    }
    let apps_api: Api<CachedApplication> = match namespaces.single() {
        Some(one) => Api::namespaced(client.clone(), one),
        None => Api::all(client.clone()),
    };
    let writer = reflector::store::Writer::<CachedApplication>::default();
    let reader = writer.as_reader();
    let owners = Arc::new(owners::OwnerIndex::default());
    let app_watch =
        move || watcher(apps_api.clone(), watcher::Config::default()).backoff(WatchBackoff::default());
    // Sharded: only the Applications of the held shards' sets are cached.
    let app_scope = config
        .shards
        .clone()
        .map(scope::ShardScope::<CachedApplication>::new);
    let app_stream = match &app_scope {
        Some(scope) => scope.watch(app_watch, reader.clone()).boxed(),
        None => app_watch().boxed(),
    };
    let app_events = reflector::reflector(writer, app_stream)
        .inspect({
            let (owners, metrics) = (owners.clone(), metrics.clone());
            move |event| {
                if let Ok(event) = event {
                    owners.observe(event);
                    metrics.cached_applications(owners.len());
                    if let Some(scope) = &app_scope {
                        scope.stored(event);
                    }
                }
            }
        })
        .inspect(counting_expiry(metrics.clone()));
    let echoes = Arc::new(Echoes::default());
    let triggers = application_triggers(app_events, echoes.clone(), config.progressive_syncs);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &config.controller_namespace);
    let live = Live::new(config.live_config()).with_kube(client.clone());
    // With webhooks, one GitHub, one GitLab and one Gitea client: a pull-request event expires
    // the listing they cache. A pull-request source of another forge registers its expiry with
    // `w.on_pull_request(Forge::…, …)` here.
    let live = match &config.webhooks {
        Some(w) => live
            .with_github(w.github().clone())
            .with_gitlab(w.gitlab().clone())
            .with_gitea(w.gitea().clone()),
        None => live,
    };
    if let Some(w) = &config.webhooks {
        use crate::webhook::Forge;
        // Bitbucket keys its listings `project/repo` (Server) and `workspace/repo` (Cloud).
        for forge in [Forge::BitbucketServer, Forge::BitbucketCloud] {
            let bitbucket = live.bitbucket().clone();
            w.on_pull_request(forge, move |repo| {
                if let Some((owner, name)) = repo.split_once('/') {
                    bitbucket.expire(owner, name);
                }
            });
        }
        // Azure DevOps keys its listings `organization/project/repo`.
        let azure = live.azure_devops().clone();
        w.on_pull_request(Forge::AzureDevOps, move |repo| {
            if let [organization, project, name] = repo.split('/').collect::<Vec<_>>()[..] {
                azure.expire(organization, project, name);
            }
        });
        // Their `scmProvider` listings go by the scanned owner (project key, workspace,
        // `organization/teamProject`).
        for forge in [Forge::BitbucketServer, Forge::BitbucketCloud] {
            let bitbucket = live.bitbucket().clone();
            w.on_scan(forge, move |owner| bitbucket.expire_owner(owner));
        }
        let azure = live.azure_devops().clone();
        w.on_scan(Forge::AzureDevOps, move |owner| azure.expire_owner(owner));
    }
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "appset".into(),
            instance: std::env::var("POD_NAME").ok(),
        },
    );
    metrics.watch_github(live.github().clone());
    // Argo CD's repository credentials, from the controller's namespace only.
    let (cred_secrets_reader, cred_secrets_writer) = reflector::store::<Secret>();
    let cred_secret_events = reflector::reflector(
        cred_secrets_writer,
        watcher(
            Api::<Secret>::namespaced(client.clone(), &config.controller_namespace),
            watcher::Config::default().labels(&credentials::secret_selector()),
        )
        .backoff(WatchBackoff::default())
        .modify(|o| o.metadata.managed_fields = None),
    )
    .touched_objects();
    let (config_maps_reader, config_maps_writer) = reflector::store::<ConfigMap>();
    let config_map_events = reflector::reflector(
        config_maps_writer,
        watcher(
            Api::<ConfigMap>::namespaced(client.clone(), &config.controller_namespace),
            watcher::Config::default(),
        )
        .backoff(WatchBackoff::default())
        .modify(|o| o.metadata.managed_fields = None),
    )
    .touched_objects();
    let (clusters_reader, clusters_writer) = reflector::store::<Secret>();
    let cluster_events = reflector::reflector(
        clusters_writer,
        watcher(
            secrets,
            watcher::Config::default().labels(&format!("{CLUSTER_SECRET_TYPE_LABEL}=cluster")),
        )
        .backoff(WatchBackoff::default())
        // Read-only caches: nothing reads their `managedFields` (for cluster Secrets, most of
        // what they cost).
        .modify(|o| o.metadata.managed_fields = None),
    )
    .touched_objects();
    let credential_stores = credentials::CredentialStores {
        secrets: cred_secrets_reader,
        config_maps: config_maps_reader,
    };
    // appset owns the ApplicationSet reflector (rather than `Controller::new`'s internal one) so
    // readiness is read from the very store the controller reconciles from.
    let sets_writer = reflector::store::Writer::<ApplicationSet>::default();
    let sets_reader = sets_writer.as_reader();
    let (decision_triggers, decision_events) = futures::channel::mpsc::unbounded();
    let decisions = decisions::DecisionWatches::new(
        client.clone(),
        &config.controller_namespace,
        sets_reader.clone(),
        credential_stores.config_maps.clone(),
        decision_triggers,
    );
    let ctx = Arc::new(Context {
        decisions,
        metrics: metrics.clone(),
        client: client.clone(),
        config,
        namespaces,
        live,
        apps: reader.clone(),
        sets: sets_reader.clone(),
        owners,
        credentials: credential_stores.clone(),
        clusters: clusters_reader.clone(),
        echoes,
        triggers: Default::default(),
        unsure_status: Default::default(),
        app_resource: app_resource.clone(),
        recorder,
    });
    // Every replica caches every set (to know which are its shards'), those of other replicas'
    // shards slim ([`scope`]). Nothing reads a set's `managedFields` (nor kubectl's
    // last-applied annotation) and no write sends a cached set back whole (merge patches, and
    // the finalizer's JSON patch of `/metadata/finalizers`), so they are not kept, as for
    // Applications.
    let set_watch = move || {
        watcher(appsets.clone(), watcher::Config::default())
            .backoff(WatchBackoff::default())
            .modify(|set| {
                set.metadata.managed_fields = None;
                crate::live::drop_last_applied(&mut set.metadata);
            })
    };
    let set_scope = ctx
        .config
        .shards
        .clone()
        .map(scope::ShardScope::<ApplicationSet>::new);
    let set_stream = match &set_scope {
        Some(scope) => scope.watch(set_watch, sets_reader.clone()).boxed(),
        None => set_watch().boxed(),
    };
    let set_events = reflector::reflector(sets_writer, set_stream)
        .inspect(move |event| {
            if let (Ok(event), Some(scope)) = (event, &set_scope) {
                scope.stored(event);
            }
        })
        .inspect(counting_expiry(metrics.clone()))
        .applied_objects()
        // appset's own status patches come back as ApplicationSet events; they change nothing to
        // reconcile (requeues and errors are scheduled separately).
        .predicate_filter(set_change, Default::default());
    // Argo CD's per-ApplicationSet families report the sets this controller reconciles (of the
    // shards it holds: summed over the replicas, each set once).
    metrics.watch_appsets(&ctx.config.metrics_applicationset_labels, {
        let (sets, namespaces) = (sets_reader.clone(), ctx.namespaces.clone());
        let shards = ctx.config.shards.clone();
        move || {
            sets.state()
                .into_iter()
                .filter(|s| {
                    let ns = s.metadata.namespace.as_deref().unwrap_or_default();
                    // A held shard's sets are slim until its caches have loaded it.
                    namespaces.allows(ns)
                        && shards
                            .as_ref()
                            .is_none_or(|sh| sh.owns(ns, &s.name_any()) && !scope::is_slim(s))
                })
                .collect()
        }
    });
    if let Some(shards) = ctx.config.shards.clone() {
        let (sets, namespaces) = (sets_reader.clone(), ctx.namespaces.clone());
        metrics.watch_shards(move || {
            let mut per = vec![0usize; shards.count() as usize];
            for s in sets.state() {
                let ns = s.metadata.namespace.as_deref().unwrap_or_default();
                if namespaces.allows(ns) {
                    per[shards.shard_of(ns, &s.name_any()) as usize] += 1;
                }
            }
            per.into_iter()
                .enumerate()
                .map(|(i, n)| (i as u32, n, shards.holds(i as u32)))
                .collect()
        });
    }
    // Decision resources no set reads any more are not watched for long.
    tokio::spawn({
        let ctx = Arc::downgrade(&ctx);
        async move {
            loop {
                tokio::time::sleep(DECISION_WATCH_SWEEP).await;
                match ctx.upgrade() {
                    Some(ctx) => ctx.decisions.retain_used(),
                    None => return,
                }
            }
        }
    });
    let mut controller =
        Controller::for_stream(set_events, sets_reader.clone()).reconcile_on(decision_events);
    // A shard this replica takes: every set in it, at once (their last owner's requeues are lost
    // with it).
    if let Some(shards) = ctx.config.shards.clone()
        && let Some(acquired) = shards.acquired()
    {
        let sets = sets_reader.clone();
        controller = controller.reconcile_on(acquired.flat_map(move |shard| {
            let refs: Vec<_> = sets
                .state()
                .into_iter()
                .filter(|s| {
                    shards.shard_of(s.metadata.namespace.as_deref().unwrap_or_default(), &s.name_any())
                        == shard
                })
                .map(|s| ObjectRef::from_obj(&*s))
                .collect();
            futures::stream::iter(refs)
        }));
    }
    if let Some(refreshes) = ctx
        .config
        .webhooks
        .as_ref()
        .and_then(|w| w.attach(sets_reader.clone()))
    {
        controller = controller.reconcile_on(refreshes);
    }
    let store = sets_reader.clone();
    let cluster_users = move |_: Secret| {
        store
            .state()
            .into_iter()
            .filter(|s| uses_cluster_generator(s))
            .map(|s| ObjectRef::from_obj(&*s))
            .collect::<Vec<_>>()
    };
    let wait_apps = reader.clone();
    let wait_credentials = credential_stores.clone();
    let wait_clusters = clusters_reader.clone();
    {
        let (sets, apps, m) = (sets_reader.clone(), reader.clone(), metrics.clone());
        let creds = credential_stores.clone();
        let clusters = clusters_reader.clone();
        tokio::spawn(async move {
            if cache_ready(&sets).await
                && cache_ready(&apps).await
                && cache_ready(&clusters).await
                && cache_ready(&creds.secrets).await
                && cache_ready(&creds.config_maps).await
            {
                m.set_ready(true);
                if let Some(ready) = ready {
                    let _ = ready.send(());
                }
            }
        });
    }
    controller
        .owns_stream(triggers)
        .watches_stream(cluster_events, cluster_users)
        .watches_stream(cred_secret_events, {
            let sets = sets_reader.clone();
            move |secret: Secret| credentials::sets_reading(&sets, &secret)
        })
        .watches_stream(config_map_events, {
            let sets = sets_reader.clone();
            move |config_map: ConfigMap| {
                let mut concerned = credentials::sets_reading_git(&sets, &config_map);
                concerned.extend(decisions::sets_naming(&sets, &config_map.name_any()));
                concerned
            }
        })
        .trigger_backoff(EachWatchOnItsOwn)
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(async move {
            // Keep running; dropped with the future.
            std::future::pending::<()>().await
        })
        .run(
            move |set, ctx| {
                let wait = wait_apps.clone();
                let creds = wait_credentials.clone();
                let clusters = wait_clusters.clone();
                async move {
                    // Never plan against an unfilled Application cache, validate destinations
                    // before the clusters are known, nor read a private repository before its
                    // credentials are known.
                    cache_ready(&wait).await;
                    cache_ready(&clusters).await;
                    cache_ready(&creds.secrets).await;
                    cache_ready(&creds.config_maps).await;
                    reconcile(set, ctx).await
                }
            },
            error_policy,
            ctx,
        )
        .for_each(|r| async move {
            if let Err(e) = r {
                warn!(error = %e, "controller");
            }
        })
        .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn app(name: &str, rv: &str, path: &str, sync: &str) -> CachedApplication {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"), "resourceVersion": rv},
            "spec": {"source": {"path": path}},
            "status": {"sync": {"status": sync}}
        }))
        .unwrap()
    }

    /// Names that pass the trigger filter for a sequence of watch events.
    async fn triggered(events: Vec<watcher::Event<CachedApplication>>, echoes: Arc<Echoes>) -> Vec<String> {
        application_triggers(futures::stream::iter(events.into_iter().map(Ok)), echoes, false)
            .map(|r| r.unwrap().name_any())
            .collect()
            .await
    }

    #[tokio::test]
    async fn owned_application_events_trigger_only_on_changes_appset_did_not_make() {
        use watcher::Event::{Apply, Delete, InitApply};
        let echoes = Arc::new(Echoes::default());
        // appset applied b (now at resourceVersion 2) and c (3).
        echoes.wrote("ns", "b", Some("2".into()));
        echoes.wrote("ns", "c", Some("3".into()));
        let names = triggered(
            vec![
                InitApply(app("a", "1", "x", "Synced")),
                // a's status changes only: no trigger.
                Apply(app("a", "5", "x", "OutOfSync")),
                // b comes back as appset wrote it: an echo, no trigger.
                Apply(app("b", "2", "y", "")),
                // c was changed by someone else after appset's write: trigger.
                Apply(app("c", "4", "changed", "")),
                // a's spec is changed by someone else: trigger.
                Apply(app("a", "6", "drifted", "OutOfSync")),
                // b changes again: the echo was forgotten, so this triggers.
                Apply(app("b", "7", "edited", "")),
                Delete(app("a", "8", "drifted", "")),
            ],
            echoes.clone(),
        )
        .await;
        assert_eq!(names, ["a", "c", "a", "b", "a"]);
        assert!(echoes.lock().is_empty(), "every echo is forgotten once seen");
    }

    #[test]
    fn status_only_changes_of_an_application_set_are_not_worth_a_reconcile() {
        let set = |v: Value| -> ApplicationSet { serde_json::from_value(v).unwrap() };
        let base = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "s", "namespace": "ns", "generation": 1},
            "spec": {"generators": [], "template": {"metadata": {}, "spec": {"project": "default"}}}
        });
        let mut with_status = base.clone();
        with_status["status"] = json!({"conditions": [{"type": "ResourcesUpToDate", "status": "True"}]});
        assert_eq!(set_change(&set(base.clone())), set_change(&set(with_status)));
        for (pointer, value) in [
            ("/metadata/generation", json!(2)),
            ("/metadata/annotations", json!({"appset.io/max-deletes": "1"})),
            ("/metadata/finalizers", json!(["appset.io/cleanup"])),
            ("/metadata/deletionTimestamp", json!("2026-11-22T00:00:00Z")),
        ] {
            let mut changed = base.clone();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            changed.pointer_mut(parent).unwrap()[key] = value;
            assert_ne!(
                set_change(&set(base.clone())),
                set_change(&set(changed)),
                "{pointer}"
            );
        }
    }

    #[test]
    fn watches_retry_within_five_seconds_and_start_over_once_they_work() {
        use kube::runtime::utils::Backoff;
        let mut b = WatchBackoff::default();
        let delays: Vec<u64> = b.by_ref().take(6).map(|d| d.as_millis() as u64).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 5000, 5000]);
        b.reset();
        assert_eq!(b.next(), Some(Duration::from_millis(500)));
    }

    /// A connection failure is not a missing CRD: each says what it is and what to do.
    #[test]
    fn a_down_api_server_is_told_from_a_missing_crd() {
        let refused = kube::Error::Service(Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "tcp connect error: Connection refused (os error 111)",
        )));
        let m = first_list_error(&refused);
        assert_eq!(
            m,
            "cannot reach the Kubernetes API server: tcp connect error: Connection refused (os error 111)"
        );
        assert!(unreachable(&refused).is_some());

        let missing = kube::Error::Api(
            kube::core::Status::failure("404 page not found", "NotFound")
                .with_code(404)
                .boxed(),
        );
        let m = first_list_error(&missing);
        assert!(
            m.contains("CRD") && m.contains("appset crds | kubectl apply -f -"),
            "{m}"
        );
        assert!(unreachable(&missing).is_none());

        let forbidden = kube::Error::Api(
            kube::core::Status::failure("applicationsets.argoproj.io is forbidden", "Forbidden")
                .with_code(403)
                .boxed(),
        );
        let m = first_list_error(&forbidden);
        assert!(m.contains("not allowed") && !m.contains("install it"), "{m}");
    }
}
