//! The pull-request generator's Azure DevOps provider against an Azure DevOps-shaped HTTP server
//! on 127.0.0.1.
//!
//! The server answers like Azure DevOps's REST API 7.1: `GET
//! /{organization}/{project}/_apis/git/repositories/{repo}/pullrequests` with `{"value": [...],
//! "count": N}` of full `GitPullRequest` objects (behind a UTF-8 byte order mark), `$top`/`$skip`
//! or continuation-token paging, basic auth with the personal access token, a 401 or a `203`
//! sign-in page for a refused token, 429 with `Retry-After` and `X-RateLimit-*`, its 404s, 500s
//! and malformed bodies. It records every request so the tests assert what was sent (pages,
//! query, credentials, headers) as well as what was generated; `appset render` is run against it
//! too, through the generator's `api`.

use std::time::{Duration, SystemTime};

use appset::{
    pipeline::{Options, Output, generate_applications},
    sources::{AzureDevOps, ForgeError, Inputs, LiveConfig, Recorded, azure_devops::AzurePullsQuery},
};
use harness::{
    azure_devops_server::{Logged, Mode, Paging, Server, pull},
    forge::{
        assert_pull_request_params, assert_scm_switches_refuse, assert_token_ref_stays_in_the_sets_namespace,
        assert_typed_rate_limit, recorded_secrets,
    },
};
use serde_json::{Value, json};

mod harness;

const REPO: &str = "fabrikam/web/shop";

fn many_pulls(n: u64) -> Vec<Value> {
    (1..=n)
        .map(|i| pull(i, &format!("feature/change_{i}"), "main", &["preview"], "active"))
        .collect()
}

/// An ApplicationSet (namespace `team-a`) whose pull-request generator reads
/// `fabrikam/web/{repo}` at `api`.
fn appset(name: &str, api: &str, repo: &str, extra: &str, generator_extra: &str) -> appset::ApplicationSet {
    let text = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: {name}, namespace: team-a}}\nspec:\n  \
         goTemplate: true\n  \
         generators:\n  - pullRequest:\n      azuredevops: {{organization: fabrikam, project: web, repo: '{repo}', api: '{api}'{extra}}}\n{generator_extra}  \
         template:\n    metadata: {{name: '{name}-pr-{{{{.number}}}}'}}\n    spec:\n      project: default\n      \
         source: {{repoURL: 'https://dev.azure.com/fabrikam/web/_git/{repo}', targetRevision: '{{{{.head_sha}}}}', path: deploy}}\n      \
         destination: {{server: 'https://kubernetes.default.svc', namespace: 'pr-{{{{.number}}}}'}}\n"
    );
    appset::file::parse(&text).expect("appset").appset
}

fn live() -> LiveConfig {
    LiveConfig {
        azure_devops: true,
        ..LiveConfig::default()
    }
}

async fn render(set: &appset::ApplicationSet, inputs: &Inputs) -> Result<Output, String> {
    generate_applications(set, inputs, &Options::default())
        .await
        .map_err(|e| e.to_string())
}

fn query(api: &str, repo: &str) -> AzurePullsQuery {
    AzurePullsQuery {
        api: api.into(),
        organization: "fabrikam".into(),
        project: "web".into(),
        repo: repo.into(),
        token: None,
    }
}

fn uris(log: &[Logged]) -> Vec<String> {
    log.iter().map(|l| l.uri.clone()).collect()
}

fn page_uri(skip: usize) -> String {
    format!(
        "/fabrikam/web/_apis/git/repositories/shop/pullrequests?searchCriteria.status=active&api-version=7.1&$top=100&$skip={skip}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_listed_with_the_pat_as_basic_auth_and_argo_cds_parameters() {
    let server = Server::start().await;
    let mut pulls = many_pulls(250);
    pulls.push(pull(251, "done/x", "main", &["preview"], "completed"));
    pulls.push(pull(252, "gone/y", "main", &["preview"], "abandoned"));
    server.add_repo(REPO, pulls);
    server.require_token(REPO, "azure-pat-team-a");
    let inputs = Inputs::new(
        recorded_secrets(&[("team-a", "ado", "token", "azure-pat-team-a\n")]),
        live(),
    );
    let set = appset(
        "previews",
        &format!("{}/", server.base),
        "shop",
        ", tokenRef: {secretName: ado, key: token}",
        "",
    );
    let out = render(&set, &inputs).await.unwrap();
    assert_eq!(
        out.applications.len(),
        250,
        "active pull requests only, every page"
    );
    // Branches without `refs/heads/`, the author's uniqueName before its `@`.
    assert_pull_request_params(
        &out.params[0],
        ("1", "Pull request 1", "dev1"),
        ("feature/change_1", "feature-change-1", "main"),
        &["preview"],
    );
    let sha = out.params[0]["head_sha"].as_str().unwrap();
    assert!(sha.starts_with("0001a"), "lastMergeSourceCommit: {sha}");
    assert_eq!(out.params[249]["number"], "250");

    let log = server.log();
    assert_eq!(uris(&log), [page_uri(0), page_uri(100), page_uri(200)]);
    // Basic auth with an empty user, as Azure DevOps's Go client sends a PAT.
    assert!(
        log.iter()
            .all(|l| l.authorization.as_deref() == Some("Basic OmF6dXJlLXBhdC10ZWFtLWE="))
    );
    assert!(
        log.iter()
            .all(|l| l.fed_auth_redirect.as_deref() == Some("Suppress"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuation_tokens_are_followed_on_the_configured_api() {
    let server = Server::start().await;
    server.add_repo(REPO, many_pulls(100));
    server.set_paging(REPO, Paging::ContinuationToken { n: 40 });
    let client = AzureDevOps::new(Duration::ZERO);
    let prs = client.pull_requests(&query(&server.base, "shop")).await.unwrap();
    assert_eq!(prs.len(), 100);
    assert_eq!(
        uris(&server.log()),
        [
            page_uri(0),
            format!("{}&continuationToken=after%3A40", page_uri(0)),
            format!("{}&continuationToken=after%3A80", page_uri(0)),
        ]
    );
    let stats = client.stats();
    assert_eq!((stats.requests, stats.rate_limited), (3, 0), "{stats:?}");
    // A listing younger than max_age is served without asking.
    let cached = AzureDevOps::new(Duration::from_secs(600));
    cached.pull_requests(&query(&server.base, "shop")).await.unwrap();
    cached.pull_requests(&query(&server.base, "shop")).await.unwrap();
    assert_eq!(
        (cached.stats().requests, cached.stats().served_from_cache),
        (3, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_drafts_and_filters_are_applied_by_appset() {
    let server = Server::start().await;
    // pull(5) and pull(10) are drafts (id % 5 == 0).
    server.add_repo(
        REPO,
        vec![
            pull(1, "feat/a", "main", &["preview", "team-a"], "active"),
            pull(2, "feat/b", "main", &["preview"], "active"),
            pull(3, "fix/c", "main", &["preview", "team-a"], "active"),
            pull(4, "feat/d", "main", &["team-a", "preview", "x"], "active"),
            pull(5, "feat/e", "main", &["preview", "team-a"], "active"),
            pull(
                6,
                "feat/f",
                "main",
                &["preview", "team-a", "do-not-deploy"],
                "active",
            ),
        ],
    );
    let inputs = Inputs::new(Recorded::default(), live());
    let numbers = |out: Output| -> Vec<Value> { out.params.iter().map(|p| p["number"].clone()).collect() };
    let filters = "      filters:\n      - branchMatch: '^feat/'\n";
    let all = appset(
        "all",
        &server.base,
        "shop",
        ", labels: [preview, team-a]",
        filters,
    );
    assert_eq!(
        numbers(render(&all, &inputs).await.unwrap()),
        [json!("1"), json!("4"), json!("5"), json!("6")],
        "every label must be present, as in Argo CD"
    );
    let strict = appset(
        "strict",
        &server.base,
        "shop",
        ", labels: [preview, team-a], ignoreDraft: true, excludeLabels: [do-not-deploy]",
        filters,
    );
    assert_eq!(
        numbers(render(&strict, &inputs).await.unwrap()),
        [json!("1"), json!("4")]
    );
    assert!(
        server.log().iter().all(|l| l.uri == page_uri(0)),
        "labels are not sent: one listing serves every filter"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_a_typed_rate_limit_with_a_stable_message_and_no_retry_before_it() {
    let server = Server::start().await;
    server.add_repo(REPO, many_pulls(3));
    server.set_mode(REPO, Mode::RetryAfter { secs: 120 });
    let client = AzureDevOps::new(Duration::ZERO);
    let q = query(&server.base, "shop");
    let before = SystemTime::now();
    let e1 = client.pull_requests(&q).await.unwrap_err();
    let e2 = client.pull_requests(&q).await.unwrap_err();
    let message = format!(
        "error listing pull requests for fabrikam/web/shop: Azure DevOps API rate limit exceeded at {}; \
         waiting for the reset",
        server.base
    );
    assert_typed_rate_limit(&e1, &e2, before, 120, &message);
    assert_eq!(server.log().len(), 1, "no request before the retry time");

    let inputs = Inputs::new(Recorded::default(), live());
    let err = generate_applications(
        &appset("limited", &server.base, "shop", "", ""),
        &inputs,
        &Options::default(),
    )
    .await
    .unwrap_err();
    assert!(err.retry_at().is_some(), "the retry time reaches the caller");
    assert!(
        err.to_string().contains(
            "spec.generators[0].pullRequest.azuredevops: error listing pull requests for fabrikam/web/shop: Azure DevOps API rate limit exceeded"
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_tokens_and_sign_in_pages_server_errors_and_malformed_answers_are_errors() {
    let server = Server::start().await;
    server.add_repo(REPO, many_pulls(3));
    server.require_token(REPO, "right");
    let inputs = Inputs::new(recorded_secrets(&[("team-a", "ado", "token", "wrong")]), live());
    let set = appset(
        "broken",
        &server.base,
        "shop",
        ", tokenRef: {secretName: ado, key: token}",
        "",
    );
    let err = render(&set, &inputs).await.unwrap_err();
    assert!(
        err.contains("spec.generators[0].pullRequest.azuredevops: error listing pull requests for fabrikam/web/shop: Azure DevOps API at")
            && err.ends_with("refused the credentials (HTTP 401)"),
        "{err}"
    );
    // A sign-in page (203 with HTML: what Azure DevOps answers without the redirect suppressed,
    // or a proxy in front of it) is a refusal, never an empty listing.
    server.set_mode(REPO, Mode::SignInPage);
    let err = render(&set, &inputs).await.unwrap_err();
    assert!(
        err.ends_with(
            "refused the credentials (HTTP 203: a sign-in page instead of the API's answer; the token is missing, wrong or expired)"
        ),
        "{err}"
    );
    server.add_repo("fabrikam/web/other", many_pulls(3));
    server.set_mode("fabrikam/web/other", Mode::ServerError);
    let other = appset("other", &server.base, "other", "", "");
    let err = render(&other, &inputs).await.unwrap_err();
    assert!(err.contains("answered HTTP 500"), "{err}");
    server.set_mode("fabrikam/web/other", Mode::Malformed);
    let err = render(&other, &inputs).await.unwrap_err();
    assert!(
        err.contains("spec.generators[0].pullRequest.azuredevops")
            && err.contains("malformed answer from Azure DevOps API"),
        "{err}"
    );
    server.set_mode("fabrikam/web/other", Mode::Ok);
    assert_eq!(render(&other, &inputs).await.unwrap().applications.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_repository_or_project_is_an_error_unless_continue_on_repo_not_found_error_is_set() {
    let server = Server::start().await;
    server.add_repo(REPO, many_pulls(1));
    // Azure DevOps's TF401019 (no such repository) and TF200016 (no such project): both 404s.
    let other_project = Server::start().await;
    other_project.add_repo("fabrikam/mobile/shop", many_pulls(1));
    let inputs = Inputs::new(Recorded::default(), live());
    for (repo, api) in [("missing", &server.base), ("shop", &other_project.base)] {
        let err = render(&appset("gone", api, repo, "", ""), &inputs)
            .await
            .unwrap_err();
        assert!(
            err.contains(&format!(
                "spec.generators[0].pullRequest.azuredevops: error listing pull requests for fabrikam/web/{repo}: \
                 project or repository not found at {api} (HTTP 404)"
            )),
            "{err}"
        );
        let tolerant = appset("gone", api, repo, "", "      continueOnRepoNotFoundError: true\n");
        assert!(render(&tolerant, &inputs).await.unwrap().applications.is_empty());
    }
    server.set_mode(REPO, Mode::ServerError);
    let flaky = appset(
        "flaky",
        &server.base,
        "shop",
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
    server.add_repo(REPO, many_pulls(2));
    let inputs = Inputs::new(
        recorded_secrets(&[
            ("team-a", "ado", "token", " pat-a\n"),
            ("argocd", "ado-other", "token", "pat-argocd"),
            ("team-a", "empty", "token", ""),
        ]),
        live(),
    );
    let with_ref = |name: &str, key: &str| format!(", tokenRef: {{secretName: {name}, key: {key}}}");
    render(
        &appset("a", &server.base, "shop", &with_ref("ado", "token"), ""),
        &inputs,
    )
    .await
    .unwrap();
    assert_eq!(server.log()[0].authorization.as_deref(), Some("Basic OnBhdC1h"));
    let set = |name: &str, extra: &str| appset(name, &server.base, "shop", extra, "");
    assert_token_ref_stays_in_the_sets_namespace(set, &inputs, "ado", "ado-other").await;
    assert_eq!(
        server.log().len(),
        1,
        "no request is made without the credentials"
    );
    let strict = Options {
        scm: appset::pipeline::ScmOptions {
            token_ref_strict: true,
            ..Default::default()
        },
        ..Options::default()
    };
    let err = generate_applications(
        &appset("s", &server.base, "shop", &with_ref("ado", "token"), ""),
        &inputs,
        &strict,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("is not a valid SCM creds secret"), "{err}");
    for set in [
        appset("d", &server.base, "shop", "", ""),
        appset("e", &server.base, "shop", &with_ref("empty", "token"), ""),
    ] {
        render(&set, &inputs).await.unwrap();
    }
    let log = server.log();
    assert_eq!(log.len(), 3);
    assert!(
        log[1..].iter().all(|l| l.authorization.is_none()),
        "no token: anonymous"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_disabled_providers_and_other_apis_in_serve_fail_before_any_request() {
    let server = Server::start().await;
    server.add_repo(REPO, many_pulls(1));
    let client = AzureDevOps::new(Duration::ZERO);
    let mut bad_org = query(&server.base, "shop");
    bad_org.organization = "a/b".into();
    for q in [
        query("ftp://x", "shop"),
        query(&server.base, " "),
        query(&server.base, "a/b"),
        bad_org,
    ] {
        assert!(
            matches!(client.pull_requests(&q).await, Err(ForgeError::Invalid(_))),
            "{q:?}"
        );
    }
    let inputs = Inputs::new(Recorded::default(), live());
    let set = appset("switched", &server.base, "shop", "", "");
    assert_scm_switches_refuse(&set, &inputs, "spec.generators[0].pullRequest.azuredevops").await;
    // appset serve: Azure DevOps only at https://dev.azure.com, never at an `api` a request names.
    let serve = Inputs::new(
        Recorded::default(),
        LiveConfig {
            public_forge_apis_only: true,
            ..live()
        },
    );
    let err = render(&appset("serve", &server.base, "shop", "", ""), &serve)
        .await
        .unwrap_err();
    assert!(
        err.contains("this process asks Azure DevOps only at https://dev.azure.com")
            && err.contains("keyed by fabrikam/web/shop"),
        "{err}"
    );
    assert!(server.log().is_empty());
    // Without live Azure DevOps access (--offline), unrecorded pull requests are an error.
    let offline = Inputs::new(Recorded::default(), LiveConfig::default());
    let err = render(&appset("offline", &server.base, "shop", "", ""), &offline)
        .await
        .unwrap_err();
    assert!(err.contains("live Azure DevOps access is off"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appset_render_lists_the_loopback_forge_through_the_api_field() {
    let server = Server::start().await;
    server.add_repo(REPO, many_pulls(3));
    let text = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: ado}}\nspec:\n  goTemplate: true\n  \
         generators:\n  - pullRequest:\n      azuredevops: {{organization: fabrikam, project: web, repo: shop, api: '{}'}}\n  \
         template:\n    metadata: {{name: 'shop-{{{{.number}}}}-{{{{.branch_slug}}}}'}}\n    spec:\n      project: default\n      \
         source: {{repoURL: 'https://dev.azure.com/fabrikam/web/_git/shop', targetRevision: '{{{{.head_sha}}}}'}}\n      \
         destination: {{server: 'https://kubernetes.default.svc', namespace: default}}\n",
        server.base
    );
    let names = harness::appset_render(&text, &["-o", "names"], &[]).await.stdout;
    let err = harness::appset_render(&text, &["-o", "names", "--offline"], &[])
        .await
        .stderr;
    assert_eq!(
        names,
        "shop-1-feature-change-1\nshop-2-feature-change-2\nshop-3-feature-change-3\n"
    );
    assert!(err.contains("live Azure DevOps access is off"), "{err}");
    assert_eq!(server.log().len(), 1, "--offline asks nothing");
}
