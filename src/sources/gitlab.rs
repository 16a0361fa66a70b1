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
    BoxFuture, PullRequest, SourceError,
    forge::{
        ForgeError, ForgeHttp, ForgeStats, ForgeTls, Listing, Scope, auth_header, encode_component,
        fingerprint, header_str, link_next_page, optional_auth, with_query,
    },
    scm::{CloneProtocol, ScmBranch, ScmProvider, ScmRepo, ScmRepoOptions, commit_or_branch, or_empty},
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

/// Which GitLab group the `scmProvider` generator scans.
#[derive(Clone)]
pub struct GroupQuery {
    /// GitLab base URL; empty for [`DEFAULT_API`].
    pub api: String,
    /// Group path or id.
    pub group: String,
    /// `include_subgroups=`.
    pub include_subgroups: bool,
    /// `with_shared=`.
    pub include_shared_projects: bool,
    /// `archived=true` (GitLab leaves archived projects out otherwise).
    pub include_archived: bool,
    /// `topic=` (empty: not sent).
    pub topic: String,
    /// Token sent as `PRIVATE-TOKEN`; None: anonymous.
    pub token: Option<String>,
    /// TLS settings.
    pub tls: ForgeTls,
    /// Clone URL, branches.
    pub opts: ScmRepoOptions,
}

/// A GitLab group as the `scmProvider` generator reads it (go-gitlab's `ListGroupProjects`,
/// `GetBranch`/`ListBranches`, `GetFile` then `ListTree`, as Argo CD calls them; the project is
/// addressed by the listed id, so Argo CD's extra `GetProject` per path check is not needed).
pub struct GitLabScm {
    client: Arc<GitLab>,
    api: String,
    query: GroupQuery,
    auth: Option<(http::HeaderName, http::HeaderValue)>,
}

/// A project of `GET /groups/:id/projects` (the fields Argo CD reads).
#[derive(Clone, Deserialize)]
struct ApiProject {
    id: u64,
    path: String,
    #[serde(default)]
    namespace: Option<ApiNamespace>,
    #[serde(default)]
    ssh_url_to_repo: Option<String>,
    #[serde(default)]
    http_url_to_repo: Option<String>,
    #[serde(default)]
    default_branch: Option<String>,
    #[serde(default)]
    topics: Option<Vec<String>>,
    #[serde(default)]
    tag_list: Option<Vec<String>>,
}

#[derive(Clone, Deserialize)]
struct ApiNamespace {
    #[serde(default)]
    full_path: String,
}

/// A branch of `GET /projects/:id/repository/branches[/:branch]`.
#[derive(Clone, Deserialize)]
struct ApiBranch {
    name: String,
    commit: ApiCommit,
}

#[derive(Clone, Deserialize)]
struct ApiCommit {
    id: String,
}

impl GitLab {
    /// The `scmProvider` view of a group.
    ///
    /// # Errors
    /// An invalid group, API URL or token.
    pub fn scm(self: &Arc<Self>, query: GroupQuery) -> Result<GitLabScm, ForgeError> {
        let invalid = |m: String| ForgeError::Invalid(format!("invalid scmProvider.gitlab: {m}"));
        let group = query.group.trim();
        if group.is_empty() || group.chars().any(char::is_control) {
            return Err(invalid(format!(
                "group {:?} must be a GitLab group path or id",
                query.group
            )));
        }
        let api = if query.api.trim().is_empty() {
            DEFAULT_API
        } else {
            query.api.as_str()
        };
        let api = super::forge::checked_api("GitLab", api).map_err(invalid)?;
        let auth = optional_auth(
            http::HeaderName::from_static("private-token"),
            "",
            query.token.as_deref(),
        )
        .map_err(|e| invalid(format!("tokenRef: {e}")))?;
        Ok(GitLabScm {
            client: self.clone(),
            api,
            query,
            auth,
        })
    }
}

impl GitLabScm {
    fn listing(&self, what: String, subject: &'static str, url: String) -> Listing<'_> {
        Listing {
            scope: self.scope(what, subject),
            url,
            auth: self.auth.clone(),
            headers: Vec::new(),
            tls: &self.query.tls,
            expiry_key: self.query.group.trim().to_string(),
        }
    }

    fn scope(&self, what: String, subject: &'static str) -> Scope {
        Scope {
            forge: "GitLab",
            api: self.api.clone(),
            what,
            subject,
        }
    }

    /// The credential's fingerprint (path-cache key), never the credential.
    pub fn credential(&self) -> u64 {
        fingerprint((self.auth.as_ref().map(|(_, v)| v.as_bytes()), &self.query.tls))
    }

    /// The API base URL.
    pub fn api(&self) -> &str {
        &self.api
    }

    fn project_url(&self, repo: &ScmRepo) -> String {
        let id = match &repo.repository_id {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        format!("{}/api/v4/projects/{}", self.api, encode_component(&id))
    }
}

/// GitLab's next page: `X-Next-Page`, else the `Link` header's, on the page's own URL.
fn next_gitlab_page(page_url: &str, headers: &HeaderMap) -> Option<String> {
    next_page(headers).map(|n| with_query(page_url, "page", &n.to_string()))
}

impl ScmProvider for GitLabScm {
    fn repos(&self) -> BoxFuture<'_, Result<Vec<ScmRepo>, SourceError>> {
        Box::pin(async move {
            let q = &self.query;
            let group = q.group.trim();
            let mut url = format!(
                "{}/api/v4/groups/{}/projects?per_page=100",
                self.api,
                encode_component(group)
            );
            url = with_query(&url, "include_subgroups", &q.include_subgroups.to_string());
            url = with_query(&url, "with_shared", &q.include_shared_projects.to_string());
            if !q.topic.is_empty() {
                url = with_query(&url, "topic", &q.topic);
            }
            if q.include_archived {
                url = with_query(&url, "archived", "true");
            }
            let listing = self.listing(
                format!("projects for {group}"),
                "group",
                with_query(&url, "page", "1"),
            );
            let reader = |page_url: &str, headers: &HeaderMap, body: &[u8]| {
                let ps: Vec<ApiProject> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
                Ok((ps, next_gitlab_page(page_url, headers)))
            };
            let projects = self.client.http.list(listing, &reader).await?;
            Ok(projects
                .iter()
                .map(|p| ScmRepo {
                    organization: p
                        .namespace
                        .as_ref()
                        .map(|n| n.full_path.clone())
                        .unwrap_or_default(),
                    repository: p.path.clone(),
                    repository_id: serde_json::Value::from(p.id),
                    url: match q.opts.protocol {
                        CloneProtocol::Ssh => p.ssh_url_to_repo.clone(),
                        CloneProtocol::Https => p.http_url_to_repo.clone(),
                    }
                    .unwrap_or_default(),
                    default_branch: p.default_branch.clone().unwrap_or_default(),
                    // Topics; `tag_list` before GitLab 14.5.
                    labels: p
                        .topics
                        .clone()
                        .filter(|t| !t.is_empty())
                        .or_else(|| p.tag_list.clone())
                        .unwrap_or_default(),
                })
                .collect())
        })
    }

    fn branches<'a>(&'a self, repo: &'a ScmRepo) -> BoxFuture<'a, Result<Vec<ScmBranch>, SourceError>> {
        Box::pin(async move {
            let base = format!("{}/repository/branches", self.project_url(repo));
            let what = format!("branches for {}/{}", repo.organization, repo.repository);
            let to_branch = |b: &ApiBranch| ScmBranch {
                name: b.name.clone(),
                sha: b.commit.id.clone(),
            };
            // Argo CD: a 404 is no branches, for one branch as for all of them.
            let bs = if self.query.opts.all_branches {
                let reader = |page_url: &str, headers: &HeaderMap, body: &[u8]| {
                    let bs: Vec<ApiBranch> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
                    Ok((bs, next_gitlab_page(page_url, headers)))
                };
                let listing = self.listing(what, "project", format!("{base}?per_page=100&page=1"));
                or_empty(self.client.http.list(listing, &reader).await)?
            } else {
                if repo.default_branch.is_empty() {
                    return Ok(Vec::new());
                }
                let reader = |_: &str, _: &HeaderMap, body: &[u8]| {
                    let b: ApiBranch = serde_json::from_slice(body).map_err(|e| e.to_string())?;
                    Ok((vec![b], None))
                };
                let url = format!("{base}/{}", encode_component(&repo.default_branch));
                or_empty(
                    self.client
                        .http
                        .list(self.listing(what, "branch", url), &reader)
                        .await,
                )?
            };
            Ok(bs.iter().map(to_branch).collect())
        })
    }

    fn has_path<'a>(
        &'a self,
        repo: &'a ScmRepo,
        branch: &'a ScmBranch,
        path: &'a str,
    ) -> BoxFuture<'a, Result<bool, SourceError>> {
        Box::pin(async move {
            let project = self.project_url(repo);
            let at = encode_component(commit_or_branch(branch));
            let scope = self.scope(
                format!("contents of {}/{} ({path})", repo.organization, repo.repository),
                "path",
            );
            let http = &self.client.http;
            let file = format!("{project}/repository/files/{}?ref={at}", encode_component(path));
            if http
                .get(&scope, &file, self.auth.as_ref(), &self.query.tls)
                .await?
                .is_some()
            {
                return Ok(true);
            }
            // Not a file: a directory? (Argo CD's `ListTree` fallback.)
            let tree = format!(
                "{project}/repository/tree?path={}&ref={at}",
                encode_component(path)
            );
            Ok(http
                .get(&scope, &tree, self.auth.as_ref(), &self.query.tls)
                .await?
                .is_some())
        })
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
