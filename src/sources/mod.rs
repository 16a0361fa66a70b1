//! The outside world: git trees, cluster Secrets, Secrets, ConfigMaps, pull requests, plugin
//! services and duck-typed resources (cluster decision resources).
//!
//! Stage: sources (the engine's only I/O). Generators reach the outside world only through the
//! object-safe [`Sources`] trait, defined here with the answers' types and [`SourceError`], so
//! the whole engine runs offline against recorded inputs and live against git, the Kubernetes API
//! and GitHub with the same code:
//!
//! - [`credentials`]: Argo CD's repository credential Secrets and which one a URL is read with
//!   (pure).
//! - [`git`]: repositories through gix (bare-clone cache, trees, files, branches). I/O.
//! - [`github`]: GitHub's pull-request API through octocrab (listing cache, ETags, rate limits).
//!   I/O.
//! - [`forge`]: what every forge client below shares on reqwest: paged listings behind one
//!   conditional-request cache, ETags, rate limits, TLS settings, typed errors. I/O.
//! - [`gitlab`]: GitLab's merge-request API on [`forge`]. I/O.
//! - [`gitea`]: Gitea's (and Forgejo's) pull-request API on [`forge`]. I/O.
//! - [`azure_devops`]: Azure DevOps's pull-request and `scmProvider` (team project) APIs on
//!   [`forge`]. I/O.
//! - [`bitbucket`]: Bitbucket Server's and Bitbucket Cloud's pull-request and `scmProvider`
//!   (project, workspace) APIs on [`forge`]. I/O.
//! - [`github_metrics`]: Argo CD's `argocd_github_api_*` families, which [`github`] records every
//!   request into (pure).
//! - [`plugin`]: the plugin generator's service call (its ConfigMap, token, `POST
//!   <baseUrl>/api/v1/getparams.execute`) through reqwest. I/O.
//! - [`scm`]: what the `scmProvider` generator reads from any forge ([`ScmProvider`]: an
//!   organization's repositories, their branches, whether a path exists at a commit), the
//!   bounded path-existence cache kept by commit, and recorded organizations (pure).
//! - `recorded`: [`Recorded`] inputs, an ApplicationSet file's recorded-inputs document (pure).
//! - `inputs`: [`Inputs`], the `Sources` that every caller uses (a recorded answer wins, else the
//!   live source switched on in [`LiveConfig`]), and [`Live`], the clients a process shares
//!   across runs.

pub mod azure_devops;
pub mod bitbucket;
pub mod credentials;
pub mod forge;
pub mod git;
pub mod gitea;
pub mod github;
pub mod github_metrics;
pub mod gitlab;
mod inputs;
pub mod plugin;
mod recorded;
pub mod scm;

use std::{
    cmp::Ordering,
    future::Future,
    path::PathBuf,
    pin::Pin,
    sync::{Arc, OnceLock},
};

use k8s_openapi::{api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::LabelSelector};
use kube::api::DynamicObject;
use serde::{Deserialize, Serialize};

pub use azure_devops::AzureDevOps;
pub use bitbucket::Bitbucket;
pub use forge::{ForgeError, ForgeHttp, ForgeStats, ForgeTls};
pub use git::{GitBranch, GitError, GitRepos, GitTree, RepoOverride};
pub use gitea::Gitea;
pub use github::{GitHub, GitHubAuth, GitHubError, same_api};
pub use gitlab::GitLab;
pub use inputs::{Inputs, Live, LiveConfig};
pub use recorded::{
    Recorded, RecordedCommit, RecordedPlugin, RecordedPluginInput, RecordedPluginOutput, RecordedRepo,
    parse_cluster_secrets, parse_pull_requests,
};
pub use scm::{
    CloneProtocol, PathCache, RecordedScmBranch, RecordedScmOrg, RecordedScmRepo, ScmBranch, ScmForge,
    ScmProvider, ScmQuery, ScmRepo, ScmRepoOptions,
};

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
    /// A forge's API failed (GitLab, Gitea, Bitbucket Server and Cloud, Azure DevOps: not found, rate limited,
    /// HTTP error, malformed answer, ...).
    #[error(transparent)]
    Forge(#[from] ForgeError),
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
    /// A plugin service could not be asked, or its answer is unusable. Argo CD's messages
    /// (`error getting plugin from generator: ...`, `error listing params: ...`).
    #[error("{0}")]
    Plugin(String),
    /// A ConfigMap or a duck-typed resource could not be read from the Kubernetes API (Kubernetes'
    /// message, `configmaps "x" not found`; a generator adds Argo CD's context before it).
    #[error("{0}")]
    Resource(String),
    /// An SCM provider's repositories could not be read (the recorded organization is missing,
    /// the query is invalid).
    #[error("{0}")]
    Scm(String),
    /// Merge requests could not be listed (Argo CD's message).
    #[error("error listing merge requests for project '{project}': {message}")]
    MergeRequests {
        /// GitLab project.
        project: String,
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
            SourceError::Forge(e) => e.retry_at(),
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

/// Which pull requests to list, on which forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullRequestQuery {
    /// A GitHub repository's open pull requests.
    GitHub(GitHubPullRequestQuery),
    /// A GitLab project's merge requests.
    GitLab(GitLabMergeRequestQuery),
    /// A Gitea (or Forgejo) repository's open pull requests.
    Gitea(GiteaPullRequestQuery),
    /// A Bitbucket Server (Data Center) repository's open pull requests.
    BitbucketServer(BitbucketServerPullRequestQuery),
    /// A Bitbucket Cloud repository's open pull requests.
    BitbucketCloud(BitbucketCloudPullRequestQuery),
    /// An Azure DevOps repository's active pull requests.
    AzureDevOps(AzureDevOpsPullRequestQuery),
}

/// Which credential a Bitbucket generator names: Secrets of the ApplicationSet's namespace
/// (namespace, Secret name, key).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BitbucketAuthRef {
    /// Neither `basicAuth` nor `bearerToken`: anonymous.
    #[default]
    None,
    /// `basicAuth`: a user name and the Secret key holding the password.
    Basic {
        /// User name.
        username: String,
        /// `passwordRef`.
        password_ref: (String, String, String),
    },
    /// `bearerToken.tokenRef` (wins over `basicAuth`, as in Argo CD).
    Bearer {
        /// `tokenRef`.
        token_ref: (String, String, String),
    },
}

/// Which Bitbucket Server repository's pull requests to list (`pullRequest.bitbucketServer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitbucketServerPullRequestQuery {
    /// REST root, e.g. `https://bitbucket.example.com/rest`.
    pub api: String,
    /// Project key.
    pub project: String,
    /// Repository slug.
    pub repo: String,
    /// The credential's Secrets.
    pub auth: BitbucketAuthRef,
    /// The Secrets must be labelled `argocd.argoproj.io/secret-type: scm-creds`.
    pub token_ref_strict: bool,
    /// `insecure`: skip TLS verification.
    pub insecure: bool,
    /// `caRef`: (namespace, ConfigMap name, key) of a PEM CA bundle; the ApplicationSet's
    /// namespace.
    pub ca_ref: Option<(String, String, String)>,
}

/// Which Bitbucket Cloud repository's pull requests to list (`pullRequest.bitbucket`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitbucketCloudPullRequestQuery {
    /// API base URL (empty: `https://api.bitbucket.org/2.0`).
    pub api: String,
    /// Workspace.
    pub owner: String,
    /// Repository slug.
    pub repo: String,
    /// The credential's Secrets.
    pub auth: BitbucketAuthRef,
    /// The Secrets must be labelled `argocd.argoproj.io/secret-type: scm-creds`.
    pub token_ref_strict: bool,
}

/// Which Azure DevOps repository's pull requests to list (`pullRequest.azuredevops`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureDevOpsPullRequestQuery {
    /// Azure DevOps base URL (empty: `https://dev.azure.com`).
    pub api: String,
    /// Organization (Azure DevOps Server: collection).
    pub organization: String,
    /// Project name.
    pub project: String,
    /// Repository name.
    pub repo: String,
    /// `tokenRef`: (namespace, Secret name, key) of a personal access token; the
    /// ApplicationSet's namespace.
    pub token_ref: Option<(String, String, String)>,
    /// The `tokenRef` Secret must be labelled `argocd.argoproj.io/secret-type: scm-creds`.
    pub token_ref_strict: bool,
}

/// Which Gitea repository's pull requests to list (`pullRequest.gitea`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiteaPullRequestQuery {
    /// Gitea base URL (the API is under `/api/v1`).
    pub api: String,
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// `tokenRef`: (namespace, Secret name, key) of a token; the ApplicationSet's namespace.
    pub token_ref: Option<(String, String, String)>,
    /// The `tokenRef` Secret must be labelled `argocd.argoproj.io/secret-type: scm-creds`.
    pub token_ref_strict: bool,
    /// `insecure`: skip TLS verification.
    pub insecure: bool,
}

/// Which GitLab project's merge requests to list (`pullRequest.gitlab`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitLabMergeRequestQuery {
    /// GitLab base URL (empty: `https://gitlab.com`).
    pub api: String,
    /// Project path or numeric id.
    pub project: String,
    /// `labels`: sent as GitLab's `labels=` filter.
    pub labels: Vec<String>,
    /// `pullRequestState`: sent as `state=` (empty: all states).
    pub state: String,
    /// `tokenRef`: (namespace, Secret name, key) of a token; the ApplicationSet's namespace.
    pub token_ref: Option<(String, String, String)>,
    /// The `tokenRef` Secret must be labelled `argocd.argoproj.io/secret-type: scm-creds`.
    pub token_ref_strict: bool,
    /// `insecure`: skip TLS verification.
    pub insecure: bool,
    /// `caRef`: (namespace, ConfigMap name, key) of a PEM CA bundle; the ApplicationSet's
    /// namespace.
    pub ca_ref: Option<(String, String, String)>,
}

/// Which GitHub repository's pull requests to list (`pullRequest.github`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubPullRequestQuery {
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
    /// The `tokenRef` Secret must be labelled `argocd.argoproj.io/secret-type: scm-creds`
    /// (Argo CD's `--token-ref-strict-mode`).
    pub token_ref_strict: bool,
}

/// Which plugin service to ask, and what to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginQuery {
    /// `configMapRef.name`: the ConfigMap with `baseUrl`, `token`, `requestTimeout`.
    pub config_map: String,
    /// Where the ConfigMap and the token's Secret live: Argo CD's (the controller's) namespace.
    pub namespace: String,
    /// The ApplicationSet being generated (sent as `applicationSetName`).
    pub appset_name: String,
    /// `input.parameters`, as sent.
    pub parameters: serde_json::Map<String, serde_json::Value>,
}

/// A resource of the Kubernetes API by group, version and plural name (what Argo CD's dynamic
/// client is given: a clusterDecisionResource ConfigMap's `apiVersion` and `kind`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceRef {
    /// API group (`cluster.open-cluster-management.io`; empty: the core group).
    pub group: String,
    /// API version (`v1beta1`).
    pub version: String,
    /// Plural resource name (`placementdecisions`).
    pub plural: String,
}

impl ResourceRef {
    /// `group/version` (`version` for the core group), as objects' `apiVersion` says it.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The resource for kube's dynamic API (the kind is not known, and not needed to list).
    pub fn api_resource(&self) -> kube::api::ApiResource {
        kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk(&self.group, &self.version, ""),
            &self.plural,
        )
    }
}

impl std::fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.plural, self.api_version())
    }
}

/// Which objects of a resource to list: by name (a field selector) or by labels.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// `metadata.name=NAME`.
    Name(String),
    /// A label selector (already validated).
    Labels(LabelSelector),
}

/// Which duck-typed objects to list (a clusterDecisionResource generator's decision resources).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceQuery {
    /// The resource.
    pub resource: ResourceRef,
    /// The namespace listed: Argo CD's (the controller's).
    pub namespace: String,
    /// By name or by labels.
    pub selection: Selection,
}

/// The outside world, as generators see it.
pub trait Sources: Send + Sync {
    /// Resolve `revision` of `repo_url` to a commit and list its tree. `project` is the
    /// ApplicationSet's (its template's `spec.project`): it chooses among project-scoped
    /// repository credentials, as in Argo CD.
    fn git_tree<'a>(
        &'a self,
        repo_url: &'a str,
        revision: &'a str,
        project: &'a str,
    ) -> BoxFuture<'a, Result<Arc<GitTree>, SourceError>>;
    /// Read files of the commit `sha` (as returned by [`Sources::git_tree`]).
    fn git_read<'a>(
        &'a self,
        repo_url: &'a str,
        sha: &'a str,
        paths: Vec<String>,
        project: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Vec<u8>>, SourceError>>;
    /// Remote branches with their commits, sorted by name.
    fn git_branches<'a>(
        &'a self,
        repo_url: &'a str,
        project: &'a str,
    ) -> BoxFuture<'a, Result<Vec<GitBranch>, SourceError>>;
    /// Argo CD cluster Secrets (label `argocd.argoproj.io/secret-type: cluster`) in `namespace`.
    fn cluster_secrets<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Result<Vec<Secret>, SourceError>>;
    /// Pull requests of a repository (GitLab: merge requests of a project).
    fn pull_requests<'a>(
        &'a self,
        query: &'a PullRequestQuery,
    ) -> BoxFuture<'a, Result<Vec<PullRequest>, SourceError>>;
    /// The `scmProvider` generator's view of a forge organization (credentials read once, here);
    /// its repositories, branches and path checks are then asked through the [`ScmProvider`].
    fn scm_provider<'a>(
        &'a self,
        query: &'a ScmQuery,
    ) -> BoxFuture<'a, Result<Box<dyn ScmProvider + 'a>, SourceError>>;
    /// What a plugin service answers under `output.parameters`: one JSON object per parameter
    /// set (a `null` entry is an empty object).
    fn plugin_params<'a>(
        &'a self,
        query: &'a PluginQuery,
    ) -> BoxFuture<'a, Result<Vec<serde_json::Map<String, serde_json::Value>>, SourceError>>;
    /// The `data` of the ConfigMap `namespace/name` (Kubernetes' `configmaps "name" not found`
    /// when there is none).
    fn config_map<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<std::collections::BTreeMap<String, String>, SourceError>>;
    /// The objects of a resource that a query selects, as they are (duck typing: only the fields
    /// a generator reads matter), in the API server's order (by name).
    fn list_resources<'a>(
        &'a self,
        query: &'a ResourceQuery,
    ) -> BoxFuture<'a, Result<Vec<DynamicObject>, SourceError>>;
}

/// Orders `/`-separated paths the way Go's `filepath.Walk` visits them: depth-first, the entries
/// of each directory sorted by name (`a`, `a/b`, `a-c`).
pub fn walk_order(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
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
}
