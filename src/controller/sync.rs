//! One reconcile of an ApplicationSet, as its steps: inputs → generate → plan → execute →
//! outcome → status. And [`cleanup`], when an ApplicationSet is deleted.
//!
//! Stage: controller (I/O: the Kubernetes API for writes, status and Events; the generators read
//! git and GitHub through `sources`). The decision of what follows a reconcile is pure and lives
//! in [`super::outcome`].

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use futures::StreamExt;
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams},
    runtime::{
        controller::Action,
        events::{Event, EventType},
        reflector::ObjectRef,
    },
};
use serde_json::{Value, json};
use tracing::{info, instrument, warn};

use super::{
    Context, Error, MAX_DELETES_ANNOTATION, condition,
    outcome::{Ended, Outcome, RolloutStatus, Status, decide},
    owned_by,
};
use k8s_openapi::jiff::Timestamp;

use crate::{
    crd::{ApplicationSet, ApplicationSetApplicationStatus, ApplicationSetRolloutStep, RESOURCES_FINALIZER},
    live::CachedApplication,
    pipeline::{self, Options, Output},
    plan::{FIELD_MANAGER, Owner, Plan, PlanOptions, Policy, plan},
    rollout::{
        self,
        status::{Input, Rollout, RolloutState, Trigger},
    },
    sources::Recorded,
    webhook::{
        REFRESH_ANNOTATION, merge_request_projects, pull_request_repos, scanned_owners, watched_repositories,
    },
};

/// One reconcile of a live ApplicationSet, with its metrics.
#[instrument(skip_all, fields(appset = %appset.name_any(), namespace = appset.namespace().unwrap_or_default()))]
pub async fn sync(appset: Arc<ApplicationSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_steps(&appset, &ctx).await;
    let (reason, owned) = match &result {
        Ok((outcome, owned)) => (outcome.error_reason, *owned),
        Err(_) => (Some("ReconcileError"), 0),
    };
    let ns = appset.namespace().unwrap_or_default();
    ctx.metrics
        .reconciled(&ns, &appset.name_any(), started.elapsed(), reason, owned);
    result.map(|(outcome, _)| match outcome.requeue {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    })
}

/// The steps of a reconcile; returns its outcome and the number of owned Applications.
async fn reconcile_steps(appset: &ApplicationSet, ctx: &Context) -> Result<(Outcome, usize), Error> {
    // inputs: the process's live sources; a refresh asks GitHub again.
    let refresh = refresh_requested(appset, ctx);
    let credentials = ctx.credentials.current();
    // A key of a deleted or changed Secret does not stay on disk.
    ctx.live.git().retain_credentials(&credentials.fingerprints());
    let inputs = ctx
        .live
        .inputs(Recorded::default())
        .with_repo_credentials(credentials)
        .for_appset(&appset.namespace().unwrap_or_default(), &appset.name_any());
    let opts = Options {
        namespace: ctx.config.controller_namespace.clone(),
        git: ctx.config.git,
        scm: ctx.config.scm.clone(),
        params: false,
        ..Options::default()
    };
    // A rolling sync reads its previous statuses from the API server: the cache may not show the
    // status the last reconcile wrote yet, and promoting from stale statuses would sync an
    // Application twice.
    let strategy = appset.spec.strategy.as_ref();
    let rolling = ctx.config.progressive_syncs && rollout::is_rolling_sync(strategy);
    let previous = if rolling {
        let api: Api<ApplicationSet> =
            Api::namespaced(ctx.client.clone(), &appset.namespace().unwrap_or_default());
        api.get_status(&appset.name_any())
            .await
            .map_err(|e| Error::kube("reading the ApplicationSet's status", e))?
            .status
    } else {
        appset.status.clone()
    };
    let status = Status::new(previous.unwrap_or_default());

    // The decision resources the set reads are watched from now on (a change then reconciles it).
    ctx.decisions.ensure(appset);

    // generate (pure apart from the sources).
    let mut generated = match pipeline::generate_applications(appset, &inputs, &opts).await {
        Ok(out) => out,
        Err(e) => {
            let message = e.to_string();
            warn!(%message, "generation failed; nothing is written");
            let ended = Ended::GenerationFailed {
                reason: e.failures.first().map_or(condition::ERROR_REASON, |f| f.reason()),
                message,
                retry_at: e.retry_at(),
                requeue_after: crate::generators::requeue_after(
                    &appset.spec.generators,
                    ctx.config.git.requeue_after,
                ),
            };
            let outcome = decide(ended, refresh, SystemTime::now());
            return conclude(ctx, appset, status, outcome, RolloutStatus::Keep).await;
        }
    };

    // validate destinations against the known clusters (Argo CD's controller does).
    let clusters = pipeline::KnownClusters::from_secrets(ctx.clusters.state().iter().map(|s| s.as_ref()));
    pipeline::validate_destinations(&mut generated, &clusters);
    // A set outside the controller's namespace may use only projects that permit its namespace.
    let set_ns = appset.namespace().unwrap_or_default();
    if set_ns != ctx.config.controller_namespace {
        let projects = app_projects(ctx, &generated).await;
        pipeline::validate_projects(
            &mut generated,
            &set_ns,
            &ctx.config.controller_namespace,
            &projects,
        );
    }

    // plan (pure).
    let plan_opts = match plan_options(appset, ctx) {
        Ok(o) => o,
        Err(message) => {
            let ended = Ended::Unplannable {
                reason: condition::ERROR_REASON,
                message,
            };
            let outcome = decide(ended, refresh, SystemTime::now());
            return conclude(ctx, appset, status, outcome, RolloutStatus::Keep).await;
        }
    };
    // progressive sync (Argo CD's RollingSync), when enabled: automated sync off on every
    // generated Application, and each one's sync operation ready.
    if rolling && !rollout::rolling_sync_enabled(strategy) {
        let ended = Ended::Unplannable {
            reason: condition::ROLLOUT_ERROR,
            message: "No steps defined for rollout".into(),
        };
        let outcome = decide(ended, refresh, SystemTime::now());
        return conclude(ctx, appset, status, outcome, RolloutStatus::Keep).await;
    }
    let prepared = rolling.then(|| prepare_rollout(appset, &mut generated));
    let plan = make_plan(appset, ctx, &mut generated, &plan_opts);
    let rollout = prepared.map(|p| {
        let r = run_rollout(appset, ctx, &plan, &p, &status.before.application_status);
        (p, r)
    });
    // Applications an ignore rule could not be evaluated on are left alone, and said so, as
    // invalid ones are.
    generated
        .invalid
        .extend(plan.held.iter().map(|(name, message)| pipeline::Invalid {
            name: name.clone(),
            message: message.clone(),
        }));

    // execute.
    let ns = appset.namespace().unwrap_or_default();
    let mut write_failure = execute(ctx, appset, &ns, &plan, &clusters).await.err();
    if write_failure.is_none()
        && let Some((prepared, r)) = &rollout
    {
        write_failure = trigger_syncs(ctx, &ns, prepared, r).await.err();
    }

    // outcome (pure).
    let ended = Ended::Executed {
        write_failure,
        withheld_deletes: plan.withheld_deletes,
        invalid: &generated.invalid,
        requeue_after: generated.requeue_after,
    };
    let mut outcome = decide(ended, refresh, SystemTime::now());
    // A rollout whose statuses changed looks again soon (Argo CD's controller is triggered by its
    // own `applicationStatus` change): a status moves one transition per pass, and the
    // Application events that would trigger the next pass may already have been seen by this one.
    // Applications created in this pass get their first status in the next one.
    if let Some((_, r)) = &rollout
        && (!r.transitions.is_empty() || !plan.create.is_empty())
    {
        outcome.requeue = Some(
            outcome
                .requeue
                .map_or(ROLLOUT_FOLLOW_UP, |d| d.min(ROLLOUT_FOLLOW_UP)),
        );
    }
    if outcome.write_error.is_none() {
        info!(
            created = plan.create.len(),
            updated = plan.update.len(),
            adopted = plan.adopt.len(),
            deleted = plan.delete.len(),
            unchanged = plan.unchanged,
            "reconciled"
        );
    }
    let set_name = appset.name_any();
    let rollout_status = match rollout {
        None => {
            ctx.metrics.rollout(&ns, &set_name, None);
            RolloutStatus::Clear
        }
        Some((_, r)) => {
            let report = crate::metrics::RolloutReport {
                step: r.progressing_step.as_deref().and_then(|s| s.parse().ok()),
                counts: r.counts().into_iter().map(|(s, n)| (s.to_string(), n)).collect(),
                halted: r.halt.is_some(),
            };
            ctx.metrics.rollout(&ns, &set_name, Some(&report));
            if let Some(halt) = &r.halt
                && status.was_true(condition::ROLLOUT_PROGRESSING) != Some(halt.message().as_str())
            {
                warn!(application = %halt.application, step = %halt.step, reason = %halt.reason, "rollout halted");
                warn_event(ctx, appset, "RolloutHalted", &halt.message()).await;
            }
            rollout_conditions(r)
        }
    };
    conclude(ctx, appset, status, outcome, rollout_status).await
}

/// A RollingSync set's Applications prepared for the plan: automated sync disabled on each (the
/// controller triggers their syncs), and the sync operation of each.
struct Prepared {
    /// The set's steps.
    steps: Vec<ApplicationSetRolloutStep>,
    /// The generated Applications' steps.
    assigned: rollout::Steps,
    /// Each generated Application's sync operation.
    operations: BTreeMap<String, Value>,
}

fn prepare_rollout(appset: &ApplicationSet, generated: &mut Output) -> Prepared {
    let steps = appset
        .spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_sync.as_ref())
        .map(|r| r.steps.clone())
        .unwrap_or_default();
    let mut operations = BTreeMap::new();
    let mut labels = Vec::with_capacity(generated.applications.len());
    for app in &mut generated.applications {
        let prune = rollout::status::disable_automated(app);
        let name = pipeline::application_name(app).to_string();
        operations.insert(name.clone(), rollout::status::sync_operation(app, prune));
        let l: BTreeMap<String, String> = app
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        labels.push((name, l));
    }
    let assigned = rollout::assign(&steps, labels.iter().map(|(n, l)| (n.as_str(), l)));
    Prepared {
        steps,
        assigned,
        operations,
    }
}

/// Progressive sync's statuses and the syncs to trigger, from the owned live Applications.
/// Applications whose last write by appset the cache does not show yet are not reset by a spec
/// difference (the difference may be that write).
fn run_rollout(
    appset: &ApplicationSet,
    ctx: &Context,
    plan: &Plan,
    prepared: &Prepared,
    previous: &[ApplicationSetApplicationStatus],
) -> Rollout {
    let ns = appset.namespace().unwrap_or_default();
    let live: BTreeMap<String, RolloutState> = ctx
        .owned(appset)
        .iter()
        .map(|a| (a.name_any(), a.rollout_state()))
        .collect();
    let spec_changed: BTreeSet<String> = plan
        .spec_changed
        .iter()
        .filter(|n| !ctx.echoes.pending(&ns, n))
        .cloned()
        .collect();
    let triggered: BTreeMap<String, Trigger> = {
        let memory = ctx.triggers.lock().unwrap_or_else(|e| e.into_inner());
        previous
            .iter()
            .filter(|s| s.status == rollout::status::PENDING)
            .filter_map(|s| {
                let t = memory.get(&(ns.clone(), s.application.clone()))?;
                (Some(&t.pending_since) == s.last_transition_time.as_ref())
                    .then(|| (s.application.clone(), t.clone()))
            })
            .collect()
    };
    let r = rollout::status::progress(&Input {
        steps: &prepared.steps,
        assigned: &prepared.assigned,
        previous,
        live: &live,
        spec_changed: &spec_changed,
        triggered: &triggered,
        now: Timestamp::now(),
    });
    for (app, from, to) in &r.transitions {
        info!(application = %app, from = %from, to = %to, "progressive sync status");
    }
    r
}

/// Write the sync operation of each Application the rollout syncs now, once per Pending
/// transition: not while the Application still has an operation, nor while the cache does not
/// show appset's last write to it. Remembers the generation each write returned (see
/// [`rollout::status`] on fresh status).
async fn trigger_syncs(
    ctx: &Context,
    ns: &str,
    prepared: &Prepared,
    r: &Rollout,
) -> Result<(), (&'static str, String)> {
    let api: Api<CachedApplication> = Api::namespaced(ctx.client.clone(), ns);
    let pp = PatchParams {
        dry_run: ctx.config.dry_run,
        field_manager: Some(ROLLOUT_FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    let live_operation = |name: &str| {
        ctx.apps
            .get(&ObjectRef::new(name).within(ns))
            .is_none_or(|a| a.rollout.as_deref().is_some_and(|s| s.operation))
    };
    let pending: BTreeMap<&str, &str> = r
        .statuses
        .iter()
        .filter(|s| s.status == rollout::status::PENDING)
        .map(|s| {
            (
                s.application.as_str(),
                s.last_transition_time.as_deref().unwrap_or_default(),
            )
        })
        .collect();
    {
        // Forget the operations of Applications no longer Pending.
        let mut memory = ctx.triggers.lock().unwrap_or_else(|e| e.into_inner());
        memory.retain(|(n, app), _| n != ns || pending.contains_key(app.as_str()));
    }
    for name in &r.sync {
        let since = pending.get(name.as_str()).copied().unwrap_or_default();
        let done = ctx
            .triggers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(ns.to_string(), name.clone()))
            .is_some_and(|t| t.pending_since == since);
        if done || ctx.echoes.pending(ns, name) || live_operation(name) {
            continue;
        }
        let Some(operation) = prepared.operations.get(name) else {
            continue;
        };
        let patch = json!({ "operation": operation });
        match api.patch(name, &pp, &Patch::Merge(&patch)).await {
            Ok(written) => {
                info!(application = %name, "progressive sync triggered a sync");
                if ctx.config.dry_run {
                    continue;
                }
                ctx.echoes
                    .wrote(ns, name, written.metadata.resource_version.clone());
                ctx.triggers.lock().unwrap_or_else(|e| e.into_inner()).insert(
                    (ns.to_string(), name.clone()),
                    Trigger {
                        pending_since: since.to_string(),
                        generation: written.metadata.generation.unwrap_or_default(),
                    },
                );
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => {
                return Err((
                    condition::UPDATE_ERROR,
                    format!("error triggering the sync of Application {ns}/{name}: {e}"),
                ));
            }
        }
    }
    Ok(())
}

/// How soon a reconcile that changed a rollout's statuses is followed by another.
const ROLLOUT_FOLLOW_UP: Duration = Duration::from_millis(200);

/// The field manager of the sync operations progressive sync writes (a merge patch of
/// `operation`, apart from appset's server-side apply of the rest, which therefore never removes
/// an operation Argo CD's application controller has not run yet).
pub const ROLLOUT_FIELD_MANAGER: &str = "appset-rollout";

/// `applicationStatus`, `RolloutProgressing` and `InvalidRolloutConfig` of a rollout.
fn rollout_conditions(r: Rollout) -> RolloutStatus {
    let progressing = match (&r.halt, &r.progressing_step) {
        (Some(halt), _) => (true, condition::ROLLOUT_HALTED, halt.message()),
        (None, Some(step)) => (
            true,
            condition::ROLLOUT_MODIFIED,
            format!("ApplicationSet is performing rollout of step {step}"),
        ),
        (None, None) => (
            false,
            condition::ROLLOUT_COMPLETE,
            condition::ROLLOUT_COMPLETE_MESSAGE.to_string(),
        ),
    };
    let invalid = match r.issues.condition_message() {
        Some(message) => (true, condition::INVALID_ROLLOUT, message),
        None => (
            false,
            condition::VALID_ROLLOUT,
            condition::VALID_ROLLOUT_MESSAGE.to_string(),
        ),
    };
    RolloutStatus::Set {
        statuses: r.statuses,
        progressing,
        invalid,
    }
}

/// The AppProjects (in the controller's namespace) the generated Applications name: their
/// `spec.sourceNamespaces`, `None` when absent, or why they could not be read.
async fn app_projects(ctx: &Context, generated: &Output) -> BTreeMap<String, pipeline::ProjectLookup> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        ctx.client.clone(),
        &ctx.config.controller_namespace,
        &super::app_project_resource(),
    );
    let mut out = BTreeMap::new();
    for app in &generated.applications {
        let name = pipeline::application_project(app);
        if out.contains_key(name) {
            continue;
        }
        let lookup = match api.get_opt(name).await {
            Ok(Some(p)) => Ok(Some(
                p.data
                    .pointer("/spec/sourceNamespaces")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
            )),
            Ok(None) => Ok(None),
            Err(e) => Err(e.to_string()),
        };
        out.insert(name.to_string(), lookup);
    }
    out
}

/// Plan the generated Applications against the owned live ones. Takes the Applications out of
/// `generated` (the controller needs neither a second copy of them nor the parameter sets).
fn make_plan(appset: &ApplicationSet, ctx: &Context, generated: &mut Output, opts: &PlanOptions) -> Plan {
    let mut generated_names: BTreeSet<String> = generated
        .applications
        .iter()
        .map(|a| pipeline::application_name(a).to_string())
        .collect();
    generated_names.extend(generated.invalid.iter().map(|i| i.name.clone()));
    let owner = Owner {
        name: appset.name_any(),
        uid: appset.metadata.uid.clone().unwrap_or_default(),
    };
    // The owned Applications are released on return: while the writes run, the watch replaces
    // every written Application, and holding the old ones would double their memory.
    let owned_live = ctx.owned(appset);
    plan(
        std::mem::take(&mut generated.applications),
        &generated_names,
        &owned_live.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        &owner,
        opts,
    )
}

/// Argo CD's refresh annotation (set by a webhook on a standby replica, or by hand): expire the
/// cached pull-request listings of the set's repositories and the `scmProvider` listings of the
/// owners it scans, so the forge is asked again.
fn refresh_requested(appset: &ApplicationSet, ctx: &Context) -> bool {
    let refresh = appset
        .annotations()
        .get(REFRESH_ANNOTATION)
        .is_some_and(|v| v == "true");
    if refresh {
        for (owner, repo) in pull_request_repos(appset) {
            ctx.live.github().expire(&owner, &repo);
        }
        for project in merge_request_projects(appset) {
            ctx.live.gitlab().expire(&project);
        }
        for (forge, owner) in scanned_owners(appset, None) {
            use crate::webhook::Forge;
            match forge {
                Forge::GitHub => ctx.live.github().expire_organization(&owner),
                Forge::GitLab => ctx.live.gitlab().expire(&owner),
                Forge::Gitea => ctx.live.gitea().expire_owner(&owner),
                Forge::BitbucketServer | Forge::BitbucketCloud => ctx.live.bitbucket().expire_owner(&owner),
                Forge::AzureDevOps => ctx.live.azure_devops().expire_owner(&owner),
            }
        }
        for (forge, repo) in watched_repositories(appset) {
            match (forge, repo.split_once('/')) {
                (crate::webhook::Forge::Gitea, Some((owner, name))) => ctx.live.gitea().expire(owner, name),
                // The sources whose expiry is registered on the webhook endpoint.
                _ => {
                    if let Some(hooks) = &ctx.config.webhooks {
                        hooks.expire_registered(forge, &repo);
                    }
                }
            }
        }
    }
    refresh
}

/// The set's plan options under the effective policy and delete budget.
fn plan_options(appset: &ApplicationSet, ctx: &Context) -> Result<PlanOptions, String> {
    let policy = Policy::effective(ctx.config.policy, ctx.config.enable_policy_override, &appset.spec);
    let max_deletes = appset
        .annotations()
        .get(MAX_DELETES_ANNOTATION)
        .and_then(|v| v.trim().parse::<usize>().ok())
        .or(ctx.config.max_deletes);
    PlanOptions::for_spec(
        &appset.spec,
        policy,
        &ctx.config.preserved_annotations,
        &ctx.config.preserved_labels,
        max_deletes,
    )
}

/// status: write the outcome's conditions and the owned Applications, publish its Warning Event,
/// remove the refresh annotation when the outcome says so. A failed write becomes the reconcile's
/// error once the status says what failed.
async fn conclude(
    ctx: &Context,
    appset: &ApplicationSet,
    mut status: Status,
    outcome: Outcome,
    rollout: RolloutStatus,
) -> Result<(Outcome, usize), Error> {
    status.conditions(&outcome.conditions);
    status.rollout(rollout);
    let owned = {
        let fresh = ctx.owned(appset);
        status.resources(&fresh.iter().collect::<Vec<_>>(), ctx.config.max_resources_status);
        fresh.len()
    };
    publish_status(ctx, appset, status).await?;
    if let Some((reason, note)) = &outcome.warning {
        warn_event(ctx, appset, reason, note).await;
    }
    if let Some(message) = &outcome.write_error {
        return Err(Error::Write(message.clone()));
    }
    if outcome.clear_refresh {
        let api: Api<ApplicationSet> =
            Api::namespaced(ctx.client.clone(), &appset.namespace().unwrap_or_default());
        let patch = json!({"metadata": {"annotations": {REFRESH_ANNOTATION: null}}});
        api.patch(&appset.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| Error::kube("removing the refresh annotation", e))?;
    }
    Ok((outcome, owned))
}

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
    clusters: &pipeline::KnownClusters,
) -> Result<(), (&'static str, String)> {
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &ctx.app_resource);
    // Applied through the cache's type: the response is only read for its resourceVersion.
    let applier: Api<CachedApplication> = Api::namespaced(ctx.client.clone(), ns);
    let dry_run = ctx.config.dry_run;
    let pp = PatchParams {
        dry_run,
        ..PatchParams::apply(FIELD_MANAGER).force()
    };
    let plain = PatchParams {
        dry_run,
        ..PatchParams::default()
    };
    let dp = DeleteParams {
        dry_run,
        ..DeleteParams::default()
    };
    let concurrency = ctx.config.apply_concurrency.max(1);
    // Ownership transfers first, so that the applies after them own what Argo CD's controller did.
    let adoptions: Vec<_> = plan
        .adopt
        .iter()
        .map(|a| {
            let (api, plain) = (api.clone(), plain.clone());
            async move {
                let r = match serde_json::from_value::<json_patch::Patch>(a.patch.clone()) {
                    Ok(patch) => api
                        .patch(&a.name, &plain, &Patch::<()>::Json(patch))
                        .await
                        .map(|written| ctx.echoes.wrote(ns, &a.name, written.metadata.resource_version)),
                    Err(e) => Err(kube::Error::SerdeError(e)),
                };
                (a.name.clone(), r)
            }
        })
        .collect();
    if let Some((name, e)) = settle(ctx, appset, "Adopted", adoptions, concurrency).await {
        return Err((
            condition::UPDATE_ERROR,
            format!("error adopting Application {ns}/{name} from Argo CD's ApplicationSet controller: {e}"),
        ));
    }
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
        if let Some((name, e)) = settle(ctx, appset, verb, writes, concurrency).await {
            return Err((reason, format!("error applying Application {ns}/{name}: {e}")));
        }
    }
    let deletes: Vec<_> = plan
        .delete
        .iter()
        .map(|name| {
            let (api, name, plain, dp) = (api.clone(), name.clone(), plain.clone(), dp.clone());
            let unreachable = ctx
                .apps
                .get(&ObjectRef::new(&name).within(ns))
                .filter(|app| invalid_destination_with_resources_finalizer(app, clusters));
            async move {
                if let Some(app) = unreachable {
                    // Argo CD's removeFinalizerOnInvalidDestination: Argo CD's application
                    // controller cannot delete the resources of a cluster it does not know, so the
                    // delete would hang on the finalizer forever.
                    let finalizers: Vec<&String> =
                        app.finalizers().iter().filter(|f| *f != RESOURCES_FINALIZER).collect();
                    let patch = json!({"metadata": {"resourceVersion": app.resource_version(), "finalizers": finalizers}});
                    if let Err(e) = api.patch(&name, &plain, &Patch::Merge(&patch)).await {
                        return (name, Err(e));
                    }
                    normal_event(
                        ctx,
                        appset,
                        "Updated",
                        &format!(
                            "Updated Application {name:?} finalizer before deletion, because application has an invalid destination"
                        ),
                    )
                    .await;
                }
                let r = match api.delete(&name, &dp).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                    Err(e) => Err(e),
                };
                (name, r)
            }
        })
        .collect();
    if let Some((name, e)) = settle(ctx, appset, "Deleted", deletes, concurrency).await {
        return Err((
            condition::DELETE_ERROR,
            format!("error deleting Application {ns}/{name}: {e}"),
        ));
    }
    Ok(())
}

/// Whether a live Application carries Argo CD's resources finalizer while its destination is no
/// known cluster.
fn invalid_destination_with_resources_finalizer(
    app: &CachedApplication,
    clusters: &pipeline::KnownClusters,
) -> bool {
    if !app.finalizers().iter().any(|f| f == RESOURCES_FINALIZER) {
        return false;
    }
    let spec: Value = app
        .spec
        .as_deref()
        .and_then(|s| serde_json::from_str(s.get()).ok())
        .unwrap_or(Value::Null);
    let field = |k: &str| {
        spec.pointer(&format!("/destination/{k}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    clusters.problem(field("name"), field("server")).is_some()
}

/// Run the writes, `concurrency` at a time; announce the Applications written successfully and
/// return the failure of the smallest name (deterministic, as Argo CD reports it).
async fn settle(
    ctx: &Context,
    appset: &ApplicationSet,
    verb: &str,
    writes: Vec<impl std::future::Future<Output = (String, Result<(), kube::Error>)>>,
    concurrency: usize,
) -> Option<(String, kube::Error)> {
    let results: Vec<(String, Result<(), kube::Error>)> = futures::stream::iter(writes)
        .buffer_unordered(concurrency)
        .collect()
        .await;
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
    // A dry run says so on every Event: nothing was written.
    let dry = if ctx.config.dry_run { " (dry run)" } else { "" };
    for name in names.iter().take(MAX_EVENTS_PER_KIND) {
        normal_event(
            ctx,
            appset,
            &verb.to_lowercase(),
            &format!("{verb} Application {name:?}{dry}"),
        )
        .await;
    }
    if names.len() > MAX_EVENTS_PER_KIND {
        let more = names.len() - MAX_EVENTS_PER_KIND;
        normal_event(
            ctx,
            appset,
            &verb.to_lowercase(),
            &format!("{verb} {more} more Applications{dry}"),
        )
        .await;
    }
}

/// The ApplicationSet is being deleted.
#[instrument(skip_all, fields(appset = %appset.name_any()))]
pub async fn cleanup(appset: Arc<ApplicationSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = appset.namespace().unwrap_or_default();
    ctx.metrics.forget(&ns, &appset.name_any());
    let policy = Policy::effective(ctx.config.policy, ctx.config.enable_policy_override, &appset.spec);
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ns, &ctx.app_resource);
    // The store may lag; ask the API server for the owned Applications.
    let live = Api::<CachedApplication>::namespaced(ctx.client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube("listing Applications", e))?;
    let all: Vec<Arc<CachedApplication>> = live.items.into_iter().map(Arc::new).collect();
    let owned = owned_by(&all, &appset);
    // As Argo CD: `preserveResourcesOnDeletion` keeps the workloads (the Applications carry no
    // resources finalizer), not the Applications; only a policy that forbids deletes keeps them.
    if policy.allow_delete()
        && ctx.config.progressive_syncs
        && rollout::deletion_order_reversed(appset.spec.strategy.as_ref())
    {
        reverse_delete(&ctx, &appset, &api, &owned).await?;
    }
    if policy.allow_delete() {
        normal_event(
            &ctx,
            &appset,
            "Deleting",
            &format!("Deleting {} Applications through garbage collection", owned.len()),
        )
        .await;
        return Ok(Action::await_change());
    }
    // Release, as Argo CD: without the owner reference garbage collection leaves them alone.
    let uid = appset.metadata.uid.clone().unwrap_or_default();
    for app in owned {
        let name = app.name_any();
        let refs: Vec<Value> = app
            .owner_references()
            .iter()
            .filter(|o| o.uid != uid && o.name != appset.name_any())
            .map(|o| serde_json::to_value(o).unwrap_or(Value::Null))
            .collect();
        let patch = json!({"metadata": {
            "resourceVersion": app.resource_version(),
            "ownerReferences": if refs.is_empty() { Value::Null } else { Value::Array(refs) },
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

/// How often a deletion in reverse step order looks again (Argo CD's 10 seconds).
const REVERSE_DELETION_REQUEUE: Duration = Duration::from_secs(10);

/// How long an Application may take to go before a deletion in reverse step order reports it
/// (Argo CD's 2 minutes).
const REVERSE_DELETION_STUCK: Duration = Duration::from_secs(120);

/// `deletionOrder: Reverse` (Argo CD's `PerformReverseDeletion`): delete the owned Applications
/// one at a time, the last step's first, each only once the one before is gone. Returns when
/// every Application in a step is gone (those in no step are left to garbage collection);
/// otherwise [`Error::Waiting`] keeps the ApplicationSet's finalizer and looks again in 10
/// seconds. `owned` was listed from the API server, not the cache, so an Application the
/// cache still shows after it went cannot hold the deletion up (argo-cd's stale-cache check).
async fn reverse_delete(
    ctx: &Context,
    appset: &ApplicationSet,
    api: &Api<DynamicObject>,
    owned: &[&Arc<CachedApplication>],
) -> Result<(), Error> {
    let steps = appset
        .spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_sync.as_ref())
        .map(|r| r.steps.as_slice())
        .unwrap_or_default();
    let labels: Vec<(String, BTreeMap<String, String>)> =
        owned.iter().map(|a| (a.name_any(), a.labels().clone())).collect();
    let assigned = rollout::assign(steps, labels.iter().map(|(n, l)| (n.as_str(), l)));
    let mut order: Vec<(usize, &Arc<CachedApplication>)> = owned
        .iter()
        .filter_map(|a| {
            assigned
                .step_of
                .get(&a.name_any())
                .map(|s| (steps.len() - 1 - s, *a))
        })
        .collect();
    order.sort_by(|(s, a), (t, b)| (s, a.name_any()).cmp(&(t, b.name_any())));
    let Some((_, next)) = order.first() else {
        return Ok(());
    };
    let name = next.name_any();
    let step = assigned.status_step(&name);
    if let Some(since) = &next.metadata.deletion_timestamp {
        let age = k8s_openapi::jiff::Timestamp::now().duration_since(since.0);
        if age.as_secs() >= REVERSE_DELETION_STUCK.as_secs() as i64 {
            return Err(Error::Write(format!(
                "application has not been deleted in over 2 minutes: Application {name} (step {step}) is still being deleted"
            )));
        }
        return Err(Error::Waiting(
            REVERSE_DELETION_REQUEUE,
            format!("waiting for Application {name} (step {step}) to be deleted"),
        ));
    }
    let dp = DeleteParams {
        dry_run: ctx.config.dry_run,
        ..DeleteParams::default()
    };
    match api.delete(&name, &dp).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => return Err(Error::kube(format!("deleting Application {name}"), e)),
    }
    normal_event(
        ctx,
        appset,
        "Deleted",
        &format!("Deleted Application {name:?} (step {step}, deletion order Reverse)"),
    )
    .await;
    Err(Error::Waiting(
        REVERSE_DELETION_REQUEUE,
        format!("deleted Application {name} (step {step}); waiting for it to go"),
    ))
}

async fn publish_status(ctx: &Context, appset: &ApplicationSet, status: Status) -> Result<(), Error> {
    let key = (appset.namespace().unwrap_or_default(), appset.name_any());
    let unsure = ctx
        .unsure_status
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&key);
    if status.after == status.before && !unsure {
        return Ok(());
    }
    let api: Api<ApplicationSet> =
        Api::namespaced(ctx.client.clone(), &appset.namespace().unwrap_or_default());
    // A merge patch leaves out what is absent: a field the status had and no longer has (an
    // emptied `applicationStatus`, say) is removed with `null`.
    let mut after = serde_json::to_value(&status.after).unwrap_or(Value::Null);
    if let (Value::Object(before), Value::Object(after)) = (
        serde_json::to_value(&status.before).unwrap_or(Value::Null),
        &mut after,
    ) {
        for key in before.keys() {
            if !after.contains_key(key) {
                after.insert(key.clone(), Value::Null);
            }
        }
    }
    let patch = json!({ "status": after });
    api.patch_status(&appset.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| Error::kube("patching ApplicationSet status", e))?;
    if unsure {
        ctx.unsure_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }
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
