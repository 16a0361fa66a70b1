//! The pull-request generator's Bitbucket Server (`bitbucketServer`) and Bitbucket Cloud
//! (`bitbucket`) providers against a Bitbucket-shaped HTTP server on 127.0.0.1.
//!
//! The server answers like Atlassian's REST APIs (Server 1.0: `start`/`limit` pages ended by
//! `isLastPage`, no ETags; Cloud 2.0: `page`/`pagelen` pages linked by `next`, ETags and
//! `304 Not Modified`), with 429 `Retry-After`, 401, 404, 500 and malformed bodies. It records
//! every request so the tests assert what was sent (pages, query, conditional headers,
//! credentials, and to which host) as well as what was generated.

use std::{
    process::Command,
    time::{Duration, SystemTime},
};

use appset::{
    pipeline::{Options, Output, ScmOptions, generate_applications},
    sources::{
        Bitbucket, ForgeError, Inputs, LiveConfig, Recorded,
        bitbucket::{BitbucketAuth, CloudPullsQuery, ServerPullsQuery},
    },
};
use base64::Engine;
use harness::bitbucket_server::{Logged, Mode, Server, cloud_pull, server_pull};
use serde_json::{Value, json};

mod harness;

const SERVER: bool = false;
const CLOUD: bool = true;

fn server_pulls(n: u64) -> Vec<Value> {
    (1..=n)
        .map(|i| server_pull(i, &format!("feature/change_{i}"), "main", "OPEN", false))
        .collect()
}

fn cloud_pulls(n: u64) -> Vec<Value> {
    (1..=n)
        .map(|i| cloud_pull(i, &format!("feature/change_{i}"), "main", "OPEN", false))
        .collect()
}

/// An ApplicationSet (namespace `team-a`) whose pull-request generator is `provider: {spec}`.
fn appset(name: &str, provider: &str, spec: &str, generator_extra: &str) -> appset::ApplicationSet {
    let text = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: {name}, namespace: team-a}}\nspec:\n  \
         goTemplate: true\n  \
         generators:\n  - pullRequest:\n      {provider}: {{{spec}}}\n{generator_extra}  \
         template:\n    metadata: {{name: '{name}-pr-{{{{.number}}}}'}}\n    spec:\n      project: default\n      \
         source: {{repoURL: 'https://bitbucket.example.com/scm/shop/shop.git', targetRevision: '{{{{.head_sha}}}}', path: deploy}}\n      \
         destination: {{server: 'https://kubernetes.default.svc', namespace: 'pr-{{{{.number}}}}'}}\n"
    );
    appset::file::parse(&text).expect("appset").appset
}

fn server_set(
    name: &str,
    api: &str,
    repo: &str,
    extra: &str,
    generator_extra: &str,
) -> appset::ApplicationSet {
    appset(
        name,
        "bitbucketServer",
        &format!("project: SHOP, repo: '{repo}', api: '{api}'{extra}"),
        generator_extra,
    )
}

fn cloud_set(
    name: &str,
    api: &str,
    repo: &str,
    extra: &str,
    generator_extra: &str,
) -> appset::ApplicationSet {
    appset(
        name,
        "bitbucket",
        &format!("owner: example, repo: '{repo}', api: '{api}'{extra}"),
        generator_extra,
    )
}

fn live() -> LiveConfig {
    LiveConfig {
        bitbucket: true,
        ..LiveConfig::default()
    }
}

fn secret(namespace: &str, name: &str, data: &[(&str, &str)], labels: Value) -> Value {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": name, "namespace": namespace, "labels": labels}, "stringData": data})
}

fn team_a_secrets() -> Recorded {
    serde_json::from_value(json!({ "secrets": [
        secret("team-a", "bb", &[("password", " app-password\n"), ("token", "bearer-team-a")],
               json!({"argocd.argoproj.io/secret-type": "scm-creds"})),
        secret("team-a", "unlabelled", &[("token", "t")], json!({})),
        secret("argocd", "bb-argocd", &[("token", "from-argocd")], json!({})),
    ]}))
    .unwrap()
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

const BASIC_AUTH: &str = ", basicAuth: {username: ci-bot, passwordRef: {secretName: bb, key: password}}";
const BEARER: &str = ", bearerToken: {tokenRef: {secretName: bb, key: token}}";

async fn render(set: &appset::ApplicationSet, inputs: &Inputs) -> Result<Output, String> {
    generate_applications(set, inputs, &Options::default())
        .await
        .map_err(|e| e.to_string())
}

/// Argo CD's parameters of the harness's pull request 1 (`feature/change_1` into `main` by
/// `dev1`), whose head SHA has `sha_len` characters; no labels.
fn assert_first_params(p: &appset::Params, sha_len: usize) {
    assert_eq!(p["number"], "1");
    assert_eq!(p["title"], "Pull request 1");
    assert_eq!(p["branch"], "feature/change_1");
    assert_eq!(p["branch_slug"], "feature-change-1");
    assert_eq!(p["target_branch"], "main");
    assert_eq!(p["target_branch_slug"], "main");
    let sha = p["head_sha"].as_str().unwrap();
    assert_eq!(sha.len(), sha_len);
    assert_eq!(p["head_short_sha"], sha[..8]);
    assert_eq!(p["head_short_sha_7"], sha[..7]);
    assert_eq!(p["labels"], json!([]), "Bitbucket has no labels");
    assert_eq!(p["author"], "dev1");
}

fn uris(log: &[Logged]) -> Vec<&str> {
    log.iter().map(|l| l.uri.as_str()).collect()
}

fn server_query(api: &str, repo: &str) -> ServerPullsQuery {
    ServerPullsQuery {
        api: api.into(),
        project: "SHOP".into(),
        repo: repo.into(),
        auth: BitbucketAuth::Anonymous,
        tls: Default::default(),
    }
}

fn cloud_query(api: &str, repo: &str) -> CloudPullsQuery {
    CloudPullsQuery {
        api: api.into(),
        owner: "example".into(),
        repo: repo.into(),
        auth: BitbucketAuth::Anonymous,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_pages_follow_next_page_start_with_basic_auth_and_every_poll_lists_every_page() {
    let server = Server::start().await;
    let mut pulls = server_pulls(60);
    pulls.push(server_pull(61, "declined/x", "main", "DECLINED", false));
    server.add_server_repo("SHOP/shop", pulls);
    server.require_authorization(SERVER, "SHOP/shop", &basic("ci-bot", "app-password"));
    let inputs = Inputs::new(team_a_secrets(), live());
    // No `/rest` in `api`: it is added, as Argo CD does.
    let set = server_set("previews", &format!("{}/", server.base), "shop", BASIC_AUTH, "");
    let first = render(&set, &inputs).await.unwrap();
    assert_eq!(
        first.applications.len(),
        60,
        "open pull requests only, every page"
    );
    // fromRef.latestCommit is the full SHA; author.user.name.
    assert_first_params(&first.params[0], 40);
    assert_eq!(first.params[59]["number"], "60");

    let log = server.log();
    let first_page = "/rest/api/1.0/projects/SHOP/repos/shop/pull-requests?state=OPEN&limit=100";
    assert_eq!(
        uris(&log),
        [
            first_page.to_string(),
            format!("{first_page}&start=25"),
            format!("{first_page}&start=50")
        ],
        "the server capped limit at 25; pages start at nextPageStart"
    );
    let expected = basic("ci-bot", "app-password");
    assert!(
        log.iter()
            .all(|l| l.authorization.as_deref() == Some(expected.as_str()))
    );

    // Bitbucket Server sends no ETags: a second poll lists every page again, unconditionally.
    let second = render(&set, &inputs).await.unwrap();
    assert_eq!(second.params, first.params);
    let log = server.log();
    assert_eq!(log.len(), 6);
    assert!(log.iter().all(|l| l.if_none_match.is_none()));
    server.edit_pulls(SERVER, "SHOP/shop", |p| p[59]["title"] = json!("Renamed"));
    let third = render(&set, &inputs).await.unwrap();
    assert_eq!(third.params[59]["title"], "Renamed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_pages_follow_next_with_a_bearer_token_and_an_unchanged_poll_is_answered_by_304s() {
    let server = Server::start().await;
    let mut pulls = cloud_pulls(120);
    pulls.push(cloud_pull(121, "merged/x", "main", "MERGED", false));
    server.add_cloud_repo("example/shop", pulls);
    server.require_authorization(CLOUD, "example/shop", "Bearer bearer-team-a");
    let inputs = Inputs::new(team_a_secrets(), live());
    let set = cloud_set("previews", &format!("{}/2.0", server.base), "shop", BEARER, "");
    let first = render(&set, &inputs).await.unwrap();
    assert_eq!(
        first.applications.len(),
        120,
        "open pull requests only, every page"
    );
    // source.commit.hash is Cloud's short hash, as Argo CD reads it; author.nickname.
    assert_first_params(&first.params[0], 12);

    let log = server.log();
    let next = |n: u32| format!("/2.0/repositories/example/shop/pullrequests?pagelen=50&state=OPEN&page={n}");
    assert_eq!(
        uris(&log),
        [
            "/2.0/repositories/example/shop/pullrequests?state=OPEN&pagelen=50".to_string(),
            next(2),
            next(3)
        ]
    );
    assert!(
        log.iter()
            .all(|l| l.authorization.as_deref() == Some("Bearer bearer-team-a"))
    );
    assert!(log.iter().all(|l| l.if_none_match.is_none()));

    let second = render(&set, &inputs).await.unwrap();
    assert_eq!(second.params, first.params);
    let log = server.log();
    assert_eq!(log.len(), 6, "one conditional request per page");
    assert!(
        log[3..]
            .iter()
            .all(|l| l.if_none_match.as_deref().is_some_and(|e| e.starts_with('"')))
    );
    assert_eq!(
        server.served_304(),
        3,
        "the unchanged poll is answered by 304s only"
    );

    server.edit_pulls(CLOUD, "example/shop", |p| p[119]["title"] = json!("Renamed"));
    let third = render(&set, &inputs).await.unwrap();
    assert_eq!(third.params[119]["title"], "Renamed");
    assert_eq!(
        server.served_304(),
        5,
        "the changed page is fetched again, the others are 304s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_client_reuses_fresh_listings() {
    let server = Server::start().await;
    server.add_cloud_repo("example/shop", cloud_pulls(60));
    server.add_server_repo("SHOP/shop", server_pulls(30));
    let cached = Bitbucket::new(Duration::from_secs(600));
    let q = cloud_query(&format!("{}/2.0", server.base), "shop");
    let a = cached.cloud_pull_requests(&q).await.unwrap();
    let b = cached.cloud_pull_requests(&q).await.unwrap();
    assert_eq!(a, b);
    let s = server_query(&format!("{}/rest", server.base), "shop");
    assert_eq!(cached.server_pull_requests(&s).await.unwrap().len(), 30);
    cached.server_pull_requests(&s).await.unwrap();
    let stats = cached.stats();
    assert_eq!((stats.requests, stats.served_from_cache), (4, 2), "{stats:?}");
    // An expired listing is asked again (conditionally on Cloud).
    cached.expire("example", "shop");
    cached.cloud_pull_requests(&q).await.unwrap();
    assert_eq!(cached.stats().not_modified, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_are_skipped_with_ignore_draft_and_filters_apply_as_argo_cds() {
    let server = Server::start().await;
    server.add_server_repo(
        "SHOP/shop",
        vec![
            server_pull(1, "feature/a", "main", "OPEN", false),
            server_pull(2, "feature/b", "main", "OPEN", true),
            server_pull(3, "fix/c", "release", "OPEN", false),
        ],
    );
    server.add_cloud_repo(
        "example/shop",
        vec![
            cloud_pull(1, "feature/a", "main", "OPEN", true),
            cloud_pull(2, "feature/b", "main", "OPEN", false),
            cloud_pull(3, "fix/c", "release", "OPEN", false),
        ],
    );
    let inputs = Inputs::new(Recorded::default(), live());
    let numbers = |out: Output| -> Vec<Value> { out.params.iter().map(|p| p["number"].clone()).collect() };
    let server_api = format!("{}/rest", server.base);
    let cloud_api = format!("{}/2.0", server.base);
    let all = render(&server_set("s", &server_api, "shop", "", ""), &inputs)
        .await
        .unwrap();
    assert_eq!(
        numbers(all),
        [json!("1"), json!("2"), json!("3")],
        "drafts are kept by default"
    );
    let out = render(
        &server_set("s", &server_api, "shop", ", ignoreDraft: true", ""),
        &inputs,
    )
    .await
    .unwrap();
    assert_eq!(numbers(out), [json!("1"), json!("3")]);
    let out = render(
        &cloud_set("c", &cloud_api, "shop", ", ignoreDraft: true", ""),
        &inputs,
    )
    .await
    .unwrap();
    assert_eq!(numbers(out), [json!("2"), json!("3")]);
    let filters =
        "      filters:\n      - branchMatch: '^feature/'\n      - targetBranchMatch: '^release$'\n";
    let out = render(&cloud_set("c", &cloud_api, "shop", "", filters), &inputs)
        .await
        .unwrap();
    assert_eq!(
        numbers(out),
        [json!("1"), json!("2"), json!("3")],
        "OR across filters"
    );
    let filters =
        "      filters:\n      - branchMatch: '^feature/'\n        targetBranchMatch: '^release$'\n";
    let out = render(&server_set("s", &server_api, "shop", "", filters), &inputs)
        .await
        .unwrap();
    assert!(out.params.is_empty(), "AND within a filter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_a_typed_rate_limit_with_a_stable_message_and_no_retry_before_it() {
    let server = Server::start().await;
    server.add_server_repo("SHOP/shop", server_pulls(3));
    server.add_cloud_repo("example/shop", cloud_pulls(3));
    server.set_mode(SERVER, "SHOP/shop", Mode::RetryAfter { secs: 120 });
    server.set_mode(CLOUD, "example/shop", Mode::RetryAfter { secs: 120 });
    let bitbucket = Bitbucket::new(Duration::ZERO);
    let before = SystemTime::now();
    let s = server_query(&server.base, "shop");
    let e1 = bitbucket.server_pull_requests(&s).await.unwrap_err();
    assert!(matches!(e1, ForgeError::RateLimited { .. }), "{e1:?}");
    let at = e1.retry_at().expect("retry time");
    assert!(at >= before + Duration::from_secs(119) && at <= SystemTime::now() + Duration::from_secs(121));
    assert_eq!(bitbucket.server_pull_requests(&s).await.unwrap_err(), e1);
    assert_eq!(
        e1.to_string(),
        format!(
            "error listing pull requests for SHOP/shop: Bitbucket Server API rate limit exceeded at {}/rest; waiting for the reset",
            server.base
        )
    );
    let c = cloud_query(&format!("{}/2.0", server.base), "shop");
    let e2 = bitbucket.cloud_pull_requests(&c).await.unwrap_err();
    assert!(e2.retry_at().is_some(), "{e2:?}");
    assert_eq!(bitbucket.cloud_pull_requests(&c).await.unwrap_err(), e2);
    assert_eq!(server.log().len(), 2, "no request before the retry time");

    let inputs = Inputs::new(Recorded::default(), live());
    let err = generate_applications(
        &cloud_set("limited", &format!("{}/2.0", server.base), "shop", "", ""),
        &inputs,
        &Options::default(),
    )
    .await
    .unwrap_err();
    assert!(err.retry_at().is_some(), "the retry time reaches the caller");
    let err = err.to_string();
    assert!(
        err.contains("spec.generators[0].pullRequest.bitbucket: error listing pull requests for example/shop: Bitbucket Cloud API rate limit exceeded"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_server_errors_malformed_answers_and_broken_paging_are_errors_not_zero_pull_requests() {
    let server = Server::start().await;
    let inputs = Inputs::new(Recorded::default(), live());
    for (cloud, key, field, forge) in [
        (SERVER, "SHOP/shop", "bitbucketServer", "Bitbucket Server"),
        (CLOUD, "example/shop", "bitbucket", "Bitbucket Cloud"),
    ] {
        let set = if cloud {
            cloud_set("broken", &format!("{}/2.0", server.base), "shop", "", "")
        } else {
            server_set("broken", &server.base, "shop", "", "")
        };
        if cloud {
            server.add_cloud_repo(key, cloud_pulls(3));
        } else {
            server.add_server_repo(key, server_pulls(3));
        }
        server.require_authorization(cloud, key, "Bearer needed");
        let err = render(&set, &inputs).await.unwrap_err();
        assert!(
            err.contains(&format!(
                "spec.generators[0].pullRequest.{field}: error listing pull requests for {key}: {forge} API at"
            )) && err.ends_with("refused the credentials (HTTP 401)"),
            "{err}"
        );
        if cloud {
            server.add_cloud_repo(key, cloud_pulls(3));
        } else {
            server.add_server_repo(key, server_pulls(3));
        }
        server.set_mode(cloud, key, Mode::ServerError);
        let err = render(&set, &inputs).await.unwrap_err();
        assert!(err.contains(field) && err.contains("answered HTTP 500"), "{err}");
        server.set_mode(cloud, key, Mode::Malformed);
        let err = render(&set, &inputs).await.unwrap_err();
        assert!(
            err.contains(&format!("malformed answer from {forge} API")),
            "{err}"
        );
        server.set_mode(cloud, key, Mode::Ok);
        assert_eq!(render(&set, &inputs).await.unwrap().applications.len(), 3);
    }
    // isLastPage: false without nextPageStart: an error, not the pages so far.
    server.add_server_repo("SHOP/paged", server_pulls(30));
    server.set_mode(SERVER, "SHOP/paged", Mode::NoNextPageStart);
    let err = render(&server_set("paged", &server.base, "paged", "", ""), &inputs)
        .await
        .unwrap_err();
    assert!(
        err.contains("isLastPage is false but nextPageStart is missing"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_next_url_on_another_host_is_refused_and_the_credential_never_reaches_it() {
    let server = Server::start().await;
    let elsewhere = Server::start().await;
    server.add_cloud_repo("example/shop", cloud_pulls(60));
    elsewhere.add_cloud_repo("example/shop", cloud_pulls(60));
    server.set_mode(CLOUD, "example/shop", Mode::NextOnHost(elsewhere.base.clone()));
    let inputs = Inputs::new(team_a_secrets(), live());
    let set = cloud_set("hop", &format!("{}/2.0", server.base), "shop", BEARER, "");
    let err = render(&set, &inputs).await.unwrap_err();
    assert!(
        err.contains(&format!(
            "page 1 names a next page on another host ({}); the credential is only sent to {}",
            elsewhere.base, server.base
        )),
        "{err}"
    );
    assert_eq!(server.log().len(), 1);
    assert!(
        elsewhere.log().is_empty(),
        "nothing, and no credential, is sent to the other host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_repository_is_an_error_unless_continue_on_repo_not_found_error_is_set() {
    let server = Server::start().await;
    let inputs = Inputs::new(Recorded::default(), live());
    let tolerant = "      continueOnRepoNotFoundError: true\n";
    let cloud_api = format!("{}/2.0", server.base);
    let err = render(&server_set("gone", &server.base, "missing", "", ""), &inputs)
        .await
        .unwrap_err();
    assert!(
        err.contains(&format!(
            "spec.generators[0].pullRequest.bitbucketServer: error listing pull requests for SHOP/missing: repository not found at {}/rest (HTTP 404)",
            server.base
        )),
        "{err}"
    );
    let err = render(&cloud_set("gone", &cloud_api, "missing", "", ""), &inputs)
        .await
        .unwrap_err();
    assert!(
        err.contains("error listing pull requests for example/missing: repository not found"),
        "{err}"
    );
    for set in [
        server_set("gone", &server.base, "missing", "", tolerant),
        cloud_set("gone", &cloud_api, "missing", "", tolerant),
    ] {
        assert!(render(&set, &inputs).await.unwrap().applications.is_empty());
    }
    server.add_cloud_repo("example/flaky", cloud_pulls(1));
    server.set_mode(CLOUD, "example/flaky", Mode::ServerError);
    assert!(
        render(&cloud_set("flaky", &cloud_api, "flaky", "", tolerant), &inputs)
            .await
            .is_err(),
        "the flag does not hide other failures"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_wins_over_basic_and_secrets_come_only_from_the_sets_namespace() {
    let server = Server::start().await;
    server.add_server_repo("SHOP/shop", server_pulls(2));
    let inputs = Inputs::new(team_a_secrets(), live());
    let both = format!("{BASIC_AUTH}{BEARER}");
    render(&server_set("a", &server.base, "shop", &both, ""), &inputs)
        .await
        .unwrap();
    assert_eq!(
        server.log()[0].authorization.as_deref(),
        Some("Bearer bearer-team-a")
    );
    let refused = [
        (
            ", bearerToken: {tokenRef: {secretName: bb-argocd, key: token}}",
            r#"error fetching secret team-a/bb-argocd: secrets "bb-argocd" not found"#,
        ),
        (
            ", basicAuth: {username: u, passwordRef: {secretName: bb, key: nokey}}",
            r#"key "nokey" in secret team-a/bb not found"#,
        ),
    ];
    for (extra, message) in refused {
        let err = render(&server_set("b", &server.base, "shop", extra, ""), &inputs)
            .await
            .unwrap_err();
        assert!(err.contains(message), "{err}");
    }
    // --token-ref-strict-mode: the Secret must be labelled scm-creds.
    let strict = Options {
        scm: ScmOptions {
            token_ref_strict: true,
            ..Default::default()
        },
        ..Options::default()
    };
    let unlabelled = ", bearerToken: {tokenRef: {secretName: unlabelled, key: token}}";
    let err = generate_applications(
        &server_set("c", &server.base, "shop", unlabelled, ""),
        &inputs,
        &strict,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("secret team-a/unlabelled is not a valid SCM creds secret"),
        "{err}"
    );
    generate_applications(
        &server_set("d", &server.base, "shop", BASIC_AUTH, ""),
        &inputs,
        &strict,
    )
    .await
    .unwrap();
    assert_eq!(
        server.log().len(),
        2,
        "no request is made without the credentials"
    );
    assert_eq!(
        server.log()[1].authorization.as_deref(),
        Some(basic("ci-bot", "app-password").as_str()),
        "the password is trimmed, as Argo CD's GetSecretRef does"
    );
    render(&server_set("e", &server.base, "shop", "", ""), &inputs)
        .await
        .unwrap();
    assert_eq!(
        server.log()[2].authorization,
        None,
        "anonymous without a credential"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_disabled_providers_fail_before_any_request() {
    let server = Server::start().await;
    server.add_server_repo("SHOP/shop", server_pulls(1));
    server.add_cloud_repo("example/shop", cloud_pulls(1));
    let bitbucket = Bitbucket::new(Duration::ZERO);
    let mut empty_token = server_query(&server.base, "shop");
    empty_token.auth = BitbucketAuth::Bearer(String::new());
    let mut bad_ca = server_query(&server.base, "shop");
    bad_ca.tls.ca_pem = Some("not a certificate".into());
    for q in [
        server_query("ftp://x", "shop"),
        server_query("", "shop"),
        server_query(&server.base, " "),
        server_query(&server.base, "a/b"),
        empty_token,
        bad_ca,
    ] {
        let r = bitbucket.server_pull_requests(&q).await;
        assert!(matches!(r, Err(ForgeError::Invalid(_))), "{q:?}: {r:?}");
    }
    let mut empty_password = cloud_query(&server.base, "shop");
    empty_password.auth = BitbucketAuth::Basic {
        username: "u".into(),
        password: String::new(),
    };
    for q in [
        cloud_query("not a url", "shop"),
        cloud_query(&server.base, "a/b"),
        empty_password,
    ] {
        let r = bitbucket.cloud_pull_requests(&q).await;
        assert!(matches!(r, Err(ForgeError::Invalid(_))), "{q:?}: {r:?}");
    }
    let inputs = Inputs::new(Recorded::default(), live());
    let err = render(
        &server_set(
            "ca",
            &server.base,
            "shop",
            ", caRef: {configMapName: bb-ca, key: ca.crt}",
            "",
        ),
        &inputs,
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("error fetching CA certificates from ConfigMap: configmap team-a/bb-ca"),
        "{err}"
    );
    let off = Options {
        scm: ScmOptions {
            enabled: false,
            ..Default::default()
        },
        ..Options::default()
    };
    let err = generate_applications(&cloud_set("disabled", "", "shop", "", ""), &inputs, &off)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("scm providers are disabled"), "{err}");
    let allowed = Options {
        scm: ScmOptions {
            allowed: vec!["https://bitbucket.example.com/rest".into()],
            ..Default::default()
        },
        ..Options::default()
    };
    let err = generate_applications(
        &server_set("other", &server.base, "shop", "", ""),
        &inputs,
        &allowed,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("spec.generators[0].pullRequest.bitbucketServer.api: scm provider not allowed"),
        "{err}"
    );
    assert!(server.log().is_empty());
    // Without live Bitbucket access (appset serve, --offline), unrecorded pull requests are an error.
    let offline = Inputs::new(Recorded::default(), LiveConfig::default());
    let err = render(&cloud_set("offline", &server.base, "shop", "", ""), &offline)
        .await
        .unwrap_err();
    assert!(err.contains("live Bitbucket access is off"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appset_render_lists_a_loopback_bitbucket_named_by_the_api_field() {
    let server = Server::start().await;
    server.add_server_repo("SHOP/shop", server_pulls(30));
    server.add_cloud_repo("example/shop", cloud_pulls(3));
    server.require_authorization(SERVER, "SHOP/shop", &basic("ci-bot", "app-password"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("previews.yaml");
    let doc = |name: &str, provider: &str, spec: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: {name}, namespace: team-a}}\nspec:\n  \
             goTemplate: true\n  generators:\n  - pullRequest:\n      {provider}: {{{spec}}}\n  \
             template:\n    metadata: {{name: '{name}-{{{{.number}}}}-{{{{.head_short_sha_7}}}}'}}\n    spec:\n      project: default\n      \
             source: {{repoURL: 'https://bitbucket.example.com/scm/shop/shop.git', targetRevision: '{{{{.head_sha}}}}', path: deploy}}\n      \
             destination: {{server: 'https://kubernetes.default.svc', namespace: 'pr-{{{{.number}}}}'}}\n---\n"
        )
    };
    let text = format!(
        "{}{}secrets:\n- {{apiVersion: v1, kind: Secret, metadata: {{name: bb, namespace: team-a}}, stringData: {{password: app-password}}}}\n",
        doc(
            "server",
            "bitbucketServer",
            &format!(
                "project: SHOP, repo: shop, api: '{}/rest'{BASIC_AUTH}",
                server.base
            )
        ),
        doc(
            "cloud",
            "bitbucket",
            &format!("owner: example, repo: shop, api: '{}/2.0'", server.base)
        ),
    );
    std::fs::write(&file, text).unwrap();
    let run = |offline: bool| {
        let file = file.clone();
        let home = dir.path().join("home");
        tokio::task::spawn_blocking(move || {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_appset"));
            cmd.arg("render").arg(&file).arg("-o").arg("names");
            if offline {
                cmd.arg("--offline");
            }
            cmd.env_remove("KUBECONFIG")
                .env("HOME", home)
                .env(
                    "APPSET_GIT_CACHE",
                    std::env::temp_dir().join("appset-bitbucket-test-cache"),
                )
                .output()
                .expect("run appset")
        })
    };
    let out = run(false).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.matches("server-").count(), 30, "{stdout}");
    assert_eq!(stdout.matches("cloud-").count(), 3, "{stdout}");
    assert_eq!(server.log().len(), 2 + 1, "two Server pages, one Cloud page");
    // --offline: nothing is asked; the unrecorded pull requests are an error naming what to pass.
    let out = run(true).await.unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("live Bitbucket access is off (pass --pull-requests FILE)"),
        "{stderr}"
    );
    assert_eq!(server.log().len(), 3);
}
