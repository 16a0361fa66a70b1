//! The `scmProvider` generator against a GitHub-, GitLab- and Gitea-shaped server on 127.0.0.1
//! (`harness::scm_server`): what is generated, what is asked (pages, branches, path checks,
//! credentials, conditional headers), what an unchanged poll costs (no path check, `304`s), that
//! a moved branch is checked again, and that every failure fails the set closed with an error
//! naming the set and the generator field.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use appset::{
    pipeline::{Options, Output, ScmOptions, generate_applications},
    sources::{GitHub, GitLab, Gitea, Inputs, LiveConfig, PathCache, Recorded},
};
use harness::scm_server::{Logged, Mode, Server, sha};
use serde_json::{Value, json};

mod harness;

/// An ApplicationSet (namespace `team-a`) with one `scmProvider` generator: `forge` is the
/// provider's block (`github: {...}`), `extra` more generator fields.
fn appset(name: &str, forge: &str, extra: &str) -> appset::ApplicationSet {
    let text = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: {name}, namespace: team-a}}\nspec:\n  \
         goTemplate: true\n  \
         generators:\n  - scmProvider:\n      {forge}\n{extra}  \
         template:\n    metadata: {{name: '{{{{.repository}}}}-{{{{.branchNormalized}}}}'}}\n    spec:\n      project: default\n      \
         source: {{repoURL: '{{{{.url}}}}', targetRevision: '{{{{.sha}}}}', path: deploy}}\n      \
         destination: {{server: 'https://kubernetes.default.svc', namespace: '{{{{.repository}}}}'}}\n"
    );
    appset::file::parse(&text).expect("appset").appset
}

fn live() -> LiveConfig {
    LiveConfig {
        github: true,
        gitlab: true,
        gitea: true,
        ..LiveConfig::default()
    }
}

fn secret(name: &str, token: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "team-a"},
           "stringData": {"token": token}})
}

fn recorded_secrets(secrets: Vec<Value>) -> Recorded {
    serde_json::from_value(json!({ "secrets": secrets })).unwrap()
}

/// One process's clients: every `Inputs` made by `inputs()` shares them, as the controller's runs do.
struct Process {
    github: Arc<GitHub>,
    gitlab: Arc<GitLab>,
    gitea: Arc<Gitea>,
    paths: Arc<PathCache>,
    recorded: Recorded,
}

impl Process {
    fn new(recorded: Recorded) -> Self {
        Process {
            github: Arc::new(GitHub::new(None, Duration::ZERO)),
            gitlab: Arc::new(GitLab::new(Duration::ZERO)),
            gitea: Arc::new(Gitea::new(Duration::ZERO)),
            paths: Arc::default(),
            recorded,
        }
    }

    fn inputs(&self) -> Inputs {
        Inputs::new(self.recorded.clone(), live())
            .with_github(self.github.clone())
            .with_gitlab(self.gitlab.clone())
            .with_gitea(self.gitea.clone())
            .with_scm_paths(self.paths.clone())
    }

    async fn render(&self, set: &appset::ApplicationSet) -> Result<Output, String> {
        generate_applications(set, &self.inputs(), &Options::default())
            .await
            .map_err(|e| e.to_string())
    }
}

fn uris(log: &[Logged]) -> Vec<&str> {
    log.iter().map(|l| l.uri.as_str()).collect()
}

fn count(log: &[Logged], part: &str) -> usize {
    log.iter().filter(|l| l.uri.contains(part)).count()
}

fn names(out: &Output) -> Vec<String> {
    out.params
        .iter()
        .map(|p| p["repository"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_path_filters_are_free_on_an_unchanged_poll_and_asked_again_when_a_branch_moves() {
    let server = Server::start().await;
    // 250 repositories: 3 pages of 100; every third has deploy/.
    server.add_repos("acme", "svc-", 250, true);
    server.require_token("acme", "ghp-team-a");
    let p = Process::new(recorded_secrets(vec![secret("gh", "ghp-team-a")]));
    let set = appset(
        "org",
        &format!(
            "github: {{organization: acme, api: '{}/api/v3', tokenRef: {{secretName: gh, key: token}}}}",
            server.base
        ),
        "      filters:\n      - pathsExist: [deploy/]\n",
    );
    let first = p.render(&set).await.unwrap();
    assert_eq!(first.applications.len(), 84, "every third of 250 repositories");
    let p0 = &first.params[0];
    assert_eq!(p0["organization"], "acme");
    assert_eq!(p0["repository"], "svc-000");
    assert_eq!(p0["url"], "git@github.example:acme/svc-000.git");
    assert_eq!(p0["branch"], "main");
    assert_eq!(p0["sha"], sha("svc-000", "main", 0));
    assert_eq!(p0["short_sha"], sha("svc-000", "main", 0)[..8]);
    assert_eq!(p0["labels"], "team");
    assert!(p0["repository_id"].is_number());
    let log = server.log();
    assert_eq!(count(&log, "/orgs/acme/repos"), 3, "{:?}", &uris(&log)[..4]);
    assert_eq!(uris(&log)[0], "/api/v3/orgs/acme/repos?per_page=100&page=1");
    assert_eq!(count(&log, "/branches/main"), 250);
    assert_eq!(count(&log, "/contents/deploy?ref="), 250, "asked at the commit");
    assert!(
        log.iter()
            .all(|l| l.authorization.as_deref() == Some("Bearer ghp-team-a"))
    );
    let stats = p.github.scm_stats();
    assert_eq!(stats.requests, 503);

    // Unchanged: every listing and branch is a conditional request answered 304; no path check.
    server.clear_log();
    let second = p.render(&set).await.unwrap();
    assert_eq!(second.params, first.params);
    let log = server.log();
    assert_eq!(count(&log, "/contents/"), 0, "path checks are kept by commit");
    assert_eq!(log.len(), 253);
    assert!(log.iter().all(|l| l.if_none_match.is_some()));
    assert_eq!(p.github.scm_stats().not_modified, 253);

    // One branch moves and gains deploy/: that repository alone is asked again, at its new SHA.
    server.edit_repo("acme", "svc-001", |r| {
        r.branches[0].sha = sha("svc-001", "main", 1);
        r.branches[0].files.push("deploy/app.yaml".into());
    });
    server.clear_log();
    let third = p.render(&set).await.unwrap();
    assert_eq!(third.applications.len(), 85);
    assert!(names(&third).contains(&"svc-001".to_string()));
    let log = server.log();
    assert_eq!(
        log.iter()
            .filter(|l| l.uri.contains("/contents/"))
            .map(|l| l.uri.as_str())
            .collect::<Vec<_>>(),
        [format!(
            "/api/v3/repos/acme/svc-001/contents/deploy?ref={}",
            sha("svc-001", "main", 1)
        )
        .as_str()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_all_branches_filters_and_archived_repositories() {
    let server = Server::start().await;
    let files = |f: &[&str]| f.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    server.add_repo(
        "acme",
        "web",
        &["frontend", "prod"],
        vec![
            ("main", files(&["deploy/a.yaml"])),
            ("release-1", files(&["deploy/a.yaml"])),
            ("feature/X_y", files(&["README.md"])),
        ],
    );
    server.add_repo(
        "acme",
        "api",
        &["backend"],
        vec![("trunk", files(&["deploy/a.yaml", "skip"]))],
    );
    server.add_repo(
        "acme",
        "old",
        &["prod"],
        vec![("main", files(&["deploy/a.yaml"]))],
    );
    server.edit_repo("acme", "old", |r| r.archived = true);
    let p = Process::new(Recorded::default());
    let forge = format!(
        "github: {{organization: acme, api: '{}/api/v3', allBranches: true, excludeArchivedRepos: true}}",
        server.base
    );
    let set = appset(
        "all",
        &forge,
        "      cloneProtocol: https\n      filters:\n      - labelMatch: '^prod$'\n      - branchMatch: '^(main|feature/)'\n        pathsDoNotExist: [skip]\n",
    );
    let out = p.render(&set).await.unwrap();
    // `web` passes the label filter (repository level); then a branch filter must pass too.
    let got: Vec<(String, String)> = out
        .params
        .iter()
        .map(|p| {
            (
                p["repository"].as_str().unwrap().into(),
                p["branch"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("web".to_string(), "main".to_string()),
            ("web".into(), "feature/X_y".into())
        ]
    );
    assert_eq!(out.params[1]["branchNormalized"], "feature-x-y");
    assert_eq!(out.params[0]["url"], "https://github.example/acme/web.git");
    assert_eq!(out.params[0]["labels"], "frontend,prod");
    let log = server.log();
    assert_eq!(
        count(&log, "/repos/acme/api/"),
        0,
        "a repository the label filter drops is not asked further"
    );
    assert_eq!(count(&log, "/repos/acme/old/"), 0);
    assert_eq!(count(&log, "/repos/acme/web/branches?per_page=100&page=1"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_groups_are_paged_by_x_next_page_and_paths_checked_as_file_then_tree() {
    let server = Server::start().await;
    server.add_repos("platform", "app-", 120, true);
    let files = vec!["charts/web/Chart.yaml".to_string()];
    server.add_repo("platform", "charts", &["helm"], vec![("main", files)]);
    server.require_token("platform", "glpat-team-a");
    let p = Process::new(recorded_secrets(vec![secret("gl", "glpat-team-a")]));
    let set = appset(
        "group",
        &format!(
            "gitlab: {{group: platform, api: '{}/', includeSubgroups: true, topic: '', tokenRef: {{secretName: gl, key: token}}}}",
            server.base
        ),
        "      filters:\n      - pathsExist: [deploy/app.yaml]\n      - pathsExist: [charts/web]\n",
    );
    let out = p.render(&set).await.unwrap();
    assert_eq!(
        out.applications.len(),
        41,
        "40 of 120 with deploy/app.yaml, and charts"
    );
    assert_eq!(out.params[0]["organization"], "platform");
    assert_eq!(out.params[0]["url"], "git@gitlab.example:platform/app-000.git");
    let log = server.log();
    assert_eq!(
        uris(&log)[..2],
        [
            "/api/v4/groups/platform/projects?per_page=100&include_subgroups=true&with_shared=true&page=1",
            "/api/v4/groups/platform/projects?per_page=100&include_subgroups=true&with_shared=true&page=2",
        ]
    );
    assert!(
        log.iter()
            .all(|l| l.private_token.as_deref() == Some("glpat-team-a"))
    );
    // A directory: the files endpoint says 404, the tree endpoint finds it.
    assert!(
        log.iter()
            .any(|l| l.uri.contains("/repository/tree?path=charts%2Fweb&ref="))
    );
    server.clear_log();
    let again = p.render(&set).await.unwrap();
    assert_eq!(again.params, out.params);
    let log = server.log();
    assert_eq!(
        count(&log, "/repository/files/") + count(&log, "/repository/tree"),
        0
    );
    assert!(log.iter().all(|l| l.if_none_match.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitea_labels_are_the_repositories_labels_and_a_missing_default_branch_is_an_error() {
    let server = Server::start().await;
    let files = |f: &[&str]| f.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    server.add_repo("org", "shop", &["team-a"], vec![("main", files(&["deploy/x"]))]);
    server.add_repo("org", "docs", &[], vec![("main", files(&["README.md"]))]);
    server.require_token("org", "gitea-t");
    let p = Process::new(recorded_secrets(vec![secret("gt", "gitea-t")]));
    let forge = format!(
        "gitea: {{owner: org, api: '{}', tokenRef: {{secretName: gt, key: token}}}}",
        server.base
    );
    let set = appset("gitea", &forge, "      cloneProtocol: https\n");
    let out = p.render(&set).await.unwrap();
    assert_eq!(names(&out), ["shop", "docs"]);
    assert_eq!(out.params[0]["labels"], "team-a");
    assert_eq!(
        out.params[0]["url"], "https://gitea.example/org/shop",
        "Argo CD's html_url"
    );
    let log = server.log();
    assert!(
        log.iter()
            .all(|l| l.authorization.as_deref() == Some("token gitea-t"))
    );
    assert_eq!(uris(&log)[0], "/api/v1/orgs/org/repos?limit=50&page=1");

    server.edit_repo("org", "docs", |r| r.default_branch = "gone".into());
    let err = p.render(&set).await.unwrap_err();
    assert!(err.contains("ApplicationSet \"gitea\""), "{err}");
    assert!(err.contains("spec.generators[0].scmProvider.gitea"), "{err}");
    assert!(err.contains("error listing repos"), "{err}");
    assert!(err.contains("HTTP 404"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_fail_the_set_closed_with_the_field_and_a_stable_message() {
    let server = Server::start().await;
    server.add_repos("acme", "svc-", 3, false);
    let github = |extra: &str| {
        appset(
            "failing",
            &format!(
                "github: {{organization: acme, api: '{}/api/v3'{extra}}}",
                server.base
            ),
            "",
        )
    };
    let p = Process::new(recorded_secrets(vec![secret("gh", "wrong")]));
    let mut seen = Vec::new();
    for (mode, want) in [
        (Mode::ServerError, "answered HTTP 500"),
        (Mode::Malformed, "malformed answer"),
        (Mode::RetryAfter { secs: 60 }, "rate limit exceeded"),
    ] {
        server.set_mode("acme", mode);
        let err = p.render(&github("")).await.unwrap_err();
        assert!(err.contains("spec.generators[0].scmProvider.github"), "{err}");
        assert!(err.contains(want), "{mode:?}: {err}");
        seen.push(err);
    }
    // A rate limit is waited out: the next poll is answered without a request, the same words.
    let before = server.log().len();
    let err = p.render(&github("")).await.unwrap_err();
    assert_eq!(server.log().len(), before);
    assert_eq!(&err, seen.last().unwrap());
    let retry = appset::sources::ForgeError::RateLimited {
        scope: appset::sources::forge::Scope {
            forge: "GitHub",
            api: String::new(),
            what: String::new(),
            subject: "",
        },
        reset_at: Some(SystemTime::now()),
    };
    assert!(retry.retry_at().is_some());

    server.set_mode("acme", Mode::Ok);
    server.require_token("acme", "right");
    let err = p
        .render(&github(", tokenRef: {secretName: gh, key: token}"))
        .await
        .unwrap_err();
    assert!(err.contains("refused the credentials (HTTP 401)"), "{err}");
    let err = p
        .render(&appset(
            "missing",
            &format!("github: {{organization: nobody, api: '{}/api/v3'}}", server.base),
            "",
        ))
        .await
        .unwrap_err();
    assert!(err.contains("organization not found"), "{err}");
    let err = p
        .render(&github(", tokenRef: {secretName: absent, key: token}"))
        .await
        .unwrap_err();
    assert!(err.contains("error fetching secret team-a/absent"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scm_options_are_checked_before_any_request() {
    let server = Server::start().await;
    server.add_repos("acme", "svc-", 2, false);
    let p = Process::new(Recorded::default());
    let set = appset(
        "opts",
        &format!("gitea: {{owner: acme, api: '{}'}}", server.base),
        "",
    );
    let opts = |allowed: Vec<String>, enabled: bool| Options {
        scm: ScmOptions {
            enabled,
            allowed,
            token_ref_strict: false,
        },
        ..Options::default()
    };
    let err = generate_applications(
        &set,
        &p.inputs(),
        &opts(vec!["https://gitea.example".into()], true),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(&format!(
            "scm provider not allowed: scm provider {:?} not allowed, must use one of the following: https://gitea.example",
            server.base
        )),
        "{err}"
    );
    assert!(err.contains("spec.generators[0].scmProvider.gitea.api"), "{err}");
    let err = generate_applications(&set, &p.inputs(), &opts(vec![], false))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("scm providers are disabled"), "{err}");
    assert!(server.log().is_empty());
    let ok = generate_applications(&set, &p.inputs(), &opts(vec![server.base.clone()], true)).await;
    assert_eq!(ok.unwrap().applications.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sets_polling_one_organization_share_its_listing() {
    let server = Server::start().await;
    server.add_repos("acme", "svc-", 30, true);
    // Answers reused for a minute: N sets in one poll interval cost one listing.
    let p = Process {
        github: Arc::new(GitHub::new(None, Duration::from_secs(60))),
        ..Process::new(Recorded::default())
    };
    let forge = format!("github: {{organization: acme, api: '{}/api/v3'}}", server.base);
    let sets: Vec<_> = (0..5)
        .map(|i| {
            appset(
                &format!("s{i}"),
                &forge,
                "      filters:\n      - pathsExist: [deploy]\n",
            )
        })
        .collect();
    let runs = sets.iter().map(|s| p.render(s));
    for out in futures::future::join_all(runs).await {
        assert_eq!(out.unwrap().applications.len(), 10);
    }
    let log = server.log();
    assert_eq!(count(&log, "/orgs/acme/repos"), 1, "one listing for five sets");
    assert_eq!(count(&log, "/branches/main"), 30);
    assert_eq!(count(&log, "/contents/"), 30, "each path once");
}

/// The benchmark of BENCHMARKS.md ("SCM provider requests"): N ApplicationSets × M polls of one
/// unchanged organization of 300 repositories with a `pathsExist` filter, per forge. Each poll
/// reconciles the N sets concurrently, each with its own `Inputs` sharing the process's clients;
/// a listing is reused within a poll and each poll starts by expiring it (as a max age would).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n_application_sets_over_m_polls_of_a_300_repository_organization() {
    const N: usize = 20;
    const M: usize = 4;
    const REPOS: usize = 300;
    let server = Server::start().await;
    server.add_repos("acme", "svc-", REPOS, true);
    server.add_repos("platform", "app-", REPOS, true);
    let p = Process {
        github: Arc::new(GitHub::new(None, Duration::from_secs(3600))),
        gitlab: Arc::new(GitLab::new(Duration::from_secs(3600))),
        ..Process::new(Recorded::default())
    };
    let filter = "      filters:\n      - pathsExist: [deploy]\n";
    for (forge, block, org) in [
        (
            "GitHub",
            format!("github: {{organization: acme, api: '{}/api/v3'}}", server.base),
            "acme",
        ),
        (
            "GitLab",
            format!("gitlab: {{group: platform, api: '{}'}}", server.base),
            "platform",
        ),
    ] {
        server.clear_log();
        let sets: Vec<_> = (0..N).map(|i| appset(&format!("s{i}"), &block, filter)).collect();
        let mut per_poll = Vec::new();
        for poll in 0..M {
            let before = server.log().len();
            let runs = futures::future::join_all(sets.iter().map(|s| p.render(s))).await;
            for r in runs {
                assert_eq!(r.unwrap().applications.len(), REPOS / 3);
            }
            let log = server.log();
            let this = &log[before..];
            let paths = this
                .iter()
                .filter(|l| {
                    l.uri.contains("/contents/")
                        || l.uri.contains("/repository/files/")
                        || l.uri.contains("/repository/tree")
                })
                .count();
            let conditional = this.iter().filter(|l| l.if_none_match.is_some()).count();
            per_poll.push((this.len(), paths, conditional));
            if poll + 1 < M {
                p.github.expire_organization(org);
                p.gitlab.expire(org);
            }
        }
        eprintln!(
            "{forge}: {N} ApplicationSets x {M} polls of a {REPOS}-repository organization with pathsExist: \
             requests per poll (all, path checks, conditional) = {per_poll:?}; 304s served so far: {}",
            server.served_304()
        );
        // The first poll: the listing's pages, one branch per repository, one path check per
        // repository (GitLab: `deploy` is a directory, so the files request answers 404 and the
        // tree request finds it: two).
        let pages = REPOS.div_ceil(100);
        let first_paths = if forge == "GitHub" { REPOS } else { 2 * REPOS };
        assert_eq!(per_poll[0], (pages + REPOS + first_paths, first_paths, 0));
        // Every later poll: the same listing and branch requests, all conditional, no path check;
        // whatever N is.
        for later in &per_poll[1..] {
            assert_eq!(*later, (pages + REPOS, 0, pages + REPOS));
        }
    }
}

/// `appset render` (the binary) against the loopback forge through the generator's `api`: the
/// Applications of every Gitea repository, an unknown owner an error naming the set and field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appset_render_reads_the_forge_named_by_api() {
    let server = Server::start().await;
    let files = vec!["deploy/a.yaml".to_string()];
    server.add_repo("org", "shop", &["team-a"], vec![("main", files.clone())]);
    server.add_repo("org", "docs", &[], vec![("main", vec!["README.md".into()])]);
    let text = |owner: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: shops, namespace: argocd}}\n\
             spec:\n  generators:\n  - scmProvider:\n      gitea: {{owner: {owner}, api: '{}'}}\n      \
             filters:\n      - pathsExist: [deploy]\n  template:\n    metadata: {{name: '{{{{repository}}}}'}}\n    \
             spec:\n      project: default\n      source: {{repoURL: '{{{{url}}}}', targetRevision: '{{{{sha}}}}', path: deploy}}\n      \
             destination: {{server: 'https://kubernetes.default.svc', namespace: '{{{{repository}}}}'}}\n",
            server.base
        )
    };
    let out = harness::appset_render(&text("org"), &["-o", "params"], &[]).await;
    assert!(out.success, "{}", out.stderr);
    let params: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(params.as_array().unwrap().len(), 1);
    assert_eq!(params[0]["repository"], "shop");
    assert_eq!(params[0]["labels"], "team-a");
    assert_eq!(params[0]["sha"], sha("shop", "main", 0));
    let out = harness::appset_render(&text("nobody"), &["-o", "params"], &[]).await;
    assert!(!out.success);
    let err = &out.stderr;
    assert!(
        err.contains("shops") && err.contains("spec.generators[0].scmProvider.gitea"),
        "{err}"
    );
    assert!(err.contains("organization not found"), "{err}");
}
