//! The Azure DevOps sources: the active pull requests of a Git repository, and the repositories
//! of a team project for the `scmProvider` generator ([`AzureDevOpsScm`], which documents its
//! endpoints), through a small typed client on [`super::forge`].
//!
//! Stage: sources (I/O: HTTP(S) to Azure DevOps Services' or Server's REST API 7.1).
//!
//! - `GET {api}/{organization}/{project}/_apis/git/repositories/{repo}/pullrequests
//!   ?searchCriteria.status=active&api-version=7.1&$top=100&$skip=N`. Argo CD's client asks the
//!   project's pull requests (`GetPullRequestsByProject`: status `active`, the server's default
//!   page only) and keeps those whose repository name equals `repo`; appset asks the repository's
//!   own listing, every page, so a missing repository is a 404 (`continueOnRepoNotFoundError`
//!   applies) rather than silently no pull requests.
//! - The personal access token is sent as Azure DevOps's Go client (Argo CD's) sends it:
//!   `Authorization: Basic base64(":" + PAT)`, with `X-TFS-FedAuthRedirect: Suppress` so that a
//!   refused token is a 401 rather than a sign-in page; a `203` sign-in page is a refusal all the
//!   same ([`ForgeError::Unauthorized`]), never an empty listing. No token: anonymous (public
//!   projects).
//! - Pages: the `x-ms-continuationtoken` header when Azure DevOps sends one (as
//!   `continuationToken=`), else `$top`/`$skip`: a full page is followed by the next `$skip`. Every
//!   next URL is built from the page's own URL, so from the configured API: the token never leaves
//!   its host.
//! - Pull requests Argo CD skips are skipped (no repository name, id, source or target ref, or
//!   last merge source commit: Azure DevOps has not computed the merge yet); one without a title
//!   or creator, which Argo CD cannot read either, is a malformed answer.
//! - Caching, ETags, rate limits (429 with `Retry-After`; Azure DevOps's `X-RateLimit-*`) and
//!   errors are [`super::forge`]'s, shared with the other forges; one cache per (API, organization,
//!   project, repository, credential). Labels, drafts and filters are the generator's, so one
//!   listing serves every label filter.
//!
//! Why not the generated `azure_devops_rust_api` crate: it is ~250k lines over `azure_core`'s
//! own HTTP pipeline (its own retry policy, no conditional requests), and its typed operations
//! return bodies, not the status codes, `ETag`s, rate-limit and continuation headers the shared
//! cache reads; four read-only endpoints are used.

use std::{sync::Arc, time::Duration};

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::{
    BoxFuture, PullRequest, SourceError,
    forge::{
        ForgeError, ForgeHttp, ForgeStats, ForgeTls, Listing, Scope, basic_auth, checked_api,
        checked_segment, encode_component, header_str, query_param, with_query,
    },
    scm::{ScmBranch, ScmProvider, ScmRepo, ScmTarget, commit_or_branch, or_empty},
};

/// Azure DevOps Services (Argo CD's default `https://dev.azure.com`).
pub const DEFAULT_API: &str = "https://dev.azure.com";

/// The REST API version asked.
const API_VERSION: &str = "7.1";

/// Pull requests asked per page (`$top`).
const PAGE_SIZE: usize = 100;

/// Which pull requests to list.
#[derive(Clone)]
pub struct AzurePullsQuery {
    /// Azure DevOps base URL (the organization is the first path segment under it); empty for
    /// [`DEFAULT_API`].
    pub api: String,
    /// Organization (Azure DevOps Server: collection).
    pub organization: String,
    /// Project name or id.
    pub project: String,
    /// Repository name or id.
    pub repo: String,
    /// Personal access token, sent as basic auth with an empty user; None: anonymous.
    pub token: Option<String>,
}

impl std::fmt::Debug for AzurePullsQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzurePullsQuery")
            .field("api", &self.api)
            .field("organization", &self.organization)
            .field("project", &self.project)
            .field("repo", &self.repo)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// An Azure DevOps client with a shared pull-request cache. Cheap to share in an `Arc`.
#[derive(Debug)]
pub struct AzureDevOps {
    http: ForgeHttp,
}

/// A collection answer: `{"value": [...], "count": N}`.
#[derive(Deserialize)]
struct ApiList {
    value: Vec<ApiPull>,
}

/// One `GitPullRequest` as the listing returns it (the fields Argo CD reads, and `isDraft`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiPull {
    pull_request_id: Option<u64>,
    title: Option<String>,
    source_ref_name: Option<String>,
    target_ref_name: Option<String>,
    last_merge_source_commit: Option<ApiCommit>,
    labels: Option<Vec<ApiLabel>>,
    repository: Option<ApiRepository>,
    created_by: Option<ApiIdentity>,
    is_draft: Option<bool>,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiCommit {
    commit_id: Option<String>,
}

/// A `WebApiTagDefinition`: Argo CD reads its `name` whether `active` or not.
#[derive(Deserialize)]
struct ApiLabel {
    name: String,
}

#[derive(Deserialize)]
struct ApiRepository {
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiIdentity {
    unique_name: Option<String>,
}

/// Argo CD's `strings.Replace(ref, "refs/heads/", "", 1)`.
fn branch_of(git_ref: &str) -> String {
    git_ref.replacen("refs/heads/", "", 1)
}

impl ApiPull {
    /// The pull request as Argo CD reads it; `Ok(None)` for one Argo CD skips.
    ///
    /// # Errors
    /// A kept pull request without a title or creator (Argo CD would dereference nil).
    fn read(self) -> Result<Option<PullRequest>, String> {
        let (Some(number), Some(source), Some(target), Some(head_sha), Some(_)) = (
            self.pull_request_id,
            self.source_ref_name,
            self.target_ref_name,
            self.last_merge_source_commit.and_then(|c| c.commit_id),
            self.repository.and_then(|r| r.name),
        ) else {
            return Ok(None);
        };
        let title = self
            .title
            .ok_or_else(|| format!("pull request {number} has no title"))?;
        let unique_name = self
            .created_by
            .and_then(|c| c.unique_name)
            .ok_or_else(|| format!("pull request {number} has no createdBy.uniqueName"))?;
        Ok(Some(PullRequest {
            number,
            title,
            branch: branch_of(&source),
            target_branch: branch_of(&target),
            head_sha,
            labels: self
                .labels
                .unwrap_or_default()
                .into_iter()
                .map(|l| l.name)
                .collect(),
            // Argo CD: the part before the `@` of the creator's e-mail-like unique name.
            author: unique_name.split('@').next().unwrap_or_default().to_string(),
            draft: self.is_draft.unwrap_or(false),
        }))
    }
}

/// The next page named by an `x-ms-continuationtoken` header (as `continuationToken=` on
/// `page_url`, so on the configured API).
fn continuation(page_url: &str, headers: &HeaderMap) -> Option<String> {
    header_str(headers, "x-ms-continuationtoken")
        .filter(|t| !t.is_empty())
        .map(|token| with_query(page_url, "continuationToken", token))
}

/// Azure DevOps's `X-TFS-FedAuthRedirect: Suppress`: a refused token is a 401, not a sign-in
/// page.
fn suppress_sign_in() -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_static("x-tfs-fedauthredirect"),
        HeaderValue::from_static("Suppress"),
    )
}

/// A personal access token as Azure DevOps's Go client sends it: basic auth, empty user.
fn pat_auth(token: Option<&str>) -> Result<Option<(HeaderName, HeaderValue)>, String> {
    token
        .filter(|t| !t.is_empty())
        .map(|t| basic_auth("", t))
        .transpose()
}

/// One page: its pull requests and the next page's URL (built from `page_url`).
fn read_page(
    page_url: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Vec<PullRequest>, Option<String>), String> {
    let list: ApiList = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let returned = list.value.len();
    let mut pulls = Vec::with_capacity(returned);
    for pull in list.value {
        pulls.extend(pull.read()?);
    }
    let next = match continuation(page_url, headers) {
        Some(next) => Some(next),
        None if returned >= PAGE_SIZE => {
            let skip = query_param(page_url, "$skip").map_or(Ok(0), str::parse::<usize>);
            let skip = skip.map_err(|_| format!("the page URL {page_url:?} has an invalid $skip"))?;
            Some(with_query(page_url, "$skip", &(skip + returned).to_string()))
        }
        None => None,
    };
    Ok((pulls, next))
}

impl AzureDevOps {
    /// A client whose answers are reused for `max_age` (0: every call asks Azure DevOps,
    /// conditionally when it sent an ETag).
    pub fn new(max_age: Duration) -> Self {
        AzureDevOps {
            http: ForgeHttp::new(max_age),
        }
    }

    /// Request counters so far.
    pub fn stats(&self) -> ForgeStats {
        self.http.stats()
    }

    /// Forget the cached listings of `organization/project/repo` (any API or credential): the
    /// next call asks Azure DevOps (still conditionally).
    pub fn expire(&self, organization: &str, project: &str, repo: &str) {
        self.http.expire(&format!(
            "{}/{}/{}",
            organization.trim(),
            project.trim(),
            repo.trim()
        ));
    }

    /// Forget the cached `scmProvider` listings of `owner` (`organization/teamProject`: its
    /// repositories and their branches; any API or credential): the next scan asks Azure DevOps
    /// again.
    pub fn expire_owner(&self, owner: &str) {
        self.http.expire(owner.trim());
    }

    /// The base URL a query's `api` names (no trailing `/`; empty: [`DEFAULT_API`]).
    pub fn api_of(api: &str) -> String {
        let api = api.trim().trim_end_matches('/');
        if api.is_empty() {
            DEFAULT_API.to_string()
        } else {
            api.to_string()
        }
    }

    /// The active pull requests of a repository, in Azure DevOps's order (newest first).
    ///
    /// # Errors
    /// [`ForgeError`]: never an empty list in place of a failure.
    pub async fn pull_requests(&self, query: &AzurePullsQuery) -> Result<Arc<Vec<PullRequest>>, ForgeError> {
        let invalid =
            |m: String| ForgeError::Invalid(format!("invalid Azure DevOps pull request query: {m}"));
        let (organization, project, repo) =
            (query.organization.trim(), query.project.trim(), query.repo.trim());
        for (what, v) in [
            ("organization", organization),
            ("project", project),
            ("repo", repo),
        ] {
            if v.is_empty() || v.contains('/') || v.chars().any(char::is_control) {
                return Err(invalid(format!(
                    "{what} {v:?} must be an Azure DevOps {what} name"
                )));
            }
        }
        let api = checked_api("Azure DevOps", &Self::api_of(&query.api)).map_err(invalid)?;
        let url = format!(
            "{api}/{}/{}/_apis/git/repositories/{}/pullrequests?searchCriteria.status=active&api-version={API_VERSION}&$top={PAGE_SIZE}&$skip=0",
            encode_component(organization),
            encode_component(project),
            encode_component(repo)
        );
        let auth = pat_auth(query.token.as_deref()).map_err(|e| invalid(format!("tokenRef: {e}")))?;
        let tls = ForgeTls::default();
        let listing = Listing {
            scope: Scope {
                forge: "Azure DevOps",
                api: api.clone(),
                what: format!("pull requests for {organization}/{project}/{repo}"),
                subject: "project or repository",
            },
            url,
            auth,
            headers: vec![suppress_sign_in()],
            tls: &tls,
            expiry_key: format!("{organization}/{project}/{repo}"),
        };
        self.http.list(listing, &read_page).await
    }
}

/// An Azure DevOps team project as the `scmProvider` generator reads it (Argo CD's
/// `AzureDevOpsProvider`, on Microsoft's Go client: `GetRepositories`, `GetBranch`,
/// `GetBranches`, `GetItem`), with the pull-request client's conventions (PAT as basic auth,
/// `X-TFS-FedAuthRedirect: Suppress`, a `203` sign-in page is a refusal, `api-version=7.1`):
///
/// - `GET {api}/{organization}/{teamProject}/_apis/git/repositories`, following an
///   `x-ms-continuationtoken` header when one is sent; repositories without a name, id,
///   `remoteUrl` or `defaultBranch` (an empty repository) are skipped, as Argo CD skips them.
///   `organization` is the organization, `repository` the name, `repository_id` the id (a
///   UUID), `url` the `remoteUrl` (Argo CD ignores `cloneProtocol` here), labels empty.
/// - Branches: the default one, `GET …/repositories/{name}/stats/branches?name={branch}`; with
///   `allBranches`, `GET …/repositories/{name}/stats/branches`. A `404` (the repository is gone)
///   is no branch, as Argo CD reads `GitRepositoryNotFoundException`. The SHA is the branch's
///   `commit.commitId`.
/// - Path checks: `GET …/repositories/{id}/items?path={path}&versionDescriptor.version={commit}
///   &versionDescriptor.versionType=commit`; `200` exists, `404` (Azure DevOps's
///   `GitItemNotFoundException`) absent, anything else an error. Argo CD asks at the branch's
///   name; appset asks at the commit the branch was listed with, so the answer can be kept by
///   commit ([`super::scm::PathCache`]).
pub struct AzureDevOpsScm {
    client: Arc<AzureDevOps>,
    target: ScmTarget,
    /// `{api}/{organization}/{teamProject}/_apis/git/repositories`.
    repos_url: String,
    organization: String,
    /// `organization/teamProject`: messages and listing expiry.
    scope: String,
    all_branches: bool,
}

/// A `GitRepository` of the listing (the fields Argo CD reads).
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiRepo {
    id: Option<String>,
    name: Option<String>,
    remote_url: Option<String>,
    default_branch: Option<String>,
}

/// A `GitBranchStats`.
#[derive(Clone, Deserialize)]
struct ApiBranch {
    name: String,
    commit: ApiCommit,
}

/// A collection answer of any item (`{"value": [...], "count": N}`), paged by continuation
/// token.
#[derive(Deserialize)]
struct Values<T> {
    value: Vec<T>,
}

fn values_page<T: serde::de::DeserializeOwned>(
    page_url: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Vec<T>, Option<String>), String> {
    let page: Values<T> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok((page.value, continuation(page_url, headers)))
}

impl AzureDevOps {
    /// The `scmProvider` view of an Azure DevOps team project (`api`: empty for
    /// [`DEFAULT_API`]).
    ///
    /// # Errors
    /// An invalid organization, team project, API URL or token; no token (Argo CD's `no access
    /// token provided`).
    pub fn scm(
        self: &Arc<Self>,
        api: &str,
        organization: &str,
        team_project: &str,
        token: Option<&str>,
        all_branches: bool,
    ) -> Result<AzureDevOpsScm, ForgeError> {
        let invalid = |m: String| ForgeError::Invalid(format!("invalid scmProvider.azureDevOps: {m}"));
        let organization =
            checked_segment("organization", organization, "an Azure DevOps organization").map_err(invalid)?;
        let team_project =
            checked_segment("teamProject", team_project, "an Azure DevOps project").map_err(invalid)?;
        let api = checked_api("Azure DevOps", &Self::api_of(api)).map_err(invalid)?;
        let auth = pat_auth(token).map_err(|e| invalid(format!("accessTokenRef: {e}")))?;
        if auth.is_none() {
            return Err(invalid("accessTokenRef: no access token provided".into()));
        }
        let scope = format!("{organization}/{team_project}");
        Ok(AzureDevOpsScm {
            client: self.clone(),
            repos_url: format!(
                "{api}/{}/{}/_apis/git/repositories",
                encode_component(organization),
                encode_component(team_project)
            ),
            target: ScmTarget {
                forge: "Azure DevOps",
                api,
                auth,
                headers: vec![suppress_sign_in()],
                tls: ForgeTls::default(),
                expiry_key: scope.clone(),
            },
            organization: organization.to_string(),
            scope,
            all_branches,
        })
    }
}

impl AzureDevOpsScm {
    /// The API and the credential's fingerprint (the path cache's key; never the credential).
    pub fn path_key(&self) -> (String, u64) {
        self.target.path_key()
    }
}

impl ScmProvider for AzureDevOpsScm {
    fn repos(&self) -> BoxFuture<'_, Result<Vec<ScmRepo>, SourceError>> {
        Box::pin(async move {
            let url = format!("{}?api-version={API_VERSION}", self.repos_url);
            let what = format!("repositories for {}", self.scope);
            let repos = self
                .client
                .http
                .list(self.target.listing(what, "project", url), &values_page::<ApiRepo>)
                .await?;
            Ok(repos
                .iter()
                .filter_map(|r| {
                    let (Some(id), Some(name), Some(url), Some(default)) =
                        (&r.id, &r.name, &r.remote_url, &r.default_branch)
                    else {
                        return None;
                    };
                    Some(ScmRepo {
                        organization: self.organization.clone(),
                        repository: name.clone(),
                        repository_id: serde_json::Value::String(id.clone()),
                        url: url.clone(),
                        default_branch: branch_of(default),
                        labels: Vec::new(),
                    })
                })
                .collect())
        })
    }

    fn branches<'a>(&'a self, repo: &'a ScmRepo) -> BoxFuture<'a, Result<Vec<ScmBranch>, SourceError>> {
        Box::pin(async move {
            let base = format!(
                "{}/{}/stats/branches?api-version={API_VERSION}",
                self.repos_url,
                encode_component(&repo.repository)
            );
            let name = format!("{}/{}", self.scope, repo.repository);
            let listed = if self.all_branches {
                let what = format!("branches for {name}");
                self.client
                    .http
                    .list(
                        self.target.listing(what, "repository", base),
                        &values_page::<ApiBranch>,
                    )
                    .await
            } else {
                let single = |_: &str, _: &HeaderMap, body: &[u8]| {
                    let b: ApiBranch = serde_json::from_slice(body).map_err(|e| e.to_string())?;
                    Ok((vec![b], None))
                };
                let url = with_query(&base, "name", &repo.default_branch);
                let what = format!("default branch {} for {name}", repo.default_branch);
                self.client
                    .http
                    .list(self.target.listing(what, "repository", url), &single)
                    .await
            };
            Ok(or_empty(listed)?
                .into_iter()
                .map(|b| ScmBranch {
                    name: b.name,
                    sha: b.commit.commit_id.unwrap_or_default(),
                })
                .collect())
        })
    }

    fn has_path<'a>(
        &'a self,
        repo: &'a ScmRepo,
        branch: &'a ScmBranch,
        path: &'a str,
    ) -> BoxFuture<'a, Result<bool, SourceError>> {
        Box::pin(async move {
            let id = repo
                .repository_id
                .as_str()
                .map_or_else(|| repo.repository_id.to_string(), str::to_string);
            let version_type = if branch.sha.is_empty() { "branch" } else { "commit" };
            let url = format!(
                "{}/{}/items?path={}&versionDescriptor.version={}&versionDescriptor.versionType={version_type}&api-version={API_VERSION}",
                self.repos_url,
                encode_component(&id),
                encode_component(path),
                encode_component(commit_or_branch(branch)),
            );
            let name = format!("{}/{}", self.scope, repo.repository);
            Ok(self.target.exists(&self.client.http, &name, path, &url).await?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pull(id: u64) -> serde_json::Value {
        serde_json::json!({
            "repository": {"id": "3411ebc1-d5aa-464f-9615-0b527bc66719", "name": "shop",
                           "project": {"id": "a7573007-bbb3-4341-b726-0c4148a07853", "name": "web"}},
            "pullRequestId": id, "codeReviewId": id, "status": "active",
            "createdBy": {"displayName": "Normal Paulk", "uniqueName": "fabrikamfiber16@hotmail.com",
                          "id": "54d125f7-69f7-4191-904f-c5b96b6261c8"},
            "creationDate": "2016-11-01T16:30:31.6655471Z",
            "title": "A new feature", "description": "Adding a new feature",
            "sourceRefName": "refs/heads/npaulk/my_work", "targetRefName": "refs/heads/new_feature",
            "mergeStatus": "succeeded", "isDraft": true,
            "mergeId": "f5fc8381-3fb2-49fe-8a0d-27dcc2d6ef82",
            "lastMergeSourceCommit": {"commitId": "b60280bc6e62e2f880f1b63c1e24987664d3bda3",
                                      "url": "https://dev.azure.com/fabrikam/_apis/git/repositories/3411ebc1/commits/b60280bc"},
            "lastMergeTargetCommit": {"commitId": "f47bbc106853afe3c1b07a81754bce5f4b8dbf62"},
            "labels": [{"id": "b8a23f3f", "name": "preview", "active": true}],
            "reviewers": [], "supportsIterations": true
        })
    }

    #[test]
    fn pull_requests_map_to_argo_cds_fields() {
        let p: ApiPull = serde_json::from_value(pull(22)).unwrap();
        assert_eq!(
            p.read().unwrap(),
            Some(PullRequest {
                number: 22,
                title: "A new feature".into(),
                branch: "npaulk/my_work".into(),
                target_branch: "new_feature".into(),
                head_sha: "b60280bc6e62e2f880f1b63c1e24987664d3bda3".into(),
                labels: vec!["preview".into()],
                author: "fabrikamfiber16".into(),
                draft: true,
            })
        );
        assert_eq!(
            branch_of("refs/tags/refs/heads/x"),
            "refs/tags/x",
            "Go's Replace(…, 1)"
        );
    }

    #[test]
    fn incomplete_pull_requests_are_skipped_as_argo_cd_skips_them() {
        for field in [
            "pullRequestId",
            "sourceRefName",
            "targetRefName",
            "lastMergeSourceCommit",
            "repository",
        ] {
            let mut v = pull(1);
            v.as_object_mut().unwrap().remove(field);
            let p: ApiPull = serde_json::from_value(v).unwrap();
            assert_eq!(p.read().unwrap(), None, "{field}");
        }
        let mut v = pull(1);
        v.as_object_mut().unwrap().remove("title");
        let p: ApiPull = serde_json::from_value(v).unwrap();
        assert_eq!(p.read().unwrap_err(), "pull request 1 has no title");
    }

    #[test]
    fn a_full_page_is_followed_by_the_next_skip_unless_a_continuation_token_says_otherwise() {
        let url = "https://dev.azure.com/o/p/_apis/git/repositories/r/pullrequests?api-version=7.1&$top=100&$skip=0";
        let page = |n: u64| {
            serde_json::to_vec(
                &serde_json::json!({"value": (1..=n).map(pull).collect::<Vec<_>>(), "count": n}),
            )
            .unwrap()
        };
        let (pulls, next) = read_page(url, &HeaderMap::new(), &page(100)).unwrap();
        assert_eq!(pulls.len(), 100);
        let next = next.unwrap();
        assert!(next.ends_with("&$top=100&$skip=100"), "{next}");
        let (_, after) = read_page(&next, &HeaderMap::new(), &page(100)).unwrap();
        assert!(after.unwrap().ends_with("&$skip=200"));
        assert_eq!(read_page(url, &HeaderMap::new(), &page(7)).unwrap().1, None);
        let mut h = HeaderMap::new();
        h.insert("x-ms-continuationtoken", HeaderValue::from_static("a b"));
        let next = read_page(url, &h, &page(7)).unwrap().1.unwrap();
        assert!(next.ends_with("&continuationToken=a%20b"), "{next}");
        assert!(read_page(url, &HeaderMap::new(), br#"{"count": 0}"#).is_err());
    }

    #[test]
    fn tokens_are_redacted_from_debug_output() {
        let q = AzurePullsQuery {
            api: String::new(),
            organization: "o".into(),
            project: "p".into(),
            repo: "r".into(),
            token: Some("azure-pat-secret".into()),
        };
        assert!(!format!("{q:?}").contains("azure-pat-secret"));
    }

    #[test]
    fn team_project_listings_read_argo_cds_fields_and_follow_continuation_tokens() {
        // Shaped as Microsoft documents `GET …/_apis/git/repositories` and `…/stats/branches`.
        let url = "https://dev.azure.com/o/p/_apis/git/repositories?api-version=7.1";
        let body = serde_json::json!({"count": 2, "value": [
            {"id": "3411ebc1-d5aa-464f-9615-0b527bc66719", "name": "shop", "defaultBranch": "refs/heads/main",
             "remoteUrl": "https://o@dev.azure.com/o/p/_git/shop", "sshUrl": "git@ssh.dev.azure.com:v3/o/p/shop"},
            {"id": "5d2c8b1e-7f3a-4e6d-9c0b-2a4f6e8d0c13", "name": "empty",
             "remoteUrl": "https://o@dev.azure.com/o/p/_git/empty"}
        ]});
        let mut h = HeaderMap::new();
        h.insert("x-ms-continuationtoken", HeaderValue::from_static("t1"));
        let (repos, next) = values_page::<ApiRepo>(url, &h, body.to_string().as_bytes()).unwrap();
        assert_eq!(next.unwrap(), format!("{url}&continuationToken=t1"));
        assert_eq!(repos[0].default_branch.as_deref(), Some("refs/heads/main"));
        assert!(repos[1].default_branch.is_none(), "an empty repository, skipped");
        let (_, next) = values_page::<ApiRepo>(url, &HeaderMap::new(), body.to_string().as_bytes()).unwrap();
        assert_eq!(next, None);
        let branches = serde_json::json!({"count": 1, "value": [{"name": "main", "aheadCount": 0, "behindCount": 0,
            "isBaseVersion": true, "commit": {"commitId": "b60280bc6e62e2f880f1b63c1e24987664d3bda3"}}]});
        let (b, _) =
            values_page::<ApiBranch>(url, &HeaderMap::new(), branches.to_string().as_bytes()).unwrap();
        assert_eq!(
            (b[0].name.as_str(), b[0].commit.commit_id.as_deref()),
            ("main", Some("b60280bc6e62e2f880f1b63c1e24987664d3bda3"))
        );
    }
}
