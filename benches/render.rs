//! Benchmarks (`cargo bench --bench render`); results and the command are in BENCHMARKS.md.
//!
//! 1. Render 10 000 Applications: a matrix of 100 cluster Secrets × 100 list elements, in the
//!    default `{{param}}` mode, in jinja mode and in goTemplate mode (target: under 150 ms each).
//! 2. The git directories generator on a repository with 10 000 directories, warm cache, against
//!    `git ls-tree -r -d --name-only HEAD` on the same repository in the same run (target: ratio at
//!    most 1.5). Measured through a `--repo URL=PATH` override (local repository) and through a
//!    `file://` URL (a fetch handshake with `git-upload-pack` on every call, as for a remote).
//! 3. The same generator on the same repository served privately: over SSH by a real sshd with a
//!    key and known hosts from Argo CD's Secret and ConfigMap, and over HTTPS by `git
//!    http-backend` behind a test CA with a user and token; against `git ls-remote` + `git
//!    ls-tree` through the same server with the same credentials (target: ratio at most 1.5: an
//!    unchanged poll costs one authenticated handshake). Needs openssh-server and openssl.
//!
//! 4. `appset render -o names` end to end (the binary, as a user runs it: parse, generate, render
//!    10 000 Applications, validate, print the names) on that repository at its `file://` URL
//!    (warm git cache: one fetch handshake per run, as for a remote), against `git ls-tree -r -d --name-only HEAD` (target: ratio at most 3), and its
//!    peak resident memory per Application above a one-Application render (target: under 2 KB).
//!    Also timed with the commit's trees walked in every run (the listing a run keeps beside the
//!    clone removed before each).
//!
//! Each measurement is the median of several runs after a warm-up. Without `--bench` (as `cargo
//! test --benches` runs it) a single quick pass checks that everything works.

use std::{
    hint::black_box,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use appset::{
    crd::ApplicationSet,
    generators::{GenerateContext, transform},
    pipeline::{self, Options},
    render::Engine,
    sources::{Inputs, LiveConfig, Recorded, credentials::RepoCredentials},
};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn measure(runs: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm-up
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[derive(Clone, Copy)]
enum Mode {
    Default,
    Jinja,
    Go,
}

fn matrix_appset(mode: Mode) -> (ApplicationSet, Recorded) {
    let (engine, name, server, path) = match mode {
        Mode::Jinja => (
            "templateEngine: jinja",
            "'{{ name }}-{{ app }}'",
            "'{{ server }}'",
            "'apps/{{ app }}/{{ name }}'",
        ),
        Mode::Go => (
            "goTemplate: true",
            "'{{.name}}-{{.app}}'",
            "'{{.server}}'",
            "'apps/{{.app}}/{{.name}}'",
        ),
        Mode::Default => (
            "",
            "'{{name}}-{{app}}'",
            "'{{server}}'",
            "'apps/{{app}}/{{name}}'",
        ),
    };
    let mut elements = String::new();
    for i in 0..100 {
        elements.push_str(&format!("          - {{app: app{i:03}, team: team{}}}\n", i % 7));
    }
    let mut clusters = String::new();
    for i in 0..100 {
        clusters.push_str(&format!(
            "- apiVersion: v1\n  kind: Secret\n  metadata: {{name: c{i}, namespace: argocd, labels: \
             {{argocd.argoproj.io/secret-type: cluster, env: e{}}}}}\n  stringData: {{name: cluster{i:03}, \
             server: 'https://{i}.example.com'}}\n",
            i % 3
        ));
    }
    let text = r#"apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: bench}
spec:
  ENGINE
  generators:
  - matrix:
      generators:
      - clusters: {selector: {matchLabels: {argocd.argoproj.io/secret-type: cluster}}}
      - list:
          elements:
ELEMENTS  template:
    metadata:
      name: NAME
      labels: {team: x}
    spec:
      project: default
      source:
        repoURL: https://example.com/gitops.git
        targetRevision: HEAD
        path: PATH
      destination: {server: SERVER, namespace: apps}
      syncPolicy:
        syncOptions: [CreateNamespace=true]
---
clusters:
CLUSTERS"#
        .replace("ENGINE", engine)
        .replace("ELEMENTS", &elements)
        .replace("NAME", name)
        .replace("PATH", path)
        .replace("SERVER", server)
        .replace("CLUSTERS", &clusters);
    let parsed = appset::file::parse(&text).expect("bench appset");
    (parsed.appset, parsed.recorded)
}

/// The context the pipeline gives the generators of the set `name` (Argo CD's defaults), for
/// timing the generators alone.
fn generate_context<'a>(name: &'a str, engine: &'a Engine, sources: &'a Inputs) -> GenerateContext<'a> {
    GenerateContext {
        appset_name: name,
        appset_namespace: "argocd",
        controller_namespace: "argocd",
        project: "default",
        engine,
        sources,
        outer: None,
        max_matrix_params: appset::generators::matrix::MAX_PARAMS,
        git: Default::default(),
        // A few bytes per call, for the process's life.
        scm: Box::leak(Box::default()),
        warnings: Box::leak(Box::default()),
        trace: None,
    }
}

fn bench_render(runtime: &tokio::runtime::Runtime, runs: usize, wants: impl Fn(&str) -> bool) {
    for (mode, part) in [
        (Mode::Default, "render-default"),
        (Mode::Jinja, "render-jinja"),
        (Mode::Go, "render-go"),
    ] {
        if !(wants("render") || wants(part)) {
            continue;
        }
        let (set, recorded) = matrix_appset(mode);
        let inputs = Inputs::recorded(recorded);
        // As the controller and `appset render` run it: parameter sets are not kept.
        let opts = Options {
            params: false,
            ..Options::default()
        };
        let mut count = 0;
        // The time to the Output, and that time with freeing it (10 000 trees of maps).
        let (mut rendered, mut freed) = (Vec::new(), Vec::new());
        for run in 0..=runs {
            let t = Instant::now();
            let out = runtime
                .block_on(pipeline::generate_applications(&set, &inputs, &opts))
                .expect("render");
            let to_output = t.elapsed();
            count = out.applications.len();
            drop(black_box(out));
            if run > 0 {
                // Run 0 warms up.
                rendered.push(to_output);
                freed.push(t.elapsed());
            }
        }
        let (d, with_free) = (median(rendered), median(freed));
        assert_eq!(count, 10_000);
        // Where the time goes: the generators alone (the matrix's 10 000 parameter sets).
        let engine = Engine::from_spec(&set.spec).expect("engine");
        let ctx = generate_context("bench", &engine, &inputs);
        let generators = measure(runs, || {
            let out = runtime
                .block_on(transform(&set.spec.generators[0], &ctx, "spec.generators[0]"))
                .expect("generate");
            black_box(out);
        });
        println!(
            "render 100 clusters x 100 elements = {count} Applications, {} mode: median {} \
             (generators alone: {}; with freeing the Applications: {})",
            match mode {
                Mode::Default => "default {{param}}",
                Mode::Jinja => "jinja",
                Mode::Go => "goTemplate",
            },
            ms(d),
            ms(generators),
            ms(with_free)
        );
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A repository with `dirs` directories (`team-NNN/app-NNN`, each with one file).
fn dirs_repo(dirs: usize) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("repo");
    let per = (dirs as f64).sqrt().ceil() as usize;
    for i in 0..per {
        for j in 0..per {
            if i * per + j >= dirs {
                break;
            }
            let d = repo.join(format!("team-{i:03}/app-{j:03}"));
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(d.join("kustomization.yaml"), format!("name: {i}-{j}\n")).expect("write");
        }
    }
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "dirs"]);
    (tmp, repo)
}

/// The git directories generator over `url` with `live` sources: the median of `runs` warm
/// calls, and the number of parameter sets.
fn generate_dirs(
    runtime: &tokio::runtime::Runtime,
    runs: usize,
    url: &str,
    live: LiveConfig,
) -> (Duration, usize) {
    let set_text = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: dirs}}\nspec:\n  generators:\n  \
         - git:\n      repoURL: {url}\n      revision: HEAD\n      directories: [{{path: '*/*'}}]\n  template:\n    \
         metadata: {{name: '{{{{path.basename}}}}'}}\n    spec:\n      project: default\n      destination: \
         {{server: https://kubernetes.default.svc, namespace: x}}\n"
    );
    let set = appset::file::parse(&set_text).expect("parse").appset;
    let inputs = Inputs::new(Recorded::default(), live);
    let engine = Engine::Fasttemplate;
    let ctx = generate_context("dirs", &engine, &inputs);
    let entry = &set.spec.generators[0];
    let mut count = 0;
    let took = measure(runs, || {
        let out = runtime
            .block_on(transform(entry, &ctx, "spec.generators[0]"))
            .expect("generate");
        count = out[0].params.len();
        black_box(out);
    });
    (took, count)
}

fn bench_git(runtime: &tokio::runtime::Runtime, runs: usize, repo: &Path, dirs: usize) {
    let listed = git(repo, &["ls-tree", "-r", "-d", "--name-only", "HEAD"])
        .lines()
        .count();
    let peer = measure(runs, || {
        black_box(git(repo, &["ls-tree", "-r", "-d", "--name-only", "HEAD"]));
    });
    let cache = tempfile::tempdir().expect("cache");
    let file_url = format!("file://{}", repo.display());
    let variants = [
        (
            "--repo URL=PATH (local repository)",
            "https://git.example.invalid/bench.git".to_string(),
            true,
        ),
        ("file:// URL (fetch handshake per call)", file_url, false),
    ];
    println!("git directories: repository with {listed} directories");
    println!("  peer `git ls-tree -r -d --name-only HEAD`: median {}", ms(peer));
    for (label, url, local) in variants {
        let live = LiveConfig {
            git: !local,
            git_cache_dir: cache.path().to_owned(),
            repo_overrides: if local {
                vec![(url.clone(), repo.to_owned()).into()]
            } else {
                vec![]
            },
            ..LiveConfig::default()
        };
        let (ours, count) = generate_dirs(runtime, runs, &url, live);
        assert_eq!(count, dirs);
        println!(
            "  appset git directories generator via {label}: median {} ({count} parameter sets), ratio {:.2}",
            ms(ours),
            ours.as_secs_f64() / peer.as_secs_f64()
        );
    }
}

/// A credential Secret as `RepoCredentials` sees it.
fn repo_credentials(url: &str, data: &[(&str, &str)]) -> RepoCredentials {
    let mut string_data = serde_json::Map::new();
    string_data.insert("url".into(), url.into());
    for (k, v) in data {
        string_data.insert((*k).into(), (*v).into());
    }
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "bench", "namespace": "argocd",
                     "labels": {"argocd.argoproj.io/secret-type": "repository"}},
        "stringData": string_data,
    }))
    .expect("secret");
    let (creds, errors) = RepoCredentials::from_secrets(&[secret]);
    assert!(errors.is_empty(), "{errors:?}");
    creds
}

/// The git directories generator on the same repository served privately, over SSH (a real
/// sshd, key and known hosts from Argo CD's Secret and ConfigMap) and over HTTPS (`git
/// http-backend` behind a test CA, user and token): a warm, unchanged poll against `git
/// ls-remote` + `git ls-tree` through the same server with the same credentials.
fn bench_private_git(runtime: &tokio::runtime::Runtime, runs: usize, repo: &Path, dirs: usize) {
    let keys = tempfile::tempdir().expect("keys");
    let ls_tree = |sha: &str| git(repo, &["ls-tree", "-r", "-d", "--name-only", sha.trim()]);

    let sshd = sshd::Sshd::start();
    let ssh_url = sshd.url(repo);
    let key_file = keys.path().join("key");
    let known_file = keys.path().join("known_hosts");
    std::fs::write(&key_file, &sshd.client_key).expect("key");
    std::fs::set_permissions(&key_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    std::fs::write(&known_file, &sshd.known_hosts).expect("known hosts");
    let ssh_command = format!(
        "ssh -o BatchMode=yes -i {} -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
        key_file.display(),
        known_file.display()
    );
    let ssh_peer = measure(runs, || {
        let head = git(
            repo,
            &[
                "-c",
                &format!("core.sshCommand={ssh_command}"),
                "ls-remote",
                &ssh_url,
                "HEAD",
            ],
        );
        black_box(ls_tree(head.split_whitespace().next().unwrap_or_default()));
    });
    let mut creds = repo_credentials(&ssh_url, &[("sshPrivateKey", &sshd.client_key)]);
    creds.known_hosts = Some(sshd.known_hosts.clone());
    let cache = tempfile::tempdir().expect("cache");
    let live = LiveConfig {
        repo_credentials: std::sync::Arc::new(creds),
        ..LiveConfig::live(cache.path().to_owned(), vec![], None, None, Duration::ZERO)
    };
    let (ssh_ours, count) = generate_dirs(runtime, runs, &ssh_url, live);
    assert_eq!(count, dirs);
    println!("private git directories, warm and unchanged (one authenticated handshake per call):");
    println!(
        "  SSH (sshd on 127.0.0.1, key): peer `git ls-remote` + `git ls-tree`: median {}; appset: median {}, ratio {:.2}",
        ms(ssh_peer),
        ms(ssh_ours),
        ssh_ours.as_secs_f64() / ssh_peer.as_secs_f64()
    );
    drop(sshd);

    let root = repo.parent().expect("parent");
    let https = git_https::GitHttps::start(root, false);
    let https_url = https.url("repo");
    let ca_file = keys.path().join("ca.pem");
    std::fs::write(&ca_file, &https.ca_pem).expect("ca");
    let peer_url = https_url.replacen("https://", &format!("https://{}:{}@", https.user, https.token), 1);
    let https_peer = measure(runs, || {
        // GIT_SSL_CAINFO, not http.sslCAInfo: an environment may already set the variable, and
        // it wins over the configuration.
        let out = Command::new("git")
            .args(["ls-remote", &peer_url, "HEAD"])
            .env("GIT_SSL_CAINFO", &ca_file)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("git ls-remote");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let head = String::from_utf8_lossy(&out.stdout).into_owned();
        black_box(ls_tree(head.split_whitespace().next().unwrap_or_default()));
    });
    let mut creds = repo_credentials(
        &https_url,
        &[("username", &https.user), ("password", &https.token)],
    );
    creds.tls_certs.insert("127.0.0.1".into(), https.ca_pem.clone());
    let cache = tempfile::tempdir().expect("cache");
    let live = LiveConfig {
        repo_credentials: std::sync::Arc::new(creds),
        ..LiveConfig::live(cache.path().to_owned(), vec![], None, None, Duration::ZERO)
    };
    let (https_ours, count) = generate_dirs(runtime, runs, &https_url, live);
    assert_eq!(count, dirs);
    println!(
        "  HTTPS (git http-backend, test CA, basic auth): peer `git ls-remote` + `git ls-tree`: median {}; appset: median {}, ratio {:.2}",
        ms(https_peer),
        ms(https_ours),
        https_ours.as_secs_f64() / https_peer.as_secs_f64()
    );
}

/// A free port on 127.0.0.1 (for the test servers the private git benchmark starts).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

// The test suite's servers (the benchmark uses only part of what they offer).
#[allow(dead_code)]
#[path = "../tests/harness/git_https.rs"]
mod git_https;
#[allow(dead_code)]
#[path = "../tests/harness/sshd.rs"]
mod sshd;

/// Runs `appset` with `args` to its end under GNU time (Debian's `time` package): its standard
/// output, whether it succeeded, and its peak resident memory in KiB.
fn run_measured(args: &[String], cache: &Path) -> (Vec<u8>, bool, u64) {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(env!("CARGO_BIN_EXE_appset"))
        .args(args)
        .env("APPSET_GIT_CACHE", cache)
        .output()
        .expect("/usr/bin/time (Debian's time package) runs appset");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let peak = stderr
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    (out.stdout, out.status.success(), peak)
}

/// The arguments of `appset render -o names` for a set reading `repo`'s directories `pattern`
/// at its `file://` URL (fetched into the git cache on the first run, then one handshake per run,
/// as for a remote; `--repo URL=PATH` would read the working tree instead, uncommitted files
/// included, a walk of the file system rather than of a git tree).
fn render_names(repo: &Path, pattern: &str) -> Vec<String> {
    let dir = repo.parent().expect("repo parent");
    let file = dir.join(format!("names-{}.yaml", pattern.replace(['*', '/'], "_")));
    std::fs::write(
        &file,
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: dirs}}\nspec:\n  generators:\n  \
             - git:\n      repoURL: file://{repo}\n      revision: HEAD\n      directories: \
             [{{path: '{pattern}'}}]\n  template:\n    metadata: {{name: '{{{{path[0]}}}}-{{{{path.basename}}}}'}}\n    spec:\n      \
             project: default\n      source: {{repoURL: 'file://{repo}', targetRevision: HEAD, \
             path: '{{{{path}}}}'}}\n      destination: {{server: https://kubernetes.default.svc, namespace: \
             '{{{{path.basename}}}}'}}\n",
            repo = repo.display()
        ),
    )
    .expect("write the set");
    vec![
        "render".into(),
        "-o".into(),
        "names".into(),
        file.display().to_string(),
    ]
}

fn bench_render_names(runs: usize, repo: &Path, dirs: usize) {
    let cache = tempfile::tempdir().expect("cache");
    let peer = measure(runs, || {
        black_box(git(repo, &["ls-tree", "-r", "-d", "--name-only", "HEAD"]));
    });
    let (mut count, mut peak) = (0, 0);
    let all = render_names(repo, "*/*");
    let ours = measure(runs, || {
        let (out, ok, rss) = run_measured(&all, cache.path());
        assert!(ok, "appset render failed");
        count = out.iter().filter(|b| **b == b'\n').count();
        peak = peak.max(rss);
    });
    assert_eq!(count, dirs);
    // The same with the commit's trees walked in every run: the listing a run keeps beside the
    // clone (for the next one) removed before each.
    let listings = || {
        std::fs::read_dir(cache.path())
            .expect("cache")
            .map(|e| e.expect("entry").path().join(appset::sources::git::LISTING_FILE))
            .filter(|p| p.is_file())
            .collect::<Vec<_>>()
    };
    assert_eq!(listings().len(), 1, "a listing is kept beside the clone");
    let walking = measure(runs, || {
        for listing in listings() {
            std::fs::remove_file(listing).expect("remove the listing");
        }
        let (_, ok, _) = run_measured(&all, cache.path());
        assert!(ok, "appset render failed");
    });
    // One Application: the process's own footprint.
    let (out, ok, base) = run_measured(&render_names(repo, "team-000/app-000"), cache.path());
    assert!(ok && out.iter().filter(|b| **b == b'\n').count() == 1);
    println!("appset render -o names: {count} Applications from a repository of {dirs} directories");
    println!(
        "  peer `git ls-tree -r -d --name-only HEAD`: median {}; appset (under /usr/bin/time): median {}, ratio {:.2}",
        ms(peer),
        ms(ours),
        ours.as_secs_f64() / peer.as_secs_f64()
    );
    println!(
        "  appset walking the commit's trees in every run (no listing kept from the last): median {}, ratio {:.2}",
        ms(walking),
        walking.as_secs_f64() / peer.as_secs_f64()
    );
    println!(
        "  peak RSS {:.1} MiB; of one Application {:.1} MiB; per Application above that {:.2} KiB",
        peak as f64 / 1024.0,
        base as f64 / 1024.0,
        peak.saturating_sub(base) as f64 / count as f64
    );
}

/// The allocator `appset` runs with (src/main.rs), so the figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // As the binary does (main.rs: small pages only).
    #[cfg(target_os = "linux")]
    rustix::thread::disable_transparent_huge_pages(true).expect("prctl(PR_SET_THP_DISABLE)");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--bench");
    // `cargo bench --bench render -- PART...` runs only those parts (render, or one of its modes
    // render-default, render-jinja and render-go; git, names, private); none: all.
    let parts: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |part: &str| parts.is_empty() || parts.contains(&part);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let runs = if full { 15 } else { 1 };
    bench_render(&runtime, runs, wants);
    if !(wants("git") || wants("names") || wants("private")) {
        return;
    }
    let dirs = if full { 10_000 } else { 400 };
    let (_tmp, repo) = dirs_repo(dirs);
    if wants("git") {
        bench_git(&runtime, runs, &repo, dirs);
    }
    if wants("names") {
        bench_render_names(runs, &repo, dirs);
    }
    if wants("private") {
        bench_private_git(&runtime, runs, &repo, dirs);
    }
}
