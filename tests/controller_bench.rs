//! Controller benchmarks on the real control plane (ignored by `cargo test`; results in
//! BENCHMARKS.md). Run with:
//!
//! ```sh
//! tests/control-plane/provision.sh && cargo test --release --test controller_bench -- --ignored --nocapture --test-threads=1
//! ```

mod harness;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use appset::{
    ApplicationSet,
    controller::{self, Config},
    server::Metrics,
};
use harness::{client, counting_client, eventually, install_crds, namespace};
use kube::{
    Api, Client,
    api::{DynamicObject, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;

fn appset(ns: &str, n: usize) -> ApplicationSet {
    let elements: Vec<_> = (0..n).map(|i| json!({"cluster": format!("c{i:05}")})).collect();
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "bench", "namespace": ns},
        "spec": {
            "generators": [{"list": {"elements": elements}}],
            "template": {
                "metadata": {"name": "{{cluster}}-guestbook", "labels": {"team": "web"}},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": "https://github.com/argoproj/argocd-example-apps.git", "path": "guestbook/{{cluster}}", "targetRevision": "HEAD"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "{{cluster}}"},
                    "syncPolicy": {"syncOptions": ["CreateNamespace=true"]}
                }
            }
        }
    }))
    .unwrap()
}

async fn count(client: &Client, ns: &str) -> usize {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &controller::application_resource());
    api.list_metadata(&ListParams::default())
        .await
        .map(|l| l.items.len())
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored"]
async fn bench_1000_applications_against_kubectl_server_side_apply_and_a_no_op_reconcile() {
    const N: usize = 1000;
    let client = client().await;
    install_crds(&client).await;
    let (ours, peer) = ("bench-appset", "bench-kubectl");
    namespace(&client, ours).await;
    namespace(&client, peer).await;
    let cp = harness::control_plane();

    // Peer: the same 1000 Applications, rendered by `appset render`, applied with kubectl.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("set.yaml");
    std::fs::write(&file, serde_saphyr::to_string(&appset(peer, N)).unwrap()).unwrap();
    let rendered = std::process::Command::new(env!("CARGO_BIN_EXE_appset"))
        .arg("render")
        .arg(&file)
        .output()
        .unwrap();
    assert!(rendered.status.success());
    let manifests = dir.path().join("apps.yaml");
    std::fs::write(&manifests, &rendered.stdout).unwrap();
    let t = Instant::now();
    let out = std::process::Command::new(cp.bin.join("kubectl"))
        .arg("--kubeconfig")
        .arg(&cp.kubeconfig)
        .args(["apply", "--server-side", "--field-manager=bench", "-f"])
        .arg(&manifests)
        .output()
        .unwrap();
    let kubectl = t.elapsed();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(count(&client, peer).await, N);

    // appset: create the ApplicationSet, time until all Applications exist.
    let writes = Arc::new(AtomicU64::new(0));
    let metrics = Arc::new(Metrics::default());
    let counted = counting_client(writes.clone()).await;
    let config = Config {
        namespaces: vec![ours.into()],
        controller_namespace: ours.into(),
        git_cache_dir: dir.path().join("git"),
        ..Config::default()
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let m = metrics.clone();
    let task = tokio::spawn(async move { controller::run_with(counted, config, m, Some(tx)).await });
    rx.await.unwrap();
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), ours);
    let t = Instant::now();
    sets.create(&PostParams::default(), &appset(ours, N))
        .await
        .unwrap();
    eventually(Duration::from_secs(300), || async {
        count(&client, ours).await == N
    })
    .await
    .expect("all applied");
    let controller_time = t.elapsed();
    println!(
        "1000 Applications: appset {:.2} s from create to all applied; kubectl apply --server-side {:.2} s; ratio {:.2}",
        controller_time.as_secs_f64(),
        kubectl.as_secs_f64(),
        controller_time.as_secs_f64() / kubectl.as_secs_f64()
    );

    // No-op reconcile: poke the ApplicationSet, wait for the reconcile, count writes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (before, reconciles) = (writes.load(Ordering::SeqCst), metrics_reconciles(&metrics));
    let t = Instant::now();
    sets.patch(
        "bench",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"annotations": {"poke": "1"}}})),
    )
    .await
    .unwrap();
    eventually(Duration::from_secs(30), || async {
        metrics_reconciles(&metrics) > reconciles
    })
    .await
    .expect("reconciled");
    let noop = t.elapsed();
    let extra = writes.load(Ordering::SeqCst) - before;
    println!(
        "no-op reconcile of 1000 Applications: {:.0} ms (poke to reconcile done), {extra} writes",
        noop.as_secs_f64() * 1000.0
    );
    task.abort();
    assert_eq!(extra, 0, "a no-op reconcile writes nothing");
}

fn metrics_reconciles(m: &Metrics) -> u64 {
    m.encode()
        .lines()
        .find(|l| l.starts_with("appset_reconciles_total "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored"]
async fn bench_resident_memory_with_10000_owned_applications() {
    const N: usize = 10_000;
    let client = client().await;
    install_crds(&client).await;
    let ns = "bench-memory";
    namespace(&client, ns).await;
    let cp = harness::control_plane();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_appset"))
        .args([
            "run",
            "--namespaces",
            ns,
            "--controller-namespace",
            ns,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("KUBECONFIG", &cp.kubeconfig)
        .env("APPSET_GIT_CACHE", dir.path())
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), ns);
    let t = Instant::now();
    sets.create(&PostParams::default(), &appset(ns, N)).await.unwrap();
    let done = eventually(Duration::from_secs(600), || async {
        count(&client, ns).await == N
    })
    .await;
    let took = t.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss, hwm) = rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    done.expect("10000 Applications applied");
    println!(
        "10000 owned Applications: resident memory {:.1} MiB (peak {:.1} MiB); all applied in {:.1} s",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        took.as_secs_f64()
    );
    assert!(rss > 0);
}
