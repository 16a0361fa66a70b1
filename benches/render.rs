//! Benchmarks (`cargo bench --bench render`); results and the command are in BENCHMARKS.md.
//!
//! 1. Render 10 000 Applications: a matrix of 100 cluster Secrets × 100 list elements, in the
//!    default `{{param}}` mode, in jinja mode and in goTemplate mode (target: under 150 ms each).
//! 2. The git directories generator on a repository with 10 000 directories, warm cache, against
//!    `git ls-tree -r -d --name-only HEAD` on the same repository in the same run (target: ratio at
//!    most 1.5). Measured through a `--repo URL=PATH` override (local repository) and through a
//!    `file://` URL (a fetch handshake with `git-upload-pack` on every call, as for a remote).
//!
//! Each measurement is the median of several runs after a warm-up. Without `--bench` (as `cargo
//! test --benches` runs it) a single quick pass checks that everything works.

use std::{
    hint::black_box,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use appset::{
    crd::ApplicationSet,
    generators::{GenerateContext, transform},
    pipeline::{self, Options},
    render::Engine,
    sources::{Inputs, LiveConfig, Recorded},
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

fn bench_render(runtime: &tokio::runtime::Runtime, runs: usize) {
    for mode in [Mode::Default, Mode::Jinja, Mode::Go] {
        let (set, recorded) = matrix_appset(mode);
        let inputs = Inputs::recorded(recorded);
        let opts = Options::default();
        let mut count = 0;
        let d = measure(runs, || {
            let out = runtime
                .block_on(pipeline::generate_applications(&set, &inputs, &opts))
                .expect("render");
            count = out.applications.len();
            black_box(out);
        });
        assert_eq!(count, 10_000);
        println!(
            "render 100 clusters x 100 elements = {count} Applications, {} mode: median {}",
            match mode {
                Mode::Default => "default {{param}}",
                Mode::Jinja => "jinja",
                Mode::Go => "goTemplate",
            },
            ms(d)
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

fn bench_git(runtime: &tokio::runtime::Runtime, runs: usize, dirs: usize) {
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
    let listed = git(&repo, &["ls-tree", "-r", "-d", "--name-only", "HEAD"])
        .lines()
        .count();

    let peer = measure(runs, || {
        black_box(git(&repo, &["ls-tree", "-r", "-d", "--name-only", "HEAD"]));
    });

    let set_text = |url: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: dirs}}\nspec:\n  generators:\n  \
             - git:\n      repoURL: {url}\n      revision: HEAD\n      directories: [{{path: '*/*'}}]\n  template:\n    \
             metadata: {{name: '{{{{path.basename}}}}'}}\n    spec:\n      project: default\n      destination: \
             {{server: https://kubernetes.default.svc, namespace: x}}\n"
        )
    };
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
        let set = appset::file::parse(&set_text(&url)).expect("parse").appset;
        let live = LiveConfig {
            git: !local,
            git_cache_dir: tmp.path().join("cache"),
            repo_overrides: if local {
                vec![(url.clone(), repo.clone())]
            } else {
                vec![]
            },
            ..LiveConfig::default()
        };
        let inputs = Inputs::new(Recorded::default(), live);
        let engine = Engine::Fasttemplate;
        let ctx = GenerateContext {
            appset_name: "dirs",
            appset_namespace: "argocd",
            controller_namespace: "argocd",
            project: "default",
            engine: &engine,
            sources: &inputs,
            outer: None,
            max_matrix_params: appset::generators::matrix::MAX_PARAMS,
        };
        let entry = &set.spec.generators[0];
        let mut count = 0;
        let ours = measure(runs, || {
            let out = runtime
                .block_on(transform(entry, &ctx, "spec.generators[0]"))
                .expect("generate");
            count = out[0].params.len();
            black_box(out);
        });
        assert_eq!(count, dirs);
        println!(
            "  appset git directories generator via {label}: median {} ({count} parameter sets), ratio {:.2}",
            ms(ours),
            ours.as_secs_f64() / peer.as_secs_f64()
        );
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let runs = if full { 15 } else { 1 };
    bench_render(&runtime, runs);
    bench_git(&runtime, runs, if full { 10_000 } else { 400 });
}
