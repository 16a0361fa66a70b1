//! The GitHub source: open pull requests of a repository, through octocrab, frugal with the API
//! budget.
//!
//! Stage: sources (I/O: HTTPS to the GitHub API, or GitHub Enterprise).
//!
//! - One cache per (API, owner, repository, credential) shared by every ApplicationSet and every
//!   reconcile that holds the same [`GitHub`]. Concurrent callers wait for the one request in flight
//!   and share its answer; an answer younger than `max_age` is served without asking GitHub.
//! - Every page (100 pull requests each, followed through `Link: rel="next"`) is fetched with
//!   `If-None-Match: <etag>` once it is cached, so an unchanged poll costs one `304 Not Modified`
//!   per page — which GitHub does not count against the rate limit — and no JSON parsing.
//! - A rate-limit answer (403 with `x-ratelimit-remaining: 0`, 403/429 with `Retry-After`) is a
//!   typed error carrying the reset time; until then the error is returned without calling GitHub.
//!   Error messages carry no request ids or timestamps, so they are identical on every retry and a
//!   status written from them does not churn.
//!
//! octocrab provides the HTTP client, TLS, timeouts and authentication (personal tokens, and
//! GitHub App installation tokens minted and refreshed from the App's private key). Its own
//! `HttpCacheLayer` is not used: it turns a 304 into a 200 (so nothing can tell what was free),
//! re-parses every page on every poll, and panics when its storage loses an entry.

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use serde::Deserialize;

use super::{
    PullRequest,
    forge::{
        ForgeError, ForgeHttp, ForgeStats, ForgeTls, Listing, Scope, checked_segment, encode_component,
        header_str, link_next, link_next_page, optional_auth, rate_limit_reset, with_query,
    },
    github_metrics::{self, AppSetRef, GitHubApiMetrics, Observed},
    scm::{CloneProtocol, ScmBranch, ScmProvider, ScmRepo},
};

/// GitHub's public API.
pub const DEFAULT_API: &str = "https://api.github.com";

/// Whether two API base URLs are the same (case and a trailing `/` aside).
pub fn same_api(a: &str, b: &str) -> bool {
    a.trim()
        .trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim().trim_end_matches('/'))
}

/// Upper bound on the pages of one listing (100 000 open pull requests).
const MAX_PAGES: usize = 1000;

/// How a request authenticates.
#[derive(Clone, PartialEq, Eq)]
pub enum GitHubAuth {
    /// No credentials (60 requests an hour on github.com).
    Anonymous,
    /// A personal access token or any bearer token.
    Token(String),
    /// A GitHub App installation: appset mints installation tokens from the App's private key.
    App {
        /// The App's id.
        app_id: u64,
        /// The installation's id.
        installation_id: u64,
        /// The App's RSA private key (PEM).
        private_key: String,
    },
}

impl std::fmt::Debug for GitHubAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitHubAuth::Anonymous => write!(f, "Anonymous"),
            GitHubAuth::Token(_) => write!(f, "Token(<redacted>)"),
            GitHubAuth::App {
                app_id,
                installation_id,
                ..
            } => {
                write!(
                    f,
                    "App {{ app_id: {app_id}, installation_id: {installation_id} }}"
                )
            }
        }
    }
}

impl GitHubAuth {
    /// A stable fingerprint (a hash, never the secret itself) to key clients and caches.
    fn fingerprint(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        match self {
            GitHubAuth::Anonymous => 0u8.hash(&mut h),
            GitHubAuth::Token(t) => (1u8, t).hash(&mut h),
            GitHubAuth::App {
                app_id,
                installation_id,
                private_key,
            } => (2u8, app_id, installation_id, private_key).hash(&mut h),
        }
        h.finish()
    }
}

/// Which pull requests to list.
#[derive(Debug, Clone)]
pub struct PullsQuery {
    /// API base URL; empty for [`DEFAULT_API`].
    pub api: String,
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// Credentials.
    pub auth: GitHubAuth,
}

/// Listing pull requests failed. Messages are stable across retries (no request ids, no times).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitHubError {
    /// The repository does not exist (or the credentials cannot see it).
    #[error("repository {owner}/{repo} not found at {api} (HTTP 404)")]
    NotFound {
        /// API base URL.
        api: String,
        /// Owner.
        owner: String,
        /// Repository.
        repo: String,
    },
    /// The API's rate limit is exhausted; retry after `reset_at`.
    #[error(
        "GitHub API rate limit exceeded at {api} while listing pull requests of {owner}/{repo}; waiting for the reset"
    )]
    RateLimited {
        /// API base URL.
        api: String,
        /// Owner.
        owner: String,
        /// Repository.
        repo: String,
        /// When requests may resume (from `Retry-After` or `x-ratelimit-reset`).
        reset_at: Option<SystemTime>,
    },
    /// Any other non-success status.
    #[error("GitHub API at {api} answered HTTP {status} listing pull requests of {owner}/{repo}")]
    Status {
        /// API base URL.
        api: String,
        /// Owner.
        owner: String,
        /// Repository.
        repo: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The answer is not the documented JSON.
    #[error("malformed answer from GitHub API at {api} listing pull requests of {owner}/{repo}: {message}")]
    Malformed {
        /// API base URL.
        api: String,
        /// Owner.
        owner: String,
        /// Repository.
        repo: String,
        /// What is wrong.
        message: String,
    },
    /// The API could not be reached, or authentication could not be set up.
    #[error("cannot list pull requests of {owner}/{repo} at {api}: {message}")]
    Request {
        /// API base URL.
        api: String,
        /// Owner.
        owner: String,
        /// Repository.
        repo: String,
        /// What went wrong.
        message: String,
    },
    /// The query itself is invalid (owner/repo characters, API URL).
    #[error("invalid pull request query: {0}")]
    Invalid(String),
}

impl GitHubError {
    /// When the next attempt makes sense (rate limits only).
    pub fn retry_at(&self) -> Option<SystemTime> {
        match self {
            GitHubError::RateLimited { reset_at, .. } => *reset_at,
            _ => None,
        }
    }
}

/// Request counters (for tests, benchmarks and metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GitHubStats {
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
    url: String,
    etag: Option<String>,
    next: Option<String>,
    prs: Arc<Vec<PullRequest>>,
}

#[derive(Default)]
struct RepoCache {
    pages: Vec<Page>,
    result: Option<(Instant, Arc<Vec<PullRequest>>)>,
    blocked: Option<GitHubError>,
}

type CacheKey = (String, String, String, u64);

/// A GitHub client with a shared pull-request cache. Cheap to share in an `Arc`.
pub struct GitHub {
    default_api: String,
    max_age: Duration,
    timeout: Duration,
    clients: Mutex<HashMap<(String, u64), Octocrab>>,
    caches: Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<RepoCache>>>>,
    /// Listings of (owner, repo), lower case, older than this instant are stale (a webhook said
    /// the repository's pull requests changed).
    expired: Mutex<HashMap<(String, String), Instant>>,
    /// Installation tokens for git over HTTPS, by (API, App credential fingerprint), with when
    /// they were minted.
    app_tokens: Mutex<HashMap<(String, u64), (String, Instant)>>,
    requests: AtomicU64,
    not_modified: AtomicU64,
    rate_limited: AtomicU64,
    served_from_cache: AtomicU64,
    api_metrics: GitHubApiMetrics,
    /// The `scmProvider` generator's requests (organization repositories, branches, contents):
    /// on [`super::forge`], with a Bearer token (see [`GitHub::scm`]).
    scm: ForgeHttp,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub")
            .field("default_api", &self.default_api)
            .field("max_age", &self.max_age)
            .finish()
    }
}

/// One pull request as `GET /repos/{owner}/{repo}/pulls` returns it (the fields appset reads).
#[derive(Deserialize)]
struct ApiPull {
    number: u64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    draft: bool,
    head: ApiRef,
    base: ApiRef,
    #[serde(default)]
    user: Option<ApiUser>,
    #[serde(default)]
    labels: Vec<ApiLabel>,
}

#[derive(Deserialize)]
struct ApiRef {
    #[serde(rename = "ref")]
    ref_: String,
    #[serde(default)]
    sha: String,
}

#[derive(Deserialize)]
struct ApiUser {
    login: String,
}

#[derive(Deserialize)]
struct ApiLabel {
    name: String,
}

impl From<ApiPull> for PullRequest {
    fn from(p: ApiPull) -> Self {
        PullRequest {
            number: p.number,
            title: p.title,
            branch: p.head.ref_,
            target_branch: p.base.ref_,
            head_sha: p.head.sha,
            labels: p.labels.into_iter().map(|l| l.name).collect(),
            author: p.user.map(|u| u.login).unwrap_or_default(),
            draft: p.draft,
        }
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl GitHub {
    /// How long an answer is reused without asking GitHub.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// A client whose answers are reused for `max_age` (0: every call asks GitHub, conditionally).
    /// `default_api` replaces [`DEFAULT_API`] for queries without an `api` (`--github-api`).
    pub fn new(default_api: Option<String>, max_age: Duration) -> Self {
        GitHub {
            default_api: default_api
                .filter(|a| !a.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_API.to_string())
                .trim_end_matches('/')
                .to_string(),
            max_age,
            timeout: Duration::from_secs(30),
            clients: Mutex::new(HashMap::new()),
            caches: Mutex::new(HashMap::new()),
            expired: Mutex::new(HashMap::new()),
            app_tokens: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            not_modified: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            served_from_cache: AtomicU64::new(0),
            api_metrics: GitHubApiMetrics::default(),
            scm: ForgeHttp::new(max_age),
        }
    }

    /// Request counters of the `scmProvider` generator's requests.
    pub fn scm_stats(&self) -> ForgeStats {
        self.scm.stats()
    }

    /// Make the `scmProvider` listings of `organization` (repositories and branches, any API or
    /// credential) stale: the next poll asks GitHub again, conditionally.
    pub fn expire_organization(&self, organization: &str) {
        self.scm.expire(organization.trim());
    }

    /// The default API (`--github-api`, else [`DEFAULT_API`]).
    pub fn default_api(&self) -> &str {
        &self.default_api
    }

    /// The `scmProvider` generator's view of `organization` at `api` (empty: the default API),
    /// with `token` as a Bearer token (a personal token, or an App's installation token from
    /// [`GitHub::installation_token`]).
    ///
    /// Why forge.rs and not octocrab: the generator reads three endpoints whose answers must be
    /// conditional and shared (org repositories, branches) or kept by commit (contents);
    /// [`super::forge::ForgeHttp`] already has that cache, its single flight, request counters
    /// and the errors every other forge uses, and an installation token is all octocrab's App
    /// support would add.
    ///
    /// # Errors
    /// An invalid API URL or a token a header cannot carry.
    pub fn scm(
        self: &Arc<Self>,
        api: &str,
        organization: &str,
        token: Option<&str>,
        opts: super::scm::ScmRepoOptions,
    ) -> Result<GitHubScm, ForgeError> {
        let api = if api.trim().is_empty() {
            self.default_api.clone()
        } else {
            api.trim().trim_end_matches('/').to_string()
        };
        let invalid = |m: String| ForgeError::Invalid(format!("invalid scmProvider.github: {m}"));
        let api = super::forge::checked_api("GitHub", &api).map_err(invalid)?;
        let organization =
            checked_segment("organization", organization, "a GitHub organization").map_err(invalid)?;
        let auth = optional_auth(header::AUTHORIZATION, "Bearer ", token)
            .map_err(|e| invalid(format!("token: {e}")))?;
        Ok(GitHubScm {
            client: self.clone(),
            api,
            organization: organization.to_string(),
            auth,
            opts,
        })
    }

    /// Forget the cached listing of `owner/repo` (any API, any credential): the next call asks
    /// GitHub (still conditionally, so an unchanged page costs a 304). A listing fetched while
    /// this runs counts as stale too.
    pub fn expire(&self, owner: &str, repo: &str) {
        self.expired.lock().unwrap_or_else(|e| e.into_inner()).insert(
            (owner.to_ascii_lowercase(), repo.to_ascii_lowercase()),
            Instant::now(),
        );
    }

    /// Request counters so far.
    pub fn stats(&self) -> GitHubStats {
        GitHubStats {
            requests: self.requests.load(Ordering::Relaxed),
            not_modified: self.not_modified.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            served_from_cache: self.served_from_cache.load(Ordering::Relaxed),
        }
    }

    /// Argo CD's `argocd_github_api_*` metrics of every request this client sent.
    pub fn api_metrics(&self) -> &GitHubApiMetrics {
        &self.api_metrics
    }

    /// The API base URL a query talks to.
    pub fn api_of(&self, query: &PullsQuery) -> String {
        let api = query.api.trim().trim_end_matches('/');
        if api.is_empty() {
            self.default_api.clone()
        } else {
            api.to_string()
        }
    }

    fn client(&self, api: &str, auth: &GitHubAuth) -> Result<Octocrab, String> {
        let key = (api.to_string(), auth.fingerprint());
        if let Some(c) = self.clients.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(c.clone());
        }
        let builder = Octocrab::builder()
            .base_uri(api)
            .map_err(|e| format!("invalid API URL {api:?}: {e}"))?
            .set_connect_timeout(Some(self.timeout))
            .set_read_timeout(Some(self.timeout));
        let client = match auth {
            GitHubAuth::Anonymous => builder.build().map_err(|e| e.to_string())?,
            GitHubAuth::Token(t) => builder
                .personal_token(t.clone())
                .build()
                .map_err(|e| e.to_string())?,
            GitHubAuth::App {
                app_id,
                installation_id,
                private_key,
            } => {
                let key = octocrab::EncodingKey::from_rsa_pem(private_key.as_bytes())
                    .map_err(|e| format!("invalid GitHub App private key: {e}"))?;
                builder
                    .app((*app_id).into(), key)
                    .build()
                    .and_then(|c| c.installation((*installation_id).into()))
                    .map_err(|e| format!("GitHub App authentication: {e}"))?
            }
        };
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, client.clone());
        Ok(client)
    }

    /// An installation token of a GitHub App, for git over HTTPS (a repository Secret's
    /// `githubAppID`, `githubAppInstallationID`, `githubAppPrivateKey` and
    /// `githubAppEnterpriseBaseUrl`, else the configured API): minted on first use and reused by
    /// the installation's client until shortly before it expires.
    ///
    /// # Errors
    /// The key is invalid or the API refused; the message never holds the key.
    pub async fn installation_token(
        &self,
        api: Option<&str>,
        app_id: u64,
        installation_id: u64,
        private_key: &str,
    ) -> Result<String, String> {
        use octocrab::secrecy::ExposeSecret;
        let api = api
            .map(|a| a.trim().trim_end_matches('/').to_string())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| self.default_api.clone());
        let auth = GitHubAuth::App {
            app_id,
            installation_id,
            private_key: private_key.to_string(),
        };
        // GitHub's installation tokens live an hour; one is reused for 45 minutes.
        const REUSE: Duration = Duration::from_secs(45 * 60);
        let key = (api.clone(), auth.fingerprint());
        if let Some((token, minted)) = self
            .app_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            && minted.elapsed() < REUSE
        {
            return Ok(token.clone());
        }
        let client = self.client(&api, &auth)?;
        let token = client
            .installation_token()
            .await
            .map_err(|e| format!("minting an installation token of GitHub App {app_id} at {api}: {e}"))?
            .expose_secret()
            .to_string();
        self.app_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (token.clone(), Instant::now()));
        Ok(token)
    }

    /// The open pull requests of a repository, in GitHub's order.
    ///
    /// # Errors
    /// [`GitHubError`]: never an empty list in place of a failure.
    pub async fn pull_requests(&self, query: &PullsQuery) -> Result<Arc<Vec<PullRequest>>, GitHubError> {
        self.pull_requests_for(query, None).await
    }

    /// [`GitHub::pull_requests`] for the ApplicationSet `appset`: the requests it sends are
    /// labelled with it in [`GitHub::api_metrics`]. A listing shared from the cache, or from a
    /// request in flight for another ApplicationSet, sends none.
    ///
    /// # Errors
    /// [`GitHubError`]: never an empty list in place of a failure.
    pub async fn pull_requests_for(
        &self,
        query: &PullsQuery,
        appset: Option<&AppSetRef>,
    ) -> Result<Arc<Vec<PullRequest>>, GitHubError> {
        if !valid_name(&query.owner) || !valid_name(&query.repo) {
            return Err(GitHubError::Invalid(format!(
                "owner {:?} and repo {:?} must be GitHub names (letters, digits, '-', '_', '.')",
                query.owner, query.repo
            )));
        }
        let api = self.api_of(query);
        let (key_owner, key_repo) = (query.owner.to_ascii_lowercase(), query.repo.to_ascii_lowercase());
        let key = (
            api.clone(),
            key_owner.clone(),
            key_repo.clone(),
            query.auth.fingerprint(),
        );
        let slot = self
            .caches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .clone();
        // Single flight: callers for the same repository queue here and share the answer.
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
            .get(&(key_owner.clone(), key_repo.clone()))
            .copied();
        if let Some((at, result)) = &cache.result
            && at.elapsed() < self.max_age
            && expired_at.is_none_or(|e| *at > e)
        {
            self.served_from_cache.fetch_add(1, Ordering::Relaxed);
            return Ok(result.clone());
        }
        match self.fetch_all(&api, query, &cache.pages, appset).await {
            Ok(pages) => {
                let all: Vec<PullRequest> = pages.iter().flat_map(|p| p.prs.iter().cloned()).collect();
                let all = Arc::new(all);
                cache.pages = pages;
                cache.result = Some((Instant::now(), all.clone()));
                Ok(all)
            }
            Err(e) => {
                if matches!(e, GitHubError::RateLimited { .. }) {
                    cache.blocked = Some(e.clone());
                }
                Err(e)
            }
        }
    }

    async fn fetch_all(
        &self,
        api: &str,
        q: &PullsQuery,
        cached: &[Page],
        appset: Option<&AppSetRef>,
    ) -> Result<Vec<Page>, GitHubError> {
        let err_request = |message: String| GitHubError::Request {
            api: api.to_string(),
            owner: q.owner.clone(),
            repo: q.repo.clone(),
            message,
        };
        let client = self.client(api, &q.auth).map_err(err_request)?;
        let api_authority = http::Uri::try_from(api).ok().and_then(|u| u.authority().cloned());
        // Requests go out as paths: octocrab joins them to the API base (keeping a GitHub
        // Enterprise `/api/v3` prefix) and only attaches GitHub App installation tokens to
        // requests without a host of their own.
        let mut url = format!("/repos/{}/{}/pulls?per_page=100", q.owner, q.repo);
        let mut pages = Vec::new();
        for _ in 0..MAX_PAGES {
            let known = cached.iter().find(|p| p.url == url);
            let page = self.fetch_page(&client, api, appset, q, &url, known).await?;
            let next = page.next.clone();
            pages.push(page);
            let Some(next) = next else { return Ok(pages) };
            // Credentials only ever go to the API's own host.
            let next_uri = http::Uri::try_from(next.as_str())
                .map_err(|_| err_request(format!("invalid pagination link {next:?}")))?;
            if next_uri.authority().is_some() && next_uri.authority() != api_authority.as_ref() {
                return Err(err_request(format!(
                    "refusing to follow a pagination link to another host: {next}"
                )));
            }
            url = next_uri
                .path_and_query()
                .map(|pq| pq.as_str().to_string())
                .unwrap_or_default();
        }
        Err(err_request(format!(
            "more than {MAX_PAGES} pages of pull requests"
        )))
    }

    /// One page, requested for `appset`.
    async fn fetch_page(
        &self,
        client: &Octocrab,
        api: &str,
        appset: Option<&AppSetRef>,
        q: &PullsQuery,
        url: &str,
        known: Option<&Page>,
    ) -> Result<Page, GitHubError> {
        let (owner, repo) = (q.owner.clone(), q.repo.clone());
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert("x-github-api-version", HeaderValue::from_static("2022-11-28"));
        if let Some(etag) = known.and_then(|p| p.etag.as_deref())
            && let Ok(v) = HeaderValue::from_str(etag)
        {
            headers.insert(header::IF_NONE_MATCH, v);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        let answer = client._get_with_headers(url, Some(headers)).await;
        let endpoint = github_metrics::endpoint(api, url);
        self.api_metrics.record(
            Observed {
                method: "GET",
                endpoint: &endpoint,
                appset,
                took: sent.elapsed(),
                answer: answer.as_ref().ok().map(|r| (r.status(), r.headers())),
            },
            SystemTime::now(),
        );
        let response = answer.map_err(|e| GitHubError::Request {
            api: api.to_string(),
            owner: owner.clone(),
            repo: repo.clone(),
            message: octocrab_message(&e),
        })?;
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
            return Err(GitHubError::RateLimited {
                api: api.to_string(),
                owner,
                repo,
                reset_at,
            });
        }
        if status == StatusCode::NOT_FOUND {
            return Err(GitHubError::NotFound {
                api: api.to_string(),
                owner,
                repo,
            });
        }
        if !status.is_success() {
            return Err(GitHubError::Status {
                api: api.to_string(),
                owner,
                repo,
                status: status.as_u16(),
            });
        }
        let body: Bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| GitHubError::Request {
                api: api.to_string(),
                owner: owner.clone(),
                repo: repo.clone(),
                message: format!("reading the answer: {}", octocrab_message(&e)),
            })?
            .to_bytes();
        let pulls: Vec<ApiPull> = serde_json::from_slice(&body).map_err(|e| GitHubError::Malformed {
            api: api.to_string(),
            owner: owner.clone(),
            repo: repo.clone(),
            message: e.to_string(),
        })?;
        Ok(Page {
            url: url.to_string(),
            etag: header_str(&headers, "etag").map(str::to_string),
            next: link_next(&headers).map(str::to_string),
            prs: Arc::new(pulls.into_iter().map(PullRequest::from).collect()),
        })
    }
}

/// octocrab's error with its sources, without backtraces.
fn octocrab_message(e: &octocrab::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let s_msg = s.to_string();
        if !msg.contains(&s_msg) {
            msg.push_str(": ");
            msg.push_str(&s_msg);
        }
        src = s.source();
    }
    msg
}

/// A GitHub organization as the `scmProvider` generator reads it (go-github's `ListByOrg`,
/// `GetBranch`/`ListBranches` and `GetContents`, as Argo CD calls them), on
/// [`super::forge::ForgeHttp`]: listings are conditional and shared, path checks are asked at
/// the branch's commit.
pub struct GitHubScm {
    client: Arc<GitHub>,
    api: String,
    organization: String,
    auth: Option<(http::HeaderName, HeaderValue)>,
    opts: super::scm::ScmRepoOptions,
}

/// A repository of `GET /orgs/{org}/repos` (the fields Argo CD reads).
#[derive(Clone, Deserialize)]
struct ApiOrgRepo {
    id: u64,
    name: String,
    #[serde(default)]
    owner: Option<ApiLogin>,
    #[serde(default)]
    ssh_url: Option<String>,
    #[serde(default)]
    clone_url: Option<String>,
    #[serde(default)]
    default_branch: Option<String>,
    #[serde(default)]
    topics: Option<Vec<String>>,
    #[serde(default)]
    archived: bool,
}

#[derive(Clone, Deserialize)]
struct ApiLogin {
    #[serde(default)]
    login: String,
}

/// A branch of `GET /repos/{o}/{r}/branches[/{b}]`.
#[derive(Clone, Deserialize)]
struct ApiBranch {
    name: String,
    commit: ApiCommitRef,
}

#[derive(Clone, Deserialize)]
struct ApiCommitRef {
    sha: String,
}

impl GitHubScm {
    fn scope(&self, what: String, subject: &'static str) -> Scope {
        Scope {
            forge: "GitHub",
            api: self.api.clone(),
            what,
            subject,
        }
    }

    fn listing(&self, scope: Scope, url: String) -> Listing<'static> {
        static NO_TLS: ForgeTls = ForgeTls {
            insecure: false,
            ca_pem: None,
        };
        Listing {
            expiry_key: self.organization.clone(),
            scope,
            url,
            auth: self.auth.clone(),
            headers: Vec::new(),
            tls: &NO_TLS,
        }
    }

    /// The credential's fingerprint (path-cache key), never the credential.
    pub fn credential(&self) -> u64 {
        super::forge::fingerprint(self.auth.as_ref().map(|(_, v)| v.as_bytes()))
    }

    /// The API base URL.
    pub fn api(&self) -> &str {
        &self.api
    }
}

/// `Link: rel="next"` as a page number on the page's own URL (never the server's host).
fn next_github_page(page_url: &str, headers: &HeaderMap) -> Option<String> {
    link_next_page(headers).map(|n| with_query(page_url, "page", &n.to_string()))
}

impl ScmProvider for GitHubScm {
    fn repos(&self) -> super::BoxFuture<'_, Result<Vec<ScmRepo>, super::SourceError>> {
        Box::pin(async move {
            let org = &self.organization;
            let url = format!(
                "{}/orgs/{}/repos?per_page=100&page=1",
                self.api,
                encode_component(org)
            );
            let scope = self.scope(format!("repositories for {org}"), "organization");
            let reader = |page_url: &str, headers: &HeaderMap, body: &[u8]| {
                let repos: Vec<ApiOrgRepo> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
                Ok((repos, next_github_page(page_url, headers)))
            };
            let repos = self.client.scm.list(self.listing(scope, url), &reader).await?;
            Ok(repos
                .iter()
                .filter(|r| !(self.opts.exclude_archived && r.archived))
                .map(|r| ScmRepo {
                    organization: r.owner.as_ref().map(|o| o.login.clone()).unwrap_or_default(),
                    repository: r.name.clone(),
                    repository_id: serde_json::Value::from(r.id),
                    url: match self.opts.protocol {
                        CloneProtocol::Ssh => r.ssh_url.clone(),
                        CloneProtocol::Https => r.clone_url.clone(),
                    }
                    .unwrap_or_default(),
                    default_branch: r.default_branch.clone().unwrap_or_default(),
                    labels: r.topics.clone().unwrap_or_default(),
                })
                .collect())
        })
    }

    fn branches<'a>(
        &'a self,
        repo: &'a ScmRepo,
    ) -> super::BoxFuture<'a, Result<Vec<ScmBranch>, super::SourceError>> {
        Box::pin(async move {
            let base = format!(
                "{}/repos/{}/{}/branches",
                self.api,
                encode_component(&repo.organization),
                encode_component(&repo.repository)
            );
            let scope = self.scope(
                format!("branches for {}/{}", repo.organization, repo.repository),
                "repository",
            );
            let to_branch = |b: &ApiBranch| ScmBranch {
                name: b.name.clone(),
                sha: b.commit.sha.clone(),
            };
            if self.opts.all_branches {
                let reader = |page_url: &str, headers: &HeaderMap, body: &[u8]| {
                    let bs: Vec<ApiBranch> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
                    Ok((bs, next_github_page(page_url, headers)))
                };
                let url = format!("{base}?per_page=100&page=1");
                let bs = self.client.scm.list(self.listing(scope, url), &reader).await?;
                return Ok(bs.iter().map(to_branch).collect());
            }
            if repo.default_branch.is_empty() {
                return Ok(Vec::new());
            }
            let reader = |_: &str, _: &HeaderMap, body: &[u8]| {
                let b: ApiBranch = serde_json::from_slice(body).map_err(|e| e.to_string())?;
                Ok((vec![b], None))
            };
            let url = format!("{base}/{}", encode_component(&repo.default_branch));
            // Argo CD: a default branch that does not exist is an empty repository.
            let bs = super::scm::or_empty(self.client.scm.list(self.listing(scope, url), &reader).await)?;
            Ok(bs.iter().map(to_branch).collect())
        })
    }

    fn has_path<'a>(
        &'a self,
        repo: &'a ScmRepo,
        branch: &'a ScmBranch,
        path: &'a str,
    ) -> super::BoxFuture<'a, Result<bool, super::SourceError>> {
        Box::pin(async move {
            let encoded: Vec<String> = path.split('/').map(encode_component).collect();
            let url = format!(
                "{}/repos/{}/{}/contents/{}?ref={}",
                self.api,
                encode_component(&repo.organization),
                encode_component(&repo.repository),
                encoded.join("/"),
                encode_component(super::scm::commit_or_branch(branch))
            );
            let scope = self.scope(
                format!("contents of {}/{} ({path})", repo.organization, repo.repository),
                "path",
            );
            let tls = ForgeTls::default();
            Ok(self
                .client
                .scm
                .get(&scope, &url, self.auth.as_ref(), &tls)
                .await?
                .is_some())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn rate_limit_messages_do_not_change_with_the_reset_time() {
        let e = |secs| GitHubError::RateLimited {
            api: DEFAULT_API.into(),
            owner: "o".into(),
            repo: "r".into(),
            reset_at: Some(UNIX_EPOCH + Duration::from_secs(secs)),
        };
        assert_eq!(e(1).to_string(), e(2).to_string());
    }

    /// A GitHub-shaped server on a loopback port: two pages of pull requests of `o/r` (the
    /// second behind a `Link` to `/repositories/7/pulls`), ETags and rate-limit headers.
    async fn two_page_server() -> String {
        use axum::{
            Router,
            http::{HeaderMap as Headers, Uri},
            response::IntoResponse,
            routing::get,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let page = |number: u64, etag: &'static str, next: Option<String>| {
            move |headers: Headers, _: Uri| async move {
                let reset = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 120;
                let mut answer = HeaderMap::new();
                for (k, v) in [
                    ("etag", etag.to_string()),
                    ("x-ratelimit-limit", "5000".into()),
                    ("x-ratelimit-remaining", "4990".into()),
                    ("x-ratelimit-used", "10".into()),
                    ("x-ratelimit-reset", reset.to_string()),
                    ("x-ratelimit-resource", "core".into()),
                ] {
                    answer.insert(k, HeaderValue::from_str(&v).unwrap());
                }
                if let Some(next) = &next {
                    answer.insert(
                        header::LINK,
                        HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")).unwrap(),
                    );
                }
                if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag) {
                    return (StatusCode::NOT_MODIFIED, answer, String::new()).into_response();
                }
                let body = serde_json::json!([{
                    "number": number, "title": "t", "head": {"ref": "b", "sha": "s"}, "base": {"ref": "main"}
                }]);
                (StatusCode::OK, answer, body.to_string()).into_response()
            }
        };
        let app = Router::new()
            .route(
                "/repos/o/r/pulls",
                get(page(
                    1,
                    "\"p1\"",
                    Some(format!("{base}/repositories/7/pulls?per_page=100&page=2")),
                )),
            )
            .route("/repositories/7/pulls", get(page(2, "\"p2\"", None)));
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    #[tokio::test]
    async fn every_request_is_counted_for_the_applicationset_it_was_made_for() {
        crate::install_crypto_provider();
        let base = two_page_server().await;
        let metrics = crate::metrics::Metrics::default();
        let github = Arc::new(GitHub::new(Some(base), Duration::ZERO));
        metrics.watch_github(github.clone());
        let query = PullsQuery {
            api: String::new(),
            owner: "o".into(),
            repo: "r".into(),
            auth: GitHubAuth::Anonymous,
        };
        let shop = AppSetRef {
            namespace: "team-a".into(),
            name: "shop".into(),
        };
        // Two pages (200), then both again (304): four requests for team-a/shop.
        for _ in 0..2 {
            let prs = github.pull_requests_for(&query, Some(&shop)).await.unwrap();
            assert_eq!(prs.iter().map(|p| p.number).collect::<Vec<_>>(), [1, 2]);
        }
        // Without an ApplicationSet (`appset render`, `appset serve`): Argo CD's `unknown`.
        github.pull_requests(&query).await.unwrap();
        let text = metrics.encode();
        let mut requests: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("argocd_github_api_requests_total"))
            .collect();
        requests.sort();
        let series = |endpoint: &str, status: u16, ns: &str, name: &str| {
            format!(
                r#"argocd_github_api_requests_total{{method="GET",endpoint="{endpoint}",status="{status}",appset_namespace="{ns}",appset_name="{name}"}} 1"#
            )
        };
        let mut want = vec![
            series("/repos/o/r/pulls", 200, "team-a", "shop"),
            series("/repos/o/r/pulls", 304, "team-a", "shop"),
            series("/repos/o/r/pulls", 304, "unknown", "unknown"),
            series("/repositories/7/pulls", 200, "team-a", "shop"),
            series("/repositories/7/pulls", 304, "team-a", "shop"),
            series("/repositories/7/pulls", 304, "unknown", "unknown"),
        ];
        want.sort();
        assert_eq!(requests, want);
        assert!(
            text.contains(
                r#"argocd_github_api_rate_limit_remaining{endpoint="/repos/o/r/pulls",appset_namespace="team-a",appset_name="shop",resource="core"} 4990"#
            ),
            "{text}"
        );
        let reset = text
            .lines()
            .find(|l| l.starts_with(r#"argocd_github_api_rate_limit_reset_seconds{endpoint="/repositories/7/pulls",appset_namespace="team-a""#))
            .and_then(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
            .unwrap();
        assert!((100..=120).contains(&reset), "{reset}");
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("argocd_github_api_request_duration_seconds_count"))
                .count(),
            4,
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_listing_shared_from_the_cache_counts_only_for_the_set_that_sent_the_requests() {
        crate::install_crypto_provider();
        let base = two_page_server().await;
        let github = GitHub::new(Some(base), Duration::from_secs(600));
        let query = PullsQuery {
            api: String::new(),
            owner: "o".into(),
            repo: "r".into(),
            auth: GitHubAuth::Anonymous,
        };
        let (shop, blog) = (
            AppSetRef {
                namespace: "team-a".into(),
                name: "shop".into(),
            },
            AppSetRef {
                namespace: "team-a".into(),
                name: "blog".into(),
            },
        );
        github.pull_requests_for(&query, Some(&shop)).await.unwrap();
        github.pull_requests_for(&query, Some(&blog)).await.unwrap();
        let metrics = crate::metrics::Metrics::default();
        metrics.watch_github(Arc::new(github));
        let text = metrics.encode();
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("argocd_github_api_requests_total")
                    && l.contains(r#"appset_name="shop""#))
                .count(),
            2,
            "{text}"
        );
        assert!(!text.contains(r#"appset_name="blog""#), "{text}");
    }

    #[test]
    fn credentials_are_redacted_from_debug_output() {
        assert_eq!(
            format!("{:?}", GitHubAuth::Token("ghp_secret".into())),
            "Token(<redacted>)"
        );
    }
}
