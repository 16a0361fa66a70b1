//! A stand-in for Argo CD's application controller, for the progressive-sync tests (issue 16):
//! it does to Application objects what Argo CD's controller visibly does to them, on the real
//! control plane, so that appset's controller can trigger syncs and watch them complete.
//!
//! - **Refresh**: an Application that is new to the player, whose `spec` changed since the
//!   player last compared it, or that a [`Player::push`] touched gets `status.reconciledAt`,
//!   `status.sync` (`Synced` when spec and revision are those of its last successful sync,
//!   otherwise `OutOfSync`, at the current revision) and, never synced, `status.health` `Missing`.
//! - **Operation**: a top-level `operation` is run as Argo CD runs one: `status.operationState`
//!   phase `Running` (operation still present), then after `sync_delay` one merge patch clears
//!   `operation` and finishes the operation (`Succeeded`, with sync `Synced`, health
//!   `Progressing` and a history entry; or `Failed` for an Application marked with
//!   [`Player::fail_sync`]), then after `health_delay` health `Healthy` (or `Degraded` for an
//!   Application marked with [`Player::degrade`]).
//! - **Deletion**: Argo CD's resources finalizers (`resources-finalizer.argocd.argoproj.io` and
//!   its `/…` variants) are removed from Applications being deleted.
//!
//! Every write is a merge patch of the main resource (the Application CRD has no status
//! subresource, as Argo CD's) with the field manager `argocd-application-controller`, so appset's
//! server-side-applied fields keep their owner. Each Application is handled by one worker, one
//! step at a time; different Applications proceed concurrently. Workers re-read the Application
//! before acting, so a watch event is only a wake-up and never acted on stale.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use futures::StreamExt;
use kube::{
    Api, Client, ResourceExt,
    api::{DynamicObject, Patch, PatchParams},
    runtime::{WatchStreamExt, watcher},
};
use serde_json::{Value, json};
use tokio::{sync::Notify, task::JoinSet};

use super::apps_api;

/// The field manager of every write (Argo CD's application controller's name).
pub const FIELD_MANAGER: &str = "argocd-application-controller";
/// Argo CD's resources finalizer (stage variants add `/<stage>`).
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";
/// How many times one pass over an Application, or one write, is tried before the worker waits
/// for the next event.
const ATTEMPTS: usize = 5;
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Sync history entries kept (Argo CD's default `revisionHistoryLimit`).
const HISTORY_LIMIT: usize = 10;

/// How the player behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long an operation stays `Running`.
    pub sync_delay: Duration,
    /// How long a synced Application stays `Progressing` before it turns `Healthy` or `Degraded`.
    pub health_delay: Duration,
    /// The git revision reported until the first [`Player::push`].
    pub revision: String,
    /// How long a comparison (refresh) takes: until it is written, the Application's sync status
    /// is the one computed before (a stale `Synced` after a spec change, for instance).
    pub refresh_delay: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sync_delay: Duration::from_millis(100),
            health_delay: Duration::from_millis(100),
            revision: "rev-1".into(),
            refresh_delay: Duration::ZERO,
        }
    }
}

/// What the player did, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// 1, 2, 3, … in the order of the entries.
    pub seq: u64,
    /// When it was recorded.
    pub at: Instant,
    /// The Application's name.
    pub app: String,
    /// What happened.
    pub kind: Kind,
}

/// One kind of [`Entry`].
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// The player took up the Application's `operation` (recorded once `Running` is written).
    OperationSeen {
        /// The `operation` as the Application had it.
        operation: Value,
    },
    /// `status.operationState.phase` `Running` was written.
    SyncStarted,
    /// The operation finished and `operation` was cleared.
    SyncFinished {
        /// `Succeeded` or `Failed`.
        phase: String,
    },
    /// `status.health.status` was written with this value.
    Health(String),
    /// `status.sync` and `status.reconciledAt` were written by a refresh.
    Refreshed,
    /// The Application was seen being deleted (its resources finalizers removed), or gone.
    Deleted,
}

/// The running player; it stops when dropped.
pub struct Player {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Player {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    api: Api<DynamicObject>,
    opts: Options,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    revision: String,
    apps: HashMap<String, App>,
    workers: HashMap<String, Arc<Notify>>,
    degrading: HashSet<String>,
    failing: HashSet<String>,
    log: Vec<Entry>,
}

/// What the player remembers of one Application object.
#[derive(Default)]
struct App {
    uid: String,
    /// The spec of its last refresh (or successful sync).
    compared_spec: Option<Value>,
    /// Spec and revision of its last successful sync.
    synced: Option<(Value, String)>,
    /// A refresh is due regardless of the spec ([`Player::push`]).
    refresh: bool,
    /// A Degraded health is to be turned Healthy ([`Player::heal`]).
    heal: bool,
    /// Its deletion is in the log.
    deletion_logged: bool,
}

/// The `operation` appset's controller writes to trigger a sync, as Argo CD's ApplicationSet
/// controller writes it for RollingSync.
pub fn rolling_sync_operation(sync_options: &[&str], prune: bool) -> Value {
    json!({
        "initiatedBy": {"username": "applicationset-controller", "automated": true},
        "info": [{"name": "Reason", "value": "ApplicationSet RollingSync triggered a sync of this Application resource"}],
        "sync": {"syncOptions": sync_options, "prune": prune},
        "retry": {"limit": 5},
    })
}

/// Start playing Argo CD's application controller for the Applications in `ns`.
pub fn start(client: Client, ns: &str, opts: Options) -> Player {
    let shared = Arc::new(Shared {
        api: apps_api(&client, ns),
        state: Mutex::new(State {
            revision: opts.revision.clone(),
            ..State::default()
        }),
        opts,
    });
    let task = tokio::spawn(run(shared.clone()));
    Player { shared, task }
}

impl Player {
    /// A new commit: the current revision becomes `revision` and every Application is refreshed.
    pub fn push(&self, revision: impl Into<String>) {
        let mut st = self.shared.lock();
        st.revision = revision.into();
        for app in st.apps.values_mut() {
            app.refresh = true;
        }
        for worker in st.workers.values() {
            worker.notify_one();
        }
    }

    /// The revision refreshes and syncs report now.
    pub fn revision(&self) -> String {
        self.shared.lock().revision.clone()
    }

    /// Mark `name` degrading: its next successful sync ends `Degraded` instead of `Healthy`.
    pub fn degrade(&self, name: &str) {
        self.shared.lock().degrading.insert(name.to_string());
    }

    /// Mark `name` failing: its next operations end in phase `Failed`.
    pub fn fail_sync(&self, name: &str) {
        self.shared.lock().failing.insert(name.to_string());
    }

    /// Clear `name`'s marks; if it is `Degraded` now, it turns `Healthy` at once.
    pub fn heal(&self, name: &str) {
        let mut st = self.shared.lock();
        st.degrading.remove(name);
        st.failing.remove(name);
        if let Some(app) = st.apps.get_mut(name) {
            app.heal = true;
        }
        if let Some(worker) = st.workers.get(name) {
            worker.notify_one();
        }
    }

    /// Everything the player did so far, in order.
    pub fn log(&self) -> Vec<Entry> {
        self.shared.lock().log.clone()
    }

    /// The Applications whose operations the player took up, in that order (repeated for
    /// repeated operations).
    pub fn synced_order(&self) -> Vec<String> {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|e| matches!(e.kind, Kind::OperationSeen { .. }))
            .map(|e| e.app.clone())
            .collect()
    }

    /// How many operations of `name` the player took up.
    pub fn operations_seen(&self, name: &str) -> usize {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|e| e.app == name && matches!(e.kind, Kind::OperationSeen { .. }))
            .count()
    }
}

/// The watch loop: every event wakes the worker of its Application (started on first sight).
/// It ends when the player's task is aborted, and the workers with it.
async fn run(shared: Arc<Shared>) {
    let mut workers = JoinSet::new();
    let mut events = watcher(shared.api.clone(), watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        let obj = match event {
            Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) | watcher::Event::Delete(obj)) => {
                obj
            }
            Ok(watcher::Event::Init | watcher::Event::InitDone) => continue,
            Err(e) => {
                tracing::debug!("argo player watch: {e}");
                continue;
            }
        };
        let name = obj.name_any();
        let mut st = shared.lock();
        let notify = match st.workers.get(&name) {
            Some(n) => n.clone(),
            None => {
                let n = Arc::new(Notify::new());
                st.workers.insert(name.clone(), n.clone());
                workers.spawn(worker(shared.clone(), name, n.clone()));
                n
            }
        };
        drop(st);
        notify.notify_one();
    }
}

/// One Application's worker: a pass per wake-up (wake-ups during a pass make one more).
async fn worker(shared: Arc<Shared>, name: String, notify: Arc<Notify>) {
    loop {
        notify.notified().await;
        for attempt in 1..=ATTEMPTS {
            match shared.pass(&name).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::debug!("argo player {name} (attempt {attempt}): {e}");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, app: &str, kind: Kind) {
        let mut st = self.lock();
        let seq = st.log.len() as u64 + 1;
        st.log.push(Entry {
            seq,
            at: Instant::now(),
            app: app.to_string(),
            kind,
        });
    }

    /// Forget the Application object the player knew as `name` (it is gone, or was replaced by
    /// a new object of the same name), logging its deletion if not logged yet.
    fn forget(&self, name: &str) {
        let logged = self.lock().apps.remove(name).map(|a| a.deletion_logged);
        if logged == Some(false) {
            self.record(name, Kind::Deleted);
        }
    }

    /// Look at the Application as it is now and do what is due: deletion, refresh, operation,
    /// healing.
    async fn pass(&self, name: &str) -> Result<(), kube::Error> {
        let Some(app) = self.api.get_opt(name).await? else {
            self.forget(name);
            return Ok(());
        };
        let uid = app.uid().unwrap_or_default();
        if self.lock().apps.get(name).is_some_and(|a| a.uid != uid) {
            self.forget(name);
        }
        self.lock().apps.entry(name.to_string()).or_insert_with(|| App {
            uid,
            ..App::default()
        });
        if app.metadata.deletion_timestamp.is_some() {
            return self.finalize(app).await;
        }

        let spec = app.data.get("spec").cloned().unwrap_or(Value::Null);
        let refresh = {
            let mut st = self.lock();
            let known = st.apps.get_mut(name).expect("inserted above");
            let due = std::mem::take(&mut known.refresh) || known.compared_spec.as_ref() != Some(&spec);
            known.compared_spec = Some(spec.clone());
            due
        };
        let app = if refresh {
            match self.refresh(&app, &spec).await {
                Ok(app) => app,
                Err(e) => {
                    if let Some(known) = self.lock().apps.get_mut(name) {
                        known.refresh = true;
                    }
                    return Err(e);
                }
            }
        } else {
            app
        };

        if let Some(operation) = app.data.get("operation").filter(|o| o.is_object()).cloned() {
            return self.operate(app, operation, spec).await;
        }
        let heal = self
            .lock()
            .apps
            .get_mut(name)
            .is_some_and(|a| std::mem::take(&mut a.heal));
        if heal && app.data.pointer("/status/health/status") == Some(&json!("Degraded")) {
            let patch = json!({"status": {
                "health": replace(app.data.pointer("/status/health"), json!({"status": "Healthy"})),
                "reconciledAt": now(),
            }});
            self.patch(name, &patch).await?;
            self.record(name, Kind::Health("Healthy".into()));
        }
        Ok(())
    }

    /// Argo CD's comparison: sync status against the current revision and the last synced spec.
    async fn refresh(&self, app: &DynamicObject, spec: &Value) -> Result<DynamicObject, kube::Error> {
        let name = app.name_any();
        tokio::time::sleep(self.opts.refresh_delay).await;
        let (revision, synced) = {
            let st = self.lock();
            let synced = st.apps.get(&name).and_then(|a| a.synced.clone());
            (st.revision.clone(), synced)
        };
        let in_sync = synced.as_ref().is_some_and(|(s, r)| s == spec && *r == revision);
        let sync = json!({
            "status": if in_sync { "Synced" } else { "OutOfSync" },
            "revision": revision,
            "comparedTo": compared_to(spec),
        });
        let mut status = json!({
            "reconciledAt": now(),
            "sync": replace(app.data.pointer("/status/sync"), sync),
        });
        if synced.is_none() {
            status["health"] = replace(app.data.pointer("/status/health"), json!({"status": "Missing"}));
        }
        let app = self.patch(&name, &json!({ "status": status })).await?;
        self.record(&name, Kind::Refreshed);
        if synced.is_none() {
            self.record(&name, Kind::Health("Missing".into()));
        }
        Ok(app)
    }

    /// Run `operation`: Running, then (after `sync_delay`) Succeeded or Failed with `operation`
    /// cleared, then (after `health_delay`, on success) Healthy or Degraded.
    async fn operate(&self, app: DynamicObject, operation: Value, spec: Value) -> Result<(), kube::Error> {
        let name = app.name_any();
        let revision = match operation.pointer("/sync/revision").and_then(Value::as_str) {
            Some(r) if !r.is_empty() => r.to_string(),
            _ => self.lock().revision.clone(),
        };
        let started = now();
        let running = json!({
            "operation": operation,
            "phase": "Running",
            "message": format!("Sync operation to {revision} is running"),
            "startedAt": started,
        });
        let op_state = app.data.pointer("/status/operationState");
        let app = self
            .patch(
                &name,
                &json!({"status": {"operationState": replace(op_state, running)}}),
            )
            .await?;
        self.record(
            &name,
            Kind::OperationSeen {
                operation: operation.clone(),
            },
        );
        self.record(&name, Kind::SyncStarted);

        tokio::time::sleep(self.opts.sync_delay).await;
        let failing = self.lock().failing.contains(&name);
        let finished = now();
        let mut done = json!({
            "operation": operation,
            "phase": "Succeeded",
            "message": "successfully synced (all tasks run)",
            "startedAt": started,
            "finishedAt": finished,
            "syncResult": {"revision": revision, "source": spec.get("source")},
        });
        let mut patch = json!({"operation": null, "status": {}});
        if failing {
            done["phase"] = json!("Failed");
            done["message"] = json!(
                "one or more objects failed to apply, reason: the test harness marked this Application's sync as failing"
            );
        } else {
            let mut history: Vec<Value> = app
                .data
                .pointer("/status/history")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let id = history
                .iter()
                .filter_map(|h| h["id"].as_i64())
                .max()
                .unwrap_or(-1)
                + 1;
            history.push(json!({
                "id": id,
                "revision": revision,
                "deployStartedAt": started,
                "deployedAt": finished,
                "source": spec.get("source"),
                "initiatedBy": operation.get("initiatedBy"),
            }));
            let excess = history.len().saturating_sub(HISTORY_LIMIT);
            history.drain(..excess);
            patch["status"] = json!({
                "sync": replace(
                    app.data.pointer("/status/sync"),
                    json!({"status": "Synced", "revision": revision, "comparedTo": compared_to(&spec)}),
                ),
                "health": replace(app.data.pointer("/status/health"), json!({"status": "Progressing"})),
                "reconciledAt": finished,
                "history": history,
            });
        }
        patch["status"]["operationState"] = replace(app.data.pointer("/status/operationState"), done);
        self.patch(&name, &patch).await?;
        let phase = if failing { "Failed" } else { "Succeeded" };
        self.record(&name, Kind::SyncFinished { phase: phase.into() });
        if failing {
            return Ok(());
        }
        if let Some(known) = self.lock().apps.get_mut(&name) {
            known.synced = Some((spec.clone(), revision));
            known.compared_spec = Some(spec);
        }
        self.record(&name, Kind::Health("Progressing".into()));

        tokio::time::sleep(self.opts.health_delay).await;
        let degrading = self.lock().degrading.contains(&name);
        let health = if degrading {
            json!({"status": "Degraded", "message": "the test harness marked this Application as degrading"})
        } else {
            json!({"status": "Healthy"})
        };
        let status = health["status"].as_str().unwrap_or_default().to_string();
        let patch = json!({"status": {
            "health": replace(Some(&json!({"status": "Progressing"})), health),
            "reconciledAt": now(),
        }});
        self.patch(&name, &patch).await?;
        self.record(&name, Kind::Health(status));
        Ok(())
    }

    /// Remove Argo CD's resources finalizers from an Application being deleted.
    async fn finalize(&self, app: DynamicObject) -> Result<(), kube::Error> {
        let name = app.name_any();
        let finalizers = app.finalizers();
        let remaining: Vec<&String> = finalizers.iter().filter(|f| !is_resources_finalizer(f)).collect();
        if remaining.len() != finalizers.len() {
            // Conditional on the version read, so that no other finalizer change is lost.
            let patch = json!({"metadata": {
                "finalizers": remaining,
                "resourceVersion": app.resource_version(),
            }});
            self.api.patch(&name, &params(), &Patch::Merge(&patch)).await?;
        }
        let first = self
            .lock()
            .apps
            .get_mut(&name)
            .is_some_and(|a| !std::mem::replace(&mut a.deletion_logged, true));
        if first {
            self.record(&name, Kind::Deleted);
        }
        Ok(())
    }

    /// A merge patch of the main resource, tried a few times unless the Application is gone.
    async fn patch(&self, name: &str, patch: &Value) -> Result<DynamicObject, kube::Error> {
        let mut attempt = 1;
        loop {
            match self.api.patch(name, &params(), &Patch::Merge(patch)).await {
                Ok(app) => return Ok(app),
                Err(kube::Error::Api(e)) if e.code == 404 => return Err(kube::Error::Api(e)),
                Err(e) if attempt >= ATTEMPTS => return Err(e),
                Err(e) => {
                    tracing::debug!("argo player patch {name} (attempt {attempt}): {e}");
                    attempt += 1;
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    }
}

/// `resources-finalizer.argocd.argoproj.io`, or one of its stage variants.
pub fn is_resources_finalizer(f: &str) -> bool {
    f == RESOURCES_FINALIZER
        || f.strip_prefix(RESOURCES_FINALIZER)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// `status.sync.comparedTo`: what the comparison was against.
fn compared_to(spec: &Value) -> Value {
    let mut compared = serde_json::Map::new();
    for key in ["source", "sources", "destination", "ignoreDifferences"] {
        if let Some(v) = spec.get(key).filter(|v| !v.is_null()) {
            compared.insert(key.into(), v.clone());
        }
    }
    Value::Object(compared)
}

/// A merge patch that turns `old` into `new` (keys of `old` that `new` lacks become null), to
/// replace a status object as a whole rather than merge into it.
fn replace(old: Option<&Value>, new: Value) -> Value {
    match (old, new) {
        (Some(Value::Object(old)), Value::Object(mut new)) => {
            for (k, o) in old {
                let patched = match new.remove(k) {
                    Some(n) => replace(Some(o), n),
                    None => Value::Null,
                };
                new.insert(k.clone(), patched);
            }
            Value::Object(new)
        }
        (_, new) => new,
    }
}

/// Now, as metav1.Time writes it (RFC 3339, whole seconds, UTC).
pub fn now() -> String {
    let t = jiff::Timestamp::now();
    let t = jiff::Timestamp::from_second(t.as_second()).unwrap_or(t);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}
