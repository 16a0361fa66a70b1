//! What the `scmProvider` generator reads from a forge, whatever the forge: an organization's
//! repositories, a repository's branches with their commits, and whether a path exists at a
//! commit.
//!
//! Stage: sources (pure: the types, the path-existence cache and the recorded answers; the
//! forges' HTTP is in [`super::github`], [`super::gitlab`], [`super::gitea`],
//! [`super::bitbucket`] (Server and Cloud) and [`super::azure_devops`]).
//!
//! A generation run asks [`super::Sources::scm_provider`] once for a [`ScmProvider`] (credentials
//! are read then, once), then calls its three methods as Argo CD's `SCMProviderService`
//! (`ListRepos`, `GetBranches`, `RepoHasPath`); the filter logic stays in the generator.
//!
//! Adding a forge: a variant of [`ScmForge`] (its fields), a client method per
//! [`ScmProvider`] method on its forge file's client (listings through
//! [`super::forge::ForgeHttp::list`], path checks through [`super::forge::ForgeHttp::get`]
//! behind a [`PathCache`]), and one arm in `inputs.rs` that builds its provider.
//!
//! Path checks are asked at a branch's commit SHA, not its name: the answer of (forge API,
//! credential, repository, SHA, path) never changes, so [`PathCache`] keeps it (bounded, oldest
//! first out) and an unchanged poll costs no request for path filters.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use serde::Deserialize;
use serde_json::Value;

use super::{BoxFuture, ForgeError, SourceError};

/// Which forge, and what of it to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScmForge {
    /// A GitHub organization's repositories.
    GitHub {
        /// The organization.
        organization: String,
        /// `appSecretName`: (namespace, Secret name) of GitHub App repo-creds; Argo CD's
        /// namespace.
        app_secret: Option<(String, String)>,
        /// Leave out archived repositories.
        exclude_archived: bool,
    },
    /// A GitLab group's projects.
    GitLab {
        /// Group path or id.
        group: String,
        /// Also subgroups' projects.
        include_subgroups: bool,
        /// Also projects shared with the group.
        include_shared_projects: bool,
        /// Also archived projects.
        include_archived: bool,
        /// Only projects with this topic (empty: any).
        topic: String,
        /// `caRef`: (namespace, ConfigMap, key) of a PEM bundle; the ApplicationSet's namespace.
        ca_ref: Option<(String, String, String)>,
    },
    /// A Gitea organization's (or user's) repositories.
    Gitea {
        /// The organization or user.
        owner: String,
        /// Leave out archived repositories.
        exclude_archived: bool,
    },
    /// A Bitbucket Server (Data Center) project's repositories.
    BitbucketServer {
        /// Project key.
        project: String,
        /// The credential's Secrets (`bearerToken` wins over `basicAuth`).
        auth: super::BitbucketAuthRef,
        /// `caRef`: (namespace, ConfigMap, key) of a PEM bundle; the ApplicationSet's namespace.
        ca_ref: Option<(String, String, String)>,
    },
    /// An Azure DevOps team project's repositories (the personal access token is the query's
    /// `token_ref`).
    AzureDevOps {
        /// Organization (Azure DevOps Server: collection).
        organization: String,
        /// Team project.
        team_project: String,
    },
    /// A Bitbucket Cloud workspace's repositories.
    BitbucketCloud {
        /// Workspace.
        owner: String,
        /// The credential's Secrets (Argo CD's `user` and `appPasswordRef`: basic auth).
        auth: super::BitbucketAuthRef,
    },
}

impl ScmForge {
    /// The forge's name in messages.
    pub fn name(&self) -> &'static str {
        match self {
            ScmForge::GitHub { .. } => "GitHub",
            ScmForge::GitLab { .. } => "GitLab",
            ScmForge::Gitea { .. } => "Gitea",
            ScmForge::BitbucketServer { .. } => "Bitbucket Server",
            ScmForge::AzureDevOps { .. } => "Azure DevOps",
            ScmForge::BitbucketCloud { .. } => "Bitbucket Cloud",
        }
    }

    /// The organization, group, owner, project or workspace scanned (the key of recorded
    /// answers and of listing expiry); Azure DevOps: `organization/teamProject`.
    pub fn owner(&self) -> String {
        match self {
            ScmForge::GitHub { organization, .. } => organization.clone(),
            ScmForge::GitLab { group, .. } => group.clone(),
            ScmForge::Gitea { owner, .. } | ScmForge::BitbucketCloud { owner, .. } => owner.clone(),
            ScmForge::BitbucketServer { project, .. } => project.clone(),
            ScmForge::AzureDevOps {
                organization,
                team_project,
            } => format!("{organization}/{team_project}"),
        }
    }
}

/// What one `scmProvider` generator scans, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScmQuery {
    /// The forge and its scope.
    pub forge: ScmForge,
    /// API base URL (empty: the forge's public instance, where it has one).
    pub api: String,
    /// `tokenRef`: (namespace, Secret name, key); the ApplicationSet's namespace.
    pub token_ref: Option<(String, String, String)>,
    /// The `tokenRef` Secret must be labelled `argocd.argoproj.io/secret-type: scm-creds`.
    pub token_ref_strict: bool,
    /// `insecure`: skip TLS verification.
    pub insecure: bool,
    /// Every branch, not only the default one.
    pub all_branches: bool,
    /// `cloneProtocol`: `""`/`ssh` or `https`.
    pub clone_protocol: String,
}

/// Which clone URL a repository's `url` parameter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneProtocol {
    /// `ssh` (Argo CD's default).
    Ssh,
    /// `https`.
    Https,
}

impl CloneProtocol {
    /// `cloneProtocol` as Argo CD reads it (`""` is ssh).
    ///
    /// # Errors
    /// Argo CD's `unknown clone protocol for <Forge> <value>`.
    pub fn parse(forge: &str, v: &str) -> Result<Self, String> {
        match v {
            "" | "ssh" => Ok(CloneProtocol::Ssh),
            "https" => Ok(CloneProtocol::Https),
            other => Err(format!("unknown clone protocol for {forge} {other}")),
        }
    }
}

/// How a forge client lists: the clone URL asked, every branch or the default one, archived
/// repositories or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScmRepoOptions {
    /// Which clone URL is `url`.
    pub protocol: CloneProtocol,
    /// Every branch, not only the default one.
    pub all_branches: bool,
    /// Leave out archived repositories (GitHub, Gitea; GitLab asks the server).
    pub exclude_archived: bool,
}

/// A listing whose `404` means "nothing" (a default branch that does not exist: an empty
/// repository, as Argo CD reads it); any other error stays an error.
pub(super) fn or_empty<T: Clone>(r: Result<Arc<Vec<T>>, ForgeError>) -> Result<Vec<T>, ForgeError> {
    match r {
        Ok(v) => Ok(v.as_ref().clone()),
        Err(ForgeError::NotFound(_)) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The ref a path check is asked at: the branch's commit (immutable, so its answer is kept),
/// else its name.
pub(super) fn commit_or_branch(branch: &ScmBranch) -> &str {
    if branch.sha.is_empty() {
        &branch.name
    } else {
        &branch.sha
    }
}

/// Where a forge's `scmProvider` client sends its requests: the API, the credential's header, the
/// TLS settings, and what its listings expire by.
pub(super) struct ScmTarget {
    /// The forge's name in messages.
    pub(super) forge: &'static str,
    /// The checked API base URL.
    pub(super) api: String,
    /// The credential's header, sent to the API's host only.
    pub(super) auth: Option<(http::HeaderName, http::HeaderValue)>,
    /// Other headers every request carries (Azure DevOps's `X-TFS-FedAuthRedirect: Suppress`).
    pub(super) headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// TLS settings.
    pub(super) tls: super::ForgeTls,
    /// What [`super::forge::ForgeHttp::expire`] names the listings by.
    pub(super) expiry_key: String,
}

impl ScmTarget {
    /// The scope of an error.
    pub(super) fn scope(&self, what: String, subject: &'static str) -> super::forge::Scope {
        super::forge::Scope {
            forge: self.forge,
            api: self.api.clone(),
            what,
            subject,
        }
    }

    /// A listing of `url`.
    pub(super) fn listing(
        &self,
        what: String,
        subject: &'static str,
        url: String,
    ) -> super::forge::Listing<'_> {
        super::forge::Listing {
            scope: self.scope(what, subject),
            url,
            auth: self.auth.clone(),
            headers: self.headers.clone(),
            tls: &self.tls,
            expiry_key: self.expiry_key.clone(),
        }
    }

    /// The credential's fingerprint (path-cache key), never the credential.
    pub(super) fn credential(&self) -> u64 {
        super::forge::fingerprint((self.auth.as_ref().map(|(_, v)| v.as_bytes()), &self.tls))
    }

    /// The API and the credential's fingerprint: the path cache's key.
    pub(super) fn path_key(&self) -> (String, u64) {
        (self.api.clone(), self.credential())
    }

    /// Whether `url` (a path check of `repo`) answers `200` (`404`: absent; anything else an
    /// error).
    pub(super) async fn exists(
        &self,
        http: &super::ForgeHttp,
        repo: &str,
        path: &str,
        url: &str,
    ) -> Result<bool, ForgeError> {
        let scope = self.scope(format!("contents of {repo} ({path})"), "path");
        Ok(http
            .get_with(&scope, url, self.auth.as_ref(), &self.headers, &self.tls)
            .await?
            .is_some())
    }
}

/// `path`'s segments, each percent-encoded, joined by `/`.
pub(super) fn encoded_path(path: &str) -> String {
    path.split('/')
        .map(super::forge::encode_component)
        .collect::<Vec<_>>()
        .join("/")
}

/// A live [`ScmProvider`] whose path checks go through a shared [`PathCache`]: the first check
/// of (API, credential, repository, commit, path) asks the forge, every later one is free.
pub(super) struct CachedPaths<P> {
    pub(super) inner: P,
    pub(super) cache: Arc<PathCache>,
    pub(super) api: String,
    pub(super) credential: u64,
}

impl<P: ScmProvider> ScmProvider for CachedPaths<P> {
    fn repos(&self) -> BoxFuture<'_, Result<Vec<ScmRepo>, SourceError>> {
        self.inner.repos()
    }

    fn branches<'a>(&'a self, repo: &'a ScmRepo) -> BoxFuture<'a, Result<Vec<ScmBranch>, SourceError>> {
        self.inner.branches(repo)
    }

    fn has_path<'a>(
        &'a self,
        repo: &'a ScmRepo,
        branch: &'a ScmBranch,
        path: &'a str,
    ) -> BoxFuture<'a, Result<bool, SourceError>> {
        Box::pin(async move {
            let name = format!("{}/{}", repo.organization, repo.repository);
            if branch.sha.is_empty() {
                return self.inner.has_path(repo, branch, path).await;
            }
            if let Some(hit) = self
                .cache
                .get(&self.api, self.credential, &name, &branch.sha, path)
            {
                return Ok(hit);
            }
            // Single flight: sets asking the same path at the same commit share one request.
            let key = PathCache::key(&self.api, self.credential, &name, &branch.sha, path);
            let cell = self.cache.in_flight(&key);
            let asked = cell
                .get_or_try_init(|| self.inner.has_path(repo, branch, path))
                .await
                .copied();
            if let Ok(exists) = asked {
                self.cache
                    .put(&self.api, self.credential, &name, &branch.sha, path, exists);
            }
            self.cache.landed(&key);
            asked
        })
    }
}

/// One repository, as the forge lists it (before branches are read).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ScmRepo {
    /// Organization, group path or owner (`organization`).
    pub organization: String,
    /// Repository name or path (`repository`).
    pub repository: String,
    /// The forge's id of the repository (`repository_id`; a number, but a UUID string on
    /// Bitbucket Cloud and Azure DevOps).
    pub repository_id: Value,
    /// Clone URL of the asked protocol (`url`).
    pub url: String,
    /// Default branch (empty: an empty repository).
    pub default_branch: String,
    /// Topics (GitHub, GitLab) or labels (Gitea) (`labels`).
    pub labels: Vec<String>,
}

/// One branch and its commit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ScmBranch {
    /// Branch name.
    pub name: String,
    /// Head commit SHA.
    pub sha: String,
}

/// A forge's answers for one generator run (Argo CD's `SCMProviderService`). Errors are never an
/// empty answer.
pub trait ScmProvider: Send + Sync {
    /// The repositories of the scanned organization, group or owner, in the forge's order.
    fn repos(&self) -> BoxFuture<'_, Result<Vec<ScmRepo>, SourceError>>;
    /// A repository's branches: its default branch only (none when the repository is empty), or
    /// every branch with `allBranches`.
    fn branches<'a>(&'a self, repo: &'a ScmRepo) -> BoxFuture<'a, Result<Vec<ScmBranch>, SourceError>>;
    /// Whether `path` (a file or a directory, no trailing `/`) exists in `repo` at `branch`'s
    /// commit.
    fn has_path<'a>(
        &'a self,
        repo: &'a ScmRepo,
        branch: &'a ScmBranch,
        path: &'a str,
    ) -> BoxFuture<'a, Result<bool, SourceError>>;
}

impl<T: ScmProvider + ?Sized> ScmProvider for Box<T> {
    fn repos(&self) -> BoxFuture<'_, Result<Vec<ScmRepo>, SourceError>> {
        (**self).repos()
    }

    fn branches<'a>(&'a self, repo: &'a ScmRepo) -> BoxFuture<'a, Result<Vec<ScmBranch>, SourceError>> {
        (**self).branches(repo)
    }

    fn has_path<'a>(
        &'a self,
        repo: &'a ScmRepo,
        branch: &'a ScmBranch,
        path: &'a str,
    ) -> BoxFuture<'a, Result<bool, SourceError>> {
        (**self).has_path(repo, branch, path)
    }
}

/// (forge API, credential fingerprint, repository, commit SHA, path).
type PathKey = (String, u64, String, String, String);

/// Path-existence answers by (forge API, credential, repository, commit SHA, path). A commit is
/// immutable, so an answer never goes stale; the cache is bounded (the oldest answers leave
/// first). The credential is part of the key so a set never learns an answer its own credential
/// could not get.
pub struct PathCache {
    cap: usize,
    inner: Mutex<(HashMap<PathKey, bool>, VecDeque<PathKey>)>,
    in_flight: Mutex<HashMap<PathKey, Arc<tokio::sync::OnceCell<bool>>>>,
}

impl std::fmt::Debug for PathCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PathCache").field("cap", &self.cap).finish()
    }
}

impl Default for PathCache {
    fn default() -> Self {
        PathCache::new(PathCache::DEFAULT_CAP)
    }
}

impl PathCache {
    /// Answers kept by default (a few MB at most).
    pub const DEFAULT_CAP: usize = 100_000;

    /// A cache of at most `cap` answers.
    pub fn new(cap: usize) -> Self {
        PathCache {
            cap: cap.max(1),
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
            in_flight: Mutex::default(),
        }
    }

    /// The one check of `key` in flight (made when none is).
    fn in_flight(&self, key: &PathKey) -> Arc<tokio::sync::OnceCell<bool>> {
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.clone())
            .or_default()
            .clone()
    }

    /// The check of `key` has landed (its answer kept, or failed: the next caller asks again).
    fn landed(&self, key: &PathKey) {
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    fn key(api: &str, credential: u64, repo: &str, sha: &str, path: &str) -> PathKey {
        (
            api.to_ascii_lowercase(),
            credential,
            repo.to_string(),
            sha.to_ascii_lowercase(),
            path.to_string(),
        )
    }

    /// A kept answer.
    pub fn get(&self, api: &str, credential: u64, repo: &str, sha: &str, path: &str) -> Option<bool> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.0.get(&Self::key(api, credential, repo, sha, path)).copied()
    }

    /// Keep an answer (an empty SHA is never kept: it names no commit).
    pub fn put(&self, api: &str, credential: u64, repo: &str, sha: &str, path: &str, exists: bool) {
        if sha.is_empty() {
            return;
        }
        let key = Self::key(api, credential, repo, sha, path);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *inner;
        if map.insert(key.clone(), exists).is_none() {
            order.push_back(key);
            while order.len() > self.cap {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
    }

    /// Answers kept.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).0.len()
    }

    /// Whether no answer is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A recorded organization (group, owner): its repositories by name, in the recorded-inputs
/// document's `scmProviders:` map.
///
/// ```yaml
/// scmProviders:
///   my-org:                              # GitHub organization, GitLab group, Gitea owner,
///                                        # Bitbucket Server project, Bitbucket Cloud workspace,
///                                        # Azure DevOps `organization/teamProject`
///     apps:
///       id: 1
///       sshUrl: git@github.com:my-org/apps.git
///       httpsUrl: https://github.com/my-org/apps.git
///       labels: [team-a]
///       defaultBranch: main
///       branches:
///         main: {sha: 0123abcd..., files: [apps/guestbook/kustomization.yaml, README.md]}
/// ```
pub type RecordedScmOrg = BTreeMap<String, RecordedScmRepo>;

/// A recorded repository of an SCM provider.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordedScmRepo {
    /// `repository_id` (absent: the name).
    #[serde(default)]
    pub id: Option<Value>,
    /// The ssh clone URL.
    #[serde(default)]
    pub ssh_url: Option<String>,
    /// The https clone URL.
    #[serde(default)]
    pub https_url: Option<String>,
    /// Topics or labels.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Default branch (absent: `main`).
    #[serde(default)]
    pub default_branch: Option<String>,
    /// Branches by name.
    #[serde(default)]
    pub branches: BTreeMap<String, RecordedScmBranch>,
}

/// A recorded branch: its commit and the files present there (directories are their prefixes).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecordedScmBranch {
    /// Head commit SHA.
    pub sha: String,
    /// Paths of the files at that commit.
    #[serde(default)]
    pub files: Vec<String>,
}

/// A [`ScmProvider`] answering from a recorded organization.
pub(super) struct RecordedScm {
    pub(super) forge: &'static str,
    /// The recorded key (messages).
    pub(super) owner: String,
    /// The `organization` parameter: the key, but an Azure DevOps key's organization alone.
    pub(super) organization: String,
    pub(super) org: RecordedScmOrg,
    pub(super) all_branches: bool,
    pub(super) protocol: CloneProtocol,
}

impl RecordedScm {
    fn repo(&self, name: &str) -> Result<&RecordedScmRepo, SourceError> {
        self.org.get(name).ok_or_else(|| {
            SourceError::Unavailable(format!(
                "repository {name} of {} {} is not recorded",
                self.forge, self.owner
            ))
        })
    }
}

impl ScmProvider for RecordedScm {
    fn repos(&self) -> BoxFuture<'_, Result<Vec<ScmRepo>, SourceError>> {
        Box::pin(async move {
            self.org
                .iter()
                .map(|(name, r)| {
                    let url = match self.protocol {
                        CloneProtocol::Ssh => r.ssh_url.as_ref(),
                        CloneProtocol::Https => r.https_url.as_ref(),
                    };
                    let url = url.cloned().ok_or_else(|| {
                        let field = match self.protocol {
                            CloneProtocol::Ssh => "sshUrl",
                            CloneProtocol::Https => "httpsUrl",
                        };
                        SourceError::Unavailable(format!(
                            "recorded repository {name} of {} {} has no {field}",
                            self.forge, self.owner
                        ))
                    })?;
                    Ok(ScmRepo {
                        organization: self.organization.clone(),
                        repository: name.clone(),
                        repository_id: r.id.clone().unwrap_or_else(|| Value::String(name.clone())),
                        url,
                        default_branch: r.default_branch.clone().unwrap_or_else(|| "main".into()),
                        labels: r.labels.clone(),
                    })
                })
                .collect()
        })
    }

    fn branches<'a>(&'a self, repo: &'a ScmRepo) -> BoxFuture<'a, Result<Vec<ScmBranch>, SourceError>> {
        Box::pin(async move {
            let r = self.repo(&repo.repository)?;
            let branch = |(name, b): (&String, &RecordedScmBranch)| ScmBranch {
                name: name.clone(),
                sha: b.sha.clone(),
            };
            if self.all_branches {
                return Ok(r.branches.iter().map(branch).collect());
            }
            // The default branch only; none when it does not exist (an empty repository).
            Ok(r.branches
                .get_key_value(&repo.default_branch)
                .map(branch)
                .into_iter()
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
            let r = self.repo(&repo.repository)?;
            let b = r.branches.values().find(|b| b.sha == branch.sha).ok_or_else(|| {
                SourceError::Unavailable(format!(
                    "commit {} of repository {} is not recorded",
                    branch.sha, repo.repository
                ))
            })?;
            Ok(files_hold_path(&b.files, path))
        })
    }
}

/// Whether `path` is one of `files` or a directory holding one.
fn files_hold_path(files: &[String], path: &str) -> bool {
    let path = path.trim_matches('/');
    if path.is_empty() {
        return true;
    }
    files.iter().any(|f| {
        let f = f.trim_start_matches("./").trim_matches('/');
        f == path || f.strip_prefix(path).is_some_and(|rest| rest.starts_with('/'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_a_file_or_a_directory_prefix() {
        let files = vec!["apps/web/kustomization.yaml".to_string(), "README.md".to_string()];
        assert!(files_hold_path(&files, "README.md"));
        assert!(files_hold_path(&files, "apps"));
        assert!(files_hold_path(&files, "apps/web"));
        assert!(files_hold_path(&files, "apps/web/"));
        assert!(!files_hold_path(&files, "app"));
        assert!(!files_hold_path(&files, "apps/we"));
        assert!(!files_hold_path(&files, "docs"));
    }

    #[test]
    fn the_path_cache_is_bounded_oldest_first() {
        let c = PathCache::new(2);
        c.put("https://api", 1, "o/a", "s1", "p", true);
        c.put("https://api", 1, "o/a", "s2", "p", false);
        c.put("https://api", 1, "o/a", "s3", "p", true);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("https://api", 1, "o/a", "s1", "p"), None);
        assert_eq!(c.get("https://API", 1, "o/a", "S2", "p"), Some(false));
        assert_eq!(
            c.get("https://api", 2, "o/a", "s3", "p"),
            None,
            "another credential"
        );
        c.put("https://api", 1, "o/a", "", "p", true);
        assert_eq!(c.len(), 2, "an empty SHA is not kept");
    }

    #[test]
    fn clone_protocols_are_argo_cds() {
        assert_eq!(CloneProtocol::parse("GitHub", "").unwrap(), CloneProtocol::Ssh);
        assert_eq!(
            CloneProtocol::parse("GitHub", "https").unwrap(),
            CloneProtocol::Https
        );
        assert_eq!(
            CloneProtocol::parse("Gitlab", "git").unwrap_err(),
            "unknown clone protocol for Gitlab git"
        );
    }
}
