//! The pull-request generator's GitLab provider against a GitLab-shaped HTTP server on 127.0.0.1.
//!
//! The server answers like GitLab's documented REST API v4: `GET
//! /api/v4/projects/{url-encoded path}/merge_requests` with merge-request objects, pagination
//! through `X-Next-Page`, weak `ETag`s and `304 Not Modified` for a matching `If-None-Match`,
//! 429 with `Retry-After`, 401, 404, 500 and malformed bodies, and the `state=`/`labels=`
//! filters. It records every request so the tests assert what was sent (count, query,
//! conditional headers, credentials) as well as what was generated.

use std::time::{Duration, SystemTime};

use appset::{
    pipeline::{Options, Output, generate_applications},
    sources::{ForgeError, ForgeTls, GitLab, Inputs, LiveConfig, Recorded, gitlab::MergeRequestsQuery},
};
use harness::gitlab_server::{Logged, Mode, Server, mr};
use serde_json::{Value, json};

mod harness;

fn many_mrs(n: u64) -> Vec<Value> {
    (1..=n)
        .map(|i| mr(i, &format!("feature/change_{i}"), "main", &["preview"], "opened"))
        .collect()
}

/// The YAML of an ApplicationSet (namespace `team-a`) whose pull-request generator reads
/// `project` at `api`.
fn appset_text(name: &str, api: &str, project: &str, extra: &str, generator_extra: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: {name}, namespace: team-a}}\nspec:\n  \
         goTemplate: true\n  \
         generators:\n  - pullRequest:\n      gitlab: {{project: '{project}', api: '{api}'{extra}}}\n{generator_extra}  \
         template:\n    metadata: {{name: '{name}-mr-{{{{.number}}}}'}}\n    spec:\n      project: default\n      \
         source: {{repoURL: 'https://gitlab.example.com/{project}.git', targetRevision: '{{{{.head_sha}}}}', path: deploy}}\n      \
         destination: {{server: 'https://kubernetes.default.svc', namespace: 'mr-{{{{.number}}}}'}}\n"
    )
}

/// [`appset_text`], parsed.
fn appset(
    name: &str,
    api: &str,
    project: &str,
    extra: &str,
    generator_extra: &str,
) -> appset::ApplicationSet {
    appset::file::parse(&appset_text(name, api, project, extra, generator_extra))
        .expect("appset")
        .appset
}

fn live() -> LiveConfig {
    LiveConfig {
        gitlab: true,
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

fn query(api: &str, project: &str) -> MergeRequestsQuery {
    MergeRequestsQuery {
        api: api.into(),
        project: project.into(),
        labels: vec![],
        state: String::new(),
        token: None,
        tls: ForgeTls::default(),
    }
}

fn uris(log: &[Logged]) -> Vec<&str> {
    log.iter().map(|l| l.uri.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_listed_with_the_token_and_an_unchanged_second_poll_is_answered_by_304s() {
    let server = Server::start().await;
    server.add_project("group/sub/app", many_mrs(250));
    server.require_token("group/sub/app", "glpat-team-a");
    let inputs = Inputs::new(
        recorded_secrets(vec![secret("team-a", "gl", &[("token", "glpat-team-a")])]),
        live(),
    );
    let set = appset(
        "previews",
        &server.base,
        "group/sub/app",
        ", tokenRef: {secretName: gl, key: token}",
        "",
    );
    let first = render(&set, &inputs).await.unwrap();
    assert_eq!(first.applications.len(), 250);
    let p = &first.params[0];
    assert_eq!(p["number"], "1");
    assert_eq!(p["title"], "Merge request 1");
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
    assert_eq!(first.params[249]["number"], "250");

    let log = server.log();
    assert_eq!(
        uris(&log),
        [1, 2, 3]
            .map(|n| format!("/api/v4/projects/group%2Fsub%2Fapp/merge_requests?per_page=100&page={n}"))
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert!(
        log.iter()
            .all(|l| l.private_token.as_deref() == Some("glpat-team-a"))
    );
    assert!(log.iter().all(|l| l.authorization.is_none()));
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
    server.edit_mrs("group/sub/app", |m| m[249]["title"] = json!("Renamed"));
    let third = render(&set, &inputs).await.unwrap();
    assert_eq!(third.params[249]["title"], "Renamed");
    assert_eq!(server.served_304(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_client_counts_no_new_listing_for_an_unchanged_poll() {
    let server = Server::start().await;
    server.add_project("group/app", many_mrs(120));
    let gitlab = GitLab::new(Duration::ZERO);
    let q = query(&server.base, "group/app");
    let a = gitlab.merge_requests(&q).await.unwrap();
    let b = gitlab.merge_requests(&q).await.unwrap();
    assert_eq!(a, b);
    let stats = gitlab.stats();
    assert_eq!((stats.requests, stats.not_modified), (4, 2), "{stats:?}");
    // Within max_age, no request at all.
    let cached = GitLab::new(Duration::from_secs(600));
    cached.merge_requests(&q).await.unwrap();
    cached.merge_requests(&q).await.unwrap();
    assert_eq!(cached.stats().requests, 2);
    assert_eq!(cached.stats().served_from_cache, 1);
    // Expiring the project asks again (conditionally).
    cached.expire("GROUP/app");
    cached.merge_requests(&q).await.unwrap();
    assert_eq!((cached.stats().requests, cached.stats().not_modified), (4, 2));
}

/// Issue 17's measure: N ApplicationSets watching one unchanged project over M polls cost one
/// conditional request per page per poll, shared by all N (BENCHMARKS.md prints this test's
/// line).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n_application_sets_over_m_polls_cost_one_request_per_page_per_poll() {
    const N: usize = 20;
    const M: usize = 4;
    let server = Server::start().await;
    server.add_project("group/app", many_mrs(300));
    // As in the GitHub test: the N sets of one poll share the listing, and each poll starts by
    // expiring it (what a max age does, without depending on how fast a loaded machine runs).
    let gitlab = std::sync::Arc::new(GitLab::new(Duration::from_secs(3600)));
    let sets: Vec<_> = (0..N)
        .map(|i| appset(&format!("set{i}"), &server.base, "group/app", "", ""))
        .collect();
    for poll in 0..M {
        let results = futures::future::join_all(sets.iter().map(|set| {
            let inputs = Inputs::new(Recorded::default(), live()).with_gitlab(gitlab.clone());
            async move { render(set, &inputs).await }
        }))
        .await;
        for r in results {
            assert_eq!(r.unwrap().applications.len(), 300);
        }
        if poll + 1 < M {
            gitlab.expire("group/app");
        }
    }
    let requests = server.log().len();
    let stats = gitlab.stats();
    eprintln!(
        "{N} ApplicationSets x {M} polls of a 300-MR GitLab project (3 pages): {requests} requests, \
         {} answered 304, {} listings served from the shared cache",
        stats.not_modified, stats.served_from_cache
    );
    assert_eq!(requests, 3 * M, "3 pages per poll, whatever N is");
    assert_eq!(
        server.served_304(),
        3 * (M - 1),
        "every poll after the first is 304s only"
    );
    assert_eq!(stats.served_from_cache as usize, (N - 1) * M);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_and_state_are_sent_as_gitlabs_query_parameters() {
    let server = Server::start().await;
    server.add_project(
        "group/app",
        vec![
            mr(1, "feat/a", "main", &["preview", "team-a"], "opened"),
            mr(2, "feat/b", "main", &["preview"], "opened"),
            mr(3, "feat/c", "main", &["preview", "team-a"], "merged"),
            mr(4, "fix/d", "main", &["preview", "team-a"], "opened"),
        ],
    );
    let inputs = Inputs::new(Recorded::default(), live());
    let set = appset(
        "filtered",
        &server.base,
        "group/app",
        ", labels: [preview, team-a], pullRequestState: opened",
        "      filters:\n      - branchMatch: '^feat/'\n",
    );
    let out = render(&set, &inputs).await.unwrap();
    let numbers: Vec<_> = out.params.iter().map(|p| p["number"].clone()).collect();
    assert_eq!(numbers, [json!("1")]);
    assert_eq!(
        uris(&server.log()),
        [
            "/api/v4/projects/group%2Fapp/merge_requests?per_page=100&state=opened&labels=preview%2Cteam-a&page=1"
        ]
    );
    // Without pullRequestState, Argo CD lists every state.
    let set = appset("all", &server.base, "group/app", "", "");
    assert_eq!(render(&set, &inputs).await.unwrap().applications.len(), 4);
    assert!(
        server.log()[1]
            .uri
            .ends_with("merge_requests?per_page=100&page=1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_a_typed_rate_limit_with_a_stable_message_and_no_retry_before_it() {
    let server = Server::start().await;
    server.add_project("group/app", many_mrs(3));
    server.set_mode("group/app", Mode::RetryAfter { secs: 120 });
    let gitlab = GitLab::new(Duration::ZERO);
    let q = query(&server.base, "group/app");
    let before = SystemTime::now();
    let e1 = gitlab.merge_requests(&q).await.unwrap_err();
    assert!(matches!(e1, ForgeError::RateLimited { .. }), "{e1:?}");
    let at = e1.retry_at().expect("retry time");
    assert!(at >= before + Duration::from_secs(119) && at <= SystemTime::now() + Duration::from_secs(121));
    let e2 = gitlab.merge_requests(&q).await.unwrap_err();
    assert_eq!(e1, e2);
    assert_eq!(
        e1.to_string(),
        format!(
            "error listing merge requests for project 'group/app': GitLab API rate limit exceeded at {}; waiting for the reset",
            server.base
        )
    );
    assert_eq!(server.log().len(), 1, "no request before the retry time");

    let inputs = Inputs::new(Recorded::default(), live());
    let set = appset("limited", &server.base, "group/app", "", "");
    let err = generate_applications(&set, &inputs, &Options::default())
        .await
        .unwrap_err();
    assert!(err.retry_at().is_some(), "the retry time reaches the caller");
    let err = err.to_string();
    assert!(
        err.contains("spec.generators[0].pullRequest.gitlab: error listing merge requests for project 'group/app': GitLab API rate limit exceeded"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_server_errors_and_malformed_answers_are_errors_not_zero_merge_requests() {
    let server = Server::start().await;
    server.add_project("group/app", many_mrs(3));
    let inputs = Inputs::new(Recorded::default(), live());
    let set = appset("broken", &server.base, "group/app", "", "");
    server.require_token("group/app", "needed");
    let err = render(&set, &inputs).await.unwrap_err();
    assert!(
        err.contains(
            "pullRequest.gitlab: error listing merge requests for project 'group/app': GitLab API at"
        ) && err.ends_with("refused the credentials (HTTP 401)"),
        "{err}"
    );
    server.add_project("group/other", many_mrs(3));
    let set = appset("broken", &server.base, "group/other", "", "");
    server.set_mode("group/other", Mode::ServerError);
    let err = render(&set, &inputs).await.unwrap_err();
    assert!(
        err.contains("pullRequest.gitlab") && err.contains("answered HTTP 500"),
        "{err}"
    );
    server.set_mode("group/other", Mode::Malformed);
    let err = render(&set, &inputs).await.unwrap_err();
    assert!(err.contains("malformed answer from GitLab API"), "{err}");
    server.set_mode("group/other", Mode::Ok);
    assert_eq!(render(&set, &inputs).await.unwrap().applications.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_project_is_an_error_unless_continue_on_repo_not_found_error_is_set() {
    let server = Server::start().await;
    let inputs = Inputs::new(Recorded::default(), live());
    let err = render(&appset("gone", &server.base, "group/missing", "", ""), &inputs)
        .await
        .unwrap_err();
    assert!(
        err.contains(&format!(
            "spec.generators[0].pullRequest.gitlab: error listing merge requests for project 'group/missing': project not found at {} (HTTP 404)",
            server.base
        )),
        "{err}"
    );
    let tolerant = appset(
        "gone",
        &server.base,
        "group/missing",
        "",
        "      continueOnRepoNotFoundError: true\n",
    );
    assert!(render(&tolerant, &inputs).await.unwrap().applications.is_empty());
    // The flag does not hide other failures.
    server.add_project("group/flaky", many_mrs(1));
    server.set_mode("group/flaky", Mode::ServerError);
    let flaky = appset(
        "flaky",
        &server.base,
        "group/flaky",
        "",
        "      continueOnRepoNotFoundError: true\n",
    );
    assert!(render(&flaky, &inputs).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_ref_reads_the_secret_in_the_application_sets_namespace_only() {
    let server = Server::start().await;
    server.add_project("group/app", many_mrs(2));
    let inputs = Inputs::new(
        recorded_secrets(vec![
            secret("team-a", "gl", &[("token", "from-team-a")]),
            secret("argocd", "gl-other", &[("token", "from-argocd")]),
        ]),
        LiveConfig {
            // The process's GITLAB_TOKEN goes to gitlab.com only, never to this API.
            gitlab_token: Some("env-token".into()),
            ..live()
        },
    );
    let with_ref = |name: &str, key: &str| format!(", tokenRef: {{secretName: {name}, key: {key}}}");
    render(
        &appset("a", &server.base, "group/app", &with_ref("gl", "token"), ""),
        &inputs,
    )
    .await
    .unwrap();
    assert_eq!(server.log()[0].private_token.as_deref(), Some("from-team-a"));
    let err = render(
        &appset("b", &server.base, "group/app", &with_ref("gl-other", "token"), ""),
        &inputs,
    )
    .await
    .unwrap_err();
    assert!(
        err.contains(r#"error fetching secret team-a/gl-other: secrets "gl-other" not found"#),
        "{err}"
    );
    let err = render(
        &appset("c", &server.base, "group/app", &with_ref("gl", "nokey"), ""),
        &inputs,
    )
    .await
    .unwrap_err();
    assert!(
        err.contains(r#"key "nokey" in secret team-a/gl not found"#),
        "{err}"
    );
    assert_eq!(
        server.log().len(),
        1,
        "no request is made without the credentials"
    );
    render(&appset("d", &server.base, "group/app", "", ""), &inputs)
        .await
        .unwrap();
    assert_eq!(
        server.log()[1].private_token,
        None,
        "no process token to a chosen API"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_ref_needs_the_cluster_and_bad_input_fails_closed() {
    let server = Server::start().await;
    server.add_project("group/app", many_mrs(1));
    let inputs = Inputs::new(Recorded::default(), live());
    let set = appset(
        "ca",
        &server.base,
        "group/app",
        ", caRef: {configMapName: gitlab-ca, key: ca.crt}",
        "",
    );
    let err = render(&set, &inputs).await.unwrap_err();
    assert!(
        err.contains("error fetching CA certificates from ConfigMap: configmap team-a/gitlab-ca"),
        "{err}"
    );
    // A CA bundle that is not PEM, an API that is not a URL, an empty project: errors, no request.
    let gitlab = GitLab::new(Duration::ZERO);
    let mut q = query(&server.base, "group/app");
    q.tls.ca_pem = Some("not a certificate".into());
    assert!(matches!(
        gitlab.merge_requests(&q).await,
        Err(ForgeError::Invalid(_))
    ));
    assert!(matches!(
        gitlab.merge_requests(&query("ftp://x", "group/app")).await,
        Err(ForgeError::Invalid(_))
    ));
    assert!(matches!(
        gitlab.merge_requests(&query(&server.base, " ")).await,
        Err(ForgeError::Invalid(_))
    ));
    assert!(server.log().is_empty());
    // Scm providers off: Argo CD's error before any request.
    let off = Options {
        scm: appset::pipeline::ScmOptions {
            enabled: false,
            ..Default::default()
        },
        ..Options::default()
    };
    let err = generate_applications(
        &appset("disabled", &server.base, "group/app", "", ""),
        &inputs,
        &off,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("scm providers are disabled"), "{err}");
    assert!(server.log().is_empty());
}

/// `appset render` lists the merge requests at the `api` the set names (every page), and keeps
/// the process's `GITLAB_TOKEN` for gitlab.com: the loopback GitLab never sees it. With
/// `--offline` nothing is asked, and the error says what to record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appset_render_reads_the_gitlab_named_by_api_and_sends_gitlab_token_only_to_gitlab_com() {
    let server = Server::start().await;
    server.add_project("group/app", many_mrs(150));
    let text = appset_text("previews", &server.base, "group/app", "", "");
    let token = [("GITLAB_TOKEN", "glpat-of-the-process")];
    let out = harness::appset_render(&text, &["-o", "names"], &token).await;
    assert!(out.success, "{}", out.stderr);
    let names: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(names.len(), 150, "{}", out.stdout);
    assert!(names.contains(&"previews-mr-150"), "{}", out.stdout);
    let log = server.log();
    assert_eq!(log.len(), 2, "two pages of 100: {:?}", uris(&log));
    assert!(
        log.iter()
            .all(|l| l.private_token.is_none() && l.authorization.is_none()),
        "{log:?}"
    );

    let out = harness::appset_render(&text, &["-o", "names", "--offline"], &token).await;
    assert!(!out.success);
    assert!(out.stderr.contains("pass --pull-requests FILE"), "{}", out.stderr);
    assert_eq!(server.log().len(), 2, "--offline asks nothing");
}
