//! The outside world: git trees, cluster Secrets and pull requests.
//!
//! Stage: sources (I/O). Generators reach the outside world only through the object-safe
//! [`Sources`] trait, so the whole engine runs offline against [`Recorded`] inputs (the second YAML
//! document of an ApplicationSet file, `--clusters`, `--pull-requests`) and live against git (gix,
//! see [`git`]), the Kubernetes API and GitHub (octocrab, see [`github`]) with the same code. [`Inputs`] layers the two: a
//! recorded answer wins, otherwise the live source is asked (when one is configured).

pub mod git;
pub mod github;

use std::{
    cmp::Ordering,
    collections::{BTreeMap, BTreeSet},
    future::Future,
    path::PathBuf,
    pin::Pin,
    sync::{Arc, OnceLock},
    time::Duration,
};

use k8s_openapi::api::core::v1::Secret;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use git::{GitBranch, GitError, GitRepos, GitTree};
pub use github::{GitHub, GitHubAuth, GitHubError};

/// A boxed, sendable future (keeps [`Sources`] object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Errors from the outside world. Messages name the repository, namespace or API involved.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A git read failed (unreachable repository, unknown revision, missing file, ...).
    #[error(transparent)]
    Git(#[from] GitError),
    /// The Kubernetes API could not be asked for cluster Secrets.
    #[error("error listing cluster Secrets in namespace {namespace}: {message}")]
    Clusters {
        /// Namespace that was listed.
        namespace: String,
        /// What went wrong.
        message: String,
    },
    /// The GitHub API failed (not found, rate limited, HTTP error, malformed answer, ...).
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    /// A Secret (token, GitHub App credentials) could not be read. Argo CD's messages.
    #[error("{0}")]
    Secret(String),
    /// Pull requests could not be listed.
    #[error("error listing pull requests of {owner}/{repo}: {message}")]
    PullRequests {
        /// Repository owner.
        owner: String,
        /// Repository name.
        repo: String,
        /// What went wrong.
        message: String,
    },
    /// The input is not available offline and no live source is configured.
    #[error("{0}")]
    Unavailable(String),
    /// A blocking task panicked or was cancelled.
    #[error("internal error: {0}")]
    Internal(String),
}

impl SourceError {
    /// When retrying makes sense (a GitHub rate limit's reset time).
    pub fn retry_at(&self) -> Option<std::time::SystemTime> {
        match self {
            SourceError::GitHub(e) => e.retry_at(),
            _ => None,
        }
    }
}

/// One pull request, as the pull-request generator sees it (and as `--pull-requests FILE`
/// records it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullRequest {
    /// PR number.
    pub number: u64,
    /// Title.
    #[serde(default)]
    pub title: String,
    /// Head (source) branch.
    pub branch: String,
    /// Base (target) branch.
    #[serde(default)]
    pub target_branch: String,
    /// Head commit SHA.
    #[serde(default)]
    pub head_sha: String,
    /// Label names.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Author login.
    #[serde(default)]
    pub author: String,
    /// Whether the PR is a draft.
    #[serde(default)]
    pub draft: bool,
}

/// Which repository's pull requests to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestQuery {
    /// API base URL (empty: api.github.com, or `--github-api`).
    pub api: String,
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// `tokenRef`: (namespace, Secret name, key) of a token; the ApplicationSet's namespace.
    pub token_ref: Option<(String, String, String)>,
    /// `appSecretName`: (namespace, Secret name) of GitHub App repo-creds; Argo CD's namespace.
    pub app_secret: Option<(String, String)>,
}

/// The outside world, as generators see it.
pub trait Sources: Send + Sync {
    /// Resolve `revision` of `repo_url` to a commit and list its tree.
    fn git_tree<'a>(
        &'a self,
        repo_url: &'a str,
        revision: &'a str,
    ) -> BoxFuture<'a, Result<Arc<GitTree>, SourceError>>;
    /// Read files of the commit `sha` (as returned by [`Sources::git_tree`]).
    fn git_read<'a>(
        &'a self,
        repo_url: &'a str,
        sha: &'a str,
        paths: Vec<String>,
    ) -> BoxFuture<'a, Result<Vec<Vec<u8>>, SourceError>>;
    /// Remote branches with their commits, sorted by name.
    fn git_branches<'a>(&'a self, repo_url: &'a str) -> BoxFuture<'a, Result<Vec<GitBranch>, SourceError>>;
    /// Argo CD cluster Secrets (label `argocd.argoproj.io/secret-type: cluster`) in `namespace`.
    fn cluster_secrets<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Result<Vec<Secret>, SourceError>>;
    /// Open pull requests of a repository.
    fn pull_requests<'a>(
        &'a self,
        query: &'a PullRequestQuery,
    ) -> BoxFuture<'a, Result<Vec<PullRequest>, SourceError>>;
}

// ---- recorded inputs ----------------------------------------------------------------------------

/// Recorded inputs: what an ApplicationSet file's second YAML document holds.
///
/// ```yaml
/// git:
///   https://github.com/example/apps.git:
///     files:                       # shorthand for `branches: {main: {files: ...}}`
///       apps/guestbook/config.json: '{"env": "dev"}'
///     branches:
///       release-1.0: {sha: 0123abcd..., files: {README.md: ""}}
///     tags: {}
///     defaultBranch: main
/// clusters:                        # Argo CD cluster Secrets
/// - apiVersion: v1
///   kind: Secret
///   ...
/// pullRequests:
///   owner/repo: [{number: 1, branch: feat, ...}]
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Recorded {
    /// Git repositories by URL.
    #[serde(default)]
    pub git: BTreeMap<String, RecordedRepo>,
    /// Cluster Secrets (None: not recorded, ask the live source).
    #[serde(default)]
    pub clusters: Option<Vec<Secret>>,
    /// Pull requests by `owner/repo`.
    #[serde(default)]
    pub pull_requests: Option<BTreeMap<String, Vec<PullRequest>>>,
    /// Other Secrets (`tokenRef`, `appSecretName`), by namespace and name.
    #[serde(default)]
    pub secrets: Option<Vec<Secret>>,
    /// Existing Applications: accepted so one file can also describe the live state; `render`
    /// ignores them.
    #[serde(default)]
    pub applications: Option<Vec<Value>>,
}

/// A recorded git repository.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordedRepo {
    /// Default branch (HEAD); defaults to `main` when that branch exists, else the first branch.
    #[serde(default)]
    pub default_branch: Option<String>,
    /// Files of the default branch (shorthand).
    #[serde(default)]
    pub files: Option<BTreeMap<String, Value>>,
    /// Branches by name.
    #[serde(default)]
    pub branches: BTreeMap<String, RecordedCommit>,
    /// Tags by name.
    #[serde(default)]
    pub tags: BTreeMap<String, RecordedCommit>,
}

/// A recorded commit: its files (path → content; a non-string content is written as JSON).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordedCommit {
    /// Commit SHA; computed from the files when absent.
    #[serde(default)]
    pub sha: Option<String>,
    /// Files by path.
    #[serde(default)]
    pub files: BTreeMap<String, Value>,
}

impl Recorded {
    /// Merge `other` into `self` (entries of `other` win).
    pub fn merge(&mut self, other: Recorded) {
        self.git.extend(other.git);
        if let Some(c) = other.clusters {
            self.clusters.get_or_insert_with(Vec::new).extend(c);
        }
        if let Some(prs) = other.pull_requests {
            self.pull_requests.get_or_insert_with(BTreeMap::new).extend(prs);
        }
        if let Some(secrets) = other.secrets {
            self.secrets.get_or_insert_with(Vec::new).extend(secrets);
        }
        if other.applications.is_some() {
            self.applications = other.applications;
        }
    }
}

/// A recorded repository, materialised: commits by ref.
struct RecordedGit {
    default_branch: String,
    branches: BTreeMap<String, Arc<RecordedTree>>,
    tags: BTreeMap<String, Arc<RecordedTree>>,
}

struct RecordedTree {
    tree: Arc<GitTree>,
    files: BTreeMap<String, Vec<u8>>,
}

fn content_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.clone().into_bytes(),
        Value::Null => Vec::new(),
        other => serde_json::to_vec_pretty(other).unwrap_or_default(),
    }
}

fn materialise_commit(c: &RecordedCommit) -> RecordedTree {
    let files: BTreeMap<String, Vec<u8>> = c
        .files
        .iter()
        .map(|(p, v)| (p.trim_start_matches("./").to_string(), content_bytes(v)))
        .collect();
    let sha = c.sha.clone().unwrap_or_else(|| {
        let mut h = sha1_smol::Sha1::new();
        for (p, content) in &files {
            h.update(p.as_bytes());
            h.update(&[0]);
            h.update(content);
            h.update(&[0]);
        }
        h.digest().to_string()
    });
    let mut dirs = BTreeSet::new();
    for p in files.keys() {
        let mut acc = String::new();
        let segs: Vec<&str> = p.split('/').collect();
        for seg in &segs[..segs.len().saturating_sub(1)] {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(seg);
            dirs.insert(acc.clone());
        }
    }
    let mut directories: Vec<String> = dirs.into_iter().collect();
    directories.sort_by(|a, b| walk_order(a, b));
    let tree = GitTree {
        sha,
        directories,
        files: files.keys().cloned().collect(),
    };
    RecordedTree {
        tree: Arc::new(tree),
        files,
    }
}

impl RecordedGit {
    fn new(r: &RecordedRepo) -> Self {
        let mut branches: BTreeMap<String, Arc<RecordedTree>> = r
            .branches
            .iter()
            .map(|(n, c)| (n.clone(), Arc::new(materialise_commit(c))))
            .collect();
        let default_branch = r.default_branch.clone().unwrap_or_else(|| {
            if r.files.is_some() || branches.contains_key("main") || branches.is_empty() {
                "main".to_string()
            } else {
                branches.keys().next().cloned().unwrap_or_else(|| "main".into())
            }
        });
        if let Some(files) = &r.files {
            branches.insert(
                default_branch.clone(),
                Arc::new(materialise_commit(&RecordedCommit {
                    sha: None,
                    files: files.clone(),
                })),
            );
        }
        let tags = r
            .tags
            .iter()
            .map(|(n, c)| (n.clone(), Arc::new(materialise_commit(c))))
            .collect();
        RecordedGit {
            default_branch,
            branches,
            tags,
        }
    }

    fn resolve(&self, url: &str, revision: &str) -> Result<Arc<RecordedTree>, GitError> {
        let not_found = || GitError::RevisionNotFound {
            repo: url.to_string(),
            revision: revision.to_string(),
        };
        let rev = revision.trim();
        let by_name = |name: &str| -> Option<Arc<RecordedTree>> {
            if let Some(b) = name.strip_prefix("refs/heads/") {
                return self.branches.get(b).cloned();
            }
            if let Some(t) = name.strip_prefix("refs/tags/") {
                return self.tags.get(t).cloned();
            }
            self.branches.get(name).or_else(|| self.tags.get(name)).cloned()
        };
        if rev.is_empty() || rev == "HEAD" {
            return self
                .branches
                .get(&self.default_branch)
                .cloned()
                .ok_or_else(not_found);
        }
        if let Some(t) = by_name(rev) {
            return Ok(t);
        }
        if rev.len() >= 4 && rev.bytes().all(|b| b.is_ascii_hexdigit()) {
            let lower = rev.to_ascii_lowercase();
            if let Some(t) = self
                .branches
                .values()
                .chain(self.tags.values())
                .find(|t| t.tree.sha.starts_with(&lower))
            {
                return Ok(t.clone());
            }
        }
        Err(not_found())
    }

    fn by_sha(&self, sha: &str) -> Option<Arc<RecordedTree>> {
        self.branches
            .values()
            .chain(self.tags.values())
            .find(|t| t.tree.sha == sha)
            .cloned()
    }
}

/// Orders `/`-separated paths the way Go's `filepath.Walk` visits them: depth-first, the entries
/// of each directory sorted by name (`a`, `a/b`, `a-c`).
pub fn walk_order(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

// ---- layered inputs -------------------------------------------------------------------------------

/// Where live answers come from when nothing is recorded.
#[derive(Debug, Clone, Default)]
pub struct LiveConfig {
    /// Read git repositories live (fetch with gix into `git_cache_dir`).
    pub git: bool,
    /// Bare-clone cache directory.
    pub git_cache_dir: PathBuf,
    /// `URL=PATH` overrides: reads of `URL` use the local repository at `PATH`.
    pub repo_overrides: Vec<(String, PathBuf)>,
    /// Ask the Kubernetes API (default kubeconfig / in-cluster) for cluster Secrets.
    pub kube: bool,
    /// List pull requests live from GitHub (when they are not recorded).
    pub github: bool,
    /// GitHub API base URL for generators without `api` (`--github-api`).
    pub github_api: Option<String>,
    /// Token for generators without `tokenRef`/`appSecretName`, or whose token is empty (Argo CD
    /// falls back to `GITHUB_TOKEN` the same way).
    pub github_token: Option<String>,
    /// Use `github_token` even when a generator names a `tokenRef`/`appSecretName` (the CLI: its
    /// user's `GITHUB_TOKEN` instead of Secrets it usually cannot read).
    pub github_token_overrides_refs: bool,
    /// How long a pull-request listing is reused without asking GitHub.
    pub github_max_age: Duration,
}

/// Recorded inputs first, live sources second.
pub struct Inputs {
    recorded: Recorded,
    recorded_git: BTreeMap<String, Arc<RecordedGit>>,
    live: LiveConfig,
    git: Option<Arc<GitRepos>>,
    github: Option<Arc<GitHub>>,
    kube: tokio::sync::OnceCell<Result<kube::Client, String>>,
}

impl Inputs {
    /// Recorded inputs only: anything not recorded is an error (golden tests, `appset serve`
    /// with recorded inputs).
    pub fn recorded(recorded: Recorded) -> Self {
        Self::new(recorded, LiveConfig::default())
    }

    /// Recorded inputs backed by live sources.
    pub fn new(recorded: Recorded, live: LiveConfig) -> Self {
        let recorded_git = recorded
            .git
            .iter()
            .map(|(url, r)| (git::normalize_url(url), Arc::new(RecordedGit::new(r))))
            .collect();
        let git = (live.git || !live.repo_overrides.is_empty()).then(|| {
            Arc::new(GitRepos::new(
                live.git_cache_dir.clone(),
                live.repo_overrides.clone(),
            ))
        });
        let github = live
            .github
            .then(|| Arc::new(GitHub::new(live.github_api.clone(), live.github_max_age)));
        Inputs {
            recorded,
            recorded_git,
            live,
            git,
            github,
            kube: tokio::sync::OnceCell::new(),
        }
    }

    /// Share a GitHub client (and its pull-request cache) with other `Inputs`.
    pub fn with_github(mut self, github: Arc<GitHub>) -> Self {
        self.github = Some(github);
        self
    }

    /// Share a git cache (bare clones and tree listings) with other `Inputs`.
    pub fn with_git(mut self, git: Arc<GitRepos>) -> Self {
        self.git = Some(git);
        self
    }

    /// Use this Kubernetes client for cluster Secrets and token Secrets (instead of the default
    /// kubeconfig).
    pub fn with_kube(self, client: kube::Client) -> Self {
        let _ = self.kube.set(Ok(client));
        self
    }

    /// The GitHub client, when live GitHub access is on.
    pub fn github(&self) -> Option<&Arc<GitHub>> {
        self.github.as_ref()
    }

    /// The recorded inputs.
    pub fn recorded_inputs(&self) -> &Recorded {
        &self.recorded
    }

    fn recorded_repo(&self, url: &str) -> Option<Arc<RecordedGit>> {
        self.recorded_git.get(&git::normalize_url(url)).cloned()
    }

    fn live_git(&self, url: &str) -> Result<Arc<GitRepos>, SourceError> {
        let overridden = self
            .live
            .repo_overrides
            .iter()
            .any(|(u, _)| git::normalize_url(u) == git::normalize_url(url));
        match &self.git {
            Some(g) if self.live.git || overridden => Ok(g.clone()),
            _ => Err(SourceError::Unavailable(format!(
                "git repository {url} is not recorded and live git access is off \
                 (record it in the file's second YAML document or pass --repo {url}=PATH)"
            ))),
        }
    }

    /// A Secret by namespace and name: recorded (`secrets:` or `clusters:`), else the live cluster.
    async fn secret(&self, namespace: &str, name: &str) -> Result<Secret, SourceError> {
        let fetch_err =
            |m: &str| SourceError::Secret(format!("error fetching secret {namespace}/{name}: {m}"));
        let mut any_recorded = self.recorded.secrets.is_some();
        for s in self
            .recorded
            .secrets
            .iter()
            .chain(self.recorded.clusters.iter())
            .flatten()
        {
            any_recorded = true;
            if s.metadata.name.as_deref() == Some(name)
                && s.metadata.namespace.as_deref().is_none_or(|ns| ns == namespace)
            {
                return Ok(s.clone());
            }
        }
        if any_recorded || !self.live.kube {
            return Err(fetch_err(&format!("secrets \"{name}\" not found")));
        }
        let client = self
            .kube_client()
            .await
            .map_err(|m| fetch_err(&format!("no Kubernetes client ({m})")))?;
        let api: kube::Api<Secret> = kube::Api::namespaced(client, namespace);
        api.get(name).await.map_err(|e| fetch_err(&e.to_string()))
    }

    /// The credentials a pull-request query uses.
    async fn github_auth(&self, query: &PullRequestQuery) -> Result<GitHubAuth, SourceError> {
        let default = || match self.live.github_token.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => GitHubAuth::Token(t.to_string()),
            None => GitHubAuth::Anonymous,
        };
        if self.live.github_token_overrides_refs && self.live.github_token.is_some() {
            return Ok(default());
        }
        if let Some((ns, name)) = &query.app_secret {
            let secret = self.secret(ns, name).await?;
            let field = |k: &str| secret_field(&secret, k);
            let (Some(app_id), Some(installation_id), Some(private_key)) = (
                field("githubAppID"),
                field("githubAppInstallationID"),
                field("githubAppPrivateKey"),
            ) else {
                return Err(SourceError::Secret(format!("no github app found for {name}")));
            };
            let parse = |what: &str, v: &str| {
                v.trim().parse::<u64>().map_err(|_| {
                    SourceError::Secret(format!("secret {ns}/{name}: {what} {v:?} is not a number"))
                })
            };
            return Ok(GitHubAuth::App {
                app_id: parse("githubAppID", &app_id)?,
                installation_id: parse("githubAppInstallationID", &installation_id)?,
                private_key,
            });
        }
        if let Some((ns, name, key)) = &query.token_ref {
            let secret = self.secret(ns, name).await?;
            let token = secret_field(&secret, key)
                .ok_or_else(|| SourceError::Secret(format!("key {key:?} in secret {ns}/{name} not found")))?;
            let token = token.trim().to_string();
            return Ok(if token.is_empty() {
                default()
            } else {
                GitHubAuth::Token(token)
            });
        }
        Ok(default())
    }

    async fn kube_client(&self) -> Result<kube::Client, String> {
        self.kube
            .get_or_init(|| async { kube::Client::try_default().await.map_err(|e| e.to_string()) })
            .await
            .clone()
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, GitError> + Send + 'static,
) -> Result<T, SourceError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(SourceError::from),
        Err(e) => Err(SourceError::Internal(format!("git task failed: {e}"))),
    }
}

impl Sources for Inputs {
    fn git_tree<'a>(
        &'a self,
        repo_url: &'a str,
        revision: &'a str,
    ) -> BoxFuture<'a, Result<Arc<GitTree>, SourceError>> {
        Box::pin(async move {
            if let Some(r) = self.recorded_repo(repo_url) {
                return Ok(r.resolve(repo_url, revision)?.tree.clone());
            }
            let g = self.live_git(repo_url)?;
            let (url, rev) = (repo_url.to_string(), revision.to_string());
            blocking(move || g.tree(&url, &rev)).await
        })
    }

    fn git_read<'a>(
        &'a self,
        repo_url: &'a str,
        sha: &'a str,
        paths: Vec<String>,
    ) -> BoxFuture<'a, Result<Vec<Vec<u8>>, SourceError>> {
        Box::pin(async move {
            if let Some(r) = self.recorded_repo(repo_url) {
                let t = r.by_sha(sha).ok_or_else(|| GitError::RevisionNotFound {
                    repo: repo_url.into(),
                    revision: sha.into(),
                })?;
                return paths
                    .iter()
                    .map(|p| {
                        t.files.get(p).cloned().ok_or_else(|| {
                            SourceError::Unavailable(format!("file {p} not found at {sha} in {repo_url}"))
                        })
                    })
                    .collect();
            }
            let g = self.live_git(repo_url)?;
            let (url, sha) = (repo_url.to_string(), sha.to_string());
            blocking(move || g.read_files(&url, &sha, &paths)).await
        })
    }

    fn git_branches<'a>(&'a self, repo_url: &'a str) -> BoxFuture<'a, Result<Vec<GitBranch>, SourceError>> {
        Box::pin(async move {
            if let Some(r) = self.recorded_repo(repo_url) {
                return Ok(r
                    .branches
                    .iter()
                    .map(|(name, t)| GitBranch {
                        name: name.clone(),
                        sha: t.tree.sha.clone(),
                    })
                    .collect());
            }
            let g = self.live_git(repo_url)?;
            let url = repo_url.to_string();
            blocking(move || g.branches(&url)).await
        })
    }

    fn cluster_secrets<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Result<Vec<Secret>, SourceError>> {
        Box::pin(async move {
            if let Some(c) = &self.recorded.clusters {
                return Ok(c
                    .iter()
                    .filter(|s| s.metadata.namespace.as_deref().is_none_or(|ns| ns == namespace))
                    .cloned()
                    .collect());
            }
            if !self.live.kube {
                return Err(SourceError::Unavailable(
                    "cluster Secrets are not recorded and the live cluster is off \
                     (pass --clusters FILE or record `clusters:` in the file's second YAML document)"
                        .into(),
                ));
            }
            let client = self
                .kube_client()
                .await
                .map_err(|message| SourceError::Clusters {
                    namespace: namespace.into(),
                    message: format!(
                        "no Kubernetes client ({message}); pass --clusters FILE to render offline"
                    ),
                })?;
            let api: kube::Api<Secret> = kube::Api::namespaced(client, namespace);
            let lp = kube::api::ListParams::default()
                .labels(&format!("{}=cluster", crate::crd::CLUSTER_SECRET_TYPE_LABEL));
            let list = api.list(&lp).await.map_err(|e| SourceError::Clusters {
                namespace: namespace.into(),
                message: e.to_string(),
            })?;
            Ok(list.items)
        })
    }

    fn pull_requests<'a>(
        &'a self,
        query: &'a PullRequestQuery,
    ) -> BoxFuture<'a, Result<Vec<PullRequest>, SourceError>> {
        Box::pin(async move {
            let key = format!("{}/{}", query.owner, query.repo);
            if let Some(prs) = &self.recorded.pull_requests {
                if let Some((_, list)) = prs.iter().find(|(k, _)| k.eq_ignore_ascii_case(&key)) {
                    return Ok(list.clone());
                }
                return Err(SourceError::PullRequests {
                    owner: query.owner.clone(),
                    repo: query.repo.clone(),
                    message: "repository not found in the recorded pull requests".into(),
                });
            }
            let Some(github) = &self.github else {
                return Err(SourceError::Unavailable(format!(
                    "pull requests of {key} are not recorded and live GitHub access is off \
                     (pass --pull-requests FILE)"
                )));
            };
            let auth = self.github_auth(query).await?;
            let q = github::PullsQuery {
                api: query.api.clone(),
                owner: query.owner.clone(),
                repo: query.repo.clone(),
                auth,
            };
            Ok(github.pull_requests(&q).await?.as_ref().clone())
        })
    }
}

/// The default git cache directory: `$APPSET_GIT_CACHE`, else `$XDG_CACHE_HOME/appset/git`, else
/// `~/.cache/appset/git`.
pub fn default_git_cache_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(d) = std::env::var_os("APPSET_GIT_CACHE") {
            return PathBuf::from(d);
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("appset").join("git")
    })
    .clone()
}

/// A string field of a Secret: `data` (base64-decoded by the API types), else `stringData`
/// (recorded files).
pub fn secret_field(s: &Secret, key: &str) -> Option<String> {
    if let Some(v) = s.data.as_ref().and_then(|d| d.get(key)) {
        return Some(String::from_utf8_lossy(&v.0).into_owned());
    }
    s.string_data.as_ref().and_then(|d| d.get(key)).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_order_visits_a_directory_before_its_siblings_with_longer_names() {
        let mut v = vec!["a-c", "a/b", "a", "b"];
        v.sort_by(|a, b| walk_order(a, b));
        assert_eq!(v, ["a", "a/b", "a-c", "b"]);
    }

    #[test]
    fn recorded_repo_resolves_head_branches_tags_and_shas() {
        let r: RecordedRepo = serde_saphyr::from_str(
            "files: {apps/a/x.yaml: 'a: 1', apps/b/y.yaml: ''}\nbranches: {dev: {sha: abcdef0123, files: {z: ''}}}\ntags: {v1: {files: {t: ''}}}",
        )
        .unwrap();
        let g = RecordedGit::new(&r);
        let head = g.resolve("u", "").unwrap();
        assert_eq!(head.tree.directories, ["apps", "apps/a", "apps/b"]);
        assert_eq!(g.resolve("u", "HEAD").unwrap().tree.sha, head.tree.sha);
        assert_eq!(g.resolve("u", "refs/heads/dev").unwrap().tree.sha, "abcdef0123");
        assert_eq!(g.resolve("u", "abcdef").unwrap().tree.files, ["z"]);
        assert_eq!(g.resolve("u", "v1").unwrap().tree.files, ["t"]);
        let err = g.resolve("u", "nope").err().unwrap();
        assert_eq!(err.to_string(), "Unable to resolve 'nope' to a commit SHA");
    }

    #[test]
    fn recorded_repositories_match_urls_without_git_suffix_slash_or_host_case() {
        let recorded: Recorded =
            serde_saphyr::from_str("git: {'https://github.com/a/b.git': {files: {x/y: ''}}}").unwrap();
        let inputs = Inputs::recorded(recorded);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let tree = rt
            .block_on(inputs.git_tree("https://GitHub.com/a/b/", "HEAD"))
            .unwrap();
        assert_eq!(tree.directories, ["x"]);
        let other = rt.block_on(inputs.git_tree("https://github.com/a/B.git", "HEAD"));
        assert!(
            matches!(other, Err(SourceError::Unavailable(_))),
            "paths stay case-sensitive"
        );
    }
}
