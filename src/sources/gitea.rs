//! The Gitea (and Forgejo) source: the open pull requests of a repository, through a small typed
//! client on reqwest, frugal with the API budget (the GitLab client's rules).
//!
//! Stage: sources (I/O: HTTP(S) to a Gitea instance's REST API v1).
//!
//! - `GET {api}/api/v1/repos/{owner}/{repo}/pulls?state=open&limit=50&page=N`, the token in
//!   `Authorization: token <t>` (Gitea's SDK's header). Argo CD reads only the first page (the
//!   server's default page size); appset follows every page.
//! - `labels` is not sent: Argo CD filters labels on the client, and so does the generator, so
//!   one cache per (API, owner, repo, credential, TLS setting) serves every label filter.
//! - Pages are followed through `Link: rel="next"` (its `page` number; the next URL is always
//!   built from the configured API, so the token never leaves its host).
//! - Caching, ETags (Gitea sends them on some answers), rate limits (a proxy's or Gitea's own
//!   429, `Retry-After`, `X-RateLimit-Reset`) and errors are [`super::forge`]'s, shared with the
//!   other forges.

use std::{sync::Arc, time::Duration};

use http::{HeaderMap, header};
use serde::Deserialize;

use super::{
    BoxFuture, PullRequest, SourceError,
    forge::{
        ForgeError, ForgeHttp, ForgeStats, ForgeTls, Listing, Scope, auth_header, checked_api,
        checked_segment, encode_component, link_next_page, optional_auth, with_query,
    },
    scm::{
        CloneProtocol, ScmBranch, ScmProvider, ScmRepo, ScmRepoOptions, ScmTarget, commit_or_branch,
        encoded_path,
    },
};

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

/// A Gitea client with a shared pull-request cache. Cheap to share in an `Arc`.
#[derive(Debug)]
pub struct Gitea {
    http: ForgeHttp,
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

#[derive(Clone, Deserialize)]
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

impl Gitea {
    /// A client whose answers are reused for `max_age` (0: every call asks Gitea,
    /// conditionally when it sent an ETag).
    pub fn new(max_age: Duration) -> Self {
        Gitea {
            http: ForgeHttp::new(max_age),
        }
    }

    /// Request counters so far.
    pub fn stats(&self) -> ForgeStats {
        self.http.stats()
    }

    /// Forget the cached listings of `owner/repo` (any API or credential): the next call asks
    /// Gitea (still conditionally).
    pub fn expire(&self, owner: &str, repo: &str) {
        self.http.expire(&format!("{}/{}", owner.trim(), repo.trim()));
    }

    /// Forget the cached `scmProvider` listings of `owner` (its repositories and their
    /// branches; any API or credential): the next scan asks Gitea (still conditionally).
    pub fn expire_owner(&self, owner: &str) {
        self.http.expire(owner.trim());
    }

    /// The open pull requests of a repository, in Gitea's order.
    ///
    /// # Errors
    /// [`ForgeError`]: never an empty list in place of a failure.
    pub async fn pull_requests(&self, query: &GiteaPullsQuery) -> Result<Arc<Vec<PullRequest>>, ForgeError> {
        let invalid = |m: String| ForgeError::Invalid(format!("invalid Gitea pull request query: {m}"));
        let (owner, repo) = (query.owner.trim(), query.repo.trim());
        for (what, v) in [("owner", owner), ("repo", repo)] {
            if v.is_empty() || v.contains('/') || v.chars().any(char::is_control) {
                return Err(invalid(format!("{what} {v:?} must be a Gitea {what} name")));
            }
        }
        let api = checked_api("Gitea", &query.api).map_err(invalid)?;
        let url = format!(
            "{api}/api/v1/repos/{}/{}/pulls?state=open&limit={PAGE_SIZE}&page=1",
            encode_component(owner),
            encode_component(repo)
        );
        let auth = match query.token.as_deref().filter(|t| !t.is_empty()) {
            Some(token) => Some(
                auth_header(header::AUTHORIZATION, &format!("token {token}"))
                    .map_err(|e| invalid(format!("tokenRef: {e}")))?,
            ),
            None => None,
        };
        let tls = ForgeTls {
            insecure: query.insecure,
            ca_pem: None,
        };
        let listing = Listing {
            scope: Scope {
                forge: "Gitea",
                api: api.clone(),
                what: format!("pull requests for {owner}/{repo}"),
                subject: "repository",
            },
            url,
            auth,
            headers: Vec::new(),
            tls: &tls,
            expiry_key: format!("{owner}/{repo}"),
        };
        let reader = |page_url: &str, headers: &HeaderMap, body: &[u8]| {
            let pulls: Vec<ApiPull> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
            let next = link_next_page(headers).map(|n| with_query(page_url, "page", &n.to_string()));
            Ok((pulls.into_iter().map(PullRequest::from).collect(), next))
        };
        self.http.list(listing, &reader).await
    }
}

/// A Gitea organization as the `scmProvider` generator reads it (the Gitea SDK's
/// `ListOrgRepos`, `ListRepoLabels`, `GetRepoBranch`/`ListRepoBranches` and `GetContents`, as
/// Argo CD calls them; every page is followed where Argo CD reads the first).
pub struct GiteaScm {
    client: Arc<Gitea>,
    target: ScmTarget,
    owner: String,
    opts: ScmRepoOptions,
}

/// A repository of `GET /orgs/{org}/repos`.
#[derive(Clone, Deserialize)]
struct ApiRepo {
    id: u64,
    name: String,
    #[serde(default)]
    ssh_url: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    default_branch: Option<String>,
    #[serde(default)]
    archived: bool,
}

/// A branch of `GET /repos/{o}/{r}/branches[/{b}]`.
#[derive(Clone, Deserialize)]
struct ApiRepoBranch {
    name: String,
    commit: ApiBranchCommit,
}

#[derive(Clone, Deserialize)]
struct ApiBranchCommit {
    id: String,
}

impl Gitea {
    /// The `scmProvider` view of an organization: `token` as `Authorization: token …`.
    ///
    /// # Errors
    /// An invalid owner, API URL or token.
    pub fn scm(
        self: &Arc<Self>,
        api: &str,
        owner: &str,
        token: Option<&str>,
        insecure: bool,
        opts: ScmRepoOptions,
    ) -> Result<GiteaScm, ForgeError> {
        let invalid = |m: String| ForgeError::Invalid(format!("invalid scmProvider.gitea: {m}"));
        let owner = checked_segment("owner", owner, "a Gitea organization or user").map_err(invalid)?;
        let api = checked_api("Gitea", api).map_err(invalid)?;
        let auth = optional_auth(header::AUTHORIZATION, "token ", token)
            .map_err(|e| invalid(format!("tokenRef: {e}")))?;
        Ok(GiteaScm {
            client: self.clone(),
            target: ScmTarget {
                forge: "Gitea",
                api,
                auth,
                headers: Vec::new(),
                tls: ForgeTls {
                    insecure,
                    ca_pem: None,
                },
                expiry_key: owner.to_string(),
            },
            owner: owner.to_string(),
            opts,
        })
    }
}

impl GiteaScm {
    fn repo_url(&self, repo: &str) -> String {
        format!(
            "{}/api/v1/repos/{}/{}",
            self.target.api,
            encode_component(&self.owner),
            encode_component(repo)
        )
    }

    /// The credential's fingerprint (path-cache key), never the credential.
    pub fn credential(&self) -> u64 {
        self.target.credential()
    }

    /// The API base URL.
    pub fn api(&self) -> &str {
        &self.target.api
    }
}

/// Gitea's next page: the `Link` header's page number, on the page's own URL.
fn next_gitea_page(page_url: &str, headers: &HeaderMap) -> Option<String> {
    link_next_page(headers).map(|n| with_query(page_url, "page", &n.to_string()))
}

impl ScmProvider for GiteaScm {
    fn repos(&self) -> BoxFuture<'_, Result<Vec<ScmRepo>, SourceError>> {
        Box::pin(async move {
            let url = format!(
                "{}/api/v1/orgs/{}/repos?limit={PAGE_SIZE}&page=1",
                self.target.api,
                encode_component(&self.owner)
            );
            let reader = |page_url: &str, headers: &HeaderMap, body: &[u8]| {
                let rs: Vec<ApiRepo> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
                Ok((rs, next_gitea_page(page_url, headers)))
            };
            let what = format!("repositories for {}", self.owner);
            let repos = self
                .client
                .http
                .list(self.target.listing(what, "organization", url), &reader)
                .await?;
            let mut out = Vec::with_capacity(repos.len());
            for r in repos
                .iter()
                .filter(|r| !(self.opts.exclude_archived && r.archived))
            {
                // Argo CD's labels of a Gitea repository: its issue labels, one listing each.
                let url = format!("{}/labels?limit={PAGE_SIZE}&page=1", self.repo_url(&r.name));
                let reader = |page_url: &str, headers: &HeaderMap, body: &[u8]| {
                    let ls: Vec<ApiLabel> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
                    Ok((ls, next_gitea_page(page_url, headers)))
                };
                let what = format!("labels for {}/{}", self.owner, r.name);
                let labels = self
                    .client
                    .http
                    .list(self.target.listing(what, "repository", url), &reader)
                    .await?;
                out.push(ScmRepo {
                    organization: self.owner.clone(),
                    repository: r.name.clone(),
                    repository_id: serde_json::Value::from(r.id),
                    // Argo CD's https URL of a Gitea repository is its `html_url`.
                    url: match self.opts.protocol {
                        CloneProtocol::Ssh => r.ssh_url.clone(),
                        CloneProtocol::Https => r.html_url.clone(),
                    }
                    .unwrap_or_default(),
                    default_branch: r.default_branch.clone().unwrap_or_default(),
                    labels: labels.iter().map(|l| l.name.clone()).collect(),
                });
            }
            Ok(out)
        })
    }

    fn branches<'a>(&'a self, repo: &'a ScmRepo) -> BoxFuture<'a, Result<Vec<ScmBranch>, SourceError>> {
        Box::pin(async move {
            let base = format!("{}/branches", self.repo_url(&repo.repository));
            let what = format!("branches for {}/{}", self.owner, repo.repository);
            let to_branch = |b: &ApiRepoBranch| ScmBranch {
                name: b.name.clone(),
                sha: b.commit.id.clone(),
            };
            if self.opts.all_branches {
                let reader = |page_url: &str, headers: &HeaderMap, body: &[u8]| {
                    let bs: Vec<ApiRepoBranch> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
                    Ok((bs, next_gitea_page(page_url, headers)))
                };
                let listing =
                    self.target
                        .listing(what, "repository", format!("{base}?limit={PAGE_SIZE}&page=1"));
                let bs = self.client.http.list(listing, &reader).await?;
                return Ok(bs.iter().map(to_branch).collect());
            }
            let reader = |_: &str, _: &HeaderMap, body: &[u8]| {
                let b: ApiRepoBranch = serde_json::from_slice(body).map_err(|e| e.to_string())?;
                Ok((vec![b], None))
            };
            // Argo CD: a default branch Gitea does not find is an error (not an empty repository).
            let url = format!("{base}/{}", encode_component(&repo.default_branch));
            let bs = self
                .client
                .http
                .list(self.target.listing(what, "default branch", url), &reader)
                .await?;
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
            let url = format!(
                "{}/contents/{}?ref={}",
                self.repo_url(&repo.repository),
                encoded_path(path),
                encode_component(commit_or_branch(branch))
            );
            let name = format!("{}/{}", self.owner, repo.repository);
            Ok(self.target.exists(&self.client.http, &name, path, &url).await?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
