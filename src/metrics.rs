//! Prometheus metrics of the controller and the templating service, and the HTTP layer that
//! records request metrics and logs.
//!
//! Stage: observability (no I/O of its own: [`crate::health`] serves the registry at
//! `/metrics`). The controller records reconciles into [`Metrics`] and lends it its
//! ApplicationSet cache ([`Metrics::watch_appsets`]); the GitHub client's families are read at
//! scrape time ([`Metrics::watch_github`]); [`observed`] wraps a router with request logging and
//! the HTTP metrics.
//!
//! Argo CD's families, with Argo CD's names, types, help strings, label names and buckets
//! (`applicationset/metrics/metrics.go`, `applicationset/services/github_metrics.go`), so its
//! dashboards and alerts work unchanged:
//!
//! - `argocd_appset_info{namespace, name, resource_update_status}` (gauge, always 1): the reason
//!   of the set's `ResourcesUpToDate` condition, `Unknown` without one.
//! - `argocd_appset_owned_applications{namespace, name}` (gauge): the entries of the set's
//!   `status.resources`, as Argo CD counts them (so capped by `--max-resources-status-count`;
//!   `appset_owned_applications` is the uncapped total).
//! - `argocd_appset_labels{namespace, name, label_<key>...}` (gauge, always 1): only with
//!   `--metrics-applicationset-labels`; each listed label key, with every character outside
//!   `[a-zA-Z0-9_]` replaced by `_`, carries the set's value of that label (empty if it has none).
//! - `argocd_appset_reconcile{namespace, name}` (histogram, Prometheus' default buckets): the
//!   duration of each reconcile in seconds.
//! - `argocd_github_api_*`: every request to GitHub and its rate-limit headers
//!   ([`crate::sources::github_metrics`]).
//!
//! The first three are read from the controller's ApplicationSet cache at scrape time, as Argo
//! CD reads its lister, so a deleted set's series go with it; its reconcile histogram is removed
//! when the set is cleaned up. These families are encoded by a collector, so their help strings
//! are Argo CD's to the letter (the registry would append a period). One difference of form: the
//! OpenMetrics encoder writes bucket bounds as floats (`le="1.0"` where Go's client writes
//! `le="1"`); Prometheus 3 normalizes both to the same series.
//!
//! appset's own families (`appset_*`: reconciles, errors by reason, durations, owned
//! Applications, HTTP requests, GitHub request counters, expired watches, and with sharding the
//! shards held and the sets per shard) stay beside them.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{Router, extract::State};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, text::encode},
    metrics::{
        MetricType,
        counter::{ConstCounter, Counter},
        family::Family,
        gauge::{ConstGauge, Gauge},
        histogram::Histogram,
    },
    registry::Registry,
};

use crate::{
    crd::ApplicationSet,
    sources::{GitHub, github_metrics::DEFAULT_BUCKETS},
};

/// Labels of the error counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Argo CD's condition reason (`ApplicationGenerationFromParamsError`, ...).
    pub reason: String,
}

/// Labels of the HTTP request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The route (`/v1/render`, ...; `other` for unknown paths, which would otherwise let
    /// clients create label values at will).
    pub path: String,
    /// The HTTP status code.
    pub code: String,
}

/// Labels of the HTTP duration histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PathLabels {
    /// The route.
    pub path: String,
}

/// Labels of Argo CD's per-ApplicationSet families (`argocd_appset_reconcile`, ...).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppSetLabels {
    /// The ApplicationSet's namespace.
    pub namespace: String,
    /// The ApplicationSet's name.
    pub name: String,
}

/// Labels of the progressive sync family counting Applications per status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RolloutLabels {
    /// The ApplicationSet's namespace.
    pub namespace: String,
    /// The ApplicationSet's name.
    pub name: String,
    /// `Waiting`, `Pending`, `Progressing` or `Healthy`.
    pub status: String,
}

/// One reconcile's progressive sync, as the metrics report it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RolloutReport {
    /// The step rolling out (1-based); `None` when the rollout is complete.
    pub step: Option<usize>,
    /// Applications per status.
    pub counts: Vec<(String, usize)>,
    /// The rollout is halted by a failed or Degraded Application.
    pub halted: bool,
}

/// The progressive sync families (`appset_rollout_*`) and when each set's rollout started.
#[derive(Default)]
struct RolloutFamilies {
    step: Family<AppSetLabels, Gauge>,
    applications: Family<RolloutLabels, Gauge>,
    halted: Family<AppSetLabels, Gauge>,
    duration: Family<AppSetLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// (namespace, name) → when the rollout in progress started.
    started: Mutex<HashMap<(String, String), std::time::Instant>>,
}

/// The statuses progressive sync reports (a series per status, zero included).
const ROLLOUT_STATUSES: [&str; 4] = ["Waiting", "Pending", "Progressing", "Healthy"];

/// Routes reported by name in the HTTP metrics.
const ROUTES: &[&str] = &[
    "/v1/render",
    "/v1/diff",
    "/api/webhook",
    "/healthz",
    "/readyz",
    "/metrics",
];

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The ApplicationSets whose Argo CD families are reported, as the controller's cache holds
/// them now.
type AppSetList = Box<dyn Fn() -> Vec<Arc<ApplicationSet>> + Send + Sync>;

/// Per shard: (shard, its ApplicationSets, whether this replica holds it).
type ShardList = Box<dyn Fn() -> Vec<(u32, usize, bool)> + Send + Sync>;

/// The metrics of the controller and of the templating service.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<PathLabels>,
    reconciles: Counter,
    watch_expired: Counter,
    cached: Gauge,
    errors: Family<ReasonLabels, Counter>,
    duration: Histogram,
    owned: Gauge,
    owned_by_set: Mutex<HashMap<(String, String), i64>>,
    ready: AtomicBool,
    argo: Arc<ArgoFamilies>,
    rollout: RolloutFamilies,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let argo = Arc::new(ArgoFamilies {
            reconcile: Family::new_with_constructor(|| Histogram::new(DEFAULT_BUCKETS)),
            appsets: Mutex::new(None),
            github: Mutex::new(None),
            shards: Mutex::new(None),
        });
        registry.register_collector(Box::new(argo.clone()));
        let reconciles = Counter::default();
        let watch_expired = Counter::default();
        let cached = Gauge::default();
        let errors = Family::<ReasonLabels, Counter>::default();
        let duration = Histogram::new([0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]);
        let owned = Gauge::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration: HistogramFamily<PathLabels> = Family::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0,
            ])
        });
        let appset = registry.sub_registry_with_prefix("appset");
        appset.register(
            "http_requests",
            "HTTP requests by route and status code",
            http_requests.clone(),
        );
        appset.register(
            "http_request_duration_seconds",
            "HTTP request duration by route",
            http_duration.clone(),
        );
        appset.register("reconciles", "ApplicationSet reconciles", reconciles.clone());
        appset.register(
            "watch_expired",
            "Watches of ApplicationSets or Applications that expired (410 Gone) and were listed again",
            watch_expired.clone(),
        );
        appset.register(
            "cached_applications",
            "Applications owned by ApplicationSets in this replica's cache (sharded: those of the sets of the shards it holds)",
            cached.clone(),
        );
        appset.register(
            "reconcile_errors",
            "Reconciles that ended in an error, by reason",
            errors.clone(),
        );
        appset.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            duration.clone(),
        );
        appset.register(
            "owned_applications",
            "Applications owned by ApplicationSets",
            owned.clone(),
        );
        let rollout = RolloutFamilies::default();
        appset.register(
            "rollout_step",
            "The step a progressive sync (RollingSync) is rolling out, 1-based; 0 when complete",
            rollout.step.clone(),
        );
        appset.register(
            "rollout_applications",
            "Applications of a progressive sync per status (Waiting, Pending, Progressing, Healthy)",
            rollout.applications.clone(),
        );
        appset.register(
            "rollout_halted",
            "1 while a progressive sync is halted by a failed or Degraded Application",
            rollout.halted.clone(),
        );
        appset.register(
            "rollout_duration_seconds",
            "How long the progressive sync in progress has run, or how long the last one took",
            rollout.duration.clone(),
        );
        Metrics {
            rollout,
            registry,
            http_requests,
            http_duration,
            reconciles,
            watch_expired,
            cached,
            errors,
            duration,
            owned,
            owned_by_set: Mutex::new(HashMap::new()),
            ready: AtomicBool::new(false),
            argo,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Metrics {
    /// Record one HTTP request.
    pub fn http_request(&self, path: &str, status: u16, took: Duration) {
        let path = ROUTES.iter().find(|r| **r == path).map_or("other", |r| r);
        self.http_requests
            .get_or_create(&HttpLabels {
                path: path.into(),
                code: status.to_string(),
            })
            .inc();
        self.http_duration
            .get_or_create(&PathLabels { path: path.into() })
            .observe(took.as_secs_f64());
    }

    /// Record one reconcile of the ApplicationSet `namespace/name`: its duration, its error
    /// reason (if any) and how many Applications the set owns now.
    pub fn reconciled(
        &self,
        namespace: &str,
        name: &str,
        took: Duration,
        error_reason: Option<&str>,
        owned: usize,
    ) {
        self.reconciles.inc();
        self.duration.observe(took.as_secs_f64());
        self.argo
            .reconcile
            .get_or_create(&AppSetLabels {
                namespace: namespace.into(),
                name: name.into(),
            })
            .observe(took.as_secs_f64());
        if let Some(reason) = error_reason {
            self.errors
                .get_or_create(&ReasonLabels {
                    reason: reason.to_string(),
                })
                .inc();
        }
        let mut by_set = lock(&self.owned_by_set);
        by_set.insert((namespace.into(), name.into()), owned as i64);
        self.owned.set(by_set.values().sum());
    }

    /// The ApplicationSet `namespace/name` is gone: its Applications no longer count, and its
    /// reconcile histogram goes.
    pub fn forget(&self, namespace: &str, name: &str) {
        let mut by_set = lock(&self.owned_by_set);
        by_set.remove(&(namespace.to_string(), name.to_string()));
        self.owned.set(by_set.values().sum());
        drop(by_set);
        let set = AppSetLabels {
            namespace: namespace.into(),
            name: name.into(),
        };
        self.argo.reconcile.remove(&set);
        self.forget_rollout(&set, &(namespace.to_string(), name.to_string()));
    }

    /// Record the progressive sync of ApplicationSet `namespace/name` after a reconcile (`None`:
    /// the set has none, and its series go).
    pub fn rollout(&self, namespace: &str, name: &str, report: Option<&RolloutReport>) {
        let set = AppSetLabels {
            namespace: namespace.into(),
            name: name.into(),
        };
        let key = (namespace.to_string(), name.to_string());
        let Some(report) = report else {
            self.forget_rollout(&set, &key);
            return;
        };
        self.rollout
            .step
            .get_or_create(&set)
            .set(report.step.unwrap_or(0) as i64);
        self.rollout
            .halted
            .get_or_create(&set)
            .set(i64::from(report.halted));
        for status in ROLLOUT_STATUSES {
            let n = report
                .counts
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            self.rollout
                .applications
                .get_or_create(&RolloutLabels {
                    namespace: namespace.into(),
                    name: name.into(),
                    status: status.into(),
                })
                .set(n as i64);
        }
        let mut started = lock(&self.rollout.started);
        match report.step {
            Some(_) => {
                let since = *started.entry(key).or_insert_with(std::time::Instant::now);
                self.rollout
                    .duration
                    .get_or_create(&set)
                    .set(since.elapsed().as_secs_f64());
            }
            None => {
                // Complete: the gauge keeps the duration of the rollout that just ended.
                if let Some(since) = started.remove(&key) {
                    self.rollout
                        .duration
                        .get_or_create(&set)
                        .set(since.elapsed().as_secs_f64());
                }
            }
        }
    }

    fn forget_rollout(&self, set: &AppSetLabels, key: &(String, String)) {
        self.rollout.step.remove(set);
        self.rollout.halted.remove(set);
        self.rollout.duration.remove(set);
        for status in ROLLOUT_STATUSES {
            self.rollout.applications.remove(&RolloutLabels {
                namespace: set.namespace.clone(),
                name: set.name.clone(),
                status: status.into(),
            });
        }
        lock(&self.rollout.started).remove(key);
    }

    /// The caches are filled (what `/readyz` reports).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Whether the caches are filled.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// `appset_cached_applications`: the owned Applications in the controller's cache.
    pub fn cached_applications(&self, count: usize) {
        self.cached.set(count as i64);
    }

    /// A watch expired (410 Gone): the watcher lists again.
    pub fn watch_expired(&self) {
        self.watch_expired.inc();
    }

    /// Report this GitHub client's requests: Argo CD's `argocd_github_api_*` families and
    /// appset's request counters.
    pub fn watch_github(&self, github: Arc<GitHub>) {
        *lock(&self.argo.github) = Some(github);
    }

    /// Report Argo CD's per-ApplicationSet families (`argocd_appset_info`,
    /// `argocd_appset_owned_applications`, and `argocd_appset_labels` when `label_keys` is not
    /// empty) of the sets `list` returns at each scrape (the controller's cache, restricted to
    /// the namespaces it reconciles).
    pub fn watch_appsets(
        &self,
        label_keys: &[String],
        list: impl Fn() -> Vec<Arc<ApplicationSet>> + Send + Sync + 'static,
    ) {
        let mut keys: Vec<(String, String)> = Vec::new();
        for key in label_keys.iter().filter(|k| !k.is_empty()) {
            let label = prometheus_label("label", key);
            // A label name twice would make the exposition invalid.
            if !keys.iter().any(|(_, l)| *l == label) {
                keys.push((key.clone(), label));
            }
        }
        *lock(&self.argo.appsets) = Some(AppSetSource {
            keys,
            list: Box::new(list),
        });
    }

    /// Report sharding (`--shards`, `--shard`) at each scrape from what `list` returns:
    /// `appset_shards_held` (the shards this replica holds) and
    /// `appset_shard_applicationsets{shard, held}` (the ApplicationSets of each shard).
    pub fn watch_shards(&self, list: impl Fn() -> Vec<(u32, usize, bool)> + Send + Sync + 'static) {
        *lock(&self.argo.shards) = Some(Box::new(list));
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Argo CD's `NormalizeLabels`: `prefix_` and the key, each character outside `[a-zA-Z0-9_]`
/// replaced by `_`.
fn prometheus_label(prefix: &str, key: &str) -> String {
    let key: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}_{key}")
}

/// Argo CD's families (and appset's GitHub request counters, and sharding), encoded at scrape
/// time.
struct ArgoFamilies {
    reconcile: HistogramFamily<AppSetLabels>,
    appsets: Mutex<Option<AppSetSource>>,
    github: Mutex<Option<Arc<GitHub>>>,
    shards: Mutex<Option<ShardList>>,
}

impl std::fmt::Debug for ArgoFamilies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArgoFamilies")
            .field("appsets", &self.appsets)
            .field("github", &self.github)
            .finish_non_exhaustive()
    }
}

/// Encode the sharding families.
fn encode_shards(encoder: &mut DescriptorEncoder, list: &ShardList) -> std::fmt::Result {
    let per = list();
    let names: Vec<(String, &str, usize)> = per
        .iter()
        .map(|&(shard, sets, held)| (shard.to_string(), if held { "true" } else { "false" }, sets))
        .collect();
    family(
        encoder,
        "appset_shards_held",
        "Shard Leases this replica holds",
        &ConstGauge::new(per.iter().filter(|p| p.2).count() as i64),
    )?;
    let series: Vec<(Vec<(&str, &str)>, i64)> = names
        .iter()
        .map(|(shard, held, sets)| (vec![("shard", shard.as_str()), ("held", *held)], *sets as i64))
        .collect();
    gauges(
        encoder,
        "appset_shard_applicationsets",
        "ApplicationSets per shard, and whether this replica holds the shard",
        &series,
    )
}

/// Where the per-ApplicationSet families come from.
struct AppSetSource {
    /// (label key, its Prometheus label name) for `argocd_appset_labels`.
    keys: Vec<(String, String)>,
    list: AppSetList,
}

impl std::fmt::Debug for AppSetSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppSetSource").field("keys", &self.keys).finish()
    }
}

/// Encode one family under `name` (nothing when it has no series, as Prometheus' Go client).
fn family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: &dyn EncodeMetric,
) -> std::fmt::Result {
    if metric.is_empty() {
        return Ok(());
    }
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// Encode a gauge family of constant series.
fn gauges(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(Vec<(&str, &str)>, i64)],
) -> std::fmt::Result {
    if series.is_empty() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        ConstGauge::new(*value).encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

impl AppSetSource {
    /// Argo CD's `collectAppset` for every set, in namespace and name order.
    fn encode(&self, encoder: &mut DescriptorEncoder) -> std::fmt::Result {
        let sets: BTreeMap<(String, String), Arc<ApplicationSet>> = (self.list)()
            .into_iter()
            .map(|s| {
                let key = (
                    s.metadata.namespace.clone().unwrap_or_default(),
                    s.metadata.name.clone().unwrap_or_default(),
                );
                (key, s)
            })
            .collect();
        let mut labels = Vec::new();
        let mut info = Vec::new();
        let mut owned = Vec::new();
        for ((namespace, name), set) in &sets {
            let id = [("namespace", namespace.as_str()), ("name", name.as_str())];
            if !self.keys.is_empty() {
                let values = set.metadata.labels.as_ref();
                let mut series = id.to_vec();
                for (key, label) in &self.keys {
                    let value = values.and_then(|v| v.get(key)).map_or("", String::as_str);
                    series.push((label.as_str(), value));
                }
                labels.push((series, 1));
            }
            let status = set.status.as_ref();
            let update_status = status
                .and_then(|s| s.conditions.iter().rev().find(|c| c.type_ == "ResourcesUpToDate"))
                .map_or("Unknown", |c| c.reason.as_str());
            let mut series = id.to_vec();
            series.push(("resource_update_status", update_status));
            info.push((series, 1));
            owned.push((id.to_vec(), status.map_or(0, |s| s.resources.len() as i64)));
        }
        gauges(
            encoder,
            "argocd_appset_labels",
            "Applicationset labels translated to Prometheus labels",
            &labels,
        )?;
        gauges(
            encoder,
            "argocd_appset_info",
            "Information about applicationset",
            &info,
        )?;
        gauges(
            encoder,
            "argocd_appset_owned_applications",
            "Number of applications owned by the applicationset",
            &owned,
        )
    }
}

impl Collector for ArgoFamilies {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        family(
            &mut encoder,
            "argocd_appset_reconcile",
            "Application reconciliation performance in seconds.",
            &self.reconcile,
        )?;
        if let Some(source) = lock(&self.appsets).as_ref() {
            source.encode(&mut encoder)?;
        }
        if let Some(list) = lock(&self.shards).as_ref() {
            encode_shards(&mut encoder, list)?;
        }
        let Some(github) = lock(&self.github).clone() else {
            return Ok(());
        };
        for (name, help, metric) in github.api_metrics().families() {
            family(&mut encoder, name, help, metric)?;
        }
        let s = github.stats();
        for (name, help, value) in [
            (
                "appset_github_requests",
                "GitHub API requests for pull requests.",
                s.requests,
            ),
            (
                "appset_github_not_modified",
                "GitHub API requests answered 304 Not Modified (free).",
                s.not_modified,
            ),
            (
                "appset_github_rate_limited",
                "GitHub API rate-limit answers.",
                s.rate_limited,
            ),
        ] {
            family(&mut encoder, name, help, &ConstCounter::new(value))?;
        }
        Ok(())
    }
}

/// `app` with request logging (tracing) and the HTTP request metrics.
pub fn observed(app: Router, metrics: Arc<Metrics>) -> Router {
    app.layer(axum::middleware::from_fn_with_state(metrics, observe))
}

async fn observe(
    State(metrics): State<Arc<Metrics>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let took = started.elapsed();
    metrics.http_request(&path, status, took);
    tracing::info!(%method, %path, status, ms = took.as_secs_f64() * 1000.0, "request");
    response
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use http::{HeaderMap, HeaderValue, StatusCode};
    use serde_json::{Value, json};

    use super::*;
    use crate::sources::github_metrics::{AppSetRef, Observed};

    #[test]
    fn a_rollout_reports_its_step_statuses_halt_and_duration_and_goes_with_its_set() {
        let m = Metrics::default();
        let report = RolloutReport {
            step: Some(2),
            counts: vec![
                ("Healthy".into(), 3),
                ("Pending".into(), 1),
                ("Waiting".into(), 5),
            ],
            halted: false,
        };
        m.rollout("argocd", "guestbook", Some(&report));
        let text = m.encode();
        assert_eq!(
            lines(&text, "appset_rollout_applications{"),
            vec![
                "appset_rollout_applications{namespace=\"argocd\",name=\"guestbook\",status=\"Healthy\"} 3",
                "appset_rollout_applications{namespace=\"argocd\",name=\"guestbook\",status=\"Pending\"} 1",
                "appset_rollout_applications{namespace=\"argocd\",name=\"guestbook\",status=\"Progressing\"} 0",
                "appset_rollout_applications{namespace=\"argocd\",name=\"guestbook\",status=\"Waiting\"} 5",
            ]
        );
        assert_eq!(
            lines(&text, "appset_rollout_step{"),
            vec!["appset_rollout_step{namespace=\"argocd\",name=\"guestbook\"} 2"]
        );
        assert_eq!(
            lines(&text, "appset_rollout_halted{"),
            vec!["appset_rollout_halted{namespace=\"argocd\",name=\"guestbook\"} 0"]
        );
        assert_eq!(lines(&text, "appset_rollout_duration_seconds{").len(), 1);
        m.rollout(
            "argocd",
            "guestbook",
            Some(&RolloutReport {
                step: None,
                counts: vec![("Healthy".into(), 9)],
                halted: false,
            }),
        );
        assert_eq!(
            lines(&m.encode(), "appset_rollout_step{"),
            vec!["appset_rollout_step{namespace=\"argocd\",name=\"guestbook\"} 0"]
        );
        m.forget("argocd", "guestbook");
        assert!(
            lines(&m.encode(), "appset_rollout_")
                .iter()
                .all(|l| !l.contains("guestbook"))
        );
        m.rollout("argocd", "other", Some(&report));
        m.rollout("argocd", "other", None);
        assert!(
            lines(&m.encode(), "appset_rollout_")
                .iter()
                .all(|l| !l.contains("other"))
        );
    }

    fn set(namespace: &str, name: &str, labels: Value, status: Value) -> Arc<ApplicationSet> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": {"generators": [], "template": {"metadata": {}, "spec": {}}},
                "status": status
            }))
            .unwrap(),
        )
    }

    /// The lines of the exposition that start with `prefix`, sorted (a family's series come in
    /// no particular order).
    fn lines(text: &str, prefix: &str) -> Vec<String> {
        let mut out: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_string)
            .collect();
        out.sort();
        out
    }

    /// `shop` is up to date and owns two Applications; `blog` has no status yet.
    fn two_sets() -> Vec<Arc<ApplicationSet>> {
        vec![
            set(
                "team-a",
                "shop",
                json!({"team": "web", "app.kubernetes.io/part-of": "store"}),
                json!({
                    "conditions": [
                        {"type": "ErrorOccurred", "status": "False", "reason": "ApplicationSetUpToDate"},
                        {"type": "ResourcesUpToDate", "status": "True", "reason": "ApplicationSetUpToDate"}
                    ],
                    "resources": [{"kind": "Application", "name": "shop-1"}, {"kind": "Application", "name": "shop-2"}]
                }),
            ),
            set("team-a", "blog", json!({}), json!({})),
        ]
    }

    #[test]
    fn appset_info_and_owned_applications_have_argo_cds_names_labels_and_help() {
        let m = Metrics::default();
        m.watch_appsets(&[], two_sets);
        let text = m.encode();
        assert_eq!(
            lines(&text, "# HELP argocd_appset_info"),
            ["# HELP argocd_appset_info Information about applicationset"]
        );
        assert_eq!(
            lines(&text, "argocd_appset_info"),
            [
                r#"argocd_appset_info{namespace="team-a",name="blog",resource_update_status="Unknown"} 1"#,
                r#"argocd_appset_info{namespace="team-a",name="shop",resource_update_status="ApplicationSetUpToDate"} 1"#,
            ]
        );
        assert_eq!(
            lines(&text, "# HELP argocd_appset_owned_applications"),
            ["# HELP argocd_appset_owned_applications Number of applications owned by the applicationset"]
        );
        assert!(text.contains("# TYPE argocd_appset_owned_applications gauge\n"));
        assert_eq!(
            lines(&text, "argocd_appset_owned_applications"),
            [
                r#"argocd_appset_owned_applications{namespace="team-a",name="blog"} 0"#,
                r#"argocd_appset_owned_applications{namespace="team-a",name="shop"} 2"#,
            ]
        );
        // Off unless label keys are given (Argo CD's default).
        assert!(!text.contains("argocd_appset_labels"), "{text}");
    }

    #[test]
    fn appset_labels_carry_the_listed_keys_normalized() {
        let m = Metrics::default();
        m.watch_appsets(
            &["team".into(), "app.kubernetes.io/part-of".into(), "team".into()],
            two_sets,
        );
        let text = m.encode();
        assert_eq!(
            lines(&text, "# HELP argocd_appset_labels"),
            ["# HELP argocd_appset_labels Applicationset labels translated to Prometheus labels"]
        );
        assert!(text.contains("# TYPE argocd_appset_labels gauge\n"));
        assert_eq!(
            lines(&text, "argocd_appset_labels"),
            [
                r#"argocd_appset_labels{namespace="team-a",name="blog",label_team="",label_app_kubernetes_io_part_of=""} 1"#,
                r#"argocd_appset_labels{namespace="team-a",name="shop",label_team="web",label_app_kubernetes_io_part_of="store"} 1"#,
            ]
        );
    }

    #[test]
    fn appset_reconcile_is_a_histogram_per_set_with_the_default_buckets() {
        let m = Metrics::default();
        m.reconciled("team-a", "shop", Duration::from_millis(200), None, 2);
        m.reconciled("team-a", "shop", Duration::from_secs(3), None, 2);
        let text = m.encode();
        assert_eq!(
            lines(&text, "# HELP argocd_appset_reconcile"),
            ["# HELP argocd_appset_reconcile Application reconciliation performance in seconds."]
        );
        assert!(text.contains("# TYPE argocd_appset_reconcile histogram\n"));
        let buckets: Vec<String> = [
            ("0.005", 0),
            ("0.01", 0),
            ("0.025", 0),
            ("0.05", 0),
            ("0.1", 0),
            ("0.25", 1),
            ("0.5", 1),
            ("1.0", 1),
            ("2.5", 1),
            ("5.0", 2),
            ("10.0", 2),
            ("+Inf", 2),
        ]
        .iter()
        .map(|(le, n)| {
            format!(r#"argocd_appset_reconcile_bucket{{le="{le}",namespace="team-a",name="shop"}} {n}"#)
        })
        .collect();
        // One series: its buckets in order.
        let in_order: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("argocd_appset_reconcile_bucket"))
            .collect();
        assert_eq!(in_order, buckets);
        assert_eq!(
            lines(&text, "argocd_appset_reconcile_count"),
            [r#"argocd_appset_reconcile_count{namespace="team-a",name="shop"} 2"#]
        );
        // appset's own families stay beside Argo CD's.
        assert_eq!(
            lines(&text, "appset_reconciles_total"),
            ["appset_reconciles_total 2"]
        );
        assert_eq!(
            lines(&text, "appset_owned_applications "),
            ["appset_owned_applications 2"]
        );
    }

    #[test]
    fn a_deleted_applicationset_leaves_no_argo_cd_series() {
        let m = Metrics::default();
        let live = Arc::new(Mutex::new(two_sets()));
        m.watch_appsets(&["team".into()], {
            let live = live.clone();
            move || lock(&live).clone()
        });
        m.reconciled("team-a", "shop", Duration::from_millis(10), None, 2);
        m.reconciled("team-a", "blog", Duration::from_millis(10), None, 0);
        assert!(
            m.encode()
                .contains(r#"argocd_appset_info{namespace="team-a",name="shop""#)
        );
        // The set leaves the cache and is cleaned up.
        lock(&live).retain(|s| s.metadata.name.as_deref() != Some("shop"));
        m.forget("team-a", "shop");
        let text = m.encode();
        let argo: Vec<&str> = text.lines().filter(|l| l.starts_with("argocd_")).collect();
        assert!(argo.iter().all(|l| !l.contains(r#"name="shop""#)), "{text}");
        assert!(argo.iter().any(|l| l.contains(r#"name="blog""#)), "{text}");
        assert_eq!(
            lines(&text, "appset_owned_applications "),
            ["appset_owned_applications 0"]
        );
    }

    #[test]
    fn github_api_families_have_argo_cds_names_labels_and_help() {
        let m = Metrics::default();
        let github = Arc::new(GitHub::new(None, Duration::ZERO));
        m.watch_github(github.clone());
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut headers = HeaderMap::new();
        for (k, v) in [
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "4990"),
            ("x-ratelimit-used", "10"),
            ("x-ratelimit-reset", "1700000060"),
            ("x-ratelimit-resource", "core"),
        ] {
            headers.insert(k, HeaderValue::from_static(v));
        }
        let shop = AppSetRef {
            namespace: "team-a".into(),
            name: "shop".into(),
        };
        let request = Observed {
            method: "GET",
            endpoint: "/repos/example/shop/pulls",
            appset: Some(&shop),
            took: Duration::from_millis(30),
            answer: Some((StatusCode::OK, &headers)),
        };
        github.api_metrics().record(request, now);
        github.api_metrics().record(request, now);
        // No answer at all (connection refused, timeout): status 0, no rate-limit reading.
        github.api_metrics().record(
            Observed {
                appset: None,
                answer: None,
                ..request
            },
            now,
        );
        let text = m.encode();
        for (name, kind, help) in [
            (
                "argocd_github_api_requests",
                "counter",
                "Total number of GitHub API requests",
            ),
            (
                "argocd_github_api_request_duration_seconds",
                "histogram",
                "GitHub API request duration in seconds",
            ),
            (
                "argocd_github_api_rate_limit_remaining",
                "gauge",
                "The number of requests remaining in the current rate limit window",
            ),
            (
                "argocd_github_api_rate_limit_limit",
                "gauge",
                "The maximum number of requests that you can make per hour",
            ),
            (
                "argocd_github_api_rate_limit_reset_seconds",
                "gauge",
                "The time left till the current rate limit window resets, in seconds",
            ),
            (
                "argocd_github_api_rate_limit_used",
                "gauge",
                "The number of requests used in the current rate limit window",
            ),
        ] {
            assert!(
                text.contains(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n")),
                "{name}: {text}"
            );
        }
        assert_eq!(
            lines(&text, "argocd_github_api_requests_total"),
            [
                r#"argocd_github_api_requests_total{method="GET",endpoint="/repos/example/shop/pulls",status="0",appset_namespace="unknown",appset_name="unknown"} 1"#,
                r#"argocd_github_api_requests_total{method="GET",endpoint="/repos/example/shop/pulls",status="200",appset_namespace="team-a",appset_name="shop"} 2"#,
            ]
        );
        let shop_labels = r#"endpoint="/repos/example/shop/pulls",appset_namespace="team-a",appset_name="shop",resource="core""#;
        for (name, value) in [
            ("argocd_github_api_rate_limit_remaining", 4990),
            ("argocd_github_api_rate_limit_limit", 5000),
            ("argocd_github_api_rate_limit_reset_seconds", 60),
            ("argocd_github_api_rate_limit_used", 10),
        ] {
            assert_eq!(
                lines(&text, &format!("{name}{{")),
                [format!("{name}{{{shop_labels}}} {value}")]
            );
        }
        assert_eq!(
            lines(
                &text,
                r#"argocd_github_api_request_duration_seconds_bucket{le="0.05""#
            ),
            [
                r#"argocd_github_api_request_duration_seconds_bucket{le="0.05",method="GET",endpoint="/repos/example/shop/pulls",appset_namespace="team-a",appset_name="shop"} 2"#,
                r#"argocd_github_api_request_duration_seconds_bucket{le="0.05",method="GET",endpoint="/repos/example/shop/pulls",appset_namespace="unknown",appset_name="unknown"} 1"#,
            ]
        );
    }
}
