//! The `appset` binary as users run it: exit codes, stdout formats, stderr messages, offline
//! inputs (`--clusters`, `--pull-requests`, `--repo URL=PATH`, recorded documents, stdin).

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use serde_json::Value;

mod harness;

fn appset(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_appset"))
        .args(args)
        .env(
            "APPSET_GIT_CACHE",
            std::env::temp_dir().join("appset-cli-test-cache"),
        )
        .env_remove("KUBECONFIG")
        .env("HOME", std::env::temp_dir().join("appset-cli-test-home"))
        .output()
        .expect("run appset")
}

fn repo_file(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn render_prints_yaml_applications_for_the_bundled_example() {
    let o = appset(&["render", &repo_file("generators/list/three-clusters.yaml")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.matches("kind: Application\n").count(), 3);
    assert_eq!(out.matches("\n---\n").count(), 2);
    assert!(out.contains("name: engineering-dev-guestbook"));
    assert!(out.contains("server: https://9.8.7.6"));
}

#[test]
fn output_formats_json_params_and_names() {
    let file = repo_file("generators/matrix/env-by-directories.yaml");
    let json: Value = serde_json::from_str(&stdout(&appset(&["render", "-o", "json", &file]))).unwrap();
    let apps = json.as_array().unwrap();
    assert_eq!(apps.len(), 6);
    assert_eq!(apps[0]["spec"]["source"]["path"], "apps/billing/overlays/dev");
    assert!(apps[0]["metadata"].get("ownerReferences").is_none());

    let params: Value =
        serde_json::from_str(&stdout(&appset(&["render", "--output", "params", &file]))).unwrap();
    assert_eq!(params[0]["env"], "dev");
    assert_eq!(params[0]["path.basename"], "billing");

    let names = stdout(&appset(&["render", "-o", "names", &file]));
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        [
            "billing-dev",
            "frontend-dev",
            "billing-staging",
            "frontend-staging",
            "billing-prod",
            "frontend-prod"
        ]
    );
}

#[test]
fn several_files_render_in_order_and_json_is_one_array() {
    let a = repo_file("generators/list/three-clusters.yaml");
    let b = repo_file("templates/guestbook-sync-policy.yaml");
    let names = stdout(&appset(&["render", "-o", "names", &a, &b]));
    assert_eq!(names.lines().count(), 4);
    assert_eq!(names.lines().last(), Some("in-cluster-guestbook"));
    let json: Value = serde_json::from_str(&stdout(&appset(&["render", "-o", "json", &a, &b]))).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 4);
}

#[test]
fn malformed_yaml_exits_non_zero_with_the_file_and_position_on_stderr() {
    let file = repo_file("templates/err-malformed-yaml.yaml");
    let o = appset(&["render", &file]);
    assert!(!o.status.success());
    assert!(stdout(&o).is_empty());
    let err = stderr(&o);
    assert!(err.contains("err-malformed-yaml.yaml: malformed YAML"), "{err}");
    assert!(err.contains("line 4 column 5"), "{err}");
}

#[test]
fn a_generator_error_names_the_application_set_and_the_generator_field() {
    let o = appset(&["render", &repo_file("generators/list/err-non-string-value.yaml")]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(r#"ApplicationSet "numbers": spec.generators[0].list.elements[0].replicas"#),
        "{err}"
    );
}

#[test]
fn validation_errors_fail_the_render_and_print_nothing() {
    let o = appset(&["render", &repo_file("templates/err-duplicate-names.yaml")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).is_empty());
    assert!(stderr(&o).contains("duplicate name: app-prod"));
}

#[test]
fn missing_parameters_are_warnings_on_stderr_and_the_render_succeeds() {
    let o = appset(&["render", &repo_file("templates/templated-keys-and-warnings.yaml")]);
    assert!(o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("warning:") && err.contains("parameter `teem` not found"),
        "{err}"
    );
}

#[test]
fn clusters_and_pull_requests_come_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let appset_file = write(
        dir.path(),
        "set.yaml",
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: mix}
spec:
  generators:
  - matrix:
      generators:
      - clusters: {selector: {matchLabels: {env: prod}}}
      - pullRequest: {github: {owner: Example, repo: App}}
  template:
    metadata: {name: 'pr-{{number}}-{{name}}'}
    spec:
      project: default
      destination: {server: '{{server}}', namespace: 'pr-{{number}}'}
"#,
    );
    let clusters = write(
        dir.path(),
        "clusters.yaml",
        r#"
apiVersion: v1
kind: Secret
metadata: {name: a, namespace: argocd, labels: {argocd.argoproj.io/secret-type: cluster, env: prod}}
stringData: {name: prod-a, server: https://a.example.com}
---
apiVersion: v1
kind: Secret
metadata: {name: b, namespace: other-ns, labels: {argocd.argoproj.io/secret-type: cluster, env: prod}}
stringData: {name: prod-b, server: https://b.example.com}
"#,
    );
    let prs = write(
        dir.path(),
        "prs.yaml",
        "example/app:\n- {number: 7, branch: feat, headSha: abc}\n- {number: 8, branch: fix, headSha: def}\n",
    );
    let o = appset(&["render", "--clusters", clusters.to_str().unwrap()]);
    assert!(!o.status.success(), "FILE is required");
    assert!(stderr(&o).contains("<FILE>"), "{}", stderr(&o));
    let o = appset(&[
        "render",
        "-o",
        "names",
        "--clusters",
        clusters.to_str().unwrap(),
        "--pull-requests",
        prs.to_str().unwrap(),
        appset_file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Only the Secret in the controller namespace (argocd) counts.
    assert_eq!(
        stdout(&o).lines().collect::<Vec<_>>(),
        ["pr-7-prod-a", "pr-8-prod-a"]
    );

    let o = appset(&[
        "render",
        "-o",
        "names",
        "--namespace",
        "other-ns",
        "--clusters",
        clusters.to_str().unwrap(),
        "--pull-requests",
        prs.to_str().unwrap(),
        appset_file.to_str().unwrap(),
    ]);
    assert_eq!(
        stdout(&o).lines().collect::<Vec<_>>(),
        ["pr-7-prod-b", "pr-8-prod-b"]
    );
}

#[test]
fn an_application_set_can_be_read_from_stdin() {
    let text = std::fs::read_to_string(repo_file("generators/list/three-clusters.yaml")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_appset"))
        .args(["render", "-o", "names", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert_eq!(stdout(&o).lines().count(), 3);
}

#[test]
fn the_repo_option_reads_a_local_git_repository_instead_of_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    for d in ["apps/api", "apps/web", ".github/x"] {
        std::fs::create_dir_all(repo.join(d)).unwrap();
        std::fs::write(repo.join(d).join("k.yaml"), "a: b\n").unwrap();
    }
    let git = |args: &[&str]| harness::git::git(&repo, args);
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "init"]);
    let set = write(
        dir.path(),
        "set.yaml",
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: local}
spec:
  generators:
  - git:
      repoURL: https://git.example.invalid/org/gitops.git
      revision: main
      directories: [{path: 'apps/*'}]
  template:
    metadata: {name: '{{path.basename}}'}
    spec:
      project: default
      destination: {server: https://kubernetes.default.svc, namespace: '{{path.basename}}'}
"#,
    );
    let repo_arg = format!("https://git.example.invalid/org/gitops.git={}", repo.display());
    let o = appset(&[
        "render",
        "-o",
        "names",
        "--repo",
        &repo_arg,
        set.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().collect::<Vec<_>>(), ["api", "web"]);

    let o = appset(&["render", "--repo", "no-equals-sign", set.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("expected URL=PATH"));
}

#[test]
fn crds_prints_both_definitions_as_committed() {
    let o = appset(&["crds"]);
    assert!(o.status.success());
    let out = stdout(&o);
    let committed = std::fs::read_to_string(repo_file("crds/applicationset.yaml")).unwrap();
    assert!(out.starts_with(&committed));
    assert!(out.contains("name: applications.argoproj.io"));
}

#[test]
fn an_unreachable_repository_fails_with_the_url_and_the_generator_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-repo");
    let set = write(
        dir.path(),
        "set.yaml",
        &format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: gone}}\nspec:\n  generators:\n  \
             - list: {{elements: [{{a: b}}]}}\n  - git: {{repoURL: 'file://{}', directories: [{{path: '*'}}]}}\n  \
             template:\n    metadata: {{name: x}}\n    spec: {{project: default, destination: {{namespace: x}}}}\n",
            missing.display()
        ),
    );
    let o = appset(&["render", set.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).is_empty(),
        "nothing is printed when any generator fails"
    );
    let err = stderr(&o);
    assert!(
        err.contains(r#"ApplicationSet "gone": spec.generators[1].git"#),
        "{err}"
    );
    assert!(err.contains(&format!("file://{}", missing.display())), "{err}");
}

#[test]
fn unknown_fields_outside_generators_are_warned_about_not_silently_dropped() {
    let o = appset(&[
        "render",
        "-o",
        "names",
        &repo_file("templates/unknown-fields-warn.yaml"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "dev");
    let err = stderr(&o);
    assert!(
        err.contains(r#"ApplicationSet "typos": unknown field spec.templatePach ignored"#),
        "{err}"
    );
}

/// `-o params` prints the parameter sets even when the template renders an invalid Application
/// (here an upper-case name): parameters are what one debugs it with. The error is on stderr and
/// the exit status says it failed.
#[test]
fn params_are_printed_even_when_an_application_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let set = write(
        dir.path(),
        "set.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: upper}\nspec:\n  generators:\n  \
         - list: {elements: [{cluster: Prod}, {cluster: dev}]}\n  template:\n    metadata: {name: '{{cluster}}-app'}\n    \
         spec: {project: default, destination: {server: https://kubernetes.default.svc, namespace: x}}\n",
    );
    let o = appset(&["render", "-o", "params", set.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let params: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("params on stdout");
    assert_eq!(
        params,
        serde_json::json!([{"cluster": "Prod"}, {"cluster": "dev"}])
    );
    assert!(stderr(&o).contains("Prod-app"), "{}", stderr(&o));
    // Other outputs still print nothing for a set with an invalid Application.
    let names = appset(&["render", "-o", "names", set.to_str().unwrap()]);
    assert_eq!(names.status.code(), Some(1));
    assert_eq!(stdout(&names), "");
}

/// Argo CD's rule (issue 13, item 3): serving ApplicationSets of other namespaces with SCM
/// providers enabled and no allow-list would let a tenant point the controller's forge
/// credentials at an API of its choosing, so `run` refuses to start, with Argo CD's message.
#[test]
fn run_refuses_other_namespaces_with_scm_providers_and_no_allow_list() {
    let out = appset(&["run", "--applicationset-namespaces", "team-*"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "When enabling applicationset in any namespace using applicationset-namespaces, you must either \
             set --enable-scm-providers=false or specify --allowed-scm-providers"
        ),
        "{}",
        stderr(&out)
    );
    // An invalid policy is Argo CD's message too.
    let out = appset(&["run", "--policy", "everything"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Policy value can be: sync, create-only, create-update, create-delete"));
}

/// Issue 13, item 6: Argo CD's git switches on the CLI, by flag and by Argo CD's environment
/// variables: `--enable-new-git-file-globbing` (doublestar: `*` stays in one directory, `**`
/// any depth) and `--include-hidden-directories`.
#[test]
fn argo_cds_git_switches_change_what_the_git_generators_select() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    for f in [
        "apps/a/config.json",
        "apps/a/deep/config.json",
        ".hidden/config.json",
    ] {
        let path = repo.join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("{{\"n\": \"{}\"}}\n", f.replace(['/', '.'], "-"))).unwrap();
    }
    let git = |args: &[&str]| harness::git::git(&repo, args);
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "init"]);
    let set = |name: &str, generator: &str| {
        write(
            dir.path(),
            &format!("{name}.yaml"),
            &format!(
                "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: {name}}}\nspec:\n  \
                 generators:\n  - git:\n      repoURL: https://git.example.invalid/g.git\n      revision: HEAD\n      \
                 {generator}\n  template:\n    metadata: {{name: '{{{{path.basenameNormalized}}}}'}}\n    spec:\n      \
                 project: default\n      destination: {{server: https://kubernetes.default.svc, namespace: x}}\n"
            ),
        )
    };
    let files = set("files", "files: [{path: 'apps/*/config.json'}]");
    let dirs = set("dirs", "directories: [{path: '*'}]");
    let repo_arg = format!("https://git.example.invalid/g.git={}", repo.display());
    let names = |file: &std::path::Path, extra: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_appset"));
        cmd.args(["render", "-o", "names", "--repo", &repo_arg])
            .args(extra)
            .arg(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o).lines().map(str::to_string).collect::<Vec<_>>()
    };
    // git pathspec: `*` crosses `/`; doublestar: it does not.
    assert_eq!(names(&files, &[], &[]), ["a", "deep"]);
    assert_eq!(names(&files, &["--enable-new-git-file-globbing"], &[]), ["a"]);
    assert_eq!(
        names(
            &files,
            &[],
            &[(
                "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_NEW_GIT_FILE_GLOBBING",
                "true"
            )]
        ),
        ["a"]
    );
    // Hidden directories are skipped unless asked for.
    assert_eq!(names(&dirs, &[], &[]), ["apps"]);
    assert_eq!(
        names(
            &dirs,
            &[],
            &[("ARGOCD_REPO_SERVER_INCLUDE_HIDDEN_DIRECTORIES", "true")]
        ),
        ["hidden", "apps"]
    );
}

/// Issue 14: `install` needs an image (there is no published one to default to), refuses zero
/// replicas and a namespace that cannot exist.
#[test]
fn install_refuses_a_missing_image_zero_replicas_and_an_invalid_namespace() {
    let out = appset(&["install", "--crds", "never"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--image <IMAGE>"), "{}", stderr(&out));
    let image = [
        "install",
        "--crds",
        "never",
        "--image",
        "registry.example.com/appset:1",
    ];
    let with = |extra: &[&str]| appset(&[&image[..], extra].concat());
    let out = with(&["--replicas", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--replicas"), "{}", stderr(&out));
    let out = with(&["--namespace", "Argo_CD"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not a namespace name"),
        "{}",
        stderr(&out)
    );
    let out = with(&["--replicas", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("args: [run]"),
        "one replica elects no leader"
    );
}

/// Issue 14: `serve` says where it listens, at the default log level, and takes a host name.
#[test]
fn serve_says_where_it_listens_and_takes_localhost() {
    use std::io::{BufRead, Read, Write};
    let mut child = Command::new(env!("CARGO_BIN_EXE_appset"))
        .args(["serve", "--listen", "localhost:0"])
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("listening on http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(s, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// `appset` with extra environment variables (and `KUBERNETES_SERVICE_HOST` unset, so no
/// in-cluster configuration is found).
fn appset_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_appset"))
        .args(args)
        .env(
            "APPSET_GIT_CACHE",
            std::env::temp_dir().join("appset-cli-test-cache"),
        )
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env("HOME", std::env::temp_dir().join("appset-cli-test-home"))
        .envs(env.iter().copied())
        .output()
        .expect("run appset")
}

/// A port on 127.0.0.1 nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn run_against_a_down_api_server_says_it_cannot_reach_it_not_to_install_the_crd() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let kubeconfig = write(
        dir.path(),
        "kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: down\n  cluster: {{server: 'https://127.0.0.1:{port}', \
             insecure-skip-tls-verify: true}}\nusers:\n- name: u\n  user: {{token: x}}\ncontexts:\n- name: c\n  \
             context: {{cluster: down, user: u, namespace: argocd}}\ncurrent-context: c\n"
        ),
    );
    let o = appset_env(
        &["run", "--metrics-addr=127.0.0.1:0"],
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "error: cannot reach the Kubernetes API server at https://127.0.0.1:{port}: "
        )),
        "{err}"
    );
    assert!(last.contains("Connection refused"), "{err}");
    assert!(!err.contains("install") && !err.contains("CRD"), "{err}");
}

/// Each piece of `line` (split at `: `) of some length appears in it once.
fn each_cause_once(line: &str) {
    for piece in line.split(": ").filter(|p| p.len() >= 12) {
        assert_eq!(line.matches(piece).count(), 1, "{piece:?} repeated in {line}");
    }
}

#[test]
fn run_without_a_kubeconfig_names_each_cause_once() {
    let o = appset_env(
        &["run", "--metrics-addr=127.0.0.1:0"],
        &[("KUBECONFIG", "/nonexistent/kubeconfig")],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("/nonexistent/kubeconfig"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    each_cause_once(err.trim_end());
}

#[test]
fn crds_into_a_closed_pipe_ends_quietly() {
    // More than a pipe holds, so the write meets the closed pipe.
    let o = appset(&["crds"]);
    assert!(o.stdout.len() > 1 << 16, "{}", o.stdout.len());
    for _ in 0..3 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_appset"))
            .arg("crds")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run appset");
        // `| head -1`: one line read, then the reader is gone.
        let mut out = child.stdout.take().unwrap();
        let mut first = [0u8; 16];
        std::io::Read::read_exact(&mut out, &mut first).unwrap();
        drop(out);
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{:?} {}", o.status, stderr(&o));
        assert_eq!(stderr(&o), "");
    }
}

#[test]
fn render_prints_appsets_own_error_without_library_logs_or_colour() {
    let dir = tempfile::tempdir().unwrap();
    let set = write(
        dir.path(),
        "prs.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: prs}\nspec:\n  generators:\n  \
         - pullRequest: {github: {owner: example, repo: app}}\n  template:\n    metadata: {name: 'pr-{{number}}'}\n    \
         spec: {project: default, destination: {server: https://kubernetes.default.svc, namespace: x}}\n",
    );
    let api = format!("http://127.0.0.1:{}", closed_port());
    let args = ["render", "--github-api", &api, set.to_str().unwrap()];
    // The GitHub client logs its failure at ERROR; by default render shows appset's words only.
    let o = appset_env(&args, &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("cannot list pull requests of example/app"),
        "{err}"
    );
    // RUST_LOG still wins; into a pipe, logs carry no colour codes, and none under NO_COLOR.
    for env in [
        &[("RUST_LOG", "debug")][..],
        &[("RUST_LOG", "debug"), ("NO_COLOR", "1")],
    ] {
        let o = appset_env(&args, env);
        let err = stderr(&o);
        assert!(err.lines().count() > 1, "{err}");
        assert!(!err.contains('\u{1b}'), "{err}");
    }
}

#[test]
fn input_files_of_the_wrong_shape_say_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let set = repo_file("generators/cluster/all-clusters.yaml");
    let config_map = write(
        dir.path(),
        "clusters.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: clusters}\ndata: {prod: 'https://prod.example.com'}\n",
    );
    let o = appset(&["render", "--clusters", config_map.to_str().unwrap(), &set]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("document 1 is a ConfigMap (clusters); --clusters takes Argo CD cluster Secrets"),
        "{err}"
    );
    assert!(err.contains("\n  kind: Secret\n"), "{err}");

    let wrapped = write(
        dir.path(),
        "prs.yaml",
        "pullRequests:\n  example/app:\n  - {number: 7, branch: feat}\n",
    );
    let o = appset(&["render", "--pull-requests", wrapped.to_str().unwrap(), &set]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("`pullRequests` holds a map, not a list of pull requests"),
        "{err}"
    );
    assert!(err.contains("e.g.:\n  example/apps:\n  - {number: 7"), "{err}");
}

#[test]
fn a_git_pattern_that_matches_nothing_is_a_warning_naming_the_pattern_and_the_revision() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("apps/web")).unwrap();
    std::fs::write(repo.join("apps/web/k.yaml"), "a: b\n").unwrap();
    let git = |args: &[&str]| harness::git::git(&repo, args);
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "init"]);
    let set = write(
        dir.path(),
        "set.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: typo}\nspec:\n  generators:\n  \
         - git: {repoURL: 'https://git.example.invalid/gitops.git', revision: main, directories: [{path: 'aps/*'}]}\n  \
         template:\n    metadata: {name: '{{path.basename}}'}\n    spec: {project: default, destination: {namespace: x}}\n",
    );
    let repo_arg = format!("https://git.example.invalid/gitops.git={}", repo.display());
    let o = appset(&["render", "--repo", &repo_arg, set.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    assert!(
        err.contains(
            "ApplicationSet \"typo\": spec.generators[0].git.directories[0].path: pattern \"aps/*\" matches no \
             directory of https://git.example.invalid/gitops.git at revision \"main\" (commit "
        ),
        "{err}"
    );
}

/// An ApplicationSet named `name` whose git directories generator lists `apps/*` of
/// `https://git.example.invalid/r.git` at `revision`, one Application `NAME-DIR` per directory.
fn git_dirs_set(name: &str, revision: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: {name}}}\nspec:\n  \
         generators:\n  - git:\n      repoURL: https://git.example.invalid/r.git\n      revision: {revision}\n      \
         directories: [{{path: 'apps/*'}}]\n  template:\n    metadata: {{name: '{name}-{{{{path.basename}}}}'}}\n    \
         spec:\n      project: default\n      destination: {{server: https://kubernetes.default.svc, namespace: x}}\n"
    )
}

/// Recorded inputs for [`git_dirs_set`]: `apps/a` and `apps/b` on `main`.
const RECORDED_DIRS: &str =
    "git:\n  https://git.example.invalid/r.git:\n    files: {apps/a/k.yaml: '', apps/b/k.yaml: ''}\n";

fn names_of(o: &Output) -> Vec<String> {
    stdout(o).lines().map(str::to_string).collect()
}

#[test]
fn every_application_set_of_a_multi_document_file_renders_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let list = std::fs::read_to_string(repo_file("generators/list/three-clusters.yaml")).unwrap();
    let sync = std::fs::read_to_string(repo_file("templates/guestbook-sync-policy.yaml")).unwrap();
    let file = write(dir.path(), "two.yaml", &format!("{list}\n---\n{sync}"));
    let o = appset(&["render", "-o", "names", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let names = names_of(&o);
    assert_eq!(names.len(), 4, "{names:?}");
    assert_eq!(names.last().map(String::as_str), Some("in-cluster-guestbook"));
    let json: Value = serde_json::from_str(&stdout(&appset(&[
        "render",
        "-o",
        "json",
        file.to_str().unwrap(),
    ])))
    .unwrap();
    assert_eq!(
        json.as_array().unwrap().len(),
        4,
        "one array of every set's Applications"
    );
}

#[test]
fn a_kind_list_of_application_sets_renders_each() {
    let dir = tempfile::tempdir().unwrap();
    let item = |name: &str| -> Value { serde_saphyr::from_str(&git_dirs_set(name, "main")).unwrap() };
    let recorded: Value = serde_saphyr::from_str(RECORDED_DIRS).unwrap();
    let mut inputs = serde_json::json!({"apiVersion": "appset.io/v1alpha1", "kind": "RecordedInputs"});
    inputs["git"] = recorded["git"].clone();
    let list =
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [item("one"), inputs, item("two")]});
    let file = write(dir.path(), "list.json", &list.to_string());
    let o = appset(&["render", "-o", "names", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(names_of(&o), ["one-a", "one-b", "two-a", "two-b"]);
}

#[test]
fn recorded_inputs_are_found_by_their_marker_wherever_they_stand_and_serve_every_set() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (git_dirs_set("one", "main"), git_dirs_set("two", "HEAD"));
    let marked = format!("apiVersion: appset.io/v1alpha1\nkind: RecordedInputs\n{RECORDED_DIRS}");
    for (label, text) in [
        (
            "kind-less, at the end",
            format!("{one}---\n{two}---\n{RECORDED_DIRS}"),
        ),
        (
            "kind-less, in the middle",
            format!("{one}---\n{RECORDED_DIRS}---\n{two}"),
        ),
        ("marked, first", format!("{marked}---\n{one}---\n{two}")),
    ] {
        let file = write(dir.path(), "sets.yaml", &text);
        let o = appset(&["render", "-o", "names", file.to_str().unwrap()]);
        assert!(o.status.success(), "{label}: {}", stderr(&o));
        assert_eq!(names_of(&o), ["one-a", "one-b", "two-a", "two-b"], "{label}");
    }
    // Today's form: one set, then its recorded inputs without a kind.
    let file = write(dir.path(), "old.yaml", &format!("{one}---\n{RECORDED_DIRS}"));
    let o = appset(&["render", "-o", "names", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(names_of(&o), ["one-a", "one-b"]);
    // A misspelt recorded key is named with its document.
    let file = write(
        dir.path(),
        "typo.yaml",
        &format!("{one}---\n{two}---\nclusterz: []\n"),
    );
    let o = appset(&["render", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("typo.yaml: document 3: recorded inputs: clusterz: unknown field `clusterz`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn one_failing_set_is_named_by_document_and_the_others_still_print() {
    let dir = tempfile::tempdir().unwrap();
    let bad = git_dirs_set("bad", "no-such-branch");
    let text = format!(
        "{}---\n{bad}---\napiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {{name: p}}\n---\n{}---\n{RECORDED_DIRS}",
        git_dirs_set("one", "main"),
        git_dirs_set("two", "main")
    );
    let file = write(dir.path(), "sets.yaml", &text);
    let o = appset(&["render", "-o", "names", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "any failing set fails the command");
    assert_eq!(names_of(&o), ["one-a", "one-b", "two-a", "two-b"]);
    let err = stderr(&o);
    assert!(
        err.contains(r#"sets.yaml: document 2: ApplicationSet "bad": spec.generators[0].git"#),
        "{err}"
    );
    assert!(
        err.contains("sets.yaml: document 3: kind AppProject is not an ApplicationSet; skipped"),
        "{err}"
    );
}

#[test]
fn diff_pairs_the_sets_of_two_multi_set_files_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let old = write(
        dir.path(),
        "old.yaml",
        &format!(
            "{}---\n{}---\n{RECORDED_DIRS}",
            git_dirs_set("one", "main"),
            git_dirs_set("gone", "main")
        ),
    );
    // `one` changes its destination; `gone` is removed; `new` is added.
    let changed = git_dirs_set("one", "main").replace("namespace: x", "namespace: other");
    let new = write(
        dir.path(),
        "new.yaml",
        &format!(
            "{}---\n{changed}---\n{RECORDED_DIRS}",
            git_dirs_set("new", "main")
        ),
    );
    let o = appset(&[
        "render",
        "--diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "-o",
        "names",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        names_of(&o),
        ["+ new-a", "+ new-b", "~ one-a", "~ one-b", "- gone-a", "- gone-b"]
    );
    let twice = write(
        dir.path(),
        "twice.yaml",
        &format!("{0}---\n{0}---\n{RECORDED_DIRS}", git_dirs_set("one", "main")),
    );
    let o = appset(&["render", "--diff", old.to_str().unwrap(), twice.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("two ApplicationSets named argocd/one"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_repo_option_reads_the_working_tree_of_the_checked_out_branch() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    harness::git::init_with_dirs(&repo, &["apps/api", "apps/web"]);
    let git = |args: &[&str]| harness::git::git(&repo, args);
    std::fs::create_dir_all(repo.join("config")).unwrap();
    std::fs::write(repo.join("config/a.json"), r#"{"env": "dev"}"#).unwrap();
    std::fs::write(repo.join(".gitignore"), "apps/ignored/\n*.local.json\n").unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-qm", "config"]);
    git(&["branch", "release"]);
    // Uncommitted: a new directory, a changed file, a deleted one; ignored files.
    let write_file = |rel: &str| {
        std::fs::create_dir_all(repo.join(rel).parent().unwrap()).unwrap();
        std::fs::write(repo.join(rel), "k: v\n").unwrap();
    };
    write_file("apps/new/k.yaml");
    std::fs::write(repo.join("config/a.json"), r#"{"env": "staging"}"#).unwrap();
    std::fs::remove_file(repo.join("apps/web/k.yaml")).unwrap();
    write_file("apps/ignored/k.yaml");
    std::fs::write(repo.join("config/b.local.json"), r#"{"env": "mine"}"#).unwrap();

    let sets = |revision: &str| {
        let files = format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: cfg}}\nspec:\n  \
             generators:\n  - git:\n      repoURL: https://git.example.invalid/r.git\n      revision: {revision}\n      \
             files: [{{path: 'config/*.json'}}]\n  template:\n    metadata: {{name: 'cfg-{{{{env}}}}'}}\n    \
             spec:\n      project: default\n      destination: {{server: https://kubernetes.default.svc, namespace: x}}\n"
        );
        let file = write(
            dir.path(),
            &format!("sets-{}.yaml", revision.replace('/', "-")),
            &format!("{}---\n{files}", git_dirs_set("dirs", revision)),
        );
        file.to_string_lossy().into_owned()
    };
    let render = |file: &str, repo_arg: &str| {
        let repo_arg = format!("https://git.example.invalid/r.git={repo_arg}");
        appset(&["render", "-o", "names", "--repo", &repo_arg, file])
    };
    let path = repo.to_string_lossy().into_owned();
    let note = format!("reading the working tree of {path} (uncommitted changes included)");

    for revision in ["main", "HEAD", "refs/heads/main"] {
        let o = render(&sets(revision), &path);
        assert!(o.status.success(), "{revision}: {}", stderr(&o));
        assert_eq!(
            names_of(&o),
            ["dirs-api", "dirs-new", "cfg-staging"],
            "{revision}"
        );
        assert_eq!(stderr(&o).matches(&note).count(), 1, "{revision}: {}", stderr(&o));
    }

    // `@committed`, or another branch: the last commit, and no note.
    for (revision, repo_arg) in [("main", format!("{path}@committed")), ("release", path.clone())] {
        let o = render(&sets(revision), &repo_arg);
        assert!(o.status.success(), "{revision}: {}", stderr(&o));
        assert_eq!(
            names_of(&o),
            ["dirs-api", "dirs-web", "cfg-dev"],
            "{revision} {repo_arg}"
        );
        assert!(!stderr(&o).contains("working tree"), "{}", stderr(&o));
    }
}

#[test]
fn steps_prints_the_rollout_of_the_bundled_rolling_sync_example() {
    let o = appset(&["render", "-o", "steps", &repo_file("templates/rolling-sync.yaml")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "ApplicationSet guestbook: RollingSync, 3 steps, 10 Applications\n\
         step 1: env In (dev); maxUpdate 1: 1 at a time\n  \
         batch 1: guestbook-dev-eu\n  \
         batch 2: guestbook-dev-us\n\
         step 2: env In (staging); maxUpdate 50% of 4: 2 at a time\n  \
         batch 1: guestbook-staging-ap, guestbook-staging-eu\n  \
         batch 2: guestbook-staging-sa, guestbook-staging-us\n\
         step 3: env In (prod); maxUpdate 100% of 3: 3 at a time\n  \
         batch 1: guestbook-prod-ap, guestbook-prod-eu, guestbook-prod-us\n\
         in no step, never synced by the controller: guestbook-sandbox\n"
    );
    // Without a strategy: every Application at once.
    let o = appset(&[
        "render",
        "-o",
        "steps",
        &repo_file("generators/list/three-clusters.yaml"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "ApplicationSet guestbook: AllAtOnce, 3 Applications: all at once, each synced by its own \
         syncPolicy\n  engineering-dev-guestbook\n  engineering-prod-guestbook\n  \
         finance-preprod-guestbook\n"
    );
    let o = appset(&[
        "render",
        "-o",
        "steps",
        "--diff",
        &repo_file("templates/rolling-sync.yaml"),
        &repo_file("templates/rolling-sync.yaml"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("does not combine with --diff"),
        "{}",
        stderr(&o)
    );
}

/// A RollingSync set of `env`-labelled list elements with the given steps (YAML).
fn rolling_set(name: &str, envs: &[&str], steps: &str) -> String {
    let elements: Vec<String> = envs
        .iter()
        .enumerate()
        .map(|(i, e)| format!("      - {{app: {e}-{i}, env: {e}}}\n"))
        .collect();
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: {name}}}\nspec:\n  \
         generators:\n  - list:\n      elements:\n{}  strategy:\n    type: RollingSync\n    \
         rollingSync:\n{steps}  template:\n    metadata:\n      name: '{{{{app}}}}'\n      labels: {{env: \
         '{{{{env}}}}'}}\n    spec:\n      project: default\n      source: {{repoURL: \
         https://example.com/r.git, path: app, targetRevision: HEAD}}\n      destination: {{server: \
         https://kubernetes.default.svc, namespace: app}}\n",
        elements.concat()
    )
}

#[test]
fn steps_prints_argo_cds_invalid_rollout_config_message_and_still_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "invalid.yaml",
        &rolling_set(
            "bad-operator",
            &["dev", "prod"],
            "      steps:\n      - matchExpressions: [{key: env, operator: Exists}]\n      \
             - matchExpressions: [{key: env, operator: In, values: [dev, prod]}]\n        maxUpdate: abc\n",
        ),
    );
    let o = appset(&["render", "-o", "steps", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "ApplicationSet bad-operator: RollingSync, 2 steps, 2 Applications\n\
         step 1: env Exists; no maxUpdate: all at once\n  \
         no Application\n\
         step 2: env In (dev, prod); maxUpdate abc: invalid (invalid value for IntOrString: invalid type: \
         string is not a percentage): 1 at a time\n  \
         batch 1: dev-0\n  \
         batch 2: prod-1\n\
         InvalidRolloutConfig: Step 1 has invalid matchExpression operators: Exists. Supported Operators \
         are 'In' and 'NotIn'\n  \
         - step 1: matchExpression operator \"Exists\" is neither In nor NotIn, so the expression selects \
         no Application that has its label\n  \
         - step 2: maxUpdate \"abc\" is neither an integer nor a percentage (invalid value for \
         IntOrString: invalid type: string is not a percentage): Argo CD syncs 1 at a time\n  \
         - step 1 selects no Application\n"
    );
}

#[test]
fn steps_fails_a_rolling_sync_without_steps_as_argo_cd_does_and_prints_the_other_sets() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}---\n{}",
        rolling_set("no-steps", &["dev"], "      steps: []\n"),
        rolling_set(
            "ok",
            &["dev"],
            "      steps:\n      - matchExpressions: [{key: env, operator: In, values: [dev]}]\n"
        )
    );
    let file = write(dir.path(), "sets.yaml", &text);
    let o = appset(&["render", "-o", "steps", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(
            "sets.yaml: document 1: ApplicationSet \"no-steps\": spec.strategy.rollingSync.steps: No steps \
             defined for rollout"
        ),
        "{err}"
    );
    assert_eq!(
        stdout(&o),
        "ApplicationSet ok: RollingSync, 1 step, 1 Application\n\
         step 1: env In (dev); no maxUpdate: all at once\n  \
         batch 1: dev-0\n"
    );
    // Rendered as Applications, the same file is not refused.
    let o = appset(&["render", "-o", "names", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
