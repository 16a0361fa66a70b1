//! The pull-request generator against a GitHub-shaped HTTP server on 127.0.0.1.
//!
//! The server answers like GitHub's documented REST API: `GET /repos/{owner}/{repo}/pulls`
//! with pull-request objects, pagination through `Link` headers pointing at
//! `/repositories/{id}/pulls?page=N`, weak `ETag`s and `304 Not Modified` for a matching
//! `If-None-Match`, rate-limit answers (403 with `x-ratelimit-*`, 429 with `Retry-After`), 500s,
//! malformed bodies, 404s, and GitHub App installation tokens. It records every request so the
//! tests assert what was sent (count, conditional headers, credentials) as well as what was
//! generated.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use appset::{
    pipeline::{Options, Output, ScmOptions, generate_applications},
    sources::{GitHub, GitHubAuth, GitHubError, Inputs, LiveConfig, Recorded, github::PullsQuery},
};
use axum::http::Method;
use harness::github_server::{Logged, Mode, Server, pull};
use serde_json::{Value, json};

mod harness;

// ---- helpers ----------------------------------------------------------------------------------------

fn many_pulls(n: u64) -> Vec<Value> {
    (1..=n)
        .map(|i| pull(i, &format!("feature/change-{i}"), "main", &["preview"], false))
        .collect()
}

/// An ApplicationSet whose pull-request generator reads `owner/repo` at the test server.
fn appset(name: &str, api: &str, owner: &str, repo: &str, extra: &str) -> appset::ApplicationSet {
    let text = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: {name}, namespace: team-a}}\nspec:\n  \
         generators:\n  - pullRequest:\n      github: {{owner: {owner}, repo: {repo}, api: '{api}'{extra}}}\n  \
         template:\n    metadata: {{name: '{name}-pr-{{{{number}}}}'}}\n    spec:\n      project: default\n      \
         source: {{repoURL: 'https://github.com/{owner}/{repo}.git', targetRevision: '{{{{head_sha}}}}', path: deploy}}\n      \
         destination: {{server: 'https://kubernetes.default.svc', namespace: 'pr-{{{{number}}}}'}}\n"
    );
    appset::file::parse(&text).expect("appset").appset
}

fn live(token: Option<&str>, max_age: Duration) -> LiveConfig {
    LiveConfig {
        github: true,
        github_token: token.map(str::to_string),
        github_max_age: max_age,
        ..LiveConfig::default()
    }
}

/// [`live`] whose GitHub API (`--github-api`) is `api`: the controller's token goes there only.
fn live_at(api: &str, token: Option<&str>) -> LiveConfig {
    LiveConfig {
        github_api: Some(api.to_string()),
        ..live(token, Duration::ZERO)
    }
}

async fn render(set: &appset::ApplicationSet, inputs: &Inputs) -> Result<Output, String> {
    generate_applications(set, inputs, &Options::default())
        .await
        .map_err(|e| e.to_string())
}

fn names(out: &Output) -> Vec<String> {
    out.applications
        .iter()
        .map(|a| a["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn gets(log: &[Logged]) -> Vec<&Logged> {
    log.iter().filter(|l| l.method == Method::GET).collect()
}

// ---- tests ------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_listed_with_credentials_and_an_unchanged_second_poll_is_answered_by_304s() {
    let server = Server::start().await;
    server.add_repo("example", "app", many_pulls(250));
    let inputs = Inputs::new(Recorded::default(), live_at(&server.base, Some("tok-123")));
    let set = appset("previews", &server.base, "example", "app", "");

    let first = render(&set, &inputs).await.unwrap();
    assert_eq!(first.applications.len(), 250);
    assert_eq!(first.params[0]["number"], "1");
    assert_eq!(first.params[0]["branch"], "feature/change-1");
    assert_eq!(first.params[0]["branch_slug"], "feature-change-1");
    assert_eq!(first.params[0]["target_branch"], "main");
    assert_eq!(
        first.params[0]["head_short_sha"],
        first.params[0]["head_sha"].as_str().unwrap()[..8]
    );
    assert_eq!(first.params[0]["author"], "dev1");
    assert_eq!(first.params[249]["number"], "250");
    let log = server.log();
    let pages = gets(&log);
    assert_eq!(pages.len(), 3, "{pages:#?}");
    assert!(
        pages[0].uri.ends_with("/repos/example/app/pulls?per_page=100"),
        "{}",
        pages[0].uri
    );
    assert!(
        pages[1]
            .uri
            .ends_with("/repositories/1000/pulls?per_page=100&page=2"),
        "{}",
        pages[1].uri
    );
    assert!(pages[2].uri.ends_with("page=3"));
    assert!(
        pages
            .iter()
            .all(|p| p.authorization.as_deref() == Some("Bearer tok-123"))
    );
    assert!(
        pages.iter().all(|p| p.if_none_match.is_none()),
        "the first poll has nothing to revalidate"
    );

    let second = render(&set, &inputs).await.unwrap();
    assert_eq!(second.params, first.params);
    let log = server.log();
    let again = &gets(&log)[3..];
    assert_eq!(again.len(), 3, "one conditional request per page");
    assert!(
        again
            .iter()
            .all(|p| p.if_none_match.as_deref().is_some_and(|e| e.starts_with("W/\"")))
    );
    assert_eq!(
        server.served_304(),
        3,
        "the unchanged poll is answered by 304s only"
    );
    let stats = inputs.github().unwrap().stats();
    assert_eq!((stats.requests, stats.not_modified), (6, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_page_is_fetched_again_while_unchanged_pages_are_answered_304() {
    let server = Server::start().await;
    server.add_repo("example", "app", many_pulls(250));
    let inputs = Inputs::new(Recorded::default(), live(None, Duration::ZERO));
    let set = appset("previews", &server.base, "example", "app", "");
    render(&set, &inputs).await.unwrap();
    // PR 230 (page 3) closes and PR 251 opens (also page 3).
    server.edit_pulls("example", "app", |p| {
        p.retain(|x| x["number"] != 230);
        p.push(pull(251, "feature/new", "main", &["preview"], false));
    });
    let out = render(&set, &inputs).await.unwrap();
    let numbers: Vec<&str> = out.params.iter().map(|p| p["number"].as_str().unwrap()).collect();
    assert!(numbers.contains(&"251") && !numbers.contains(&"230"));
    assert_eq!(numbers.len(), 250);
    assert_eq!(server.served_304(), 2, "pages 1 and 2 unchanged");
    assert!(
        gets(&server.log()).iter().all(|p| p.authorization.is_none()),
        "anonymous without a token"
    );
}

/// A webhook's `pull_request` event expires the cached listing: the next reconcile asks GitHub
/// (conditionally) instead of serving the listing for the rest of `max_age`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_listing_is_asked_again_before_its_max_age() {
    let server = Server::start().await;
    server.add_repo("example", "app", many_pulls(3));
    let github = Arc::new(GitHub::new(None, Duration::from_secs(3600)));
    let inputs = || Inputs::new(Recorded::default(), live(None, Duration::ZERO)).with_github(github.clone());
    let set = appset("previews", &server.base, "example", "app", "");
    assert_eq!(render(&set, &inputs()).await.unwrap().applications.len(), 3);
    server.edit_pulls("example", "app", |p| {
        p.push(pull(4, "feature/four", "main", &["preview"], false))
    });
    // Within max_age the cached listing is served, without a request.
    assert_eq!(render(&set, &inputs()).await.unwrap().applications.len(), 3);
    assert_eq!(gets(&server.log()).len(), 1);
    // An event for another repository expires nothing.
    github.expire("example", "other");
    assert_eq!(render(&set, &inputs()).await.unwrap().applications.len(), 3);
    assert_eq!(gets(&server.log()).len(), 1);
    // The event for this repository (any case): GitHub is asked, and the new pull request is seen.
    github.expire("Example", "APP");
    assert_eq!(render(&set, &inputs()).await.unwrap().applications.len(), 4);
    assert_eq!(gets(&server.log()).len(), 2);
    // The fresh listing is cached again.
    assert_eq!(render(&set, &inputs()).await.unwrap().applications.len(), 4);
    assert_eq!(gets(&server.log()).len(), 2);
}

/// The target of the issue: N ApplicationSets watching one repository over M polls cost one
/// conditional request per page per poll, shared by all N.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n_application_sets_over_m_polls_cost_one_request_per_page_per_poll() {
    const N: usize = 20;
    const M: usize = 4;
    let server = Server::start().await;
    server.add_repo("example", "app", many_pulls(250));
    // A listing is reused until it expires: the N sets of one poll share it, and each poll
    // starts by expiring it (as a max age would, but with no dependence on how fast a loaded
    // machine runs one poll).
    let github = Arc::new(GitHub::new(None, Duration::from_secs(3600)));
    let sets: Vec<_> = (0..N)
        .map(|i| appset(&format!("set{i}"), &server.base, "example", "app", ""))
        .collect();
    for poll in 0..M {
        // Each ApplicationSet reconciles with its own Inputs (as the controller does), all sharing
        // one GitHub client, concurrently.
        let results = futures::future::join_all(sets.iter().map(|set| {
            let inputs =
                Inputs::new(Recorded::default(), live(None, Duration::ZERO)).with_github(github.clone());
            async move { render(set, &inputs).await }
        }))
        .await;
        for r in results {
            assert_eq!(r.unwrap().applications.len(), 250);
        }
        if poll + 1 < M {
            github.expire("example", "app");
        }
    }
    let requests = gets(&server.log()).len();
    let stats = github.stats();
    eprintln!(
        "{N} ApplicationSets x {M} polls of a 250-PR repository (3 pages): {requests} requests, \
         {} answered 304, {} listings served from the shared cache",
        stats.not_modified, stats.served_from_cache
    );
    assert_eq!(requests, 3 * M, "3 pages per poll, whatever N is");
    assert_eq!(
        stats.not_modified as usize,
        3 * (M - 1),
        "every poll after the first is 304s only"
    );
    assert_eq!(stats.served_from_cache as usize, (N - 1) * M);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_is_a_typed_error_with_the_reset_time_a_stable_message_and_no_retry_before_it() {
    let server = Server::start().await;
    server.add_repo("example", "app", many_pulls(3));
    let reset = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 3600;
    server.set_mode("example", "app", Mode::RateLimited { reset });
    let github = GitHub::new(None, Duration::ZERO);
    let q = PullsQuery {
        api: server.base.clone(),
        owner: "example".into(),
        repo: "app".into(),
        auth: GitHubAuth::Anonymous,
    };
    let e1 = github.pull_requests(&q).await.unwrap_err();
    assert!(matches!(e1, GitHubError::RateLimited { .. }), "{e1:?}");
    assert_eq!(e1.retry_at(), Some(UNIX_EPOCH + Duration::from_secs(reset)));
    let e2 = github.pull_requests(&q).await.unwrap_err();
    assert_eq!(e1.to_string(), e2.to_string(), "the message does not churn");
    assert!(
        !e1.to_string().contains("C0DE"),
        "no request id in the message: {e1}"
    );
    assert_eq!(gets(&server.log()).len(), 1, "no request before the reset time");

    // Through the generator: an error naming the generator, never zero pull requests.
    let inputs = Inputs::new(Recorded::default(), live(None, Duration::ZERO));
    let set = appset("limited", &server.base, "example", "app", "");
    let err = generate_applications(&set, &inputs, &Options::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.retry_at(),
        Some(UNIX_EPOCH + Duration::from_secs(reset)),
        "the reset time reaches the caller"
    );
    let err = err.to_string();
    assert!(
        err.contains("spec.generators[0].pullRequest.github: GitHub API rate limit exceeded"),
        "{err}"
    );
    assert_eq!(err, render(&set, &inputs).await.unwrap_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_on_a_secondary_rate_limit_sets_the_retry_time() {
    let server = Server::start().await;
    server.add_repo("example", "app", many_pulls(3));
    server.set_mode("example", "app", Mode::RetryAfter { secs: 120 });
    let github = GitHub::new(None, Duration::ZERO);
    let q = PullsQuery {
        api: server.base.clone(),
        owner: "example".into(),
        repo: "app".into(),
        auth: GitHubAuth::Anonymous,
    };
    let before = SystemTime::now();
    let e = github.pull_requests(&q).await.unwrap_err();
    let at = e.retry_at().expect("retry time");
    assert!(
        at >= before + Duration::from_secs(119) && at <= SystemTime::now() + Duration::from_secs(121),
        "{at:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_malformed_answers_are_errors_not_zero_pull_requests() {
    let server = Server::start().await;
    server.add_repo("example", "app", many_pulls(3));
    let inputs = Inputs::new(Recorded::default(), live(None, Duration::ZERO));
    let set = appset("broken", &server.base, "example", "app", "");
    server.set_mode("example", "app", Mode::ServerError);
    let err = render(&set, &inputs).await.unwrap_err();
    assert!(
        err.contains("pullRequest.github") && err.contains("answered HTTP 500"),
        "{err}"
    );
    server.set_mode("example", "app", Mode::Malformed);
    let err = render(&set, &inputs).await.unwrap_err();
    assert!(err.contains("malformed answer from GitHub API"), "{err}");
    // Recovery: the next good answer renders again.
    server.set_mode("example", "app", Mode::Ok);
    assert_eq!(render(&set, &inputs).await.unwrap().applications.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_repository_is_an_error_unless_continue_on_repo_not_found_error_is_set() {
    let server = Server::start().await;
    let inputs = Inputs::new(Recorded::default(), live(None, Duration::ZERO));
    let err = render(&appset("gone", &server.base, "example", "missing", ""), &inputs)
        .await
        .unwrap_err();
    assert!(
        err.contains("spec.generators[0].pullRequest.github: repository example/missing not found"),
        "{err}"
    );
    let set = appset("gone", &server.base, "example", "missing", "");
    let mut spec = set.spec.clone();
    spec.generators[0]
        .pull_request
        .as_mut()
        .unwrap()
        .continue_on_repo_not_found_error = true;
    let tolerant = appset::ApplicationSet { spec, ..set };
    assert!(render(&tolerant, &inputs).await.unwrap().applications.is_empty());
    // The flag does not hide other failures.
    server.add_repo("example", "flaky", many_pulls(1));
    server.set_mode("example", "flaky", Mode::ServerError);
    let mut flaky = appset("flaky", &server.base, "example", "flaky", "");
    flaky.spec.generators[0]
        .pull_request
        .as_mut()
        .unwrap()
        .continue_on_repo_not_found_error = true;
    assert!(render(&flaky, &inputs).await.is_err());
}

fn secret(namespace: &str, name: &str, data: &[(&str, &str)]) -> Value {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace}, "stringData": data})
}

fn recorded_secrets(secrets: Vec<Value>) -> Recorded {
    serde_json::from_value(json!({ "secrets": secrets })).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_ref_reads_the_secret_in_the_application_sets_namespace_only() {
    let server = Server::start().await;
    server.add_repo("example", "app", many_pulls(2));
    let secrets = vec![
        secret("team-a", "gh", &[("token", "from-team-a")]),
        secret("argocd", "gh-other", &[("token", "from-argocd")]),
    ];
    let inputs = Inputs::new(
        recorded_secrets(secrets),
        live_at(&server.base, Some("env-token")),
    );
    let with_ref = |name: &str, key: &str| format!(", tokenRef: {{secretName: {name}, key: {key}}}");

    let out = render(
        &appset("a", &server.base, "example", "app", &with_ref("gh", "token")),
        &inputs,
    )
    .await
    .unwrap();
    assert_eq!(out.applications.len(), 2);
    assert_eq!(
        gets(&server.log()).last().unwrap().authorization.as_deref(),
        Some("Bearer from-team-a")
    );

    let err = render(
        &appset(
            "b",
            &server.base,
            "example",
            "app",
            &with_ref("gh-other", "token"),
        ),
        &inputs,
    )
    .await
    .unwrap_err();
    assert!(
        err.contains(r#"error fetching secret team-a/gh-other: secrets "gh-other" not found"#),
        "{err}"
    );
    let err = render(
        &appset("c", &server.base, "example", "app", &with_ref("gh", "nokey")),
        &inputs,
    )
    .await
    .unwrap_err();
    assert!(
        err.contains(r#"key "nokey" in secret team-a/gh not found"#),
        "{err}"
    );
    assert_eq!(
        gets(&server.log()).len(),
        1,
        "no request is made without the credentials"
    );

    // Without tokenRef, the default token (GITHUB_TOKEN) is used.
    render(&appset("d", &server.base, "example", "app", ""), &inputs)
        .await
        .unwrap();
    assert_eq!(
        gets(&server.log()).last().unwrap().authorization.as_deref(),
        Some("Bearer env-token")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_app_credentials_mint_an_installation_token_that_lists_the_pull_requests() {
    let pem = harness::github_server::app_private_key();
    let server = Server::start().await;
    server.add_repo("example", "app", many_pulls(2));
    let creds = secret(
        "argocd",
        "github-app-creds",
        &[
            ("githubAppID", "12345"),
            ("githubAppInstallationID", "42"),
            ("githubAppPrivateKey", &pem),
            ("githubAppEnterpriseBaseUrl", &server.base),
        ],
    );
    let inputs = Inputs::new(recorded_secrets(vec![creds]), live(None, Duration::ZERO));
    let set = appset(
        "app",
        &server.base,
        "example",
        "app",
        ", appSecretName: github-app-creds",
    );
    assert_eq!(render(&set, &inputs).await.unwrap().applications.len(), 2);
    let log = server.log();
    let mint = log
        .iter()
        .find(|l| l.method == Method::POST)
        .expect("token request");
    assert_eq!(mint.uri, "/app/installations/42/access_tokens");
    let jwt = mint
        .authorization
        .as_deref()
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap();
    assert_eq!(jwt.split('.').count(), 3, "the App authenticates with a JWT");
    assert_eq!(
        gets(&log)[0].authorization.as_deref(),
        Some("Bearer ghs_installation42")
    );

    let missing = secret("argocd", "incomplete", &[("githubAppID", "1")]);
    let inputs = Inputs::new(recorded_secrets(vec![missing]), live(None, Duration::ZERO));
    let err = render(
        &appset("x", &server.base, "example", "app", ", appSecretName: incomplete"),
        &inputs,
    )
    .await
    .unwrap_err();
    assert!(err.contains("no github app found for incomplete"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_drafts_excluded_labels_and_filters_select_live_pull_requests() {
    let server = Server::start().await;
    server.add_repo(
        "example",
        "app",
        vec![
            pull(1, "feature/a", "main", &["preview"], false),
            pull(2, "feature/b", "main", &["preview"], true),
            pull(3, "feature/c", "main", &["preview", "do-not-deploy"], false),
            pull(4, "feature/d", "main", &[], false),
            pull(5, "hotfix/e", "release-1", &["preview"], false),
            pull(6, "docs/f", "main", &["preview"], false),
        ],
    );
    let inputs = Inputs::new(Recorded::default(), live(None, Duration::ZERO));
    let text = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: sel, namespace: team-a}}\nspec:\n  \
         templateEngine: jinja\n  generators:\n  - pullRequest:\n      github: {{owner: example, repo: app, api: '{}', \
         labels: [preview], ignoreDraft: true, excludeLabels: [do-not-deploy]}}\n      filters:\n      \
         - branchMatch: '^feature/'\n      - targetBranchMatch: '^release-'\n  template:\n    metadata: {{name: \
         'pr-{{{{ number }}}}-{{{{ labels | join(\"-\") }}}}'}}\n    spec: {{project: default, destination: {{server: \
         'https://kubernetes.default.svc', namespace: 'pr-{{{{ number }}}}'}}}}\n",
        server.base
    );
    let set = appset::file::parse(&text).unwrap().appset;
    let out = render(&set, &inputs).await.unwrap();
    assert_eq!(names(&out), ["pr-1-preview", "pr-5-preview"]);
    assert_eq!(
        out.params[0]["labels"],
        json!(["preview"]),
        "labels are a list in the nested modes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_enterprise_api_path_is_kept_on_every_page_and_credentials_go_with_it() {
    let server = Server::start().await;
    server.add_repo("example", "app", many_pulls(150));
    let ghe = format!("{}/api/v3", server.base);
    let inputs = Inputs::new(Recorded::default(), live_at(&ghe, Some("ghe-token")));
    let set = appset("ghe", &format!("{ghe}/"), "example", "app", "");
    assert_eq!(render(&set, &inputs).await.unwrap().applications.len(), 150);
    let log = server.log();
    let pages = gets(&log);
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].uri, "/api/v3/repos/example/app/pulls?per_page=100");
    assert_eq!(
        pages[1].uri,
        "/api/v3/repositories/1000/pulls?per_page=100&page=2"
    );
    assert!(
        pages
            .iter()
            .all(|p| p.authorization.as_deref() == Some("Bearer ghe-token"))
    );
}

/// `appset render` lists live pull requests at `--github-api` with the user's `GITHUB_TOKEN`, even
/// when the generator names a `tokenRef` Secret the CLI cannot read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_uses_github_api_and_the_github_token_from_the_environment() {
    let server = Server::start().await;
    server.add_repo("example", "app", many_pulls(3));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("previews.yaml");
    std::fs::write(
        &file,
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: previews}\nspec:\n  generators:\n  \
         - pullRequest:\n      github: {owner: example, repo: app, tokenRef: {secretName: gh, key: token}}\n  \
         template:\n    metadata: {name: 'pr-{{number}}'}\n    spec: {project: default, destination: {server: \
         'https://kubernetes.default.svc', namespace: 'pr-{{number}}'}}\n",
    )
    .unwrap();
    let run = |token: Option<&'static str>| {
        let (base, file) = (server.base.clone(), file.clone());
        tokio::task::spawn_blocking(move || {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_appset"));
            cmd.args(["render", "-o", "names", "--github-api", &base])
                .arg(&file)
                .env_remove("KUBECONFIG");
            cmd.env("HOME", std::env::temp_dir().join("appset-github-cli-home"));
            match token {
                Some(t) => cmd.env("GITHUB_TOKEN", t),
                None => cmd.env_remove("GITHUB_TOKEN"),
            };
            cmd.output().unwrap()
        })
    };
    let out = run(Some("cli-user-token")).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().collect::<Vec<_>>(),
        ["pr-1", "pr-2", "pr-3"]
    );
    assert_eq!(
        gets(&server.log())[0].authorization.as_deref(),
        Some("Bearer cli-user-token")
    );

    // Without GITHUB_TOKEN the tokenRef Secret is needed, and its absence is a clear error.
    let out = run(None).await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spec.generators[0].pullRequest.github: error fetching secret argocd/gh"),
        "{err}"
    );
}

/// Issue 13, item 5: an ApplicationSet chooses its generator's `api`, so no credential of the
/// controller may follow it elsewhere: the controller's token goes to the controller's API only,
/// a GitHub App only to its own API, and the SCM switches refuse before any request is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_controller_credential_goes_to_an_api_host_the_set_chooses() {
    let trusted = Server::start().await;
    let tenants = Server::start().await;
    for s in [&trusted, &tenants] {
        s.add_repo("example", "app", many_pulls(1));
    }
    // The controller's GITHUB_TOKEN: sent to its own API, never to the tenant's.
    let inputs = Inputs::new(
        Recorded::default(),
        live_at(&trusted.base, Some("controller-token")),
    );
    render(&appset("ok", &trusted.base, "example", "app", ""), &inputs)
        .await
        .unwrap();
    render(&appset("evil", &tenants.base, "example", "app", ""), &inputs)
        .await
        .unwrap();
    assert!(
        gets(&trusted.log())
            .iter()
            .all(|p| p.authorization.as_deref() == Some("Bearer controller-token"))
    );
    let seen = tenants.log();
    assert!(!gets(&seen).is_empty());
    assert!(
        seen.iter().all(|p| p.authorization.is_none()),
        "the tenant's server got no credential: {seen:#?}"
    );

    // A GitHub App of Argo CD's namespace: refused for an API other than its own, and nothing is
    // sent there (not even the JWT for an installation token).
    let pem = harness::github_server::app_private_key();
    let app = secret(
        "argocd",
        "github-app-creds",
        &[
            ("githubAppID", "12345"),
            ("githubAppInstallationID", "42"),
            ("githubAppPrivateKey", &pem),
        ],
    );
    let before = tenants.log().len();
    let inputs = Inputs::new(recorded_secrets(vec![app]), live_at(&trusted.base, None));
    let err = render(
        &appset(
            "evil-app",
            &tenants.base,
            "example",
            "app",
            ", appSecretName: github-app-creds",
        ),
        &inputs,
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("the GitHub App of secret argocd/github-app-creds is used only with"),
        "{err}"
    );
    assert_eq!(
        tenants.log().len(),
        before,
        "no request reached the tenant's server"
    );

    // --allowed-scm-providers and --enable-scm-providers=false: refused before any request.
    let scm = |allowed: Vec<String>, enabled: bool| Options {
        scm: ScmOptions {
            enabled,
            allowed,
            token_ref_strict: false,
        },
        ..Options::default()
    };
    let inputs = Inputs::new(
        Recorded::default(),
        live_at(&trusted.base, Some("controller-token")),
    );
    let set = appset("evil", &tenants.base, "example", "app", "");
    let err = generate_applications(&set, &inputs, &scm(vec![trusted.base.clone()], true))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "scm provider not allowed: scm provider {:?} not allowed, must use one of the following: {}",
            tenants.base, trusted.base
        )),
        "{err}"
    );
    let err = generate_applications(&set, &inputs, &scm(Vec::new(), false))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("scm providers are disabled"), "{err}");
    assert_eq!(
        tenants.log().len(),
        before,
        "no request reached the tenant's server"
    );
    // The allowed API still works.
    let ok = appset("ok", &trusted.base, "example", "app", "");
    assert!(
        generate_applications(&ok, &inputs, &scm(vec![format!("{}/", trusted.base)], true))
            .await
            .is_ok()
    );
}

/// Issue 13, item 5: with `--token-ref-strict-mode`, a `tokenRef` Secret must carry Argo CD's
/// `scm-creds` label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_ref_strict_mode_wants_the_scm_creds_label() {
    let server = Server::start().await;
    server.add_repo("example", "app", many_pulls(1));
    let plain = secret("team-a", "gh", &[("token", "t1")]);
    let mut labelled = secret("team-a", "gh-labelled", &[("token", "t2")]);
    labelled["metadata"]["labels"] = json!({"argocd.argoproj.io/secret-type": "scm-creds"});
    let inputs = Inputs::new(
        recorded_secrets(vec![plain, labelled]),
        live_at(&server.base, None),
    );
    let strict = Options {
        scm: ScmOptions {
            token_ref_strict: true,
            ..ScmOptions::default()
        },
        ..Options::default()
    };
    let set = appset(
        "a",
        &server.base,
        "example",
        "app",
        ", tokenRef: {secretName: gh, key: token}",
    );
    let err = generate_applications(&set, &inputs, &strict)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "secret team-a/gh is not a valid SCM creds secret: secret must have label \"argocd.argoproj.io/secret-type\"=\"scm-creds\""
        ),
        "{err}"
    );
    assert!(
        generate_applications(&set, &inputs, &Options::default())
            .await
            .is_ok(),
        "lenient by default"
    );
    let ok = appset(
        "b",
        &server.base,
        "example",
        "app",
        ", tokenRef: {secretName: gh-labelled, key: token}",
    );
    assert!(generate_applications(&ok, &inputs, &strict).await.is_ok());
    assert_eq!(
        gets(&server.log()).last().unwrap().authorization.as_deref(),
        Some("Bearer t2")
    );
}
