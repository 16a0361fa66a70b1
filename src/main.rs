//! The `appset` command line: `render` (no cluster needed when the inputs are recorded), `serve` (the templating
//! service over HTTP), `run` (the controller), `install` and `crds`.
//!
//! Stage: entry point (I/O: reads files and standard input, prints to stdout/stderr, listens for
//! `serve` and `run`). Every command runs the same engine, `appset::pipeline`; it reaches git,
//! GitHub and the Kubernetes API only through `appset::sources`.

use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context, Result};
use appset::{
    crd,
    generators::git::GitOptions,
    pipeline::{self, Options},
    rollout::preview::{self, Preview},
    sources::{self, Live, LiveConfig, PullRequest, Recorded, RepoOverride, credentials::RepoCredentials},
};
use clap::{Parser, Subcommand, ValueEnum};
use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

/// mimalloc returns freed memory to the system far more readily than glibc's per-thread arenas
/// (measured: resident memory of a controller owning 10 000 Applications, see BENCHMARKS.md).
///
/// The `system-allocator` feature leaves it out, for heap profilers that follow malloc.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its index in `mi_option_e`, the same in mimalloc 2 and 3;
/// libmimalloc-sys names only some options).
#[cfg(not(feature = "system-allocator"))]
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Return freed memory to the system at once. mimalloc purges freed pages only after a delay
/// (1 s in mimalloc 3) and only when it is next called, so in a controller that goes idle after
/// a large reconcile, that reconcile's peak would stay resident until the next one. Measured:
/// 156 → 74 MiB resident for 10 000 owned Applications, no measurable cost to `appset render`.
#[allow(unsafe_code)]
fn purge_freed_memory_at_once() {
    #[cfg(not(feature = "system-allocator"))]
    // SAFETY: `mi_option_set` stores an option value; it has no preconditions and is called
    // before any other thread exists.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
}

/// Back the process's memory with 4 KiB pages only. Where the kernel backs anonymous memory with
/// transparent huge pages (`always`, as on Debian), every 2 MiB region mimalloc touches is
/// zeroed and kept resident whole, however little of it is used. Measured (BENCHMARKS.md):
/// `appset render -o names` of 10 000 Applications peaks at 35 MiB instead of 55 MiB, in the
/// same time. Best effort: a kernel without the flag keeps its setting.
fn small_pages_only() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!("transparent huge pages stay as the kernel sets them: {e}");
    }
}

/// Argo CD ApplicationSets, rendered by a Rust engine.
#[derive(Parser, Debug)]
#[command(name = "appset", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Render ApplicationSet files to the Applications Argo CD would create (no cluster needed).
    ///
    /// Each FILE holds one or more ApplicationSets (YAML documents, or a `kind: List`) and,
    /// optionally, the inputs they read (git trees, cluster Secrets, pull requests: a `kind:
    /// RecordedInputs` document, or a second document without a kind), so they render with no
    /// network. A set that fails prints nothing and the exit status is 1; the others still print.
    /// Use `-` for standard input.
    Render(RenderArgs),
    /// Run the controller: keep each ApplicationSet's Applications equal to what it generates
    /// (kubeconfig or in-cluster credentials). Every flag is also an environment variable.
    Run(Box<RunArgs>),
    /// Serve the engine over HTTP (no cluster needed): the playground page at `/`, `POST
    /// /v1/render` and `POST /v1/diff`, with `/metrics`, `/healthz` and `/readyz`. Every flag is
    /// also an environment variable.
    Serve(Box<ServeArgs>),
    /// Print what running appset in a cluster needs: the CRDs, a ServiceAccount, RBAC and a
    /// Deployment (pipe into `kubectl apply -f -`).
    Install(InstallArgs),
    /// Release appset's finalizer (`appset.io/cleanup`) from every ApplicationSet, so that
    /// deleting one never waits for an appset that is gone (run before removing appset, e.g. to
    /// go back to Argo CD's ApplicationSet controller). Kubeconfig or in-cluster credentials.
    Uninstall(UninstallArgs),
    /// Print the CustomResourceDefinitions (ApplicationSet and Application) as YAML.
    Crds {
        /// Write `applicationset.yaml` and `application.yaml` into DIR instead of printing.
        #[arg(long, value_name = "DIR")]
        split: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
struct RenderArgs {
    /// ApplicationSet files (YAML or JSON); `-` reads standard input.
    #[arg(required_unless_present = "diff", value_name = "FILE")]
    files: Vec<PathBuf>,

    /// Instead of rendering, show what changing the ApplicationSet in OLD to the one in NEW
    /// would do: Applications created, updated (with the changed fields) and deleted. `-o json`
    /// for JSON, `-o names` for one `+`/`~`/`-` line per Application. Files with several sets
    /// are compared set by set, paired by namespace and name, into one diff.
    #[arg(long, num_args = 2, value_names = ["OLD", "NEW"], conflicts_with = "files")]
    diff: Option<Vec<PathBuf>>,

    /// With --diff, the exit status says what the change does, as `git diff --exit-code`: 0
    /// nothing, 1 Applications created or updated, 2 Applications deleted (a CI job can stop
    /// on deletions).
    #[arg(long, requires = "diff")]
    exit_code: bool,

    /// Read git repository URL from the local repository PATH instead (repeatable). Its checked-out
    /// branch (or HEAD) is read from the working tree, uncommitted and untracked-but-not-ignored
    /// files included; `URL=PATH@committed` reads commits only.
    #[arg(long = "repo", value_name = "URL=PATH", value_parser = parse_repo_override)]
    repos: Vec<RepoOverride>,

    /// Argo CD repository credentials: a YAML file, or a directory of them, holding the same
    /// `repository` / `repo-creds` Secrets (and `argocd-ssh-known-hosts-cm`,
    /// `argocd-tls-certs-cm`) an Argo CD installation keeps (repeatable).
    #[arg(long = "repo-creds", value_name = "FILE")]
    repo_creds: Vec<PathBuf>,

    /// Argo CD cluster Secrets (multi-document YAML) for the cluster generator, instead of the
    /// live cluster.
    #[arg(long, value_name = "FILE", env = "APPSET_CLUSTERS")]
    clusters: Option<PathBuf>,

    /// Pull requests for the pull-request generator: a YAML map `owner/repo` (GitLab: the
    /// project; Bitbucket Server: `project/repo`; Azure DevOps: `organization/project/repo`) →
    /// list of `{number, title, branch, targetBranch, headSha, labels, author, draft}`.
    #[arg(long = "pull-requests", value_name = "FILE", env = "APPSET_PULL_REQUESTS")]
    pull_requests: Option<PathBuf>,

    /// GitHub API base URL for pull-request generators that do not set `api` (GitHub
    /// Enterprise, or a local server in tests). Pull requests not given with `--pull-requests`
    /// are listed live; `GITHUB_TOKEN` from the environment authenticates every request.
    #[arg(long = "github-api", value_name = "URL", env = "APPSET_GITHUB_API")]
    github_api: Option<String>,

    /// Argo CD's namespace: cluster Secrets are read here, and ApplicationSets without a namespace
    /// are taken to live here.
    #[arg(long, value_name = "NS", default_value = "argocd", env = "APPSET_NAMESPACE")]
    namespace: String,

    /// Output format: `yaml` (Applications, multi-document), `json` (array of Applications),
    /// `params` (JSON array of the parameter sets, in order), `names` (one name per line),
    /// `steps` (the rollout: each RollingSync step with its Applications and `maxUpdate`
    /// batches, the Applications in no step, and the rollout configuration's problems).
    #[arg(short, long, value_enum, default_value_t = Output::Yaml)]
    output: Output,

    /// Read nothing live: no git fetch, no Kubernetes API, no forge API. Git repositories,
    /// cluster Secrets and pull requests come only from the file's recorded inputs, `--repo`,
    /// `--clusters` and `--pull-requests`; any other read fails, naming what to record or pass.
    /// For CI previews that must not depend on the network.
    #[arg(long, env = "APPSET_OFFLINE")]
    offline: bool,

    #[command(flatten)]
    git: GitArgs,
}

/// Argo CD's two installation-wide git generator switches, under Argo CD's flag and environment
/// names (`render`, `serve` and `run` take them alike).
#[derive(clap::Args, Debug, Clone, Copy)]
struct GitArgs {
    /// Git files generator: select files with doublestar globs (`**` any number of directories,
    /// `*` and `?` within one, `{a,b}`, `[...]`) instead of git pathspecs (where `*` crosses
    /// `/`); a pattern that selects a directory is then an error. Argo CD's controller flag. Env `ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_NEW_GIT_FILE_GLOBBING`.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false",
          action = clap::ArgAction::Set)]
    enable_new_git_file_globbing: bool,
    /// Git directories generator: also list hidden directories (name starting with `.`) and
    /// their subtrees. Argo CD's repo-server flag. Env `ARGOCD_REPO_SERVER_INCLUDE_HIDDEN_DIRECTORIES`.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false",
          action = clap::ArgAction::Set)]
    include_hidden_directories: bool,
}

impl GitArgs {
    fn options(self) -> GitOptions {
        GitOptions {
            enable_new_git_file_globbing: self.enable_new_git_file_globbing,
            include_hidden_directories: self.include_hidden_directories,
            ..GitOptions::default()
        }
    }
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Address to listen on: `HOST:PORT` (`localhost:8080`; port 0 picks a free one, and the
    /// address is printed at start).
    #[arg(long, env = "APPSET_LISTEN", default_value = "127.0.0.1:8080", value_parser = parse_listen_addr)]
    listen: std::net::SocketAddr,
    /// Argo CD's namespace: ApplicationSets without a namespace are taken to live here.
    #[arg(long, value_name = "NS", default_value = "argocd", env = "APPSET_NAMESPACE")]
    namespace: String,
    /// Read git repository URL from the local repository PATH instead (repeatable; the
    /// variable takes a comma-separated list); other repositories a request does not record are
    /// fetched live. Its checked-out branch (or HEAD) is read from the working tree;
    /// `URL=PATH@committed` reads commits only.
    #[arg(long = "repo", value_name = "URL=PATH", value_parser = parse_repo_override,
          env = "APPSET_REPOS", value_delimiter = ',')]
    repos: Vec<RepoOverride>,
    /// Argo CD repository credentials: a YAML file, or a directory of them, holding the same
    /// `repository` / `repo-creds` Secrets (and `argocd-ssh-known-hosts-cm`,
    /// `argocd-tls-certs-cm`) an Argo CD installation keeps (repeatable; the variable takes a
    /// comma-separated list).
    #[arg(
        long = "repo-creds",
        value_name = "FILE",
        env = "APPSET_REPO_CREDS",
        value_delimiter = ','
    )]
    repo_creds: Vec<PathBuf>,
    /// Bare-clone cache directory for live git reads (default ~/.cache/appset/git).
    #[arg(long, env = "APPSET_GIT_CACHE")]
    git_cache_dir: Option<PathBuf>,
    /// GitHub API base URL for pull-request generators without `api`.
    #[arg(long = "github-api", value_name = "URL", env = "APPSET_GITHUB_API")]
    github_api: Option<String>,
    /// Token for GitHub requests (pull requests a request does not record).
    #[arg(long = "github-token", env = "GITHUB_TOKEN", hide_env_values = true)]
    github_token: Option<String>,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, env = "APPSET_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Requests handled at once (429 beyond).
    #[arg(long, env = "APPSET_MAX_CONCURRENT_REQUESTS", default_value_t = 256)]
    max_concurrent_requests: usize,
    /// Seconds one request may take (408 beyond).
    #[arg(long, env = "APPSET_REQUEST_TIMEOUT_SECONDS", default_value_t = 30.0)]
    request_timeout_seconds: f64,
    /// Applications one ApplicationSet may generate (422 beyond).
    #[arg(long, env = "APPSET_MAX_APPLICATIONS", default_value_t = 10_000)]
    max_applications: usize,
    /// Parameter sets one matrix generator may produce (422 beyond).
    #[arg(long, env = "APPSET_MAX_MATRIX_PARAMS", default_value_t = 10_000)]
    max_matrix_params: usize,
    /// Fuel (minijinja instructions) one jinja template string may burn, whatever
    /// `jinjaOptions.fuel` asks for (422 beyond).
    #[arg(long, env = "APPSET_MAX_TEMPLATE_FUEL", default_value_t = 100_000)]
    max_template_fuel: u64,
    #[command(flatten)]
    git: GitArgs,
}

/// `appset run`'s settings. Each takes Argo CD's ApplicationSet controller flag name and its
/// environment variable (what `argocd-cmd-params-cm` feeds); appset's earlier names stay as
/// aliases (README, "Argo CD's configuration names").
#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Namespaces whose ApplicationSets are reconciled besides the controller's own,
    /// comma-separated: names, shell globs (`team-*`) or `/regex/`. Default: the controller's
    /// namespace only, as Argo CD (`*` serves every namespace). Env `ARGOCD_APPLICATIONSET_CONTROLLER_NAMESPACES`.
    #[arg(
        long = "applicationset-namespaces",
        visible_alias = "namespaces",
        value_name = "NS",
        value_delimiter = ','
    )]
    namespaces: Vec<String>,
    /// Argo CD's namespace: ApplicationSets are served there, cluster Secrets, repository
    /// credentials and GitHub App credentials are read there.
    #[arg(
        long,
        visible_alias = "namespace",
        env = "APPSET_CONTROLLER_NAMESPACE",
        default_value = "argocd"
    )]
    controller_namespace: String,
    /// Cluster-wide policy: sync, create-only, create-update or create-delete ("" is sync). Env `ARGOCD_APPLICATIONSET_CONTROLLER_POLICY`.
    #[arg(long, default_value = "")]
    policy: String,
    /// Let ApplicationSets choose their own policy (syncPolicy.applicationsSync). Default: true
    /// unless --policy is set (Argo CD's rule). Env `ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_POLICY_OVERRIDE`.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    enable_policy_override: Option<bool>,
    /// ApplicationSets reconciled at once. Env `ARGOCD_APPLICATIONSET_CONTROLLER_CONCURRENT_RECONCILIATIONS`.
    #[arg(long = "concurrent-reconciliations", visible_alias = "concurrency",
          default_value_t = 10,
          value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Application writes in flight at once within one reconcile (Argo CD's default is 1). Env `ARGOCD_APPLICATIONSET_CONTROLLER_CONCURRENT_APPLICATION_UPDATES`.
    #[arg(long, default_value_t = 16)]
    concurrent_application_updates: usize,
    /// Address of the HTTP server (/metrics, /healthz, /readyz, /api/webhook); `:8080` is every
    /// interface.
    #[arg(long = "metrics-addr", visible_alias = "listen", env = "APPSET_LISTEN", default_value = "0.0.0.0:8080",
          value_parser = parse_listen_addr)]
    listen: std::net::SocketAddr,
    /// Generate, plan and report (status, Events, logs) without writing Applications: every
    /// Application write is sent with the API server's dry run (`dryRun=All`). Env `ARGOCD_APPLICATIONSET_CONTROLLER_DRY_RUN`.
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", action = clap::ArgAction::Set)]
    dry_run: bool,
    /// Follow RollingSync strategies (progressive syncs): sync each step's Applications in order,
    /// within maxUpdate; off, `strategy` is ignored and `status.applicationStatus` cleared (Argo
    /// CD's default). Env `ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_PROGRESSIVE_SYNCS`.
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", action = clap::ArgAction::Set)]
    enable_progressive_syncs: bool,
    /// Log level: debug, info, warn or error (RUST_LOG, when set, wins). Env
    /// `ARGOCD_APPLICATIONSET_CONTROLLER_LOGLEVEL`.
    #[arg(long, default_value = "info",
          value_parser = ["debug", "info", "warn", "error"])]
    loglevel: String,
    /// Log format: text or json. Env `ARGOCD_APPLICATIONSET_CONTROLLER_LOGFORMAT`.
    #[arg(long, default_value = "text",
          value_parser = ["text", "json"])]
    logformat: String,
    /// Debug logs (takes precedence over --loglevel). Env `ARGOCD_APPLICATIONSET_CONTROLLER_DEBUG`.
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", action = clap::ArgAction::Set)]
    debug: bool,
    /// How often git generators without `requeueAfterSeconds` poll: Go durations (`3m`,
    /// `90s`, `1h30m`) or seconds. Env `ARGOCD_APPLICATIONSET_CONTROLLER_REQUEUE_AFTER`.
    #[arg(long, default_value = "3m",
          value_parser = parse_go_duration)]
    requeue_after: std::time::Duration,
    /// Webhook events processed at once (more wait for a slot). Env `ARGOCD_APPLICATIONSET_CONTROLLER_WEBHOOK_PARALLELISM_LIMIT`.
    #[arg(long, default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    webhook_parallelism_limit: u32,
    /// Custom SCM/pull-request API URLs generators may use, comma-separated (empty: any). A
    /// generator's `api` not on the list is refused. Env `ARGOCD_APPLICATIONSET_CONTROLLER_ALLOWED_SCM_PROVIDERS`.
    #[arg(long, value_delimiter = ',')]
    allowed_scm_providers: Vec<String>,
    /// Pull-request (and SCM provider) generators may call their forge's API. Env `ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_SCM_PROVIDERS`.
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "true", action = clap::ArgAction::Set)]
    enable_scm_providers: bool,
    /// A generator's `tokenRef` Secret must carry `argocd.argoproj.io/secret-type: scm-creds`. Env `ARGOCD_APPLICATIONSET_CONTROLLER_TOKENREF_STRICT_MODE`.
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", action = clap::ArgAction::Set)]
    token_ref_strict_mode: bool,
    /// Accepted for Argo CD's manifests: appset always reports argocd_github_api_* metrics. Env `ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_GITHUB_API_METRICS`.
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", action = clap::ArgAction::Set,
          hide = true)]
    enable_github_api_metrics: bool,
    /// Bare-clone cache directory for git generators (default ~/.cache/appset/git).
    #[arg(long, env = "APPSET_GIT_CACHE")]
    git_cache_dir: Option<PathBuf>,
    /// Delete budget: at most this many Applications deleted per reconcile of one
    /// ApplicationSet (default unlimited, as Argo CD); the annotation appset.io/max-deletes
    /// overrides it per ApplicationSet.
    #[arg(long, env = "APPSET_MAX_DELETES")]
    max_deletes: Option<usize>,
    /// Entries kept in status.resources (0: all); status.resourcesCount is always the total. Env `ARGOCD_APPLICATIONSET_CONTROLLER_MAX_RESOURCES_STATUS_COUNT`.
    #[arg(long, default_value_t = 5000)]
    max_resources_status_count: usize,
    /// Extra annotation keys whose live values are kept, comma-separated. Env `ARGOCD_APPLICATIONSET_CONTROLLER_GLOBAL_PRESERVED_ANNOTATIONS`.
    #[arg(long, value_delimiter = ',')]
    preserved_annotations: Vec<String>,
    /// Extra label keys whose live values are kept, comma-separated. Env `ARGOCD_APPLICATIONSET_CONTROLLER_GLOBAL_PRESERVED_LABELS`.
    #[arg(long, value_delimiter = ',')]
    preserved_labels: Vec<String>,
    /// GitHub API base URL for pull-request generators without `api`.
    #[arg(long = "github-api", env = "APPSET_GITHUB_API")]
    github_api: Option<String>,
    /// Token for pull-request generators without tokenRef/appSecretName.
    #[arg(long = "github-token", env = "GITHUB_TOKEN", hide_env_values = true)]
    github_token: Option<String>,
    /// Seconds a pull-request listing is shared by all ApplicationSets before GitHub is asked again.
    #[arg(long, env = "APPSET_GITHUB_MAX_AGE_SECONDS", default_value_t = 30)]
    github_max_age_seconds: u64,
    /// Elect a leader among replicas on a coordination.k8s.io Lease; only the leader writes. Env `ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_LEADER_ELECTION`.
    #[arg(long = "enable-leader-election", visible_alias = "leader-elect",
          num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Namespace of the Lease (default: --controller-namespace).
    #[arg(long, env = "APPSET_LEASE_NAMESPACE")]
    lease_namespace: Option<String>,
    /// Name of the Lease.
    #[arg(long, env = "APPSET_LEASE_NAME", default_value = "appset-controller")]
    lease_name: String,
    /// Seconds a Lease lasts without renewal.
    #[arg(long, env = "APPSET_LEASE_DURATION_SECONDS", default_value_t = 15)]
    lease_duration_seconds: u64,
    /// This replica's identity in the Lease (default: the pod name, else hostname and pid); also
    /// in the User-Agent of its requests to the API server, so audit logs tell replicas apart.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Divide the ApplicationSets among the replicas by shard Leases (named after --lease-name):
    /// `auto` (12 shards; each live replica takes its fair share, rebalanced as replicas join
    /// and leave), `auto:COUNT`, or `none`. Every replica must use the same count. A set's shard
    /// is a hash of namespace/name. Env `APPSET_SHARDS`.
    #[arg(long, env = "APPSET_SHARDS", value_name = "auto|auto:COUNT|none",
          value_parser = parse_shards, conflicts_with_all = ["shard", "leader_elect"])]
    shards: Option<appset::shard::Sharding>,
    /// Reconcile only shard N of COUNT (numbered from 0), holding that shard's Lease: a fixed
    /// split, one Deployment per shard. Env `APPSET_SHARD`.
    #[arg(long, env = "APPSET_SHARD", value_name = "N/COUNT", value_parser = parse_shard,
          conflicts_with = "leader_elect")]
    shard: Option<appset::shard::Sharding>,
    /// With sharding: the base URL at which the other replicas reach this one's webhook
    /// endpoint, put on the shard Leases it holds; a replica that receives a webhook for sets of
    /// this one's shards forwards it there. Default: `http://$POD_IP:PORT` (PORT of
    /// --metrics-addr) when POD_IP is set; with neither, the others refresh this replica's sets
    /// through the refresh annotation instead.
    #[arg(long, env = "APPSET_ADVERTISE_URL")]
    advertise_url: Option<String>,
    /// ApplicationSet label keys added to the argocd_appset_labels metric (Argo CD's flag;
    /// repeatable or comma-separated; none: the metric is off).
    #[arg(long, env = "APPSET_METRICS_APPLICATIONSET_LABELS", value_delimiter = ',')]
    metrics_applicationset_labels: Vec<String>,
    /// Shared secret of GitHub webhooks (`POST /api/webhook`, verified with
    /// X-Hub-Signature-256). Default: `webhook.github.secret` of the Secret `argocd-secret` in
    /// --controller-namespace, as Argo CD; without either, webhooks are refused.
    #[arg(long, env = "APPSET_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    /// Secret token of GitLab webhooks (`POST /api/webhook` with X-Gitlab-Event, verified with
    /// X-Gitlab-Token). Default: `webhook.gitlab.secret` of the Secret `argocd-secret` in
    /// --controller-namespace, as Argo CD; without either, GitLab events are refused.
    #[arg(long, env = "APPSET_WEBHOOK_GITLAB_SECRET", hide_env_values = true)]
    webhook_gitlab_secret: Option<String>,
    /// Secret of Gitea, Forgejo and Gogs webhooks (`POST /api/webhook` with X-Gitea-Event,
    /// X-Forgejo-Event or X-Gogs-Event, verified with the hex HMAC-SHA256 in X-Gitea-Signature,
    /// X-Forgejo-Signature or X-Gogs-Signature). Default: `webhook.gitea.secret`, else Argo CD's
    /// `webhook.gogs.secret`, of the Secret `argocd-secret` in --controller-namespace; without
    /// any, these events are refused.
    #[arg(long, env = "APPSET_WEBHOOK_GITEA_SECRET", hide_env_values = true)]
    webhook_gitea_secret: Option<String>,
    /// Secret of Bitbucket Server / Data Center webhooks (X-Event-Key, verified with
    /// `X-Hub-Signature: sha256=…`). Default: `webhook.bitbucketserver.secret` of `argocd-secret`,
    /// as Argo CD; without either, Bitbucket Server events are refused.
    #[arg(long, env = "APPSET_WEBHOOK_BITBUCKET_SERVER_SECRET", hide_env_values = true)]
    webhook_bitbucket_server_secret: Option<String>,
    /// UUID of the Bitbucket Cloud webhook (compared with X-Hook-UUID). Default:
    /// `webhook.bitbucket.uuid` of `argocd-secret`, as Argo CD. Bitbucket Cloud events are
    /// refused unless this or --webhook-bitbucket-secret is set; each one set must match.
    #[arg(long, env = "APPSET_WEBHOOK_BITBUCKET_UUID", hide_env_values = true)]
    webhook_bitbucket_uuid: Option<String>,
    /// Secret of Bitbucket Cloud webhooks (verified with `X-Hub-Signature: sha256=…`). Default:
    /// `webhook.bitbucket.secret` of `argocd-secret` (appset's key; Argo CD has none).
    #[arg(long, env = "APPSET_WEBHOOK_BITBUCKET_SECRET", hide_env_values = true)]
    webhook_bitbucket_secret: Option<String>,
    /// Username of Azure DevOps service hooks' basic authentication (X-Vss-ActivityId). Default:
    /// `webhook.azuredevops.username` of `argocd-secret`, as Argo CD.
    #[arg(long, env = "APPSET_WEBHOOK_AZUREDEVOPS_USERNAME", hide_env_values = true)]
    webhook_azuredevops_username: Option<String>,
    /// Password of Azure DevOps service hooks' basic authentication. Default:
    /// `webhook.azuredevops.password` of `argocd-secret`, as Argo CD; without a password, Azure
    /// DevOps events are refused.
    #[arg(long, env = "APPSET_WEBHOOK_AZUREDEVOPS_PASSWORD", hide_env_values = true)]
    webhook_azuredevops_password: Option<String>,
    #[command(flatten)]
    git: GitArgs,
}

#[derive(clap::Args, Debug)]
struct InstallArgs {
    /// Namespace to install into (Argo CD's namespace).
    #[arg(long, default_value = "argocd", value_parser = parse_namespace)]
    namespace: String,
    /// Other namespaces whose ApplicationSets appset serves (as `run`'s flag): passed to the
    /// controller, and each exact name gets a Role to read the Secrets a `tokenRef` names there.
    #[arg(long = "applicationset-namespaces", value_name = "NS", value_delimiter = ',')]
    namespaces: Vec<String>,
    /// Container image of appset, as built from the repository's Containerfile and pushed to a
    /// registry the cluster pulls from (README, "Container image"); there is no published image
    /// to default to.
    #[arg(long, value_name = "IMAGE")]
    image: String,
    /// Replicas (leader election on when more than one).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    replicas: u32,
    /// Which CustomResourceDefinitions to print: `auto` only those the cluster does not have yet
    /// (it asks the cluster, and says on stderr what it left out: a CRD Argo CD installed is never
    /// replaced), `always` both, `never` none.
    #[arg(long, value_enum, default_value = "auto")]
    crds: CrdsMode,
    /// The same as `--crds never`.
    #[arg(long)]
    no_crds: bool,
}

#[derive(clap::Args, Debug)]
struct UninstallArgs {
    /// Namespaces whose ApplicationSets are released (repeatable; none: every namespace).
    #[arg(long = "namespace", value_name = "NS")]
    namespaces: Vec<String>,
}

/// `appset install --crds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CrdsMode {
    /// Only the CRDs the cluster does not have.
    Auto,
    /// Both CRDs, replacing what the cluster has.
    Always,
    /// No CRD.
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Yaml,
    Json,
    Params,
    Names,
    Steps,
}

/// A listen address: `IP:PORT`, `HOST:PORT` (resolved, e.g. `localhost:8080`), or Argo CD's
/// `:PORT` (every interface).
fn parse_listen_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    if let Ok(addr) = full.parse() {
        return Ok(addr);
    }
    let resolved: Vec<std::net::SocketAddr> = full
        .to_socket_addrs()
        .map_err(|e| format!("expected HOST:PORT or :PORT, got {s:?}: {e}"))?
        .collect();
    // IPv4 first: `localhost` then means 127.0.0.1, which every client reaches.
    resolved
        .iter()
        .find(|a| a.is_ipv4())
        .or(resolved.first())
        .copied()
        .ok_or_else(|| format!("{s:?} resolves to no address"))
}

/// A Go duration (`3m`, `90s`, `1h30m`, `1.5h`, `500ms`) or a number of seconds.
fn parse_go_duration(s: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("expected a duration such as 3m, 90s or 1h30m, got {s:?}");
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    std::time::Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// `--shards`: `auto`, `auto:COUNT` or `none`.
fn parse_shards(s: &str) -> Result<appset::shard::Sharding, String> {
    match s.parse::<appset::shard::Sharding>().map_err(|e| e.to_string())? {
        appset::shard::Sharding::Fixed { .. } => Err(format!(
            "{s:?} is one shard: use --shard {s} (--shards takes auto, auto:COUNT or none)"
        )),
        sharding => Ok(sharding),
    }
}

/// `--shard`: `N/COUNT`.
fn parse_shard(s: &str) -> Result<appset::shard::Sharding, String> {
    match s.parse::<appset::shard::Sharding>().map_err(|e| e.to_string())? {
        fixed @ appset::shard::Sharding::Fixed { .. } => Ok(fixed),
        _ => Err(format!(
            "{s:?} is not one shard: --shard takes N/COUNT (for auto, use --shards {s})"
        )),
    }
}

/// A Kubernetes namespace name (an RFC 1123 label).
fn parse_namespace(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a namespace name: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
        ))
    }
}

fn parse_repo_override(s: &str) -> Result<RepoOverride, String> {
    s.parse()
}

/// Argo CD's environment variables (what `argocd-cmd-params-cm` feeds its ApplicationSet
/// controller), the flag each sets, and the commands that take it. A variable counts when it is
/// set and not empty (an empty ConfigMap entry means the default, as in Argo CD) and the flag is
/// not given.
const ARGO_ENV: [(&str, &str, &[&str]); 22] = [
    (
        "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_NEW_GIT_FILE_GLOBBING",
        "--enable-new-git-file-globbing",
        &["render", "serve", "run"],
    ),
    (
        "ARGOCD_REPO_SERVER_INCLUDE_HIDDEN_DIRECTORIES",
        "--include-hidden-directories",
        &["render", "serve", "run"],
    ),
    (
        "ARGOCD_APPLICATIONSET_CONTROLLER_NAMESPACES",
        "--applicationset-namespaces",
        &["run"],
    ),
    ("ARGOCD_APPLICATIONSET_CONTROLLER_POLICY", "--policy", &["run"]),
    (
        "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_POLICY_OVERRIDE",
        "--enable-policy-override",
        &["run"],
    ),
    (
        "ARGOCD_APPLICATIONSET_CONTROLLER_CONCURRENT_RECONCILIATIONS",
        "--concurrent-reconciliations",
        &["run"],
    ),
    (
        "ARGOCD_APPLICATIONSET_CONTROLLER_CONCURRENT_APPLICATION_UPDATES",
        "--concurrent-application-updates",
        &["run"],
    ),
    ("ARGOCD_APPLICATIONSET_CONTROLLER_DRY_RUN", "--dry-run", &["run"]),
    (
        "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_PROGRESSIVE_SYNCS",
        "--enable-progressive-syncs",
        &["run"],
    ),
    (
        "ARGOCD_APPLICATIONSET_CONTROLLER_LOGLEVEL",
        "--loglevel",
        &["run"],
    ),
    (
        "ARGOCD_APPLICATIONSET_CONTROLLER_LOGFORMAT",
        "--logformat",
        &["run"],
    ),
    ("ARGOCD_APPLICATIONSET_CONTROLLER_DEBUG", "--debug", &["run"]),
    (
        "ARGOCD_APPLICATIONSET_CONTROLLER_REQUEUE_AFTER",
        "--requeue-after",
        &["run"],
    ),
    (
        "ARGOCD_APPLICATIONSET_CONTROLLER_WEBHOOK_PARALLELISM_LIMIT",
        "--webhook-parallelism-limit",
        &["run"],
    ),
    (
        "ARGOCD_APPLICATIONSET_CONTROLLER_ALLOWED_SCM_PROVIDERS",
        "--allowed-scm-providers",
        &["run"],
    ),
    (
        "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_SCM_PROVIDERS",
        "--enable-scm-providers",
        &["run"],
    ),
    (
        "ARGOCD_APPLICATIONSET_CONTROLLER_TOKENREF_STRICT_MODE",
        "--token-ref-strict-mode",
        &["run"],
    ),
    (
        "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_GITHUB_API_METRICS",
        "--enable-github-api-metrics",
        &["run"],
    ),
    (
        "ARGOCD_APPLICATIONSET_CONTROLLER_MAX_RESOURCES_STATUS_COUNT",
        "--max-resources-status-count",
        &["run"],
    ),
    (
        "ARGOCD_APPLICATIONSET_CONTROLLER_GLOBAL_PRESERVED_ANNOTATIONS",
        "--preserved-annotations",
        &["run"],
    ),
    (
        "ARGOCD_APPLICATIONSET_CONTROLLER_GLOBAL_PRESERVED_LABELS",
        "--preserved-labels",
        &["run"],
    ),
    (
        "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_LEADER_ELECTION",
        "--enable-leader-election",
        &["run"],
    ),
];

/// appset's earlier environment variables of `appset run` and the Argo CD variable each now
/// stands for; the earlier name counts only when Argo CD's is not set.
const EARLIER_RUN_ENV: [(&str, &str); 9] = [
    ("APPSET_NAMESPACES", "ARGOCD_APPLICATIONSET_CONTROLLER_NAMESPACES"),
    ("APPSET_POLICY", "ARGOCD_APPLICATIONSET_CONTROLLER_POLICY"),
    (
        "APPSET_ENABLE_POLICY_OVERRIDE",
        "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_POLICY_OVERRIDE",
    ),
    (
        "APPSET_CONCURRENCY",
        "ARGOCD_APPLICATIONSET_CONTROLLER_CONCURRENT_RECONCILIATIONS",
    ),
    (
        "APPSET_CONCURRENT_APPLICATION_UPDATES",
        "ARGOCD_APPLICATIONSET_CONTROLLER_CONCURRENT_APPLICATION_UPDATES",
    ),
    (
        "APPSET_MAX_RESOURCES_STATUS_COUNT",
        "ARGOCD_APPLICATIONSET_CONTROLLER_MAX_RESOURCES_STATUS_COUNT",
    ),
    (
        "APPSET_PRESERVED_ANNOTATIONS",
        "ARGOCD_APPLICATIONSET_CONTROLLER_GLOBAL_PRESERVED_ANNOTATIONS",
    ),
    (
        "APPSET_PRESERVED_LABELS",
        "ARGOCD_APPLICATIONSET_CONTROLLER_GLOBAL_PRESERVED_LABELS",
    ),
    (
        "APPSET_LEADER_ELECT",
        "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_LEADER_ELECTION",
    ),
];

/// The command line plus a `--flag=value` for each environment variable of [`ARGO_ENV`] (or
/// its earlier appset name, [`EARLIER_RUN_ENV`]) that is set, not empty, and whose flag (or its
/// alias) the command line does not give. The flag wins over the variable, as with cobra.
fn with_env_flags(
    args: Vec<std::ffi::OsString>,
    env: impl Fn(&str) -> Option<String>,
) -> Vec<std::ffi::OsString> {
    let Some(command) = args.get(1).and_then(|a| a.to_str()).map(str::to_string) else {
        return args;
    };
    let present = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let given = |flag: &str| {
        let alias = match flag {
            "--applicationset-namespaces" => "--namespaces",
            "--concurrent-reconciliations" => "--concurrency",
            "--enable-leader-election" => "--leader-elect",
            other => other,
        };
        args.iter().filter_map(|a| a.to_str()).any(|a| {
            [flag, alias]
                .iter()
                .any(|f| a == *f || a.strip_prefix(f).is_some_and(|rest| rest.starts_with('=')))
        })
    };
    let mut extra = Vec::new();
    for (var, flag, commands) in ARGO_ENV {
        if !commands.contains(&command.as_str()) || given(flag) {
            continue;
        }
        let earlier = || {
            EARLIER_RUN_ENV
                .iter()
                .find(|(_, argo)| *argo == var)
                .and_then(|(earlier, _)| present(earlier))
        };
        if let Some(value) = present(var).or_else(earlier) {
            extra.push(std::ffi::OsString::from(format!("{flag}={value}")));
        }
    }
    args.into_iter().chain(extra).collect()
}

/// Logs on stderr: RUST_LOG when set, else `level`, as text or JSON lines. Text is coloured only
/// on a terminal and when `NO_COLOR` is not set (<https://no-color.org>).
fn init_logging(level: &str, json: bool) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let ansi = colour_logs(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}

/// Whether text logs are coloured: on a terminal, unless `NO_COLOR` is set to anything but the
/// empty string.
fn colour_logs(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The default log filter of the commands a person runs and reads the answer of (`render`,
/// `crds`, `install`, `uninstall`): appset's own warnings only. Libraries' log lines (a GitHub or
/// Kubernetes client logging the error appset then reports in its own words) would come before
/// appset's `error:` line and say the same thing worse. RUST_LOG, when set, wins.
const CLI_LOG_FILTER: &str = "appset=warn";

/// Whether `e` is a write to a closed pipe (`appset crds | head -1`): Unix tools end quietly then.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    small_pages_only();
    // Long-running commands only: a render that purged every page it frees would fault fresh,
    // zeroed pages in again for what it allocates next.
    if matches!(
        std::env::args_os().nth(1).as_deref().and_then(|a| a.to_str()),
        Some("run" | "serve")
    ) {
        purge_freed_memory_at_once();
    }
    appset::install_crypto_provider();
    let cli = Cli::parse_from(with_env_flags(std::env::args_os().collect(), |k| {
        std::env::var(k).ok()
    }));
    match &cli.command {
        Command::Run(args) => init_logging(
            if args.debug { "debug" } else { &args.loglevel },
            args.logformat == "json",
        ),
        Command::Serve(_) => init_logging("warn", false),
        _ => init_logging(CLI_LOG_FILTER, false),
    }
    let result = match cli.command {
        Command::Render(args) => render_cmd(args),
        Command::Crds { split } => crds_cmd(split.as_deref()),
        Command::Run(args) => run_cmd(*args),
        Command::Serve(args) => serve_cmd(*args),
        Command::Install(args) => install_cmd(&args),
        Command::Uninstall(args) => uninstall_cmd(&args),
    };
    match result {
        Ok(code) => code,
        // The reader of stdout is gone (`| head`): nothing to say, and nobody to say it to.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // Each cause once: kube's and hyper's errors repeat their source in their message.
            eprintln!("error: {}", appset::text::causes(e.chain()));
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout)]
fn crds_cmd(split: Option<&Path>) -> Result<ExitCode> {
    if let Some(dir) = split {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (file, yaml) in crd::crd_yaml() {
            let path = dir.join(file);
            std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    for (i, (_, yaml)) in crd::crd_yaml().into_iter().enumerate() {
        if i > 0 {
            writeln!(out, "---")?;
        }
        write!(out, "{yaml}")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn read_input(path: &Path) -> Result<String> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading standard input")?;
        return Ok(s);
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Split a YAML stream into documents, as JSON values.
fn yaml_documents(text: &str, what: &Path) -> Result<Vec<Value>> {
    appset::file::documents(text).map_err(|e| anyhow::anyhow!("{}: {e}", what.display()))
}

/// The repository credentials of `--repo-creds` files and directories (their `.yaml`, `.yml` and
/// `.json` files). A credential Secret that cannot be used is an error naming it.
fn load_repo_creds(paths: &[PathBuf]) -> Result<std::sync::Arc<RepoCredentials>> {
    let mut docs = Vec::new();
    for path in paths {
        let mut files = Vec::new();
        if path.is_dir() {
            let entries = std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))?;
            for entry in entries {
                let file = entry?.path();
                let manifest = file
                    .extension()
                    .is_some_and(|e| e == "yaml" || e == "yml" || e == "json");
                if file.is_file() && manifest {
                    files.push(file);
                }
            }
            files.sort();
        } else {
            files.push(path.clone());
        }
        for file in files {
            docs.extend(yaml_documents(&read_input(&file)?, &file)?);
        }
    }
    let (creds, errors) = RepoCredentials::from_manifests(&docs);
    if let Some(first) = errors.first() {
        let more = errors
            .iter()
            .skip(1)
            .map(|e| format!("\n  and: {e}"))
            .collect::<String>();
        anyhow::bail!("--repo-creds: {first}{more}");
    }
    Ok(std::sync::Arc::new(creds))
}

fn load_clusters(path: &Path) -> Result<Vec<Secret>> {
    let documents = yaml_documents(&read_input(path)?, path)?;
    sources::parse_cluster_secrets(documents).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn load_pull_requests(path: &Path) -> Result<std::collections::BTreeMap<String, Vec<PullRequest>>> {
    let text = read_input(path)?;
    let doc: Value = serde_saphyr::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: malformed YAML: {e}", path.display()))?;
    sources::parse_pull_requests(doc).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// One ApplicationSet of a FILE, as `render` takes it.
struct Loaded {
    /// What its messages begin with: `FILE`, or `FILE: document N` when the file holds several
    /// ApplicationSets.
    origin: String,
    /// The set, or why it cannot be read (the message names the file and the set).
    appset: Result<crd::ApplicationSet, String>,
    /// The recorded inputs of its file.
    recorded: Recorded,
}

impl Loaded {
    /// Where the set lives and its name: how `--diff` pairs the sets of OLD and NEW.
    fn key(&self, default_namespace: &str) -> Option<(String, String)> {
        let meta = &self.appset.as_ref().ok()?.metadata;
        Some((
            meta.namespace
                .clone()
                .unwrap_or_else(|| default_namespace.to_string()),
            meta.name.clone().unwrap_or_default(),
        ))
    }
}

/// Every ApplicationSet of FILE, in order, with the recorded inputs of the file. A file that
/// cannot be read, or whose YAML or recorded inputs are malformed, is one entry holding the
/// error. Ignored fields are warnings and documents of other kinds notes, on stderr.
#[allow(clippy::print_stderr)]
fn load_file(path: &Path) -> Vec<Loaded> {
    let failed = |message: String| {
        vec![Loaded {
            origin: path.display().to_string(),
            appset: Err(message),
            recorded: Recorded::default(),
        }]
    };
    let text = match read_input(path) {
        Ok(text) => text,
        Err(e) => return failed(format!("{e:#}")),
    };
    let file = match appset::file::parse_sets(&text) {
        Ok(file) => file,
        Err(e) => return failed(format!("{}: {e}", path.display())),
    };
    for skipped in &file.skipped {
        eprintln!(
            "note: {}: {}: kind {} is not an ApplicationSet; skipped",
            path.display(),
            skipped.place,
            skipped.kind
        );
    }
    let several = file.sets.len() > 1;
    file.sets
        .into_iter()
        .map(|set| {
            let origin = if several {
                format!("{}: {}", path.display(), set.place)
            } else {
                path.display().to_string()
            };
            let label = set.label();
            for field in &set.ignored_fields {
                eprintln!("warning: {origin}: ApplicationSet {label}: unknown field {field} ignored");
            }
            Loaded {
                appset: set.appset.map_err(|e| format!("{origin}: {e}")),
                origin,
                recorded: file.recorded.clone(),
            }
        })
        .collect()
}

/// `render --diff`: the Applications of OLD's sets against NEW's. One set on each side: those
/// two. Otherwise set by set, paired by namespace and name (a set only in OLD deletes its
/// Applications, one only in NEW creates them), added up into one diff.
fn diff_files(
    old: Vec<(Option<(String, String)>, pipeline::Output)>,
    new: Vec<(Option<(String, String)>, pipeline::Output)>,
    files: &[PathBuf],
) -> Result<appset::diff::Diff> {
    let diff =
        |before: &[Value], after: &[Value]| appset::diff::diff(before, after, appset::diff::Before::Rendered);
    if let ([(old_key, before)], [(new_key, after)]) = (old.as_slice(), new.as_slice()) {
        // One set on each side is compared whatever its name, but a different name is more
        // likely two unrelated files than a rename: say so.
        if old_key != new_key {
            let name = |k: &Option<(String, String)>| {
                k.as_ref()
                    .map(|(ns, n)| {
                        if ns.is_empty() {
                            n.clone()
                        } else {
                            format!("{ns}/{n}")
                        }
                    })
                    .unwrap_or_default()
            };
            eprintln!(
                "warning: {} holds ApplicationSet {:?} and {} holds {:?}: compared as one set \
                 changed (a rename deletes every Application of the old name's set in a cluster)",
                files[0].display(),
                name(old_key),
                files[1].display(),
                name(new_key)
            );
        }
        return Ok(diff(&before.applications, &after.applications));
    }
    let by_key = |sets: Vec<(Option<(String, String)>, pipeline::Output)>, file: &Path| {
        let mut out: Vec<((String, String), Vec<Value>)> = Vec::new();
        for (key, output) in sets {
            let key = key.unwrap_or_default();
            if out.iter().any(|(k, _)| *k == key) {
                anyhow::bail!(
                    "{}: two ApplicationSets named {}/{}: --diff pairs the sets of OLD and NEW by \
                     namespace and name",
                    file.display(),
                    key.0,
                    key.1
                );
            }
            out.push((key, output.applications));
        }
        Ok(out)
    };
    let (old, new) = (by_key(old, &files[0])?, by_key(new, &files[1])?);
    let mut total = appset::diff::Diff::default();
    for (key, before) in &old {
        let after = new
            .iter()
            .find(|(k, _)| k == key)
            .map_or(&[][..], |(_, a)| a.as_slice());
        total.extend(diff(before, after));
    }
    for (_, after) in new.iter().filter(|(k, _)| !old.iter().any(|(o, _)| o == k)) {
        total.extend(diff(&[], after));
    }
    Ok(total)
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn render_cmd(args: RenderArgs) -> Result<ExitCode> {
    let mut shared = Recorded::default();
    if let Some(p) = &args.clusters {
        shared.clusters = Some(load_clusters(p)?);
    }
    if let Some(p) = &args.pull_requests {
        shared.pull_requests = Some(load_pull_requests(p)?);
    }
    if args.diff.is_some() && args.output == Output::Steps {
        anyhow::bail!("-o steps previews the rollout of a render; it does not combine with --diff");
    }
    let files = args.diff.clone().unwrap_or_else(|| args.files.clone());
    // Every set of every file, and which file it came from.
    let loaded: Vec<(usize, Loaded)> = files
        .iter()
        .enumerate()
        .flat_map(|(i, p)| load_file(p).into_iter().map(move |l| (i, l)))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let opts = Options {
        namespace: args.namespace.clone(),
        git: args.git.options(),
        params: args.output == Output::Params,
        ..Options::default()
    };

    // The CLI authenticates to GitHub as its user: GITHUB_TOKEN, when set, is used for every
    // pull-request generator (their tokenRef/appSecretName Secrets are usually not readable here).
    let github_token = std::env::var("GITHUB_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty());
    let mut config = LiveConfig::live(
        sources::default_git_cache_dir(),
        args.repos.clone(),
        args.github_api.clone(),
        github_token,
        std::time::Duration::from_secs(60),
    );
    config.github_token_overrides_refs = config.github_token.is_some();
    config.repo_credentials = load_repo_creds(&args.repo_creds)?;
    if args.offline {
        // `--repo` checkouts are local reads and stay on.
        (
            config.git,
            config.kube,
            config.github,
            config.gitlab,
            config.gitea,
            config.bitbucket,
            config.azure_devops,
            config.plugins,
        ) = (false, false, false, false, false, false, false, false);
    }
    // One set of clients for all files: a repository read by several ApplicationSets is listed
    // (or fetched) once.
    let live = Live::new(config);

    // Each set's file, key, and valid Applications and parameter sets (None: it failed;
    // reported on stderr). A set that fails prints nothing; the others still print.
    let mut outputs = Vec::new();
    // With `-o steps`, each set's name and rollout preview.
    let mut previews: Vec<(String, Preview)> = Vec::new();
    for (file, set) in loaded {
        let key = set.key(&args.namespace);
        let appset = match set.appset {
            Ok(appset) => appset,
            Err(message) => {
                eprintln!("error: {message}");
                outputs.push((file, key, None));
                continue;
            }
        };
        let mut recorded = set.recorded;
        recorded.merge(shared.clone());
        let inputs = live.inputs(recorded);
        // `-o names` keeps names only: each Application is dropped once rendered (a diff compares
        // the Applications).
        let result = if args.output == Output::Names && args.diff.is_none() {
            runtime.block_on(pipeline::generate_names(&appset, &inputs, &opts))
        } else {
            runtime.block_on(pipeline::generate_applications(&appset, &inputs, &opts))
        };
        for path in live.git().take_worktree_reads() {
            eprintln!(
                "note: reading the working tree of {} (uncommitted changes included)",
                path.display()
            );
        }
        let origin = &set.origin;
        outputs.push((
            file,
            key,
            match result {
                Err(e) => {
                    eprintln!("error: {origin}: {e}");
                    None
                }
                Ok(out) => {
                    let name = appset.metadata.name.clone().unwrap_or_default();
                    for w in &out.warnings {
                        eprintln!(
                            "warning: {origin}: ApplicationSet {name:?}: {}: {}",
                            w.field, w.message
                        );
                    }
                    for inv in &out.invalid {
                        eprintln!("error: {origin}: ApplicationSet {name:?}: {}", inv.message);
                    }
                    if args.output == Output::Steps && out.invalid.is_empty() {
                        let p = preview::preview(
                            appset.spec.strategy.as_ref(),
                            &preview::labelled(&out.applications),
                        );
                        match &p.error {
                            // Argo CD writes nothing for such a set: it fails as a set does.
                            Some(e) => {
                                eprintln!(
                                    "error: {origin}: ApplicationSet {name:?}: spec.strategy.rollingSync.steps: {e}"
                                );
                                None
                            }
                            None => {
                                previews.push((name, p));
                                Some(out)
                            }
                        }
                    } else {
                        Some(out)
                    }
                }
            },
        ));
    }
    // A set fails when it could not be read or generated, or generated an invalid Application.
    let fails = |o: &Option<pipeline::Output>| o.as_ref().is_none_or(|out| !out.invalid.is_empty());
    let failed = outputs.iter().any(|(_, _, o)| fails(o));
    if args.diff.is_some() {
        if failed {
            return Ok(ExitCode::FAILURE);
        }
        let (mut old, mut new) = (Vec::new(), Vec::new());
        for (file, key, out) in outputs {
            let side = if file == 0 { &mut old } else { &mut new };
            side.extend(out.map(|o| (key, o)));
        }
        let d = diff_files(old, new, &files)?;
        let mut stdout = buffered_stdout();
        match args.output {
            Output::Json | Output::Params => writeln!(stdout, "{}", serde_json::to_string_pretty(&d)?)?,
            // `-o steps` was refused with --diff above.
            Output::Yaml | Output::Steps => write!(stdout, "{}", serde_saphyr::to_string(&d)?)?,
            Output::Names => {
                for n in &d.create {
                    writeln!(stdout, "+ {n}")?;
                }
                for u in &d.update {
                    writeln!(stdout, "~ {}", u.name)?;
                }
                for n in &d.delete {
                    writeln!(stdout, "- {n}")?;
                }
            }
        }
        stdout.flush()?;
        return Ok(match args.exit_code {
            true if !d.delete.is_empty() => ExitCode::from(2),
            true if !d.is_empty() => ExitCode::from(1),
            _ => ExitCode::SUCCESS,
        });
    }
    let outputs_ok = outputs.iter().filter(|(_, _, o)| !fails(o)).count();
    let mut applications = Vec::new();
    let mut names = Vec::new();
    let mut params = Vec::new();
    for (_, _, out) in outputs {
        let Some(out) = out else { continue };
        // The parameter sets are what one debugs an invalid Application with: they are printed
        // even then (its errors are on stderr, and the exit status still says it failed).
        params.extend(out.params);
        // A set with an invalid Application fails closed: none of its Applications print.
        if out.invalid.is_empty() {
            applications.extend(out.applications);
            names.extend(out.names);
        }
    }
    let code = if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    let printed = outputs_ok > 0 || args.output == Output::Params;
    if !printed {
        return Ok(code);
    }
    let mut stdout = buffered_stdout();
    match args.output {
        Output::Yaml => {
            for (i, app) in applications.iter().enumerate() {
                if i > 0 {
                    writeln!(stdout, "---")?;
                }
                write!(stdout, "{}", serde_saphyr::to_string(app)?)?;
            }
        }
        Output::Json => writeln!(stdout, "{}", serde_json::to_string_pretty(&applications)?)?,
        Output::Params => writeln!(stdout, "{}", serde_json::to_string_pretty(&params)?)?,
        Output::Names => {
            for name in &names {
                writeln!(stdout, "{name}")?;
            }
        }
        Output::Steps => {
            for (i, (name, p)) in previews.iter().enumerate() {
                if i > 0 {
                    writeln!(stdout)?;
                }
                write!(stdout, "{}", p.text(name))?;
            }
        }
    }
    stdout.flush()?;
    Ok(code)
}

/// Standard output, written in 64 KiB blocks: Rust's own flushes at every newline, one system
/// call per line (10 000 for `-o names` of 10 000 Applications, one per YAML line for `-o yaml`).
/// The caller flushes it, so that a failed write (a closed pipe) is reported.
fn buffered_stdout() -> std::io::BufWriter<std::io::StdoutLock<'static>> {
    std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock())
}

fn serve_cmd(args: ServeArgs) -> Result<ExitCode> {
    if !(args.request_timeout_seconds > 0.0 && args.request_timeout_seconds.is_finite()) {
        anyhow::bail!("--request-timeout-seconds must be a positive number of seconds");
    }
    let mut live = LiveConfig::live(
        args.git_cache_dir
            .clone()
            .unwrap_or_else(sources::default_git_cache_dir),
        args.repos.clone(),
        args.github_api.clone(),
        args.github_token.clone().filter(|t| !t.trim().is_empty()),
        std::time::Duration::from_secs(30),
    );
    // The service reads no cluster; its token is the one to use for every generator.
    live.kube = false;
    // Nor does it post to plugin services: a request's recorded ConfigMap could name any URL.
    live.plugins = false;
    // Nor does it ask Gitea: a Gitea generator's `api` is always the request's choice.
    live.gitea = false;
    // Nor Bitbucket: a Bitbucket Server generator's `api` is always the request's choice, and a
    // Bitbucket Cloud one may name any `api` too (Argo CD's allow-list exempts Cloud).
    live.bitbucket = false;
    // GitHub, GitLab and Azure DevOps only at their public APIs (GitHub: `--github-api`):
    // another `api` would be a host the request chose.
    live.public_forge_apis_only = true;
    // Nor does it scan forges for scmProvider generators: a request can name any organization,
    // and each scan costs a request per repository of the service's rate limit.
    live.recorded_scm_only = true;
    live.github_token_overrides_refs = live.github_token.is_some();
    live.repo_credentials = load_repo_creds(&args.repo_creds)?;
    let config = appset::service::ServiceConfig {
        namespace: args.namespace.clone(),
        live,
        git: args.git.options(),
        limits: appset::service::ServiceLimits {
            max_body_bytes: args.max_body_bytes,
            max_concurrent: args.max_concurrent_requests,
            timeout: std::time::Duration::from_secs_f64(args.request_timeout_seconds),
            render: appset::pipeline::Limits {
                max_applications: args.max_applications,
                max_matrix_params: args.max_matrix_params,
                max_fuel: Some(args.max_template_fuel),
            },
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        // Said at every log level: where to send requests is the first thing one needs.
        let local = listener.local_addr().unwrap_or(args.listen);
        eprintln!(
            "appset serve: listening on http://{local} (the playground at /; POST /v1/render, /v1/diff; GET /healthz, /metrics)"
        );
        appset::service::serve_api(
            listener,
            config,
            std::sync::Arc::new(appset::metrics::Metrics::default()),
        )
        .await
        .context("serving")?;
        Ok(ExitCode::SUCCESS)
    })
}

fn run_cmd(args: RunArgs) -> Result<ExitCode> {
    let policy = appset::plan::Policy::parse(&args.policy).map_err(|_| {
        anyhow::anyhow!(
            "Policy value can be: sync, create-only, create-update, create-delete, default value: sync"
        )
    })?;
    let namespaces = appset::namespaces::Namespaces::new(&args.controller_namespace, &args.namespaces)
        .map_err(|e| anyhow::anyhow!(e))?;
    // Argo CD's rule: a tenant's ApplicationSet must not point the controller's forge
    // credentials at an API of its choosing.
    if namespaces.single().is_none() && args.enable_scm_providers && args.allowed_scm_providers.is_empty() {
        anyhow::bail!(
            "When enabling applicationset in any namespace using applicationset-namespaces, you must either \
             set --enable-scm-providers=false or specify --allowed-scm-providers"
        );
    }
    let mut git = args.git.options();
    git.requeue_after = args.requeue_after;
    let config = appset::controller::Config {
        namespaces: args.namespaces.into_iter().filter(|n| !n.is_empty()).collect(),
        dry_run: args.dry_run,
        progressive_syncs: args.enable_progressive_syncs,
        scm: appset::pipeline::ScmOptions {
            enabled: args.enable_scm_providers,
            allowed: args
                .allowed_scm_providers
                .into_iter()
                .filter(|a| !a.is_empty())
                .collect(),
            token_ref_strict: args.token_ref_strict_mode,
        },
        controller_namespace: args.controller_namespace.clone(),
        policy,
        enable_policy_override: args.enable_policy_override.unwrap_or(args.policy.is_empty()),
        concurrency: args.concurrency,
        apply_concurrency: args.concurrent_application_updates,
        git_cache_dir: args.git_cache_dir.unwrap_or_else(sources::default_git_cache_dir),
        max_deletes: args.max_deletes,
        max_resources_status: args.max_resources_status_count,
        preserved_annotations: args.preserved_annotations,
        preserved_labels: args.preserved_labels,
        github_api: args.github_api,
        github_token: args.github_token.filter(|t| !t.trim().is_empty()),
        github_max_age: std::time::Duration::from_secs(args.github_max_age_seconds),
        repo_overrides: Vec::new(),
        metrics_applicationset_labels: args.metrics_applicationset_labels,
        git,
        webhooks: None,
        shards: None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let mut config = config;
        let identity = args.identity.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            format!("{}-{}", host.trim(), std::process::id())
        });
        let client = reachable_api_server(Some(&identity)).await?;
        let secret = match args.webhook_secret.clone() {
            Some(s) => Some(s.into_bytes()),
            None => argo_webhook_secret(&client, &args.controller_namespace, "webhook.github.secret").await,
        };
        // A flag, else the first of its argocd-secret keys that is set.
        let ns = args.controller_namespace.as_str();
        let configured = async |flag: &Option<String>, keys: &[&str]| match flag {
            Some(s) => Some(s.clone().into_bytes()),
            None => {
                for key in keys {
                    if let Some(v) = argo_webhook_secret(&client, ns, key).await {
                        return Some(v);
                    }
                }
                None
            }
        };
        let gitlab_secret = configured(&args.webhook_gitlab_secret, &["webhook.gitlab.secret"]).await;
        let gitea_secret = configured(
            &args.webhook_gitea_secret,
            &["webhook.gitea.secret", "webhook.gogs.secret"],
        )
        .await;
        let bitbucket_server_secret = configured(
            &args.webhook_bitbucket_server_secret,
            &["webhook.bitbucketserver.secret"],
        )
        .await;
        let bitbucket_uuid = configured(&args.webhook_bitbucket_uuid, &["webhook.bitbucket.uuid"]).await;
        let bitbucket_secret =
            configured(&args.webhook_bitbucket_secret, &["webhook.bitbucket.secret"]).await;
        let azure_username = configured(
            &args.webhook_azuredevops_username,
            &["webhook.azuredevops.username"],
        )
        .await;
        let azure_password = configured(
            &args.webhook_azuredevops_password,
            &["webhook.azuredevops.password"],
        )
        .await;
        if secret.is_none() {
            tracing::info!("no webhook secret: POST /api/webhook refuses every event");
        }
        let github = std::sync::Arc::new(sources::GitHub::new(
            config.github_api.clone(),
            config.github_max_age,
        ));
        let hooks = appset::webhook::Webhooks::with_parallelism(
            secret,
            github,
            args.webhook_parallelism_limit as usize,
        );
        if let Some(s) = gitlab_secret {
            hooks.set_gitlab_secret(s);
        }
        if let Some(s) = gitea_secret {
            hooks.set_gitea_secret(s);
        }
        if let Some(s) = bitbucket_server_secret {
            hooks.set_bitbucket_server_secret(s);
        }
        if let Some(s) = bitbucket_uuid {
            hooks.set_bitbucket_uuid(s);
        }
        if let Some(s) = bitbucket_secret {
            hooks.set_bitbucket_secret(s);
        }
        if let Some(password) = azure_password {
            hooks.set_azure_devops_basic_auth(azure_username.unwrap_or_default(), password);
        }
        // Until this replica leads, webhooks refresh through the refresh annotation (with
        // sharding, for the sets of the shards other replicas hold).
        hooks.standby_via(client.clone(), namespaces);
        let sharding = args.shard.or(args.shards).unwrap_or(appset::shard::Sharding::Single);
        let shards = (sharding != appset::shard::Sharding::Single)
            .then(|| appset::lease::Shards::new(sharding.count()));
        if let Some(shards) = &shards {
            hooks.sharded_by(shards, &identity);
        }
        config.shards = shards.clone();
        config.webhooks = Some(hooks.clone());
        let metrics = std::sync::Arc::new(appset::metrics::Metrics::default());
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        tracing::info!(listen = %args.listen, "serving /api/webhook, /metrics, /healthz, /readyz");
        let port = listener.local_addr().map_or(args.listen.port(), |a| a.port());
        let advertise = args.advertise_url.clone().or_else(|| {
            let ip: std::net::IpAddr = std::env::var("POD_IP").ok()?.parse().ok()?;
            Some(format!("http://{}", std::net::SocketAddr::new(ip, port)))
        });
        let server = tokio::spawn(appset::health::serve_probes(
            listener,
            metrics.clone(),
            Some(appset::webhook::endpoint(hooks)),
        ));
        let controller = appset::controller::run_with(client.clone(), config, metrics.clone(), None);
        let lease_namespace = args
            .lease_namespace
            .clone()
            .unwrap_or_else(|| args.controller_namespace.clone());
        let lease_duration = std::time::Duration::from_secs(args.lease_duration_seconds);
        if let Some(shards) = shards {
            let leases = appset::lease::ShardLeases::new(
                client,
                &lease_namespace,
                &args.lease_name,
                &identity,
                lease_duration,
                sharding,
            )
            .advertising(advertise.clone());
            tracing::info!(%identity, %sharding, advertise = advertise.as_deref().unwrap_or("none"), "sharded: reconciling the sets of the shards this replica holds");
            tokio::select! {
                r = controller => r?,
                () = leases.run(shards.clone()) => {}
                () = terminated() => {
                    // Hand the shards over now rather than when their Leases expire.
                    leases.release_all(&shards).await;
                }
            }
            server.abort();
            return Ok(ExitCode::SUCCESS);
        }
        if args.leader_elect {
            let election = appset::lease::LeaderElection::new(
                client,
                &lease_namespace,
                &args.lease_name,
                &identity,
                lease_duration,
            );
            // A standby serves (health, metrics, webhooks through the API server): it is ready.
            // Were it not, a rolling update would wait forever for new pods that cannot lead.
            metrics.set_ready(true);
            tracing::info!(%identity, "waiting to become the leader");
            election.acquire().await;
            tokio::select! {
                r = controller => r?,
                lost = election.hold() => anyhow::bail!("stopped leading: {lost}"),
            }
        } else {
            controller.await?;
        }
        server.abort();
        Ok(ExitCode::SUCCESS)
    })
}

/// When the process is asked to stop (SIGTERM, as Kubernetes does, or Ctrl-C).
async fn terminated() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("asked to stop");
}

/// A client of the Kubernetes API (kubeconfig or in-cluster) whose server answers. A server that
/// cannot be reached is named with the cause (refused, unresolvable, TLS, timeout), so that it is
/// not mistaken for a missing CRD or a permission further on; any answer, even an error, counts.
async fn reachable_api_server(identity: Option<&str>) -> Result<kube::Client> {
    let mut config = kube::Config::infer()
        .await
        .context("finding the Kubernetes API (kubeconfig or in-cluster)")?;
    // `appset/VERSION (IDENTITY)`: API server audit logs name the replica that wrote.
    let agent = match identity {
        Some(id) => format!("appset/{} ({id})", env!("CARGO_PKG_VERSION")),
        None => format!("appset/{}", env!("CARGO_PKG_VERSION")),
    };
    if let Ok(value) = http::HeaderValue::from_str(&agent) {
        config.headers.push((http::header::USER_AGENT, value));
    }
    let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
    let client = kube::Client::try_from(config).context("connecting to the Kubernetes API")?;
    if let Err(e) = client.apiserver_version().await
        && let Some(cause) = appset::controller::unreachable(&e)
    {
        anyhow::bail!("cannot reach the Kubernetes API server at {server}: {cause}");
    }
    Ok(client)
}

/// One of Argo CD's webhook secrets: `key` (`webhook.github.secret`, `webhook.gitlab.secret`, …) of
/// `argocd-secret` (None when unreadable).
async fn argo_webhook_secret(client: &kube::Client, namespace: &str, key: &str) -> Option<Vec<u8>> {
    let secrets: kube::Api<Secret> = kube::Api::namespaced(client.clone(), namespace);
    let secret = secrets.get_opt("argocd-secret").await.ok().flatten()?;
    let value = secret.data?.remove(key)?.0;
    (!value.is_empty()).then_some(value)
}

#[allow(clippy::print_stdout)]
fn install_cmd(args: &InstallArgs) -> Result<ExitCode> {
    let mode = if args.no_crds { CrdsMode::Never } else { args.crds };
    let present = match mode {
        CrdsMode::Auto => existing_crds()?,
        CrdsMode::Always | CrdsMode::Never => Vec::new(),
    };
    let mut out = std::io::stdout().lock();
    if mode != CrdsMode::Never {
        for ((_, yaml), crd) in crd::crd_yaml().into_iter().zip(crd::crds()) {
            let name = crd.metadata.name.unwrap_or_default();
            if present.contains(&name) {
                eprintln!(
                    "appset install: CRD {name} is already in the cluster and is left as it is \
                     (--crds always would replace it)"
                );
                continue;
            }
            writeln!(out, "{yaml}---")?;
        }
    }
    write!(
        out,
        "{}",
        appset::install::manifests(&args.namespace, &args.image, args.replicas, &args.namespaces)
    )?;
    Ok(ExitCode::SUCCESS)
}

fn uninstall_cmd(args: &UninstallArgs) -> Result<ExitCode> {
    use kube::ResourceExt;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = kube::Client::try_default()
            .await
            .context("connecting to the Kubernetes API")?;
        let apis: Vec<kube::Api<appset::ApplicationSet>> = if args.namespaces.is_empty() {
            vec![kube::Api::all(client.clone())]
        } else {
            args.namespaces
                .iter()
                .map(|ns| kube::Api::namespaced(client.clone(), ns))
                .collect()
        };
        let mut released = 0;
        for api in apis {
            let sets = api
                .list(&kube::api::ListParams::default())
                .await
                .context("listing ApplicationSets")?;
            for set in sets.items {
                if !set
                    .finalizers()
                    .iter()
                    .any(|f| f == appset::controller::FINALIZER)
                {
                    continue;
                }
                let ns = set.namespace().unwrap_or_default();
                let name = set.name_any();
                let keep: Vec<&String> = set
                    .finalizers()
                    .iter()
                    .filter(|f| f.as_str() != appset::controller::FINALIZER)
                    .collect();
                // The resourceVersion makes this a compare-and-swap: finalizers another
                // controller adds meanwhile are not lost.
                let patch = serde_json::json!({"metadata": {
                    "finalizers": keep,
                    "resourceVersion": set.resource_version(),
                }});
                kube::Api::<appset::ApplicationSet>::namespaced(client.clone(), &ns)
                    .patch(
                        &name,
                        &kube::api::PatchParams::default(),
                        &kube::api::Patch::Merge(&patch),
                    )
                    .await
                    .with_context(|| format!("releasing ApplicationSet {ns}/{name}"))?;
                eprintln!("released ApplicationSet {ns}/{name}");
                released += 1;
            }
        }
        eprintln!(
            "{released} ApplicationSets released from {}",
            appset::controller::FINALIZER
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// The names of appset's CRDs that the cluster (kubeconfig or in-cluster) already has.
fn existing_crds() -> Result<Vec<String>> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = kube::Client::try_default().await.context(
            "--crds auto asks the cluster which CRDs it has, and found no cluster; \
             use --crds always or --crds never",
        )?;
        let api: kube::Api<CustomResourceDefinition> = kube::Api::all(client);
        let mut present = Vec::new();
        for crd in crd::crds() {
            let name = crd.metadata.name.unwrap_or_default();
            let found = api
                .get_opt(&name)
                .await
                .with_context(|| format!("--crds auto: asking the cluster for CRD {name}"))?;
            if found.is_some() {
                present.push(name);
            }
        }
        Ok(present)
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Logs are coloured on a terminal only, and never under a non-empty `NO_COLOR`.
    #[test]
    fn logs_are_coloured_on_a_terminal_unless_no_color_is_set() {
        use std::ffi::OsStr;
        assert!(super::colour_logs(true, None));
        assert!(super::colour_logs(true, Some(OsStr::new(""))));
        assert!(!super::colour_logs(true, Some(OsStr::new("1"))));
        assert!(!super::colour_logs(false, None));
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// Every flag and argument of every command says what it is for (its doc comment is its
    /// `--help` text).
    #[test]
    fn every_option_of_every_command_has_help() {
        let cli = Cli::command();
        let mut undocumented = Vec::new();
        for command in cli.get_subcommands() {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                if help.trim().is_empty() {
                    undocumented.push(format!("appset {} {id}", command.get_name()));
                }
            }
        }
        assert!(undocumented.is_empty(), "no help text: {undocumented:?}");
        let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
        assert_eq!(names, ["render", "run", "serve", "install", "uninstall", "crds"]);
    }

    /// The git switches take Argo CD's flag names on `render`, `serve` and `run`, and default to
    /// off.
    #[test]
    fn git_switches_take_argo_cds_flag_names_on_every_engine_command() {
        use clap::Parser;

        use super::{Command, GitArgs};
        let git = |args: &[&str]| -> GitArgs {
            match Cli::try_parse_from(args.iter().copied()).expect("parses").command {
                Command::Render(a) => a.git,
                Command::Serve(a) => a.git,
                Command::Run(a) => a.git,
                other => panic!("{other:?}"),
            }
        };
        let on = ["--enable-new-git-file-globbing", "--include-hidden-directories"];
        for cmd in [
            &["appset", "render", "f.yaml"][..],
            &["appset", "serve"],
            &["appset", "run"],
        ] {
            let off = git(cmd);
            assert!(
                !off.enable_new_git_file_globbing && !off.include_hidden_directories,
                "{cmd:?}"
            );
            let both = git(&[cmd, &on[..]].concat());
            assert!(
                both.enable_new_git_file_globbing && both.include_hidden_directories,
                "{cmd:?}"
            );
        }
    }

    /// `--shards` takes `auto`, `auto:N`, `none`; `--shard` one shard `N/M`; each refuses the
    /// other's form with the flag to use, and neither goes with leader election.
    #[test]
    fn sharding_flags_take_their_forms_and_refuse_the_others() {
        use appset::shard::Sharding;
        use clap::Parser;

        use super::Command;
        let run = |args: &[&str]| {
            Cli::try_parse_from(["appset", "run"].iter().chain(args).copied()).map(|c| match c.command {
                Command::Run(a) => (a.shards, a.shard),
                other => panic!("{other:?}"),
            })
        };
        assert_eq!(
            run(&["--shards", "auto"]).unwrap(),
            (Some(Sharding::Auto { count: 12 }), None)
        );
        assert_eq!(
            run(&["--shards=auto:4"]).unwrap().0,
            Some(Sharding::Auto { count: 4 })
        );
        assert_eq!(
            run(&["--shard", "2/3"]).unwrap().1,
            Some(Sharding::Fixed { index: 2, count: 3 })
        );
        let err = |args: &[&str]| run(args).unwrap_err().to_string();
        assert!(
            err(&["--shards", "1/3"]).contains("use --shard 1/3"),
            "{}",
            err(&["--shards", "1/3"])
        );
        assert!(err(&["--shard", "auto"]).contains("use --shards auto"));
        assert!(err(&["--shard", "3/3"]).contains("not below the count"));
        assert!(err(&["--shards", "auto", "--leader-elect"]).contains("cannot be used with"));
        assert!(err(&["--shards", "auto", "--shard", "0/2"]).contains("cannot be used with"));
    }

    /// `appset run` takes Argo CD's flag names (cobra's `--flag=false` included), with appset's
    /// earlier names as aliases.
    #[test]
    fn run_takes_argo_cds_flag_names_and_appsets_earlier_ones() {
        use clap::Parser;

        use super::{Command, RunArgs};
        let run = |args: &[&str]| -> RunArgs {
            match Cli::try_parse_from(["appset", "run"].iter().chain(args).copied())
                .unwrap_or_else(|e| panic!("{args:?}: {e}"))
                .command
            {
                Command::Run(a) => *a,
                other => panic!("{other:?}"),
            }
        };
        let a = run(&[
            "--applicationset-namespaces=team-*,/^prod-/",
            "--concurrent-reconciliations=3",
            "--metrics-addr=:9090",
            "--enable-leader-election=false",
            "--enable-scm-providers=false",
            "--allowed-scm-providers=https://git.example.com/api/v3",
            "--token-ref-strict-mode",
            "--dry-run",
            "--enable-progressive-syncs",
            "--policy=create-only",
            "--enable-policy-override=true",
            "--max-resources-status-count=10",
            "--preserved-annotations=a,b",
            "--loglevel=debug",
            "--logformat=json",
            "--webhook-parallelism-limit=5",
            "--requeue-after=1h30m",
        ]);
        assert_eq!(a.namespaces, ["team-*", "/^prod-/"]);
        assert_eq!(a.concurrency, 3);
        assert_eq!(a.listen, "0.0.0.0:9090".parse().unwrap());
        assert!(!a.leader_elect && !a.enable_scm_providers && a.token_ref_strict_mode && a.dry_run);
        assert!(a.enable_progressive_syncs);
        assert_eq!(a.allowed_scm_providers, ["https://git.example.com/api/v3"]);
        assert_eq!(a.enable_policy_override, Some(true));
        assert_eq!(a.preserved_annotations, ["a", "b"]);
        assert_eq!(a.requeue_after, std::time::Duration::from_secs(5400));
        assert_eq!((a.loglevel.as_str(), a.logformat.as_str()), ("debug", "json"));
        let earlier = run(&[
            "--namespaces",
            "x",
            "--concurrency",
            "4",
            "--listen",
            "127.0.0.1:1",
            "--leader-elect",
        ]);
        assert_eq!(earlier.namespaces, ["x"]);
        assert_eq!(earlier.concurrency, 4);
        assert!(earlier.leader_elect);
        // A bare switch means true (README shows it so); `=false` turns it off.
        assert_eq!(
            run(&["--enable-policy-override"]).enable_policy_override,
            Some(true)
        );
        assert_eq!(
            run(&["--enable-policy-override=false"]).enable_policy_override,
            Some(false)
        );
        let defaults = run(&[]);
        assert!(defaults.namespaces.is_empty(), "the controller's namespace only");
        assert!(defaults.enable_scm_providers && !defaults.dry_run && !defaults.leader_elect);
        assert!(
            !defaults.enable_progressive_syncs,
            "off by default, as in Argo CD"
        );
        assert_eq!(defaults.requeue_after, std::time::Duration::from_secs(180));
    }

    #[test]
    fn environment_variables_become_flags_unless_empty_or_given() {
        use std::ffi::OsString;
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        let vars = &[
            ("APPSET_POLICY", "create-only"),
            ("APPSET_NAMESPACES", "a,b"),
            ("APPSET_CONCURRENCY", "2"),
            ("ARGOCD_APPLICATIONSET_CONTROLLER_DRY_RUN", "true"),
            ("ARGOCD_APPLICATIONSET_CONTROLLER_REQUEUE_AFTER", ""),
            ("ARGOCD_REPO_SERVER_INCLUDE_HIDDEN_DIRECTORIES", "true"),
        ];
        assert_eq!(
            super::with_env_flags(args(&["appset", "run", "--concurrency=5"]), env(vars)),
            args(&[
                "appset",
                "run",
                "--concurrency=5",
                "--include-hidden-directories=true",
                "--applicationset-namespaces=a,b",
                "--policy=create-only",
                "--dry-run=true",
            ])
        );
        let both = &[
            ("APPSET_POLICY", "create-only"),
            ("ARGOCD_APPLICATIONSET_CONTROLLER_POLICY", "sync"),
        ];
        assert_eq!(
            super::with_env_flags(args(&["appset", "run"]), env(both)),
            args(&["appset", "run", "--policy=sync"]),
            "Argo CD's variable wins over appset's earlier one"
        );
        assert_eq!(
            super::with_env_flags(args(&["appset", "serve"]), env(vars)),
            args(&["appset", "serve", "--include-hidden-directories=true"]),
            "serve takes only the git switches"
        );
        // What the result parses to: the whole table is understood by `run`.
        use clap::Parser;
        let all: Vec<(&'static str, &'static str)> = super::ARGO_ENV
            .iter()
            .map(|(var, flag, _)| {
                let value = match *flag {
                    "--policy" => "sync",
                    "--loglevel" => "info",
                    "--logformat" => "json",
                    "--requeue-after" => "3m",
                    "--applicationset-namespaces" | "--preserved-annotations" | "--preserved-labels" => "x",
                    "--allowed-scm-providers" => "https://x",
                    "--concurrent-reconciliations" | "--concurrent-application-updates" => "3",
                    "--webhook-parallelism-limit" | "--max-resources-status-count" => "3",
                    _ => "true",
                };
                (*var, value)
            })
            .collect();
        let all: &'static [(&'static str, &'static str)] = Box::leak(all.into_boxed_slice());
        let parsed = Cli::try_parse_from(super::with_env_flags(args(&["appset", "run"]), env(all)));
        assert!(parsed.is_ok(), "{:?}", parsed.err());
        // And every variable the Deployment of `appset install` sets is in the table.
        for (_, var) in appset::install::ARGO_CMD_PARAMS {
            assert!(super::ARGO_ENV.iter().any(|(v, _, _)| *v == var), "{var}");
        }
    }

    #[test]
    fn listen_addresses_and_go_durations_parse_as_argo_cd_writes_them() {
        use std::time::Duration;
        assert_eq!(
            super::parse_listen_addr(":8080").unwrap(),
            "0.0.0.0:8080".parse().unwrap()
        );
        assert_eq!(
            super::parse_listen_addr("127.0.0.1:80").unwrap(),
            "127.0.0.1:80".parse().unwrap()
        );
        assert!(super::parse_listen_addr("8080").is_err());
        for (text, secs) in [
            ("3m", 180.0),
            ("90s", 90.0),
            ("1h30m", 5400.0),
            ("1.5h", 5400.0),
            ("500ms", 0.5),
            ("42", 42.0),
        ] {
            assert_eq!(
                super::parse_go_duration(text).unwrap(),
                Duration::from_secs_f64(secs),
                "{text}"
            );
        }
        for bad in ["", "3x", "m", "-1s", "1h-"] {
            assert!(super::parse_go_duration(bad).is_err(), "{bad}");
        }
    }
}
