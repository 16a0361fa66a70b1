//! The `scmProvider` generator's Bitbucket Cloud and Azure DevOps providers against forge-shaped
//! servers on 127.0.0.1 (`harness::bitbucket_server`, `harness::azure_devops_server`): every
//! page of a workspace's or team project's repositories (Cloud's `next` URL, Azure DevOps's
//! continuation token), Argo CD's parameters, default branch or every branch, path filters
//! asked at the branch's commit and free on an unchanged poll, credentials sent as Argo CD
//! sends them, and every failure failing the set closed with the generator field.

use std::time::Duration;

use appset::{
    pipeline::{Options, Output, generate_applications},
    sources::{Inputs, Live, LiveConfig, Recorded},
};
use base64::Engine;
use harness::{azure_devops_server as azure, bitbucket_server as bb, forge::recorded_secrets};

mod harness;

/// An ApplicationSet (namespace `team-a`) with one `scmProvider.{forge}` generator.
fn appset(name: &str, forge: &str, fields: &str, extra: &str) -> appset::ApplicationSet {
    let text = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: {name}, namespace: team-a}}\nspec:\n  \
         goTemplate: true\n  \
         generators:\n  - scmProvider:\n      {forge}: {{{fields}}}\n{extra}  \
         template:\n    metadata: {{name: '{{{{.repository | lower}}}}-{{{{.branchNormalized}}}}'}}\n    spec:\n      project: default\n      \
         source: {{repoURL: '{{{{.url}}}}', targetRevision: '{{{{.sha}}}}', path: deploy}}\n      \
         destination: {{server: 'https://kubernetes.default.svc', namespace: '{{{{.repository | lower}}}}'}}\n"
    );
    appset::file::parse(&text).expect("appset").appset
}

/// The Secrets of namespace `team-a` (and one of `argocd` it must not read).
fn recorded() -> Recorded {
    recorded_secrets(&[
        ("team-a", "bb", "password", "app-password"),
        ("team-a", "ado", "token", "ado-pat"),
        ("argocd", "elsewhere", "token", "not-for-team-a"),
    ])
}

/// Live Bitbucket and Azure DevOps, listings reused for `max_age`.
fn live(max_age: Duration) -> LiveConfig {
    LiveConfig {
        bitbucket: true,
        azure_devops: true,
        github_max_age: max_age,
        ..LiveConfig::default()
    }
}

fn inputs() -> Inputs {
    Inputs::new(recorded(), live(Duration::ZERO))
}

async fn render(set: &appset::ApplicationSet, inputs: &Inputs) -> Result<Output, String> {
    generate_applications(set, inputs, &Options::default())
        .await
        .map_err(|e| e.to_string())
}

fn pairs(out: &Output) -> Vec<(String, String)> {
    out.params
        .iter()
        .map(|p| {
            (
                p["repository"].as_str().unwrap().to_string(),
                p["branch"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn owned(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// `repo`'s `main` (the first branch) moves to revision 1 and gains `deploy/`.
fn move_main(branches: &mut [harness::FixtureBranch], repo: &str) {
    let main = &mut branches[0];
    main.1 = harness::scm_sha(repo, "main", 1);
    main.2.push("deploy/app.yaml".into());
}

const CLOUD: &str = "spec.generators[0].scmProvider.bitbucket";
const AZURE: &str = "spec.generators[0].scmProvider.azureDevOps";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_workspace_is_listed_over_every_page_and_path_checks_are_free_on_an_unchanged_poll() {
    let server = bb::Server::start().await;
    // 45 repositories: 3 pages of the shape's 20; every third has deploy/.
    server.add_cloud_workspace("acme", "svc-", 45);
    let auth = basic("ci-bot", "app-password");
    server.require_cloud_authorization("acme", &auth);
    let inputs = inputs();
    let set = appset(
        "acme",
        "bitbucket",
        &format!(
            "owner: acme, user: ci-bot, appPasswordRef: {{secretName: bb, key: password}}, api: '{}/2.0'",
            server.base
        ),
        "      filters:\n      - pathsExist: [deploy/]\n",
    );
    let first = render(&set, &inputs).await.unwrap();
    assert_eq!(first.applications.len(), 15, "every third of 45 repositories");
    let p0 = &first.params[0];
    let host = server.base.trim_start_matches("http://");
    let sha = harness::scm_sha("svc-00", "main", 0);
    assert_eq!(p0["organization"], "acme", "the workspace");
    assert_eq!(p0["repository"], "svc-00", "the slug, as Argo CD");
    assert_eq!(
        p0["repository_id"], "{c1b5e1a0-3b0f-4a8e-9d6b-000000001000}",
        "the uuid"
    );
    assert_eq!(p0["url"], format!("git@{host}:acme/svc-00.git"), "ssh by default");
    assert_eq!((&p0["branch"], &p0["sha"]), (&"main".into(), &sha.clone().into()));
    assert_eq!(p0["short_sha"], sha[..8]);
    assert_eq!(p0["labels"], "", "Bitbucket Cloud has no labels");
    let log = server.log();
    let uris: Vec<&str> = log.iter().map(|l| l.uri.as_str()).collect();
    assert_eq!(uris[0], "/2.0/repositories/acme?role=member&pagelen=100");
    assert_eq!(
        uris.iter()
            .filter(|u| u.starts_with("/2.0/repositories/acme?"))
            .count(),
        3
    );
    assert!(
        uris.contains(&"/2.0/repositories/acme?pagelen=20&page=3"),
        "the body's next URL"
    );
    assert_eq!(
        uris.iter().filter(|u| u.contains("/refs/branches/main")).count(),
        45
    );
    assert!(
        !uris.iter().any(|u| u.contains("/refs/branches?")),
        "no listing without allBranches"
    );
    assert!(
        uris.contains(
            &format!(
                "/2.0/repositories/acme/svc-01/src/{}/deploy?format=meta",
                harness::scm_sha("svc-01", "main", 0)
            )
            .as_str()
        )
    );
    assert!(
        log.iter()
            .all(|l| l.authorization.as_deref() == Some(auth.as_str()))
    );

    // Unchanged: every listing is a 304, no path is asked.
    server.clear_log();
    let before = server.served_304();
    let second = render(&set, &inputs).await.unwrap();
    assert_eq!(second.params, first.params);
    let log = server.log();
    assert!(
        !log.iter().any(|l| l.uri.contains("/src/")),
        "path checks are kept by commit"
    );
    assert_eq!(
        server.served_304() - before,
        log.len(),
        "every listing answered 304"
    );

    // One branch moves and gains deploy/: that repository alone is asked again.
    server.edit_cloud_workspace("acme", |rs| move_main(&mut rs[1].branches, "svc-01"));
    server.clear_log();
    let third = render(&set, &inputs).await.unwrap();
    assert_eq!(third.applications.len(), 16);
    let srcs: Vec<String> = server
        .log()
        .into_iter()
        .map(|l| l.uri)
        .filter(|u| u.contains("/src/"))
        .collect();
    assert_eq!(
        srcs,
        [format!(
            "/2.0/repositories/acme/svc-01/src/{}/deploy?format=meta",
            harness::scm_sha("svc-01", "main", 1)
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_all_branches_https_urls_empty_repositories_and_anonymous_reads() {
    let server = bb::Server::start().await;
    server.add_cloud_workspace("acme", "app-", 3);
    server.edit_cloud_workspace("acme", |rs| {
        // An empty repository: no mainbranch.
        rs[2].default_branch = None;
        rs[2].branches.clear();
    });
    let inputs = inputs();
    let spec = |all: bool| format!("owner: acme, allBranches: {all}, api: '{}/2.0/'", server.base);
    let out = render(
        &appset("all", "bitbucket", &spec(true), "      cloneProtocol: https\n"),
        &inputs,
    )
    .await
    .unwrap();
    assert_eq!(
        pairs(&out),
        owned(&[
            ("app-00", "main"),
            ("app-00", "feature/x"),
            ("app-01", "main"),
            ("app-01", "feature/x")
        ])
    );
    let host = server.base.trim_start_matches("http://");
    assert_eq!(
        out.params[1]["url"],
        format!("https://ci-bot@{host}/acme/app-00.git")
    );
    assert_eq!(out.params[1]["branchNormalized"], "feature-x");
    assert_eq!(out.params[1]["sha"], harness::scm_sha("app-00", "feature/x", 0));
    let log = server.log();
    assert!(
        log.iter().all(|l| l.authorization.is_none()),
        "no credential configured: none sent"
    );
    assert_eq!(
        log.iter()
            .filter(|l| l.uri.contains("/refs/branches?pagelen=100"))
            .count(),
        3
    );

    let out = render(&appset("default", "bitbucket", &spec(false), ""), &inputs)
        .await
        .unwrap();
    assert_eq!(
        pairs(&out),
        owned(&[("app-00", "main"), ("app-01", "main")]),
        "the empty repository has no branch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_failures_fail_the_set_closed_with_the_field() {
    let server = bb::Server::start().await;
    server.add_cloud_workspace("acme", "svc-", 25);
    let inputs = inputs();
    let set = |owner: &str, extra: &str| {
        appset(
            "failing",
            "bitbucket",
            &format!("owner: {owner}, api: '{}/2.0'{extra}", server.base),
            "      filters:\n      - pathsExist: [deploy]\n",
        )
    };
    for (mode, want) in [
        (bb::Mode::ServerError, "answered HTTP 500"),
        (bb::Mode::Malformed, "malformed answer"),
        (
            bb::Mode::NextOnHost("http://127.0.0.2:9".into()),
            "names a next page on another host",
        ),
        // Last: a rate limit is remembered until its reset.
        (bb::Mode::RetryAfter { secs: 60 }, "rate limit exceeded"),
    ] {
        server.set_cloud_mode("acme", mode.clone());
        let err = render(&set("acme", ""), &inputs).await.unwrap_err();
        assert!(err.contains(CLOUD), "{err}");
        assert!(err.contains(want), "{mode:?}: {err}");
    }
    server.set_cloud_mode("acme", bb::Mode::Ok);
    server.require_cloud_authorization("acme", &basic("ci-bot", "right"));
    let with_password = ", user: ci-bot, appPasswordRef: {secretName: bb, key: password}";
    let err = render(&set("acme", with_password), &inputs).await.unwrap_err();
    assert!(
        err.contains(CLOUD) && err.contains("refused the credentials (HTTP 401)"),
        "{err}"
    );
    let err = render(&set("nope", ""), &inputs).await.unwrap_err();
    assert!(err.contains(CLOUD) && err.contains("not found"), "{err}");
    let err = render(
        &set(
            "acme",
            ", user: u, appPasswordRef: {secretName: elsewhere, key: token}",
        ),
        &inputs,
    )
    .await
    .unwrap_err();
    assert!(err.contains("error fetching secret team-a/elsewhere"), "{err}");
    let err = render(
        &appset(
            "proto",
            "bitbucket",
            &format!("owner: acme, api: '{}/2.0'", server.base),
            "      cloneProtocol: git\n",
        ),
        &inputs,
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("unknown clone protocol for Bitbucket cloud git"),
        "{err}"
    );
    harness::forge::assert_scm_switches_refuse(&set("acme", ""), &inputs, CLOUD).await;
}

fn azure_set(server: &azure::Server, extra_fields: &str, extra: &str) -> appset::ApplicationSet {
    appset(
        "web",
        "azureDevOps",
        &format!(
            "organization: fabrikam, teamProject: web, api: '{}', accessTokenRef: {{secretName: ado, key: token}}{extra_fields}",
            server.base
        ),
        extra,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_azure_team_project_is_listed_over_every_page_and_path_checks_are_free_on_an_unchanged_poll() {
    let server = azure::Server::start().await;
    server.add_scm_project("fabrikam/web", "svc-", 12);
    server.set_scm_page("fabrikam/web", 5);
    server.require_scm_token("fabrikam/web", "ado-pat");
    let inputs = inputs();
    let set = azure_set(
        &server,
        "",
        "      filters:\n      - pathsExist: [deploy/app.yaml]\n",
    );
    let first = render(&set, &inputs).await.unwrap();
    assert_eq!(first.applications.len(), 4, "every third of 12");
    let p0 = &first.params[0];
    let sha = harness::scm_sha("svc-00", "main", 0);
    assert_eq!(p0["organization"], "fabrikam");
    assert_eq!(p0["repository"], "svc-00");
    assert_eq!(p0["repository_id"], "3411ebc1-d5aa-464f-9615-000000000000");
    assert_eq!(
        p0["url"],
        format!("{}/fabrikam/web/_git/svc-00", server.base),
        "the remoteUrl"
    );
    assert_eq!((&p0["branch"], &p0["sha"]), (&"main".into(), &sha.clone().into()));
    assert_eq!(p0["labels"], "");
    let log = server.log();
    let uris: Vec<&str> = log.iter().map(|l| l.uri.as_str()).collect();
    assert_eq!(uris[0], "/fabrikam/web/_apis/git/repositories?api-version=7.1");
    assert!(
        uris.contains(&"/fabrikam/web/_apis/git/repositories?api-version=7.1&continuationToken=after%3A10")
    );
    assert_eq!(
        uris.iter()
            .filter(|u| u.contains("/stats/branches?api-version=7.1&name=main"))
            .count(),
        12
    );
    assert!(uris.contains(&format!(
        "/fabrikam/web/_apis/git/repositories/3411ebc1-d5aa-464f-9615-000000000001/items?path=deploy%2Fapp.yaml&versionDescriptor.version={}&versionDescriptor.versionType=commit&api-version=7.1",
        harness::scm_sha("svc-01", "main", 0)
    ).as_str()));
    let pat = basic("", "ado-pat");
    assert!(
        log.iter()
            .all(|l| l.authorization.as_deref() == Some(pat.as_str())
                && l.fed_auth_redirect.as_deref() == Some("Suppress"))
    );

    server.clear_log();
    let second = render(&set, &inputs).await.unwrap();
    assert_eq!(second.params, first.params);
    assert!(
        !server.log().iter().any(|l| l.uri.contains("/items?")),
        "path checks are kept by commit"
    );

    server.edit_scm_project("fabrikam/web", |rs| move_main(&mut rs[1].branches, "svc-01"));
    server.clear_log();
    let third = render(&set, &inputs).await.unwrap();
    assert_eq!(third.applications.len(), 5);
    let items: Vec<String> = server
        .log()
        .into_iter()
        .map(|l| l.uri)
        .filter(|u| u.contains("/items?"))
        .collect();
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(items[0].contains(&harness::scm_sha("svc-01", "main", 1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_all_branches_and_empty_repositories() {
    let server = azure::Server::start().await;
    server.add_scm_project("fabrikam/web", "app-", 3);
    server.edit_scm_project("fabrikam/web", |rs| {
        // An empty repository: no defaultBranch; Argo CD skips it.
        rs[2].default_branch = None;
        rs[2].branches.clear();
    });
    let inputs = inputs();
    let out = render(
        &azure_set(&server, ", allBranches: true", "      cloneProtocol: ssh\n"),
        &inputs,
    )
    .await
    .unwrap();
    assert_eq!(
        pairs(&out),
        owned(&[
            ("app-00", "main"),
            ("app-00", "feature/x"),
            ("app-01", "main"),
            ("app-01", "feature/x")
        ])
    );
    assert_eq!(out.params[1]["sha"], harness::scm_sha("app-00", "feature/x", 0));
    assert_eq!(
        out.params[1]["url"],
        format!("{}/fabrikam/web/_git/app-00", server.base),
        "Argo CD ignores cloneProtocol for Azure DevOps"
    );
    assert_eq!(
        server
            .log()
            .iter()
            .filter(|l| l.uri.ends_with("/stats/branches?api-version=7.1"))
            .count(),
        2
    );
    let out = render(
        &azure_set(
            &server,
            "",
            "      filters:\n      - branchMatch: '^main$'\n        repositoryMatch: '01'\n",
        ),
        &inputs,
    )
    .await
    .unwrap();
    assert_eq!(pairs(&out), owned(&[("app-01", "main")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_failures_fail_the_set_closed_with_the_field() {
    let server = azure::Server::start().await;
    server.add_scm_project("fabrikam/web", "svc-", 3);
    let inputs = inputs();
    let set = azure_set(&server, "", "      filters:\n      - pathsExist: [deploy]\n");
    for (mode, want) in [
        (azure::Mode::ServerError, "answered HTTP 500"),
        (azure::Mode::Malformed, "malformed answer"),
        (azure::Mode::SignInPage, "HTTP 203: a sign-in page"),
    ] {
        server.set_scm_mode("fabrikam/web", mode);
        let err = render(&set, &inputs).await.unwrap_err();
        assert!(err.contains(AZURE), "{err}");
        assert!(err.contains(want), "{mode:?}: {err}");
    }
    server.set_scm_mode("fabrikam/web", azure::Mode::Ok);
    server.require_scm_token("fabrikam/web", "right");
    let err = render(&set, &inputs).await.unwrap_err();
    assert!(
        err.contains(AZURE) && err.contains("refused the credentials (HTTP 401)"),
        "{err}"
    );
    let project = |name: &str| {
        appset(
            "other",
            "azureDevOps",
            &format!(
                "organization: fabrikam, teamProject: {name}, api: '{}', accessTokenRef: {{secretName: ado, key: token}}",
                server.base
            ),
            "",
        )
    };
    let err = render(&project("nope"), &inputs).await.unwrap_err();
    assert!(err.contains(AZURE) && err.contains("not found"), "{err}");
    server.add_scm_project("fabrikam/busy", "svc-", 1);
    server.set_scm_mode("fabrikam/busy", azure::Mode::RetryAfter { secs: 60 });
    let err = render(&project("busy"), &inputs).await.unwrap_err();
    assert!(
        err.contains(AZURE) && err.contains("rate limit exceeded"),
        "{err}"
    );
    let no_token = appset(
        "none",
        "azureDevOps",
        &format!("organization: fabrikam, teamProject: web, api: '{}'", server.base),
        "",
    );
    let err = render(&no_token, &inputs).await.unwrap_err();
    assert!(err.contains("no access token provided"), "{err}");
    let elsewhere = appset(
        "elsewhere",
        "azureDevOps",
        &format!(
            "organization: fabrikam, teamProject: web, api: '{}', accessTokenRef: {{secretName: elsewhere, key: token}}",
            server.base
        ),
        "",
    );
    let err = render(&elsewhere, &inputs).await.unwrap_err();
    assert!(err.contains("error fetching secret team-a/elsewhere"), "{err}");

    // `appset serve`: only https://dev.azure.com is asked.
    let served = Inputs::new(
        recorded_secrets(&[("team-a", "ado", "token", "ado-pat")]),
        LiveConfig {
            azure_devops: true,
            public_forge_apis_only: true,
            ..LiveConfig::default()
        },
    );
    server.clear_log();
    let err = render(&set, &served).await.unwrap_err();
    assert!(
        err.contains("asks Azure DevOps only at https://dev.azure.com"),
        "{err}"
    );
    assert!(err.contains("keyed by fabrikam/web"), "{err}");
    assert!(server.log().is_empty());
    harness::forge::assert_scm_switches_refuse(&set, &inputs, AZURE).await;
}

/// What a webhook's push expires reaches these listings: within the listings' max age a poll
/// asks nothing, until the owner key a push gives (`webhook::scanned_owners`: the workspace;
/// `organization/teamProject`) is expired on the client, as the controller's `on_scan`
/// registrations do; then the poll lists again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_expiry_by_the_scanned_owner_reaches_both_listings() {
    let cloud = bb::Server::start().await;
    cloud.add_cloud_workspace("acme", "svc-", 3);
    let azure_server = azure::Server::start().await;
    azure_server.add_scm_project("fabrikam/web", "svc-", 3);
    azure_server.require_scm_token("fabrikam/web", "ado-pat");
    let cloud_set = appset(
        "acme",
        "bitbucket",
        &format!("owner: acme, api: '{}/2.0'", cloud.base),
        "",
    );
    let azure_set = azure_set(&azure_server, "", "");
    let live = Live::new(live(Duration::from_secs(3600)));
    let poll = || async {
        for set in [&cloud_set, &azure_set] {
            let out = generate_applications(set, &live.inputs(recorded()), &Options::default()).await;
            assert_eq!(out.map_err(|e| e.to_string()).unwrap().applications.len(), 3);
        }
        (cloud.log().len(), azure_server.log().len())
    };
    let first = poll().await;
    assert!(first.0 > 0 && first.1 > 0, "{first:?}");
    assert_eq!(poll().await, first, "within the max age nothing is asked");

    let owners: Vec<_> = [&cloud_set, &azure_set]
        .into_iter()
        .flat_map(|s| appset::webhook::scanned_owners(s, None))
        .collect();
    assert_eq!(
        owners,
        [
            (appset::webhook::Forge::BitbucketCloud, "acme".to_string()),
            (appset::webhook::Forge::AzureDevOps, "fabrikam/web".to_string())
        ]
    );
    live.bitbucket().expire_owner(&owners[0].1);
    let after_cloud = poll().await;
    assert!(after_cloud.0 > first.0, "the workspace is listed again");
    assert_eq!(after_cloud.1, first.1, "Azure DevOps still cached");
    live.azure_devops().expire_owner(&owners[1].1);
    let after_azure = poll().await;
    assert_eq!(after_azure.0, after_cloud.0);
    assert!(after_azure.1 > after_cloud.1, "the team project is listed again");
}
