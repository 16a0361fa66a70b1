//! The `scmProvider` generator's Bitbucket Server provider against a Bitbucket-Server-shaped
//! server on 127.0.0.1 (`harness::bitbucket_server`): the repositories of a project over every
//! page, Argo CD's parameters and clone URLs, default branch or every branch, path filters asked
//! at the branch's commit and free on an unchanged poll, and every failure failing the set
//! closed with the generator field.

use appset::{
    pipeline::{Options, Output, generate_applications},
    sources::{Inputs, LiveConfig, Recorded},
};
use base64::Engine;
use harness::{
    bitbucket_server::{Logged, Mode, Server},
    scm_sha,
};
use serde_json::json;

mod harness;

/// An ApplicationSet (namespace `team-a`) with one `scmProvider.bitbucketServer` generator.
fn appset(name: &str, forge: &str, extra: &str) -> appset::ApplicationSet {
    let text = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: {name}, namespace: team-a}}\nspec:\n  \
         goTemplate: true\n  \
         generators:\n  - scmProvider:\n      bitbucketServer: {{{forge}}}\n{extra}  \
         template:\n    metadata: {{name: '{{{{.repository | lower}}}}-{{{{.branchNormalized}}}}'}}\n    spec:\n      project: default\n      \
         source: {{repoURL: '{{{{.url}}}}', targetRevision: '{{{{.sha}}}}', path: deploy}}\n      \
         destination: {{server: 'https://kubernetes.default.svc', namespace: '{{{{.repository | lower}}}}'}}\n"
    );
    appset::file::parse(&text).expect("appset").appset
}

fn inputs() -> Inputs {
    let recorded: Recorded = serde_json::from_value(json!({ "secrets": [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bb", "namespace": "team-a"},
         "stringData": {"password": "app-password", "token": "bearer-team-a"}}
    ]}))
    .unwrap();
    Inputs::new(
        recorded,
        LiveConfig {
            bitbucket: true,
            ..LiveConfig::default()
        },
    )
}

async fn render(set: &appset::ApplicationSet, inputs: &Inputs) -> Result<Output, String> {
    generate_applications(set, inputs, &Options::default())
        .await
        .map_err(|e| e.to_string())
}

fn count(log: &[Logged], part: &str) -> usize {
    log.iter().filter(|l| l.uri.contains(part)).count()
}

fn repos(out: &Output) -> Vec<(String, String)> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_is_listed_over_every_page_and_path_checks_are_free_on_an_unchanged_poll() {
    let server = Server::start().await;
    // 60 repositories: 3 pages of the server's 25; every third has deploy/.
    server.add_scm_project("SHOP", "Svc-", 60);
    server.require_scm_authorization("SHOP", "Bearer bearer-team-a");
    let inputs = inputs();
    let set = appset(
        "shop",
        &format!(
            "project: SHOP, api: '{}', bearerToken: {{tokenRef: {{secretName: bb, key: token}}}}",
            server.base
        ),
        "      filters:\n      - pathsExist: [deploy/]\n",
    );
    let first = render(&set, &inputs).await.unwrap();
    assert_eq!(first.applications.len(), 20, "every third of 60 repositories");
    let p0 = &first.params[0];
    let host = server.base.trim_start_matches("http://");
    assert_eq!(p0["organization"], "SHOP");
    assert_eq!(p0["repository"], "Svc-00", "the repository's name, as Argo CD");
    assert_eq!(p0["repository_id"], 1000);
    assert_eq!(p0["url"], format!("ssh://git@{host}:7999/shop/svc-00.git"));
    assert_eq!(p0["branch"], "main");
    assert_eq!(p0["sha"], scm_sha("Svc-00", "main", 0));
    assert_eq!(p0["short_sha"], scm_sha("Svc-00", "main", 0)[..8]);
    assert_eq!(p0["short_sha_7"], scm_sha("Svc-00", "main", 0)[..7]);
    assert_eq!(p0["labels"], "", "Bitbucket Server has no labels");
    assert_eq!(p0["branchNormalized"], "main");
    let log = server.log();
    let uris: Vec<&str> = log.iter().map(|l| l.uri.as_str()).collect();
    assert_eq!(
        &uris[..1],
        ["/rest/api/1.0/projects/SHOP/repos?limit=100"],
        "/rest added to the API as Argo CD does"
    );
    assert_eq!(count(&log, "/projects/SHOP/repos?"), 3, "every page");
    assert!(uris.contains(&"/rest/api/1.0/projects/SHOP/repos?limit=100&start=50"));
    assert_eq!(count(&log, "/branches/default"), 60, "one default branch each");
    assert_eq!(
        count(&log, "/branches?"),
        0,
        "no branch listing without allBranches"
    );
    assert_eq!(count(&log, "/browse/deploy?at="), 60, "asked at the commit");
    assert!(
        uris.contains(
            &format!(
                "/rest/api/1.0/projects/SHOP/repos/svc-01/browse/deploy?at={}&type=true",
                scm_sha("Svc-01", "main", 0)
            )
            .as_str()
        )
    );
    assert!(
        log.iter()
            .all(|l| l.authorization.as_deref() == Some("Bearer bearer-team-a"))
    );

    // Unchanged: the listings are asked again (Bitbucket Server sends no ETags), no path is.
    server.clear_log();
    let second = render(&set, &inputs).await.unwrap();
    assert_eq!(second.params, first.params);
    let log = server.log();
    assert_eq!(count(&log, "/browse/"), 0, "path checks are kept by commit");
    assert_eq!(log.len(), 63);

    // One branch moves and gains deploy/: that repository alone is asked again, at its new SHA.
    server.edit_scm_project("SHOP", |rs| {
        let main = &mut rs[1].branches[0];
        main.1 = scm_sha("Svc-01", "main", 1);
        main.2.push("deploy/app.yaml".into());
    });
    server.clear_log();
    let third = render(&set, &inputs).await.unwrap();
    assert_eq!(third.applications.len(), 21);
    let log = server.log();
    let browsed: Vec<&str> = log
        .iter()
        .filter(|l| l.uri.contains("/browse/"))
        .map(|l| l.uri.as_str())
        .collect();
    assert_eq!(
        browsed,
        [format!(
            "/rest/api/1.0/projects/SHOP/repos/svc-01/browse/deploy?at={}&type=true",
            scm_sha("Svc-01", "main", 1)
        )
        .as_str()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_branches_https_urls_basic_auth_and_empty_repositories() {
    let server = Server::start().await;
    server.add_scm_project("SHOP", "app-", 3);
    server.edit_scm_project("SHOP", |rs| {
        // An empty repository: Bitbucket Server answers its default branch 404; Argo CD skips it.
        rs[2].default_branch = None;
        rs[2].branches.clear();
    });
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ci-bot:app-password")
    );
    server.require_scm_authorization("SHOP", &basic);
    let inputs = inputs();
    let spec = |all: bool| {
        format!(
            "project: SHOP, api: '{}/rest', allBranches: {all}, basicAuth: {{username: ci-bot, passwordRef: {{secretName: bb, key: password}}}}",
            server.base
        )
    };
    let out = render(
        &appset("all", &spec(true), "      cloneProtocol: https\n"),
        &inputs,
    )
    .await
    .unwrap();
    let pairs: Vec<(&str, &str)> = vec![
        ("app-00", "main"),
        ("app-00", "feature/x"),
        ("app-01", "main"),
        ("app-01", "feature/x"),
    ];
    let want: Vec<(String, String)> = pairs
        .iter()
        .map(|(r, b)| (r.to_string(), b.to_string()))
        .collect();
    assert_eq!(repos(&out), want);
    assert_eq!(
        out.params[1]["url"],
        format!("{}/scm/shop/app-00.git", server.base)
    );
    assert_eq!(out.params[1]["branchNormalized"], "feature-x");
    assert_eq!(out.params[1]["sha"], scm_sha("app-00", "feature/x", 0));
    let log = server.log();
    assert_eq!(
        count(&log, "/branches?limit=100"),
        2,
        "every branch of each listed repository"
    );
    assert!(
        log.iter()
            .all(|l| l.authorization.as_deref() == Some(basic.as_str()))
    );

    // A branch filter with the default branch only.
    let out = render(
        &appset(
            "default",
            &spec(false),
            "      filters:\n      - branchMatch: '^main$'\n        repositoryMatch: '01'\n",
        ),
        &inputs,
    )
    .await
    .unwrap();
    assert_eq!(repos(&out), [("app-01".to_string(), "main".to_string())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_fail_the_set_closed_with_the_field() {
    let server = Server::start().await;
    server.add_scm_project("SHOP", "svc-", 3);
    let inputs = inputs();
    let set = |project: &str, extra: &str| {
        appset(
            "failing",
            &format!("project: {project}, api: '{}'{extra}", server.base),
            "      filters:\n      - pathsExist: [deploy]\n",
        )
    };
    const FIELD: &str = "spec.generators[0].scmProvider.bitbucketServer";
    for (mode, want) in [
        (Mode::ServerError, "answered HTTP 500"),
        (Mode::Malformed, "malformed answer"),
        (Mode::RetryAfter { secs: 60 }, "rate limit exceeded"),
    ] {
        server.set_scm_mode("SHOP", mode.clone());
        let err = render(&set("SHOP", ""), &inputs).await.unwrap_err();
        assert!(err.contains(FIELD), "{err}");
        assert!(err.contains(want), "{mode:?}: {err}");
    }
    server.set_scm_mode("SHOP", Mode::Ok);
    server.require_scm_authorization("SHOP", "Bearer right");
    let err = render(
        &set("SHOP", ", bearerToken: {tokenRef: {secretName: bb, key: token}}"),
        &inputs,
    )
    .await
    .unwrap_err();
    assert!(err.contains(FIELD), "{err}");
    assert!(err.contains("refused the credentials (HTTP 401)"), "{err}");
    let err = render(&set("NOPE", ""), &inputs).await.unwrap_err();
    assert!(err.contains(FIELD), "{err}");
    assert!(err.contains("not found"), "{err}");
    let err = render(
        &set(
            "SHOP",
            ", bearerToken: {tokenRef: {secretName: absent, key: token}}",
        ),
        &inputs,
    )
    .await
    .unwrap_err();
    assert!(err.contains("error fetching secret team-a/absent"), "{err}");

    // Argo CD's words for an unknown clone protocol, before any request.
    let err = render(
        &appset(
            "proto",
            &format!("project: SHOP, api: '{}'", server.base),
            "      cloneProtocol: git\n",
        ),
        &inputs,
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("unknown clone protocol for Bitbucket Server git"),
        "{err}"
    );
}
