//! Progressive sync on the real control plane. First, the test harness's stand-in for Argo CD's
//! application controller (`harness::argo_app_controller`) on its own, with no appset
//! controller: what it writes to Applications when they appear, when an `operation` is written
//! to them, when a new revision is pushed and when they are deleted.

mod harness;

use std::time::Duration;

use harness::{
    apps_api,
    argo_app_controller::{self as argo, Kind, Options, Player},
    eventually, setup,
};
use kube::{
    Client, ResourceExt,
    api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// Create the Application `name` (plain JSON, as a user would) with `finalizers`.
async fn create(client: &Client, ns: &str, name: &str, finalizers: &[&str]) {
    let app: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": ns, "finalizers": finalizers},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://github.com/example/apps.git", "targetRevision": "HEAD", "path": name},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": name}
        }
    }))
    .unwrap();
    apps_api(client, ns)
        .create(&PostParams::default(), &app)
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"));
}

/// Merge-patch `patch` into `name`, as appset's controller writes an `operation`.
async fn merge(client: &Client, ns: &str, name: &str, patch: Value) {
    apps_api(client, ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("patch {name}: {e}"));
}

/// Trigger a sync of `name` as Argo CD's ApplicationSet controller does.
async fn trigger(client: &Client, ns: &str, name: &str) -> Value {
    let op = argo::rolling_sync_operation(&["CreateNamespace=true"], true);
    merge(client, ns, name, json!({ "operation": op })).await;
    op
}

/// Wait (bounded) until `name`'s object satisfies `check`; its data then. On timeout the panic
/// shows the object and the player's log.
async fn wait_for(
    client: &Client,
    ns: &str,
    name: &str,
    player: &Player,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let apps = apps_api(client, ns);
    let last = std::cell::RefCell::new(Value::Null);
    let found = eventually(WAIT, || async {
        match apps.get_opt(name).await {
            Ok(Some(app)) => {
                let ok = check(&app.data);
                *last.borrow_mut() = app.data;
                ok
            }
            _ => false,
        }
    })
    .await;
    let last = last.into_inner();
    if found.is_err() {
        panic!(
            "{ns}/{name}: not {what} within {WAIT:?}; last seen {last:#}; player log {:#?}",
            player.log()
        );
    }
    last
}

fn at<'a>(app: &'a Value, pointer: &str) -> &'a Value {
    app.pointer(pointer).unwrap_or(&Value::Null)
}

/// `status.sync.status`, `status.sync.revision` and `status.health.status`.
fn sync_health(app: &Value) -> (&str, &str, &str) {
    let s = |p| at(app, p).as_str().unwrap_or_default();
    (
        s("/status/sync/status"),
        s("/status/sync/revision"),
        s("/status/health/status"),
    )
}

/// The kinds of the player's log entries for `name`, in order, once the log has settled: the
/// player records an entry right after its write returns, so a test that has just seen the write
/// may otherwise read the log a moment before the entry is there. Bounded: at most 5 s.
async fn kinds(player: &Player, name: &str) -> Vec<Kind> {
    let read = || -> Vec<Kind> {
        player
            .log()
            .into_iter()
            .filter(|e| e.app == name)
            .map(|e| e.kind)
            .collect()
    };
    let mut last = read();
    let mut stable = 0;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = read();
        if now == last {
            stable += 1;
            if stable >= 3 {
                break;
            }
        } else {
            stable = 0;
            last = now;
        }
    }
    last
}

fn is_metav1_time(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    s.len() == "2006-01-02T15:04:05Z".len() && s.ends_with('Z') && s.parse::<jiff::Timestamp>().is_ok()
}

/// A new Application (whether it existed before the player started or not) is refreshed:
/// OutOfSync at the current revision, health Missing, reconciledAt in metav1.Time's format,
/// comparedTo its source and destination. A dropped player writes nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_applications_are_refreshed_out_of_sync_and_missing() {
    let ns = "ro-sim-refresh";
    let client = setup(ns).await;
    create(&client, ns, "before", &[]).await;
    let player = argo::start(client.clone(), ns, Options::default());
    create(&client, ns, "after", &[]).await;
    for name in ["before", "after"] {
        let app = wait_for(&client, ns, name, &player, "refreshed", |a| {
            sync_health(a) == ("OutOfSync", "rev-1", "Missing")
        })
        .await;
        assert!(is_metav1_time(at(&app, "/status/reconciledAt")), "{app:#}");
        assert_eq!(
            at(&app, "/status/sync/comparedTo/source"),
            at(&app, "/spec/source")
        );
        assert_eq!(
            at(&app, "/status/sync/comparedTo/destination"),
            at(&app, "/spec/destination")
        );
        assert_eq!(
            kinds(&player, name).await,
            [Kind::Refreshed, Kind::Health("Missing".into())]
        );
    }
    assert_eq!(player.synced_order(), Vec::<String>::new());

    drop(player);
    create(&client, ns, "unwatched", &[]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let app = apps_api(&client, ns).get("unwatched").await.unwrap();
    assert_eq!(app.data.get("status"), None, "a dropped player wrote {app:?}");
}

/// An operation runs as Argo CD runs it: Running with the operation still present, then one
/// write with the operation cleared, phase Succeeded, Synced and Progressing, then Healthy. All
/// of it as merge patches by `argocd-application-controller`, which owns no part of the spec.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_runs_succeeds_and_the_application_turns_synced_and_healthy() {
    let ns = "ro-sim-operation";
    let client = setup(ns).await;
    let opts = Options {
        sync_delay: Duration::from_secs(1),
        health_delay: Duration::from_secs(1),
        ..Options::default()
    };
    let player = argo::start(client.clone(), ns, opts);
    create(&client, ns, "web", &[]).await;
    wait_for(&client, ns, "web", &player, "refreshed", |a| {
        sync_health(a).0 == "OutOfSync"
    })
    .await;

    let op = trigger(&client, ns, "web").await;
    let running = wait_for(&client, ns, "web", &player, "Running", |a| {
        at(a, "/status/operationState/phase") == "Running"
    })
    .await;
    assert_eq!(
        at(&running, "/operation"),
        &op,
        "the operation stays while it runs"
    );
    assert_eq!(at(&running, "/status/operationState/operation"), &op);
    assert!(is_metav1_time(at(&running, "/status/operationState/startedAt")));
    assert_eq!(at(&running, "/status/operationState/finishedAt"), &Value::Null);

    let done = wait_for(&client, ns, "web", &player, "Succeeded", |a| {
        at(a, "/status/operationState/phase") == "Succeeded"
    })
    .await;
    assert_eq!(done.get("operation"), None, "{done:#}");
    assert_eq!(sync_health(&done), ("Synced", "rev-1", "Progressing"));
    let started = at(&done, "/status/operationState/startedAt").as_str().unwrap();
    let finished = at(&done, "/status/operationState/finishedAt").as_str().unwrap();
    assert!(is_metav1_time(at(&done, "/status/operationState/finishedAt")));
    assert!(finished >= started, "{started} .. {finished}");
    assert_eq!(at(&done, "/status/operationState/syncResult/revision"), "rev-1");
    assert_eq!(at(&done, "/status/operationState/operation"), &op);
    assert_eq!(at(&done, "/status/history/0/revision"), "rev-1");

    let healthy = wait_for(&client, ns, "web", &player, "Healthy", |a| {
        sync_health(a).2 == "Healthy"
    })
    .await;
    assert_eq!(sync_health(&healthy), ("Synced", "rev-1", "Healthy"));
    assert!(at(&healthy, "/status/reconciledAt").as_str() >= Some(finished));

    assert_eq!(
        kinds(&player, "web").await,
        [
            Kind::Refreshed,
            Kind::Health("Missing".into()),
            Kind::OperationSeen { operation: op },
            Kind::SyncStarted,
            Kind::SyncFinished {
                phase: "Succeeded".into()
            },
            Kind::Health("Progressing".into()),
            Kind::Health("Healthy".into()),
        ]
    );
    assert_eq!(player.operations_seen("web"), 1);
    assert_eq!(player.synced_order(), ["web"]);
    let log = player.log();
    assert!(
        log.windows(2)
            .all(|w| w[1].seq == w[0].seq + 1 && w[1].at >= w[0].at)
    );

    let app = apps_api(&client, ns).get("web").await.unwrap();
    let fields: Vec<(String, String, String)> = app
        .managed_fields()
        .iter()
        .map(|m| {
            (
                m.manager.clone().unwrap_or_default(),
                m.operation.clone().unwrap_or_default(),
                serde_json::to_string(&m.fields_v1).unwrap_or_default(),
            )
        })
        .collect();
    let player_fields: Vec<_> = fields.iter().filter(|f| f.0 == argo::FIELD_MANAGER).collect();
    assert_eq!(player_fields.len(), 1, "{fields:#?}");
    assert_eq!(
        player_fields[0].1, "Update",
        "merge patches are Update operations"
    );
    assert!(player_fields[0].2.contains("f:status"), "{fields:#?}");
    assert!(!player_fields[0].2.contains("f:spec"), "{fields:#?}");
}

/// An Application marked degrading syncs and ends Degraded with a message; healed, it turns
/// Healthy at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degrading_application_ends_degraded_and_healing_turns_it_healthy() {
    let ns = "ro-sim-degraded";
    let client = setup(ns).await;
    let player = argo::start(client.clone(), ns, Options::default());
    create(&client, ns, "api", &[]).await;
    player.degrade("api");
    wait_for(&client, ns, "api", &player, "refreshed", |a| {
        sync_health(a).0 == "OutOfSync"
    })
    .await;
    trigger(&client, ns, "api").await;
    let app = wait_for(&client, ns, "api", &player, "Degraded", |a| {
        sync_health(a).2 == "Degraded"
    })
    .await;
    assert_eq!(sync_health(&app), ("Synced", "rev-1", "Degraded"));
    assert_eq!(at(&app, "/status/operationState/phase"), "Succeeded");
    assert!(
        at(&app, "/status/health/message")
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert_eq!(
        kinds(&player, "api").await.last(),
        Some(&Kind::Health("Degraded".into()))
    );

    player.heal("api");
    let app = wait_for(&client, ns, "api", &player, "Healthy", |a| {
        sync_health(a).2 == "Healthy"
    })
    .await;
    assert_eq!(at(&app, "/status/health/message"), &Value::Null, "{app:#}");
    assert_eq!(sync_health(&app), ("Synced", "rev-1", "Healthy"));
    assert_eq!(player.operations_seen("api"), 1, "healing is no sync");
}

/// A failing sync ends in phase Failed with the operation cleared, sync and health unchanged;
/// once the mark is cleared, the next operation succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sync_ends_failed_with_the_operation_cleared() {
    let ns = "ro-sim-failing";
    let client = setup(ns).await;
    let player = argo::start(client.clone(), ns, Options::default());
    player.fail_sync("db");
    create(&client, ns, "db", &[]).await;
    wait_for(&client, ns, "db", &player, "refreshed", |a| {
        sync_health(a).0 == "OutOfSync"
    })
    .await;
    trigger(&client, ns, "db").await;
    let app = wait_for(&client, ns, "db", &player, "Failed", |a| {
        at(a, "/status/operationState/phase") == "Failed"
    })
    .await;
    assert_eq!(app.get("operation"), None, "{app:#}");
    assert!(
        at(&app, "/status/operationState/message")
            .as_str()
            .is_some_and(|m| m.contains("failed")),
        "{app:#}"
    );
    assert!(is_metav1_time(at(&app, "/status/operationState/finishedAt")));
    assert_eq!(sync_health(&app), ("OutOfSync", "rev-1", "Missing"));
    assert_eq!(at(&app, "/status/history"), &Value::Null);
    assert_eq!(
        kinds(&player, "db").await.last(),
        Some(&Kind::SyncFinished {
            phase: "Failed".into()
        })
    );

    player.heal("db");
    trigger(&client, ns, "db").await;
    let app = wait_for(&client, ns, "db", &player, "Healthy", |a| {
        sync_health(a) == ("Synced", "rev-1", "Healthy")
    })
    .await;
    assert_eq!(at(&app, "/status/operationState/phase"), "Succeeded");
    assert_eq!(
        at(&app, "/status/operationState/message"),
        "successfully synced (all tasks run)"
    );
    assert_eq!(player.operations_seen("db"), 2);
}

/// A push makes every Application OutOfSync at the new revision (health kept); a sync brings one
/// to it; a spec change makes it OutOfSync again, compared to the new spec.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_and_a_spec_change_turn_synced_applications_out_of_sync() {
    let ns = "ro-sim-push";
    let client = setup(ns).await;
    let player = argo::start(client.clone(), ns, Options::default());
    for name in ["a", "b"] {
        create(&client, ns, name, &[]).await;
    }
    for name in ["b", "a"] {
        wait_for(&client, ns, name, &player, "refreshed", |a| {
            sync_health(a).0 == "OutOfSync"
        })
        .await;
        trigger(&client, ns, name).await;
        wait_for(&client, ns, name, &player, "Healthy", |a| {
            sync_health(a) == ("Synced", "rev-1", "Healthy")
        })
        .await;
    }
    assert_eq!(player.synced_order(), ["b", "a"]);

    player.push("rev-2");
    assert_eq!(player.revision(), "rev-2");
    for name in ["a", "b"] {
        wait_for(&client, ns, name, &player, "OutOfSync at rev-2", |a| {
            sync_health(a) == ("OutOfSync", "rev-2", "Healthy")
        })
        .await;
    }
    trigger(&client, ns, "a").await;
    let app = wait_for(&client, ns, "a", &player, "Synced at rev-2", |a| {
        sync_health(a) == ("Synced", "rev-2", "Healthy")
    })
    .await;
    let history: Vec<&Value> = app["status"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["revision"])
        .collect();
    assert_eq!(history, [&json!("rev-1"), &json!("rev-2")]);
    assert_eq!(
        sync_health(&apps_api(&client, ns).get("b").await.unwrap().data),
        ("OutOfSync", "rev-2", "Healthy")
    );

    merge(&client, ns, "a", json!({"spec": {"source": {"path": "a-v2"}}})).await;
    let app = wait_for(&client, ns, "a", &player, "OutOfSync after a spec change", |a| {
        sync_health(a).0 == "OutOfSync"
    })
    .await;
    assert_eq!(sync_health(&app), ("OutOfSync", "rev-2", "Healthy"));
    assert_eq!(at(&app, "/status/sync/comparedTo/source/path"), "a-v2");
    assert_eq!(player.operations_seen("a"), 2);
    assert_eq!(player.operations_seen("b"), 1);
}

/// Different Applications sync concurrently: all three operations are Running before the first
/// finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_applications_sync_concurrently() {
    let ns = "ro-sim-concurrent";
    let client = setup(ns).await;
    let opts = Options {
        sync_delay: Duration::from_secs(2),
        ..Options::default()
    };
    let player = argo::start(client.clone(), ns, opts);
    let names = ["x", "y", "z"];
    for name in names {
        create(&client, ns, name, &[]).await;
        wait_for(&client, ns, name, &player, "refreshed", |a| {
            sync_health(a).0 == "OutOfSync"
        })
        .await;
    }
    for name in names {
        trigger(&client, ns, name).await;
    }
    for name in names {
        wait_for(&client, ns, name, &player, "Healthy", |a| {
            sync_health(a) == ("Synced", "rev-1", "Healthy")
        })
        .await;
    }
    let log = player.log();
    let last_start = log
        .iter()
        .filter(|e| e.kind == Kind::SyncStarted)
        .map(|e| e.seq)
        .max();
    let first_finish = log
        .iter()
        .filter(|e| matches!(e.kind, Kind::SyncFinished { .. }))
        .map(|e| e.seq)
        .min();
    assert!(last_start < first_finish, "{log:#?}");
    let mut order = player.synced_order();
    order.sort();
    assert_eq!(order, names);
}

/// Deleting an Application removes Argo CD's resources finalizer and its stage variants, and
/// nothing else; the deletion is logged once per Application.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_strips_the_resources_finalizers_only() {
    let ns = "ro-sim-delete";
    let client = setup(ns).await;
    let player = argo::start(client.clone(), ns, Options::default());
    create(&client, ns, "plain", &[argo::RESOURCES_FINALIZER]).await;
    create(
        &client,
        ns,
        "guarded",
        &[
            "resources-finalizer.argocd.argoproj.io/background",
            "example.com/keep",
            "resources-finalizer.argocd.argoproj.io.example/not-argo",
        ],
    )
    .await;
    let apps = apps_api(&client, ns);
    for name in ["plain", "guarded"] {
        wait_for(&client, ns, name, &player, "refreshed", |a| {
            sync_health(a).0 == "OutOfSync"
        })
        .await;
        apps.delete(name, &DeleteParams::default()).await.unwrap();
    }
    eventually(WAIT, || async {
        apps.get_opt("plain").await.is_ok_and(|a| a.is_none())
    })
    .await
    .expect("plain deleted");
    eventually(WAIT, || async {
        apps.get_opt("guarded").await.ok().flatten().is_some_and(|a| {
            a.finalizers()
                == [
                    "example.com/keep",
                    "resources-finalizer.argocd.argoproj.io.example/not-argo",
                ]
        })
    })
    .await
    .unwrap_or_else(|_| panic!("guarded keeps the other finalizers: {:?}", player.log()));

    merge(&client, ns, "guarded", json!({"metadata": {"finalizers": null}})).await;
    eventually(WAIT, || async {
        apps.get_opt("guarded").await.is_ok_and(|a| a.is_none())
    })
    .await
    .expect("guarded deleted");
    tokio::time::sleep(Duration::from_millis(500)).await;
    for name in ["plain", "guarded"] {
        let deleted = kinds(&player, name)
            .await
            .iter()
            .filter(|k| **k == Kind::Deleted)
            .count();
        assert_eq!(deleted, 1, "{name}: {:#?}", player.log());
    }
    assert!(player.synced_order().is_empty());
}

// ---- appset's controller with progressive syncs, against the stand-in ---------------------------

/// A controller for one namespace with progressive syncs on; it stops when dropped.
struct Controller(tokio::task::JoinHandle<()>);

impl Drop for Controller {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn controller(client: Client, ns: &str, progressive_syncs: bool) -> Controller {
    controller_recording(client, ns, progressive_syncs, Default::default()).await
}

/// [`controller`], recording into `metrics`.
async fn controller_recording(
    client: Client,
    ns: &str,
    progressive_syncs: bool,
    metrics: std::sync::Arc<appset::metrics::Metrics>,
) -> Controller {
    let config = appset::controller::Config {
        namespaces: vec![ns.to_string()],
        controller_namespace: ns.to_string(),
        git_cache_dir: std::env::temp_dir().join(format!("appset-rollout-test-git-{ns}")),
        progressive_syncs,
        ..appset::controller::Config::default()
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let running = Controller(tokio::spawn(async move {
        if let Err(e) = appset::controller::run_with(client, config, metrics, Some(tx)).await {
            panic!("controller: {e}");
        }
    }));
    tokio::time::timeout(WAIT, rx)
        .await
        .expect("controller ready in time")
        .expect("controller ready");
    running
}

/// An ApplicationSet of one Application per `(name, env)`, labelled `env`, with automated sync
/// (prune) and a sync option, and a RollingSync `strategy`.
fn rolling_set(
    ns: &str,
    apps: &[(&str, &str)],
    strategy: Value,
    path_suffix: &str,
) -> appset::ApplicationSet {
    let elements: Vec<Value> = apps.iter().map(|(n, e)| json!({"name": n, "env": e})).collect();
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "rollout", "namespace": ns},
        "spec": {
            "generators": [{"list": {"elements": elements}}],
            "strategy": strategy,
            "template": {
                "metadata": {"name": "{{name}}", "labels": {"env": "{{env}}"},
                             "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": "https://github.com/example/apps.git", "targetRevision": "HEAD",
                               "path": format!("{{{{name}}}}{path_suffix}")},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "{{name}}"},
                    "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]}
                }
            }
        }
    }))
    .unwrap()
}

/// Three steps by env with maxUpdate 1 / 50% / 100%.
fn three_steps(deletion_order: Option<&str>) -> Value {
    let step = |env: &str, max: Value| json!({"matchExpressions": [{"key": "env", "operator": "In", "values": [env]}], "maxUpdate": max});
    let mut s = json!({"type": "RollingSync", "rollingSync": {"steps": [
        step("dev", json!(1)), step("staging", json!("50%")), step("prod", json!("100%")),
    ]}});
    if let Some(order) = deletion_order {
        s["deletionOrder"] = json!(order);
    }
    s
}

const NINE: [(&str, &str); 9] = [
    ("dev-1", "dev"),
    ("dev-2", "dev"),
    ("dev-3", "dev"),
    ("staging-1", "staging"),
    ("staging-2", "staging"),
    ("staging-3", "staging"),
    ("prod-1", "prod"),
    ("prod-2", "prod"),
    ("prod-3", "prod"),
];

async fn get_set(client: &Client, ns: &str) -> appset::ApplicationSet {
    kube::Api::<appset::ApplicationSet>::namespaced(client.clone(), ns)
        .get("rollout")
        .await
        .expect("ApplicationSet")
}

/// (status, reason, message) of a condition of the set.
async fn condition(client: &Client, ns: &str, type_: &str) -> Option<(String, String, String)> {
    get_set(client, ns)
        .await
        .status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status, c.reason, c.message))
}

/// Wait (bounded) until the rollout has completed: every status Healthy and RolloutProgressing
/// False.
async fn wait_complete(client: &Client, ns: &str, player: &Player, apps: usize) {
    let done = eventually(Duration::from_secs(90), || async {
        let set = get_set(client, ns).await;
        let status = set.status.unwrap_or_default();
        status.application_status.len() == apps
            && status
                .application_status
                .iter()
                .all(|s| s.status == "Healthy" || s.step == "-1")
            && status
                .conditions
                .iter()
                .any(|c| c.type_ == "RolloutProgressing" && c.status == "False")
    })
    .await;
    if done.is_err() {
        panic!(
            "rollout not complete: {:#?}\nplayer: {:#?}",
            get_set(client, ns).await.status,
            player.log()
        );
    }
}

/// The sequence numbers at which each Application's operations were seen and it turned Healthy.
fn seen_and_healthy(player: &Player, round: usize) -> std::collections::BTreeMap<String, (u64, u64)> {
    let mut seen: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    let mut healthy: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for e in player.log() {
        match e.kind {
            Kind::OperationSeen { .. } => seen.entry(e.app).or_default().push(e.seq),
            Kind::Health(h) if h == "Healthy" => healthy.entry(e.app).or_default().push(e.seq),
            _ => {}
        }
    }
    seen.into_iter()
        .map(|(app, s)| {
            let start = s[round];
            let h = healthy[&app]
                .iter()
                .copied()
                .find(|h| *h > start)
                .unwrap_or(u64::MAX);
            (app, (start, h))
        })
        .collect()
}

/// The order of operations in round `round` obeys the steps and maxUpdate: dev one at a time
/// in name order, then staging one at a time (50% of 3), then prod all at once, each step only
/// once the one before is Healthy.
fn assert_rollout_order(player: &Player, round: usize) {
    let at = seen_and_healthy(player, round);
    let get = |n: &str| {
        at.get(n)
            .copied()
            .unwrap_or_else(|| panic!("{n} never synced: {:#?}", player.log()))
    };
    for (a, b) in [
        ("dev-1", "dev-2"),
        ("dev-2", "dev-3"),
        ("dev-3", "staging-1"),
        ("staging-1", "staging-2"),
        ("staging-2", "staging-3"),
    ] {
        assert!(
            get(a).1 < get(b).0,
            "round {round}: {b} synced before {a} was Healthy: {:#?}",
            player.log()
        );
    }
    for p in ["prod-1", "prod-2", "prod-3"] {
        assert!(
            get("staging-3").1 < get(p).0,
            "round {round}: {p} before staging was done"
        );
    }
    // prod's maxUpdate is 100%: all three in flight together.
    let first_prod_healthy = ["prod-1", "prod-2", "prod-3"]
        .iter()
        .map(|p| get(p).1)
        .min()
        .unwrap();
    assert!(
        ["prod-1", "prod-2", "prod-3"]
            .iter()
            .all(|p| get(p).0 < first_prod_healthy),
        "round {round}: prod not synced together: {:#?}",
        player.log()
    );
}

/// The order of sync triggers is exactly the allowed one; every Application is synced once, by
/// Argo CD's operation, with automated sync disabled; statuses, conditions and messages are
/// Argo CD's. Then a template change rolls out again from step 1, although the stand-in reports
/// the old `Synced` status for a while after the change (the stale status of argo-cd#22558).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_syncs_step_by_step_within_max_update_and_a_template_change_restarts_it() {
    let ns = "ro-steps";
    let client = setup(ns).await;
    let player = argo::start(
        client.clone(),
        ns,
        Options {
            refresh_delay: Duration::from_millis(1500),
            ..Options::default()
        },
    );
    let _controller = controller(client.clone(), ns, true).await;
    let set = rolling_set(ns, &NINE, three_steps(None), "");
    kube::Api::<appset::ApplicationSet>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &set)
        .await
        .unwrap();
    wait_complete(&client, ns, &player, 9).await;
    assert_rollout_order(&player, 0);
    for (name, _) in NINE {
        assert_eq!(player.operations_seen(name), 1, "{name}: {:#?}", player.log());
    }
    // Argo CD's operation, and automated sync off.
    let op = player
        .log()
        .into_iter()
        .find_map(|e| match e.kind {
            Kind::OperationSeen { operation } => Some(operation),
            _ => None,
        })
        .unwrap();
    assert_eq!(op, argo::rolling_sync_operation(&["CreateNamespace=true"], true));
    let app = apps_api(&client, ns).get("prod-1").await.unwrap();
    assert_eq!(
        app.data.pointer("/spec/syncPolicy/automated"),
        Some(&json!({"prune": true, "enabled": false}))
    );
    assert!(app.data.get("operation").is_none());
    let status = get_set(&client, ns).await.status.unwrap();
    let prod = status
        .application_status
        .iter()
        .find(|s| s.application == "prod-1")
        .unwrap();
    assert_eq!(prod.step, "3");
    assert_eq!(
        prod.message,
        "Application resource became Healthy, updating status from Progressing to Healthy"
    );
    assert_eq!(prod.target_revisions, vec!["rev-1"]);
    assert_eq!(
        condition(&client, ns, "RolloutProgressing").await.unwrap(),
        (
            "False".into(),
            "ApplicationSetRolloutComplete".into(),
            "ApplicationSet Rollout has completed".into()
        )
    );
    assert_eq!(
        condition(&client, ns, "InvalidRolloutConfig").await.unwrap(),
        (
            "False".into(),
            "ApplicationSetValidRolloutConfig".into(),
            "Rolling Sync Configured correctly".into()
        )
    );

    // A template change: every Application's spec changes. The stand-in keeps reporting the old
    // Synced/Healthy for 1.5 s after each change; the rollout must not take it for done.
    let changed = rolling_set(ns, &NINE, three_steps(None), "/v2");
    kube::Api::<appset::ApplicationSet>::namespaced(client.clone(), ns)
        .patch(
            "rollout",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": changed.spec})),
        )
        .await
        .unwrap();
    let reset = eventually(WAIT, || async {
        condition(&client, ns, "RolloutProgressing")
            .await
            .is_some_and(|c| c.0 == "True")
    })
    .await;
    assert!(reset.is_ok(), "the change starts a rollout");
    wait_complete(&client, ns, &player, 9).await;
    for (name, _) in NINE {
        assert_eq!(
            player.operations_seen(name),
            2,
            "{name} synced again: {:#?}",
            player.log()
        );
    }
    assert_rollout_order(&player, 1);
    let app = apps_api(&client, ns).get("prod-3").await.unwrap();
    assert_eq!(app.data.pointer("/spec/source/path"), Some(&json!("prod-3/v2")));
}

/// Warning Events of the set with `reason`.
async fn warnings(client: &Client, ns: &str, reason: &str) -> Vec<String> {
    let events: kube::Api<k8s_openapi::api::events::v1::Event> = kube::Api::namespaced(client.clone(), ns);
    events
        .list(&Default::default())
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter(|e| e.reason.as_deref() == Some(reason) && e.type_.as_deref() == Some("Warning"))
                .filter_map(|e| e.note)
                .collect()
        })
        .unwrap_or_default()
}

/// A staging Application that turns Degraded halts the rollout before prod: the condition says
/// which and why, a Warning Event says so once, no later Application is synced; once it recovers
/// the rollout completes. An Application in no step is created but never synced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degraded_application_halts_the_rollout_until_it_recovers_and_no_step_means_no_sync() {
    let ns = "ro-halt";
    let client = setup(ns).await;
    let player = argo::start(client.clone(), ns, Options::default());
    player.degrade("staging-2");
    let metrics = std::sync::Arc::new(appset::metrics::Metrics::default());
    let _controller = controller_recording(client.clone(), ns, true, metrics.clone()).await;
    let series = |family: &str, extra: &str| {
        harness::metric_value(
            &metrics.encode(),
            &format!("{family}{{namespace=\"{ns}\",name=\"rollout\"{extra}}}"),
        )
    };
    let mut apps = NINE.to_vec();
    apps.push(("tools", "tools"));
    let set = rolling_set(ns, &apps, three_steps(None), "");
    kube::Api::<appset::ApplicationSet>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &set)
        .await
        .unwrap();
    let halted = eventually(Duration::from_secs(60), || async {
        condition(&client, ns, "RolloutProgressing")
            .await
            .is_some_and(|c| c.1 == "ApplicationSetRolloutHalted")
    })
    .await;
    assert!(
        halted.is_ok(),
        "{:#?}\n{:#?}",
        get_set(&client, ns).await.status,
        player.log()
    );
    let (status, _, message) = condition(&client, ns, "RolloutProgressing").await.unwrap();
    assert_eq!(status, "True");
    assert!(
        message
            .starts_with("ApplicationSet rollout is halted at step 2: Application 'staging-2' is Degraded"),
        "{message}"
    );
    let health = get_set(&client, ns).await.status.unwrap().health.unwrap();
    assert_eq!(health.status.as_deref(), Some("Progressing"));
    assert_eq!(series("appset_rollout_halted", ""), Some(1));
    assert_eq!(series("appset_rollout_step", ""), Some(2));
    // Nothing after staging-2 starts while it is Degraded.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for later in ["staging-3", "prod-1", "prod-2", "prod-3"] {
        assert_eq!(player.operations_seen(later), 0, "{later}: {:#?}", player.log());
    }
    let events = warnings(&client, ns, "RolloutHalted").await;
    assert_eq!(events.len(), 1, "one Warning Event: {events:?}");
    assert!(events[0].contains("staging-2"), "{events:?}");

    player.heal("staging-2");
    wait_complete(&client, ns, &player, 10).await;
    // The metrics follow (the pass that completed the rollout recorded them).
    let settled = eventually(WAIT, || async {
        series("appset_rollout_step", "") == Some(0)
            && series("appset_rollout_halted", "") == Some(0)
            && series("appset_rollout_applications", ",status=\"Healthy\"") == Some(9)
            && series("appset_rollout_applications", ",status=\"Waiting\"") == Some(1)
    })
    .await;
    assert!(settled.is_ok(), "{}", metrics.encode());
    for later in ["staging-3", "prod-1", "prod-2", "prod-3"] {
        assert_eq!(player.operations_seen(later), 1, "{later}");
    }
    // The Application in no step: created, step -1, never synced.
    assert_eq!(player.operations_seen("tools"), 0);
    let status = get_set(&client, ns).await.status.unwrap();
    let tools = status
        .application_status
        .iter()
        .find(|s| s.application == "tools")
        .unwrap();
    assert_eq!(tools.step, "-1");
    assert!(apps_api(&client, ns).get("tools").await.is_ok());
}

/// A set named `name` over `apps` with `strategy`, created.
async fn create_named(client: &Client, ns: &str, name: &str, apps: &[(&str, &str)], strategy: Value) {
    let mut set = rolling_set(ns, apps, strategy, "");
    set.metadata.name = Some(name.into());
    for (app, _) in apps {
        assert!(!app.contains('{'), "plain names");
    }
    // Distinct Application names per set: prefix them with the set's name.
    let spec = serde_json::to_value(&set.spec).unwrap();
    let spec = serde_json::from_value(
        serde_json::from_str::<Value>(
            &spec
                .to_string()
                .replace("\"{{name}}\"", &format!("\"{name}-{{{{name}}}}\"")),
        )
        .unwrap(),
    )
    .unwrap();
    set.spec = spec;
    kube::Api::<appset::ApplicationSet>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &set)
        .await
        .unwrap();
}

async fn named_condition(
    client: &Client,
    ns: &str,
    set: &str,
    type_: &str,
) -> Option<(String, String, String)> {
    kube::Api::<appset::ApplicationSet>::namespaced(client.clone(), ns)
        .get(set)
        .await
        .ok()?
        .status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status, c.reason, c.message))
}

/// Argo CD's InvalidRolloutConfig messages for an invalid operator, an Application selected by
/// two steps and a step that selects nothing; a RollingSync without steps is Argo CD's
/// `No steps defined for rollout` error and creates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_rollout_configurations_get_argo_cd_s_conditions() {
    let ns = "ro-invalid";
    let client = setup(ns).await;
    let _controller = controller(client.clone(), ns, true).await;
    let apps = [("a", "dev"), ("b", "prod")];
    let step =
        |op: &str, env: &str| json!({"matchExpressions": [{"key": "env", "operator": op, "values": [env]}]});
    let rolling = |steps: Vec<Value>| json!({"type": "RollingSync", "rollingSync": {"steps": steps}});
    create_named(
        &client,
        ns,
        "operator",
        &apps,
        rolling(vec![step("Exists", "dev"), step("In", "prod")]),
    )
    .await;
    create_named(
        &client,
        ns,
        "twice",
        &apps,
        rolling(vec![step("In", "dev"), step("NotIn", "prod")]),
    )
    .await;
    create_named(
        &client,
        ns,
        "empty",
        &apps,
        rolling(vec![step("In", "dev"), step("In", "qa"), step("In", "prod")]),
    )
    .await;
    create_named(&client, ns, "nosteps", &apps, rolling(vec![])).await;
    let want = [
        (
            "operator",
            "Step 1 has invalid matchExpression operators: Exists. Supported Operators are 'In' and 'NotIn'",
        ),
        (
            "twice",
            "Application 'twice-a' is selected by multiple steps: (1-2)",
        ),
        ("empty", "Steps [2] have no applications matching their criteria"),
    ];
    for (set, message) in want {
        let got = eventually(WAIT, || async {
            named_condition(&client, ns, set, "InvalidRolloutConfig")
                .await
                .is_some()
        })
        .await;
        assert!(got.is_ok(), "{set}: no InvalidRolloutConfig");
        assert_eq!(
            named_condition(&client, ns, set, "InvalidRolloutConfig")
                .await
                .unwrap(),
            (
                "True".to_string(),
                "ApplicationSetInvalidRolloutConfig".to_string(),
                message.to_string()
            ),
            "{set}"
        );
    }
    let got = eventually(WAIT, || async {
        named_condition(&client, ns, "nosteps", "ErrorOccurred")
            .await
            .is_some_and(|c| c.0 == "True")
    })
    .await;
    assert!(got.is_ok());
    assert_eq!(
        named_condition(&client, ns, "nosteps", "ErrorOccurred")
            .await
            .unwrap(),
        (
            "True".to_string(),
            "ApplicationSetRolloutError".to_string(),
            "No steps defined for rollout".to_string()
        )
    );
    let names: Vec<String> = apps_api(&client, ns)
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|a| a.name_any())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with("nosteps-")), "{names:?}");
}

/// With progressive syncs turned off, a set's `applicationStatus` and rollout conditions are
/// cleared (Argo CD's rule), and no further operation is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_progressive_syncs_off_clears_the_application_status() {
    let ns = "ro-flag-off";
    let client = setup(ns).await;
    let player = argo::start(client.clone(), ns, Options::default());
    let on = controller(client.clone(), ns, true).await;
    let apps = [("dev-1", "dev"), ("prod-1", "prod")];
    let set = rolling_set(ns, &apps, three_steps(None), "");
    kube::Api::<appset::ApplicationSet>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &set)
        .await
        .unwrap();
    wait_complete(&client, ns, &player, 2).await;
    drop(on);
    let _off = controller(client.clone(), ns, false).await;
    // A change makes the new controller reconcile the set.
    kube::Api::<appset::ApplicationSet>::namespaced(client.clone(), ns)
        .patch(
            "rollout",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"labels": {"touched": "yes"}}})),
        )
        .await
        .unwrap();
    let cleared = eventually(WAIT, || async {
        let status = get_set(&client, ns).await.status.unwrap_or_default();
        status.application_status.is_empty()
            && !status
                .conditions
                .iter()
                .any(|c| c.type_ == "RolloutProgressing" || c.type_ == "InvalidRolloutConfig")
    })
    .await;
    assert!(cleared.is_ok(), "{:#?}", get_set(&client, ns).await.status);
    assert_eq!(player.operations_seen("dev-1"), 1);
}

/// `deletionOrder: Reverse`: deleting the set deletes prod first, then staging, then dev, one
/// Application at a time, each once the one before is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverse_deletion_deletes_prod_first_one_at_a_time() {
    let ns = "ro-reverse";
    let client = setup(ns).await;
    let player = argo::start(
        client.clone(),
        ns,
        Options {
            sync_delay: Duration::from_millis(20),
            health_delay: Duration::from_millis(20),
            ..Options::default()
        },
    );
    let _controller = controller(client.clone(), ns, true).await;
    let set = rolling_set(ns, &NINE, three_steps(Some("reverse")), "");
    kube::Api::<appset::ApplicationSet>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &set)
        .await
        .unwrap();
    wait_complete(&client, ns, &player, 9).await;
    kube::Api::<appset::ApplicationSet>::namespaced(client.clone(), ns)
        .delete("rollout", &DeleteParams::default())
        .await
        .unwrap();
    let gone = eventually(Duration::from_secs(60), || async {
        kube::Api::<appset::ApplicationSet>::namespaced(client.clone(), ns)
            .get_opt("rollout")
            .await
            .is_ok_and(|s| s.is_none())
    })
    .await;
    assert!(
        gone.is_ok(),
        "the set goes once its Applications are deleted: {:#?}",
        player.log()
    );
    let deleted_now = || -> Vec<String> {
        player
            .log()
            .into_iter()
            .filter(|e| e.kind == Kind::Deleted)
            .map(|e| e.app)
            .collect()
    };
    // The stand-in records a deletion just after its write returns.
    let all = eventually(Duration::from_secs(5), || async { deleted_now().len() == 9 }).await;
    assert!(all.is_ok(), "{:#?}", player.log());
    let deleted = deleted_now();
    let envs: Vec<&str> = deleted.iter().map(|n| n.split('-').next().unwrap()).collect();
    assert_eq!(
        envs,
        [
            "prod", "prod", "prod", "staging", "staging", "staging", "dev", "dev", "dev"
        ],
        "{deleted:?}"
    );
    // One at a time: each deletion was requested only after the one before was gone, so the
    // Application deleted next still had no deletionTimestamp when the one before went; the
    // stand-in logs `Deleted` when it strips the finalizer, and appset deletes the next one
    // only after that. The order above within a step is by name.
    assert_eq!(deleted[..3], ["prod-1", "prod-2", "prod-3"]);
}
