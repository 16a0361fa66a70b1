//! Prometheus metrics of the controller and the templating service, and the HTTP layer that
//! records request metrics and logs.
//!
//! Stage: observability (no I/O of its own: [`crate::health`] serves the registry at
//! `/metrics`). The controller records reconciles into [`Metrics`]; the GitHub client's request
//! counters are read at scrape time; [`observed`] wraps a router with request logging and the
//! HTTP metrics.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{Router, extract::State};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::sources::GitHub;

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

/// Routes reported by name in the HTTP metrics.
const ROUTES: &[&str] = &[
    "/v1/render",
    "/v1/diff",
    "/api/webhook",
    "/healthz",
    "/readyz",
    "/metrics",
];

type HistogramFamily = Family<PathLabels, Histogram, fn() -> Histogram>;

/// The metrics of the controller and of the templating service.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily,
    reconciles: Counter,
    errors: Family<ReasonLabels, Counter>,
    duration: Histogram,
    owned: Gauge,
    owned_by_set: Mutex<HashMap<String, i64>>,
    ready: AtomicBool,
    github: Mutex<Option<Arc<GitHub>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("appset");
        let reconciles = Counter::default();
        let errors = Family::<ReasonLabels, Counter>::default();
        let duration = Histogram::new([0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]);
        let owned = Gauge::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration: HistogramFamily = Family::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0,
            ])
        });
        registry.register(
            "http_requests",
            "HTTP requests by route and status code",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request duration by route",
            http_duration.clone(),
        );
        registry.register("reconciles", "ApplicationSet reconciles", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciles that ended in an error, by reason",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            duration.clone(),
        );
        registry.register(
            "owned_applications",
            "Applications owned by ApplicationSets",
            owned.clone(),
        );
        Metrics {
            registry,
            http_requests,
            http_duration,
            reconciles,
            errors,
            duration,
            owned,
            owned_by_set: Mutex::new(HashMap::new()),
            ready: AtomicBool::new(false),
            github: Mutex::new(None),
        }
    }
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

    /// Record one reconcile: its duration, its error reason (if any) and how many Applications
    /// the ApplicationSet owns now.
    pub fn reconciled(&self, appset: &str, took: Duration, error_reason: Option<&str>, owned: usize) {
        self.reconciles.inc();
        self.duration.observe(took.as_secs_f64());
        if let Some(reason) = error_reason {
            self.errors
                .get_or_create(&ReasonLabels {
                    reason: reason.to_string(),
                })
                .inc();
        }
        let mut by_set = self.owned_by_set.lock().unwrap_or_else(|e| e.into_inner());
        by_set.insert(appset.to_string(), owned as i64);
        self.owned.set(by_set.values().sum());
    }

    /// An ApplicationSet is gone: its Applications no longer count.
    pub fn forget(&self, appset: &str) {
        let mut by_set = self.owned_by_set.lock().unwrap_or_else(|e| e.into_inner());
        by_set.remove(appset);
        self.owned.set(by_set.values().sum());
    }

    /// The caches are filled (what `/readyz` reports).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Whether the caches are filled.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Report this GitHub client's request counters.
    pub fn watch_github(&self, github: Arc<GitHub>) {
        *self.github.lock().unwrap_or_else(|e| e.into_inner()) = Some(github);
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        if let Some(gh) = self.github.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let s = gh.stats();
            let extra = format!(
                "# HELP appset_github_requests GitHub API requests for pull requests.\n\
                 # TYPE appset_github_requests counter\nappset_github_requests_total {}\n\
                 # HELP appset_github_not_modified GitHub API requests answered 304 Not Modified (free).\n\
                 # TYPE appset_github_not_modified counter\nappset_github_not_modified_total {}\n\
                 # HELP appset_github_rate_limited GitHub API rate-limit answers.\n\
                 # TYPE appset_github_rate_limited counter\nappset_github_rate_limited_total {}\n",
                s.requests, s.not_modified, s.rate_limited
            );
            match out.rfind("# EOF") {
                Some(i) => out.insert_str(i, &extra),
                None => out.push_str(&extra),
            }
        }
        out
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
