//! Faults on the real control plane, with nothing lost: a replica killed (SIGKILL) while it
//! creates 1,000 Applications, the API server stopped for 20 s in the middle of a reconcile, etcd
//! restarted in the middle of another, and watches that expire (410 Gone). The controllers run
//! as `appset run` processes; the API server's audit log says who wrote what.

mod harness;

use std::{collections::BTreeMap, time::Duration};

use appset::{ApplicationSet, shard::shard_of};
use harness::{
    AuditedWrite, PrivatePlane, apps_api, audited_writes, eventually, http_get, metric_value, replica,
};
use k8s_openapi::api::{coordination::v1::Lease, core::v1::ConfigMap};
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;

/// Applications of the big set.
const APPS: usize = 1000;

/// `name` generating [`APPS`] Applications `NAME-NNNN` at revision `rev`.
fn big_set(ns: &str, name: &str, rev: &str) -> ApplicationSet {
    let elements: Vec<_> = (0..APPS)
        .map(|i| json!({"i": format!("{i:04}"), "rev": rev}))
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "generators": [{"list": {"elements": elements}}],
            "template": {
                "metadata": {"name": format!("{name}-{{{{i}}}}"), "labels": {"set": name}},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": "https://git.example.com/apps.git", "path": "apps/{{i}}", "targetRevision": "{{rev}}"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "app-{{i}}"}
                }
            }
        }
    }))
    .unwrap()
}

/// The Applications of `ns` whose spec is exactly what `set` generates at `rev` (the others are
/// missing, stale or half-written), and how many there are in all.
async fn generated(client: &Client, ns: &str, set: &str, rev: &str) -> (usize, usize) {
    let apps = apps_api(client, ns)
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let exact = apps
        .iter()
        .filter(|a| {
            let Some(i) = a.name_any().strip_prefix(&format!("{set}-")).map(str::to_string) else {
                return false;
            };
            let spec = &a.data["spec"];
            a.metadata.deletion_timestamp.is_none()
                && spec["source"]["targetRevision"] == rev
                && spec["source"]["path"] == format!("apps/{i}")
                && spec["destination"]["namespace"] == format!("app-{i}")
                && spec["project"] == "default"
                && a.labels().get("set").map(String::as_str) == Some(set)
                && a.owner_references()
                    .iter()
                    .any(|o| o.name == set && o.controller == Some(true))
        })
        .count();
    (exact, apps.len())
}

/// Whether `set`'s status says its Applications are up to date.
async fn up_to_date(client: &Client, ns: &str, set: &str) -> bool {
    Api::<ApplicationSet>::namespaced(client.clone(), ns)
        .get(set)
        .await
        .ok()
        .and_then(|s| s.status)
        .is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "ResourcesUpToDate" && c.status == "True")
        })
}

/// Wait (up to `timeout`) until all [`APPS`] Applications are exactly as generated at `rev`, no
/// other exists, and the set's status is up to date.
async fn converged(client: &Client, ns: &str, set: &str, rev: &str, timeout: Duration) {
    if eventually(timeout, || async {
        generated(client, ns, set, rev).await == (APPS, APPS) && up_to_date(client, ns, set).await
    })
    .await
    .is_err()
    {
        panic!(
            "not converged at {rev}: (exact, all) = {:?}, up to date: {}",
            generated(client, ns, set, rev).await,
            up_to_date(client, ns, set).await
        );
    }
}

/// No Application of `ns` was ever deleted, by anyone.
fn assert_no_deletes(writes: &[AuditedWrite]) {
    let deletes: Vec<&AuditedWrite> = writes
        .iter()
        .filter(|w| w.resource == "applications" && w.verb == "delete")
        .collect();
    assert!(deletes.is_empty(), "Applications deleted: {deletes:?}");
}

/// Two replicas share two shards; the one holding the big set's shard is killed with SIGKILL
/// while it creates the set's 1,000 Applications (one write at a time, as Argo CD's default).
/// The other takes the shard when its Lease expires and finishes: every Application exactly as
/// generated, each created once, none deleted, the status up to date.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_while_creating_1000_applications_leaves_the_job_to_the_survivor() {
    let ns = "fault-kill";
    let client = harness::setup(ns).await;
    let cp = harness::control_plane();
    let args = ["--shards", "auto:2", "--concurrent-application-updates", "1"];
    let mut replicas: BTreeMap<String, harness::Replica> = ["kill-a", "kill-b"]
        .into_iter()
        .map(|id| (id.to_string(), replica(&cp.kubeconfig, ns, id, &args)))
        .collect();
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
    let holder = |shard: u32| {
        let leases = leases.clone();
        async move {
            leases
                .get(&format!("appset-controller-shard-{shard}"))
                .await
                .ok()
                .and_then(|l| l.spec?.holder_identity)
        }
    };
    eventually(Duration::from_secs(30), || async {
        matches!((holder(0).await, holder(1).await), (Some(x), Some(y)) if x != y)
    })
    .await
    .expect("each replica holds one shard");
    let owner = holder(shard_of(ns, "big", 2)).await.unwrap();

    Api::<ApplicationSet>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &big_set(ns, "big", "r0"))
        .await
        .unwrap();
    eventually(Duration::from_secs(60), || async {
        generated(&client, ns, "big", "r0").await.1 >= 100
    })
    .await
    .expect("the owner creates Applications");
    // kill -9, in the middle of the reconcile.
    drop(replicas.remove(&owner));
    let at_kill = generated(&client, ns, "big", "r0").await.1;
    assert!(at_kill < APPS, "killed mid-way: {at_kill} of {APPS} existed");
    converged(&client, ns, "big", "r0", Duration::from_secs(180)).await;

    let writes = audited_writes(&cp.audit_log(), ns);
    assert_no_deletes(&writes);
    let survivor = replicas.keys().next().unwrap().clone();
    let mut created: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for w in writes
        .iter()
        .filter(|w| w.resource == "applications" && w.code == 201)
    {
        created
            .entry(w.name.as_str())
            .or_default()
            .push(w.writer.as_str());
    }
    // Every Application has its 201, but for the one create in flight when the owner was killed
    // (one write at a time): the API server may commit it while the answer it cannot send any
    // more is logged as an error.
    let live: Vec<String> = apps_api(&client, ns)
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|a| a.name_any())
        .collect();
    let interrupted: Vec<&String> = live
        .iter()
        .filter(|name| !created.contains_key(name.as_str()))
        .collect();
    assert!(
        interrupted.len() <= 1
            && interrupted.iter().all(|name| {
                writes
                    .iter()
                    .any(|w| &&w.name == name && w.writer == owner && !(200..300).contains(&w.code))
            }),
        "every Application created with a 201 but the write in flight at the kill: {interrupted:?}"
    );
    assert_eq!(
        created.len() + interrupted.len(),
        APPS,
        "every Application created"
    );
    assert!(
        created.values().all(|by| by.len() == 1),
        "each created once: {:?}",
        created.iter().find(|(_, by)| by.len() > 1)
    );
    let by_survivor = created.values().filter(|by| by[0] == survivor).count();
    assert!(
        by_survivor > 0 && by_survivor < APPS,
        "both replicas created some: the survivor {by_survivor} of {APPS}"
    );
}

/// One `appset run` on a control plane of its own: the API server is stopped for 20 s in the
/// middle of creating 1,000 Applications, then etcd is restarted in the middle of updating them,
/// then the API server restarts while all is quiet so that the watches resume at a
/// resourceVersion its new watch cache no longer has (410 Gone). The process never restarts,
/// every Application ends exactly as generated, none is deleted, and the relist after the
/// expired watches writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_controller_rides_out_a_stopped_api_server_an_etcd_restart_and_expired_watches() {
    let ns = "faults";
    let plane = PrivatePlane::start("faults").await;
    let client = plane.client().await;
    harness::namespace(&client, ns).await;
    let mut solo = replica(
        &plane.kubeconfig(),
        ns,
        "solo",
        &["--concurrent-application-updates", "1"],
    );
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), ns);
    sets.create(&PostParams::default(), &big_set(ns, "big", "r0"))
        .await
        .unwrap();
    eventually(Duration::from_secs(60), || async {
        generated(&client, ns, "big", "r0").await.1 >= 100
    })
    .await
    .expect("the controller creates Applications");

    // The API server goes away for 20 s mid-reconcile.
    plane.stop_api_server();
    tokio::time::sleep(Duration::from_secs(20)).await;
    plane.start_api_server().await;
    converged(&client, ns, "big", "r0", Duration::from_secs(180)).await;
    assert!(
        solo.child.try_wait().unwrap().is_none(),
        "the controller did not exit"
    );

    // etcd restarts mid-reconcile.
    let patch = json!({"spec": big_set(ns, "big", "r1").spec});
    sets.patch("big", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    eventually(Duration::from_secs(60), || async {
        generated(&client, ns, "big", "r1").await.0 >= 100
    })
    .await
    .expect("the controller updates Applications");
    plane.restart_etcd();
    converged(&client, ns, "big", "r1", Duration::from_secs(180)).await;
    assert!(
        solo.child.try_wait().unwrap().is_none(),
        "the controller did not exit"
    );

    // Quiet now. Any write moves etcd's revision past the one the watches last saw; a restarted
    // API server's watch cache starts there, so resuming the watches is answered 410 Gone.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let expired = || {
        http_get(solo.port, "/metrics")
            .and_then(|(_, body)| metric_value(&body, "appset_watch_expired_total"))
            .unwrap_or(0)
    };
    let expired_before = expired();
    let _ = Api::<ConfigMap>::namespaced(client.clone(), "default")
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "bump"}})).unwrap(),
        )
        .await;
    let restarted = jiff::Timestamp::now();
    plane.stop_api_server();
    plane.start_api_server().await;
    eventually(Duration::from_secs(60), || async { expired() > expired_before })
        .await
        .expect("the watches expired and were listed again");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let writes = audited_writes(&plane.audit_log(), ns);
    let after: Vec<&AuditedWrite> = writes
        .iter()
        .filter(|w| w.writer == "solo" && w.start >= restarted)
        .collect();
    assert!(after.is_empty(), "the relist wrote: {after:?}");
    assert_no_deletes(&writes);
    assert!(
        solo.child.try_wait().unwrap().is_none(),
        "the controller did not exit"
    );
    assert_eq!(generated(&client, ns, "big", "r1").await, (APPS, APPS));
}
