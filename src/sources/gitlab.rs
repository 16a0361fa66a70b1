//! The GitLab source: the merge requests of a project, through a small typed client on reqwest,
//! frugal with the API budget.
//!
//! Stage: sources (I/O: HTTPS to a GitLab instance's REST API v4).
//!
//! - `GET {api}/api/v4/projects/{url-encoded project}/merge_requests?per_page=100&page=N`, with
//!   `state=` (`pullRequestState`) and `labels=` (comma-joined) as Argo CD's go-gitlab client
//!   sends them, and the token in the `PRIVATE-TOKEN` header (go-gitlab's default).
//! - One cache per (API, project, state, labels, credential, TLS settings) shared by every
//!   ApplicationSet and every reconcile that holds the same [`GitLab`]. Concurrent callers wait
//!   for the one request in flight and share its answer; an answer younger than `max_age` is
//!   served without asking GitLab.
//! - Every page (followed through `X-Next-Page`, else the `Link: rel="next"` page number; the
//!   next URL is always built from the configured API, so the token never leaves its host) is
//!   fetched with `If-None-Match: <etag>` once it is cached: an unchanged poll costs one
//!   `304 Not Modified` per page and no JSON parsing.
//! - A rate-limit answer (429, or 403 with `RateLimit-Remaining: 0`) is a typed error carrying
//!   the reset time (`Retry-After`, else `RateLimit-Reset`); until then the error is returned
//!   without calling GitLab. Error messages carry no request ids or times, so they are identical
//!   on every retry.
//! - Redirects are not followed (a redirect to another host would carry the token along).
//!
//! Why not the `gitlab` crate: it is large, blocking-first, and hides the status and headers
//! this cache needs (304s, `X-Next-Page`, rate-limit headers); one endpoint is read.

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use http::{HeaderMap, StatusCode, header};
use serde::Deserialize;

use super::PullRequest;

/// GitLab's public instance (Argo CD's default `https://gitlab.com/`).
pub const DEFAULT_API: &str = "https://gitlab.com";

/// Upper bound on the pages of one listing (100 000 merge requests).
const MAX_PAGES: usize = 1000;

/// TLS settings of a GitLab instance (`insecure`, `caRef`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct GitLabTls {
    /// Skip verifying the server's certificate.
    pub insecure: bool,
    /// Extra trusted CA certificates (PEM bundle).
    pub ca_pem: Option<String>,
}

impl std::fmt::Debug for GitLabTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitLabTls")
            .field("insecure", &self.insecure)
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| p.len()))
            .finish()
    }
}

/// Which merge requests to list.
#[derive(Clone)]
pub struct MergeRequestsQuery {
    /// GitLab base URL (the API is under `/api/v4`); empty for [`DEFAULT_API`].
    pub api: String,
    /// Project path (`group/name`) or numeric id.
    pub project: String,
    /// `labels=` filter (all must be present).
    pub labels: Vec<String>,
    /// `state=` filter; empty: all states.
    pub state: String,
    /// Token sent as `PRIVATE-TOKEN`; None: anonymous.
    pub token: Option<String>,
    /// TLS settings.
    pub tls: GitLabTls,
}

impl std::fmt::Debug for MergeRequestsQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergeRequestsQuery")
            .field("api", &self.api)
            .field("project", &self.project)
            .field("labels", &self.labels)
            .field("state", &self.state)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .finish()
    }
}

pub(super) fn fingerprint(v: impl Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

impl MergeRequestsQuery {
    fn tls_fingerprint(&self) -> u64 {
        fingerprint((self.tls.insecure, &self.tls.ca_pem))
    }
}

/// Listing merge requests failed. Messages follow Argo CD's `error listing merge requests for
/// project '…'` and are stable across retries (no request ids, no times).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitLabError {
    /// The project does not exist (or the credentials cannot see it).
    #[error("error listing merge requests for project '{project}': project not found at {api} (HTTP 404)")]
    NotFound {
        /// GitLab base URL.
        api: String,
        /// Project.
        project: String,
    },
    /// The API's rate limit is exhausted; retry after `reset_at`.
    #[error(
        "error listing merge requests for project '{project}': GitLab API rate limit exceeded at {api}; waiting for the reset"
    )]
    RateLimited {
        /// GitLab base URL.
        api: String,
        /// Project.
        project: String,
        /// When requests may resume (from `Retry-After` or `RateLimit-Reset`).
        reset_at: Option<SystemTime>,
    },
    /// Any other non-success status.
    #[error(
        "error listing merge requests for project '{project}': GitLab API at {api} answered HTTP {status}"
    )]
    Status {
        /// GitLab base URL.
        api: String,
        /// Project.
        project: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The answer is not the documented JSON.
    #[error(
        "error listing merge requests for project '{project}': malformed answer from GitLab API at {api}: {message}"
    )]
    Malformed {
        /// GitLab base URL.
        api: String,
        /// Project.
        project: String,
        /// What is wrong.
        message: String,
    },
    /// The API could not be reached, or the client could not be set up.
    #[error("error listing merge requests for project '{project}' at {api}: {message}")]
    Request {
        /// GitLab base URL.
        api: String,
        /// Project.
        project: String,
        /// What went wrong.
        message: String,
    },
    /// The query itself is invalid (project, API URL, CA bundle).
    #[error("invalid merge request query: {0}")]
    Invalid(String),
}

impl GitLabError {
    /// When the next attempt makes sense (rate limits only).
    pub fn retry_at(&self) -> Option<SystemTime> {
        match self {
            GitLabError::RateLimited { reset_at, .. } => *reset_at,
            _ => None,
        }
    }
}

/// Request counters (for tests and benchmarks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GitLabStats {
    /// HTTP requests sent for merge-request pages.
    pub requests: u64,
    /// Of those, answered `304 Not Modified`.
    pub not_modified: u64,
    /// Of those, rate-limit answers.
    pub rate_limited: u64,
    /// Listings served from the cache without any request (fresh, or rate-limited).
    pub served_from_cache: u64,
}

#[derive(Clone)]
struct Page {
    page: u64,
    etag: Option<String>,
    next: Option<u64>,
    prs: Arc<Vec<PullRequest>>,
}

#[derive(Default)]
struct ProjectCache {
    pages: Vec<Page>,
    result: Option<(Instant, Arc<Vec<PullRequest>>)>,
    blocked: Option<GitLabError>,
}

/// (API, project, state, labels, token fingerprint, TLS fingerprint).
type CacheKey = (String, String, String, String, u64, u64);

/// A GitLab client with a shared merge-request cache. Cheap to share in an `Arc`.
pub struct GitLab {
    max_age: Duration,
    timeout: Duration,
    clients: Mutex<HashMap<u64, reqwest::Client>>,
    caches: Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<ProjectCache>>>>,
    /// Listings of a project (lower case) older than this instant are stale.
    expired: Mutex<HashMap<String, Instant>>,
    requests: AtomicU64,
    not_modified: AtomicU64,
    rate_limited: AtomicU64,
    served_from_cache: AtomicU64,
}

impl std::fmt::Debug for GitLab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitLab").field("max_age", &self.max_age).finish()
    }
}

/// One merge request as `GET /projects/:id/merge_requests` returns it (the fields appset reads).
#[derive(Deserialize)]
struct ApiMergeRequest {
    iid: u64,
    #[serde(default)]
    title: Option<String>,
    source_branch: String,
    #[serde(default)]
    target_branch: Option<String>,
    #[serde(default)]
    sha: Option<String>,
    #[serde(default)]
    labels: Option<Vec<String>>,
    #[serde(default)]
    author: Option<ApiUser>,
    #[serde(default)]
    draft: bool,
}

#[derive(Deserialize)]
struct ApiUser {
    #[serde(default)]
    username: String,
}

impl From<ApiMergeRequest> for PullRequest {
    fn from(m: ApiMergeRequest) -> Self {
        PullRequest {
            number: m.iid,
            title: m.title.unwrap_or_default(),
            branch: m.source_branch,
            target_branch: m.target_branch.unwrap_or_default(),
            head_sha: m.sha.unwrap_or_default(),
            labels: m.labels.unwrap_or_default(),
            author: m.author.map(|a| a.username).unwrap_or_default(),
            draft: m.draft,
        }
    }
}

/// Percent-encode everything but RFC 3986's unreserved characters (Go's `url.PathEscape` of a
/// project path, `/` included, as go-gitlab sends it).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(super) fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// The next page number: `X-Next-Page` (empty on the last page), else the `page` parameter of
/// the `Link: rel="next"` target.
fn next_page(headers: &HeaderMap) -> Option<u64> {
    if let Some(v) = header_str(headers, "x-next-page") {
        return v.parse().ok();
    }
    link_next_page(headers)
}

/// The `page` parameter of the `Link: rel="next"` target (GitLab's and Gitea's paging).
pub(super) fn link_next_page(headers: &HeaderMap) -> Option<u64> {
    let link = header_str(headers, header::LINK.as_str())?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        if !is_next {
            return None;
        }
        let url = url.trim().trim_start_matches('<').trim_end_matches('>');
        let (_, query) = url.split_once('?')?;
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix("page=").and_then(|v| v.parse().ok()))
    })
}

/// The reset time of a rate-limit answer, if this is one (GitLab's `RateLimit-*` headers).
fn rate_limit_reset(status: StatusCode, headers: &HeaderMap, now: SystemTime) -> Option<Option<SystemTime>> {
    rate_limit_reset_by(status, headers, now, "ratelimit")
}

/// The reset time of a rate-limit answer, if this is one: a 429, or a 403 whose
/// `<prefix>-remaining` is 0; retry after `Retry-After` seconds, else at `<prefix>-reset`
/// (GitLab's prefix `ratelimit`, Gitea's `x-ratelimit`).
pub(super) fn rate_limit_reset_by(
    status: StatusCode,
    headers: &HeaderMap,
    now: SystemTime,
    prefix: &str,
) -> Option<Option<SystemTime>> {
    let limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && header_str(headers, &format!("{prefix}-remaining")) == Some("0"));
    if !limited {
        return None;
    }
    let retry_after = header_str(headers, "retry-after").and_then(|v| v.parse::<u64>().ok());
    let reset = header_str(headers, &format!("{prefix}-reset"))
        .and_then(|v| v.parse::<u64>().ok())
        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs));
    Some(match retry_after {
        Some(secs) => Some(now + Duration::from_secs(secs)),
        None => reset,
    })
}

impl GitLab {
    /// A client whose answers are reused for `max_age` (0: every call asks GitLab,
    /// conditionally).
    pub fn new(max_age: Duration) -> Self {
        GitLab {
            max_age,
            timeout: Duration::from_secs(30),
            clients: Mutex::new(HashMap::new()),
            caches: Mutex::new(HashMap::new()),
            expired: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            not_modified: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            served_from_cache: AtomicU64::new(0),
        }
    }

    /// Request counters so far.
    pub fn stats(&self) -> GitLabStats {
        GitLabStats {
            requests: self.requests.load(Ordering::Relaxed),
            not_modified: self.not_modified.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            served_from_cache: self.served_from_cache.load(Ordering::Relaxed),
        }
    }

    /// Forget the cached listings of `project` (any API, credential or filter): the next call
    /// asks GitLab (still conditionally). A listing fetched while this runs counts as stale too.
    pub fn expire(&self, project: &str) {
        self.expired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(project.to_ascii_lowercase(), Instant::now());
    }

    /// The base URL a query talks to (no trailing `/`).
    pub fn api_of(query: &MergeRequestsQuery) -> String {
        let api = query.api.trim().trim_end_matches('/');
        if api.is_empty() {
            DEFAULT_API.to_string()
        } else {
            api.to_string()
        }
    }

    fn client(&self, q: &MergeRequestsQuery) -> Result<reqwest::Client, GitLabError> {
        let key = q.tls_fingerprint();
        if let Some(c) = self.clients.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(c.clone());
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("appset/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.timeout)
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &q.tls.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| GitLabError::Invalid(format!("caRef: invalid CA certificates: {e}")))?;
            if certs.is_empty() {
                return Err(GitLabError::Invalid(
                    "caRef: no PEM certificate in the ConfigMap key".into(),
                ));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if q.tls.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let client = builder
            .build()
            .map_err(|e| GitLabError::Invalid(format!("cannot set up the GitLab client: {e}")))?;
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, client.clone());
        Ok(client)
    }

    /// The merge requests of a project, in GitLab's order.
    ///
    /// # Errors
    /// [`GitLabError`]: never an empty list in place of a failure.
    pub async fn merge_requests(
        &self,
        query: &MergeRequestsQuery,
    ) -> Result<Arc<Vec<PullRequest>>, GitLabError> {
        let project = query.project.trim();
        if project.is_empty() || project.chars().any(char::is_control) {
            return Err(GitLabError::Invalid(format!(
                "project {:?} must be a GitLab project path or id",
                query.project
            )));
        }
        let api = Self::api_of(query);
        let uri = http::Uri::try_from(api.as_str())
            .map_err(|e| GitLabError::Invalid(format!("invalid GitLab API URL {api:?}: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            return Err(GitLabError::Invalid(format!(
                "invalid GitLab API URL {api:?}: an http(s) URL is needed"
            )));
        }
        let key = (
            api.to_ascii_lowercase(),
            project.to_ascii_lowercase(),
            query.state.clone(),
            query.labels.join(","),
            fingerprint(&query.token),
            query.tls_fingerprint(),
        );
        let slot = self
            .caches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .clone();
        // Single flight: callers for the same listing queue here and share the answer.
        let mut cache = slot.lock().await;
        if let Some(err) = &cache.blocked {
            match err.retry_at() {
                Some(at) if SystemTime::now() < at => {
                    self.served_from_cache.fetch_add(1, Ordering::Relaxed);
                    return Err(err.clone());
                }
                _ => cache.blocked = None,
            }
        }
        let expired_at = self
            .expired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&project.to_ascii_lowercase())
            .copied();
        if let Some((at, result)) = &cache.result
            && at.elapsed() < self.max_age
            && expired_at.is_none_or(|e| *at > e)
        {
            self.served_from_cache.fetch_add(1, Ordering::Relaxed);
            return Ok(result.clone());
        }
        match self.fetch_all(&api, project, query, &cache.pages).await {
            Ok(pages) => {
                let all: Vec<PullRequest> = pages.iter().flat_map(|p| p.prs.iter().cloned()).collect();
                let all = Arc::new(all);
                cache.pages = pages;
                cache.result = Some((Instant::now(), all.clone()));
                Ok(all)
            }
            Err(e) => {
                if matches!(e, GitLabError::RateLimited { .. }) {
                    cache.blocked = Some(e.clone());
                }
                Err(e)
            }
        }
    }

    async fn fetch_all(
        &self,
        api: &str,
        project: &str,
        q: &MergeRequestsQuery,
        cached: &[Page],
    ) -> Result<Vec<Page>, GitLabError> {
        let client = self.client(q)?;
        let mut base = format!(
            "{api}/api/v4/projects/{}/merge_requests?per_page=100",
            encode_component(project)
        );
        if !q.state.is_empty() {
            base.push_str(&format!("&state={}", encode_component(&q.state)));
        }
        if !q.labels.is_empty() {
            base.push_str(&format!("&labels={}", encode_component(&q.labels.join(","))));
        }
        let mut pages: Vec<Page> = Vec::new();
        let mut page_no = 1;
        for _ in 0..MAX_PAGES {
            let known = cached.iter().find(|p| p.page == page_no);
            let page = self
                .fetch_page(&client, api, project, q, &base, page_no, known)
                .await?;
            let next = page.next;
            pages.push(page);
            match next {
                // Pages only go forward: a server pointing back would loop.
                Some(n) if n > page_no => page_no = n,
                Some(n) => {
                    return Err(GitLabError::Request {
                        api: api.to_string(),
                        project: project.to_string(),
                        message: format!("page {page_no} names page {n} as the next one"),
                    });
                }
                None => return Ok(pages),
            }
        }
        Err(GitLabError::Request {
            api: api.to_string(),
            project: project.to_string(),
            message: format!("more than {MAX_PAGES} pages of merge requests"),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn fetch_page(
        &self,
        client: &reqwest::Client,
        api: &str,
        project: &str,
        q: &MergeRequestsQuery,
        base: &str,
        page_no: u64,
        known: Option<&Page>,
    ) -> Result<Page, GitLabError> {
        let request_err = |message: String| GitLabError::Request {
            api: api.to_string(),
            project: project.to_string(),
            message,
        };
        let mut request = client
            .get(format!("{base}&page={page_no}"))
            .header(header::ACCEPT, "application/json");
        if let Some(token) = q.token.as_deref().filter(|t| !t.is_empty()) {
            request = request.header("PRIVATE-TOKEN", token);
        }
        if let Some(etag) = known.and_then(|p| p.etag.as_deref()) {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = request
            .send()
            .await
            .map_err(|e| request_err(crate::text::causes(crate::text::error_chain(&e))))?;
        let status = response.status();
        let headers = response.headers().clone();
        if status == StatusCode::NOT_MODIFIED
            && let Some(page) = known
        {
            self.not_modified.fetch_add(1, Ordering::Relaxed);
            return Ok(page.clone());
        }
        if let Some(reset_at) = rate_limit_reset(status, &headers, SystemTime::now()) {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
            return Err(GitLabError::RateLimited {
                api: api.to_string(),
                project: project.to_string(),
                reset_at,
            });
        }
        if status == StatusCode::NOT_FOUND {
            return Err(GitLabError::NotFound {
                api: api.to_string(),
                project: project.to_string(),
            });
        }
        if status != StatusCode::OK {
            return Err(GitLabError::Status {
                api: api.to_string(),
                project: project.to_string(),
                status: status.as_u16(),
            });
        }
        let body = response.bytes().await.map_err(|e| {
            request_err(format!(
                "reading the answer: {}",
                crate::text::causes(crate::text::error_chain(&e))
            ))
        })?;
        let mrs: Vec<ApiMergeRequest> =
            serde_json::from_slice(&body).map_err(|e| GitLabError::Malformed {
                api: api.to_string(),
                project: project.to_string(),
                message: e.to_string(),
            })?;
        Ok(Page {
            page: page_no,
            etag: header_str(&headers, "etag").map(str::to_string),
            next: next_page(&headers),
            prs: Arc::new(mrs.into_iter().map(PullRequest::from).collect()),
        })
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn projects_are_encoded_as_one_path_segment() {
        assert_eq!(encode_component("group/sub/app"), "group%2Fsub%2Fapp");
        assert_eq!(encode_component("42"), "42");
        assert_eq!(encode_component("a b,c"), "a%20b%2Cc");
    }

    #[test]
    fn the_next_page_comes_from_x_next_page_else_the_link_header() {
        let mut h = HeaderMap::new();
        h.insert("x-next-page", HeaderValue::from_static("3"));
        assert_eq!(next_page(&h), Some(3));
        h.insert("x-next-page", HeaderValue::from_static(""));
        assert_eq!(next_page(&h), None, "an empty X-Next-Page ends the listing");
        let mut h = HeaderMap::new();
        h.insert(
            header::LINK,
            HeaderValue::from_static(
                "<https://gitlab.example/api/v4/projects/1/merge_requests?page=1&per_page=100>; rel=\"first\", \
                 <https://gitlab.example/api/v4/projects/1/merge_requests?per_page=100&page=2>; rel=\"next\"",
            ),
        );
        assert_eq!(next_page(&h), Some(2));
        assert_eq!(next_page(&HeaderMap::new()), None);
    }

    #[test]
    fn rate_limits_are_recognised_from_status_and_headers() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let mut h = HeaderMap::new();
        h.insert("ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("ratelimit-reset", HeaderValue::from_static("1600"));
        assert_eq!(
            rate_limit_reset(StatusCode::FORBIDDEN, &h, now),
            Some(Some(UNIX_EPOCH + Duration::from_secs(1600)))
        );
        h.insert("retry-after", HeaderValue::from_static("30"));
        assert_eq!(
            rate_limit_reset(StatusCode::TOO_MANY_REQUESTS, &h, now),
            Some(Some(now + Duration::from_secs(30)))
        );
        assert_eq!(
            rate_limit_reset(StatusCode::FORBIDDEN, &HeaderMap::new(), now),
            None
        );
        assert_eq!(
            rate_limit_reset(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), now),
            Some(None)
        );
    }

    #[test]
    fn merge_requests_map_to_argo_cds_pull_request_fields() {
        let mr: ApiMergeRequest = serde_json::from_value(serde_json::json!({
            "id": 900, "iid": 7, "title": "Add x", "source_branch": "feat/x", "target_branch": "main",
            "sha": "0123456789abcdef", "labels": ["preview"], "author": {"id": 1, "username": "alice"},
            "draft": true, "state": "opened"
        }))
        .unwrap();
        let pr = PullRequest::from(mr);
        assert_eq!(
            pr,
            PullRequest {
                number: 7,
                title: "Add x".into(),
                branch: "feat/x".into(),
                target_branch: "main".into(),
                head_sha: "0123456789abcdef".into(),
                labels: vec!["preview".into()],
                author: "alice".into(),
                draft: true,
            }
        );
        // GitLab may answer `sha: null` (a merge request without commits) and no author.
        let mr: ApiMergeRequest = serde_json::from_value(
            serde_json::json!({"iid": 8, "source_branch": "b", "sha": null, "labels": null}),
        )
        .unwrap();
        assert_eq!(PullRequest::from(mr).head_sha, "");
    }

    #[test]
    fn tokens_are_redacted_from_debug_output() {
        let q = MergeRequestsQuery {
            api: String::new(),
            project: "g/p".into(),
            labels: vec![],
            state: String::new(),
            token: Some("glpat-secret".into()),
            tls: GitLabTls::default(),
        };
        assert!(!format!("{q:?}").contains("glpat-secret"));
    }

    #[test]
    fn rate_limit_messages_do_not_change_with_the_reset_time() {
        let e = |secs| GitLabError::RateLimited {
            api: DEFAULT_API.into(),
            project: "g/p".into(),
            reset_at: Some(UNIX_EPOCH + Duration::from_secs(secs)),
        };
        assert_eq!(e(1).to_string(), e(2).to_string());
    }
}
