//! The Gitea (and Forgejo) source: the open pull requests of a repository, through a small typed
//! client on reqwest, frugal with the API budget (the GitLab client's rules).
//!
//! Stage: sources (I/O: HTTP(S) to a Gitea instance's REST API v1).
//!
//! - `GET {api}/api/v1/repos/{owner}/{repo}/pulls?state=open&limit=50&page=N`, the token in
//!   `Authorization: token <t>` (Gitea's SDK's header). Argo CD reads only the first page (the
//!   server's default page size); appset follows every page.
//! - `labels` is not sent: Argo CD filters labels on the client, and so does the generator, so
//!   one cache per (API, owner, repo, credential, TLS setting) serves every label filter. Every
//!   ApplicationSet and every reconcile that holds the same [`Gitea`] shares it; concurrent callers
//!   wait for the one request in flight; an answer younger than `max_age` is reused.
//! - Pages are followed through `Link: rel="next"` (its `page` number; the next URL is always
//!   built from the configured API, so the token never leaves its host). Gitea sends ETags on
//!   some answers: a page that carried one is asked again with `If-None-Match`, and a `304`
//!   reuses it.
//! - A 429 (a proxy's or Gitea's own rate limiter) is a typed error carrying the reset time
//!   (`Retry-After`, else `X-RateLimit-Reset`); until then the error is returned without calling
//!   Gitea. Error messages carry no times, so they are identical on every retry.
//! - Redirects are not followed (a redirect to another host would carry the token along).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use http::{HeaderMap, StatusCode, header};
use serde::Deserialize;

use super::{
    PullRequest,
    gitlab::{encode_component, fingerprint, header_str, link_next_page, rate_limit_reset_by},
};

/// Upper bound on the pages of one listing (50 000 pull requests).
const MAX_PAGES: usize = 1000;

/// Page size asked for (Gitea's default `MAX_RESPONSE_ITEMS`).
const PAGE_SIZE: u32 = 50;

/// Which pull requests to list.
#[derive(Clone)]
pub struct GiteaPullsQuery {
    /// Gitea base URL (the API is under `/api/v1`).
    pub api: String,
    /// Repository owner (user or organisation).
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// Token sent as `Authorization: token …`; None: anonymous.
    pub token: Option<String>,
    /// Skip verifying the server's certificate.
    pub insecure: bool,
}

impl std::fmt::Debug for GiteaPullsQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GiteaPullsQuery")
            .field("api", &self.api)
            .field("owner", &self.owner)
            .field("repo", &self.repo)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("insecure", &self.insecure)
            .finish()
    }
}

/// Listing pull requests failed. Messages name the repository and API, and are stable across
/// retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GiteaError {
    /// The repository does not exist (or the credentials cannot see it).
    #[error("error listing pull requests for {owner}/{repo}: repository not found at {api} (HTTP 404)")]
    NotFound {
        /// Gitea base URL.
        api: String,
        /// Owner.
        owner: String,
        /// Repository.
        repo: String,
    },
    /// The API's rate limit is exhausted; retry after `reset_at`.
    #[error(
        "error listing pull requests for {owner}/{repo}: Gitea API rate limit exceeded at {api}; waiting for the reset"
    )]
    RateLimited {
        /// Gitea base URL.
        api: String,
        /// Owner.
        owner: String,
        /// Repository.
        repo: String,
        /// When requests may resume.
        reset_at: Option<SystemTime>,
    },
    /// Any other non-success status.
    #[error("error listing pull requests for {owner}/{repo}: Gitea API at {api} answered HTTP {status}")]
    Status {
        /// Gitea base URL.
        api: String,
        /// Owner.
        owner: String,
        /// Repository.
        repo: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The answer is not the documented JSON.
    #[error(
        "error listing pull requests for {owner}/{repo}: malformed answer from Gitea API at {api}: {message}"
    )]
    Malformed {
        /// Gitea base URL.
        api: String,
        /// Owner.
        owner: String,
        /// Repository.
        repo: String,
        /// What is wrong.
        message: String,
    },
    /// The API could not be reached, or the client could not be set up.
    #[error("error listing pull requests for {owner}/{repo} at {api}: {message}")]
    Request {
        /// Gitea base URL.
        api: String,
        /// Owner.
        owner: String,
        /// Repository.
        repo: String,
        /// What went wrong.
        message: String,
    },
    /// The query itself is invalid (owner, repository, API URL).
    #[error("invalid Gitea pull request query: {0}")]
    Invalid(String),
}

impl GiteaError {
    /// When the next attempt makes sense (rate limits only).
    pub fn retry_at(&self) -> Option<SystemTime> {
        match self {
            GiteaError::RateLimited { reset_at, .. } => *reset_at,
            _ => None,
        }
    }
}

/// Request counters (for tests and benchmarks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GiteaStats {
    /// HTTP requests sent for pull-request pages.
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
struct RepoCache {
    pages: Vec<Page>,
    result: Option<(Instant, Arc<Vec<PullRequest>>)>,
    blocked: Option<GiteaError>,
}

/// (API, owner, repo, token fingerprint, insecure).
type CacheKey = (String, String, String, u64, bool);

/// A Gitea client with a shared pull-request cache. Cheap to share in an `Arc`.
pub struct Gitea {
    max_age: Duration,
    timeout: Duration,
    clients: Mutex<HashMap<bool, reqwest::Client>>,
    caches: Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<RepoCache>>>>,
    /// Listings of (owner, repo), lower case, older than this instant are stale (a webhook said
    /// the repository's pull requests changed).
    expired: Mutex<HashMap<(String, String), Instant>>,
    requests: AtomicU64,
    not_modified: AtomicU64,
    rate_limited: AtomicU64,
    served_from_cache: AtomicU64,
}

impl std::fmt::Debug for Gitea {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gitea").field("max_age", &self.max_age).finish()
    }
}

/// One pull request as `GET /repos/{owner}/{repo}/pulls` returns it (the fields Argo CD reads).
#[derive(Deserialize)]
struct ApiPull {
    number: u64,
    #[serde(default)]
    title: Option<String>,
    head: ApiBranch,
    #[serde(default)]
    base: Option<ApiBranch>,
    #[serde(default)]
    labels: Option<Vec<ApiLabel>>,
    #[serde(default)]
    user: Option<ApiUser>,
}

#[derive(Deserialize)]
struct ApiBranch {
    #[serde(rename = "ref", default)]
    ref_: String,
    #[serde(default)]
    sha: Option<String>,
}

#[derive(Deserialize)]
struct ApiLabel {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct ApiUser {
    #[serde(default)]
    login: String,
}

impl From<ApiPull> for PullRequest {
    fn from(p: ApiPull) -> Self {
        PullRequest {
            number: p.number,
            title: p.title.unwrap_or_default(),
            branch: p.head.ref_,
            target_branch: p.base.map(|b| b.ref_).unwrap_or_default(),
            head_sha: p.head.sha.unwrap_or_default(),
            labels: p.labels.unwrap_or_default().into_iter().map(|l| l.name).collect(),
            author: p.user.map(|u| u.login).unwrap_or_default(),
            // Argo CD does not read Gitea's draft flag.
            draft: false,
        }
    }
}

/// The `page` parameter of the `Link: rel="next"` target.
fn next_page(headers: &HeaderMap) -> Option<u64> {
    link_next_page(headers)
}

/// The reset time of a rate-limit answer, if this is one (Gitea's `X-RateLimit-*` headers).
fn rate_limit_reset(status: StatusCode, headers: &HeaderMap, now: SystemTime) -> Option<Option<SystemTime>> {
    rate_limit_reset_by(status, headers, now, "x-ratelimit")
}

impl Gitea {
    /// A client whose answers are reused for `max_age` (0: every call asks Gitea,
    /// conditionally when it sent an ETag).
    pub fn new(max_age: Duration) -> Self {
        Gitea {
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

    /// Forget the cached listings of `owner/repo` (any API, token or TLS setting): the next call
    /// asks Gitea (still conditionally). A listing fetched while this runs counts as stale too.
    pub fn expire(&self, owner: &str, repo: &str) {
        self.expired.lock().unwrap_or_else(|e| e.into_inner()).insert(
            (owner.to_ascii_lowercase(), repo.to_ascii_lowercase()),
            Instant::now(),
        );
    }

    /// Request counters so far.
    pub fn stats(&self) -> GiteaStats {
        GiteaStats {
            requests: self.requests.load(Ordering::Relaxed),
            not_modified: self.not_modified.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            served_from_cache: self.served_from_cache.load(Ordering::Relaxed),
        }
    }

    fn client(&self, insecure: bool) -> Result<reqwest::Client, GiteaError> {
        if let Some(c) = self
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&insecure)
        {
            return Ok(c.clone());
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("appset/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.timeout)
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(insecure)
            .build()
            .map_err(|e| GiteaError::Invalid(format!("cannot set up the Gitea client: {e}")))?;
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(insecure, client.clone());
        Ok(client)
    }

    /// The open pull requests of a repository, in Gitea's order.
    ///
    /// # Errors
    /// [`GiteaError`]: never an empty list in place of a failure.
    pub async fn pull_requests(&self, query: &GiteaPullsQuery) -> Result<Arc<Vec<PullRequest>>, GiteaError> {
        let (owner, repo) = (query.owner.trim(), query.repo.trim());
        for (what, v) in [("owner", owner), ("repo", repo)] {
            if v.is_empty() || v.contains('/') || v.chars().any(char::is_control) {
                return Err(GiteaError::Invalid(format!(
                    "{what} {v:?} must be a Gitea {what} name"
                )));
            }
        }
        let api = query.api.trim().trim_end_matches('/').to_string();
        let uri = http::Uri::try_from(api.as_str())
            .map_err(|e| GiteaError::Invalid(format!("invalid Gitea API URL {api:?}: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            return Err(GiteaError::Invalid(format!(
                "invalid Gitea API URL {api:?}: an http(s) URL is needed"
            )));
        }
        let (key_owner, key_repo) = (owner.to_ascii_lowercase(), repo.to_ascii_lowercase());
        let key = (
            api.to_ascii_lowercase(),
            key_owner.clone(),
            key_repo.clone(),
            fingerprint(&query.token),
            query.insecure,
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
            .get(&(key_owner, key_repo))
            .copied();
        if let Some((at, result)) = &cache.result
            && at.elapsed() < self.max_age
            && expired_at.is_none_or(|e| *at > e)
        {
            self.served_from_cache.fetch_add(1, Ordering::Relaxed);
            return Ok(result.clone());
        }
        let target = Target {
            api: &api,
            owner,
            repo,
        };
        match self.fetch_all(&target, query, &cache.pages).await {
            Ok(pages) => {
                let all: Vec<PullRequest> = pages.iter().flat_map(|p| p.prs.iter().cloned()).collect();
                let all = Arc::new(all);
                cache.pages = pages;
                cache.result = Some((Instant::now(), all.clone()));
                Ok(all)
            }
            Err(e) => {
                if matches!(e, GiteaError::RateLimited { .. }) {
                    cache.blocked = Some(e.clone());
                }
                Err(e)
            }
        }
    }

    async fn fetch_all(
        &self,
        t: &Target<'_>,
        q: &GiteaPullsQuery,
        cached: &[Page],
    ) -> Result<Vec<Page>, GiteaError> {
        let client = self.client(q.insecure)?;
        let base = format!(
            "{}/api/v1/repos/{}/{}/pulls?state=open&limit={PAGE_SIZE}",
            t.api,
            encode_component(t.owner),
            encode_component(t.repo)
        );
        let mut pages: Vec<Page> = Vec::new();
        let mut page_no = 1;
        for _ in 0..MAX_PAGES {
            let known = cached.iter().find(|p| p.page == page_no);
            let page = self.fetch_page(&client, t, q, &base, page_no, known).await?;
            let next = page.next;
            pages.push(page);
            match next {
                // Pages only go forward: a server pointing back would loop.
                Some(n) if n > page_no => page_no = n,
                Some(n) => return Err(t.request(format!("page {page_no} names page {n} as the next one"))),
                None => return Ok(pages),
            }
        }
        Err(t.request(format!("more than {MAX_PAGES} pages of pull requests")))
    }

    async fn fetch_page(
        &self,
        client: &reqwest::Client,
        t: &Target<'_>,
        q: &GiteaPullsQuery,
        base: &str,
        page_no: u64,
        known: Option<&Page>,
    ) -> Result<Page, GiteaError> {
        let mut request = client
            .get(format!("{base}&page={page_no}"))
            .header(header::ACCEPT, "application/json");
        if let Some(token) = q.token.as_deref().filter(|t| !t.is_empty()) {
            request = request.header(header::AUTHORIZATION, format!("token {token}"));
        }
        if let Some(etag) = known.and_then(|p| p.etag.as_deref()) {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = request
            .send()
            .await
            .map_err(|e| t.request(crate::text::causes(crate::text::error_chain(&e))))?;
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
            return Err(GiteaError::RateLimited {
                api: t.api.to_string(),
                owner: t.owner.to_string(),
                repo: t.repo.to_string(),
                reset_at,
            });
        }
        if status == StatusCode::NOT_FOUND {
            return Err(GiteaError::NotFound {
                api: t.api.to_string(),
                owner: t.owner.to_string(),
                repo: t.repo.to_string(),
            });
        }
        if status != StatusCode::OK {
            return Err(GiteaError::Status {
                api: t.api.to_string(),
                owner: t.owner.to_string(),
                repo: t.repo.to_string(),
                status: status.as_u16(),
            });
        }
        let body = response.bytes().await.map_err(|e| {
            t.request(format!(
                "reading the answer: {}",
                crate::text::causes(crate::text::error_chain(&e))
            ))
        })?;
        let pulls: Vec<ApiPull> = serde_json::from_slice(&body).map_err(|e| GiteaError::Malformed {
            api: t.api.to_string(),
            owner: t.owner.to_string(),
            repo: t.repo.to_string(),
            message: e.to_string(),
        })?;
        Ok(Page {
            page: page_no,
            etag: header_str(&headers, "etag").map(str::to_string),
            next: next_page(&headers),
            prs: Arc::new(pulls.into_iter().map(PullRequest::from).collect()),
        })
    }
}

/// The repository one listing reads.
struct Target<'a> {
    api: &'a str,
    owner: &'a str,
    repo: &'a str,
}

impl Target<'_> {
    fn request(&self, message: String) -> GiteaError {
        GiteaError::Request {
            api: self.api.to_string(),
            owner: self.owner.to_string(),
            repo: self.repo.to_string(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn the_next_page_comes_from_the_link_header() {
        let mut h = HeaderMap::new();
        h.insert(
            header::LINK,
            HeaderValue::from_static(
                "<https://gitea.example/api/v1/repos/o/r/pulls?limit=50&page=3&state=open>; rel=\"next\",\
                 <https://gitea.example/api/v1/repos/o/r/pulls?limit=50&page=9&state=open>; rel=\"last\"",
            ),
        );
        assert_eq!(next_page(&h), Some(3));
        assert_eq!(next_page(&HeaderMap::new()), None);
    }

    #[test]
    fn a_429_is_a_rate_limit_with_its_retry_time() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("30"));
        assert_eq!(
            rate_limit_reset(StatusCode::TOO_MANY_REQUESTS, &h, now),
            Some(Some(now + Duration::from_secs(30)))
        );
        assert_eq!(
            rate_limit_reset(StatusCode::FORBIDDEN, &HeaderMap::new(), now),
            None
        );
    }

    #[test]
    fn pulls_map_to_argo_cds_pull_request_fields() {
        let p: ApiPull = serde_json::from_value(serde_json::json!({
            "id": 50721, "number": 1, "title": "add an empty file",
            "user": {"id": 4476, "login": "graytshirt", "username": "graytshirt"},
            "labels": [{"id": 1, "name": "label1", "color": "00aabb"}],
            "head": {"label": "test", "ref": "test", "sha": "7bbaf62d92ddfafd9cc8b340c619abaec32bc09f"},
            "base": {"label": "main", "ref": "main", "sha": "72687815ccba81ef014a96201cc2e846a68789d8"},
            "state": "open", "draft": true
        }))
        .unwrap();
        assert_eq!(
            PullRequest::from(p),
            PullRequest {
                number: 1,
                title: "add an empty file".into(),
                branch: "test".into(),
                target_branch: "main".into(),
                head_sha: "7bbaf62d92ddfafd9cc8b340c619abaec32bc09f".into(),
                labels: vec!["label1".into()],
                author: "graytshirt".into(),
                draft: false,
            }
        );
    }

    #[test]
    fn tokens_are_redacted_from_debug_output() {
        let q = GiteaPullsQuery {
            api: "https://gitea.example".into(),
            owner: "o".into(),
            repo: "r".into(),
            token: Some("gitea-secret".into()),
            insecure: false,
        };
        assert!(!format!("{q:?}").contains("gitea-secret"));
    }
}
