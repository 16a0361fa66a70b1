//! The `appset` command line: `render` (offline, no cluster needed) and `crds`.
//!
//! Stage: entry point (I/O: reads files and standard input, prints to stdout/stderr; the engine it
//! drives reaches git and the Kubernetes API only through `sources`).

use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context, Result};
use appset::{
    crd,
    render::{self, RenderOptions},
    sources::{self, Inputs, LiveConfig, PullRequest, Recorded},
};
use clap::{Parser, Subcommand, ValueEnum};
use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

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
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,

    /// Read git repository URL from the local repository PATH instead (repeatable).
    #[arg(long = "repo", value_name = "URL=PATH", value_parser = parse_repo_override)]
    repos: Vec<(String, PathBuf)>,

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
    let loaded = args
        .files
        .iter()
        .map(|p| load_file(p))
        .collect::<Result<Vec<_>>>()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let opts = RenderOptions {
        namespace: args.namespace.clone(),
    };

    // The CLI authenticates to GitHub as its user: GITHUB_TOKEN, when set, is used for every
    // pull-request generator (their tokenRef/appSecretName Secrets are usually not readable here).
    let github_token = std::env::var("GITHUB_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty());
    let live = LiveConfig {
        git: true,
        git_cache_dir: sources::default_git_cache_dir(),
        repo_overrides: args.repos.clone(),
        kube: true,
        github: true,
        github_api: args.github_api.clone(),
        github_token_overrides_refs: github_token.is_some(),
        github_token,
        github_max_age: std::time::Duration::from_secs(60),
    };
    // One GitHub client for all files: a repository read by several ApplicationSets is listed once.
    let github = std::sync::Arc::new(sources::GitHub::new(live.github_api.clone(), live.github_max_age));

    let mut applications = Vec::new();
    let mut params = Vec::new();
    let mut failed = false;
    for file in loaded {
        let mut recorded = file.recorded;
        recorded.merge(shared.clone());
        let inputs = Inputs::new(recorded, live.clone()).with_github(github.clone());
        let result = runtime.block_on(render::generate_applications(&file.appset, &inputs, &opts));
        match result {
            Err(e) => {
                eprintln!("error: {}: {e}", file.path.display());
                failed = true;
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
                    failed = true;
                }
                applications.extend(out.applications);
                params.extend(out.params);
            }
        }
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
        Output::Params => writeln!(stdout, "{}", serde_json::to_string_pretty(&params)?)?,
        Output::Names => {
            for app in &applications {
                writeln!(stdout, "{}", render::application_name(app))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
