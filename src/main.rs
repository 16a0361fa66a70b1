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
    sources::{self, Live, LiveConfig, PullRequest, Recorded, credentials::RepoCredentials},
};
use clap::{Parser, Subcommand, ValueEnum};
use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

/// mimalloc returns freed memory to the system far more readily than glibc's per-thread arenas
/// (measured: resident memory of a controller owning 10 000 Applications, see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its index in `mi_option_e`, the same in mimalloc 2 and 3;
/// libmimalloc-sys names only some options).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Return freed memory to the system at once. mimalloc purges freed pages only after a delay
/// (1 s in mimalloc 3) and only when it is next called, so in a controller that goes idle after
/// a large reconcile, that reconcile's peak would stay resident until the next one. Measured:
/// 156 → 74 MiB resident for 10 000 owned Applications, no measurable cost to `appset render`.
#[allow(unsafe_code)]
fn purge_freed_memory_at_once() {
    // SAFETY: `mi_option_set` stores an option value; it has no preconditions and is called
    // before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
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
    /// Each FILE holds one ApplicationSet and, optionally, a second YAML document with the inputs
    /// it reads (git trees, cluster Secrets, pull requests), so it renders with no network. Use `-`
    /// for standard input.
    Render(RenderArgs),
    /// Run the controller: keep each ApplicationSet's Applications equal to what it generates
    /// (kubeconfig or in-cluster credentials). Every flag is also an environment variable.
    Run(Box<RunArgs>),
    /// Serve the engine over HTTP (no cluster needed): `POST /v1/render` and `POST /v1/diff`,
    /// with `/metrics`, `/healthz` and `/readyz`. Every flag is also an environment variable.
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
    /// for JSON, `-o names` for one `+`/`~`/`-` line per Application.
    #[arg(long, num_args = 2, value_names = ["OLD", "NEW"], conflicts_with = "files")]
    diff: Option<Vec<PathBuf>>,

    /// Read git repository URL from the local repository PATH instead (repeatable).
    #[arg(long = "repo", value_name = "URL=PATH", value_parser = parse_repo_override)]
    repos: Vec<(String, PathBuf)>,

    /// Argo CD repository credentials: a YAML file, or a directory of them, holding the same
    /// `repository` / `repo-creds` Secrets (and `argocd-ssh-known-hosts-cm`,
    /// `argocd-tls-certs-cm`) an Argo CD installation keeps (repeatable).
    #[arg(long = "repo-creds", value_name = "FILE")]
    repo_creds: Vec<PathBuf>,

    /// Argo CD cluster Secrets (multi-document YAML) for the cluster generator, instead of the
    /// live cluster.
    #[arg(long, value_name = "FILE", env = "APPSET_CLUSTERS")]
    clusters: Option<PathBuf>,

    /// Pull requests for the pull-request generator: a YAML map `owner/repo` → list of
    /// `{number, title, branch, targetBranch, headSha, labels, author, draft}`.
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
    /// `params` (JSON array of the parameter sets, in order), `names` (one name per line).
    #[arg(short, long, value_enum, default_value_t = Output::Yaml)]
    output: Output,

    #[command(flatten)]
    git: GitArgs,
}

/// Argo CD's two installation-wide git generator switches, under Argo CD's flag and environment
/// names (`render`, `serve` and `run` take them alike).
#[derive(clap::Args, Debug, Clone, Copy)]
struct GitArgs {
    /// Git files generator: select files with doublestar globs (`**` any number of directories,
    /// `*` and `?` within one, `{a,b}`, `[...]`) instead of git pathspecs (where `*` crosses
    /// `/`); a pattern that selects a directory is then an error. Argo CD's controller flag.
    #[arg(long, env = "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_NEW_GIT_FILE_GLOBBING")]
    enable_new_git_file_globbing: bool,
    /// Git directories generator: also list hidden directories (name starting with `.`) and
    /// their subtrees. Argo CD's repo-server flag.
    #[arg(long, env = "ARGOCD_REPO_SERVER_INCLUDE_HIDDEN_DIRECTORIES")]
    include_hidden_directories: bool,
}

impl GitArgs {
    fn options(self) -> GitOptions {
        GitOptions {
            enable_new_git_file_globbing: self.enable_new_git_file_globbing,
            include_hidden_directories: self.include_hidden_directories,
        }
    }
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "APPSET_LISTEN", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Argo CD's namespace: ApplicationSets without a namespace are taken to live here.
    #[arg(long, value_name = "NS", default_value = "argocd", env = "APPSET_NAMESPACE")]
    namespace: String,
    /// Read git repository URL from the local repository PATH instead (repeatable); other
    /// repositories a request does not record are fetched live.
    #[arg(long = "repo", value_name = "URL=PATH", value_parser = parse_repo_override)]
    repos: Vec<(String, PathBuf)>,
    /// Argo CD repository credentials: a YAML file, or a directory of them, holding the same
    /// `repository` / `repo-creds` Secrets (and `argocd-ssh-known-hosts-cm`,
    /// `argocd-tls-certs-cm`) an Argo CD installation keeps (repeatable).
    #[arg(long = "repo-creds", value_name = "FILE")]
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

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Namespaces whose ApplicationSets are reconciled, comma-separated (default: all).
    #[arg(long, env = "APPSET_NAMESPACES", value_delimiter = ',')]
    namespaces: Vec<String>,
    /// Argo CD's namespace: cluster Secrets and GitHub App credentials are read there.
    #[arg(long, env = "APPSET_CONTROLLER_NAMESPACE", default_value = "argocd")]
    controller_namespace: String,
    /// Cluster-wide policy: sync, create-only, create-update or create-delete ("" is sync).
    #[arg(long, env = "APPSET_POLICY", default_value = "")]
    policy: String,
    /// Let ApplicationSets choose their own policy (syncPolicy.applicationsSync). Default: true
    /// unless --policy is set (Argo CD's rule).
    #[arg(long, env = "APPSET_ENABLE_POLICY_OVERRIDE")]
    enable_policy_override: Option<bool>,
    /// ApplicationSets reconciled at once.
    #[arg(long, env = "APPSET_CONCURRENCY", default_value_t = 10)]
    concurrency: u16,
    /// Application writes in flight at once within one reconcile.
    #[arg(long, env = "APPSET_CONCURRENT_APPLICATION_UPDATES", default_value_t = 16)]
    concurrent_application_updates: usize,
    /// Address of the HTTP server (/metrics, /healthz, /readyz).
    #[arg(long, env = "APPSET_LISTEN", default_value = "0.0.0.0:8080")]
    listen: std::net::SocketAddr,
    /// Bare-clone cache directory for git generators (default ~/.cache/appset/git).
    #[arg(long, env = "APPSET_GIT_CACHE")]
    git_cache_dir: Option<PathBuf>,
    /// Delete budget: at most this many Applications deleted per reconcile of one
    /// ApplicationSet (default unlimited, as Argo CD); the annotation appset.io/max-deletes
    /// overrides it per ApplicationSet.
    #[arg(long, env = "APPSET_MAX_DELETES")]
    max_deletes: Option<usize>,
    /// Entries kept in status.resources (0: all); status.resourcesCount is always the total.
    #[arg(long, env = "APPSET_MAX_RESOURCES_STATUS_COUNT", default_value_t = 5000)]
    max_resources_status_count: usize,
    /// Extra annotation keys whose live values are kept, comma-separated.
    #[arg(long, env = "APPSET_PRESERVED_ANNOTATIONS", value_delimiter = ',')]
    preserved_annotations: Vec<String>,
    /// Extra label keys whose live values are kept, comma-separated.
    #[arg(long, env = "APPSET_PRESERVED_LABELS", value_delimiter = ',')]
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
    /// Elect a leader among replicas on a coordination.k8s.io Lease; only the leader writes.
    #[arg(long, env = "APPSET_LEADER_ELECT")]
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
    /// This replica's identity in the Lease (default: the pod name, else hostname and pid).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// ApplicationSet label keys added to the argocd_appset_labels metric (Argo CD's flag;
    /// repeatable or comma-separated; none: the metric is off).
    #[arg(long, env = "APPSET_METRICS_APPLICATIONSET_LABELS", value_delimiter = ',')]
    metrics_applicationset_labels: Vec<String>,
    /// Shared secret of GitHub webhooks (`POST /api/webhook`, verified with
    /// X-Hub-Signature-256). Default: `webhook.github.secret` of the Secret `argocd-secret` in
    /// --controller-namespace, as Argo CD; without either, webhooks are refused.
    #[arg(long, env = "APPSET_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    #[command(flatten)]
    git: GitArgs,
}

#[derive(clap::Args, Debug)]
struct InstallArgs {
    /// Namespace to install into (Argo CD's namespace).
    #[arg(long, default_value = "argocd")]
    namespace: String,
    /// Container image of appset.
    #[arg(long, default_value = "appset:latest")]
    image: String,
    /// Replicas (with leader election when more than one).
    #[arg(long, default_value_t = 2)]
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
}

fn parse_repo_override(s: &str) -> Result<(String, PathBuf), String> {
    // Split at the last '=' so URLs with query strings keep working.
    let (url, path) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("expected URL=PATH, got {s:?}"))?;
    if url.is_empty() || path.is_empty() {
        return Err(format!("expected URL=PATH, got {s:?}"));
    }
    Ok((url.to_string(), PathBuf::from(path)))
}

fn main() -> ExitCode {
    purge_freed_memory_at_once();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    appset::install_crypto_provider();
    let cli = Cli::parse();
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
        Err(e) => {
            eprintln!("error: {e:#}");
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
    let mut out = Vec::new();
    for doc in yaml_documents(&read_input(path)?, path)? {
        let items = match doc.get("items") {
            Some(Value::Array(items)) => items.clone(),
            _ => vec![doc],
        };
        for item in items {
            let secret: Secret = serde_path_to_error::deserialize(item)
                .map_err(|e| anyhow::anyhow!("{}: {}: {}", path.display(), e.path(), e.inner()))?;
            out.push(secret);
        }
    }
    Ok(out)
}

fn load_pull_requests(path: &Path) -> Result<std::collections::BTreeMap<String, Vec<PullRequest>>> {
    let text = read_input(path)?;
    let doc: Value = serde_saphyr::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: malformed YAML: {e}", path.display()))?;
    serde_path_to_error::deserialize(doc)
        .map_err(|e| anyhow::anyhow!("{}: {}: {}", path.display(), e.path(), e.inner()))
}

struct Loaded {
    path: PathBuf,
    appset: crd::ApplicationSet,
    recorded: Recorded,
}

fn load_file(path: &Path) -> Result<Loaded> {
    let text = read_input(path)?;
    let parsed = appset::file::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let name = parsed.appset.metadata.name.clone().unwrap_or_default();
    for field in &parsed.ignored_fields {
        eprintln!(
            "warning: {}: ApplicationSet {name:?}: unknown field {field} ignored",
            path.display()
        );
    }
    Ok(Loaded {
        path: path.to_path_buf(),
        appset: parsed.appset,
        recorded: parsed.recorded,
    })
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
    let files = args.diff.clone().unwrap_or_else(|| args.files.clone());
    let loaded = files.iter().map(|p| load_file(p)).collect::<Result<Vec<_>>>()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let opts = Options {
        namespace: args.namespace.clone(),
        git: args.git.options(),
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
    // One set of clients for all files: a repository read by several ApplicationSets is listed
    // (or fetched) once.
    let live = Live::new(config);

    // Each file's valid Applications and parameter sets (None: it failed; reported on stderr).
    let mut outputs = Vec::new();
    for file in loaded {
        let mut recorded = file.recorded;
        recorded.merge(shared.clone());
        let inputs = live.inputs(recorded);
        let result = runtime.block_on(pipeline::generate_applications(&file.appset, &inputs, &opts));
        outputs.push(match result {
            Err(e) => {
                eprintln!("error: {}: {e}", file.path.display());
                None
            }
            Ok(out) => {
                let name = file.appset.metadata.name.clone().unwrap_or_default();
                for w in &out.warnings {
                    eprintln!(
                        "warning: {}: ApplicationSet {name:?}: {}: {}",
                        file.path.display(),
                        w.field,
                        w.message
                    );
                }
                for inv in &out.invalid {
                    eprintln!(
                        "error: {}: ApplicationSet {name:?}: {}",
                        file.path.display(),
                        inv.message
                    );
                }
                Some(out)
            }
        });
    }
    // A file fails when it could not be generated or generated an invalid Application.
    let failed = outputs
        .iter()
        .any(|o| o.as_ref().is_none_or(|out| !out.invalid.is_empty()));
    if args.diff.is_some() {
        if failed {
            return Ok(ExitCode::FAILURE);
        }
        let mut it = outputs.into_iter().flatten();
        let (old, new) = (it.next().unwrap_or_default(), it.next().unwrap_or_default());
        let d = appset::diff::diff(
            &old.applications,
            &new.applications,
            appset::diff::Before::Rendered,
        );
        let mut stdout = std::io::stdout().lock();
        match args.output {
            Output::Json | Output::Params => writeln!(stdout, "{}", serde_json::to_string_pretty(&d)?)?,
            Output::Yaml => write!(stdout, "{}", serde_saphyr::to_string(&d)?)?,
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
        return Ok(ExitCode::SUCCESS);
    }
    let mut applications = Vec::new();
    let mut params = Vec::new();
    for out in outputs.into_iter().flatten() {
        applications.extend(out.applications);
        params.extend(out.params);
    }
    if args.output == Output::Params {
        // The parameter sets are what one debugs an invalid Application with: they are printed
        // even then (its errors are on stderr, and the exit status still says it failed).
        writeln!(
            std::io::stdout().lock(),
            "{}",
            serde_json::to_string_pretty(&params)?
        )?;
        return Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    if failed {
        return Ok(ExitCode::FAILURE);
    }
    let mut stdout = std::io::stdout().lock();
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
        // Printed above, invalid Applications or not.
        Output::Params => {}
        Output::Names => {
            for app in &applications {
                writeln!(stdout, "{}", pipeline::application_name(app))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
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
        tracing::info!(listen = %args.listen, "serving /v1/render, /v1/diff, /metrics, /healthz, /readyz");
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
    let policy = appset::plan::Policy::parse(&args.policy).map_err(|e| anyhow::anyhow!(e))?;
    let config = appset::controller::Config {
        namespaces: args.namespaces.into_iter().filter(|n| !n.is_empty()).collect(),
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
        git: args.git.options(),
        webhooks: None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let mut config = config;
        let client = kube::Client::try_default()
            .await
            .context("connecting to the Kubernetes API")?;
        let secret = match args.webhook_secret.clone() {
            Some(s) => Some(s.into_bytes()),
            None => argo_webhook_secret(&client, &args.controller_namespace).await,
        };
        if secret.is_none() {
            tracing::info!("no webhook secret: POST /api/webhook refuses every event");
        }
        let github = std::sync::Arc::new(sources::GitHub::new(
            config.github_api.clone(),
            config.github_max_age,
        ));
        let hooks = appset::webhook::Webhooks::new(secret, github);
        // Until this replica leads, webhooks refresh through the refresh annotation.
        hooks.standby_via(client.clone(), config.namespaces.clone());
        config.webhooks = Some(hooks.clone());
        let metrics = std::sync::Arc::new(appset::metrics::Metrics::default());
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        tracing::info!(listen = %args.listen, "serving /api/webhook, /metrics, /healthz, /readyz");
        let server = tokio::spawn(appset::health::serve_probes(
            listener,
            metrics.clone(),
            Some(appset::webhook::endpoint(hooks)),
        ));
        let controller = appset::controller::run_with(client.clone(), config, metrics.clone(), None);
        if args.leader_elect {
            let identity = args.identity.unwrap_or_else(|| {
                let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
                format!("{}-{}", host.trim(), std::process::id())
            });
            let election = appset::lease::LeaderElection::new(
                client,
                args.lease_namespace
                    .as_deref()
                    .unwrap_or(&args.controller_namespace),
                &args.lease_name,
                &identity,
                std::time::Duration::from_secs(args.lease_duration_seconds),
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

/// Argo CD's webhook secret: `webhook.github.secret` of `argocd-secret` (None when unreadable).
async fn argo_webhook_secret(client: &kube::Client, namespace: &str) -> Option<Vec<u8>> {
    let secrets: kube::Api<Secret> = kube::Api::namespaced(client.clone(), namespace);
    let secret = secrets.get_opt("argocd-secret").await.ok().flatten()?;
    let value = secret.data?.remove("webhook.github.secret")?.0;
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
        appset::install::manifests(&args.namespace, &args.image, args.replicas)
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
}
