//! [`Inputs`]: the [`Sources`] that the CLI, the service and the controller use: recorded answers
//! first, live sources (git through gix, the Kubernetes API, GitHub through octocrab, GitLab,
//! Gitea and Azure DevOps through `forge`, plugin services) second. The `scmProvider`
//! generator's forge clients are built here per run (credentials read once) and share the
//! process's [`PathCache`].
//!
//! Stage: sources (I/O: git fetches, Kubernetes API reads, forge API calls, each only when it
//! is switched on in [`LiveConfig`] and the answer is not recorded).

use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Duration};

use k8s_openapi::{
    api::core::v1::{ConfigMap, Secret},
    apimachinery::pkg::apis::meta::v1::LabelSelector,
};
use kube::{api::DynamicObject, core::SelectorExt};
use serde_json::{Map, Value};

use super::{
    AzureDevOps, AzureDevOpsPullRequestQuery, Bitbucket, BitbucketAuthRef, BitbucketCloudPullRequestQuery,
    BitbucketServerPullRequestQuery, BoxFuture, GitBranch, GitError, GitHub, GitHubAuth,
    GitHubPullRequestQuery, GitLab, GitLabMergeRequestQuery, GitRepos, GitTree, Gitea, GiteaPullRequestQuery,
    PluginQuery, PullRequest, PullRequestQuery, ResourceQuery, ScmForge, ScmProvider, ScmQuery, Selection,
    SourceError, Sources, azure_devops,
    bitbucket::{self, BitbucketAuth},
    credentials::{self, RepoCredentials},
    git::{self, Access, RepoOverride},
    gitea,
    github::{self, same_api},
    github_metrics::AppSetRef,
    gitlab, plugin,
    recorded::{Recorded, RecordedGit},
    scm::{CachedPaths, CloneProtocol, PathCache, RecordedScm, ScmRepoOptions},
    secret_field,
};

/// Where live answers come from when nothing is recorded.
#[derive(Debug, Clone, Default)]
pub struct LiveConfig {
    /// Read git repositories live (fetch with gix into `git_cache_dir`).
    pub git: bool,
    /// Bare-clone cache directory.
    pub git_cache_dir: PathBuf,
    /// `URL=PATH` overrides: reads of `URL` use the local repository at `PATH` (its working
    /// tree for its checked-out branch, unless `committed`).
    pub repo_overrides: Vec<RepoOverride>,
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
    /// How long a pull-request listing is reused without asking GitHub (or GitLab).
    pub github_max_age: Duration,
    /// List merge requests live from GitLab (when they are not recorded).
    pub gitlab: bool,
    /// Token for GitLab generators without `tokenRef` (Argo CD's `GITLAB_TOKEN`); sent only to
    /// `https://gitlab.com`, never to an API an ApplicationSet chose.
    pub gitlab_token: Option<String>,
    /// List pull requests live from Gitea (when they are not recorded). No process-wide token:
    /// a Gitea API is always one an ApplicationSet chose, so only its `tokenRef` is sent.
    pub gitea: bool,
    /// List pull requests live from Bitbucket Server and Bitbucket Cloud (when they are not
    /// recorded). No process-wide credential, as in Argo CD: only a set's own `basicAuth` or
    /// `bearerToken` Secrets are sent.
    pub bitbucket: bool,
    /// List pull requests live from Azure DevOps (when they are not recorded). No process-wide
    /// token, as in Argo CD: only the set's own `tokenRef` is sent.
    pub azure_devops: bool,
    /// Ask each forge only at its public API (GitHub: `--github-api`, else api.github.com;
    /// GitLab: gitlab.com; Azure DevOps: dev.azure.com), never at an `api` an ApplicationSet
    /// names. On in `appset serve`: a request must not make the service call hosts it names.
    pub public_forge_apis_only: bool,
    /// Read `scmProvider` generators' repositories from the recorded inputs only, never by
    /// scanning a forge. On in `appset serve`: a request can name any organization, and a scan
    /// costs a request per repository (and per path filter) of the service's rate limit.
    pub recorded_scm_only: bool,
    /// Argo CD's repository credentials (`repository` / `repo-creds` Secrets, known SSH hosts).
    pub repo_credentials: Arc<RepoCredentials>,
    /// Call plugin services (a plugin generator's ConfigMap `baseUrl`) when their answer is not
    /// recorded. Off in `appset serve`: a request must not make the service post to URLs it
    /// names.
    pub plugins: bool,
    /// Missing inputs come with each request (`appset serve`), not from files on the command
    /// line: errors then say what the request should carry.
    pub inputs_by_request: bool,
}

impl LiveConfig {
    /// Every live source on: git (fetched into `git_cache_dir`; the repositories of
    /// `repo_overrides` read from their local paths), the Kubernetes API, GitHub at
    /// `github_api` (None: api.github.com) with `github_token`, and GitLab (with `GITLAB_TOKEN`
    /// from the environment for gitlab.com), a listing reused for `github_max_age`. The one place a live configuration is made; callers change what differs
    /// (`appset serve` has no Kubernetes API, `appset render` lets its token override Secrets).
    pub fn live(
        git_cache_dir: PathBuf,
        repo_overrides: Vec<RepoOverride>,
        github_api: Option<String>,
        github_token: Option<String>,
        github_max_age: Duration,
    ) -> Self {
        LiveConfig {
            git: true,
            git_cache_dir,
            repo_overrides,
            kube: true,
            github: true,
            plugins: true,
            github_api,
            github_token,
            github_token_overrides_refs: false,
            inputs_by_request: false,
            github_max_age,
            gitlab: true,
            gitea: true,
            bitbucket: true,
            azure_devops: true,
            public_forge_apis_only: false,
            recorded_scm_only: false,
            gitlab_token: std::env::var("GITLAB_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty()),
            repo_credentials: Arc::default(),
        }
    }
}

/// The live sources of one process, made once and shared by all its generation runs: the git
/// cache (bare clones, tree listings), the GitHub client (pull-request cache, rate-limit state)
/// and, in the controller, its Kubernetes client. [`Live::inputs`] makes each run's [`Inputs`].
#[derive(Clone)]
pub struct Live {
    config: LiveConfig,
    git: Arc<GitRepos>,
    github: Arc<GitHub>,
    gitlab: Arc<GitLab>,
    gitea: Arc<Gitea>,
    scm_paths: Arc<PathCache>,
    bitbucket: Arc<Bitbucket>,
    azure_devops: Arc<AzureDevOps>,
    kube: Option<kube::Client>,
}

impl Live {
    /// Clients made from `config`.
    pub fn new(config: LiveConfig) -> Self {
        Live {
            git: Arc::new(GitRepos::new(
                config.git_cache_dir.clone(),
                config.repo_overrides.clone(),
            )),
            github: Arc::new(GitHub::new(config.github_api.clone(), config.github_max_age)),
            gitlab: Arc::new(GitLab::new(config.github_max_age)),
            gitea: Arc::new(Gitea::new(config.github_max_age)),
            scm_paths: Arc::default(),
            bitbucket: Arc::new(Bitbucket::new(config.github_max_age)),
            azure_devops: Arc::new(AzureDevOps::new(config.github_max_age)),
            kube: None,
            config,
        }
    }

    /// Use `github` (shared with another part of the process: the webhook endpoint expires its
    /// cached listings) instead of a client of its own.
    pub fn with_github(mut self, github: Arc<GitHub>) -> Self {
        self.github = github;
        self
    }

    /// Use `gitlab` (shared with the webhook endpoint, which expires its cached listings) instead
    /// of a client of its own.
    pub fn with_gitlab(mut self, gitlab: Arc<GitLab>) -> Self {
        self.gitlab = gitlab;
        self
    }

    /// Use `gitea` (shared with the webhook endpoint, which expires its cached listings) instead
    /// of a client of its own.
    pub fn with_gitea(mut self, gitea: Arc<Gitea>) -> Self {
        self.gitea = gitea;
        self
    }

    /// Read Secrets with `client` (instead of the default kubeconfig).
    pub fn with_kube(mut self, client: kube::Client) -> Self {
        self.kube = Some(client);
        self
    }

    /// The configuration the clients were made from.
    pub fn config(&self) -> &LiveConfig {
        &self.config
    }

    /// The git cache.
    pub fn git(&self) -> &Arc<GitRepos> {
        &self.git
    }

    /// The GitHub client.
    pub fn github(&self) -> &Arc<GitHub> {
        &self.github
    }

    /// The GitLab client.
    pub fn gitlab(&self) -> &Arc<GitLab> {
        &self.gitlab
    }

    /// The Gitea client.
    pub fn gitea(&self) -> &Arc<Gitea> {
        &self.gitea
    }

    /// The `scmProvider` path checks kept by commit, shared by every run.
    pub fn scm_paths(&self) -> &Arc<PathCache> {
        &self.scm_paths
    }

    /// The Bitbucket (Server and Cloud) client.
    pub fn bitbucket(&self) -> &Arc<Bitbucket> {
        &self.bitbucket
    }

    /// The Azure DevOps client.
    pub fn azure_devops(&self) -> &Arc<AzureDevOps> {
        &self.azure_devops
    }

    /// The sources of one generation run: `recorded` answers first, these live clients second.
    pub fn inputs(&self, recorded: Recorded) -> Inputs {
        let mut inputs = Inputs::with_clients(
            recorded,
            self.config.clone(),
            Some(self.git.clone()),
            self.config.github.then(|| self.github.clone()),
        );
        inputs.gitlab = self.config.gitlab.then(|| self.gitlab.clone());
        inputs.gitea = self.config.gitea.then(|| self.gitea.clone());
        inputs.scm_paths = self.scm_paths.clone();
        inputs.bitbucket = self.config.bitbucket.then(|| self.bitbucket.clone());
        inputs.azure_devops = self.config.azure_devops.then(|| self.azure_devops.clone());
        match &self.kube {
            Some(client) => inputs.with_kube(client.clone()),
            None => inputs,
        }
    }
}

/// Recorded inputs first, live sources second.
pub struct Inputs {
    recorded: Recorded,
    recorded_git: BTreeMap<String, Arc<RecordedGit>>,
    live: LiveConfig,
    git: Option<Arc<GitRepos>>,
    github: Option<Arc<GitHub>>,
    gitlab: Option<Arc<GitLab>>,
    gitea: Option<Arc<Gitea>>,
    scm_paths: Arc<PathCache>,
    bitbucket: Option<Arc<Bitbucket>>,
    azure_devops: Option<Arc<AzureDevOps>>,
    kube: tokio::sync::OnceCell<Result<kube::Client, String>>,
    appset: Option<AppSetRef>,
}

impl Inputs {
    /// Recorded inputs only: anything not recorded is an error (golden tests, `appset serve`
    /// with recorded inputs).
    pub fn recorded(recorded: Recorded) -> Self {
        Self::new(recorded, LiveConfig::default())
    }

    /// Recorded inputs backed by live sources of their own (a process that generates more than
    /// once shares its clients through [`Live`]).
    pub fn new(recorded: Recorded, live: LiveConfig) -> Self {
        let git = (live.git || !live.repo_overrides.is_empty()).then(|| {
            Arc::new(GitRepos::new(
                live.git_cache_dir.clone(),
                live.repo_overrides.clone(),
            ))
        });
        let github = live
            .github
            .then(|| Arc::new(GitHub::new(live.github_api.clone(), live.github_max_age)));
        let gitlab = live.gitlab.then(|| Arc::new(GitLab::new(live.github_max_age)));
        let gitea = live.gitea.then(|| Arc::new(Gitea::new(live.github_max_age)));
        let bitbucket = live
            .bitbucket
            .then(|| Arc::new(Bitbucket::new(live.github_max_age)));
        let azure_devops = live
            .azure_devops
            .then(|| Arc::new(AzureDevOps::new(live.github_max_age)));
        let mut inputs = Self::with_clients(recorded, live, git, github);
        inputs.gitlab = gitlab;
        inputs.gitea = gitea;
        inputs.bitbucket = bitbucket;
        inputs.azure_devops = azure_devops;
        inputs
    }

    fn with_clients(
        recorded: Recorded,
        live: LiveConfig,
        git: Option<Arc<GitRepos>>,
        github: Option<Arc<GitHub>>,
    ) -> Self {
        let recorded_git = recorded
            .git
            .iter()
            .map(|(url, r)| (git::normalize_url(url), Arc::new(RecordedGit::new(r))))
            .collect();
        Inputs {
            recorded,
            recorded_git,
            live,
            git,
            github,
            gitlab: None,
            gitea: None,
            scm_paths: Arc::default(),
            bitbucket: None,
            azure_devops: None,
            kube: tokio::sync::OnceCell::new(),
            appset: None,
        }
    }

    /// This run generates the ApplicationSet `namespace/name`: the GitHub requests it sends are
    /// labelled with it in the GitHub API metrics (else `unknown`, as in Argo CD).
    pub fn for_appset(mut self, namespace: &str, name: &str) -> Self {
        self.appset = Some(AppSetRef {
            namespace: namespace.to_string(),
            name: name.to_string(),
        });
        self
    }

    /// Share a GitHub client (and its pull-request cache) with other `Inputs`.
    pub fn with_github(mut self, github: Arc<GitHub>) -> Self {
        self.github = Some(github);
        self
    }

    /// Share a GitLab client (and its merge-request cache) with other `Inputs`.
    pub fn with_gitlab(mut self, gitlab: Arc<GitLab>) -> Self {
        self.gitlab = Some(gitlab);
        self
    }

    /// Share a Gitea client (and its listing caches) with other `Inputs`.
    pub fn with_gitea(mut self, gitea: Arc<Gitea>) -> Self {
        self.gitea = Some(gitea);
        self
    }

    /// Share the `scmProvider` path checks kept by commit with other `Inputs`.
    pub fn with_scm_paths(mut self, paths: Arc<PathCache>) -> Self {
        self.scm_paths = paths;
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

    /// Read private repositories with `credentials` (the controller's, as its watches see them
    /// now) instead of the configured ones.
    pub fn with_repo_credentials(mut self, credentials: Arc<RepoCredentials>) -> Self {
        self.live.repo_credentials = credentials;
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

    /// How to reach `url` for an ApplicationSet of `project`: the matching credential, if any,
    /// and the known SSH hosts.
    /// A GitHub App credential gets its installation token here (git reads it as the password).
    async fn access(&self, url: &str, project: &str) -> Result<Access, SourceError> {
        let creds = &self.live.repo_credentials;
        let credential = creds.lookup(url, project);
        let http = url.starts_with("https://") || url.starts_with("http://");
        let app_token = match credential
            .as_ref()
            .and_then(|c| c.github_app.as_ref().map(|a| (c, a)))
        {
            Some((c, app)) if http => {
                let Some(github) = &self.github else {
                    return Err(SourceError::Unavailable(format!(
                        "repository {}: the GitHub App credential of Secret {} needs the GitHub API, which is off",
                        credentials::redact_url(url),
                        c.source
                    )));
                };
                let token = github
                    .installation_token(
                        app.enterprise_base_url.as_deref(),
                        app.app_id,
                        app.installation_id,
                        &app.private_key,
                    )
                    .await
                    .map_err(|message| {
                        SourceError::Secret(format!(
                            "repository {}: credential from Secret {}: {message}",
                            credentials::redact_url(url),
                            c.source
                        ))
                    })?;
                Some(token)
            }
            _ => None,
        };
        Ok(Access {
            credential,
            known_hosts: creds.known_hosts.clone(),
            tls_ca: creds.tls_ca_for(url),
            app_token,
        })
    }

    fn recorded_repo(&self, url: &str) -> Option<Arc<RecordedGit>> {
        self.recorded_git.get(&git::normalize_url(url)).cloned()
    }

    fn live_git(&self, url: &str) -> Result<Arc<GitRepos>, SourceError> {
        let overridden = self
            .live
            .repo_overrides
            .iter()
            .any(|o| git::normalize_url(&o.url) == git::normalize_url(url));
        // Recorded `git:` replaces live git, as recorded `clusters:` and `pullRequests:` replace
        // their live sources: a file that records repositories renders with no network.
        let recorded = &self.recorded.git;
        match &self.git {
            Some(g) if overridden || (self.live.git && recorded.is_empty()) => Ok(g.clone()),
            _ if !recorded.is_empty() => Err(SourceError::Unavailable(format!(
                "git repository {url} is not among the recorded repositories ({}), and recorded \
                 inputs are read instead of live git (record it there or pass --repo {url}=PATH)",
                recorded.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
            ))),
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

    /// The `data` of a ConfigMap by namespace and name: recorded (`configMaps:`), else the live
    /// cluster. Errors are Kubernetes' (`configmaps "name" not found`); without a cluster to ask,
    /// `instead` says what else may be recorded.
    async fn config_map_or(
        &self,
        namespace: &str,
        name: &str,
        instead: &str,
    ) -> Result<BTreeMap<String, String>, String> {
        if let Some(recorded) = &self.recorded.config_maps {
            return recorded
                .iter()
                .find(|c| {
                    c.metadata.name.as_deref() == Some(name)
                        && c.metadata.namespace.as_deref().is_none_or(|ns| ns == namespace)
                })
                .map(|c| c.data.clone().unwrap_or_default())
                .ok_or_else(|| format!("configmaps \"{name}\" not found"));
        }
        if !self.live.kube {
            return Err(format!(
                "configmaps \"{name}\" not found (this process reads no cluster: record the \
                 ConfigMap as `configMaps:`{instead} in the recorded inputs)"
            ));
        }
        let client = self
            .kube_client()
            .await
            .map_err(|m| format!("no Kubernetes client ({m})"))?;
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, namespace);
        match api.get_opt(name).await {
            Ok(Some(c)) => Ok(c.data.unwrap_or_default()),
            Ok(None) => Err(format!("configmaps \"{name}\" not found")),
            Err(e) => Err(kube_message(&e)),
        }
    }

    /// Duck-typed objects: recorded (`resources:`, selected here as the API server would), else
    /// listed live through kube's dynamic API.
    async fn resources(&self, query: &ResourceQuery) -> Result<Vec<DynamicObject>, SourceError> {
        let r = &query.resource;
        if let Some(recorded) = &self.recorded.resources {
            let selector = match &query.selection {
                Selection::Labels(l) => Some(label_selector(l)?),
                Selection::Name(_) => None,
            };
            return Ok(recorded
                .iter()
                .filter(|o| recorded_selected(o, query, selector.as_ref()))
                .cloned()
                .collect());
        }
        if !self.live.kube {
            let what = if self.live.inputs_by_request {
                "send them with the request, as `resources:` in the recorded inputs"
            } else {
                "record them as `resources:` in the file's recorded inputs"
            };
            return Err(SourceError::Unavailable(format!(
                "{r} objects are not recorded and this process reads no cluster: {what}"
            )));
        }
        let client = self
            .kube_client()
            .await
            .map_err(|m| SourceError::Resource(format!("no Kubernetes client ({m})")))?;
        let api: kube::Api<DynamicObject> =
            kube::Api::namespaced_with(client, &query.namespace, &r.api_resource());
        let lp = match &query.selection {
            Selection::Name(name) => {
                kube::api::ListParams::default().fields(&format!("metadata.name={name}"))
            }
            Selection::Labels(l) => kube::api::ListParams::default().labels(&label_selector(l)?.to_string()),
        };
        let list = api
            .list(&lp)
            .await
            .map_err(|e| SourceError::Resource(kube_message(&e)))?;
        Ok(list.items)
    }

    /// Ask a plugin service live: its ConfigMap, its token, then the call.
    async fn live_plugin(&self, query: &PluginQuery) -> Result<Vec<Map<String, Value>>, SourceError> {
        let (ns, name) = (query.namespace.as_str(), query.config_map.as_str());
        let data = self
            .config_map_or(ns, name, ", or the plugin's answers as `plugins:`,")
            .await
            .map_err(|e| plugin::getting(format!("error fetching ConfigMap: {e}")))?;
        let settings = plugin::settings(ns, name, &data).map_err(plugin::getting)?;
        let (secret_name, key) = plugin::parse_secret_key(&settings.token_ref);
        let secret = self
            .secret(ns, &secret_name)
            .await
            .map_err(|e| plugin::getting(format!("error fetching Secret token: {e}")))?;
        // Argo CD's ReplaceStringSecret: the value trimmed; a key the Secret lacks leaves the
        // reference itself as the token (Argo CD logs a warning and sends it).
        let token = secret_field(&secret, &key)
            .map(|t| t.trim().to_string())
            .unwrap_or_else(|| settings.token_ref.clone());
        plugin::call(&settings, &token, &query.appset_name, &query.parameters).await
    }

    /// Refuse `api` when it is not `public` and this process asks forges only at their public
    /// APIs ([`LiveConfig::public_forge_apis_only`], `appset serve`): `what` (not recorded)
    /// names the listing, `record` where to record it.
    fn public_api_only(
        &self,
        forge: &str,
        api: &str,
        public: &str,
        what: &str,
        record: &str,
    ) -> Result<(), SourceError> {
        if self.live.public_forge_apis_only && !api.trim().is_empty() && !same_api(api, public) {
            return Err(SourceError::Unavailable(format!(
                "{what} at {api} are not recorded, and this process asks {forge} only at {public} \
                 (record them under {record})"
            )));
        }
        Ok(())
    }

    /// The credentials a pull-request query uses.
    ///
    /// No credential of the controller goes to an API host an ApplicationSet chose: the
    /// controller's token (`GITHUB_TOKEN`) is sent only to the controller's GitHub API
    /// (`--github-api`, else api.github.com), and a GitHub App of Argo CD's namespace only to
    /// the API its Secret names (`githubAppEnterpriseBaseUrl`, else the controller's). A
    /// `tokenRef` Secret is the ApplicationSet's own, from its namespace.
    async fn github_auth(&self, query: &GitHubPullRequestQuery) -> Result<GitHubAuth, SourceError> {
        let controller_api = self.live.github_api.as_deref().unwrap_or(github::DEFAULT_API);
        let query_api = if query.api.trim().is_empty() {
            controller_api
        } else {
            query.api.as_str()
        };
        let controllers_api = same_api(query_api, controller_api);
        let default = || match self.live.github_token.as_deref().filter(|t| !t.is_empty()) {
            Some(t) if controllers_api => GitHubAuth::Token(t.to_string()),
            _ => GitHubAuth::Anonymous,
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
            let app_api = field("githubAppEnterpriseBaseUrl").filter(|u| !u.trim().is_empty());
            let app_api = app_api.as_deref().unwrap_or(controller_api);
            if !same_api(query_api, app_api) {
                return Err(SourceError::Secret(format!(
                    "the GitHub App of secret {ns}/{name} is used only with {app_api}; \
                     api {query_api:?} is refused (set githubAppEnterpriseBaseUrl in the secret \
                     for a GitHub Enterprise API)"
                )));
            }
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
        if let Some(token_ref) = &query.token_ref {
            let token = self.token_ref(token_ref, query.token_ref_strict).await?;
            return Ok(if token.is_empty() {
                default()
            } else {
                GitHubAuth::Token(token)
            });
        }
        Ok(default())
    }

    /// The token a `tokenRef` (namespace, Secret, key) names, trimmed (Argo CD's
    /// `GetSecretRef`; with `strict`, the Secret must be labelled `scm-creds`).
    async fn token_ref(
        &self,
        (ns, name, key): &(String, String, String),
        strict: bool,
    ) -> Result<String, SourceError> {
        let secret = self.secret(ns, name).await?;
        let label = secret
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(credentials::SECRET_TYPE_LABEL));
        if strict && label.map(String::as_str) != Some("scm-creds") {
            return Err(SourceError::Secret(format!(
                "secret {ns}/{name} is not a valid SCM creds secret: secret must have label \
                 \"{}\"=\"scm-creds\"",
                credentials::SECRET_TYPE_LABEL
            )));
        }
        let token = secret_field(&secret, key)
            .ok_or_else(|| SourceError::Secret(format!("key {key:?} in secret {ns}/{name} not found")))?;
        Ok(token.trim().to_string())
    }

    /// A ConfigMap key (Argo CD's `GetConfigMapData`): a `caRef`. ConfigMaps are not recorded;
    /// they are read from the cluster.
    async fn config_map_data(
        &self,
        (ns, name, key): &(String, String, String),
    ) -> Result<String, SourceError> {
        let err = |m: &str| {
            SourceError::Secret(format!(
                "error fetching CA certificates from ConfigMap: configmap {ns}/{name}: {m}"
            ))
        };
        if !self.live.kube {
            return Err(err(
                "ConfigMaps are read from the cluster, and this process reads none",
            ));
        }
        let client = self
            .kube_client()
            .await
            .map_err(|m| err(&format!("no Kubernetes client ({m})")))?;
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, ns);
        let cm = api.get(name).await.map_err(|e| err(&e.to_string()))?;
        cm.data
            .as_ref()
            .and_then(|d| d.get(key))
            .cloned()
            .ok_or_else(|| err(&format!("key {key} not found in ConfigMap {name}")))
    }

    /// The merge requests of a GitLab project: recorded (keyed by the project), else live.
    async fn merge_requests(&self, query: &GitLabMergeRequestQuery) -> Result<Vec<PullRequest>, SourceError> {
        if let Some(prs) = &self.recorded.pull_requests {
            if let Some((_, list)) = prs.iter().find(|(k, _)| k.eq_ignore_ascii_case(&query.project)) {
                // GitLab filters by labels on the server; recorded answers are filtered here.
                // Recorded merge requests carry no state: they are what the state filter returned.
                return Ok(list
                    .iter()
                    .filter(|pr| query.labels.iter().all(|l| pr.labels.contains(l)))
                    .cloned()
                    .collect());
            }
            return Err(SourceError::MergeRequests {
                project: query.project.clone(),
                message: "project not found in the recorded pull requests".into(),
            });
        }
        let Some(client) = &self.gitlab else {
            return Err(SourceError::Unavailable(format!(
                "merge requests of GitLab project {} are not recorded and live GitLab access is off \
                 (pass --pull-requests FILE)",
                query.project
            )));
        };
        let api = query.api.trim();
        self.public_api_only(
            "GitLab",
            api,
            gitlab::DEFAULT_API,
            &format!("merge requests of GitLab project {}", query.project),
            &format!("`pullRequests:`, keyed by {}", query.project),
        )?;
        let token = match &query.token_ref {
            Some(token_ref) => Some(self.token_ref(token_ref, query.token_ref_strict).await?),
            None => None,
        };
        // Argo CD falls back to GITLAB_TOKEN for any API; appset sends the process's token only
        // to gitlab.com, never to a host an ApplicationSet chose.
        let token = token.filter(|t| !t.is_empty()).or_else(|| {
            (api.is_empty() || same_api(api, gitlab::DEFAULT_API))
                .then(|| self.live.gitlab_token.clone())
                .flatten()
        });
        let ca_pem = match &query.ca_ref {
            Some(ca_ref) => Some(self.config_map_data(ca_ref).await?),
            None => None,
        };
        let q = gitlab::MergeRequestsQuery {
            api: api.to_string(),
            project: query.project.clone(),
            labels: query.labels.clone(),
            state: query.state.clone(),
            token,
            tls: super::ForgeTls {
                insecure: query.insecure,
                ca_pem,
            },
        };
        Ok(client.merge_requests(&q).await?.as_ref().clone())
    }

    /// The recorded pull requests of `owner/repo` (the key matched in any case), when pull
    /// requests are recorded at all: recorded answers replace the live forges, so a repository
    /// missing from them is an error. `None`: nothing is recorded, ask the forge.
    fn recorded_pulls(&self, owner: &str, repo: &str) -> Option<Result<Vec<PullRequest>, SourceError>> {
        let prs = self.recorded.pull_requests.as_ref()?;
        let key = format!("{owner}/{repo}");
        Some(
            prs.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&key))
                .map(|(_, list)| list.clone())
                .ok_or_else(|| SourceError::PullRequests {
                    owner: owner.to_string(),
                    repo: repo.to_string(),
                    message: "repository not found in the recorded pull requests".into(),
                }),
        )
    }

    /// The open pull requests of a Gitea repository: recorded (keyed by `owner/repo`, as
    /// GitHub's), else live. Labels are filtered by the generator.
    async fn gitea_pull_requests(
        &self,
        query: &GiteaPullRequestQuery,
    ) -> Result<Vec<PullRequest>, SourceError> {
        if let Some(recorded) = self.recorded_pulls(&query.owner, &query.repo) {
            return recorded;
        }
        let key = format!("{}/{}", query.owner, query.repo);
        let Some(client) = &self.gitea else {
            return Err(SourceError::Unavailable(format!(
                "pull requests of Gitea repository {key} are not recorded and live Gitea access is \
                 off (pass --pull-requests FILE)"
            )));
        };
        let token = match &query.token_ref {
            Some(token_ref) => Some(self.token_ref(token_ref, query.token_ref_strict).await?),
            None => None,
        };
        let q = gitea::GiteaPullsQuery {
            api: query.api.clone(),
            owner: query.owner.clone(),
            repo: query.repo.clone(),
            token: token.filter(|t| !t.is_empty()),
            insecure: query.insecure,
        };
        Ok(client.pull_requests(&q).await?.as_ref().clone())
    }

    /// An `scmProvider` generator's forge: recorded (`scmProviders:`, keyed by the organization,
    /// group, owner, project or workspace; Azure DevOps: `organization/teamProject`), else the
    /// live client of its forge, path checks kept by commit.
    async fn scm(&self, query: &ScmQuery) -> Result<Box<dyn ScmProvider + '_>, SourceError> {
        let forge = query.forge.name();
        let protocol = match &query.forge {
            // Argo CD's Azure DevOps provider ignores `cloneProtocol`: `url` is the `remoteUrl`.
            ScmForge::AzureDevOps { .. } => CloneProtocol::Https,
            // Argo CD's words (`Gitlab`, `Bitbucket cloud`).
            _ => {
                let protocol_forge = match forge {
                    "GitLab" => "Gitlab",
                    "Bitbucket Cloud" => "Bitbucket cloud",
                    other => other,
                };
                CloneProtocol::parse(protocol_forge, &query.clone_protocol).map_err(SourceError::Scm)?
            }
        };
        let owner = query.forge.owner();
        let owner = owner.as_str();
        if let Some(orgs) = &self.recorded.scm_providers {
            let Some((key, org)) = orgs.iter().find(|(k, _)| k.eq_ignore_ascii_case(owner)) else {
                return Err(SourceError::Scm(format!(
                    "{forge} {owner} is not among the recorded scmProviders ({})",
                    orgs.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
                )));
            };
            let organization = match &query.forge {
                ScmForge::AzureDevOps { organization, .. } => organization.clone(),
                _ => key.clone(),
            };
            return Ok(Box::new(RecordedScm {
                forge,
                owner: key.clone(),
                organization,
                org: org.clone(),
                all_branches: query.all_branches,
                protocol,
            }));
        }
        let off = || {
            SourceError::Unavailable(format!(
                "the repositories of {forge} {owner} are not recorded and live {forge} access is off \
                 (record them as `scmProviders:` in the recorded inputs)"
            ))
        };
        if self.live.recorded_scm_only {
            return Err(SourceError::Unavailable(format!(
                "the repositories of {forge} {owner} are not recorded, and this process scans no \
                 forge (a scan costs a request per repository): send them as `scmProviders:`, \
                 keyed by {owner}, with the request's inputs"
            )));
        }
        let token = match &query.token_ref {
            Some(token_ref) => Some(self.token_ref(token_ref, query.token_ref_strict).await?),
            None => None,
        }
        .filter(|t| !t.is_empty());
        let cached = |inner: Box<dyn ScmProvider>, api: &str, credential: u64| -> Box<dyn ScmProvider> {
            Box::new(CachedPaths {
                inner,
                cache: self.scm_paths.clone(),
                api: api.to_string(),
                credential,
            })
        };
        match &query.forge {
            ScmForge::GitHub {
                organization,
                app_secret,
                exclude_archived,
            } => {
                let github = self.github.as_ref().ok_or_else(off)?;
                let auth = self
                    .github_auth(&GitHubPullRequestQuery {
                        api: query.api.clone(),
                        owner: organization.clone(),
                        repo: String::new(),
                        token_ref: query.token_ref.clone(),
                        app_secret: app_secret.clone(),
                        token_ref_strict: query.token_ref_strict,
                    })
                    .await?;
                let token = match auth {
                    GitHubAuth::Anonymous => None,
                    GitHubAuth::Token(t) => Some(t),
                    GitHubAuth::App {
                        app_id,
                        installation_id,
                        private_key,
                    } => {
                        let api = Some(query.api.as_str()).filter(|a| !a.trim().is_empty());
                        let minted = github
                            .installation_token(api, app_id, installation_id, &private_key)
                            .await
                            .map_err(|m| {
                                SourceError::Secret(format!("error fetching Github app secret: {m}"))
                            })?;
                        Some(minted)
                    }
                };
                let opts = ScmRepoOptions {
                    protocol,
                    all_branches: query.all_branches,
                    exclude_archived: *exclude_archived,
                };
                let client = github.scm(&query.api, organization, token.as_deref(), opts)?;
                let (api, credential) = (client.api().to_string(), client.credential());
                Ok(cached(Box::new(client), &api, credential))
            }
            ScmForge::GitLab {
                group,
                include_subgroups,
                include_shared_projects,
                include_archived,
                topic,
                ca_ref,
            } => {
                let gitlab = self.gitlab.as_ref().ok_or_else(off)?;
                let api = query.api.trim();
                // The process's GITLAB_TOKEN goes to gitlab.com only, as for merge requests.
                let token = token.or_else(|| {
                    (api.is_empty() || same_api(api, gitlab::DEFAULT_API))
                        .then(|| self.live.gitlab_token.clone())
                        .flatten()
                });
                let ca_pem = match ca_ref {
                    Some(ca_ref) => Some(self.config_map_data(ca_ref).await?),
                    None => None,
                };
                let client = gitlab.scm(gitlab::GroupQuery {
                    api: api.to_string(),
                    group: group.clone(),
                    include_subgroups: *include_subgroups,
                    include_shared_projects: *include_shared_projects,
                    include_archived: *include_archived,
                    topic: topic.clone(),
                    token,
                    tls: super::ForgeTls {
                        insecure: query.insecure,
                        ca_pem,
                    },
                    opts: ScmRepoOptions {
                        protocol,
                        all_branches: query.all_branches,
                        exclude_archived: false,
                    },
                })?;
                let (api, credential) = (client.api().to_string(), client.credential());
                Ok(cached(Box::new(client), &api, credential))
            }
            ScmForge::Gitea {
                owner,
                exclude_archived,
            } => {
                let gitea = self.gitea.as_ref().ok_or_else(off)?;
                let opts = ScmRepoOptions {
                    protocol,
                    all_branches: query.all_branches,
                    exclude_archived: *exclude_archived,
                };
                let client = gitea.scm(&query.api, owner, token.as_deref(), query.insecure, opts)?;
                let (api, credential) = (client.api().to_string(), client.credential());
                Ok(cached(Box::new(client), &api, credential))
            }
            ScmForge::BitbucketServer {
                project,
                auth,
                ca_ref,
            } => {
                let bitbucket = self.bitbucket.as_ref().ok_or_else(off)?;
                let auth = self.bitbucket_auth(auth, query.token_ref_strict).await?;
                let ca_pem = match ca_ref {
                    Some(ca_ref) => Some(self.config_map_data(ca_ref).await?),
                    None => None,
                };
                let tls = super::ForgeTls {
                    insecure: query.insecure,
                    ca_pem,
                };
                let opts = ScmRepoOptions {
                    protocol,
                    all_branches: query.all_branches,
                    exclude_archived: false,
                };
                let client = bitbucket.server_scm(&query.api, project, &auth, tls, opts)?;
                let (api, credential) = client.path_key();
                Ok(cached(Box::new(client), &api, credential))
            }
            ScmForge::BitbucketCloud { owner, auth } => {
                let bitbucket = self.bitbucket.as_ref().ok_or_else(off)?;
                let auth = self.bitbucket_auth(auth, query.token_ref_strict).await?;
                let opts = ScmRepoOptions {
                    protocol,
                    all_branches: query.all_branches,
                    exclude_archived: false,
                };
                let client = bitbucket.cloud_scm(&query.api, owner, &auth, opts)?;
                let (api, credential) = client.path_key();
                Ok(cached(Box::new(client), &api, credential))
            }
            ScmForge::AzureDevOps {
                organization,
                team_project,
            } => {
                let azure = self.azure_devops.as_ref().ok_or_else(off)?;
                let api = self.azure_devops_api(
                    &query.api,
                    &format!("the repositories of {owner}"),
                    "scmProviders:",
                    owner,
                )?;
                let client = azure.scm(
                    &api,
                    organization,
                    team_project,
                    token.as_deref(),
                    query.all_branches,
                )?;
                let (api, credential) = client.path_key();
                Ok(cached(Box::new(client), &api, credential))
            }
        }
    }

    /// The credential a Bitbucket generator names, read from its Secrets (Argo CD's
    /// `GetSecretRef`: trimmed; with `strict`, labelled `scm-creds`).
    async fn bitbucket_auth(
        &self,
        auth: &BitbucketAuthRef,
        strict: bool,
    ) -> Result<BitbucketAuth, SourceError> {
        Ok(match auth {
            BitbucketAuthRef::None => BitbucketAuth::Anonymous,
            BitbucketAuthRef::Basic {
                username,
                password_ref,
            } => BitbucketAuth::Basic {
                username: username.clone(),
                password: self.token_ref(password_ref, strict).await?,
            },
            BitbucketAuthRef::Bearer { token_ref } => {
                BitbucketAuth::Bearer(self.token_ref(token_ref, strict).await?)
            }
        })
    }

    /// The client of a Bitbucket listing, or the error saying that live Bitbucket is off.
    fn bitbucket_client(&self, what: &str) -> Result<&Arc<Bitbucket>, SourceError> {
        self.bitbucket.as_ref().ok_or_else(|| {
            SourceError::Unavailable(format!(
                "pull requests of {what} are not recorded and live Bitbucket access is off \
                 (pass --pull-requests FILE)"
            ))
        })
    }

    /// The open pull requests of a Bitbucket Server repository: recorded (keyed by
    /// `project/repo`, the project key and repository slug), else live.
    async fn bitbucket_server_pull_requests(
        &self,
        query: &BitbucketServerPullRequestQuery,
    ) -> Result<Vec<PullRequest>, SourceError> {
        if let Some(recorded) = self.recorded_pulls(&query.project, &query.repo) {
            return recorded;
        }
        let client = self.bitbucket_client(&format!(
            "Bitbucket Server repository {}/{}",
            query.project, query.repo
        ))?;
        let ca_pem = match &query.ca_ref {
            Some(ca_ref) => Some(self.config_map_data(ca_ref).await?),
            None => None,
        };
        let q = bitbucket::ServerPullsQuery {
            api: query.api.clone(),
            project: query.project.clone(),
            repo: query.repo.clone(),
            auth: self.bitbucket_auth(&query.auth, query.token_ref_strict).await?,
            tls: super::ForgeTls {
                insecure: query.insecure,
                ca_pem,
            },
        };
        Ok(client.server_pull_requests(&q).await?.as_ref().clone())
    }

    /// The open pull requests of a Bitbucket Cloud repository: recorded (keyed by
    /// `owner/repo`, the workspace and repository slug), else live.
    async fn bitbucket_cloud_pull_requests(
        &self,
        query: &BitbucketCloudPullRequestQuery,
    ) -> Result<Vec<PullRequest>, SourceError> {
        if let Some(recorded) = self.recorded_pulls(&query.owner, &query.repo) {
            return recorded;
        }
        let client = self.bitbucket_client(&format!(
            "Bitbucket Cloud repository {}/{}",
            query.owner, query.repo
        ))?;
        let q = bitbucket::CloudPullsQuery {
            api: query.api.clone(),
            owner: query.owner.clone(),
            repo: query.repo.clone(),
            auth: self.bitbucket_auth(&query.auth, query.token_ref_strict).await?,
        };
        Ok(client.cloud_pull_requests(&q).await?.as_ref().clone())
    }

    /// The active pull requests of an Azure DevOps repository: recorded (keyed by
    /// `organization/project/repo`), else live. Labels and drafts are filtered by the generator.
    async fn azure_devops_pull_requests(
        &self,
        query: &AzureDevOpsPullRequestQuery,
    ) -> Result<Vec<PullRequest>, SourceError> {
        let owner = format!("{}/{}", query.organization, query.project);
        let key = format!("{owner}/{}", query.repo);
        if let Some(recorded) = self.recorded_pulls(&owner, &query.repo) {
            return recorded;
        }
        let Some(client) = &self.azure_devops else {
            return Err(SourceError::Unavailable(format!(
                "pull requests of Azure DevOps repository {key} are not recorded and live Azure \
                 DevOps access is off (pass --pull-requests FILE, keyed by {key})"
            )));
        };
        let api = self.azure_devops_api(
            &query.api,
            &format!("pull requests of Azure DevOps repository {key}"),
            "pullRequests:",
            &key,
        )?;
        let token = match &query.token_ref {
            Some(token_ref) => Some(self.token_ref(token_ref, query.token_ref_strict).await?),
            None => None,
        };
        let q = azure_devops::AzurePullsQuery {
            api,
            organization: query.organization.clone(),
            project: query.project.clone(),
            repo: query.repo.clone(),
            token: token.filter(|t| !t.is_empty()),
        };
        Ok(client.pull_requests(&q).await?.as_ref().clone())
    }

    /// The Azure DevOps base URL `api` names (empty: `https://dev.azure.com`), or the error
    /// saying this process asks only that one ([`LiveConfig::public_forge_apis_only`]). `what` is not recorded; it would be under `section`, keyed
    /// by `key`.
    fn azure_devops_api(
        &self,
        api: &str,
        what: &str,
        section: &str,
        key: &str,
    ) -> Result<String, SourceError> {
        let api = AzureDevOps::api_of(api);
        self.public_api_only(
            "Azure DevOps",
            &api,
            azure_devops::DEFAULT_API,
            what,
            &format!("`{section}`, keyed by {key}"),
        )?;
        Ok(api)
    }

    async fn kube_client(&self) -> Result<kube::Client, String> {
        self.kube
            .get_or_init(|| async { kube::Client::try_default().await.map_err(|e| e.to_string()) })
            .await
            .clone()
    }
}

/// What the API server said (its `message`), or why it could not be asked (the error's causes).
fn kube_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => status.message.clone(),
        other => crate::text::causes(crate::text::error_chain(other)),
    }
}

/// Whether the recorded object `o` is one that a live list of `query` returns: its `apiVersion`,
/// the plural of its `kind` (kube's rule: `PlacementDecision` is `placementdecisions`), its
/// namespace (none: any), and its name or its labels (`labels`: the query's selector).
fn recorded_selected(
    o: &DynamicObject,
    query: &ResourceQuery,
    labels: Option<&kube::core::Selector>,
) -> bool {
    let r = &query.resource;
    let Some(types) = &o.types else {
        return false;
    };
    let gvk = kube::api::GroupVersionKind::gvk(&r.group, &r.version, &types.kind);
    if types.api_version != r.api_version() || kube::api::ApiResource::from_gvk(&gvk).plural != r.plural {
        return false;
    }
    if o.metadata
        .namespace
        .as_deref()
        .is_some_and(|ns| ns != query.namespace)
    {
        return false;
    }
    match (&query.selection, labels) {
        (Selection::Name(n), _) => o.metadata.name.as_deref() == Some(n.as_str()),
        (Selection::Labels(_), Some(sel)) => sel.matches(&o.metadata.labels.clone().unwrap_or_default()),
        (Selection::Labels(_), None) => false,
    }
}

/// A label selector as kube's [`kube::core::Selector`] (which matches recorded objects and
/// prints the `?labelSelector=` of a live list).
fn label_selector(l: &LabelSelector) -> Result<kube::core::Selector, SourceError> {
    kube::core::Selector::try_from(l.clone())
        .map_err(|e| SourceError::Resource(format!("invalid label selector: {}", e.0)))
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
        project: &'a str,
    ) -> BoxFuture<'a, Result<Arc<GitTree>, SourceError>> {
        Box::pin(async move {
            if let Some(r) = self.recorded_repo(repo_url) {
                return Ok(r.resolve(repo_url, revision)?.tree.clone());
            }
            let g = self.live_git(repo_url)?;
            let access = self.access(repo_url, project).await?;
            let (url, rev) = (repo_url.to_string(), revision.to_string());
            blocking(move || g.tree_as(&url, &rev, &access)).await
        })
    }

    fn git_read<'a>(
        &'a self,
        repo_url: &'a str,
        sha: &'a str,
        paths: Vec<String>,
        project: &'a str,
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
            let access = self.access(repo_url, project).await?;
            let (url, sha) = (repo_url.to_string(), sha.to_string());
            blocking(move || g.read_files_as(&url, &sha, &paths, &access)).await
        })
    }

    fn git_branches<'a>(
        &'a self,
        repo_url: &'a str,
        project: &'a str,
    ) -> BoxFuture<'a, Result<Vec<GitBranch>, SourceError>> {
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
            let access = self.access(repo_url, project).await?;
            let url = repo_url.to_string();
            blocking(move || g.branches_as(&url, &access)).await
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
                let what = if self.live.inputs_by_request {
                    "send them with the request, as `inputs.clusters` (a list of Argo CD cluster \
                     Secrets) beside `applicationSet` in a JSON body, or as `clusters:` in a second \
                     YAML document after the ApplicationSet"
                } else {
                    "pass --clusters FILE, or record them as `clusters:` in the file's recorded \
                     inputs"
                };
                return Err(SourceError::Unavailable(format!(
                    "cluster Secrets are not recorded and this process reads no cluster: {what}"
                )));
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
            let query = match query {
                PullRequestQuery::GitHub(q) => q,
                PullRequestQuery::GitLab(q) => return self.merge_requests(q).await,
                PullRequestQuery::Gitea(q) => return self.gitea_pull_requests(q).await,
                PullRequestQuery::BitbucketServer(q) => return self.bitbucket_server_pull_requests(q).await,
                PullRequestQuery::BitbucketCloud(q) => return self.bitbucket_cloud_pull_requests(q).await,
                PullRequestQuery::AzureDevOps(q) => return self.azure_devops_pull_requests(q).await,
            };
            if let Some(recorded) = self.recorded_pulls(&query.owner, &query.repo) {
                return recorded;
            }
            let key = format!("{}/{}", query.owner, query.repo);
            let Some(github) = &self.github else {
                return Err(SourceError::Unavailable(format!(
                    "pull requests of {key} are not recorded and live GitHub access is off \
                     (pass --pull-requests FILE)"
                )));
            };
            self.public_api_only(
                "GitHub",
                &query.api,
                self.live.github_api.as_deref().unwrap_or(github::DEFAULT_API),
                &format!("pull requests of {key}"),
                &format!("`pullRequests:`, keyed by {key}"),
            )?;
            let auth = self.github_auth(query).await?;
            let q = github::PullsQuery {
                api: query.api.clone(),
                owner: query.owner.clone(),
                repo: query.repo.clone(),
                auth,
            };
            Ok(github
                .pull_requests_for(&q, self.appset.as_ref())
                .await?
                .as_ref()
                .clone())
        })
    }

    fn scm_provider<'a>(
        &'a self,
        query: &'a ScmQuery,
    ) -> BoxFuture<'a, Result<Box<dyn ScmProvider + 'a>, SourceError>> {
        Box::pin(self.scm(query))
    }

    fn plugin_params<'a>(
        &'a self,
        query: &'a PluginQuery,
    ) -> BoxFuture<'a, Result<Vec<Map<String, Value>>, SourceError>> {
        Box::pin(async move {
            if let Some(answers) = &self.recorded.plugins {
                if let Some(a) = answers
                    .iter()
                    .find(|a| a.config_map == query.config_map && a.input.parameters == query.parameters)
                {
                    return Ok(a.output.parameters.clone());
                }
                return Err(SourceError::Unavailable(format!(
                    "no recorded answer of the plugin of ConfigMap {} for the input {{\"parameters\": {}}} \
                     (recorded plugin answers replace live plugin calls; record one under `plugins:`)",
                    query.config_map,
                    Value::Object(query.parameters.clone())
                )));
            }
            if !self.live.plugins {
                let what = if self.live.inputs_by_request {
                    "send its answers with the request, as `plugins:` in the recorded inputs"
                } else {
                    "record its answers as `plugins:` in the file's recorded inputs"
                };
                return Err(SourceError::Unavailable(format!(
                    "the answers of the plugin of ConfigMap {} are not recorded and this process \
                     calls no plugin service: {what}",
                    query.config_map
                )));
            }
            self.live_plugin(query).await
        })
    }

    fn config_map<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<BTreeMap<String, String>, SourceError>> {
        Box::pin(async move {
            self.config_map_or(namespace, name, "")
                .await
                .map_err(SourceError::Resource)
        })
    }

    fn list_resources<'a>(
        &'a self,
        query: &'a ResourceQuery,
    ) -> BoxFuture<'a, Result<Vec<DynamicObject>, SourceError>> {
        Box::pin(self.resources(query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_repositories_match_urls_without_git_suffix_slash_or_host_case() {
        let recorded: Recorded =
            serde_saphyr::from_str("git: {'https://github.com/a/b.git': {files: {x/y: ''}}}").unwrap();
        let inputs = Inputs::recorded(recorded);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let tree = rt
            .block_on(inputs.git_tree("https://GitHub.com/a/b/", "HEAD", "default"))
            .unwrap();
        assert_eq!(tree.directories, ["x"]);
        let other = rt.block_on(inputs.git_tree("https://github.com/a/B.git", "HEAD", "default"));
        assert!(
            matches!(other, Err(SourceError::Unavailable(_))),
            "paths stay case-sensitive"
        );
    }
}
