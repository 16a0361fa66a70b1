//! The GitLab source: the merge requests of a project, through a small typed client on reqwest,
//! frugal with the API budget.
//!
//! Stage: sources (I/O: HTTPS to a GitLab instance's REST API v4).
//!
//! - `GET {api}/api/v4/projects/{url-encoded project}/merge_requests?per_page=100&page=N`, with
//!   `state=` (`pullRequestState`) and `labels=` (comma-joined) as Argo CD's go-gitlab client
//!   sends them, and the token in the `PRIVATE-TOKEN` header (go-gitlab's default).
//! - Pages are followed through `X-Next-Page`, else the `Link: rel="next"` page number; the next
//!   URL is always built from the configured API, so the token never leaves its host.
//! - Caching, ETags (an unchanged poll costs one `304 Not Modified` per page and no JSON
//!   parsing), rate limits (`RateLimit-*`, 429 `Retry-After`) and errors are
//!   [`super::forge`]'s, shared with the other forges; one cache per (API, project, state,
//!   labels, credential, TLS settings).
//!
//! Why not the `gitlab` crate: it is large, blocking-first, and hides the status and headers
//! this cache needs (304s, `X-Next-Page`, rate-limit headers); one endpoint is read.

use std::{sync::Arc, time::Duration};

use http::HeaderMap;
use serde::Deserialize;

use super::{
    PullRequest,
    forge::{
        ForgeError, ForgeHttp, ForgeStats, ForgeTls, Listing, Scope, auth_header, encode_component,
        header_str, link_next_page, with_query,
    },
};

/// GitLab's public instance (Argo CD's default `https://gitlab.com/`).
pub const DEFAULT_API: &str = "https://gitlab.com";

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
    pub tls: ForgeTls,
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

/// A GitLab client with a shared merge-request cache. Cheap to share in an `Arc`.
#[derive(Debug)]
pub struct GitLab {
    http: ForgeHttp,
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

/// The next page number: `X-Next-Page` (empty on the last page), else the `page` parameter of
/// the `Link: rel="next"` target.
fn next_page(headers: &HeaderMap) -> Option<u64> {
    if let Some(v) = header_str(headers, "x-next-page") {
        return v.parse().ok();
    }
    link_next_page(headers)
}

impl GitLab {
    /// A client whose answers are reused for `max_age` (0: every call asks GitLab,
    /// conditionally).
    pub fn new(max_age: Duration) -> Self {
        GitLab {
            http: ForgeHttp::new(max_age),
        }
    }

    /// Request counters so far.
    pub fn stats(&self) -> ForgeStats {
        self.http.stats()
    }

    /// Forget the cached listings of `project` (any API, credential or filter): the next call
    /// asks GitLab (still conditionally).
    pub fn expire(&self, project: &str) {
        self.http.expire(project.trim());
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

    /// The merge requests of a project, in GitLab's order.
    ///
    /// # Errors
    /// [`ForgeError`]: never an empty list in place of a failure.
    pub async fn merge_requests(
        &self,
        query: &MergeRequestsQuery,
    ) -> Result<Arc<Vec<PullRequest>>, ForgeError> {
        let project = query.project.trim();
        if project.is_empty() || project.chars().any(char::is_control) {
            return Err(ForgeError::Invalid(format!(
                "invalid merge request query: project {:?} must be a GitLab project path or id",
                query.project
            )));
        }
        let api = super::forge::checked_api("GitLab", &Self::api_of(query))
            .map_err(|e| ForgeError::Invalid(format!("invalid merge request query: {e}")))?;
        let mut url = format!(
            "{api}/api/v4/projects/{}/merge_requests?per_page=100",
            encode_component(project)
        );
        if !query.state.is_empty() {
            url = with_query(&url, "state", &query.state);
        }
        if !query.labels.is_empty() {
            url = with_query(&url, "labels", &query.labels.join(","));
        }
        let auth = match query.token.as_deref().filter(|t| !t.is_empty()) {
            Some(token) => Some(
                auth_header(http::HeaderName::from_static("private-token"), token).map_err(|e| {
                    ForgeError::Invalid(format!("invalid merge request query: tokenRef: {e}"))
                })?,
            ),
            None => None,
        };
        let listing = Listing {
            scope: Scope {
                forge: "GitLab",
                api: api.clone(),
                what: format!("merge requests for project '{project}'"),
                subject: "project",
            },
            url: with_query(&url, "page", "1"),
            auth,
            headers: Vec::new(),
            tls: &query.tls,
            expiry_key: project.to_string(),
        };
        let reader = |page_url: &str, headers: &HeaderMap, body: &[u8]| {
            let mrs: Vec<ApiMergeRequest> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
            let next = next_page(headers).map(|n| with_query(page_url, "page", &n.to_string()));
            Ok((mrs.into_iter().map(PullRequest::from).collect(), next))
        };
        self.http.list(listing, &reader).await
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderValue, header};

    use super::*;

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
            tls: ForgeTls::default(),
        };
        assert!(!format!("{q:?}").contains("glpat-secret"));
    }
}
