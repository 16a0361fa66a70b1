//! Private repositories: the git source with Argo CD's repository credentials, against a real
//! OpenSSH server on 127.0.0.1 (`harness::sshd`, Debian's openssh-server).

use std::os::unix::fs::PermissionsExt;

use appset::sources::{
    credentials::RepoCredentials,
    git::{Access, GitError, GitRepos},
};
use harness::{git::init_with_dirs, sshd::Sshd};
use k8s_openapi::api::core::v1::Secret;

mod harness;

/// An Argo CD repository Secret for `url` with `data` as `stringData`.
fn repository_secret(name: &str, url: &str, data: &[(&str, &str)]) -> Secret {
    let mut string_data = serde_json::Map::new();
    string_data.insert("url".into(), url.into());
    for (k, v) in data {
        string_data.insert((*k).into(), (*v).into());
    }
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": "argocd",
                     "labels": {"argocd.argoproj.io/secret-type": "repository"}},
        "stringData": string_data,
    }))
    .unwrap()
}

/// The access a credential Secret gives to `url` (as the controller and `--repo-creds` build it).
fn access(secret: Secret, url: &str, known_hosts: Option<&str>) -> Access {
    let (creds, errors) = RepoCredentials::from_secrets(&[secret]);
    assert!(errors.is_empty(), "{errors:?}");
    Access {
        credential: creds.lookup(url, "default"),
        known_hosts: known_hosts.map(str::to_owned),
        ..Access::default()
    }
}

struct Setup {
    sshd: Sshd,
    _repos: tempfile::TempDir,
    url: String,
    cache: tempfile::TempDir,
}

fn setup() -> Setup {
    let sshd = Sshd::start();
    let repos = tempfile::tempdir().unwrap();
    let repo = repos.path().join("apps");
    init_with_dirs(&repo, &["apps/one", "apps/two"]);
    let url = sshd.url(&repo);
    Setup {
        sshd,
        _repos: repos,
        url,
        cache: tempfile::tempdir().unwrap(),
    }
}

fn unreachable_message(err: GitError) -> String {
    match err {
        GitError::Unreachable { message, .. } => message,
        other => panic!("expected a fetch failure, got {other:?}"),
    }
}

#[test]
fn an_ssh_key_with_a_known_host_reads_the_repository_and_stays_private() {
    let s = setup();
    let repos = GitRepos::new(s.cache.path().to_owned(), vec![]);
    let secret = repository_secret("apps-ssh", &s.url, &[("sshPrivateKey", &s.sshd.client_key)]);
    let access = access(secret, &s.url, Some(&s.sshd.known_hosts));
    assert!(access.credential.is_some(), "the Secret matches the URL");
    let tree = repos.tree_as(&s.url, "HEAD", &access).expect("tree over ssh");
    assert_eq!(tree.directories, ["apps", "apps/one", "apps/two"]);
    let branches = repos.branches_as(&s.url, &access).expect("branches over ssh");
    assert_eq!(branches.len(), 1);
    let files = repos
        .read_files_as(&s.url, &tree.sha, &["apps/one/k.yaml".to_owned()], &access)
        .expect("read over ssh");
    assert_eq!(files, [b"k: v\n".to_vec()]);

    // The key and the known hosts are files of mode 0600 under the cache directory.
    let fingerprint = access.credential.as_ref().unwrap().fingerprint();
    let dir = s.cache.path().join(".credentials").join(&fingerprint);
    for name in ["key", "known_hosts"] {
        let mode = std::fs::metadata(dir.join(name)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("key")).unwrap(),
        s.sshd.client_key
    );

    // When the Secret goes away, its key leaves the disk; a later read writes it again.
    let keep = std::collections::BTreeSet::from([fingerprint]);
    assert_eq!(repos.retain_credentials(&keep), 0, "a live credential stays");
    assert_eq!(repos.retain_credentials(&Default::default()), 1);
    assert!(!dir.exists(), "the key file is removed with its credential");
    repos.tree_as(&s.url, "HEAD", &access).expect("tree again");
    assert!(dir.join("key").exists());

    // Without the credential the same URL is not readable, and it has a cache of its own: what
    // the key fetched is not served to an anonymous reader.
    let anonymous = Access {
        known_hosts: Some(s.sshd.known_hosts.clone()),
        ..Access::default()
    };
    let err = repos.tree_as(&s.url, "HEAD", &anonymous).expect_err("no key");
    assert!(unreachable_message(err).contains("authentication failed"));
}

#[test]
fn an_unknown_host_key_is_refused_and_said_so_with_the_secret_named() {
    let s = setup();
    let repos = GitRepos::new(s.cache.path().to_owned(), vec![]);
    let secret = repository_secret("apps-ssh", &s.url, &[("sshPrivateKey", &s.sshd.client_key)]);
    for known_hosts in [s.sshd.wrong_known_hosts.as_str(), ""] {
        let access = access(secret.clone(), &s.url, Some(known_hosts));
        let message = unreachable_message(repos.tree_as(&s.url, "HEAD", &access).expect_err("unknown host"));
        assert!(
            message.contains("the SSH host key of the server is not known"),
            "{message}"
        );
        assert!(
            message.contains("credential from Secret argocd/apps-ssh"),
            "{message}"
        );
        assert!(!message.contains("PRIVATE KEY"), "{message}");
    }
}

#[test]
fn insecure_skips_the_host_key_check() {
    let s = setup();
    let repos = GitRepos::new(s.cache.path().to_owned(), vec![]);
    let secret = repository_secret(
        "apps-ssh",
        &s.url,
        &[("sshPrivateKey", &s.sshd.client_key), ("insecure", "true")],
    );
    let access = access(secret, &s.url, None);
    let tree = repos
        .tree_as(&s.url, "HEAD", &access)
        .expect("insecure: any host key");
    assert_eq!(tree.directories.len(), 3);
}

#[test]
fn a_key_the_server_does_not_accept_is_an_authentication_failure() {
    let s = setup();
    let repos = GitRepos::new(s.cache.path().to_owned(), vec![]);
    let secret = repository_secret("wrong-key", &s.url, &[("sshPrivateKey", &s.sshd.other_key)]);
    let access = access(secret, &s.url, Some(&s.sshd.known_hosts));
    let message = unreachable_message(repos.tree_as(&s.url, "HEAD", &access).expect_err("wrong key"));
    assert!(
        message.starts_with("authentication failed (credential from Secret argocd/wrong-key)"),
        "{message}"
    );
    assert!(!message.contains("PRIVATE KEY"), "{message}");
}

/// An ApplicationSet file in `dir` whose git directories generator reads `apps/*` of `url`, one
/// Application per directory, named after it.
fn dirs_set_file(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let set = dir.join("set.yaml");
    std::fs::write(
        &set,
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: private}}\nspec:\n  \
             generators:\n  - git:\n      repoURL: {url}\n      directories: [{{path: 'apps/*'}}]\n  \
             template:\n    metadata: {{name: '{{{{path.basename}}}}'}}\n    spec:\n      project: default\n      \
             destination: {{server: https://kubernetes.default.svc, namespace: apps}}\n"
        ),
    )
    .unwrap();
    set
}

/// `text` indented as a YAML block scalar's content.
fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// `appset render` with `--repo-creds`: the same Secrets and known-hosts ConfigMap an Argo CD
/// installation keeps, as a file.
#[test]
fn appset_render_reads_a_private_repository_with_repo_creds() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let set = dirs_set_file(dir.path(), &s.url);
    let creds = |key: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: private-repo\n  namespace: argocd\n  labels:\n    \
             argocd.argoproj.io/secret-type: repo-creds\nstringData:\n  url: {prefix}\n  sshPrivateKey: |\n{key}---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: argocd-ssh-known-hosts-cm, namespace: argocd}}\n\
             data:\n  ssh_known_hosts: |\n{hosts}",
            prefix = &s.url[..s.url.rfind('/').unwrap()],
            key = indent(key),
            hosts = indent(&s.sshd.known_hosts),
        )
    };
    let good = dir.path().join("creds");
    std::fs::create_dir(&good).unwrap();
    std::fs::write(good.join("repo-creds.yaml"), creds(&s.sshd.client_key)).unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, creds(&s.sshd.other_key)).unwrap();
    let render = |extra: &[&std::path::Path]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_appset"));
        cmd.arg("render").arg("-o").arg("names");
        for path in extra {
            cmd.arg("--repo-creds").arg(path);
        }
        cmd.arg(&set)
            .env("APPSET_GIT_CACHE", s.cache.path())
            .env("HOME", dir.path())
            .output()
            .unwrap()
    };

    let ok = render(&[&good]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(stdout.lines().collect::<Vec<_>>(), ["one", "two"]);

    // A key the server refuses: an error naming the Secret, without the key.
    let refused = render(&[&bad]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("authentication failed (credential from Secret argocd/private-repo)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("PRIVATE KEY") && !stderr.contains(s.sshd.other_key.trim()),
        "{stderr}"
    );

    // No credential: the user's own SSH setup (an empty HOME here) does not get in.
    let anonymous = render(&[]);
    assert_eq!(anonymous.status.code(), Some(1));
}

/// A repository served over HTTPS by `git http-backend`, and the cache to read it into.
struct HttpsSetup {
    server: harness::git_https::GitHttps,
    _repos: tempfile::TempDir,
    url: String,
    cache: tempfile::TempDir,
}

fn https_setup(require_client_cert: bool) -> HttpsSetup {
    let repos = tempfile::tempdir().unwrap();
    init_with_dirs(&repos.path().join("apps"), &["apps/one", "apps/two"]);
    let server = harness::git_https::GitHttps::start(repos.path(), require_client_cert);
    let url = server.url("apps");
    HttpsSetup {
        server,
        _repos: repos,
        url,
        cache: tempfile::tempdir().unwrap(),
    }
}

/// The access of an HTTPS repository Secret, trusting `ca` (argocd-tls-certs-cm's entry).
fn https_access(url: &str, data: &[(&str, &str)], ca: Option<&str>) -> Access {
    Access {
        tls_ca: ca.map(str::to_owned),
        ..access(repository_secret("apps-https", url, data), url, None)
    }
}

#[test]
fn https_with_a_user_and_token_through_a_custom_ca_reads_the_repository() {
    let s = https_setup(false);
    let repos = GitRepos::new(s.cache.path().to_owned(), vec![]);
    let (user, token) = (s.server.user.as_str(), s.server.token.as_str());
    let good = https_access(
        &s.url,
        &[("username", user), ("password", token)],
        Some(&s.server.ca_pem),
    );
    let tree = repos.tree_as(&s.url, "HEAD", &good).expect("tree over https");
    assert_eq!(tree.directories, ["apps", "apps/one", "apps/two"]);
    let files = repos
        .read_files_as(&s.url, &tree.sha, &["apps/two/k.yaml".to_owned()], &good)
        .expect("read over https");
    assert_eq!(files, [b"k: v\n".to_vec()]);

    // A wrong token: authentication failed, naming the Secret, never the token.
    let wrong = https_access(
        &s.url,
        &[("username", user), ("password", "not-it")],
        Some(&s.server.ca_pem),
    );
    let message = unreachable_message(repos.tree_as(&s.url, "HEAD", &wrong).expect_err("wrong token"));
    assert!(
        message.starts_with("authentication failed (credential from Secret argocd/apps-https)"),
        "{message}"
    );
    assert!(!message.contains("not-it"), "{message}");

    // Without the CA the server is not trusted; insecure: "true" skips the check.
    let untrusted = https_access(&s.url, &[("username", user), ("password", token)], None);
    let message = unreachable_message(repos.tree_as(&s.url, "HEAD", &untrusted).expect_err("unknown CA"));
    assert!(
        message.starts_with("the server's TLS certificate is not trusted"),
        "{message}"
    );
    let insecure = https_access(
        &s.url,
        &[("username", user), ("password", token), ("insecure", "true")],
        None,
    );
    repos
        .tree_as(&s.url, "HEAD", &insecure)
        .expect("insecure skips verification");
}

#[test]
fn https_with_a_client_certificate() {
    let s = https_setup(true);
    let repos = GitRepos::new(s.cache.path().to_owned(), vec![]);
    let (user, token) = (s.server.user.as_str(), s.server.token.as_str());
    let with_cert = https_access(
        &s.url,
        &[
            ("username", user),
            ("password", token),
            ("tlsClientCertData", &s.server.client_cert),
            ("tlsClientCertKey", &s.server.client_key),
        ],
        Some(&s.server.ca_pem),
    );
    let tree = repos
        .tree_as(&s.url, "HEAD", &with_cert)
        .expect("tree with a client certificate");
    assert_eq!(tree.directories.len(), 3);
    let without = https_access(
        &s.url,
        &[("username", user), ("password", token)],
        Some(&s.server.ca_pem),
    );
    repos
        .tree_as(&s.url, "HEAD", &without)
        .expect_err("the server requires a client certificate");
}

/// A GitHub App repository credential: appset mints an installation token from the App's key
/// through the GitHub-shaped API on 127.0.0.1, then reads the repository over HTTPS with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_app_credential_mints_an_installation_token_for_git_over_https() {
    use appset::sources::{Inputs, LiveConfig, Recorded, Sources};
    let pem = harness::github_server::app_private_key();
    let api = harness::github_server::Server::start().await;
    let repos = tempfile::tempdir().unwrap();
    init_with_dirs(&repos.path().join("apps"), &["apps/one"]);
    // The GitHub-shaped API mints `ghs_installation<id>`; the git server accepts exactly that.
    let git =
        harness::git_https::GitHttps::start_for(repos.path(), false, "x-access-token", "ghs_installation42");
    let url = git.url("apps");
    let secret = repository_secret(
        "app-repo",
        &url,
        &[
            ("githubAppID", "12345"),
            ("githubAppInstallationID", "42"),
            ("githubAppPrivateKey", &pem),
            ("githubAppEnterpriseBaseUrl", &api.base),
        ],
    );
    let (mut creds, errors) = RepoCredentials::from_secrets(&[secret]);
    assert!(errors.is_empty(), "{errors:?}");
    creds.tls_certs.insert("127.0.0.1".into(), git.ca_pem.clone());
    let cache = tempfile::tempdir().unwrap();
    let live = LiveConfig {
        repo_credentials: std::sync::Arc::new(creds),
        ..LiveConfig::live(
            cache.path().to_owned(),
            vec![],
            None,
            None,
            std::time::Duration::ZERO,
        )
    };
    let inputs = Inputs::new(Recorded::default(), live);
    let tree = inputs
        .git_tree(&url, "HEAD", "default")
        .await
        .expect("tree with an App token");
    assert_eq!(tree.directories, ["apps", "apps/one"]);
    let minted = api
        .log()
        .iter()
        .filter(|r| r.uri.ends_with("/app/installations/42/access_tokens"))
        .count();
    assert!(minted >= 1, "the token was minted through the App's API");
    // A second read reuses the token (no second mint while it is valid).
    inputs.git_tree(&url, "HEAD", "default").await.expect("again");
    let again = api
        .log()
        .iter()
        .filter(|r| r.uri.ends_with("/app/installations/42/access_tokens"))
        .count();
    assert_eq!(again, minted, "the installation token is reused until it expires");
}

/// `appset render` over HTTPS: `--repo-creds` with the token works; GITHUB_TOKEN (meant for the
/// GitHub API) is never sent to a git host; a failing run's output, at the most verbose log
/// level, holds no token.
#[test]
fn appset_render_over_https_keeps_tokens_where_they_belong() {
    let s = https_setup(false);
    let dir = tempfile::tempdir().unwrap();
    let set = dirs_set_file(dir.path(), &s.url);
    let tls = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: argocd-tls-certs-cm, namespace: argocd}}\ndata:\n  127.0.0.1: |\n{}",
        indent(&s.server.ca_pem)
    );
    let creds = |token: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: https-repo\n  namespace: argocd\n  labels:\n    \
             argocd.argoproj.io/secret-type: repository\nstringData:\n  url: {url}\n  username: {user}\n  password: {token}\n---\n{tls}",
            url = s.url,
            user = s.server.user,
        )
    };
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, creds(&s.server.token)).unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, creds("wrong-but-secret-token")).unwrap();
    let ca_only = dir.path().join("ca.yaml");
    std::fs::write(&ca_only, &tls).unwrap();
    let render = |creds: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_appset"))
            .args(["render", "-o", "names", "--repo-creds"])
            .arg(creds)
            .arg(&set)
            .env("APPSET_GIT_CACHE", s.cache.path())
            .env("GITHUB_TOKEN", "ghp_meant-for-the-github-api")
            .env("RUST_LOG", "trace")
            .output()
            .unwrap()
    };
    let ok = render(&good);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).lines().collect::<Vec<_>>(),
        ["one", "two"]
    );
    assert!(
        !String::from_utf8_lossy(&ok.stderr).contains(&s.server.token),
        "the token in the trace log"
    );

    let failed = render(&bad);
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&failed.stdout),
        String::from_utf8_lossy(&failed.stderr)
    );
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        output.contains("authentication failed (credential from Secret argocd/https-repo)"),
        "{output}"
    );
    assert!(
        !output.contains("wrong-but-secret-token"),
        "the token in the output"
    );

    let anonymous = render(&ca_only);
    assert_eq!(anonymous.status.code(), Some(1), "no credential, no access");
    let seen = s.server.authorizations.lock().unwrap().clone();
    assert!(!seen.is_empty(), "the server saw the credentialed requests");
    use base64::Engine as _;
    for header in &seen {
        let decoded = header
            .strip_prefix("Basic ")
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|| header.clone());
        assert!(
            !decoded.contains("ghp_meant-for-the-github-api"),
            "GITHUB_TOKEN was sent to the git host"
        );
    }
}

#[test]
fn a_credential_without_a_key_for_an_ssh_repository_is_an_error_not_an_anonymous_read() {
    let s = setup();
    let repos = GitRepos::new(s.cache.path().to_owned(), vec![]);
    let secret = repository_secret(
        "https-only",
        &s.url,
        &[("username", "git"), ("password", "hunter2")],
    );
    let access = access(secret, &s.url, Some(&s.sshd.known_hosts));
    let err = repos.tree_as(&s.url, "HEAD", &access).expect_err("no key");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read repository {} with the credential from Secret argocd/https-only: it has no sshPrivateKey, which a repository read over SSH needs",
            s.url
        )
    );
}

/// `forceHttpBasicAuth: "true"`: credentials go with the first request, for servers that answer
/// 404 instead of asking for them.
#[test]
fn force_http_basic_auth_reaches_a_server_that_never_asks() {
    let repos_dir = tempfile::tempdir().unwrap();
    init_with_dirs(&repos_dir.path().join("apps"), &["apps/one"]);
    let server =
        harness::git_https::GitHttps::start_with(repos_dir.path(), false, "ci-bot", "s3cret-token", true);
    let url = server.url("apps");
    let cache = tempfile::tempdir().unwrap();
    let repos = GitRepos::new(cache.path().to_owned(), vec![]);
    let creds = [("username", "ci-bot"), ("password", "s3cret-token")];
    let challenged = https_access(&url, &creds, Some(&server.ca_pem));
    repos
        .tree_as(&url, "HEAD", &challenged)
        .expect_err("credentials offered only after a challenge never go");
    let forced = https_access(
        &url,
        &[
            ("username", "ci-bot"),
            ("password", "s3cret-token"),
            ("forceHttpBasicAuth", "true"),
        ],
        Some(&server.ca_pem),
    );
    let tree = repos.tree_as(&url, "HEAD", &forced).expect("forced basic auth");
    assert_eq!(tree.directories, ["apps", "apps/one"]);
}
