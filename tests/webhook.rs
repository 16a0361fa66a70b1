//! Webhooks on the real control plane: a signed push makes a new directory's Application appear
//! at once (the generator would not poll for an hour); unsigned, wrongly signed and unrelated
//! events refresh nothing (reconciles counted). GitHub and GitLab, then Gitea, Bitbucket Server,
//! Bitbucket Cloud and Azure DevOps (a push of each refreshes only the set reading it), and every
//! forge's pull-request events through the router without a control plane.

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
use kube::{Api, Client, ResourceExt, api::PostParams};
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

/// A controller for `ns` with `hooks` attached, its webhook endpoint served on a loopback port,
/// and a repository `gitops` served by git-daemon.
struct World {
    client: Client,
    repo: Repo,
    url: String,
    port: u16,
    hooks: Arc<Webhooks>,
    controller: tokio::task::JoinHandle<anyhow::Result<()>>,
    http: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl World {
    async fn start(ns: &str, hooks: Arc<Webhooks>) -> World {
        let client = setup(ns).await;
        let repo = Repo::start();
        let url = repo.url();
        let metrics = Arc::new(Metrics::default());
        let controller = start_controller(&client, ns, &repo, hooks.clone(), metrics.clone()).await;
        let (port, http) = serve(hooks.clone(), metrics).await;
        World {
            client,
            repo,
            url,
            port,
            hooks,
            controller,
            http,
        }
    }

    fn stop(self) {
        self.controller.abort();
        self.http.abort();
    }
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

/// Create the ApplicationSet `name` in `ns` with one generator (polled once an hour) naming its
/// Applications `name_template`, then wait until the namespace's Applications are `expected`.
async fn create_set(
    client: &Client,
    ns: &str,
    name: &str,
    generator: Value,
    name_template: &str,
    expected: &[&str],
) {
    let set: ApplicationSet = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "generators": [generator],
            "template": {"metadata": {"name": name_template},
                         "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc", "namespace": name_template}}}
        }
    }))
    .unwrap();
    Api::<ApplicationSet>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &set)
        .await
        .unwrap();
    eventually(Duration::from_secs(30), || async {
        app_names(client, ns).await == expected
    })
    .await
    .unwrap_or_else(|()| panic!("{name}'s first Applications: {expected:?}"));
}

/// A git generator of the directories under `apps/` of `url` at `revision`, polled hourly.
fn dirs_generator(url: &str, revision: &str) -> Value {
    json!({"git": {"repoURL": url, "revision": revision, "directories": [{"path": "apps/*"}], "requeueAfterSeconds": 3600}})
}

/// Create the ApplicationSet `dirs` (an Application per directory of `apps/` at `url`, polled once
/// an hour) and wait for its first Application, `api`.
async fn create_dirs_set(client: &Client, ns: &str, url: &str) {
    create_set(
        client,
        ns,
        "dirs",
        dirs_generator(url, "HEAD"),
        "{{path.basename}}",
        &["api"],
    )
    .await;
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
    post_to(port, "/api/webhook", headers, body).await
}

/// POST `body` to `path` with the given headers; (status, body).
async fn post_to(port: u16, path: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Value) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
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

/// Two sharded replicas (one shard each, by Leases): a push received by one refreshes its own
/// set in process and forwards the event to the other replica, found on its shard Lease, which
/// verifies the forge's signature itself and refreshes its set; no annotation is written. A
/// forwarded envelope with a bad signature is refused. With the other replica unreachable, its
/// set gets the refresh annotation instead, and is refreshed all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharded_replica_forwards_webhooks_to_the_owner_of_the_others_sets_or_annotates_them() {
    use appset::{
        lease::{ShardLeases, Shards},
        shard::{Sharding, shard_of},
    };
    let ns = "webhook-shards";
    let client = setup(ns).await;
    let repo = Repo::start();
    let url = repo.url();
    let mut tasks = Vec::new();
    let (mut ports, mut servers, mut all_hooks, mut all_shards) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for index in 0..2u32 {
        let identity = format!("replica-{index}");
        let shards = Shards::new(2);
        let hooks = github_hooks();
        hooks.standby_via(
            client.clone(),
            appset::namespaces::Namespaces::new(ns, &[]).unwrap(),
        );
        hooks.sharded_by(&shards, &identity);
        let (port, http) = serve(hooks.clone(), Arc::new(Metrics::default())).await;
        let leases = ShardLeases::new(
            client.clone(),
            ns,
            "appset-controller",
            &identity,
            Duration::from_secs(3),
            Sharding::Fixed { index, count: 2 },
        )
        .advertising(Some(format!("http://127.0.0.1:{port}")));
        tasks.push(tokio::spawn({
            let shards = shards.clone();
            async move { leases.run(shards).await }
        }));
        eventually(Duration::from_secs(10), || async { shards.holds(index) })
            .await
            .expect("the replica holds its shard");
        all_shards.push(shards.clone());
        let config = Config {
            namespaces: vec![ns.into()],
            controller_namespace: ns.into(),
            git_cache_dir: repo.dir.path().join(format!("cache-{index}")),
            webhooks: Some(hooks.clone()),
            shards: Some(shards),
            ..Config::default()
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let _ = controller::run_with(c, config, Default::default(), Some(tx)).await;
        }));
        rx.await.unwrap();
        ports.push(port);
        servers.push(http);
        all_hooks.push(hooks);
    }
    // A set in each shard.
    let name_in = |shard: u32| {
        (0..)
            .map(|i| format!("dirs-{i}"))
            .find(|n| shard_of(ns, n, 2) == shard)
            .unwrap()
    };
    let (mine, theirs) = (name_in(0), name_in(1));
    create_set(
        &client,
        ns,
        &mine,
        dirs_generator(&url, "HEAD"),
        &format!("{mine}-{{{{path.basename}}}}"),
        &[&format!("{mine}-api")],
    )
    .await;
    let mut both = [format!("{mine}-api"), format!("{theirs}-api")];
    both.sort();
    create_set(
        &client,
        ns,
        &theirs,
        dirs_generator(&url, "HEAD"),
        &format!("{theirs}-{{{{path.basename}}}}"),
        &both.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    let want = |dirs: &[&str]| {
        let mut want: Vec<String> = [&mine, &theirs]
            .iter()
            .flat_map(|s| dirs.iter().map(move |d| format!("{s}-{d}")))
            .collect();
        want.sort();
        want
    };
    // Replica 0 reads replica 1's URL off its shard Lease within a round (1 s).
    eventually(Duration::from_secs(10), || async {
        all_shards[0]
            .peer(ns, &theirs)
            .is_some_and(|p| p.identity == "replica-1")
    })
    .await
    .expect("replica 0 knows who holds shard 1");

    repo.add_dir("new");
    let body = push_event(&url);
    let (status, answer) = post(ports[0], &signed(&body), &body).await;
    assert_eq!(status, 200, "{answer}");
    let mut refreshed = vec![format!("{ns}/{mine}"), format!("{ns}/{theirs}")];
    refreshed.sort();
    let mut answered: Vec<String> = serde_json::from_value(answer["refreshed"].clone()).unwrap();
    answered.sort();
    assert_eq!(answered, refreshed, "{answer}");
    assert_eq!(
        answer["forwarded"],
        json!({"replica-1": [format!("{ns}/{theirs}")]}),
        "{answer}"
    );
    assert!(answer.get("throughAnnotation").is_none(), "{answer}");
    assert_eq!(
        all_hooks[1].stats().refreshes,
        1,
        "replica 1 refreshed its set itself"
    );
    eventually(Duration::from_secs(5), || async {
        app_names(&client, ns).await == want(&["api", "new"])
    })
    .await
    .expect("both sets refreshed, each by its own replica");
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), ns);
    for set in sets.list(&Default::default()).await.unwrap() {
        assert!(
            !set.annotations().contains_key(webhook::REFRESH_ANNOTATION),
            "no refresh annotation: {:?}",
            set.annotations()
        );
    }

    // A forwarded envelope is verified as the forge's request: a wrong signature is refused.
    let forged = webhook::Envelope::new(
        "intruder",
        &[("x-github-event", "push"), ("x-hub-signature-256", "sha256=00")]
            .into_iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect(),
        &body,
        vec![format!("{ns}/{theirs}")],
    );
    let (status, answer) = post_to(
        ports[1],
        webhook::FORWARDED_PATH,
        &[],
        &serde_json::to_vec(&forged).unwrap(),
    )
    .await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(all_hooks[1].stats().refreshes, 1);

    // Replica 1 unreachable (its HTTP server stopped; it still holds its shard): replica 0
    // annotates the set, which replica 1 follows.
    servers.remove(1).abort();
    repo.add_dir("newer");
    let (status, answer) = post(ports[0], &signed(&body), &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["throughAnnotation"],
        json!([format!("{ns}/{theirs}")]),
        "{answer}"
    );
    assert!(answer.get("forwarded").is_none(), "{answer}");
    eventually(Duration::from_secs(10), || async {
        app_names(&client, ns).await == want(&["api", "new", "newer"])
    })
    .await
    .expect("both sets refreshed again");
    for t in tasks {
        t.abort();
    }
    for t in servers {
        t.abort();
    }
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
    let gitlab = Server::start().await;
    gitlab.add_project("team/app", vec![mr(1, "feat-a", "main", &[], "opened")]);
    let hooks = github_hooks();
    hooks.set_gitlab_secret(GITLAB_SECRET.as_bytes().to_vec());
    let world = World::start(ns, hooks).await;
    let (client, repo, url, port) = (world.client.clone(), &world.repo, world.url.clone(), world.port);
    create_dirs_set(&client, ns, &url).await;
    create_set(
        &client,
        ns,
        "previews",
        json!({"pullRequest": {"gitlab": {"project": "team/app", "api": gitlab.base}, "requeueAfterSeconds": 3600}}),
        "preview-{{number}}",
        &["api", "preview-1"],
    )
    .await;

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
    world.stop();
}

// ---- Gitea, Bitbucket Server, Bitbucket Cloud, Azure DevOps ---------------------------------------

const GITEA_SECRET: &[u8] = b"gitea-secret";
const BITBUCKET_SERVER_SECRET: &[u8] = b"bitbucket-server-secret";
const BITBUCKET_UUID: &str = "{6cd3b0f4-7e5c-4d5e-9d55-1e3f1f9f2b1a}";
const BITBUCKET_SECRET: &[u8] = b"bitbucket-cloud-secret";
const AZURE_USER: &str = "argo";
const AZURE_PASSWORD: &str = "azure-password";

/// Endpoints configured for every forge.
fn all_forges_hooks() -> Arc<Webhooks> {
    let hooks = github_hooks();
    hooks.set_gitlab_secret(GITLAB_SECRET.as_bytes().to_vec());
    hooks.set_gitea_secret(GITEA_SECRET.to_vec());
    hooks.set_bitbucket_server_secret(BITBUCKET_SERVER_SECRET.to_vec());
    hooks.set_bitbucket_uuid(BITBUCKET_UUID.as_bytes().to_vec());
    hooks.set_bitbucket_secret(BITBUCKET_SECRET.to_vec());
    hooks.set_azure_devops_basic_auth(AZURE_USER.into(), AZURE_PASSWORD.into());
    hooks
}

/// A payload of the corpus (tests/fixtures/webhooks/<forge>/<name>), as JSON to edit.
fn fixture(forge: &str, name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/webhooks")
        .join(forge)
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The forges' deliveries: (headers, body) of an event, verified each forge's way.
mod deliver {
    use base64::Engine as _;

    use super::*;

    pub type Delivery = (Vec<(&'static str, String)>, Vec<u8>);

    pub fn gitea(event: &str, body: &Value) -> Delivery {
        let body = body.to_string().into_bytes();
        let headers = vec![
            ("X-Gitea-Event", event.to_string()),
            ("X-Gitea-Signature", webhook::sign_hex(GITEA_SECRET, &body)),
            // Gitea sends GitHub's headers too; they must not make it a GitHub event.
            ("X-GitHub-Event", event.to_string()),
        ];
        (headers, body)
    }

    pub fn bitbucket_server(event: &str, body: &Value) -> Delivery {
        let body = body.to_string().into_bytes();
        let headers = vec![
            ("X-Event-Key", event.to_string()),
            ("X-Hub-Signature", webhook::sign(BITBUCKET_SERVER_SECRET, &body)),
        ];
        (headers, body)
    }

    pub fn bitbucket_cloud(event: &str, body: &Value) -> Delivery {
        let body = body.to_string().into_bytes();
        let headers = vec![
            ("X-Event-Key", event.to_string()),
            ("X-Hook-UUID", BITBUCKET_UUID.to_string()),
            ("X-Hub-Signature", webhook::sign(BITBUCKET_SECRET, &body)),
        ];
        (headers, body)
    }

    pub fn azure(body: &Value) -> Delivery {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{AZURE_USER}:{AZURE_PASSWORD}"));
        let headers = vec![
            (
                "X-Vss-ActivityId",
                "7a2b1c3d-0000-4e5f-8a9b-1c2d3e4f5a6b".to_string(),
            ),
            ("Authorization", format!("Basic {auth}")),
        ];
        (headers, body.to_string().into_bytes())
    }
}

/// Each forge's push of `main` (the default branch) to the repository served at `url`
/// (`git://127.0.0.1:port/gitops`), from the forge's documented payload.
fn forge_push(forge: &str, url: &str) -> deliver::Delivery {
    let http = url.replace("git://", "http://");
    match forge {
        "gitea" => {
            let mut p = fixture("gitea", "push.json");
            p["ref"] = json!("refs/heads/main");
            p["repository"]["html_url"] = json!(http);
            p["repository"]["clone_url"] = json!(format!("{http}.git"));
            p["repository"]["ssh_url"] = json!("git@127.0.0.1:platform/gitops.git");
            p["repository"]["default_branch"] = json!("main");
            deliver::gitea("push", &p)
        }
        "bitbucket-server" => {
            let mut p = fixture("bitbucket-server", "refs_changed.json");
            p["repository"]["links"]["clone"] = json!([{"href": format!("{http}.git"), "name": "http"}]);
            p["changes"] = json!([p["changes"][0].clone()]);
            deliver::bitbucket_server("repo:refs_changed", &p)
        }
        "bitbucket-cloud" => {
            let mut p = fixture("bitbucket-cloud", "repo_push.json");
            p["repository"]["links"]["html"]["href"] = json!(http);
            p["push"]["changes"][0]["new"]["name"] = json!("main");
            deliver::bitbucket_cloud("repo:push", &p)
        }
        "azuredevops" => {
            let mut p = fixture("azuredevops", "git.push.json");
            p["resource"]["repository"]["remoteUrl"] = json!(http);
            p["resource"]["repository"]["sshUrl"] = Value::Null;
            deliver::azure(&p)
        }
        _ => unreachable!("{forge}"),
    }
}

/// On the real control plane: `forge`'s verified push of the repository refreshes the set that
/// reads it at HEAD (its new directory's Application appears within seconds, though the generator
/// polls hourly) and not the set reading a tag of the same repository; the same push with a
/// broken verification is 401 and refreshes nothing.
async fn a_forge_push_refreshes_only_the_set_reading_it(forge: &str, ns: &str) {
    let world = World::start(ns, all_forges_hooks()).await;
    let (client, repo, url, port) = (world.client.clone(), &world.repo, world.url.clone(), world.port);
    harness::git::git(&repo.path, &["tag", "v0"]);
    create_dirs_set(&client, ns, &url).await;
    create_set(
        &client,
        ns,
        "pinned",
        dirs_generator(&url, "v0"),
        "v0-{{path.basename}}",
        &["api", "v0-api"],
    )
    .await;

    repo.add_dir("pushed");
    let (headers, body) = forge_push(forge, &url);
    let before = world.hooks.stats();
    // Broken verification first: a body its signature does not cover (Azure DevOps' basic
    // authentication does not cover the body: a wrong password instead).
    let (status, answer) = if forge == "azuredevops" {
        let mut wrong = headers.clone();
        wrong[1].1 = "Basic YXJnbzp3cm9uZw==".into();
        post(port, &wrong, &body).await
    } else {
        let mut tampered = body.clone();
        tampered.extend_from_slice(b" ");
        post(port, &headers, &tampered).await
    };
    assert_eq!(status, 401, "{forge}: {answer}");
    assert_eq!(answer["refreshed"], Value::Null, "{answer}");
    // Nothing dispatched: no refresh reached the controller (the Applications themselves are no
    // proof either way, since any other reconcile of the set, e.g. one that an early watch event
    // of its own write triggers on a loaded machine, reads the new commit too).
    let after = world.hooks.stats();
    assert_eq!(
        after.refreshes, before.refreshes,
        "{forge}: a refused delivery refreshed a set"
    );
    assert_eq!(
        after.accepted, before.accepted,
        "{forge}: a refused delivery was accepted"
    );
    assert_eq!(
        after.rejected,
        before.rejected + 1,
        "{forge}: the refusal is counted"
    );

    let (status, answer) = post(port, &headers, &body).await;
    assert_eq!(status, 200, "{forge}: {answer}");
    assert_eq!(
        answer["refreshed"],
        json!([format!("{ns}/dirs")]),
        "{forge}: only the set reading HEAD"
    );
    eventually(Duration::from_secs(5), || async {
        app_names(&client, ns).await == ["api", "pushed", "v0-api"]
    })
    .await
    .unwrap_or_else(|()| panic!("{forge}: the pushed directory's Application within seconds of the webhook"));
    world.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitea_push_refreshes_only_the_set_reading_it() {
    a_forge_push_refreshes_only_the_set_reading_it("gitea", "webhook-gitea").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bitbucket_server_push_refreshes_only_the_set_reading_it() {
    a_forge_push_refreshes_only_the_set_reading_it("bitbucket-server", "webhook-bitbucket-server").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bitbucket_cloud_push_refreshes_only_the_set_reading_it() {
    a_forge_push_refreshes_only_the_set_reading_it("bitbucket-cloud", "webhook-bitbucket-cloud").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_azure_devops_push_refreshes_only_the_set_reading_it() {
    a_forge_push_refreshes_only_the_set_reading_it("azuredevops", "webhook-azuredevops").await;
}

/// Through the router, no control plane: each forge's pull-request event refreshes exactly the set
/// whose generator watches that repository and expires that forge's listing (a registered expiry
/// for the forges whose sources are not in appset yet); unverified requests are 401, malformed
/// ones 400 with the forge named, unknown events ignored, and an unconfigured forge refused.
#[tokio::test]
async fn every_forge_s_pull_request_event_refreshes_the_set_watching_that_repository() {
    use axum::body::Body;
    use futures::StreamExt;
    use http_body_util::BodyExt;
    use kube::runtime::{reflector, watcher};
    use tower::ServiceExt;

    async fn call(hooks: &Arc<Webhooks>, (headers, body): &deliver::Delivery) -> (u16, Value) {
        let mut request =
            axum::http::Request::post("/api/webhook").header("content-type", "application/json");
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        let response = webhook::endpoint(hooks.clone())
            .oneshot(request.body(Body::from(body.clone())).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    let hooks = all_forges_hooks();
    let expired = Arc::new(std::sync::Mutex::new(Vec::new()));
    for forge in [
        webhook::Forge::BitbucketServer,
        webhook::Forge::BitbucketCloud,
        webhook::Forge::AzureDevOps,
    ] {
        let expired = expired.clone();
        hooks.on_pull_request(forge, move |repo| {
            expired.lock().unwrap().push(format!("{}:{repo}", forge.name()))
        });
    }
    let mut writer = reflector::store::Writer::<ApplicationSet>::default();
    let set = |name: &str, pull_request: Value| -> ApplicationSet {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {"generators": [{"pullRequest": pull_request}],
                     "template": {"metadata": {"name": "x"}, "spec": {"project": "default"}}}
        }))
        .unwrap()
    };
    writer.apply_watcher_event(&watcher::Event::Init);
    for s in [
        set(
            "gitea",
            json!({"gitea": {"owner": "platform", "repo": "gitops", "api": "https://gitea.example.com/"}}),
        ),
        set(
            "bitbucket-server",
            json!({"bitbucketServer": {"project": "PLAT", "repo": "gitops", "api": "https://bitbucket.example.com"}}),
        ),
        set(
            "bitbucket-cloud",
            json!({"bitbucket": {"owner": "platform-team", "repo": "gitops"}}),
        ),
        set(
            "azuredevops",
            json!({"azuredevops": {"organization": "contoso", "project": "Platform", "repo": "gitops"}}),
        ),
        set(
            "github",
            json!({"github": {"owner": "platform", "repo": "gitops"}}),
        ),
    ] {
        writer.apply_watcher_event(&watcher::Event::InitApply(s));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    let refreshes = hooks.attach(writer.as_reader()).expect("first attach");
    let mut refreshes = std::pin::pin!(refreshes);

    let events = [
        (
            "gitea",
            deliver::gitea("pull_request", &fixture("gitea", "pull_request_opened.json")),
        ),
        (
            "bitbucket-server",
            deliver::bitbucket_server(
                "pr:from_ref_updated",
                &fixture("bitbucket-server", "pr_from_ref_updated.json"),
            ),
        ),
        (
            "bitbucket-cloud",
            deliver::bitbucket_cloud(
                "pullrequest:created",
                &fixture("bitbucket-cloud", "pullrequest_created.json"),
            ),
        ),
        (
            "azuredevops",
            deliver::azure(&fixture("azuredevops", "git.pullrequest.created.json")),
        ),
    ];
    for (name, delivery) in &events {
        let (status, answer) = call(&hooks, delivery).await;
        assert_eq!(
            (status, answer["refreshed"].clone()),
            (200, json!([format!("argocd/{name}")])),
            "{name}: {answer}"
        );
        let refreshed = tokio::time::timeout(Duration::from_secs(5), refreshes.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(refreshed.name, *name);
    }
    assert_eq!(
        *expired.lock().unwrap(),
        [
            "Bitbucket Server:plat/gitops",
            "Bitbucket Cloud:platform-team/gitops",
            "Azure DevOps:contoso/platform/gitops"
        ]
    );

    // Unverified: every header of the verification dropped, one at a time.
    for (name, (headers, body)) in &events {
        for drop in 0..headers.len() {
            let (key, _) = headers[drop];
            if matches!(
                key,
                "X-Gitea-Event" | "X-Event-Key" | "X-Vss-ActivityId" | "X-GitHub-Event"
            ) {
                continue;
            }
            let mut partial = headers.clone();
            partial.remove(drop);
            let (status, answer) = call(&hooks, &(partial, body.clone())).await;
            assert_eq!(status, 401, "{name} without {key}: {answer}");
        }
    }
    // Malformed, with the forge named; unknown events ignored.
    for (delivery, says) in [
        (
            deliver::gitea("pull_request", &json!({"action": 3})),
            "malformed Gitea pull_request event",
        ),
        (
            deliver::bitbucket_server("pr:opened", &json!({"pullRequest": []})),
            "malformed Bitbucket Server pr:opened event",
        ),
        (
            deliver::bitbucket_cloud("repo:push", &json!({"push": 1})),
            "malformed Bitbucket Cloud repo:push event",
        ),
        (
            deliver::azure(&json!({"eventType": "git.push", "resource": []})),
            "malformed Azure DevOps git.push event",
        ),
        (
            deliver::azure(&json!(["not", "an", "event"])),
            "malformed Azure DevOps event",
        ),
    ] {
        let (status, answer) = call(&hooks, &delivery).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer["error"].as_str().unwrap().starts_with(says), "{answer}");
    }
    for delivery in [
        deliver::gitea("issues", &json!({})),
        deliver::bitbucket_server("pr:reviewer:approved", &json!({})),
        deliver::bitbucket_cloud("pullrequest:approved", &json!({})),
        deliver::azure(&json!({"eventType": "build.complete"})),
    ] {
        let (status, answer) = call(&hooks, &delivery).await;
        assert_eq!(
            (status, answer["refreshed"].clone()),
            (200, json!([])),
            "{answer}"
        );
    }
    let (status, answer) = call(
        &hooks,
        &deliver::bitbucket_server("diagnostics:ping", &json!({"test": true})),
    )
    .await;
    assert_eq!((status, answer["pong"].clone()), (200, json!(true)));

    // A forge with nothing configured refuses every event, whatever it carries.
    let bare = github_hooks();
    for (name, delivery) in &events {
        let (status, answer) = call(&bare, delivery).await;
        assert_eq!(status, 401, "{name}: {answer}");
        assert!(answer["error"].as_str().unwrap().starts_with("no "), "{answer}");
    }
}

/// A Gitea `pull_request` event expires the controller's cached listing: the new pull request's
/// preview appears within seconds, though the generator polls hourly and listings are reused for
/// 30 s; an event of another repository refreshes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitea_pull_request_event_brings_the_new_pull_request_at_once() {
    use harness::gitea_server::{Server, pull};
    let ns = "webhook-gitea-pr";
    let gitea = Server::start().await;
    gitea.add_repo("platform/gitops", vec![pull(1, "feat-a", "main", &[], "open")]);
    let world = World::start(ns, all_forges_hooks()).await;
    let (client, port) = (world.client.clone(), world.port);
    create_set(
        &client,
        ns,
        "previews",
        json!({"pullRequest": {"gitea": {"owner": "platform", "repo": "gitops", "api": gitea.base}, "requeueAfterSeconds": 3600}}),
        "preview-{{number}}",
        &["preview-1"],
    )
    .await;
    gitea.edit_pulls("platform/gitops", |p| {
        p.push(pull(2, "feat-b", "main", &[], "open"))
    });
    let event = |full_name: &str| {
        let mut p = fixture("gitea", "pull_request_opened.json");
        let (owner, name) = full_name.split_once('/').unwrap();
        p["repository"]["owner"]["login"] = json!(owner);
        p["repository"]["name"] = json!(name);
        p["repository"]["html_url"] = json!(format!("{}/{full_name}", gitea.base));
        deliver::gitea("pull_request", &p)
    };
    let (headers, body) = event("platform/other");
    let (status, answer) = post(port, &headers, &body).await;
    assert_eq!(
        (status, answer["refreshed"].clone()),
        (200, json!([])),
        "{answer}"
    );
    let (headers, body) = event("platform/gitops");
    let (status, answer) = post(port, &headers, &body).await;
    assert_eq!(
        (status, answer["refreshed"].clone()),
        (200, json!([format!("{ns}/previews")])),
        "{answer}"
    );
    eventually(Duration::from_secs(5), || async {
        app_names(&client, ns).await == ["preview-1", "preview-2"]
    })
    .await
    .expect("the new pull request's preview within seconds of the webhook");
    world.stop();
}

/// On the real control plane: an `scmProvider` set polled hourly follows a push at once. The
/// push of a scanned repository's default branch refreshes the set and expires its cached
/// listing (the controller reuses listings for 30 s, longer than the 5 s allowed here), so the
/// moved branch head shows in the Application's name; a push to another organization, and one
/// of another branch, refresh nothing. Argo CD refreshes no `scmProvider` set on a webhook.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_to_a_scanned_repository_refreshes_the_scm_provider_set_past_its_cached_listing() {
    use harness::scm_server::{Server, sha};
    let ns = "webhook-scm";
    let world = World::start(ns, github_hooks()).await;
    let (client, port) = (world.client.clone(), world.port);
    let forge = Server::start().await;
    forge.add_repos("acme", "svc-", 2, false);
    let host = forge.base.replace("http://", "");
    let generator = json!({"scmProvider": {
        "github": {"organization": "acme", "api": format!("{}/api/v3", forge.base)},
        "requeueAfterSeconds": 3600
    }});
    let short = |repo: &str, generation| format!("{repo}-{}", &sha(repo, "main", generation)[..7]);
    let (a0, b0) = (short("svc-000", 0), short("svc-001", 0));
    create_set(
        &client,
        ns,
        "scan",
        generator,
        "{{repository}}-{{short_sha_7}}",
        &[a0.as_str(), b0.as_str()],
    )
    .await;

    let push = |org: &str, repo: &str, branch: &str| {
        json!({
            "ref": format!("refs/heads/{branch}"),
            "repository": {"name": repo, "full_name": format!("{org}/{repo}"),
                           "html_url": format!("http://{host}/{org}/{repo}"),
                           "clone_url": format!("http://{host}/{org}/{repo}.git"),
                           "default_branch": "main"}
        })
        .to_string()
        .into_bytes()
    };
    forge.edit_repo("acme", "svc-001", |r| {
        r.branches[0].sha = sha("svc-001", "main", 1)
    });
    // Pushes the set does not read: another organization, a branch other than the default.
    for body in [
        push("other", "svc-001", "main"),
        push("acme", "svc-001", "feature"),
    ] {
        let (status, answer) = post(port, &signed(&body), &body).await;
        assert_eq!(
            (status, answer["refreshed"].clone()),
            (200, json!([])),
            "{answer}"
        );
    }
    let body = push("acme", "svc-001", "main");
    let (status, answer) = post(port, &signed(&body), &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["refreshed"], json!([format!("{ns}/scan")]));
    let b1 = short("svc-001", 1);
    eventually(Duration::from_secs(5), || async {
        app_names(&client, ns).await == [a0.as_str(), b1.as_str()]
    })
    .await
    .unwrap_or_else(|()| {
        panic!("the moved branch head within seconds of the push, past the 30 s listing cache")
    });
    world.stop();
}
