//! Argo CD's GitHub API metrics (`argocd_github_api_*`): every request appset sends to GitHub,
//! counted and timed, and the rate-limit headers of its answer, with Argo CD's names, help
//! strings, label names and buckets (`applicationset/services/github_metrics.go`).
//!
//! Stage: sources (no I/O of its own: [`super::GitHub`] records each request here, and
//! [`crate::metrics`] encodes the families at scrape time).
//!
//! Labels: `method`, `endpoint` (the request's path, without the query, as Argo CD's
//! `req.URL.Path`), `status` (`0` when no answer came), and the ApplicationSet the request was
//! made for (`appset_namespace`, `appset_name`; `unknown` when there is none, as Argo CD: `appset
//! render` and `appset serve`); the rate-limit gauges carry GitHub's `X-RateLimit-Resource` as
//! `resource`. Argo CD records them only with `--enable-github-api-metrics`; appset always does.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, StatusCode};
use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeMetric},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
};

/// The label value of an unknown ApplicationSet (Argo CD's).
pub const UNKNOWN: &str = "unknown";

/// Prometheus' default buckets (`prometheus.DefBuckets`), Argo CD's request-duration buckets.
pub const DEFAULT_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The ApplicationSet a GitHub request is made for (Argo CD's `MetricsContext`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AppSetRef {
    /// The ApplicationSet's namespace.
    pub namespace: String,
    /// The ApplicationSet's name.
    pub name: String,
}

/// Labels of `argocd_github_api_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    endpoint: String,
    status: String,
    appset_namespace: String,
    appset_name: String,
}

/// Labels of `argocd_github_api_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    method: String,
    endpoint: String,
    appset_namespace: String,
    appset_name: String,
}

/// Labels of the `argocd_github_api_rate_limit_*` gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RateLimitLabels {
    endpoint: String,
    appset_namespace: String,
    appset_name: String,
    resource: String,
}

type DurationFamily = Family<DurationLabels, Histogram, fn() -> Histogram>;

/// The `argocd_github_api_*` families of one [`super::GitHub`] client. Clones share the series.
#[derive(Clone, Debug)]
pub struct GitHubApiMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: DurationFamily,
    remaining: Family<RateLimitLabels, Gauge>,
    limit: Family<RateLimitLabels, Gauge>,
    reset: Family<RateLimitLabels, Gauge>,
    used: Family<RateLimitLabels, Gauge>,
}

impl Default for GitHubApiMetrics {
    fn default() -> Self {
        GitHubApiMetrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(|| Histogram::new(DEFAULT_BUCKETS)),
            remaining: Family::default(),
            limit: Family::default(),
            reset: Family::default(),
            used: Family::default(),
        }
    }
}

/// One request to GitHub, as it went.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The HTTP method (`GET`).
    pub method: &'a str,
    /// The request's path, without the query.
    pub endpoint: &'a str,
    /// The ApplicationSet it was made for.
    pub appset: Option<&'a AppSetRef>,
    /// From sending it to the answer's headers.
    pub took: Duration,
    /// The answer's status and headers; None when none came (connection or timeout error).
    pub answer: Option<(StatusCode, &'a HeaderMap)>,
}

impl GitHubApiMetrics {
    /// Record one request: its count and duration, and the rate-limit headers of its answer
    /// (the reset time as seconds from `now`, as Argo CD).
    pub fn record(&self, request: Observed<'_>, now: SystemTime) {
        let (appset_namespace, appset_name) = request
            .appset
            .map_or((UNKNOWN, UNKNOWN), |a| (a.namespace.as_str(), a.name.as_str()));
        let status = request.answer.map_or(0, |(s, _)| s.as_u16());
        self.requests
            .get_or_create(&RequestLabels {
                method: request.method.into(),
                endpoint: request.endpoint.into(),
                status: status.to_string(),
                appset_namespace: appset_namespace.into(),
                appset_name: appset_name.into(),
            })
            .inc();
        self.duration
            .get_or_create(&DurationLabels {
                method: request.method.into(),
                endpoint: request.endpoint.into(),
                appset_namespace: appset_namespace.into(),
                appset_name: appset_name.into(),
            })
            .observe(request.took.as_secs_f64());
        let Some((_, headers)) = request.answer else {
            return;
        };
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        let labels = RateLimitLabels {
            endpoint: request.endpoint.into(),
            appset_namespace: appset_namespace.into(),
            appset_name: appset_name.into(),
            resource: headers
                .get("x-ratelimit-resource")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
        };
        let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        for (family, value) in [
            (&self.reset, header("x-ratelimit-reset").map(|at| at - now_secs)),
            (&self.remaining, header("x-ratelimit-remaining")),
            (&self.limit, header("x-ratelimit-limit")),
            (&self.used, header("x-ratelimit-used")),
        ] {
            if let Some(value) = value {
                family.get_or_create(&labels).set(value);
            }
        }
    }

    /// The families with Argo CD's names and help strings (a counter's name without `_total`:
    /// the encoder appends it to its samples).
    pub fn families(&self) -> [(&'static str, &'static str, &dyn EncodeMetric); 6] {
        [
            (
                "argocd_github_api_requests",
                "Total number of GitHub API requests",
                &self.requests,
            ),
            (
                "argocd_github_api_request_duration_seconds",
                "GitHub API request duration in seconds",
                &self.duration,
            ),
            (
                "argocd_github_api_rate_limit_remaining",
                "The number of requests remaining in the current rate limit window",
                &self.remaining,
            ),
            (
                "argocd_github_api_rate_limit_limit",
                "The maximum number of requests that you can make per hour",
                &self.limit,
            ),
            (
                "argocd_github_api_rate_limit_reset_seconds",
                "The time left till the current rate limit window resets, in seconds",
                &self.reset,
            ),
            (
                "argocd_github_api_rate_limit_used",
                "The number of requests used in the current rate limit window",
                &self.used,
            ),
        ]
    }
}

/// The path a request for `url` (a path and query, or a URL) goes to at `api`, without the
/// query: octocrab's join (the API's own path, e.g. GitHub Enterprise's `/api/v3`, is prefixed
/// unless `url` already starts with it).
pub fn endpoint(api: &str, url: &str) -> String {
    let path = match http::Uri::try_from(url) {
        Ok(u) => u.path().to_string(),
        Err(_) => url.split('?').next().unwrap_or_default().to_string(),
    };
    let base = http::Uri::try_from(api)
        .map(|u| u.path().trim_end_matches('/').to_string())
        .unwrap_or_default();
    if path.starts_with(&base) {
        path
    } else {
        format!("{base}{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_paths_as_sent_without_the_query() {
        assert_eq!(
            endpoint("https://api.github.com", "/repos/o/r/pulls?per_page=100"),
            "/repos/o/r/pulls"
        );
        assert_eq!(
            endpoint("https://ghe.example.com/api/v3/", "/repos/o/r/pulls?per_page=100"),
            "/api/v3/repos/o/r/pulls"
        );
        // A pagination link already carries the API's path.
        assert_eq!(
            endpoint(
                "https://ghe.example.com/api/v3",
                "/api/v3/repositories/7/pulls?per_page=100&page=2"
            ),
            "/api/v3/repositories/7/pulls"
        );
    }
}
