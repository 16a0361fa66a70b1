//! The pull-request generator's Gitea (and Forgejo) provider against a Gitea-shaped HTTP server
//! on 127.0.0.1.
//!
//! The server answers like Gitea's REST API v1: `GET /api/v1/repos/{owner}/{repo}/pulls` with
//! pull-request objects, pagination through `Link: rel="next"` (at most 50 per page), weak
//! `ETag`s and `304 Not Modified` for a matching `If-None-Match`, 429 with `Retry-After`, 401,
//! 404, 500 and malformed bodies. It records every request so the tests assert what was sent
//! (pages, query, conditional headers, credentials) as well as what was generated.

use std::time::{Duration, SystemTime};

use appset::{
    pipeline::{Options, Output, generate_applications},
    sources::{ForgeError, Gitea, Inputs, LiveConfig, Recorded, gitea::GiteaPullsQuery},
};
use harness::gitea_server::{Logged, Mode, Server, pull};
use serde_json::{Value, json};

mod harness;

fn many_pulls(n: u64) -> Vec<Value> {
    (1..=n)
        .map(|i| pull(i, &format!("feature/change_{i}"), "main", &["preview"], "open"))
        .collect()
}

/// An ApplicationSet (namespace `team-a`) whose pull-request generator reads `owner/repo` at `api`.
fn appset_text(name: &str, api: &str, owner: &str, repo: &str, extra: &str, generator_extra: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: {name}, namespace: team-a}}\nspec:\n  \
         goTemplate: true\n  \
         generators:\n  - pullRequest:\n      gitea: {{owner: '{owner}', repo: '{repo}', api: '{api}'{extra}}}\n{generator_extra}  \
         template:\n    metadata: {{name: '{name}-pr-{{{{.number}}}}'}}\n    spec:\n      project: default\n      \
         source: {{repoURL: 'https://gitea.example.com/{owner}/{repo}.git', targetRevision: '{{{{.head_sha}}}}', path: deploy}}\n      \
         destination: {{server: 'https://kubernetes.default.svc', namespace: 'pr-{{{{.number}}}}'}}\n"
    )
}

/// [`appset_text`], parsed.
fn appset(
    name: &str,
    api: &str,
    owner: &str,
    repo: &str,
    extra: &str,
    generator_extra: &str,
) -> appset::ApplicationSet {
    appset::file::parse(&appset_text(name, api, owner, repo, extra, generator_extra))
        .expect("appset")
        .appset
}

fn live() -> LiveConfig {
    LiveConfig {
        gitea: true,
        ..LiveConfig::default()
    }
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

async fn render(set: &appset::ApplicationSet, inputs: &Inputs) -> Result<Output, String> {
    generate_applications(set, inputs, &Options::default())
        .await
        .map_err(|e| e.to_string())
}

fn query(api: &str, owner: &str, repo: &str) -> GiteaPullsQuery {
    GiteaPullsQuery {
        api: api.into(),
        owner: owner.into(),
        repo: repo.into(),
        token: None,
        insecure: false,
    }
}

fn uris(log: &[Logged]) -> Vec<&str> {
    log.iter().map(|l| l.uri.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_listed_with_the_token_and_an_unchanged_second_poll_is_answered_by_304s() {
    let server = Server::start().await;
    let mut pulls = many_pulls(120);
    pulls.push(pull(121, "closed/x", "main", &["preview"], "closed"));
    server.add_repo("org/app", pulls);
    server.require_token("org/app", "gitea-team-a");
    let inputs = Inputs::new(
        recorded_secrets(vec![secret("team-a", "gt", &[("token", "gitea-team-a")])]),
        live(),
    );
    let set = appset(
        "previews",
        &format!("{}/", server.base),
        "org",
        "app",
        ", tokenRef: {secretName: gt, key: token}",
        "",
    );
    let first = render(&set, &inputs).await.unwrap();
    assert_eq!(
        first.applications.len(),
        120,
        "open pull requests only, every page"
    );
    let p = &first.params[0];
    assert_eq!(p["number"], "1");
    assert_eq!(p["title"], "Pull request 1");
    assert_eq!(p["branch"], "feature/change_1");
    assert_eq!(p["branch_slug"], "feature-change-1");
    assert_eq!(p["target_branch"], "main");
    assert_eq!(p["target_branch_slug"], "main");
    let sha = p["head_sha"].as_str().unwrap();
    assert_eq!(sha.len(), 40);
    assert_eq!(p["head_short_sha"], sha[..8]);
    assert_eq!(p["head_short_sha_7"], sha[..7]);
    assert_eq!(p["labels"], json!(["preview"]));
    assert_eq!(p["author"], "dev1");
    assert_eq!(first.params[119]["number"], "120");

    let log = server.log();
    assert_eq!(
        uris(&log),
        [1, 2, 3]
            .map(|n| format!("/api/v1/repos/org/app/pulls?state=open&limit=50&page={n}"))
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert!(
        log.iter()
            .all(|l| l.authorization.as_deref() == Some("token gitea-team-a"))
    );
    assert!(log.iter().all(|l| l.if_none_match.is_none()));

    let second = render(&set, &inputs).await.unwrap();
    assert_eq!(second.params, first.params);
    let log = server.log();
    assert_eq!(log.len(), 6, "one conditional request per page");
    assert!(
        log[3..]
            .iter()
            .all(|l| l.if_none_match.as_deref().is_some_and(|e| e.starts_with("W/\"")))
    );
    assert_eq!(
        server.served_304(),
        3,
        "the unchanged poll is answered by 304s only"
    );

    // A changed page is fetched again; unchanged pages stay 304s.
    server.edit_pulls("org/app", |p| p[119]["title"] = json!("Renamed"));
    let third = render(&set, &inputs).await.unwrap();
    assert_eq!(third.params[119]["title"], "Renamed");
    assert_eq!(server.served_304(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_client_reuses_fresh_listings() {
    let server = Server::start().await;
    server.add_repo("org/app", many_pulls(60));
    let gitea = Gitea::new(Duration::ZERO);
    let q = query(&server.base, "org", "app");
    let a = gitea.pull_requests(&q).await.unwrap();
    let b = gitea.pull_requests(&q).await.unwrap();
    assert_eq!(a, b);
    let stats = gitea.stats();
    assert_eq!((stats.requests, stats.not_modified), (4, 2), "{stats:?}");
    let cached = Gitea::new(Duration::from_secs(600));
    cached.pull_requests(&q).await.unwrap();
    cached.pull_requests(&q).await.unwrap();
    assert_eq!(cached.stats().requests, 2);
    assert_eq!(cached.stats().served_from_cache, 1);
    // A webhook said the pull requests changed: the next call asks Gitea (conditionally), and
    // sees the new one; another repository's expiry (any case) leaves the listing cached.
    server.edit_pulls("org/app", |p| p.push(pull(61, "feat/new", "main", &[], "open")));
    cached.expire("org", "other");
    cached.pull_requests(&q).await.unwrap();
    assert_eq!(cached.stats().served_from_cache, 2);
    cached.expire("ORG", "App");
    let fresh = cached.pull_requests(&q).await.unwrap();
    assert_eq!(fresh.len(), 61);
    assert_eq!(cached.stats().served_from_cache, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_are_filtered_by_appset_as_argo_cds_gitea_client_does() {
    let server = Server::start().await;
    server.add_repo(
        "org/app",
        vec![
            pull(1, "feat/a", "main", &["preview", "team-a"], "open"),
            pull(2, "feat/b", "main", &["preview"], "open"),
            pull(3, "fix/c", "main", &["preview", "team-a"], "open"),
            pull(4, "feat/d", "main", &["team-a", "preview", "x"], "open"),
        ],
    );
    let inputs = Inputs::new(Recorded::default(), live());
    let set = appset(
        "filtered",
        &server.base,
        "org",
        "app",
        ", labels: [preview, team-a]",
        "      filters:\n      - branchMatch: '^feat/'\n",
    );
    let out = render(&set, &inputs).await.unwrap();
    let numbers: Vec<_> = out.params.iter().map(|p| p["number"].clone()).collect();
    assert_eq!(numbers, [json!("1"), json!("4")]);
    assert_eq!(
        uris(&server.log()),
        ["/api/v1/repos/org/app/pulls?state=open&limit=50&page=1"],
        "labels are not sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_a_typed_rate_limit_with_a_stable_message_and_no_retry_before_it() {
    let server = Server::start().await;
    server.add_repo("org/app", many_pulls(3));
    server.set_mode("org/app", Mode::RetryAfter { secs: 120 });
    let gitea = Gitea::new(Duration::ZERO);
    let q = query(&server.base, "org", "app");
    let before = SystemTime::now();
    let e1 = gitea.pull_requests(&q).await.unwrap_err();
    assert!(matches!(e1, ForgeError::RateLimited { .. }), "{e1:?}");
    let at = e1.retry_at().expect("retry time");
    assert!(at >= before + Duration::from_secs(119) && at <= SystemTime::now() + Duration::from_secs(121));
    let e2 = gitea.pull_requests(&q).await.unwrap_err();
    assert_eq!(e1, e2);
    assert_eq!(
        e1.to_string(),
        format!(
            "error listing pull requests for org/app: Gitea API rate limit exceeded at {}; waiting for the reset",
            server.base
        )
    );
    assert_eq!(server.log().len(), 1, "no request before the retry time");

    let inputs = Inputs::new(Recorded::default(), live());
    let set = appset("limited", &server.base, "org", "app", "", "");
    let err = generate_applications(&set, &inputs, &Options::default())
        .await
        .unwrap_err();
    assert!(err.retry_at().is_some(), "the retry time reaches the caller");
    let err = err.to_string();
    assert!(
        err.contains("spec.generators[0].pullRequest.gitea: error listing pull requests for org/app: Gitea API rate limit exceeded"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_server_errors_and_malformed_answers_are_errors_not_zero_pull_requests() {
    let server = Server::start().await;
    server.add_repo("org/app", many_pulls(3));
    let inputs = Inputs::new(Recorded::default(), live());
    let set = appset("broken", &server.base, "org", "app", "", "");
    server.require_token("org/app", "needed");
    let err = render(&set, &inputs).await.unwrap_err();
    assert!(
        err.contains(
            "spec.generators[0].pullRequest.gitea: error listing pull requests for org/app: Gitea API at"
        ) && err.ends_with("refused the credentials (HTTP 401)"),
        "{err}"
    );
    server.add_repo("org/other", many_pulls(3));
    let set = appset("broken", &server.base, "org", "other", "", "");
    server.set_mode("org/other", Mode::ServerError);
    let err = render(&set, &inputs).await.unwrap_err();
    assert!(
        err.contains("spec.generators[0].pullRequest.gitea") && err.contains("answered HTTP 500"),
        "{err}"
    );
    server.set_mode("org/other", Mode::Malformed);
    let err = render(&set, &inputs).await.unwrap_err();
    assert!(
        err.contains("spec.generators[0].pullRequest.gitea")
            && err.contains("malformed answer from Gitea API"),
        "{err}"
    );
    server.set_mode("org/other", Mode::Ok);
    assert_eq!(render(&set, &inputs).await.unwrap().applications.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_repository_is_an_error_unless_continue_on_repo_not_found_error_is_set() {
    let server = Server::start().await;
    let inputs = Inputs::new(Recorded::default(), live());
    let err = render(&appset("gone", &server.base, "org", "missing", "", ""), &inputs)
        .await
        .unwrap_err();
    assert!(
        err.contains(&format!(
            "spec.generators[0].pullRequest.gitea: error listing pull requests for org/missing: repository not found at {} (HTTP 404)",
            server.base
        )),
        "{err}"
    );
    let tolerant = appset(
        "gone",
        &server.base,
        "org",
        "missing",
        "",
        "      continueOnRepoNotFoundError: true\n",
    );
    assert!(render(&tolerant, &inputs).await.unwrap().applications.is_empty());
    server.add_repo("org/flaky", many_pulls(1));
    server.set_mode("org/flaky", Mode::ServerError);
    let flaky = appset(
        "flaky",
        &server.base,
        "org",
        "flaky",
        "",
        "      continueOnRepoNotFoundError: true\n",
    );
    assert!(
        render(&flaky, &inputs).await.is_err(),
        "the flag does not hide other failures"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_ref_reads_the_secret_in_the_application_sets_namespace_only() {
    let server = Server::start().await;
    server.add_repo("org/app", many_pulls(2));
    let inputs = Inputs::new(
        recorded_secrets(vec![
            secret("team-a", "gt", &[("token", " from-team-a\n")]),
            secret("argocd", "gt-other", &[("token", "from-argocd")]),
        ]),
        live(),
    );
    let with_ref = |name: &str, key: &str| format!(", tokenRef: {{secretName: {name}, key: {key}}}");
    render(
        &appset("a", &server.base, "org", "app", &with_ref("gt", "token"), ""),
        &inputs,
    )
    .await
    .unwrap();
    assert_eq!(
        server.log()[0].authorization.as_deref(),
        Some("token from-team-a")
    );
    let err = render(
        &appset(
            "b",
            &server.base,
            "org",
            "app",
            &with_ref("gt-other", "token"),
            "",
        ),
        &inputs,
    )
    .await
    .unwrap_err();
    assert!(
        err.contains(r#"error fetching secret team-a/gt-other: secrets "gt-other" not found"#),
        "{err}"
    );
    let err = render(
        &appset("c", &server.base, "org", "app", &with_ref("gt", "nokey"), ""),
        &inputs,
    )
    .await
    .unwrap_err();
    assert!(
        err.contains(r#"key "nokey" in secret team-a/gt not found"#),
        "{err}"
    );
    assert_eq!(
        server.log().len(),
        1,
        "no request is made without the credentials"
    );
    render(&appset("d", &server.base, "org", "app", "", ""), &inputs)
        .await
        .unwrap();
    assert_eq!(server.log()[1].authorization, None, "no token without a tokenRef");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_disabled_providers_fail_before_any_request() {
    let server = Server::start().await;
    server.add_repo("org/app", many_pulls(1));
    let gitea = Gitea::new(Duration::ZERO);
    for q in [
        query("ftp://x", "org", "app"),
        query("", "org", "app"),
        query(&server.base, " ", "app"),
        query(&server.base, "org", "a/b"),
    ] {
        assert!(
            matches!(gitea.pull_requests(&q).await, Err(ForgeError::Invalid(_))),
            "{q:?}"
        );
    }
    let inputs = Inputs::new(Recorded::default(), live());
    let off = Options {
        scm: appset::pipeline::ScmOptions {
            enabled: false,
            ..Default::default()
        },
        ..Options::default()
    };
    let err = generate_applications(
        &appset("disabled", &server.base, "org", "app", "", ""),
        &inputs,
        &off,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("scm providers are disabled"), "{err}");
    let allowed = Options {
        scm: appset::pipeline::ScmOptions {
            allowed: vec!["https://gitea.example.com".into()],
            ..Default::default()
        },
        ..Options::default()
    };
    let err = generate_applications(
        &appset("other", &server.base, "org", "app", "", ""),
        &inputs,
        &allowed,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("spec.generators[0].pullRequest.gitea.api: scm provider not allowed"),
        "{err}"
    );
    assert!(server.log().is_empty());
    // Without live Gitea access (appset serve, --offline), unrecorded pull requests are an error.
    let offline = Inputs::new(Recorded::default(), LiveConfig::default());
    let err = render(&appset("offline", &server.base, "org", "app", "", ""), &offline)
        .await
        .unwrap_err();
    assert!(err.contains("live Gitea access is off"), "{err}");
}

/// `appset render` lists the pull requests at the Gitea `api` the set names (every page), with
/// no credential the set did not name (appset reads no process-wide Gitea token); `--offline`
/// asks nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appset_render_reads_the_gitea_named_by_api() {
    let server = Server::start().await;
    server.add_repo("team/app", many_pulls(60));
    let text = appset_text("previews", &server.base, "team", "app", "", "");
    let out = harness::appset_render(
        &text,
        &["-o", "names"],
        &[("GITEA_TOKEN", "gitea-of-the-process")],
    )
    .await;
    assert!(out.success, "{}", out.stderr);
    let names: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(names.len(), 60, "{}", out.stdout);
    assert!(names.contains(&"previews-pr-60"), "{}", out.stdout);
    let log = server.log();
    assert_eq!(log.len(), 2, "two pages of 50: {:?}", uris(&log));
    assert!(log.iter().all(|l| l.authorization.is_none()), "{log:?}");

    let out = harness::appset_render(&text, &["-o", "names", "--offline"], &[]).await;
    assert!(!out.success);
    assert!(out.stderr.contains("pass --pull-requests FILE"), "{}", out.stderr);
    assert_eq!(server.log().len(), 2, "--offline asks nothing");
}
