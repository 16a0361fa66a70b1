//! The HTTP machinery every forge client shares (GitLab, Gitea, Bitbucket, Azure DevOps):
//! paged listings behind one conditional-request cache, typed errors, rate limits, TLS.
//!
//! Stage: sources (I/O: HTTP(S) to a forge's REST API).
//!
//! A forge client describes a listing ([`Listing`]: its first page's URL, credential, TLS
//! settings, and what to call it in errors) and how to read one page ([`PageReader`]: the
//! items, and the next page's URL from the forge's own paging scheme, be it a `Link` header,
//! `X-Next-Page`, `isLastPage`/`nextPageStart`, a `next` URL or a continuation token).
//! [`ForgeHttp`] does the rest, the same way for every forge:
//!
//! - One cache per (listing URL, credential, TLS settings, item type), shared by every
//!   ApplicationSet and every reconcile that holds the same [`ForgeHttp`]. Concurrent callers
//!   wait for the one request in flight and share its answer; an answer younger than `max_age`
//!   is served without asking the forge; [`ForgeHttp::expire`] (a webhook) makes the next call ask.
//! - Every page is followed (up to [`MAX_PAGES`]); a page that carried an ETag is asked again
//!   with `If-None-Match`, and a `304 Not Modified` reuses it unparsed.
//! - Every next-page URL must stay on the API's scheme, host and port: a forge answer never
//!   sends the credential elsewhere. Redirects are not followed, for the same reason. A next page
//!   already visited is an error (a server pointing back would loop).
//! - A rate-limit answer (429, or 403 with `RateLimit-Remaining`/`X-RateLimit-Remaining: 0`) is
//!   a typed error carrying the reset time (`Retry-After`, else the `…-Reset` epoch); until then
//!   the error is returned without calling the forge.
//! - Error messages carry no request ids or times, so they are identical on every retry and a
//!   status condition written from them does not churn.

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    hash::{Hash, Hasher},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

/// Upper bound on the pages of one listing.
pub const MAX_PAGES: usize = 1000;

/// A stable fingerprint of a value (cache keys hold fingerprints of credentials, never them).
pub fn fingerprint(v: impl Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// Percent-encode everything but RFC 3986's unreserved characters (Go's `url.PathEscape` of a
/// path with its `/`s, as go-gitlab sends a project path; also query values).
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

/// A header's value as trimmed text.
pub fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// The target of the `Link: rel="next"` entry (GitHub's, GitLab's and Gitea's paging).
pub fn link_next(headers: &HeaderMap) -> Option<&str> {
    let link = header_str(headers, header::LINK.as_str())?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        is_next.then(|| url.trim().trim_start_matches('<').trim_end_matches('>'))
    })
}

/// The `page` parameter of the `Link: rel="next"` target.
pub fn link_next_page(headers: &HeaderMap) -> Option<u64> {
    query_param(link_next(headers)?, "page")?.parse().ok()
}

/// The (still encoded) value of a URL's `name=` query parameter, as [`with_query`] sets it.
pub fn query_param<'u>(url: &'u str, name: &str) -> Option<&'u str> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
}

/// `url` with its `name=` query parameter set to `value` (replaced when present).
pub fn with_query(url: &str, name: &str, value: &str) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let prefix = format!("{name}=");
    let mut parts: Vec<String> = query
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with(&prefix))
        .map(str::to_string)
        .collect();
    parts.push(format!("{name}={}", encode_component(value)));
    format!("{path}?{}", parts.join("&"))
}

/// The reset time of a rate-limit answer, if this is one: a 429, or a 403 whose
/// `RateLimit-Remaining` (GitLab) or `X-RateLimit-Remaining` (GitHub, Gitea, Bitbucket, Azure
/// DevOps) is 0 or that carries `Retry-After` (GitHub's secondary rate limits). Retry after
/// `Retry-After` seconds, else at the `…-Reset` epoch; `Some(None)`: limited, with no time
/// given.
pub fn rate_limit_reset(
    status: StatusCode,
    headers: &HeaderMap,
    now: SystemTime,
) -> Option<Option<SystemTime>> {
    let exhausted = ["ratelimit-remaining", "x-ratelimit-remaining"]
        .iter()
        .any(|h| header_str(headers, h) == Some("0"));
    let retry_after = header_str(headers, "retry-after").and_then(|v| v.parse::<u64>().ok());
    let limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN && (exhausted || retry_after.is_some()));
    if !limited {
        return None;
    }
    let reset = ["ratelimit-reset", "x-ratelimit-reset"]
        .iter()
        .find_map(|h| header_str(headers, h).and_then(|v| v.parse::<u64>().ok()))
        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs));
    Some(match retry_after {
        Some(secs) => Some(now + Duration::from_secs(secs)),
        None => reset,
    })
}

/// A forge API base URL, checked and without its trailing `/`.
///
/// # Errors
/// A message naming the forge when `api` is not an absolute http(s) URL.
pub fn checked_api(forge: &str, api: &str) -> Result<String, String> {
    let api = api.trim().trim_end_matches('/');
    let uri = http::Uri::try_from(api).map_err(|e| format!("invalid {forge} API URL {api:?}: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(format!(
            "invalid {forge} API URL {api:?}: an http(s) URL is needed"
        ));
    }
    Ok(api.to_string())
}

/// `scheme://authority` of a URL, lower case (which host a credential may be sent to).
fn origin(url: &str) -> Option<String> {
    let uri = http::Uri::try_from(url).ok()?;
    Some(format!("{}://{}", uri.scheme_str()?, uri.authority()?).to_ascii_lowercase())
}

/// A `200` answer's body, without the UTF-8 byte order mark some servers (Azure DevOps, IIS)
/// start JSON with.
async fn read_body(scope: &Scope, response: reqwest::Response) -> Result<bytes::Bytes, ForgeError> {
    let body = response.bytes().await.map_err(|e| ForgeError::Request {
        scope: scope.clone(),
        message: format!(
            "reading the answer: {}",
            crate::text::causes(crate::text::error_chain(&e))
        ),
    })?;
    Ok(match body.strip_prefix(b"\xef\xbb\xbf") {
        Some(rest) => bytes::Bytes::copy_from_slice(rest),
        None => body,
    })
}

/// The credential header `name: {prefix}{token}` of an optional token (an empty token is none).
///
/// # Errors
/// As [`auth_header`].
pub fn optional_auth(
    name: HeaderName,
    prefix: &str,
    token: Option<&str>,
) -> Result<Option<(HeaderName, HeaderValue)>, String> {
    token
        .filter(|t| !t.is_empty())
        .map(|t| auth_header(name, &format!("{prefix}{t}")))
        .transpose()
}

/// A name that is one path segment of a forge URL (an owner, an organization): trimmed, not
/// empty, no `/` or control character.
///
/// # Errors
/// `{what} "{value}" must be {expected}`.
pub fn checked_segment<'v>(what: &str, value: &'v str, expected: &str) -> Result<&'v str, String> {
    let v = value.trim();
    if v.is_empty() || v.contains('/') || v.chars().any(char::is_control) {
        return Err(format!("{what} {v:?} must be {expected}"));
    }
    Ok(v)
}

/// TLS settings of a forge (`insecure`, `caRef`).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ForgeTls {
    /// Skip verifying the server's certificate.
    pub insecure: bool,
    /// Extra trusted CA certificates (PEM bundle).
    pub ca_pem: Option<String>,
}

impl std::fmt::Debug for ForgeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForgeTls")
            .field("insecure", &self.insecure)
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| p.len()))
            .finish()
    }
}

/// What a listing is, for its errors: `error listing {what}: …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The forge's name (`GitLab`, `Gitea`, `Bitbucket Server`, …).
    pub forge: &'static str,
    /// The API base URL.
    pub api: String,
    /// What is listed, with its owner: `merge requests for project 'g/p'`.
    pub what: String,
    /// What a 404 means is missing: `project`, `repository`, `organization`.
    pub subject: &'static str,
}

/// A forge listing failed. Messages are stable across retries (no request ids, no times).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForgeError {
    /// The listed thing does not exist (or the credentials cannot see it).
    #[error("error listing {}: {} not found at {} (HTTP 404)", .0.what, .0.subject, .0.api)]
    NotFound(Scope),
    /// The API's rate limit is exhausted; retry after `reset_at`.
    #[error(
        "error listing {}: {} API rate limit exceeded at {}; waiting for the reset",
        .scope.what, .scope.forge, .scope.api
    )]
    RateLimited {
        /// What was listed.
        scope: Scope,
        /// When requests may resume.
        reset_at: Option<SystemTime>,
    },
    /// The credentials were refused (401, a 403 that is not a rate limit, or a 203: the sign-in
    /// page Azure DevOps answers in place of the API when a token is missing or wrong).
    #[error(
        "error listing {}: {} API at {} refused the credentials (HTTP {status}{})",
        .scope.what, .scope.forge, .scope.api, sign_in_hint(*.status)
    )]
    Unauthorized {
        /// What was listed.
        scope: Scope,
        /// 401, 403 or 203.
        status: u16,
    },
    /// Any other non-success status.
    #[error("error listing {}: {} API at {} answered HTTP {status}", .scope.what, .scope.forge, .scope.api)]
    Status {
        /// What was listed.
        scope: Scope,
        /// The HTTP status code.
        status: u16,
    },
    /// The answer is not the documented JSON.
    #[error(
        "error listing {}: malformed answer from {} API at {}: {message}",
        .scope.what, .scope.forge, .scope.api
    )]
    Malformed {
        /// What was listed.
        scope: Scope,
        /// What is wrong.
        message: String,
    },
    /// The API could not be reached, or paging went wrong.
    #[error("error listing {} at {}: {message}", .scope.what, .scope.api)]
    Request {
        /// What was listed.
        scope: Scope,
        /// What went wrong.
        message: String,
    },
    /// The query itself is invalid (names, API URL, CA bundle); the message says which field.
    #[error("{0}")]
    Invalid(String),
}

/// What a `203 Non-Authoritative Information` means from a forge: not the API's answer.
fn sign_in_hint(status: u16) -> &'static str {
    if status == 203 {
        ": a sign-in page instead of the API's answer; the token is missing, wrong or expired"
    } else {
        ""
    }
}

impl ForgeError {
    /// When the next attempt makes sense (rate limits only).
    pub fn retry_at(&self) -> Option<SystemTime> {
        match self {
            ForgeError::RateLimited { reset_at, .. } => *reset_at,
            _ => None,
        }
    }

    /// Whether the forge answered 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ForgeError::NotFound(_))
    }
}

/// Request counters of one [`ForgeHttp`] (for tests, benchmarks and metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForgeStats {
    /// HTTP requests sent.
    pub requests: u64,
    /// Of those, answered `304 Not Modified`.
    pub not_modified: u64,
    /// Of those, rate-limit answers.
    pub rate_limited: u64,
    /// Listings served from the cache without any request (fresh, or rate-limited).
    pub served_from_cache: u64,
}

/// One listing to fetch.
pub struct Listing<'a> {
    /// For errors.
    pub scope: Scope,
    /// The first page's full URL (under `scope.api`).
    pub url: String,
    /// The credential's header (`PRIVATE-TOKEN`, `Authorization`), sent to the API's host only.
    pub auth: Option<(HeaderName, HeaderValue)>,
    /// Other headers every request of the listing carries (Azure DevOps's
    /// `X-TFS-FedAuthRedirect: Suppress`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// TLS settings.
    pub tls: &'a ForgeTls,
    /// What [`ForgeHttp::expire`] names this listing by (lower case), e.g. `gitlab.example/g/p`.
    pub expiry_key: String,
}

/// Reads one page of a listing.
pub trait PageReader<T>: Send + Sync {
    /// The page's items and the next page's full URL (`None` on the last page), from a `200`
    /// answer's headers and body.
    ///
    /// # Errors
    /// What is malformed (becomes [`ForgeError::Malformed`]).
    fn read(
        &self,
        page_url: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(Vec<T>, Option<String>), String>;
}

impl<T, F> PageReader<T> for F
where
    F: Fn(&str, &HeaderMap, &[u8]) -> Result<(Vec<T>, Option<String>), String> + Send + Sync,
{
    fn read(
        &self,
        page_url: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(Vec<T>, Option<String>), String> {
        self(page_url, headers, body)
    }
}

/// Builds an `Authorization`-style header, marked sensitive (never logged).
///
/// # Errors
/// When the value holds characters a header cannot carry.
pub fn auth_header(name: HeaderName, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| "the credential holds characters an HTTP header cannot carry".to_string())?;
    v.set_sensitive(true);
    Ok((name, v))
}

/// `Authorization: Basic base64(user:password)`.
///
/// # Errors
/// As [`auth_header`].
pub fn basic_auth(user: &str, password: &str) -> Result<(HeaderName, HeaderValue), String> {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    auth_header(header::AUTHORIZATION, &format!("Basic {encoded}"))
}

#[derive(Clone)]
struct Page<T> {
    url: String,
    etag: Option<String>,
    next: Option<String>,
    items: Arc<Vec<T>>,
}

struct ListingCache<T> {
    pages: Vec<Page<T>>,
    result: Option<(Instant, Arc<Vec<T>>)>,
    blocked: Option<ForgeError>,
}

impl<T> Default for ListingCache<T> {
    fn default() -> Self {
        ListingCache {
            pages: Vec::new(),
            result: None,
            blocked: None,
        }
    }
}

/// (item type, first page URL, credential fingerprint, TLS fingerprint).
type CacheKey = (TypeId, String, u64, u64);

/// One forge's HTTP clients and listing caches. Cheap to share in an `Arc`.
pub struct ForgeHttp {
    max_age: Duration,
    timeout: Duration,
    clients: Mutex<HashMap<u64, reqwest::Client>>,
    caches: Mutex<HashMap<CacheKey, Arc<dyn Any + Send + Sync>>>,
    /// Listings whose expiry key is named here and that are older than the instant are stale.
    expired: Mutex<HashMap<String, Instant>>,
    requests: AtomicU64,
    not_modified: AtomicU64,
    rate_limited: AtomicU64,
    served_from_cache: AtomicU64,
}

impl std::fmt::Debug for ForgeHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForgeHttp")
            .field("max_age", &self.max_age)
            .finish()
    }
}

impl ForgeHttp {
    /// Answers are reused for `max_age` (0: every call asks the forge, conditionally).
    pub fn new(max_age: Duration) -> Self {
        ForgeHttp {
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

    /// How long an answer is reused.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Request counters so far.
    pub fn stats(&self) -> ForgeStats {
        ForgeStats {
            requests: self.requests.load(Ordering::Relaxed),
            not_modified: self.not_modified.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            served_from_cache: self.served_from_cache.load(Ordering::Relaxed),
        }
    }

    /// Make every listing whose expiry key is `key` (any credential or filter) stale: the next
    /// call asks the forge (still conditionally). A listing fetched while this runs is stale too.
    pub fn expire(&self, key: &str) {
        self.expired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_ascii_lowercase(), Instant::now());
    }

    /// The reqwest client for a TLS setting (one per setting, kept).
    ///
    /// # Errors
    /// [`ForgeError::Invalid`] for a CA bundle without a certificate or one that does not parse.
    pub fn client(&self, forge: &str, tls: &ForgeTls) -> Result<reqwest::Client, ForgeError> {
        let key = fingerprint(tls);
        if let Some(c) = self.clients.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(c.clone());
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("appset/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.timeout)
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &tls.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| ForgeError::Invalid(format!("caRef: invalid CA certificates: {e}")))?;
            if certs.is_empty() {
                return Err(ForgeError::Invalid(
                    "caRef: no PEM certificate in the ConfigMap key".into(),
                ));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if tls.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let client = builder
            .build()
            .map_err(|e| ForgeError::Invalid(format!("cannot set up the {forge} client: {e}")))?;
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, client.clone());
        Ok(client)
    }

    /// Every item of a listing, in the forge's order.
    ///
    /// # Errors
    /// [`ForgeError`]: never an empty list in place of a failure.
    pub async fn list<T: Clone + Send + Sync + 'static>(
        &self,
        listing: Listing<'_>,
        reader: &dyn PageReader<T>,
    ) -> Result<Arc<Vec<T>>, ForgeError> {
        let key = (
            TypeId::of::<T>(),
            listing.url.clone(),
            fingerprint(listing.auth.as_ref().map(|(n, v)| (n.as_str(), v.as_bytes()))),
            fingerprint(listing.tls),
        );
        let slot: Arc<tokio::sync::Mutex<ListingCache<T>>> = {
            let mut caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
            let entry = caches
                .entry(key)
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(ListingCache::<T>::default())));
            entry
                .clone()
                .downcast()
                .unwrap_or_else(|_| unreachable!("the cache key holds the item type"))
        };
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
            .get(&listing.expiry_key.to_ascii_lowercase())
            .copied();
        if let Some((at, result)) = &cache.result
            && at.elapsed() < self.max_age
            && expired_at.is_none_or(|e| *at > e)
        {
            self.served_from_cache.fetch_add(1, Ordering::Relaxed);
            return Ok(result.clone());
        }
        let started = Instant::now();
        match self.fetch_all(&listing, reader, &cache.pages).await {
            Ok(pages) => {
                let all: Vec<T> = pages.iter().flat_map(|p| p.items.iter().cloned()).collect();
                let all = Arc::new(all);
                cache.pages = pages;
                cache.result = Some((started, all.clone()));
                Ok(all)
            }
            Err(e) => {
                if matches!(e, ForgeError::RateLimited { .. }) {
                    cache.blocked = Some(e.clone());
                }
                Err(e)
            }
        }
    }

    /// A non-`200` answer as its typed error (rate limits counted).
    fn check_status(&self, scope: &Scope, status: StatusCode, headers: &HeaderMap) -> Result<(), ForgeError> {
        if let Some(reset_at) = rate_limit_reset(status, headers, SystemTime::now()) {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
            return Err(ForgeError::RateLimited {
                scope: scope.clone(),
                reset_at,
            });
        }
        match status {
            StatusCode::OK => Ok(()),
            StatusCode::NOT_FOUND => Err(ForgeError::NotFound(scope.clone())),
            // A 203 is a sign-in page (Azure DevOps, or a proxy in front of a forge), never the
            // answer: reading it as one would be zero items in place of an error.
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NON_AUTHORITATIVE_INFORMATION => {
                Err(ForgeError::Unauthorized {
                    scope: scope.clone(),
                    status: status.as_u16(),
                })
            }
            _ => Err(ForgeError::Status {
                scope: scope.clone(),
                status: status.as_u16(),
            }),
        }
    }

    /// One uncached `GET` of a single resource (an SCM provider's path check, whose answer its
    /// caller keeps by commit): the body of a `200`, `None` for a `404`, the typed error of
    /// anything else (the same errors and rate-limit handling as [`ForgeHttp::list`]).
    ///
    /// # Errors
    /// [`ForgeError`] for every answer but `200` and `404`.
    pub async fn get(
        &self,
        scope: &Scope,
        url: &str,
        auth: Option<&(HeaderName, HeaderValue)>,
        tls: &ForgeTls,
    ) -> Result<Option<bytes::Bytes>, ForgeError> {
        self.get_with(scope, url, auth, &[], tls).await
    }

    /// [`ForgeHttp::get`] with `extra` headers (Azure DevOps's `X-TFS-FedAuthRedirect`).
    ///
    /// # Errors
    /// As [`ForgeHttp::get`].
    pub async fn get_with(
        &self,
        scope: &Scope,
        url: &str,
        auth: Option<&(HeaderName, HeaderValue)>,
        extra: &[(HeaderName, HeaderValue)],
        tls: &ForgeTls,
    ) -> Result<Option<bytes::Bytes>, ForgeError> {
        let client = self.client(scope.forge, tls)?;
        let response = self.send(&client, scope, url, auth, extra, None).await?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        self.check_status(scope, status, response.headers())?;
        Ok(Some(read_body(scope, response).await?))
    }

    /// Send one `GET` (JSON wanted, the credential's header, `If-None-Match` when an ETag is
    /// known), counted.
    async fn send(
        &self,
        client: &reqwest::Client,
        scope: &Scope,
        url: &str,
        auth: Option<&(HeaderName, HeaderValue)>,
        extra: &[(HeaderName, HeaderValue)],
        etag: Option<&str>,
    ) -> Result<reqwest::Response, ForgeError> {
        let mut request = client.get(url).header(header::ACCEPT, "application/json");
        for (name, value) in extra {
            request = request.header(name.clone(), value.clone());
        }
        if let Some((name, value)) = auth {
            request = request.header(name.clone(), value.clone());
        }
        if let Some(etag) = etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        request.send().await.map_err(|e| ForgeError::Request {
            scope: scope.clone(),
            message: crate::text::causes(crate::text::error_chain(&e)),
        })
    }

    async fn fetch_all<T: Clone>(
        &self,
        listing: &Listing<'_>,
        reader: &dyn PageReader<T>,
        cached: &[Page<T>],
    ) -> Result<Vec<Page<T>>, ForgeError> {
        let scope = &listing.scope;
        let request_err = |message: String| ForgeError::Request {
            scope: scope.clone(),
            message,
        };
        let client = self.client(scope.forge, listing.tls)?;
        let home =
            origin(&listing.url).ok_or_else(|| request_err(format!("invalid URL {:?}", listing.url)))?;
        let mut pages: Vec<Page<T>> = Vec::new();
        let mut url = listing.url.clone();
        for n in 1..=MAX_PAGES {
            let known = cached.iter().find(|p| p.url == url);
            let page = self.fetch_page(&client, listing, reader, url, known).await?;
            let next = page.next.clone();
            pages.push(page);
            let Some(next) = next else { return Ok(pages) };
            if origin(&next).as_deref() != Some(home.as_str()) {
                return Err(request_err(format!(
                    "page {n} names a next page on another host ({}); the credential is only sent to {home}",
                    origin(&next).unwrap_or_else(|| "an invalid URL".into())
                )));
            }
            if pages.iter().any(|p| p.url == next) {
                return Err(request_err(format!(
                    "page {n} names an earlier page as the next one"
                )));
            }
            url = next;
        }
        Err(request_err(format!("more than {MAX_PAGES} pages")))
    }

    async fn fetch_page<T: Clone>(
        &self,
        client: &reqwest::Client,
        listing: &Listing<'_>,
        reader: &dyn PageReader<T>,
        url: String,
        known: Option<&Page<T>>,
    ) -> Result<Page<T>, ForgeError> {
        let scope = &listing.scope;
        let etag = known.and_then(|p| p.etag.as_deref());
        let response = self
            .send(client, scope, &url, listing.auth.as_ref(), &listing.headers, etag)
            .await?;
        let status = response.status();
        let headers = response.headers().clone();
        if status == StatusCode::NOT_MODIFIED
            && let Some(page) = known
        {
            self.not_modified.fetch_add(1, Ordering::Relaxed);
            return Ok(page.clone());
        }
        self.check_status(scope, status, &headers)?;
        let body = read_body(scope, response).await?;
        let (items, next) = reader
            .read(&url, &headers, &body)
            .map_err(|message| ForgeError::Malformed {
                scope: scope.clone(),
                message,
            })?;
        Ok(Page {
            url,
            etag: header_str(&headers, "etag").map(str::to_string),
            next,
            items: Arc::new(items),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_encoded_as_one_path_segment() {
        assert_eq!(encode_component("group/sub/app"), "group%2Fsub%2Fapp");
        assert_eq!(encode_component("42"), "42");
        assert_eq!(encode_component("a b,c"), "a%20b%2Cc");
    }

    #[test]
    fn the_link_header_names_the_next_page() {
        let mut h = HeaderMap::new();
        h.insert(
            header::LINK,
            HeaderValue::from_static(
                "<https://gitlab.example/api/v4/projects/1/merge_requests?page=1&per_page=100>; rel=\"first\", \
                 <https://gitlab.example/api/v4/projects/1/merge_requests?per_page=100&page=2>; rel=\"next\"",
            ),
        );
        assert_eq!(link_next_page(&h), Some(2));
        assert_eq!(
            link_next(&h),
            Some("https://gitlab.example/api/v4/projects/1/merge_requests?per_page=100&page=2")
        );
        assert_eq!(link_next_page(&HeaderMap::new()), None);
    }

    #[test]
    fn query_parameters_are_read_by_their_exact_name() {
        let url = "https://x/a?$top=100&searchCriteria.status=active&$skip=200";
        assert_eq!(query_param(url, "$skip"), Some("200"));
        assert_eq!(query_param(url, "$top"), Some("100"));
        assert_eq!(query_param(url, "top"), None);
        assert_eq!(query_param("https://x/a", "page"), None);
        assert_eq!(query_param("https://x/a?pages=2&page=3", "page"), Some("3"));
    }

    fn gitlab_scope() -> Scope {
        Scope {
            forge: "GitLab",
            api: "https://gitlab.com".into(),
            what: "merge requests for project 'g/p'".into(),
            subject: "project",
        }
    }

    #[test]
    fn a_sign_in_page_is_a_refusal_that_says_so() {
        let e = |status| ForgeError::Unauthorized {
            scope: gitlab_scope(),
            status,
        };
        assert!(e(401).to_string().ends_with("refused the credentials (HTTP 401)"));
        assert!(e(203).to_string().ends_with(
            "(HTTP 203: a sign-in page instead of the API's answer; the token is missing, wrong or expired)"
        ));
    }

    #[test]
    fn query_parameters_are_replaced_not_repeated() {
        assert_eq!(
            with_query("https://x/a?per_page=100", "page", "2"),
            "https://x/a?per_page=100&page=2"
        );
        assert_eq!(
            with_query("https://x/a?page=2&s=o", "page", "3"),
            "https://x/a?s=o&page=3"
        );
        assert_eq!(with_query("https://x/a", "start", "25"), "https://x/a?start=25");
        assert_eq!(with_query("https://x/a", "t", "a b"), "https://x/a?t=a%20b");
    }

    #[test]
    fn rate_limits_are_recognised_from_status_and_headers() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        for prefix in ["ratelimit", "x-ratelimit"] {
            let mut h = HeaderMap::new();
            h.insert(
                HeaderName::try_from(format!("{prefix}-remaining")).unwrap(),
                HeaderValue::from_static("0"),
            );
            h.insert(
                HeaderName::try_from(format!("{prefix}-reset")).unwrap(),
                HeaderValue::from_static("1600"),
            );
            assert_eq!(
                rate_limit_reset(StatusCode::FORBIDDEN, &h, now),
                Some(Some(UNIX_EPOCH + Duration::from_secs(1600))),
                "{prefix}"
            );
            h.insert("retry-after", HeaderValue::from_static("30"));
            assert_eq!(
                rate_limit_reset(StatusCode::TOO_MANY_REQUESTS, &h, now),
                Some(Some(now + Duration::from_secs(30)))
            );
        }
        // A plain 403 (no rate-limit headers) is not a rate limit; one with Retry-After is
        // (GitHub's secondary rate limits).
        assert_eq!(
            rate_limit_reset(StatusCode::FORBIDDEN, &HeaderMap::new(), now),
            None
        );
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("60"));
        assert_eq!(
            rate_limit_reset(StatusCode::FORBIDDEN, &h, now),
            Some(Some(now + Duration::from_secs(60)))
        );
        assert_eq!(
            rate_limit_reset(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), now),
            Some(None)
        );
    }

    #[test]
    fn api_urls_must_be_absolute_http() {
        assert_eq!(
            checked_api("GitLab", " https://g.example/ ").unwrap(),
            "https://g.example"
        );
        assert!(
            checked_api("GitLab", "g.example")
                .unwrap_err()
                .contains("invalid GitLab API URL")
        );
        assert!(checked_api("Gitea", "ftp://g.example").is_err());
    }

    #[test]
    fn rate_limit_messages_do_not_change_with_the_reset_time() {
        let scope = gitlab_scope();
        let e = |secs| ForgeError::RateLimited {
            scope: scope.clone(),
            reset_at: Some(UNIX_EPOCH + Duration::from_secs(secs)),
        };
        assert_eq!(e(1).to_string(), e(2).to_string());
        assert_eq!(
            ForgeError::NotFound(scope).to_string(),
            "error listing merge requests for project 'g/p': project not found at https://gitlab.com (HTTP 404)"
        );
    }

    #[test]
    fn basic_auth_is_base64_and_sensitive() {
        let (name, value) = basic_auth("u", "p").unwrap();
        assert_eq!(name, header::AUTHORIZATION);
        assert_eq!(value.to_str().unwrap(), "Basic dTpw");
        assert!(value.is_sensitive());
    }
}
