//! The Bitbucket sources: the open pull requests of a Bitbucket Server (Data Center) or a
//! Bitbucket Cloud repository, and the repositories of a Bitbucket Server project
//! ([`BitbucketServerScm`]) or a Bitbucket Cloud workspace ([`BitbucketCloudScm`]) for the
//! `scmProvider` generator, through a small typed client on [`super::forge`].
//!
//! Stage: sources (I/O: HTTP(S) to Bitbucket Server's REST API 1.0 and Bitbucket Cloud's REST
//! API 2.0).
//!
//! - Bitbucket Server: `GET {api}/api/1.0/projects/{project}/repos/{repo}/pull-requests?state=OPEN&limit=100`,
//!   then `&start=N`. `api` is the REST root (`https://bitbucket.example.com/rest`; `/rest` is
//!   added when missing, as Argo CD's `NormalizeBitbucketBasePath` does). Pages end at the body's
//!   `isLastPage`; the next one starts at its `nextPageStart`, on a URL built from the configured
//!   API (so the credential never leaves its host). Bitbucket Server sends no ETags on this
//!   resource: every poll lists every page (still behind the shared cache's `max_age`).
//! - Bitbucket Cloud: `GET {api}/repositories/{owner}/{repo}/pullrequests?state=OPEN&pagelen=50`
//!   (50 is Cloud's largest page for pull requests), then the body's `next` URL, which
//!   [`super::forge`] refuses when it names another scheme, host or port. Cloud answers carry
//!   ETags, so an unchanged poll is one `304 Not Modified` per page.
//! - Credentials, as Argo CD: `bearerToken` (`Authorization: Bearer …`) wins over `basicAuth`
//!   (`Authorization: Basic …`); neither: anonymous (`scmProvider.bitbucket`: `user` and
//!   `appPasswordRef`, basic auth). An empty token or password is an error, not
//!   an anonymous listing.
//! - Parameters, as Argo CD's clients fill them. Server: `id`, `title`, `fromRef.displayId`,
//!   `toRef.displayId`, `fromRef.latestCommit`, `author.user.name`, no labels. Cloud: `id`,
//!   `title`, `source.branch.name`, `destination.branch.name`, `source.commit.hash` (Cloud's
//!   12-character short hash: Argo CD does not ask the commit API for the full one, nor does
//!   appset), `author.nickname`, no labels. Both read `draft` for appset's `ignoreDraft`.
//!
//! Why no Bitbucket crate: `bitbucket-server-rs` (a learning project, its author says) has no
//! pull-request listing and only bearer tokens; `bitbucket` (a 2020 alpha on hyper 0.13) is
//! yanked; the Bitbucket Cloud crates are CLIs. None exposes the status and headers this cache
//! needs (304s, `Retry-After`) or keeps paging on the API's host, and a few read-only endpoints
//! are all that is used.
//!
//! The `scmProvider` clients ([`BitbucketServerScm`], [`BitbucketCloudScm`]) document their
//! endpoints on their types.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use http::{HeaderMap, header};
use serde::Deserialize;

use super::{
    BoxFuture, PullRequest, SourceError,
    forge::{
        ForgeError, ForgeHttp, ForgeStats, ForgeTls, Listing, Scope, auth_header, basic_auth, checked_api,
        checked_segment, encode_component, with_query,
    },
    scm::{
        CloneProtocol, ScmBranch, ScmProvider, ScmRepo, ScmRepoOptions, ScmTarget, commit_or_branch,
        encoded_path, or_empty,
    },
};

/// Bitbucket Cloud's API (Argo CD's default).
pub const CLOUD_API: &str = "https://api.bitbucket.org/2.0";

/// Page size asked of Bitbucket Server (Argo CD's).
const SERVER_PAGE_SIZE: u32 = 100;
/// Page size asked of Bitbucket Cloud (its maximum for pull requests).
const CLOUD_PAGE_SIZE: u32 = 50;

/// A Bitbucket credential, resolved.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum BitbucketAuth {
    /// No credential.
    #[default]
    Anonymous,
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        /// User name.
        username: String,
        /// Password, app password or token.
        password: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(String),
}

impl std::fmt::Debug for BitbucketAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BitbucketAuth::Anonymous => f.write_str("Anonymous"),
            BitbucketAuth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            BitbucketAuth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

impl BitbucketAuth {
    /// The `Authorization` header, marked sensitive.
    fn header(&self, field: &str) -> Result<Option<(http::HeaderName, http::HeaderValue)>, String> {
        match self {
            BitbucketAuth::Anonymous => Ok(None),
            BitbucketAuth::Basic { password, .. } if password.is_empty() => {
                Err(format!("{field}.basicAuth: the password is empty"))
            }
            BitbucketAuth::Basic { username, password } => basic_auth(username, password)
                .map(Some)
                .map_err(|e| format!("{field}.basicAuth: {e}")),
            BitbucketAuth::Bearer(t) if t.is_empty() => {
                Err(format!("{field}.bearerToken: the token is empty"))
            }
            BitbucketAuth::Bearer(t) => auth_header(header::AUTHORIZATION, &format!("Bearer {t}"))
                .map(Some)
                .map_err(|e| format!("{field}.bearerToken: {e}")),
        }
    }
}

/// Which Bitbucket Server repository's open pull requests to list.
#[derive(Debug, Clone)]
pub struct ServerPullsQuery {
    /// REST root, e.g. `https://bitbucket.example.com/rest` (`/rest` is added when missing).
    pub api: String,
    /// Project key.
    pub project: String,
    /// Repository slug.
    pub repo: String,
    /// The credential.
    pub auth: BitbucketAuth,
    /// TLS settings (`insecure`, `caRef`).
    pub tls: ForgeTls,
}

/// Which Bitbucket Cloud repository's open pull requests to list.
#[derive(Debug, Clone)]
pub struct CloudPullsQuery {
    /// API base URL; empty for [`CLOUD_API`].
    pub api: String,
    /// Workspace.
    pub owner: String,
    /// Repository slug.
    pub repo: String,
    /// The credential.
    pub auth: BitbucketAuth,
}

/// A Bitbucket client (Server and Cloud) with a shared pull-request cache. Cheap to share in an
/// `Arc`.
#[derive(Debug)]
pub struct Bitbucket {
    http: ForgeHttp,
}

/// One page of `GET …/pull-requests` (Bitbucket Server's paged API).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerPage {
    values: Vec<ServerPull>,
    is_last_page: bool,
    #[serde(default)]
    next_page_start: Option<u64>,
}

/// One pull request as Bitbucket Server returns it (the fields Argo CD reads, and `draft`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerPull {
    id: u64,
    #[serde(default)]
    title: String,
    from_ref: ServerRef,
    to_ref: ServerRef,
    #[serde(default)]
    author: Option<ServerParticipant>,
    #[serde(default)]
    draft: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerRef {
    #[serde(default)]
    display_id: String,
    #[serde(default)]
    latest_commit: Option<String>,
}

#[derive(Deserialize)]
struct ServerParticipant {
    user: ServerUser,
}

#[derive(Deserialize)]
struct ServerUser {
    #[serde(default)]
    name: String,
}

impl From<ServerPull> for PullRequest {
    fn from(p: ServerPull) -> Self {
        PullRequest {
            number: p.id,
            title: p.title,
            branch: p.from_ref.display_id,
            target_branch: p.to_ref.display_id,
            head_sha: p.from_ref.latest_commit.unwrap_or_default(),
            // Bitbucket Server pull requests have no labels.
            labels: Vec::new(),
            author: p.author.map(|a| a.user.name).unwrap_or_default(),
            draft: p.draft,
        }
    }
}

/// One page of `GET /repositories/{owner}/{repo}/pullrequests` (Bitbucket Cloud's paged API).
#[derive(Deserialize)]
struct CloudPage {
    values: Vec<CloudPull>,
    #[serde(default)]
    next: Option<String>,
}

/// One pull request as Bitbucket Cloud returns it (the fields Argo CD reads, and `draft`).
#[derive(Deserialize)]
struct CloudPull {
    id: u64,
    #[serde(default)]
    title: String,
    source: CloudEnd,
    #[serde(default)]
    destination: Option<CloudEnd>,
    #[serde(default)]
    author: Option<CloudUser>,
    #[serde(default)]
    draft: bool,
}

#[derive(Deserialize)]
struct CloudEnd {
    #[serde(default)]
    branch: Option<CloudBranch>,
    #[serde(default)]
    commit: Option<CloudCommit>,
}

#[derive(Clone, Deserialize)]
struct CloudBranch {
    #[serde(default)]
    name: String,
}

#[derive(Clone, Deserialize)]
struct CloudCommit {
    #[serde(default)]
    hash: String,
}

#[derive(Deserialize)]
struct CloudUser {
    #[serde(default)]
    nickname: String,
}

impl CloudEnd {
    fn branch(&self) -> String {
        self.branch.as_ref().map(|b| b.name.clone()).unwrap_or_default()
    }
}

impl From<CloudPull> for PullRequest {
    fn from(p: CloudPull) -> Self {
        PullRequest {
            number: p.id,
            title: p.title,
            branch: p.source.branch(),
            target_branch: p.destination.as_ref().map(CloudEnd::branch).unwrap_or_default(),
            head_sha: p.source.commit.map(|c| c.hash).unwrap_or_default(),
            // Argo CD's Bitbucket Cloud client reads no labels.
            labels: Vec::new(),
            author: p.author.map(|a| a.nickname).unwrap_or_default(),
            draft: p.draft,
        }
    }
}

/// Checks a path component (project key, workspace, repository slug): one non-empty segment.
fn checked_name<'a>(forge: &str, what: &str, v: &'a str) -> Result<&'a str, ForgeError> {
    let v = v.trim();
    if v.is_empty() || v.contains('/') || v.chars().any(char::is_control) {
        return Err(ForgeError::Invalid(format!(
            "invalid {forge} pull request query: {what} {v:?} must be one path segment"
        )));
    }
    Ok(v)
}

/// Bitbucket Server's REST root: checked, with `/rest` added when missing.
fn server_api(api: &str) -> Result<String, String> {
    let api = checked_api("Bitbucket Server", api)?;
    Ok(if api.ends_with("/rest") {
        api
    } else {
        format!("{api}/rest")
    })
}

impl Bitbucket {
    /// A client whose answers are reused for `max_age` (0: every call asks Bitbucket,
    /// conditionally when it sent an ETag).
    pub fn new(max_age: Duration) -> Self {
        Bitbucket {
            http: ForgeHttp::new(max_age),
        }
    }

    /// Request counters so far.
    pub fn stats(&self) -> ForgeStats {
        self.http.stats()
    }

    /// Forget the cached listings of `owner/repo` (Cloud: workspace and slug; Server: project
    /// key and slug; any API or credential): the next call asks Bitbucket (still conditionally).
    pub fn expire(&self, owner: &str, repo: &str) {
        self.http.expire(&format!("{}/{}", owner.trim(), repo.trim()));
    }

    /// Forget the cached `scmProvider` listings of `owner` (a Bitbucket Server project key or
    /// a Bitbucket Cloud workspace: its repositories and their branches; any API or
    /// credential): the next scan asks Bitbucket again.
    pub fn expire_owner(&self, owner: &str) {
        self.http.expire(owner.trim());
    }

    /// The open pull requests of a Bitbucket Server repository, in Bitbucket's order.
    ///
    /// # Errors
    /// [`ForgeError`]: never an empty list in place of a failure.
    pub async fn server_pull_requests(
        &self,
        query: &ServerPullsQuery,
    ) -> Result<Arc<Vec<PullRequest>>, ForgeError> {
        const FORGE: &str = "Bitbucket Server";
        let invalid = |m: String| ForgeError::Invalid(format!("invalid {FORGE} pull request query: {m}"));
        let project = checked_name(FORGE, "project", &query.project)?;
        let repo = checked_name(FORGE, "repo", &query.repo)?;
        let api = server_api(&query.api).map_err(invalid)?;
        let auth = query.auth.header("bitbucketServer").map_err(invalid)?;
        let url = format!(
            "{api}/api/1.0/projects/{}/repos/{}/pull-requests?state=OPEN&limit={SERVER_PAGE_SIZE}",
            encode_component(project),
            encode_component(repo)
        );
        let listing = Listing {
            scope: Scope {
                forge: FORGE,
                api,
                what: format!("pull requests for {project}/{repo}"),
                subject: "repository",
            },
            url,
            auth,
            headers: Vec::new(),
            tls: &query.tls,
            expiry_key: format!("{project}/{repo}"),
        };
        let reader = |page_url: &str, _: &HeaderMap, body: &[u8]| {
            let page: ServerPage = serde_json::from_slice(body).map_err(|e| e.to_string())?;
            let next = match (page.is_last_page, page.next_page_start) {
                (true, _) => None,
                (false, Some(start)) => Some(with_query(page_url, "start", &start.to_string())),
                (false, None) => return Err("isLastPage is false but nextPageStart is missing".into()),
            };
            Ok((page.values.into_iter().map(PullRequest::from).collect(), next))
        };
        self.http.list(listing, &reader).await
    }

    /// The open pull requests of a Bitbucket Cloud repository, in Bitbucket's order.
    ///
    /// # Errors
    /// [`ForgeError`]: never an empty list in place of a failure.
    pub async fn cloud_pull_requests(
        &self,
        query: &CloudPullsQuery,
    ) -> Result<Arc<Vec<PullRequest>>, ForgeError> {
        const FORGE: &str = "Bitbucket Cloud";
        let invalid = |m: String| ForgeError::Invalid(format!("invalid {FORGE} pull request query: {m}"));
        let owner = checked_name(FORGE, "owner", &query.owner)?;
        let repo = checked_name(FORGE, "repo", &query.repo)?;
        let api = match query.api.trim() {
            "" => CLOUD_API,
            api => api,
        };
        let api = checked_api(FORGE, api).map_err(invalid)?;
        let auth = query.auth.header("bitbucket").map_err(invalid)?;
        let url = format!(
            "{api}/repositories/{}/{}/pullrequests?state=OPEN&pagelen={CLOUD_PAGE_SIZE}",
            encode_component(owner),
            encode_component(repo)
        );
        let tls = ForgeTls::default();
        let listing = Listing {
            scope: Scope {
                forge: FORGE,
                api,
                what: format!("pull requests for {owner}/{repo}"),
                subject: "repository",
            },
            url,
            auth,
            headers: Vec::new(),
            tls: &tls,
            expiry_key: format!("{owner}/{repo}"),
        };
        let reader = |_: &str, _: &HeaderMap, body: &[u8]| {
            let page: CloudPage = serde_json::from_slice(body).map_err(|e| e.to_string())?;
            let next = page.next.filter(|n| !n.is_empty());
            Ok((page.values.into_iter().map(PullRequest::from).collect(), next))
        };
        self.http.list(listing, &reader).await
    }
}

/// A Bitbucket Server project as the `scmProvider` generator reads it (Argo CD's
/// `BitbucketServerProvider`: `GetRepositoriesWithOptions`, `GetDefaultBranch`, `GetBranches`,
/// `GetContent_0`):
///
/// - `GET {api}/api/1.0/projects/{project}/repos?limit=100`, then `&start=N` (`isLastPage`,
///   `nextPageStart`), every page; `repository` is the repository's name, `repository_id` its
///   id, `url` its `links.clone` entry named `ssh` (or `http` for `cloneProtocol: https`),
///   labels empty (Bitbucket Server has none).
/// - Each repository's default branch: `GET …/repos/{slug}/branches/default`; a `404` (an empty
///   repository) leaves the repository out, as Argo CD does. With `allBranches`:
///   `GET …/repos/{slug}/branches?limit=100`, paged like repositories.
/// - Path checks: `GET …/repos/{slug}/browse/{path}?at={commit}&type=true`; `404` is absent.
///
/// Bitbucket Server sends no ETags here: every poll lists every page, while path checks are
/// kept by commit ([`super::scm::PathCache`]), so an unchanged poll asks no path.
pub struct BitbucketServerScm {
    client: Arc<Bitbucket>,
    target: ScmTarget,
    project: String,
    opts: ScmRepoOptions,
    /// Per listed repository name: its slug and default branch (read with the listing, so the
    /// default-branch-only case asks nothing more).
    listed: Mutex<HashMap<String, (String, ScmBranch)>>,
}

/// One page of `GET …/repos` or `GET …/branches` (Bitbucket Server's paged API).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerValues<T> {
    values: Vec<T>,
    is_last_page: bool,
    #[serde(default)]
    next_page_start: Option<u64>,
}

/// A repository of `GET /projects/{project}/repos`.
#[derive(Clone, Deserialize)]
struct ServerRepo {
    id: u64,
    slug: String,
    name: String,
    #[serde(default)]
    links: ServerLinks,
}

#[derive(Clone, Default, Deserialize)]
struct ServerLinks {
    #[serde(default)]
    clone: Vec<ServerCloneLink>,
}

#[derive(Clone, Deserialize)]
struct ServerCloneLink {
    href: String,
    name: String,
}

/// A branch of `GET …/branches[/default]`.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerBranch {
    display_id: String,
    #[serde(default)]
    latest_commit: String,
}

impl From<&ServerBranch> for ScmBranch {
    fn from(b: &ServerBranch) -> Self {
        ScmBranch {
            name: b.display_id.clone(),
            sha: b.latest_commit.clone(),
        }
    }
}

/// A Bitbucket Server paged listing's next page: `start` from `nextPageStart`, on the page's
/// own URL.
fn next_server_page(page_url: &str, last: bool, next: Option<u64>) -> Result<Option<String>, String> {
    match (last, next) {
        (true, _) => Ok(None),
        (false, Some(start)) => Ok(Some(with_query(page_url, "start", &start.to_string()))),
        (false, None) => Err("isLastPage is false but nextPageStart is missing".into()),
    }
}

impl Bitbucket {
    /// The `scmProvider` view of a Bitbucket Server project.
    ///
    /// # Errors
    /// An invalid project key, API URL or credential.
    pub fn server_scm(
        self: &Arc<Self>,
        api: &str,
        project: &str,
        auth: &BitbucketAuth,
        tls: ForgeTls,
        opts: ScmRepoOptions,
    ) -> Result<BitbucketServerScm, ForgeError> {
        let invalid = |m: String| ForgeError::Invalid(format!("invalid scmProvider.bitbucketServer: {m}"));
        let project =
            checked_segment("project", project, "a Bitbucket Server project key").map_err(invalid)?;
        let api = server_api(api).map_err(invalid)?;
        let auth = auth.header("bitbucketServer").map_err(invalid)?;
        Ok(BitbucketServerScm {
            client: self.clone(),
            target: ScmTarget {
                forge: "Bitbucket Server",
                api,
                auth,
                headers: Vec::new(),
                tls,
                expiry_key: project.to_string(),
            },
            project: project.to_string(),
            opts,
            listed: Mutex::default(),
        })
    }
}

impl BitbucketServerScm {
    fn repo_url(&self, slug: &str) -> String {
        format!(
            "{}/api/1.0/projects/{}/repos/{}",
            self.target.api,
            encode_component(&self.project),
            encode_component(slug)
        )
    }

    /// The slug of a listed repository (its name when it was not listed by this provider).
    fn slug(&self, name: &str) -> String {
        self.listed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .map_or_else(|| name.to_string(), |(slug, _)| slug.clone())
    }

    /// The REST root and the credential's fingerprint (the path cache's key; never the
    /// credential).
    pub fn path_key(&self) -> (String, u64) {
        self.target.path_key()
    }
}

impl ScmProvider for BitbucketServerScm {
    fn repos(&self) -> BoxFuture<'_, Result<Vec<ScmRepo>, SourceError>> {
        Box::pin(async move {
            let url = format!(
                "{}/api/1.0/projects/{}/repos?limit={SERVER_PAGE_SIZE}",
                self.target.api,
                encode_component(&self.project)
            );
            let reader = |page_url: &str, _: &HeaderMap, body: &[u8]| {
                let page: ServerValues<ServerRepo> =
                    serde_json::from_slice(body).map_err(|e| e.to_string())?;
                let next = next_server_page(page_url, page.is_last_page, page.next_page_start)?;
                Ok((page.values, next))
            };
            let what = format!("repositories for {}", self.project);
            let repos = self
                .client
                .http
                .list(self.target.listing(what, "project", url), &reader)
                .await?;
            let link = match self.opts.protocol {
                CloneProtocol::Ssh => "ssh",
                CloneProtocol::Https => "http",
            };
            let mut out = Vec::with_capacity(repos.len());
            for r in repos.iter() {
                let reader = |_: &str, _: &HeaderMap, body: &[u8]| {
                    let b: ServerBranch = serde_json::from_slice(body).map_err(|e| e.to_string())?;
                    Ok((vec![b], None))
                };
                let what = format!("default branch for {}/{}", self.project, r.slug);
                let url = format!("{}/branches/default", self.repo_url(&r.slug));
                // Argo CD: a repository without a default branch (404) is left out.
                let default = or_empty(
                    self.client
                        .http
                        .list(self.target.listing(what, "repository", url), &reader)
                        .await,
                )?;
                let Some(default) = default.first() else { continue };
                self.listed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(r.name.clone(), (r.slug.clone(), default.into()));
                out.push(ScmRepo {
                    organization: self.project.clone(),
                    repository: r.name.clone(),
                    repository_id: serde_json::Value::from(r.id),
                    url: r
                        .links
                        .clone
                        .iter()
                        .find(|l| l.name == link)
                        .map(|l| l.href.clone())
                        .unwrap_or_default(),
                    default_branch: default.display_id.clone(),
                    labels: Vec::new(),
                });
            }
            Ok(out)
        })
    }

    fn branches<'a>(&'a self, repo: &'a ScmRepo) -> BoxFuture<'a, Result<Vec<ScmBranch>, SourceError>> {
        Box::pin(async move {
            if !self.opts.all_branches {
                let listed = self
                    .listed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&repo.repository)
                    .map(|(_, b)| b.clone());
                return Ok(listed.into_iter().collect());
            }
            let url = format!(
                "{}/branches?limit={SERVER_PAGE_SIZE}",
                self.repo_url(&self.slug(&repo.repository))
            );
            let reader = |page_url: &str, _: &HeaderMap, body: &[u8]| {
                let page: ServerValues<ServerBranch> =
                    serde_json::from_slice(body).map_err(|e| e.to_string())?;
                let next = next_server_page(page_url, page.is_last_page, page.next_page_start)?;
                Ok((page.values, next))
            };
            let what = format!("branches for {}/{}", self.project, repo.repository);
            let bs = self
                .client
                .http
                .list(self.target.listing(what, "repository", url), &reader)
                .await?;
            Ok(bs.iter().map(ScmBranch::from).collect())
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
                "{}/browse/{}?at={}&type=true",
                self.repo_url(&self.slug(&repo.repository)),
                encoded_path(path),
                encode_component(commit_or_branch(branch))
            );
            let name = format!("{}/{}", self.project, repo.repository);
            Ok(self.target.exists(&self.client.http, &name, path, &url).await?)
        })
    }
}

/// Repositories and branches asked per Bitbucket Cloud page (its maximum for these listings).
const CLOUD_SCM_PAGE_SIZE: u32 = 100;

/// A Bitbucket Cloud workspace as the `scmProvider` generator reads it (Argo CD's
/// `BitBucketCloudProvider`, on `go-bitbucket`):
///
/// - `GET {api}/repositories/{owner}?role=member&pagelen=100`, then the body's `next` URL (refused
///   on another host), every page; `organization` is the workspace, `repository` the slug,
///   `repository_id` the `uuid`, `url` the `links.clone` entry named as `cloneProtocol` (`ssh`
///   by default, or `https`; Argo CD's error when there is none), labels empty.
/// - Branches: the repository's `mainbranch`, read as `GET …/{slug}/refs/branches/{name}` (a
///   `404`, or no `mainbranch`: an empty repository, no branch); with `allBranches`,
///   `GET …/{slug}/refs/branches?pagelen=100`, paged like repositories. The SHA is the branch's
///   `target.hash`.
/// - Path checks: `GET …/{slug}/src/{commit}/{path}?format=meta`; `200` exists, `404` absent,
///   anything else an error (Argo CD's `GetContents`).
///
/// Cloud answers carry ETags: an unchanged poll is one `304` per page, and path checks are kept
/// by commit ([`super::scm::PathCache`]).
pub struct BitbucketCloudScm {
    client: Arc<Bitbucket>,
    target: ScmTarget,
    owner: String,
    opts: ScmRepoOptions,
}

/// One page of a Bitbucket Cloud listing.
#[derive(Deserialize)]
struct CloudValues<T> {
    values: Vec<T>,
    #[serde(default)]
    next: Option<String>,
}

/// A repository of `GET /repositories/{owner}`.
#[derive(Clone, Deserialize)]
struct CloudRepo {
    slug: String,
    #[serde(default)]
    uuid: String,
    #[serde(default)]
    mainbranch: Option<CloudBranch>,
    #[serde(default)]
    links: ServerLinks,
}

/// A branch of `GET …/refs/branches[/{name}]`.
#[derive(Clone, Deserialize)]
struct CloudRef {
    name: String,
    target: CloudCommit,
}

/// A Bitbucket Cloud page's items and its `next` URL ([`super::forge`] refuses one on another
/// host).
fn cloud_page<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<(Vec<T>, Option<String>), String> {
    let page: CloudValues<T> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok((page.values, page.next.filter(|n| !n.is_empty())))
}

impl Bitbucket {
    /// The `scmProvider` view of a Bitbucket Cloud workspace (`api`: empty for [`CLOUD_API`]).
    ///
    /// # Errors
    /// An invalid workspace, API URL or credential.
    pub fn cloud_scm(
        self: &Arc<Self>,
        api: &str,
        owner: &str,
        auth: &BitbucketAuth,
        opts: ScmRepoOptions,
    ) -> Result<BitbucketCloudScm, ForgeError> {
        let invalid = |m: String| ForgeError::Invalid(format!("invalid scmProvider.bitbucket: {m}"));
        let owner = checked_segment("owner", owner, "a Bitbucket Cloud workspace").map_err(invalid)?;
        let api = match api.trim() {
            "" => CLOUD_API,
            api => api,
        };
        let api = checked_api("Bitbucket Cloud", api).map_err(invalid)?;
        let auth = auth.header("bitbucket").map_err(invalid)?;
        Ok(BitbucketCloudScm {
            client: self.clone(),
            target: ScmTarget {
                forge: "Bitbucket Cloud",
                api,
                auth,
                headers: Vec::new(),
                tls: ForgeTls::default(),
                expiry_key: owner.to_string(),
            },
            owner: owner.to_string(),
            opts,
        })
    }
}

impl BitbucketCloudScm {
    fn repo_url(&self, slug: &str) -> String {
        format!(
            "{}/repositories/{}/{}",
            self.target.api,
            encode_component(&self.owner),
            encode_component(slug)
        )
    }

    /// The API and the credential's fingerprint (the path cache's key; never the credential).
    pub fn path_key(&self) -> (String, u64) {
        self.target.path_key()
    }
}

impl ScmProvider for BitbucketCloudScm {
    fn repos(&self) -> BoxFuture<'_, Result<Vec<ScmRepo>, SourceError>> {
        Box::pin(async move {
            let url = format!(
                "{}/repositories/{}?role=member&pagelen={CLOUD_SCM_PAGE_SIZE}",
                self.target.api,
                encode_component(&self.owner)
            );
            let reader = |_: &str, _: &HeaderMap, body: &[u8]| cloud_page::<CloudRepo>(body);
            let what = format!("repositories for {}", self.owner);
            let repos = self
                .client
                .http
                .list(self.target.listing(what, "workspace", url), &reader)
                .await?;
            let link = match self.opts.protocol {
                CloneProtocol::Ssh => "ssh",
                CloneProtocol::Https => "https",
            };
            repos
                .iter()
                .map(|r| {
                    let url = r.links.clone.iter().find(|l| l.name == link).ok_or_else(|| {
                        SourceError::Scm(format!(
                            "error fetching clone url for repo {}: unknown clone protocol for Bitbucket cloud {link}",
                            r.slug
                        ))
                    })?;
                    Ok(ScmRepo {
                        organization: self.owner.clone(),
                        repository: r.slug.clone(),
                        repository_id: serde_json::Value::String(r.uuid.clone()),
                        url: url.href.clone(),
                        default_branch: r.mainbranch.as_ref().map(|b| b.name.clone()).unwrap_or_default(),
                        labels: Vec::new(),
                    })
                })
                .collect()
        })
    }

    fn branches<'a>(&'a self, repo: &'a ScmRepo) -> BoxFuture<'a, Result<Vec<ScmBranch>, SourceError>> {
        Box::pin(async move {
            let base = format!("{}/refs/branches", self.repo_url(&repo.repository));
            let reader = |_: &str, _: &HeaderMap, body: &[u8]| cloud_page::<CloudRef>(body);
            let single = |_: &str, _: &HeaderMap, body: &[u8]| {
                let b: CloudRef = serde_json::from_slice(body).map_err(|e| e.to_string())?;
                Ok((vec![b], None))
            };
            let name = format!("{}/{}", self.owner, repo.repository);
            let branches = if self.opts.all_branches {
                let url = format!("{base}?pagelen={CLOUD_SCM_PAGE_SIZE}");
                let what = format!("branches for {name}");
                self.client
                    .http
                    .list(self.target.listing(what, "repository", url), &reader)
                    .await?
                    .as_ref()
                    .clone()
            } else if repo.default_branch.is_empty() {
                // No main branch: an empty repository.
                Vec::new()
            } else {
                let url = format!("{base}/{}", encode_component(&repo.default_branch));
                let what = format!("main branch for {name}");
                // A main branch that does not exist (404): an empty repository, no branch.
                or_empty(
                    self.client
                        .http
                        .list(self.target.listing(what, "branch", url), &single)
                        .await,
                )?
            };
            Ok(branches
                .into_iter()
                .map(|b| ScmBranch {
                    name: b.name,
                    sha: b.target.hash,
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
            let url = format!(
                "{}/src/{}/{}?format=meta",
                self.repo_url(&repo.repository),
                encode_component(commit_or_branch(branch)),
                encoded_path(path)
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
    fn server_pull_requests_map_to_argo_cds_fields() {
        // Argo CD's recorded payload (bitbucket_server_test.go), with `draft` (Data Center 8.18).
        let p: ServerPull = serde_json::from_value(serde_json::json!({
            "id": 101, "title": "feat(ABC) : 123", "draft": true,
            "toRef": {"latestCommit": "5b766e3564a3453808f3cd3dd3f2e5fad8ef0e7a", "displayId": "master", "id": "refs/heads/master"},
            "fromRef": {"id": "refs/heads/feature-ABC-123", "displayId": "feature-ABC-123",
                        "latestCommit": "cb3cf2e4d1517c83e720d2585b9402dbef71f992"},
            "author": {"user": {"name": "testName"}}
        }))
        .unwrap();
        assert_eq!(
            PullRequest::from(p),
            PullRequest {
                number: 101,
                title: "feat(ABC) : 123".into(),
                branch: "feature-ABC-123".into(),
                target_branch: "master".into(),
                head_sha: "cb3cf2e4d1517c83e720d2585b9402dbef71f992".into(),
                labels: vec![],
                author: "testName".into(),
                draft: true,
            }
        );
    }

    #[test]
    fn cloud_pull_requests_map_to_argo_cds_fields_with_the_short_hash() {
        // Argo CD's recorded payload (bitbucket_cloud_test.go).
        let p: CloudPull = serde_json::from_value(serde_json::json!({
            "id": 101, "title": "feat(foo-bar)",
            "source": {"branch": {"name": "feature/foo-bar"}, "commit": {"type": "commit", "hash": "1a8dd249c04a"}},
            "destination": {"branch": {"name": "main"}, "commit": {"type": "commit", "hash": "9b7d3f1c2e4a"}},
            "author": {"nickname": "testName"}
        }))
        .unwrap();
        let pr = PullRequest::from(p);
        assert_eq!((pr.number, pr.branch.as_str()), (101, "feature/foo-bar"));
        assert_eq!(
            (pr.target_branch.as_str(), pr.head_sha.as_str()),
            ("main", "1a8dd249c04a")
        );
        assert_eq!((pr.author.as_str(), pr.draft), ("testName", false));
        // Without a destination (Argo CD's first recorded payload) the target branch is empty.
        let p: CloudPull = serde_json::from_value(serde_json::json!({
            "id": 1, "title": "t", "source": {"branch": {"name": "b"}, "commit": null}
        }))
        .unwrap();
        let pr = PullRequest::from(p);
        assert_eq!((pr.target_branch.as_str(), pr.head_sha.as_str()), ("", ""));
    }

    #[test]
    fn the_server_api_gets_rest_appended_as_argo_cd_does() {
        assert_eq!(
            server_api("https://bb.example").unwrap(),
            "https://bb.example/rest"
        );
        assert_eq!(
            server_api("https://bb.example/rest/").unwrap(),
            "https://bb.example/rest"
        );
        assert_eq!(
            server_api("https://bb.example/bitbucket/rest").unwrap(),
            "https://bb.example/bitbucket/rest"
        );
        assert!(server_api("bb.example").is_err());
    }

    #[test]
    fn credentials_are_redacted_and_empty_ones_refused() {
        let basic = BitbucketAuth::Basic {
            username: "u".into(),
            password: "pw-secret".into(),
        };
        let bearer = BitbucketAuth::Bearer("tok-secret".into());
        assert!(!format!("{basic:?}{bearer:?}").contains("secret"));
        let (_, v) = basic.header("bitbucket").unwrap().unwrap();
        assert!(v.is_sensitive());
        let (_, v) = bearer.header("bitbucket").unwrap().unwrap();
        assert_eq!(v.to_str().unwrap(), "Bearer tok-secret");
        assert!(v.is_sensitive());
        assert!(BitbucketAuth::Anonymous.header("bitbucket").unwrap().is_none());
        let err = BitbucketAuth::Bearer(String::new())
            .header("bitbucket")
            .unwrap_err();
        assert_eq!(err, "bitbucket.bearerToken: the token is empty");
    }

    #[test]
    fn cloud_repositories_and_branches_read_argo_cds_fields() {
        // Shaped as Bitbucket Cloud documents `GET /repositories/{workspace}`.
        let body = serde_json::json!({
            "pagelen": 10, "page": 1, "size": 2,
            "next": "https://api.bitbucket.org/2.0/repositories/ws?page=2",
            "values": [
                {"type": "repository", "slug": "shop", "name": "Shop", "uuid": "{c1b5e1a0}",
                 "mainbranch": {"type": "branch", "name": "main"},
                 "links": {"clone": [{"name": "https", "href": "https://bitbucket.org/ws/shop.git"},
                                     {"name": "ssh", "href": "git@bitbucket.org:ws/shop.git"}]}},
                {"type": "repository", "slug": "empty", "name": "Empty", "uuid": "{d2}", "mainbranch": null,
                 "links": {"clone": []}}
            ]
        });
        let (repos, next) = cloud_page::<CloudRepo>(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            next.as_deref(),
            Some("https://api.bitbucket.org/2.0/repositories/ws?page=2")
        );
        assert_eq!(
            (repos[0].slug.as_str(), repos[0].uuid.as_str()),
            ("shop", "{c1b5e1a0}")
        );
        assert_eq!(repos[0].mainbranch.as_ref().unwrap().name, "main");
        assert_eq!(repos[0].links.clone[1].href, "git@bitbucket.org:ws/shop.git");
        assert!(repos[1].mainbranch.is_none());
        let branch = serde_json::json!({"values": [{"name": "main", "type": "branch",
            "target": {"type": "commit", "hash": "1a8dd249c04a1a8dd249c04a1a8dd249c04a1a8d"}}]});
        let (branches, next) = cloud_page::<CloudRef>(branch.to_string().as_bytes()).unwrap();
        assert_eq!(next, None);
        assert_eq!(
            branches[0].target.hash,
            "1a8dd249c04a1a8dd249c04a1a8dd249c04a1a8d"
        );
        assert!(cloud_page::<CloudRepo>(br#"{"values": {}}"#).is_err());
    }
}
