//! GitHub webhooks on the real control plane: a signed push makes a new directory's Application
//! appear at once (the generator would not poll for an hour); unsigned, wrongly signed and
//! unrelated events refresh nothing (reconciles counted).

mod harness;

use std::{path::PathBuf, sync::Arc, time::Duration};

use appset::{
    ApplicationSet,
    controller::{self, Config},
    metrics::Metrics,
    sources::GitHub,
    webhook::{self, Webhooks},
};
use harness::{app_names, eventually, git::GitDaemon, reconciles, setup};
use kube::{Api, Client, api::PostParams};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &[u8] = b"webhook-test-secret";

/// A repository `gitops` with `apps/api`, served by git-daemon.
struct Repo {
    server: GitDaemon,
    path: PathBuf,
    /// Also the parent of the controller's git cache.
    dir: tempfile::TempDir,
}

impl Repo {
    fn start() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gitops");
        harness::git::init_with_dirs(&path, &["apps/api"]);
        let server = GitDaemon::start(dir.path());
        Repo { server, path, dir }
    }

    fn url(&self) -> String {
        format!("git://127.0.0.1:{}/gitops", self.server.port)
    }

    /// Commit a new directory `apps/<name>`.
    fn add_dir(&self, name: &str) {
        harness::git::commit_dirs(&self.path, &[&format!("apps/{name}")], name);
    }
}

/// The endpoints' webhook configuration: GitHub, signed with [`SECRET`].
fn github_hooks() -> Arc<Webhooks> {
    Webhooks::new(
        Some(SECRET.to_vec()),
        Arc::new(GitHub::new(None, Duration::from_secs(30))),
    )
}

/// A controller for `ns` with `hooks` attached, its git cache in `repo`'s directory; returns once
/// its caches are filled.
async fn start_controller(
    client: &Client,
    ns: &str,
    repo: &Repo,
    hooks: Arc<Webhooks>,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let config = Config {
        namespaces: vec![ns.into()],
        controller_namespace: ns.into(),
        git_cache_dir: repo.dir.path().join("cache"),
        webhooks: Some(hooks),
        ..Config::default()
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let c = client.clone();
    let controller = tokio::spawn(async move { controller::run_with(c, config, metrics, Some(tx)).await });
    rx.await.unwrap();
    controller
}

/// Serve `metrics` and the webhook endpoint of `hooks` on a loopback port: (port, server task).
async fn serve(
    hooks: Arc<Webhooks>,
    metrics: Arc<Metrics>,
) -> (u16, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let http = tokio::spawn(appset::health::serve_probes(
        listener,
        metrics,
        Some(webhook::endpoint(hooks)),
    ));
    (port, http)
}

/// Create the ApplicationSet `dirs` (an Application per directory of `apps/` at `url`, polled once
/// an hour) and wait for its first Application, `api`.
async fn create_dirs_set(client: &Client, ns: &str, url: &str) {
    let set: ApplicationSet = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "dirs", "namespace": ns},
        "spec": {
            "generators": [{"git": {"repoURL": url, "revision": "HEAD", "directories": [{"path": "apps/*"}], "requeueAfterSeconds": 3600}}],
            "template": {"metadata": {"name": "{{path.basename}}"},
                         "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc", "namespace": "{{path.basename}}"}}}
        }
    }))
    .unwrap();
    Api::<ApplicationSet>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &set)
        .await
        .unwrap();
    eventually(Duration::from_secs(30), || async {
        app_names(client, ns).await == ["api"]
    })
    .await
    .expect("first Application");
}

/// The headers of a push event `body` signed with [`SECRET`].
fn signed(body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("X-GitHub-Event", "push".to_string()),
        ("X-Hub-Signature-256", webhook::sign(SECRET, body)),
    ]
}

/// POST `body` to `/api/webhook` with the given headers; (status, body).
async fn post(port: u16, headers: &[(&str, String)], body: &[u8]) -> (u16, Value) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut request = format!(
        "POST /api/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

fn push_event(clone_url: &str) -> Vec<u8> {
    json!({
        "ref": "refs/heads/main",
        "after": "0000000000000000000000000000000000000001",
        "repository": {"name": "gitops", "full_name": "org/gitops", "clone_url": clone_url,
                       "html_url": clone_url.replace("git://", "http://"), "default_branch": "main"}
    })
    .to_string()
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_push_refreshes_at_once_and_bad_or_unrelated_events_refresh_nothing() {
    let ns = "webhook-push";
    let client = setup(ns).await;
    let repo = Repo::start();
    let url = repo.url();

    // The controller with its webhook endpoint on a loopback port.
    let hooks = github_hooks();
    let metrics = Arc::new(Metrics::default());
    let controller = start_controller(&client, ns, &repo, hooks.clone(), metrics.clone()).await;
    let (port, http) = serve(hooks.clone(), metrics.clone()).await;

    // The generator polls once an hour: only a webhook can make a change show up in seconds.
    create_dirs_set(&client, ns, &url).await;
    // Let the initial reconciles settle before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 1. A signed push: the new directory's Application appears within 2 s.
    repo.add_dir("new");
    let body = push_event(&url);
    let started = std::time::Instant::now();
    let (status, answer) = post(port, &signed(&body), &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["refreshed"], json!([format!("{ns}/dirs")]));
    eventually(Duration::from_secs(2), || async {
        app_names(&client, ns).await == ["api", "new"]
    })
    .await
    .expect("the pushed directory's Application within 2 s of the webhook");
    println!(
        "webhook to Application: {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    // 2. Unsigned and wrongly signed requests: 401, and nothing is refreshed.
    repo.add_dir("other");
    let before = reconciles(&metrics);
    let (status, _) = post(port, &[("X-GitHub-Event", "push".into())], &body).await;
    assert_eq!(status, 401);
    let (status, answer) = post(
        port,
        &[
            ("X-GitHub-Event", "push".into()),
            ("X-Hub-Signature-256", webhook::sign(b"wrong secret", &body)),
        ],
        &body,
    )
    .await;
    assert_eq!(status, 401);
    assert!(answer["error"].as_str().unwrap().contains("X-Hub-Signature-256"));
    // A signature of another body does not verify either.
    let (status, _) = post(port, &signed(b"{}"), &body).await;
    assert_eq!(status, 401);

    // 3. A signed event for an unrelated repository refreshes nothing.
    let unrelated = push_event("https://github.com/org/unrelated.git");
    let (status, answer) = post(port, &signed(&unrelated), &unrelated).await;
    assert_eq!((status, answer["refreshed"].clone()), (200, json!([])));
    let (status, answer) = post(
        port,
        &[
            ("X-GitHub-Event", "ping".into()),
            ("X-Hub-Signature-256", webhook::sign(SECRET, b"{}")),
        ],
        b"{}",
    )
    .await;
    assert_eq!((status, answer["pong"].clone()), (200, json!(true)));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        reconciles(&metrics),
        before,
        "no reconcile from refused or unrelated events"
    );
    assert_eq!(app_names(&client, ns).await, ["api", "new"]);
    let stats = hooks.stats();
    assert_eq!((stats.rejected, stats.refreshes), (3, 1), "{stats:?}");

    // The same push, signed: now it refreshes.
    let (status, _) = post(port, &signed(&body), &body).await;
    assert_eq!(status, 200);
    eventually(Duration::from_secs(2), || async {
        app_names(&client, ns).await == ["api", "new", "other"]
    })
    .await
    .expect("refreshed by the signed push");
    controller.abort();
    http.abort();
}

/// The endpoint's answers without a control plane: refused, malformed, ignored, not leading.
#[tokio::test]
async fn webhook_requests_are_refused_ignored_or_answered_with_clear_statuses() {
    use axum::body::Body;
    use futures::StreamExt;
    use http_body_util::BodyExt;
    use kube::runtime::{reflector, watcher};
    use tower::ServiceExt;

    async fn call(
        hooks: &Arc<Webhooks>,
        event: Option<&str>,
        sign_with: Option<&[u8]>,
        body: &[u8],
    ) -> (u16, Value) {
        let mut request =
            axum::http::Request::post("/api/webhook").header("content-type", "application/json");
        if let Some(e) = event {
            request = request.header("x-github-event", e);
        }
        if let Some(secret) = sign_with {
            request = request.header("x-hub-signature-256", webhook::sign(secret, body));
        }
        let response = webhook::endpoint(hooks.clone())
            .oneshot(request.body(Body::from(body.to_vec())).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
    let github = || Arc::new(GitHub::new(None, Duration::ZERO));
    let push = push_event("https://github.com/org/gitops.git");

    // No secret configured: every request is refused, even one "signed" with an empty key.
    let open = Webhooks::new(None, github());
    let (status, answer) = call(&open, Some("push"), Some(b""), &push).await;
    assert_eq!(status, 401);
    assert!(answer["error"].as_str().unwrap().contains("no webhook secret"));

    let hooks = Webhooks::new(Some(SECRET.to_vec()), github());
    assert_eq!(
        call(&hooks, None, Some(SECRET), &push).await.0,
        400,
        "no X-GitHub-Event"
    );
    let (status, answer) = call(&hooks, Some("push"), Some(SECRET), b"{\"ref\": 1}").await;
    assert_eq!(status, 400);
    assert!(answer["error"].as_str().unwrap().contains("malformed push event"));
    let (status, answer) = call(&hooks, Some("issues"), Some(SECRET), b"{}").await;
    assert_eq!((status, answer["ignored"].clone()), (200, json!("issues")));
    let assigned = json!({"action": "assigned", "repository": {"name": "gitops", "owner": {"login": "org"}}})
        .to_string();
    let (status, answer) = call(&hooks, Some("pull_request"), Some(SECRET), assigned.as_bytes()).await;
    assert_eq!((status, answer["ignored"].clone()), (200, json!("pull_request")));
    // A relevant event while no controller runs in this process (a standby replica): 503.
    assert_eq!(call(&hooks, Some("push"), Some(SECRET), &push).await.0, 503);

    // With a controller attached, the matching set is sent to its refresh stream.
    let mut writer = reflector::store::Writer::<ApplicationSet>::default();
    let store = writer.as_reader();
    let set = |name: &str, url: &str| -> ApplicationSet {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {"generators": [{"git": {"repoURL": url, "revision": "main", "files": [{"path": "c.json"}]}}],
                     "template": {"metadata": {"name": "x"}, "spec": {"project": "default"}}}
        }))
        .unwrap()
    };
    writer.apply_watcher_event(&watcher::Event::Init);
    writer.apply_watcher_event(&watcher::Event::InitApply(set(
        "mine",
        "git@github.com:Org/GitOps.git",
    )));
    writer.apply_watcher_event(&watcher::Event::InitApply(set(
        "theirs",
        "https://github.com/org/other.git",
    )));
    writer.apply_watcher_event(&watcher::Event::InitDone);
    let refreshes = hooks.attach(store).expect("first attach");
    assert!(
        hooks.attach(writer.as_reader()).is_none(),
        "one controller per endpoint"
    );
    let (status, answer) = call(&hooks, Some("push"), Some(SECRET), &push).await;
    assert_eq!(
        (status, answer["refreshed"].clone()),
        (200, json!(["argocd/mine"]))
    );
    let mut refreshes = std::pin::pin!(refreshes);
    let first = tokio::time::timeout(Duration::from_secs(5), refreshes.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.name, "mine");
}

/// A webhook that reaches a standby replica is not lost: the standby sets Argo CD's refresh
/// annotation, the leader reconciles at once and removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_replica_hands_the_refresh_to_the_leader_through_the_annotation() {
    let ns = "webhook-standby";
    let client = setup(ns).await;
    let repo = Repo::start();
    let url = repo.url();

    // The leader: a controller whose own webhook endpoint is not used in this test.
    let controller = start_controller(&client, ns, &repo, github_hooks(), Default::default()).await;
    // The standby: an endpoint with no controller attached, refreshing through the API server.
    let standby = github_hooks();
    standby.standby_via(
        client.clone(),
        appset::namespaces::Namespaces::new(ns, &[]).unwrap(),
    );
    let (port, http) = serve(standby, Arc::new(Metrics::default())).await;

    create_dirs_set(&client, ns, &url).await;
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), ns);

    repo.add_dir("new");
    let body = push_event(&url);
    let (status, answer) = post(port, &signed(&body), &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["through"], "annotation");
    assert_eq!(answer["refreshed"], json!([format!("{ns}/dirs")]));
    eventually(Duration::from_secs(3), || async {
        app_names(&client, ns).await == ["api", "new"]
    })
    .await
    .expect("the leader refreshed");
    eventually(Duration::from_secs(10), || async {
        sets.get("dirs").await.is_ok_and(|s| {
            !s.metadata
                .annotations
                .unwrap_or_default()
                .contains_key(webhook::REFRESH_ANNOTATION)
        })
    })
    .await
    .expect("the refresh annotation removed after the successful reconcile");
    controller.abort();
    http.abort();
}

const GITLAB_SECRET: &str = "gitlab-token";

/// A GitLab event `kind` (`X-Gitlab-Event`) with `token` in `X-Gitlab-Token`.
fn gitlab_headers(kind: &str, token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("X-Gitlab-Event", kind.to_string()),
        ("X-Gitlab-Token", token.to_string()),
    ]
}

/// GitLab webhooks: a `Push Hook` refreshes the git generator reading that repository, a
/// `Merge Request Hook` the pull-request generator watching that project (its cached listing
/// expired, so the new merge request shows up at once although the generator polls hourly and
/// listings are reused for 30 s); a wrong or missing token is 401, another project refreshes
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_push_and_merge_request_events_refresh_the_sets_that_read_them() {
    use harness::gitlab_server::{Server, mr};
    let ns = "webhook-gitlab";
    let client = setup(ns).await;
    let repo = Repo::start();
    let url = repo.url();
    let gitlab = Server::start().await;
    gitlab.add_project("team/app", vec![mr(1, "feat-a", "main", &[], "opened")]);

    let hooks = github_hooks();
    hooks.set_gitlab_secret(GITLAB_SECRET.as_bytes().to_vec());
    let metrics = Arc::new(Metrics::default());
    let controller = start_controller(&client, ns, &repo, hooks.clone(), metrics.clone()).await;
    let (port, http) = serve(hooks.clone(), metrics.clone()).await;
    create_dirs_set(&client, ns, &url).await;
    let previews: ApplicationSet = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "previews", "namespace": ns},
        "spec": {
            "generators": [{"pullRequest": {"gitlab": {"project": "team/app", "api": gitlab.base}, "requeueAfterSeconds": 3600}}],
            "template": {"metadata": {"name": "preview-{{number}}"},
                         "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc", "namespace": "preview-{{number}}"}}}
        }
    }))
    .unwrap();
    Api::<ApplicationSet>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &previews)
        .await
        .unwrap();
    eventually(Duration::from_secs(30), || async {
        app_names(&client, ns).await == ["api", "preview-1"]
    })
    .await
    .expect("the first preview");

    // A Push Hook of the repository the git generator reads.
    repo.add_dir("pushed");
    let git_http_url = url.replace("git://", "http://");
    let push = json!({
        "object_kind": "push", "ref": "refs/heads/main",
        "project": {"id": 7, "web_url": git_http_url, "git_http_url": format!("{git_http_url}.git"),
                    "path_with_namespace": "gitops", "default_branch": "main"}
    })
    .to_string()
    .into_bytes();
    let (status, answer) = post(port, &gitlab_headers("Push Hook", GITLAB_SECRET), &push).await;
    assert_eq!(
        (status, answer["refreshed"].clone()),
        (200, json!([format!("{ns}/dirs")]))
    );
    eventually(Duration::from_secs(5), || async {
        app_names(&client, ns).await == ["api", "preview-1", "pushed"]
    })
    .await
    .expect("the pushed directory's Application");

    // A wrong or missing token: 401, nothing refreshed.
    let (status, answer) = post(port, &gitlab_headers("Push Hook", "wrong"), &push).await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("X-Gitlab-Token"));
    let (status, _) = post(port, &[("X-Gitlab-Event", "Push Hook".to_string())], &push).await;
    assert_eq!(status, 401);

    // A new merge request, announced by a Merge Request Hook of that project on that host.
    gitlab.edit_mrs("team/app", |mrs| mrs.push(mr(2, "feat-b", "main", &[], "opened")));
    let host = gitlab.base.clone();
    let mr_event = |path: &str| {
        json!({
            "object_kind": "merge_request",
            "project": {"id": 1000, "web_url": format!("{host}/{path}"), "path_with_namespace": path},
            "object_attributes": {"iid": 2, "target_project_id": 1000, "action": "open"}
        })
        .to_string()
        .into_bytes()
    };
    let other = mr_event("team/other");
    let (status, answer) = post(port, &gitlab_headers("Merge Request Hook", GITLAB_SECRET), &other).await;
    assert_eq!((status, answer["refreshed"].clone()), (200, json!([])));
    let event = mr_event("team/app");
    let (status, answer) = post(port, &gitlab_headers("Merge Request Hook", GITLAB_SECRET), &event).await;
    assert_eq!(
        (status, answer["refreshed"].clone()),
        (200, json!([format!("{ns}/previews")]))
    );
    eventually(Duration::from_secs(5), || async {
        app_names(&client, ns).await == ["api", "preview-1", "preview-2", "pushed"]
    })
    .await
    .expect("the new merge request's preview within seconds of the webhook");
    controller.abort();
    http.abort();
}
