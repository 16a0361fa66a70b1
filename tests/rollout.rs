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

/// The kinds of the player's log entries for `name`, in order.
fn kinds(player: &Player, name: &str) -> Vec<Kind> {
    player
        .log()
        .into_iter()
        .filter(|e| e.app == name)
        .map(|e| e.kind)
        .collect()
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
            kinds(&player, name),
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
        kinds(&player, "web"),
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
        kinds(&player, "api").last(),
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
        kinds(&player, "db").last(),
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
            .iter()
            .filter(|k| **k == Kind::Deleted)
            .count();
        assert_eq!(deleted, 1, "{name}: {:#?}", player.log());
    }
    assert!(player.synced_order().is_empty());
}
