//! The controller: keeps each ApplicationSet's Applications equal to what it generates.
//!
//! Stage: controller (I/O: the Kubernetes API; generators reach git and GitHub through `sources`).
//!
//! `reconcile` = the finalizer wrapper around [`sync`] and [`cleanup`]:
//!
//! - `sync`: generate → render → plan → execute (server-side apply under one field manager, a
//!   controller ownerReference to the ApplicationSet, deletes per policy) → status. **Fail closed**:
//!   any generator, source or render error means no create, update or delete in that reconcile;
//!   the error goes on the status and the last good Applications stay. A delete budget
//!   (`appset.io/max-deletes` or `--max-deletes`) withholds a reconcile's deletes when there are
//!   more of them than it allows. A reconcile that finds everything up to date writes nothing;
//!   status is patched only when it changes.
//! - `cleanup` (our finalizer, when the ApplicationSet is deleted): under
//!   `preserveResourcesOnDeletion` or a policy that forbids deletes, release the Applications
//!   (strip the ownerReference and Argo CD's resources finalizer) so garbage collection keeps
//!   them; otherwise let garbage collection delete them.
//!
//! Triggers: ApplicationSet changes; owned Application changes other than status (Argo CD
//! rewrites Application status constantly); cluster Secret changes, for the ApplicationSets that
//! use a cluster generator only; and a requeue at the smallest generator `requeueAfterSeconds`
//! (or at a GitHub rate limit's reset).

use std::{
    collections::{BTreeSet, HashMap},
    path::PathBuf,
    sync::Arc,
    time::{Duration, SystemTime},
};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams},
    runtime::{
        Controller, WatchStreamExt,
        controller::Action,
        events::{Event, EventType, Recorder, Reporter},
        finalizer::{Event as Finalizer, finalizer},
        reflector::{self, ObjectRef, Store},
        watcher::{self, watcher},
    },
};
use serde_json::{Value, json};
use tracing::{info, instrument, warn};

use crate::{
    crd::{
        Application, ApplicationSet, ApplicationSetCondition, ApplicationSetStatus,
        CLUSTER_SECRET_TYPE_LABEL, HealthStatus, RESOURCES_FINALIZER, ResourceStatus,
    },
    generators::GeneratorSpec,
    live::CachedApplication,
    plan::{FIELD_MANAGER, Owner, Plan, PlanOptions, Policy, plan},
    render::{self, RenderOptions},
    server::Metrics,
    sources::{GitHub, GitRepos, Inputs, LiveConfig, Recorded},
};

/// The finalizer appset puts on ApplicationSets.
pub const FINALIZER: &str = "appset.io/cleanup";

/// Annotation setting an ApplicationSet's delete budget (an integer).
pub const MAX_DELETES_ANNOTATION: &str = "appset.io/max-deletes";

/// Requeue after a generation or validation error (Argo CD's 3 minutes).
pub const ERROR_REQUEUE: Duration = Duration::from_secs(180);

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
}

/// Controller settings (`appset run` flags).
#[derive(Debug, Clone)]
pub struct Config {
    /// Namespaces whose ApplicationSets are reconciled (empty: all).
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
    pub repo_overrides: Vec<(String, PathBuf)>,
    /// The webhook endpoint whose refreshes this controller follows (its GitHub client is then
    /// the controller's, so a `pull_request` event can expire the cached listing).
    pub webhooks: Option<Arc<crate::webhook::Webhooks>>,
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
            webhooks: None,
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
    git: Arc<GitRepos>,
    github: Arc<GitHub>,
    apps: Store<CachedApplication>,
    echoes: Arc<Echoes>,
    app_resource: ApiResource,
    recorder: Recorder,
    metrics: Arc<Metrics>,
}

impl Context {
    /// The shared GitHub client (request counters for metrics and tests).
    pub fn github(&self) -> &Arc<GitHub> {
        &self.github
    }
}

/// The Application API resource (dynamic: live Applications are kept as JSON, whatever fields
/// they carry).
pub fn application_resource() -> ApiResource {
    ApiResource::erase::<Application>(&())
}

fn owned_by<'a>(
    apps: &'a [Arc<CachedApplication>],
    appset: &ApplicationSet,
) -> Vec<&'a Arc<CachedApplication>> {
    let uid = appset.metadata.uid.as_deref();
    apps.iter()
        .filter(|a| {
            a.metadata.namespace == appset.metadata.namespace
                && a.owner_references().iter().any(|o| {
                    o.controller == Some(true)
                        && o.kind == "ApplicationSet"
                        && o.api_version.starts_with("argoproj.io/")
                        && (Some(o.uid.as_str()) == uid || o.name == appset.name_any())
                })
        })
        .collect()
}

/// Whether an ApplicationSet uses a cluster generator anywhere (top level or inside matrix/merge).
pub fn uses_cluster_generator(appset: &ApplicationSet) -> bool {
    GeneratorSpec::all_in(&appset.spec.generators)
        .iter()
        .any(|k| matches!(k, GeneratorSpec::Clusters(_)))
}

async fn reconcile(appset: Arc<ApplicationSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = appset.namespace().unwrap_or_default();
    tracing::debug!(appset = %appset.name_any(), namespace = %ns, "reconcile");
    if !ctx.config.namespaces.is_empty() && !ctx.config.namespaces.contains(&ns) {
        return Ok(Action::await_change());
    }
    let api: Api<ApplicationSet> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, appset, |event| async {
        match event {
            Finalizer::Apply(set) => sync(set, ctx.clone()).await,
            Finalizer::Cleanup(set) => cleanup(set, ctx.clone()).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

fn error_policy(_appset: Arc<ApplicationSet>, error: &Error, _ctx: Arc<Context>) -> Action {
    warn!(%error, "reconcile failed");
    Action::requeue(Duration::from_secs(15))
}

/// One reconcile of a live ApplicationSet (metrics recorded around `sync_inner`).
#[instrument(skip_all, fields(appset = %appset.name_any(), namespace = appset.namespace().unwrap_or_default()))]
pub async fn sync(appset: Arc<ApplicationSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let key = format!("{}/{}", appset.namespace().unwrap_or_default(), appset.name_any());
    let result = sync_inner(appset, ctx.clone()).await;
    let (reason, owned) = match &result {
        Ok((_, reason, owned)) => (*reason, *owned),
        Err(_) => (Some("ReconcileError"), 0),
    };
    ctx.metrics.reconciled(&key, started.elapsed(), reason, owned);
    result.map(|(action, _, _)| action)
}

/// The reconcile: the next action, the error reason written to the status (if any), and the
/// number of owned Applications.
async fn sync_inner(
    appset: Arc<ApplicationSet>,
    ctx: Arc<Context>,
) -> Result<(Action, Option<&'static str>, usize), Error> {
    let ns = appset.namespace().unwrap_or_default();
    // Argo CD's refresh annotation (set by a webhook on a standby replica, or by hand): ask
    // GitHub again rather than serve a cached listing.
    let refresh = appset
        .annotations()
        .get(crate::webhook::REFRESH_ANNOTATION)
        .is_some_and(|v| v == "true");
    if refresh {
        for (owner, repo) in crate::webhook::pull_request_repos(&appset) {
            ctx.github.expire(&owner, &repo);
        }
    }
    let inputs = Inputs::new(
        Recorded::default(),
        LiveConfig {
            git: true,
            git_cache_dir: ctx.config.git_cache_dir.clone(),
            repo_overrides: ctx.config.repo_overrides.clone(),
            kube: true,
            github: true,
            github_api: ctx.config.github_api.clone(),
            github_token: ctx.config.github_token.clone(),
            github_token_overrides_refs: false,
            github_max_age: ctx.config.github_max_age,
        },
    )
    .with_git(ctx.git.clone())
    .with_github(ctx.github.clone())
    .with_kube(ctx.client.clone());
    let opts = RenderOptions {
        namespace: ctx.config.controller_namespace.clone(),
        ..RenderOptions::default()
    };
    let all_apps = ctx.apps.state();
    let owned_live = owned_by(&all_apps, &appset);
    let mut status = Status::new(appset.status.clone().unwrap_or_default());

    // generate → render (pure apart from the sources).
    let mut generated = match render::generate_applications(&appset, &inputs, &opts).await {
        Ok(out) => out,
        Err(e) => {
            let reason = e
                .failures
                .first()
                .map(|f| f.reason())
                .unwrap_or(condition::ERROR_REASON);
            let message = e.to_string();
            warn!(%message, "generation failed; nothing is written");
            status.error(reason, &message, false);
            status.resources(&owned_live, ctx.config.max_resources_status);
            publish_status(&ctx, &appset, status).await?;
            warn_event(&ctx, &appset, reason, &message).await;
            // A rate limit says when to retry; otherwise Argo CD's 3 minutes, or the generators'
            // own poll interval when that is sooner (a source that recovers is seen as soon as
            // it would have been polled anyway).
            let requeue = match e.retry_at() {
                Some(at) => at.duration_since(SystemTime::now()).unwrap_or_default() + Duration::from_secs(1),
                None => crate::generators::requeue_after(&appset.spec.generators)
                    .map_or(ERROR_REQUEUE, |d| d.min(ERROR_REQUEUE)),
            };
            return Ok((Action::requeue(requeue), Some(reason), owned_live.len()));
        }
    };

    // plan (pure).
    let policy = Policy::effective(ctx.config.policy, ctx.config.enable_policy_override, &appset.spec);
    let max_deletes = appset
        .annotations()
        .get(MAX_DELETES_ANNOTATION)
        .and_then(|v| v.trim().parse::<usize>().ok())
        .or(ctx.config.max_deletes);
    let plan_opts = match PlanOptions::for_spec(
        &appset.spec,
        policy,
        &ctx.config.preserved_annotations,
        &ctx.config.preserved_labels,
        max_deletes,
    ) {
        Ok(o) => o,
        Err(message) => {
            status.error(condition::ERROR_REASON, &message, true);
            publish_status(&ctx, &appset, status).await?;
            return Ok((
                Action::requeue(ERROR_REQUEUE),
                Some(condition::ERROR_REASON),
                owned_live.len(),
            ));
        }
    };
    let mut generated_names: BTreeSet<String> = generated
        .applications
        .iter()
        .map(|a| render::application_name(a).to_string())
        .collect();
    generated_names.extend(generated.invalid.iter().map(|i| i.name.clone()));
    let owner = Owner {
        name: appset.name_any(),
        uid: appset.metadata.uid.clone().unwrap_or_default(),
    };
    // The controller needs neither the parameter sets nor a second copy of the Applications.
    generated.params = Vec::new();
    let plan = plan(
        std::mem::take(&mut generated.applications),
        &generated_names,
        &owned_live.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        &owner,
        &plan_opts,
    );
    // Release the snapshot of the cache: while the writes below run, the watch replaces every
    // written Application, and holding the old ones would double the cache.
    drop(owned_live);
    drop(all_apps);

    // execute.
    let executed = execute(&ctx, &appset, &ns, &plan).await;

    // status.
    let all = ctx.apps.state();
    let fresh = owned_by(&all, &appset);
    status.resources(&fresh, ctx.config.max_resources_status);
    let owned_now = fresh.len();
    drop(fresh);
    let mut error_reason = None;
    let result = match executed {
        Err((reason, message)) => {
            status.error(reason, &message, true);
            publish_status(&ctx, &appset, status).await?;
            return Err(Error::Write(message));
        }
        Ok(()) => {
            if let Some((want, max)) = plan.withheld_deletes {
                let message = format!(
                    "{want} Applications are no longer generated but the delete budget is {max} \
                     ({MAX_DELETES_ANNOTATION}); nothing was deleted"
                );
                status.error(condition::DELETE_BUDGET, &message, true);
                error_reason = Some(condition::DELETE_BUDGET);
                warn_event(&ctx, &appset, condition::DELETE_BUDGET, &message).await;
                Action::requeue(ERROR_REQUEUE)
            } else if !generated.invalid.is_empty() {
                let mut invalid = generated.invalid.clone();
                invalid.sort_by(|a, b| a.name.cmp(&b.name));
                let last = invalid.last().map(|i| i.message.clone()).unwrap_or_default();
                let message = if invalid.len() > 1 {
                    format!("{last} (and {} more)", invalid.len() - 1)
                } else {
                    last
                };
                status.error(condition::VALIDATION_ERROR, &message, true);
                error_reason = Some(condition::VALIDATION_ERROR);
                Action::requeue(generated.requeue_after.unwrap_or(ERROR_REQUEUE))
            } else {
                status.up_to_date();
                generated
                    .requeue_after
                    .map(Action::requeue)
                    .unwrap_or_else(Action::await_change)
            }
        }
    };
    publish_status(&ctx, &appset, status).await?;
    if refresh && error_reason.is_none() {
        // Removed only after a fully successful pass (Argo CD: it stays while generation fails).
        let api: Api<ApplicationSet> = Api::namespaced(ctx.client.clone(), &ns);
        let patch = json!({"metadata": {"annotations": {crate::webhook::REFRESH_ANNOTATION: null}}});
        api.patch(&appset.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| Error::kube("removing the refresh annotation", e))?;
    }
    info!(
        created = plan.create.len(),
        updated = plan.update.len(),
        deleted = plan.delete.len(),
        unchanged = plan.unchanged,
        "reconciled"
    );
    Ok((result, error_reason, owned_now))
}

/// Apply creates and updates, then (only if they all succeeded) deletes. Returns Argo CD's
/// Per-Application Events for at most this many Applications of one kind of write per
/// reconcile; beyond that one summary Event (a thousand "Created" Events help nobody).
const MAX_EVENTS_PER_KIND: usize = 10;

/// Apply creates and updates (`apply_concurrency` at a time), then, only if they all succeeded,
/// deletes. Returns Argo CD's reason and the message of the failure of the smallest Application
/// name (deterministic, as Argo CD).
async fn execute(
    ctx: &Context,
    appset: &ApplicationSet,
    ns: &str,
    plan: &Plan,
) -> Result<(), (&'static str, String)> {
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &ctx.app_resource);
    // Applied through the cache's type: the response is only read for its resourceVersion.
    let applier: Api<CachedApplication> = Api::namespaced(ctx.client.clone(), ns);
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let concurrency = ctx.config.apply_concurrency.max(1);
    for (objs, reason, verb) in [
        (&plan.create, condition::CREATE_ERROR, "Created"),
        (&plan.update, condition::UPDATE_ERROR, "Updated"),
    ] {
        // Collected first: a lazy `map` over borrowed items trips rustc's `Send` inference.
        let writes: Vec<_> = objs
            .iter()
            .map(|obj| {
                let (api, pp, obj) = (applier.clone(), pp.clone(), obj.clone());
                async move {
                    let r = api
                        .patch(&obj.name, &pp, &Patch::Apply(&obj.body))
                        .await
                        .map(|written| ctx.echoes.wrote(ns, &obj.name, written.metadata.resource_version));
                    (obj.name, r)
                }
            })
            .collect();
        let results = futures::stream::iter(writes)
            .buffer_unordered(concurrency)
            .collect()
            .await;
        if let Some((name, e)) = settle(ctx, appset, verb, results).await {
            return Err((reason, format!("error applying Application {ns}/{name}: {e}")));
        }
    }
    let deletes: Vec<_> = plan
        .delete
        .iter()
        .map(|name| {
            let (api, name) = (api.clone(), name.clone());
            async move {
                let r = match api.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                    Err(e) => Err(e),
                };
                (name, r)
            }
        })
        .collect();
    let results = futures::stream::iter(deletes)
        .buffer_unordered(concurrency)
        .collect()
        .await;
    if let Some((name, e)) = settle(ctx, appset, "Deleted", results).await {
        return Err((
            condition::DELETE_ERROR,
            format!("error deleting Application {ns}/{name}: {e}"),
        ));
    }
    Ok(())
}

/// Announce the Applications written successfully and return the failure of the smallest name
/// (deterministic, as Argo CD reports it).
async fn settle(
    ctx: &Context,
    appset: &ApplicationSet,
    verb: &str,
    results: Vec<(String, Result<(), kube::Error>)>,
) -> Option<(String, kube::Error)> {
    let mut done: Vec<&String> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(n, _)| n)
        .collect();
    done.sort();
    announce(ctx, appset, verb, &done).await;
    results
        .into_iter()
        .filter_map(|(name, r)| r.err().map(|e| (name, e)))
        .min_by(|a, b| a.0.cmp(&b.0))
}

/// Normal Events for written Applications (Argo CD's `<Verb> Application "<name>"`), summarised
/// beyond [`MAX_EVENTS_PER_KIND`].
async fn announce(ctx: &Context, appset: &ApplicationSet, verb: &str, names: &[&String]) {
    for name in names.iter().take(MAX_EVENTS_PER_KIND) {
        normal_event(
            ctx,
            appset,
            &verb.to_lowercase(),
            &format!("{verb} Application {name:?}"),
        )
        .await;
    }
    if names.len() > MAX_EVENTS_PER_KIND {
        let more = names.len() - MAX_EVENTS_PER_KIND;
        normal_event(
            ctx,
            appset,
            &verb.to_lowercase(),
            &format!("{verb} {more} more Applications"),
        )
        .await;
    }
}

/// The ApplicationSet is being deleted.
#[instrument(skip_all, fields(appset = %appset.name_any()))]
pub async fn cleanup(appset: Arc<ApplicationSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = appset.namespace().unwrap_or_default();
    ctx.metrics.forget(&format!("{ns}/{}", appset.name_any()));
    let policy = Policy::effective(ctx.config.policy, ctx.config.enable_policy_override, &appset.spec);
    let preserve = appset
        .spec
        .sync_policy
        .as_ref()
        .is_some_and(|p| p.preserve_resources_on_deletion);
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ns, &ctx.app_resource);
    // The store may lag; ask the API server for the owned Applications.
    let live = Api::<CachedApplication>::namespaced(ctx.client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube("listing Applications", e))?;
    let all: Vec<Arc<CachedApplication>> = live.items.into_iter().map(Arc::new).collect();
    let owned = owned_by(&all, &appset);
    if policy.allow_delete() && !preserve {
        normal_event(
            &ctx,
            &appset,
            "Deleting",
            &format!("Deleting {} Applications through garbage collection", owned.len()),
        )
        .await;
        return Ok(Action::await_change());
    }
    // Release: garbage collection must not delete them, and Argo CD must not delete their resources.
    let uid = appset.metadata.uid.clone().unwrap_or_default();
    for app in owned {
        let name = app.name_any();
        let refs: Vec<Value> = app
            .owner_references()
            .iter()
            .filter(|o| o.uid != uid && o.name != appset.name_any())
            .map(|o| serde_json::to_value(o).unwrap_or(Value::Null))
            .collect();
        let finalizers: Vec<&String> = app
            .finalizers()
            .iter()
            .filter(|f| f.as_str() != RESOURCES_FINALIZER)
            .collect();
        let patch = json!({"metadata": {
            "resourceVersion": app.resource_version(),
            "ownerReferences": if refs.is_empty() { Value::Null } else { Value::Array(refs) },
            "finalizers": if finalizers.is_empty() { Value::Null } else { json!(finalizers) },
        }});
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                normal_event(
                    &ctx,
                    &appset,
                    "Released",
                    &format!("Released Application {name:?}"),
                )
                .await
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(Error::kube(format!("releasing Application {ns}/{name}"), e)),
        }
    }
    Ok(Action::await_change())
}

// ---- status -------------------------------------------------------------------------------------

struct Status {
    before: ApplicationSetStatus,
    after: ApplicationSetStatus,
}

impl Status {
    fn new(before: ApplicationSetStatus) -> Self {
        Status {
            after: before.clone(),
            before,
        }
    }

    fn set(&mut self, type_: &str, status: bool, reason: &str, message: &str) {
        let status = if status { "True" } else { "False" };
        let previous = self.before.conditions.iter().find(|c| c.type_ == type_);
        let unchanged =
            previous.is_some_and(|p| p.status == status && p.reason == reason && p.message == message);
        let time = if unchanged {
            previous.and_then(|p| p.last_transition_time.clone())
        } else {
            Some(k8s_openapi::jiff::Timestamp::now().to_string())
        };
        self.after.conditions.retain(|c| c.type_ != type_);
        self.after.conditions.push(ApplicationSetCondition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: time,
        });
        self.after
            .conditions
            .sort_by(|a, b| (&a.type_, &a.status).cmp(&(&b.type_, &b.status)));
    }

    fn error(&mut self, reason: &str, message: &str, parameters_generated: bool) {
        self.set(condition::ERROR_OCCURRED, true, reason, message);
        self.set(
            condition::RESOURCES_UP_TO_DATE,
            false,
            condition::ERROR_REASON,
            message,
        );
        if parameters_generated {
            self.set(
                condition::PARAMETERS_GENERATED,
                true,
                condition::PARAMETERS_GENERATED_REASON,
                condition::GENERATED_MESSAGE,
            );
        } else {
            self.set(
                condition::PARAMETERS_GENERATED,
                false,
                condition::ERROR_REASON,
                message,
            );
        }
        self.after.health = Some(HealthStatus {
            status: Some("Degraded".into()),
            message: Some(message.to_string()),
        });
    }

    fn up_to_date(&mut self) {
        self.set(
            condition::PARAMETERS_GENERATED,
            true,
            condition::PARAMETERS_GENERATED_REASON,
            condition::GENERATED_MESSAGE,
        );
        self.set(
            condition::RESOURCES_UP_TO_DATE,
            true,
            condition::UP_TO_DATE,
            condition::UP_TO_DATE_MESSAGE,
        );
        self.set(
            condition::ERROR_OCCURRED,
            false,
            condition::UP_TO_DATE,
            condition::UP_TO_DATE_MESSAGE,
        );
        self.after.health = Some(HealthStatus {
            status: Some("Healthy".into()),
            message: Some(condition::UP_TO_DATE_MESSAGE.into()),
        });
    }

    /// `status.resources`: the owned Applications by name, the first `max` of them (0: all).
    fn resources(&mut self, owned: &[&Arc<CachedApplication>], max: usize) {
        let mut resources: Vec<ResourceStatus> = owned
            .iter()
            .map(|a| ResourceStatus {
                group: "argoproj.io".into(),
                version: "v1alpha1".into(),
                kind: "Application".into(),
                name: a.name_any(),
                namespace: a.namespace().unwrap_or_default(),
                status: a.sync_status.clone(),
                health: a.health_status.clone().map(|s| HealthStatus {
                    status: Some(s),
                    message: None,
                }),
            })
            .collect();
        resources.sort_by(|a, b| a.name.cmp(&b.name));
        self.after.resources_count = Some(resources.len() as i64);
        if max > 0 {
            resources.truncate(max);
        }
        self.after.resources = resources;
    }
}

async fn publish_status(ctx: &Context, appset: &ApplicationSet, status: Status) -> Result<(), Error> {
    if status.after == status.before {
        return Ok(());
    }
    let api: Api<ApplicationSet> =
        Api::namespaced(ctx.client.clone(), &appset.namespace().unwrap_or_default());
    let patch = json!({"status": status.after});
    api.patch_status(&appset.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| Error::kube("patching ApplicationSet status", e))?;
    Ok(())
}

async fn normal_event(ctx: &Context, appset: &ApplicationSet, reason: &str, note: &str) {
    publish(ctx, appset, EventType::Normal, reason, note).await;
}

async fn warn_event(ctx: &Context, appset: &ApplicationSet, reason: &str, note: &str) {
    publish(ctx, appset, EventType::Warning, reason, note).await;
}

async fn publish(ctx: &Context, appset: &ApplicationSet, type_: EventType, reason: &str, note: &str) {
    let note: String = note.chars().take(1000).collect();
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: reason.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &appset.object_ref(&())).await {
        warn!(error = %e, "could not publish an Event");
    }
}

// ---- wiring -------------------------------------------------------------------------------------

/// A stream of owned-Application triggers that ignores status-only changes and appset's own
/// writes coming back ([`Echoes`]): an Application passes when its spec, labels, annotations,
/// finalizers, owner references or deletion state change other than by appset's last apply,
/// and always when it is deleted.
fn application_triggers(
    events: impl Stream<Item = Result<watcher::Event<CachedApplication>, watcher::Error>> + Send + 'static,
    echoes: Arc<Echoes>,
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
    let appsets: Api<ApplicationSet> = match config.namespaces.as_slice() {
        [one] => Api::namespaced(client.clone(), one),
        _ => Api::all(client.clone()),
    };
    if let Err(e) = appsets.list(&ListParams::default().limit(1)).await {
        anyhow::bail!(
            "ApplicationSet CRD is not queryable ({e}); install it with: appset crds | kubectl apply -f -"
        );
    }
    let apps_api: Api<CachedApplication> = match config.namespaces.as_slice() {
        [one] => Api::namespaced(client.clone(), one),
        _ => Api::all(client.clone()),
    };
    let writer = reflector::store::Writer::<CachedApplication>::default();
    let reader = writer.as_reader();
    let app_events = reflector::reflector(
        writer,
        watcher(apps_api, watcher::Config::default()).default_backoff(),
    );
    let echoes = Arc::new(Echoes::default());
    let triggers = application_triggers(app_events, echoes.clone());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &config.controller_namespace);
    let git = Arc::new(GitRepos::new(
        config.git_cache_dir.clone(),
        config.repo_overrides.clone(),
    ));
    let github = match &config.webhooks {
        Some(w) => w.github().clone(),
        None => Arc::new(GitHub::new(config.github_api.clone(), config.github_max_age)),
    };
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "appset".into(),
            instance: std::env::var("POD_NAME").ok(),
        },
    );
    metrics.watch_github(github.clone());
    let ctx = Arc::new(Context {
        metrics: metrics.clone(),
        client: client.clone(),
        config,
        git,
        github,
        apps: reader.clone(),
        echoes,
        app_resource: app_resource.clone(),
        recorder,
    });
    // appset owns the ApplicationSet reflector (rather than `Controller::new`'s internal one) so
    // readiness is read from the very store the controller reconciles from.
    let sets_writer = reflector::store::Writer::<ApplicationSet>::default();
    let sets_reader = sets_writer.as_reader();
    let set_events = reflector::reflector(
        sets_writer,
        watcher(appsets, watcher::Config::default()).default_backoff(),
    )
    .applied_objects()
    // appset's own status patches come back as ApplicationSet events; they change nothing to
    // reconcile (requeues and errors are scheduled separately).
    .predicate_filter(set_change, Default::default());
    let mut controller = Controller::for_stream(set_events, sets_reader.clone());
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
    {
        let (sets, apps, m) = (sets_reader.clone(), reader.clone(), metrics.clone());
        tokio::spawn(async move {
            if cache_ready(&sets).await && cache_ready(&apps).await {
                m.set_ready(true);
                if let Some(ready) = ready {
                    let _ = ready.send(());
                }
            }
        });
    }
    controller
        .owns_stream(triggers)
        .watches(
            secrets,
            watcher::Config::default().labels(&format!("{CLUSTER_SECRET_TYPE_LABEL}=cluster")),
            cluster_users,
        )
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(async move {
            // Keep running; dropped with the future.
            std::future::pending::<()>().await
        })
        .run(
            move |set, ctx| {
                let wait = wait_apps.clone();
                async move {
                    // Never plan against an unfilled Application cache.
                    cache_ready(&wait).await;
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
        application_triggers(futures::stream::iter(events.into_iter().map(Ok)), echoes)
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
}
