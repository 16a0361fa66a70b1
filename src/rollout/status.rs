//! Progressive sync's bookkeeping per Application: Argo CD's `Waiting → Pending → Progressing →
//! Healthy` transitions (`UpdateApplicationSetApplicationStatus`), which steps may sync
//! (`getAppsToSync`), the promotion of Waiting Applications to Pending under `maxUpdate`
//! (`UpdateApplicationSetApplicationStatusProgress`), the `RolloutProgressing` condition, and the
//! sync operation Argo CD's ApplicationSet controller writes (`syncApplication`).
//!
//! Stage: plan. Pure: no I/O, and no clock but the `now` it is given.
//!
//! Two deliberate differences from Argo CD, each a failure its users report:
//!
//! - **Fresh status only** (argo-cd#22558). Argo CD marks an Application whose spec it just
//!   changed Healthy when its sync status says `Synced` — a status the application controller
//!   computed against the *old* spec — and moves the rollout to the next step without a sync.
//!   Here a spec change never takes that shortcut in the pass that sees it, and later only on a
//!   comparison made after the change (`reconciledAt` strictly after the transition). A Pending
//!   Application becomes Progressing only on an observation made after the operation appset wrote
//!   (the Application's `metadata.generation` — which every write of a resource without a status
//!   subresource increments — beyond the one appset's write returned, and an operation started at
//!   or after the promotion); Healthy only once that sync is over (no operation left, a phase
//!   other than `Running`, and a health computed no earlier than the sync finished).
//! - **Halt on failure**. Argo CD waits forever on an Application of the current step whose sync
//!   failed or that turned Degraded, without saying so. Here such an Application halts the
//!   rollout ([`Halt`]): nothing more is promoted, in its step or any later one, until it recovers
//!   or its ApplicationSet changes it (a pending change resets it to Waiting).
//!
//! And one correction: an Application in no step does not count towards step 1's maxUpdate
//! percentage (Argo CD's step map defaults a missing name to index 0).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::{INVALID_MAX_UPDATE_LIMIT, Steps, ValidationIssues};
use crate::crd::{ApplicationSetApplicationStatus, ApplicationSetRolloutStep};

/// The Application waits for its step (or has pending changes).
pub const WAITING: &str = "Waiting";
/// appset triggered its sync and waits for it to start.
pub const PENDING: &str = "Pending";
/// Its sync started (or it was already synced but not yet healthy).
pub const PROGRESSING: &str = "Progressing";
/// Synced and healthy.
pub const HEALTHY: &str = "Healthy";

const REVISION_AND_SPEC_CHANGED: &str =
    "Application has pending changes (revision and spec differ), setting status to Waiting";
const REVISION_CHANGED: &str = "Application has pending changes, setting status to Waiting";
const SPEC_CHANGED: &str = "Application has pending changes (spec differs), setting status to Waiting";
const NO_STATUS: &str = "No Application status found, defaulting status to Waiting";
const MOVED_TO_PENDING: &str =
    "Application moved to Pending status, watching for the Application resource to start Progressing";

/// The `Reason` info line of the sync operation.
pub const SYNC_REASON: &str = "ApplicationSet RollingSync triggered a sync of this Application resource";

/// What progressive sync reads of a live Application (Argo CD's application controller writes
/// all of it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolloutState {
    /// `status.sync.status`.
    pub sync_status: Option<String>,
    /// `status.health.status`.
    pub health_status: Option<String>,
    /// `status.health.message`.
    pub health_message: Option<String>,
    /// `status.sync.revisions`, or `[status.sync.revision]` (Argo CD's `GetRevisions`).
    pub revisions: Vec<String>,
    /// `status.reconciledAt`.
    pub reconciled_at: Option<String>,
    /// A top-level `operation` is present (a sync not yet finished by the application controller).
    pub operation: bool,
    /// `status.operationState.phase`.
    pub operation_phase: Option<String>,
    /// `status.operationState.message`.
    pub operation_message: Option<String>,
    /// `status.operationState.startedAt`.
    pub started_at: Option<String>,
    /// `status.operationState.finishedAt`.
    pub finished_at: Option<String>,
    /// A `status.conditions[]` of type `InvalidSpecError` or `UnknownError`.
    pub error_condition: bool,
    /// `metadata.generation`.
    pub generation: Option<i64>,
}

/// A sync operation appset wrote: the Pending transition it belongs to and the Application's
/// `metadata.generation` the write returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The Pending status's `lastTransitionTime`.
    pub pending_since: String,
    /// `metadata.generation` after the write.
    pub generation: i64,
}

/// Why a rollout stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Halt {
    /// The Application.
    pub application: String,
    /// Its step, 1-based.
    pub step: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Halt {
    /// The `RolloutProgressing` message of a halted rollout.
    pub fn message(&self) -> String {
        format!(
            "ApplicationSet rollout is halted at step {}: {}; no further Application is synced until it recovers or the ApplicationSet changes it",
            self.step, self.reason
        )
    }
}

/// One reconcile's progressive sync.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rollout {
    /// The new `status.applicationStatus`, sorted by Application name.
    pub statuses: Vec<ApplicationSetApplicationStatus>,
    /// Applications whose sync appset triggers now (Pending and allowed to sync).
    pub sync: Vec<String>,
    /// The first step (1-based) not yet completely Healthy; `None`: the rollout is complete.
    pub progressing_step: Option<String>,
    /// The rollout is halted.
    pub halt: Option<Halt>,
    /// The configuration's problems (step assignment's, plus invalid maxUpdate values).
    pub issues: ValidationIssues,
    /// (Application, from, to) of every status change, for logs.
    pub transitions: Vec<(String, String, String)>,
}

impl Rollout {
    /// The number of statuses per status name.
    pub fn counts(&self) -> BTreeMap<&str, usize> {
        let mut out = BTreeMap::new();
        for s in &self.statuses {
            *out.entry(s.status.as_str()).or_default() += 1;
        }
        out
    }
}

/// What a reconcile knows for progressive sync.
pub struct Input<'a> {
    /// The RollingSync steps of the set.
    pub steps: &'a [ApplicationSetRolloutStep],
    /// Step assignment of the generated Applications ([`super::assign`]).
    pub assigned: &'a Steps,
    /// The previous `status.applicationStatus`.
    pub previous: &'a [ApplicationSetApplicationStatus],
    /// The owned live Applications, by name.
    pub live: &'a BTreeMap<String, RolloutState>,
    /// Live Applications whose desired spec differs from the live one.
    pub spec_changed: &'a BTreeSet<String>,
    /// The operations appset wrote and still remembers, by Application.
    pub triggered: &'a BTreeMap<String, Trigger>,
    /// The time of this reconcile.
    pub now: Timestamp,
}

/// Run one reconcile's progressive sync: new statuses, the Applications to sync now, the
/// progressing step, and whether the rollout is halted.
pub fn progress(input: &Input<'_>) -> Rollout {
    let now = seconds(input.now);
    let mut out = Rollout {
        issues: input.assigned.issues.clone(),
        ..Rollout::default()
    };
    let previous: BTreeMap<&str, &ApplicationSetApplicationStatus> = input
        .previous
        .iter()
        .map(|s| (s.application.as_str(), s))
        .collect();
    for (name, live) in input.live {
        let prev = previous.get(name.as_str()).copied();
        let next = transition(name, prev, live, input, &now);
        let from = prev.map_or("", |p| p.status.as_str());
        if from != next.status {
            out.transitions
                .push((name.clone(), from.to_string(), next.status.clone()));
        }
        out.statuses.push(next);
    }
    let allowed = apps_to_sync(input.assigned, input.live, &out.statuses);
    out.halt = halt(&out.statuses, input.live);
    let halted = out.halt.is_some();
    promote(&mut out, input, &allowed, &now, halted);
    out.sync = out
        .statuses
        .iter()
        .filter(|s| s.status == PENDING && allowed.contains(&s.application))
        .map(|s| s.application.clone())
        .collect();
    out.progressing_step = progressing_step(&out.statuses, input.steps.len());
    out
}

/// One Application's next status (`UpdateApplicationSetApplicationStatus`).
fn transition(
    name: &str,
    prev: Option<&ApplicationSetApplicationStatus>,
    live: &RolloutState,
    input: &Input<'_>,
    now: &str,
) -> ApplicationSetApplicationStatus {
    let mut next = prev.cloned().unwrap_or_else(|| ApplicationSetApplicationStatus {
        application: name.to_string(),
        status: WAITING.into(),
        message: NO_STATUS.into(),
        step: String::new(),
        target_revisions: live.revisions.clone(),
        last_transition_time: Some(now.to_string()),
    });
    next.step = input.assigned.status_step(name).to_string();
    let set = |next: &mut ApplicationSetApplicationStatus, status: &str, message: &str| {
        next.status = status.into();
        next.message = message.into();
        next.last_transition_time = Some(now.to_string());
    };
    // An Application seen before its first comparison has no revision; its first one is not a
    // change (Argo CD resets it to Waiting and, when it was Pending, syncs it twice).
    let revisions_changed = !next.target_revisions.is_empty() && next.target_revisions != live.revisions;
    if next.target_revisions.is_empty() {
        next.target_revisions = live.revisions.clone();
    }
    let spec_changed = input.spec_changed.contains(name);
    if revisions_changed || spec_changed {
        next.target_revisions = live.revisions.clone();
        let message = match (revisions_changed, spec_changed) {
            (true, true) => REVISION_AND_SPEC_CHANGED,
            (true, false) => REVISION_CHANGED,
            _ => SPEC_CHANGED,
        };
        set(&mut next, WAITING, message);
    }
    let synced = live.sync_status.as_deref() == Some("Synced");
    let healthy = live.health_status.as_deref() == Some("Healthy");
    let since = next.last_transition_time.as_deref().and_then(parse);
    if next.status == WAITING {
        // Already synced: no sync needed. Only on a comparison made against the current spec:
        // never in the pass that changes it, and after a spec change only once the application
        // controller compared again.
        let spec_pending = next.message == SPEC_CHANGED || next.message == REVISION_AND_SPEC_CHANGED;
        let fresh = !spec_changed && (!spec_pending || after(live.reconciled_at.as_deref(), since, false));
        if synced && fresh {
            if healthy {
                set(
                    &mut next,
                    HEALTHY,
                    "Application resource has synced, updating status to Healthy",
                );
            } else {
                set(
                    &mut next,
                    PROGRESSING,
                    "Application resource has synced, updating status to Progressing",
                );
            }
        }
        return next;
    }
    match prev.map(|p| p.status.as_str()) {
        Some(PENDING) => {
            let started = match input.triggered.get(name) {
                // appset wrote the operation: an observation after that write, of an operation
                // started no earlier than the promotion.
                Some(t) => {
                    live.generation.is_some_and(|g| g > t.generation)
                        && after(live.started_at.as_deref(), since, true)
                }
                // Not remembered (appset restarted): Argo CD's rule.
                None => {
                    (live.reconciled_at.is_none() || after(live.reconciled_at.as_deref(), since, false))
                        && after(live.started_at.as_deref(), since, false)
                }
            };
            if started {
                let message = match live.operation_phase.as_deref() {
                    Some("Succeeded") => {
                        "Application resource completed a sync successfully, updating status from Pending to Progressing"
                    }
                    Some("Failed" | "Error") => {
                        "Application resource completed a sync, updating status from Pending to Progressing"
                    }
                    _ => {
                        "Application resource became Progressing, updating status from Pending to Progressing"
                    }
                };
                set(&mut next, PROGRESSING, message);
            } else if live.error_condition
                && (live.reconciled_at.is_none() || after(live.reconciled_at.as_deref(), since, false))
            {
                set(
                    &mut next,
                    PROGRESSING,
                    "Application resource has error and cannot sync, updating status to Progressing",
                );
            }
        }
        Some(PROGRESSING) => {
            // Healthy once the sync is over and the health was computed after it finished.
            let settled = !live.operation
                && live.operation_phase.as_deref() != Some("Running")
                && match (
                    live.reconciled_at.as_deref(),
                    live.finished_at.as_deref().and_then(parse),
                ) {
                    (Some(r), Some(f)) => after(Some(r), Some(f), true),
                    _ => true,
                };
            if healthy && synced && settled {
                set(
                    &mut next,
                    HEALTHY,
                    "Application resource became Healthy, updating status from Progressing to Healthy",
                );
            }
        }
        _ => {}
    }
    next
}

/// The Applications allowed to sync (`getAppsToSync`): every Application of step 1, and of each
/// next step once every Application of the steps before it exists and is Healthy.
fn apps_to_sync(
    assigned: &Steps,
    live: &BTreeMap<String, RolloutState>,
    statuses: &[ApplicationSetApplicationStatus],
) -> BTreeSet<String> {
    let by_name: BTreeMap<&str, &str> = statuses
        .iter()
        .map(|s| (s.application.as_str(), s.status.as_str()))
        .collect();
    let mut out = BTreeSet::new();
    for step in &assigned.apps {
        out.extend(step.iter().cloned());
        let done = step
            .iter()
            .all(|a| live.contains_key(a) && by_name.get(a.as_str()) == Some(&HEALTHY));
        if !done {
            break;
        }
    }
    out
}

/// An Application appset synced that failed: Progressing (its sync started after appset's
/// trigger) and either Degraded or its sync ended `Failed` / `Error`. The first by name.
fn halt(statuses: &[ApplicationSetApplicationStatus], live: &BTreeMap<String, RolloutState>) -> Option<Halt> {
    statuses.iter().filter(|s| s.status == PROGRESSING).find_map(|s| {
        let app = live.get(&s.application)?;
        let reason = if app.health_status.as_deref() == Some("Degraded") {
            match app.health_message.as_deref().filter(|m| !m.is_empty()) {
                Some(m) => format!("Application '{}' is Degraded: {m}", s.application),
                None => format!("Application '{}' is Degraded", s.application),
            }
        } else if !app.operation && matches!(app.operation_phase.as_deref(), Some("Failed" | "Error")) {
            let phase = app.operation_phase.as_deref().unwrap_or_default();
            match app.operation_message.as_deref().filter(|m| !m.is_empty()) {
                Some(m) => format!("the sync of Application '{}' ended {phase}: {m}", s.application),
                None => format!("the sync of Application '{}' ended {phase}", s.application),
            }
        } else {
            return None;
        };
        Some(Halt {
            application: s.application.clone(),
            step: s.step.clone(),
            reason,
        })
    })
}

/// Promote Waiting Applications allowed to sync to Pending while their step has fewer than
/// maxUpdate Pending or Progressing (`UpdateApplicationSetApplicationStatusProgress`), in name
/// order; none while the rollout is `halted`. An invalid maxUpdate is recorded once per step; as in Argo CD, a percentage that does
/// not parse then allows one at a time and an integer-typed one is never invalid.
fn promote(out: &mut Rollout, input: &Input<'_>, allowed: &BTreeSet<String>, now: &str, halted: bool) {
    let n = input.steps.len();
    let mut total = vec![0usize; n];
    let mut updating = vec![0usize; n];
    let step_of = |name: &str| input.assigned.step_of.get(name).copied();
    for s in &out.statuses {
        if let Some(i) = step_of(&s.application) {
            total[i] += 1;
            if s.status == PENDING || s.status == PROGRESSING {
                updating[i] += 1;
            }
        }
    }
    for s in out.statuses.iter_mut() {
        let Some(i) = step_of(&s.application) else {
            continue;
        };
        // Scaled for every status of the step, as Argo CD does: an invalid value is reported
        // whatever the step's progress.
        let limit = match &input.steps[i].max_update {
            None => usize::MAX,
            Some(m) => out
                .issues
                .scale_max_update(i, m, total[i])
                .unwrap_or(INVALID_MAX_UPDATE_LIMIT),
        };
        if halted || s.status != WAITING || !allowed.contains(&s.application) {
            continue;
        }
        if updating[i] >= limit {
            continue;
        }
        s.status = PENDING.into();
        s.message = MOVED_TO_PENDING.into();
        s.last_transition_time = Some(now.to_string());
        out.transitions
            .push((s.application.clone(), WAITING.into(), PENDING.into()));
        updating[i] += 1;
    }
}

/// The first step (1-based) with an Application that is not Healthy (`getProgressingCondition`);
/// steps without Applications count as complete.
fn progressing_step(statuses: &[ApplicationSetApplicationStatus], steps: usize) -> Option<String> {
    (1..=steps)
        .map(|i| i.to_string())
        .find(|step| statuses.iter().any(|s| &s.step == step && s.status != HEALTHY))
}

/// Disable automated sync on a generated Application of a RollingSync set (appset triggers its
/// syncs): `spec.syncPolicy.automated.enabled = false`, as Argo CD 3 does. Returns whether
/// automated sync was on with `prune`, which the triggered sync then uses.
pub fn disable_automated(app: &mut Value) -> bool {
    let Some(automated) = app
        .pointer_mut("/spec/syncPolicy/automated")
        .and_then(Value::as_object_mut)
    else {
        return false;
    };
    let enabled = automated.get("enabled").and_then(Value::as_bool) != Some(false);
    let prune = enabled && automated.get("prune").and_then(Value::as_bool) == Some(true);
    automated.insert("enabled".into(), Value::Bool(false));
    prune
}

/// The sync operation Argo CD's ApplicationSet controller writes (`syncApplication`), for a
/// generated Application: its `syncPolicy.syncOptions` and `retry` (or a limit of 5, the
/// application controller's default for automated syncs), and `prune` as its automated policy
/// had it.
pub fn sync_operation(app: &Value, prune: bool) -> Value {
    let policy = app.pointer("/spec/syncPolicy").filter(|p| p.is_object());
    let mut sync = json!({});
    let mut retry = json!({"limit": 5});
    if let Some(p) = policy {
        if let Some(r) = p.get("retry").filter(|r| r.is_object()) {
            retry = r.clone();
        }
        if let Some(o) = p.get("syncOptions").filter(|o| o.is_array()) {
            sync["syncOptions"] = o.clone();
        }
        if prune {
            sync["prune"] = Value::Bool(true);
        }
    }
    json!({
        "initiatedBy": {"username": "applicationset-controller", "automated": true},
        "info": [{"name": "Reason", "value": SYNC_REASON}],
        "sync": sync,
        "retry": retry,
    })
}

/// `now` as Kubernetes writes times: RFC 3339, whole seconds.
pub fn seconds(now: Timestamp) -> String {
    Timestamp::from_second(now.as_second()).unwrap_or(now).to_string()
}

fn parse(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

/// Whether time `t` is after `since` (at whole seconds, as Kubernetes stores them); `or_equal`
/// accepts the same second. A missing or unreadable `t` is not after anything; a missing `since`
/// is before everything.
fn after(t: Option<&str>, since: Option<Timestamp>, or_equal: bool) -> bool {
    let Some(t) = t.and_then(parse) else {
        return false;
    };
    let Some(since) = since else { return true };
    let (t, since) = (t.as_second(), since.as_second());
    if or_equal { t >= since } else { t > since }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    use super::*;
    use crate::{crd::ApplicationMatchExpression, rollout::assign};

    fn env_step(env: &str, max: Option<IntOrString>) -> ApplicationSetRolloutStep {
        ApplicationSetRolloutStep {
            match_expressions: vec![ApplicationMatchExpression {
                key: "env".into(),
                operator: "In".into(),
                values: vec![env.into()],
            }],
            max_update: max,
        }
    }

    /// A world of 9 Applications (dev-1..3, staging-1..3, prod-1..3) over 3 steps with maxUpdate
    /// 1 / 50% / 100%, and a clock in seconds.
    struct World {
        steps: Vec<ApplicationSetRolloutStep>,
        assigned: Steps,
        live: BTreeMap<String, RolloutState>,
        statuses: Vec<ApplicationSetApplicationStatus>,
        triggered: BTreeMap<String, Trigger>,
        spec_changed: BTreeSet<String>,
        clock: i64,
    }

    impl World {
        fn new() -> World {
            let steps = vec![
                env_step("dev", Some(IntOrString::Int(1))),
                env_step("staging", Some(IntOrString::String("50%".into()))),
                env_step("prod", Some(IntOrString::String("100%".into()))),
            ];
            let mut labels = BTreeMap::new();
            let mut live = BTreeMap::new();
            for env in ["dev", "staging", "prod"] {
                for i in 1..=3 {
                    let name = format!("{env}-{i}");
                    labels.insert(
                        name.clone(),
                        BTreeMap::from([("env".to_string(), env.to_string())]),
                    );
                    live.insert(
                        name,
                        RolloutState {
                            sync_status: Some("OutOfSync".into()),
                            health_status: Some("Missing".into()),
                            revisions: vec!["r1".into()],
                            reconciled_at: Some(Self::at(1000)),
                            generation: Some(1),
                            ..RolloutState::default()
                        },
                    );
                }
            }
            let assigned = assign(&steps, labels.iter().map(|(n, l)| (n.as_str(), l)));
            World {
                steps,
                assigned,
                live,
                statuses: Vec::new(),
                triggered: BTreeMap::new(),
                spec_changed: BTreeSet::new(),
                clock: 1000,
            }
        }

        fn at(secs: i64) -> String {
            Timestamp::from_second(secs).unwrap().to_string()
        }

        /// One reconcile, one second after the last; returns the Applications to sync.
        fn reconcile(&mut self) -> Rollout {
            self.clock += 1;
            let r = progress(&Input {
                steps: &self.steps,
                assigned: &self.assigned,
                previous: &self.statuses,
                live: &self.live,
                spec_changed: &self.spec_changed,
                triggered: &self.triggered,
                now: Timestamp::from_second(self.clock).unwrap(),
            });
            self.statuses = r.statuses.clone();
            self.spec_changed.clear();
            for name in &r.sync {
                let since = self.status(name).last_transition_time.clone().unwrap();
                let app = self.live.get_mut(name).unwrap();
                if self.triggered.get(name).is_some_and(|t| t.pending_since == since) {
                    continue;
                }
                app.operation = true;
                app.generation = Some(app.generation.unwrap() + 1);
                self.triggered.insert(
                    name.clone(),
                    Trigger {
                        pending_since: since,
                        generation: app.generation.unwrap(),
                    },
                );
            }
            r
        }

        /// The application controller runs every pending operation to the end: `phase`, then
        /// `health`.
        fn run_operations(&mut self, phase: &str, health: &str) {
            self.clock += 1;
            let now = Self::at(self.clock);
            for app in self.live.values_mut().filter(|a| a.operation) {
                app.operation = false;
                app.operation_phase = Some(phase.into());
                app.started_at = Some(now.clone());
                app.finished_at = Some(now.clone());
                app.reconciled_at = Some(now.clone());
                app.sync_status = Some(
                    if phase == "Succeeded" {
                        "Synced"
                    } else {
                        "OutOfSync"
                    }
                    .into(),
                );
                app.health_status = Some(health.into());
                app.generation = Some(app.generation.unwrap() + 2);
            }
        }

        fn status(&self, name: &str) -> &ApplicationSetApplicationStatus {
            self.statuses.iter().find(|s| s.application == name).unwrap()
        }
    }

    #[test]
    fn a_rollout_syncs_step_by_step_within_max_update() {
        let mut w = World::new();
        let mut order: Vec<Vec<String>> = Vec::new();
        for _ in 0..20 {
            let r = w.reconcile();
            if !r.sync.is_empty() {
                order.push(r.sync.clone());
            }
            w.run_operations("Succeeded", "Healthy");
        }
        let flat: Vec<&str> = order.iter().flatten().map(String::as_str).collect();
        // Triggered once each; dev one at a time, staging 50% of 3 = 1 at a time, prod all at once.
        assert_eq!(
            order,
            vec![
                vec!["dev-1"],
                vec!["dev-2"],
                vec!["dev-3"],
                vec!["staging-1"],
                vec!["staging-2"],
                vec!["staging-3"],
                vec!["prod-1", "prod-2", "prod-3"],
            ],
            "{flat:?}"
        );
        assert!(w.statuses.iter().all(|s| s.status == HEALTHY), "{:?}", w.statuses);
        let r = w.reconcile();
        assert_eq!(r.progressing_step, None);
        assert!(r.sync.is_empty());
    }

    #[test]
    fn a_new_status_starts_waiting_with_argo_s_message_and_step() {
        let mut w = World::new();
        w.steps[0].max_update = Some(IntOrString::Int(0));
        let r = w.reconcile();
        let s = w.status("dev-1");
        assert_eq!(
            (s.status.as_str(), s.message.as_str(), s.step.as_str()),
            (WAITING, NO_STATUS, "1")
        );
        assert_eq!(s.target_revisions, vec!["r1"]);
        assert_eq!(w.status("prod-2").step, "3");
        // maxUpdate 0 blocks step 1, so nothing syncs and the rollout stays at step 1.
        assert!(r.sync.is_empty());
        assert_eq!(r.progressing_step.as_deref(), Some("1"));
    }

    #[test]
    fn a_pending_application_waits_for_an_operation_started_after_appset_wrote_its_own() {
        let mut w = World::new();
        let r = w.reconcile();
        assert_eq!(r.sync, vec!["dev-1"]);
        // A stale observation: an older finished sync, observed before appset's write came back.
        let app = w.live.get_mut("dev-1").unwrap();
        app.operation = false;
        app.generation = Some(1);
        app.operation_phase = Some("Succeeded".into());
        app.started_at = Some(World::at(999));
        app.sync_status = Some("Synced".into());
        app.health_status = Some("Healthy".into());
        w.reconcile();
        assert_eq!(w.status("dev-1").status, PENDING);
        assert_eq!(w.status("dev-2").status, WAITING, "the step does not advance");
        // The real sync: started after the promotion, observed after appset's write.
        w.live.get_mut("dev-1").unwrap().operation = true;
        w.run_operations("Succeeded", "Healthy");
        w.reconcile();
        assert_eq!(w.status("dev-1").status, PROGRESSING);
        w.reconcile();
        assert_eq!(w.status("dev-1").status, HEALTHY);
    }

    #[test]
    fn a_spec_change_never_takes_the_synced_shortcut_on_a_stale_comparison() {
        let mut w = World::new();
        for _ in 0..20 {
            w.reconcile();
            w.run_operations("Succeeded", "Healthy");
        }
        assert!(w.statuses.iter().all(|s| s.status == HEALTHY));
        // The set changes every Application's spec; the live status still says Synced/Healthy,
        // computed against the old spec.
        w.spec_changed = w.live.keys().cloned().collect();
        let r = w.reconcile();
        assert_eq!(w.status("prod-1").status, WAITING);
        assert_eq!(w.status("prod-1").message, SPEC_CHANGED);
        assert_eq!(r.sync, vec!["dev-1"], "only step 1 within maxUpdate");
        // A reconcile with the same stale comparison (reconciledAt before the change): no
        // shortcut, step 2 does not start.
        let r = w.reconcile();
        assert_eq!(w.status("staging-1").status, WAITING);
        assert!(!r.sync.iter().any(|n| n.starts_with("staging")));
        // A fresh comparison says the staging apps are already synced to the new spec.
        let fresh = World::at(w.clock + 5);
        for n in ["staging-1", "staging-2", "staging-3"] {
            w.live.get_mut(n).unwrap().reconciled_at = Some(fresh.clone());
        }
        w.clock += 5;
        w.reconcile();
        assert_eq!(w.status("staging-1").status, HEALTHY);
    }

    #[test]
    fn a_new_revision_resets_to_waiting_and_a_fresh_synced_status_counts_at_once() {
        let mut w = World::new();
        for _ in 0..20 {
            w.reconcile();
            w.run_operations("Succeeded", "Healthy");
        }
        w.live.get_mut("dev-1").unwrap().revisions = vec!["r2".into()];
        w.live.get_mut("dev-2").unwrap().revisions = vec!["r2".into()];
        w.live.get_mut("dev-2").unwrap().sync_status = Some("OutOfSync".into());
        w.reconcile();
        // dev-1's comparison already reports the new revision as synced.
        assert_eq!(w.status("dev-1").status, HEALTHY);
        assert_eq!(w.status("dev-1").target_revisions, vec!["r2"]);
        assert_eq!(w.status("dev-2").status, PENDING);
    }

    #[test]
    fn the_first_comparison_of_a_new_application_is_not_a_pending_change() {
        let mut w = World::new();
        for app in w.live.values_mut() {
            app.revisions.clear();
        }
        let r = w.reconcile();
        assert_eq!(r.sync, vec!["dev-1"]);
        // The application controller compares it for the first time while the sync runs.
        for app in w.live.values_mut() {
            app.revisions = vec!["r1".into()];
        }
        w.reconcile();
        assert_eq!(w.status("dev-1").status, PENDING, "not reset to Waiting");
        assert_eq!(w.status("dev-1").target_revisions, vec!["r1"]);
        assert_eq!(w.status("dev-2").message, NO_STATUS);
    }

    #[test]
    fn a_degraded_application_halts_the_rollout_until_it_recovers() {
        let mut w = World::new();
        // dev done, staging-1 done; staging-2 syncs and turns Degraded.
        let mut reached = false;
        for _ in 0..20 {
            let r = w.reconcile();
            if r.sync == vec!["staging-2"] {
                reached = true;
                break;
            }
            w.run_operations("Succeeded", "Healthy");
        }
        assert!(reached, "{:?}", w.statuses);
        w.run_operations("Succeeded", "Degraded");
        w.live.get_mut("staging-2").unwrap().health_message =
            Some("Deployment exceeded its progress deadline".into());
        for _ in 0..3 {
            let r = w.reconcile();
            let halt = r.halt.expect("halted");
            assert_eq!(halt.application, "staging-2");
            assert_eq!(halt.step, "2");
            assert!(
                halt.message().contains("Degraded: Deployment exceeded"),
                "{}",
                halt.message()
            );
            assert!(r.sync.is_empty(), "nothing more is promoted");
        }
        assert_eq!(w.status("staging-3").status, WAITING);
        assert_eq!(w.status("prod-1").status, WAITING);
        // It recovers: the rollout resumes.
        w.live.get_mut("staging-2").unwrap().health_status = Some("Healthy".into());
        w.reconcile();
        let r = w.reconcile();
        assert!(r.halt.is_none());
        assert_eq!(r.sync, vec!["staging-3"]);
    }

    #[test]
    fn a_failed_sync_halts_with_its_message() {
        let mut w = World::new();
        w.reconcile();
        w.run_operations("Failed", "Missing");
        w.live.get_mut("dev-1").unwrap().operation_message =
            Some("one or more objects failed to apply".into());
        let r = w.reconcile();
        assert_eq!(w.status("dev-1").status, PROGRESSING);
        assert_eq!(
            w.status("dev-1").message,
            "Application resource completed a sync, updating status from Pending to Progressing"
        );
        let halt = r.halt.expect("halted");
        assert_eq!(
            halt.reason,
            "the sync of Application 'dev-1' ended Failed: one or more objects failed to apply"
        );
    }

    #[test]
    fn an_application_in_no_step_is_never_synced_and_does_not_count_in_step_one() {
        let mut w = World::new();
        w.steps[0].max_update = Some(IntOrString::String("50%".into()));
        w.live.insert("tools".into(), w.live["dev-1"].clone());
        for _ in 0..20 {
            let r = w.reconcile();
            assert!(!r.sync.contains(&"tools".to_string()));
            // 50% of step 1's 3 Applications: one at a time, however many Applications are in no step.
            assert!(r.sync.iter().filter(|n| n.starts_with("dev")).count() <= 1);
            w.run_operations("Succeeded", "Healthy");
        }
        assert_eq!(w.status("tools").step, "-1");
        assert_eq!(w.status("tools").status, WAITING);
    }

    #[test]
    fn an_invalid_max_update_is_reported_once_and_allows_one_at_a_time() {
        let mut w = World::new();
        w.steps[0].max_update = Some(IntOrString::String("abc".into()));
        let r = w.reconcile();
        assert_eq!(r.sync, vec!["dev-1"]);
        assert_eq!(r.issues.invalid_max_updates, vec![(0, "abc".to_string())]);
        assert_eq!(
            r.issues.condition_message().unwrap(),
            "Step 1 has an invalid maxUpdate value: abc"
        );
    }

    #[test]
    fn the_sync_operation_is_argo_cd_s() {
        let mut app = json!({"spec": {"syncPolicy": {
            "automated": {"prune": true, "selfHeal": true},
            "syncOptions": ["CreateNamespace=true"],
        }}});
        let prune = disable_automated(&mut app);
        assert!(prune);
        assert_eq!(app["spec"]["syncPolicy"]["automated"]["enabled"], false);
        assert_eq!(
            sync_operation(&app, prune),
            json!({
                "initiatedBy": {"username": "applicationset-controller", "automated": true},
                "info": [{"name": "Reason", "value": SYNC_REASON}],
                "sync": {"syncOptions": ["CreateNamespace=true"], "prune": true},
                "retry": {"limit": 5},
            })
        );
        let mut manual = json!({"spec": {"syncPolicy": {"retry": {"limit": 2}}}});
        assert!(!disable_automated(&mut manual));
        assert_eq!(sync_operation(&manual, false)["retry"], json!({"limit": 2}));
        assert_eq!(sync_operation(&json!({"spec": {}}), false)["sync"], json!({}));
        // Already disabled: no prune.
        let mut off = json!({"spec": {"syncPolicy": {"automated": {"prune": true, "enabled": false}}}});
        assert!(!disable_automated(&mut off));
    }
}
