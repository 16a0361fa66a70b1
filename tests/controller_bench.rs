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
    metrics::Metrics,
};
use futures::StreamExt;
use harness::{
    apps_api, client, counting_client, eventually, free_port, install_crds, namespace, reconciles,
};
use kube::{
    Api, Client,
    api::{ListParams, Patch, PatchParams, PostParams},
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
    apps_api(client, ns)
        .list_metadata(&ListParams::default())
        .await
        .map(|l| l.items.len())
        .unwrap_or(0)
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// CPU seconds used by the control plane's processes and by this test process.
fn cpu_snapshot() -> Vec<(&'static str, f64)> {
    let mut out: Vec<_> = harness::control_plane()
        .pids
        .iter()
        .map(|(name, pid)| (*name, cpu_seconds(*pid)))
        .collect();
    out.push(("appset (test process)", cpu_seconds(std::process::id())));
    out
}

fn cpu_delta(before: &[(&'static str, f64)]) -> String {
    cpu_snapshot()
        .iter()
        .zip(before)
        .map(|((name, after), (_, b))| format!("{name} {:.2} s", after - b))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Run `action` and time it until a watch on `ns` has seen `n` Applications: (all seen, first
/// seen). The watch is established (its initial list done) before `action` starts, and both tools
/// are timed this way, so both pay for the watch the same.
async fn until_watched(
    client: &Client,
    ns: &str,
    n: usize,
    action: impl std::future::Future<Output = ()>,
) -> (Duration, Duration) {
    use kube::runtime::watcher::{self, Event};
    let mut events = std::pin::pin!(watcher::watcher(apps_api(client, ns), watcher::Config::default()));
    loop {
        match events.next().await.expect("watch").expect("watch event") {
            Event::InitDone => break,
            _ => continue,
        }
    }
    let t = Instant::now();
    let mut seen = std::collections::HashSet::new();
    let mut first = Duration::ZERO;
    let watch = async {
        while seen.len() < n {
            if let Event::Apply(app) | Event::InitApply(app) =
                events.next().await.expect("watch").expect("watch event")
            {
                seen.insert(app.metadata.name.unwrap_or_default());
                if seen.len() == 1 {
                    first = t.elapsed();
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(300), futures::future::join(action, watch))
        .await
        .expect("all applied");
    (t.elapsed(), first)
}

/// `appset run` (the binary under test) in its own process, serving `ns` with `extra` flags, on a
/// free loopback port: (the process, its port, its git cache directory, removed when dropped).
fn appset_run(ns: &str, extra: &[&str]) -> (std::process::Child, u16, tempfile::TempDir) {
    let cp = harness::control_plane();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_appset"))
        .args(["run", "--namespaces", ns, "--controller-namespace", ns])
        .args(extra)
        .args(["--listen", &listen])
        .env("KUBECONFIG", &cp.kubeconfig)
        .env("APPSET_GIT_CACHE", dir.path())
        // As in a pod: sharded replicas advertise http://POD_IP:PORT to forward webhooks.
        .env("POD_IP", "127.0.0.1")
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    (child, port, dir)
}

/// The `/proc/PID/status` fields `names` (in KiB), in order; 0 for one not there.
fn status_kib<const N: usize>(pid: u32, names: [&str; N]) -> [u64; N] {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    names.map(|name| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    })
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let [rss, hwm] = status_kib(pid, ["VmRSS:", "VmHWM:"]);
    (rss, hwm)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored"]
async fn bench_1000_applications_against_kubectl_server_side_apply_and_a_no_op_reconcile() {
    const N: usize = 1000;
    const ROUNDS: usize = 5;
    let client = client().await;
    install_crds(&client).await;
    let cp = harness::control_plane();
    let dir = tempfile::tempdir().unwrap();
    // The peer's input: the same Applications, rendered by `appset render`.
    let render = |ns: &str, n: usize| {
        let file = dir.path().join(format!("{ns}.set.yaml"));
        std::fs::write(&file, serde_saphyr::to_string(&appset(ns, n)).unwrap()).unwrap();
        let rendered = std::process::Command::new(env!("CARGO_BIN_EXE_appset"))
            .arg("render")
            .arg(&file)
            .output()
            .unwrap();
        assert!(rendered.status.success());
        let manifests = dir.path().join(format!("{ns}.apps.yaml"));
        std::fs::write(&manifests, &rendered.stdout).unwrap();
        manifests
    };
    let kubectl_apply = |file: std::path::PathBuf| async move {
        let out = tokio::process::Command::new(cp.bin.join("kubectl"))
            .arg("--kubeconfig")
            .arg(&cp.kubeconfig)
            .args(["apply", "--server-side", "--field-manager=bench", "-f"])
            .arg(file)
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    // Warm the API server up first (the Application CRD's handler and type converters are built
    // on first use): 100 Applications in another namespace, not timed.
    namespace(&client, "bench-warmup").await;
    kubectl_apply(render("bench-warmup", 100)).await;

    let mut ratios = Vec::new();
    for round in 0..ROUNDS {
        let (ours, peer) = (format!("bench-appset-{round}"), format!("bench-kubectl-{round}"));
        namespace(&client, &ours).await;
        namespace(&client, &peer).await;

        // Peer: kubectl applies the rendered manifests (one request per Application).
        let manifests = render(&peer, N);
        let cpu = cpu_snapshot();
        let (kubectl, _) = until_watched(&client, &peer, N, kubectl_apply(manifests)).await;
        let kubectl_cpu = cpu_delta(&cpu);
        assert_eq!(count(&client, &peer).await, N);

        // appset: a controller for this round's namespace only; create the ApplicationSet and
        // time until all Applications exist.
        let writes = Arc::new(AtomicU64::new(0));
        let metrics = Arc::new(Metrics::default());
        let counted = counting_client(writes.clone()).await;
        let config = Config {
            namespaces: vec![ours.clone()],
            controller_namespace: ours.clone(),
            git_cache_dir: dir.path().join("git"),
            ..Config::default()
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let m = metrics.clone();
        let task = tokio::spawn(async move { controller::run_with(counted, config, m, Some(tx)).await });
        rx.await.unwrap();
        let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), &ours);
        let cpu = cpu_snapshot();
        let (controller_time, first) = until_watched(&client, &ours, N, async {
            sets.create(&PostParams::default(), &appset(&ours, N))
                .await
                .unwrap();
        })
        .await;
        let appset_cpu = cpu_delta(&cpu);
        assert_eq!(count(&client, &ours).await, N);
        let ratio = controller_time.as_secs_f64() / kubectl.as_secs_f64();
        ratios.push(ratio);
        println!(
            "round {round}: 1000 Applications: appset {:.2} s from create to all applied (first after {:.0} ms); \
             kubectl apply --server-side {:.2} s; ratio {ratio:.2}",
            controller_time.as_secs_f64(),
            first.as_secs_f64() * 1000.0,
            kubectl.as_secs_f64(),
        );
        println!("  CPU during kubectl: {kubectl_cpu} (kubectl itself not counted)");
        println!("  CPU during appset:  {appset_cpu}");

        if round + 1 == ROUNDS {
            // No-op reconcile: poke the ApplicationSet, wait for the reconcile, count writes.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let (before, reconciled) = (writes.load(Ordering::SeqCst), reconciles(&metrics));
            let t = Instant::now();
            sets.patch(
                "bench",
                &PatchParams::default(),
                &Patch::Merge(&json!({"metadata": {"annotations": {"poke": "1"}}})),
            )
            .await
            .unwrap();
            eventually(Duration::from_secs(30), || async {
                reconciles(&metrics) > reconciled
            })
            .await
            .expect("reconciled");
            let noop = t.elapsed();
            let extra = writes.load(Ordering::SeqCst) - before;
            println!(
                "no-op reconcile of 1000 Applications: {:.0} ms (poke to reconcile done), {extra} writes",
                noop.as_secs_f64() * 1000.0
            );
            assert_eq!(extra, 0, "a no-op reconcile writes nothing");
        }
        task.abort();
        let _ = task.await;
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "ratio appset / kubectl over {ROUNDS} rounds: median {:.2} (min {:.2}, max {:.2})",
        ratios[ROUNDS / 2],
        ratios[0],
        ratios[ROUNDS - 1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored"]
async fn bench_resident_memory_with_10000_owned_applications() {
    const N: usize = 10_000;
    let client = client().await;
    install_crds(&client).await;
    let ns = "bench-memory";
    namespace(&client, ns).await;
    let (mut child, _port, _dir) = appset_run(ns, &[]);
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

/// 300 Applications, 100 per env, with automated sync (disabled by the rollout) and three
/// RollingSync steps: dev 10 at a time, staging 50%, prod all at once.
fn rollout_set(ns: &str) -> ApplicationSet {
    let elements: Vec<_> = ["dev", "staging", "prod"]
        .iter()
        .flat_map(|env| (0..100).map(move |i| json!({"name": format!("{env}-{i:03}"), "env": env})))
        .collect();
    let step = |env: &str, max: serde_json::Value| json!({"matchExpressions": [{"key": "env", "operator": "In", "values": [env]}], "maxUpdate": max});
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "bench", "namespace": ns},
        "spec": {
            "generators": [{"list": {"elements": elements}}],
            "strategy": {"type": "RollingSync", "rollingSync": {"steps": [
                step("dev", json!(10)), step("staging", json!("50%")), step("prod", json!("100%"))
            ]}},
            "template": {
                "metadata": {"name": "{{name}}", "labels": {"env": "{{env}}"}},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": "https://github.com/argoproj/argocd-example-apps.git", "path": "guestbook/{{name}}", "targetRevision": "HEAD"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "{{name}}"},
                    "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]}
                }
            }
        }
    }))
    .unwrap()
}

/// Wait (bounded) until the set's 300 statuses are Healthy and the rollout is complete.
async fn until_rolled_out(client: &Client, ns: &str, n: usize) -> Duration {
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), ns);
    let t = Instant::now();
    let done = eventually(Duration::from_secs(120), || async {
        let status = sets
            .get("bench")
            .await
            .ok()
            .and_then(|s| s.status)
            .unwrap_or_default();
        status.application_status.len() == n
            && status.application_status.iter().all(|s| s.status == "Healthy")
            && status
                .conditions
                .iter()
                .any(|c| c.type_ == "RolloutProgressing" && c.status == "False")
    })
    .await;
    if done.is_err() {
        let status = sets
            .get("bench")
            .await
            .ok()
            .and_then(|s| s.status)
            .unwrap_or_default();
        let stuck: Vec<_> = status
            .application_status
            .iter()
            .filter(|s| s.status != "Healthy")
            .take(5)
            .collect();
        let mut live = Vec::new();
        for s in &stuck {
            if let Ok(a) = apps_api(client, ns).get(&s.application).await {
                live.push((
                    a.metadata.generation,
                    a.data.get("operation").cloned(),
                    a.data.get("status").cloned(),
                ));
            }
        }
        panic!(
            "rollout not complete: {} statuses, conditions {:#?}, not Healthy (first 5): {stuck:#?}, live: {live:#?}",
            status.application_status.len(),
            status.conditions
        );
    }
    t.elapsed()
}

/// Progressive sync of 300 Applications in 3 steps against the stand-in for Argo CD's
/// application controller with no sync delay: the rollout's time, the writes appset sends per
/// Application (in process, through a client that logs every write), then the controller's CPU
/// seconds (`appset run` in its own process, the stand-in in the test process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored"]
async fn bench_rollout_of_300_applications_in_3_steps() {
    use harness::argo_app_controller::{self as argo, Options};
    const N: usize = 300;
    let client = client().await;
    install_crds(&client).await;
    let no_delay = || Options {
        sync_delay: Duration::ZERO,
        health_delay: Duration::ZERO,
        ..Options::default()
    };

    // Writes, in process.
    let ns = "bench-rollout-writes";
    namespace(&client, ns).await;
    let player = argo::start(client.clone(), ns, no_delay());
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let logged = harness::logging_client(log.clone()).await;
    let config = Config {
        namespaces: vec![ns.to_string()],
        controller_namespace: ns.to_string(),
        progressive_syncs: true,
        ..Config::default()
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let running = tokio::spawn(controller::run_with(
        logged,
        config,
        Arc::new(Metrics::default()),
        Some(tx),
    ));
    rx.await.expect("controller ready");
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), ns);
    sets.create(&PostParams::default(), &rollout_set(ns))
        .await
        .unwrap();
    let took_in_process = until_rolled_out(&client, ns, N).await;
    running.abort();
    drop(player);
    let log = log.lock().unwrap().clone();
    let apps_prefix = format!("/apis/argoproj.io/v1alpha1/namespaces/{ns}/applications/");
    let mut per_app: std::collections::BTreeMap<String, usize> = Default::default();
    let (mut set_writes, mut events, mut other) = (0, 0, Vec::new());
    for entry in &log {
        let path = entry.split_once(' ').map(|(_, p)| p).unwrap_or_default();
        if let Some(name) = path.strip_prefix(&apps_prefix) {
            *per_app.entry(name.to_string()).or_default() += 1;
        } else if path.contains("/applicationsets/") {
            set_writes += 1;
        } else if path.contains("/events") {
            events += 1;
        } else {
            other.push(entry.clone());
        }
    }
    let app_writes: usize = per_app.values().sum();
    let max = per_app.values().max().copied().unwrap_or(0);
    println!(
        "rollout of {N} Applications in 3 steps (dev 10 at a time, staging 50%, prod 100%), stand-in sync delay 0:\n  \
         in process: {:.2} s from create to rollout complete\n  \
         Application writes: {app_writes} for {} Applications = {:.2} per Application (max {max}); \
         ApplicationSet writes (status, finalizer): {set_writes}; Events: {events}; other: {other:?}",
        took_in_process.as_secs_f64(),
        per_app.len(),
        app_writes as f64 / per_app.len().max(1) as f64,
    );
    assert_eq!(per_app.len(), N);
    assert!(max <= 3, "at most 3 writes per Application");

    // CPU, with the controller in its own process.
    let ns = "bench-rollout-cpu";
    namespace(&client, ns).await;
    let player = argo::start(client.clone(), ns, no_delay());
    let (mut child, port, _dir) = appset_run(ns, &["--enable-progressive-syncs"]);
    // Ready: its /readyz answers.
    let ready = eventually(Duration::from_secs(30), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
    })
    .await;
    ready.expect("appset run listening");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu_before = cpu_seconds(child.id());
    let before = cpu_snapshot();
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), ns);
    sets.create(&PostParams::default(), &rollout_set(ns))
        .await
        .unwrap();
    let took = until_rolled_out(&client, ns, N).await;
    let cpu = cpu_seconds(child.id()) - cpu_before;
    let others = cpu_delta(&before);
    let _ = child.kill();
    let _ = child.wait();
    drop(player);
    println!(
        "  own process: {:.2} s from create to rollout complete; appset run used {cpu:.2} CPU-seconds \
         ({:.1} ms per Application); meanwhile {others} (the test process runs the stand-in)",
        took.as_secs_f64(),
        cpu * 1000.0 / N as f64
    );
}

// ---- scale: 1,000 ApplicationSets, 10,000 Applications --------------------------------------

/// Sets of the scale benchmark: a third each list, cluster and git directories generators.
const SCALE_SETS: usize = 1000;
/// Applications per set.
const PER_SET: usize = 10;
/// Cluster Secret groups (a cluster set selects one group of [`PER_SET`] clusters).
const GROUPS: usize = 33;
/// The webhook secret of the scale benchmark's replicas.
const SCALE_SECRET: &str = "scale-bench-secret";

/// Set `k` of the scale benchmark, generating [`PER_SET`] Applications `sKKKK-...`.
fn scale_set(ns: &str, k: usize, url: &str) -> ApplicationSet {
    let name = format!("s{k:04}");
    let (generator, suffix, revision) = match k % 3 {
        0 => (
            json!({"list": {"elements": (0..PER_SET).map(|j| json!({"e": format!("e{j}"), "rev": "r0"})).collect::<Vec<_>>()}}),
            "{{e}}",
            "{{rev}}",
        ),
        1 => (
            json!({"clusters": {"selector": {"matchLabels": {"group": format!("g{}", (k / 3) % GROUPS)}}}}),
            "{{name}}",
            "HEAD",
        ),
        _ => (
            json!({"git": {"repoURL": url, "revision": "HEAD", "directories": [{"path": format!("apps/{name}/*")}], "requeueAfterSeconds": 3600}}),
            "{{path.basename}}",
            "HEAD",
        ),
    };
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "generators": [generator],
            "template": {
                "metadata": {"name": format!("{name}-{suffix}"), "labels": {"set": name}},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": "https://git.example.com/apps.git", "path": format!("{name}/{suffix}"), "targetRevision": revision},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": name}
                }
            }
        }
    }))
    .unwrap()
}

/// Cluster `name` in group `group`.
fn scale_cluster(name: &str, group: usize) -> k8s_openapi::api::core::v1::Secret {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"argocd.argoproj.io/secret-type": "cluster", "group": format!("g{group}")}},
        "stringData": {"name": name, "server": format!("https://{name}.example.com")}
    }))
    .unwrap()
}

/// A replica of the scale benchmark: `appset run` with webhooks, as `identity`.
fn scale_replica(ns: &str, identity: &str, extra: &[&str]) -> (std::process::Child, u16, tempfile::TempDir) {
    let mut args = vec!["--identity", identity, "--webhook-secret", SCALE_SECRET];
    args.extend_from_slice(extra);
    appset_run(ns, &args)
}

/// Percentile `p` (0-100) of sorted durations.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[((sorted.len() * p).div_ceil(100)).clamp(1, sorted.len()) - 1]
}

/// Reconciles counted by the replicas on `ports`.
fn replica_reconciles(ports: &[u16]) -> u64 {
    ports
        .iter()
        .filter_map(|p| harness::http_get(*p, "/metrics"))
        .filter_map(|(_, body)| harness::metric_value(&body, "appset_reconciles_total"))
        .sum()
}

/// Wait until the replicas have reconciled nothing for 3 s (bounded: 5 minutes).
async fn quiet(ports: &[u16]) {
    let mut last = (replica_reconciles(ports), Instant::now());
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = replica_reconciles(ports);
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(3) {
            return;
        }
    }
    panic!("the replicas never went quiet");
}

/// One kind of change, measured `samples` times: latency p50/p99, and per change the writes of
/// appset (Applications, ApplicationSets) and its CPU seconds.
struct ChangeReport {
    kind: &'static str,
    latencies: Vec<Duration>,
    app_writes: Vec<usize>,
    set_writes: Vec<usize>,
    cpu: Vec<f64>,
}

impl std::fmt::Display for ChangeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut l = self.latencies.clone();
        l.sort();
        let n = l.len();
        let mean = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len().max(1) as f64;
        write!(
            f,
            "{:<22} n={n}: p50 {:>6.0} ms, p99 {:>6.0} ms (max of {n}); appset writes per change: {:.1} Applications, {:.1} ApplicationSet status; appset CPU {:.3} s per change",
            self.kind,
            percentile(&l, 50).as_secs_f64() * 1000.0,
            percentile(&l, 99).as_secs_f64() * 1000.0,
            mean(&self.app_writes),
            mean(&self.set_writes),
            self.cpu.iter().sum::<f64>() / self.cpu.len().max(1) as f64,
        )
    }
}

/// Wait until every Application of `want` exists with `spec.source.targetRevision` as given.
async fn until_applications(client: &Client, ns: &str, want: &[(String, String)]) -> Duration {
    let apps = apps_api(client, ns);
    let t = Instant::now();
    let mut left: Vec<&(String, String)> = want.iter().collect();
    while !left.is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "not applied in 2 minutes: {left:?}"
        );
        let mut still = Vec::new();
        for w in left {
            let ok =
                apps.get_opt(&w.0).await.ok().flatten().is_some_and(|a| {
                    a.data["spec"]["source"]["targetRevision"].as_str() == Some(w.1.as_str())
                });
            if !ok {
                still.push(w);
            }
        }
        left = still;
        if !left.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    t.elapsed()
}

/// The changes of the scale benchmark against running replicas (`pids`, webhook on `ports[0]`):
/// `samples` of each kind.
#[allow(clippy::too_many_arguments)]
async fn measure_changes(
    client: &Client,
    ns: &str,
    repo: &std::path::Path,
    url: &str,
    pids: &[u32],
    ports: &[u16],
    samples: usize,
    round: usize,
) -> Vec<ChangeReport> {
    let audit = harness::control_plane().audit_log();
    let cpu = || pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>();
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), ns);
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), ns);
    let mut reports = Vec::new();
    for kind in [
        "ApplicationSet edited",
        "cluster Secret added",
        "git push + webhook",
    ] {
        let mut r = ChangeReport {
            kind,
            latencies: Vec::new(),
            app_writes: Vec::new(),
            set_writes: Vec::new(),
            cpu: Vec::new(),
        };
        for i in 0..samples {
            let tag = format!("x{round}n{i}");
            let started = jiff::Timestamp::now();
            let cpu0 = cpu();
            let latency = match kind {
                "ApplicationSet edited" => {
                    // A list set: its first element's revision changes (one Application).
                    let k = 3 * ((round * samples + i) * 7 % (SCALE_SETS / 3));
                    let mut set = scale_set(ns, k, url);
                    set.spec.generators = serde_json::from_value(json!([{"list": {"elements": (0..PER_SET)
                        .map(|j| json!({"e": format!("e{j}"), "rev": if j == 0 { tag.clone() } else { "r0".into() }}))
                        .collect::<Vec<_>>()}}]))
                    .unwrap();
                    let t = Instant::now();
                    sets.patch(
                        &format!("s{k:04}"),
                        &PatchParams::default(),
                        &Patch::Merge(&json!({"spec": set.spec})),
                    )
                    .await
                    .unwrap();
                    until_applications(client, ns, &[(format!("s{k:04}-e0"), tag.clone())]).await;
                    t.elapsed()
                }
                "cluster Secret added" => {
                    // A new cluster in one group: the ~10 sets selecting it each get an Application.
                    let group = (round * samples + i) % GROUPS;
                    let cluster = format!("c{group:02}-{tag}");
                    let want: Vec<(String, String)> = (0..SCALE_SETS)
                        .filter(|k| k % 3 == 1 && (k / 3) % GROUPS == group)
                        .map(|k| (format!("s{k:04}-{cluster}"), "HEAD".to_string()))
                        .collect();
                    let t = Instant::now();
                    secrets
                        .create(&PostParams::default(), &scale_cluster(&cluster, group))
                        .await
                        .unwrap();
                    until_applications(client, ns, &want).await;
                    t.elapsed()
                }
                _ => {
                    // A new directory under one git set's path, pushed, and GitHub's push event.
                    let k = 3 * ((round * samples + i) * 11 % (SCALE_SETS / 3)) + 2;
                    harness::git::commit_dirs(repo, &[&format!("apps/s{k:04}/{tag}")], &tag);
                    let body = json!({
                        "ref": "refs/heads/main",
                        "after": harness::git::git(repo, &["rev-parse", "HEAD"]),
                        "repository": {"name": "gitops", "full_name": "org/gitops", "clone_url": url,
                                       "html_url": url.replace("git://", "http://"), "default_branch": "main"}
                    })
                    .to_string();
                    let t = Instant::now();
                    let signature = appset::webhook::sign(SCALE_SECRET.as_bytes(), body.as_bytes());
                    let status = std::process::Command::new("curl")
                        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
                        .args([
                            "-H",
                            "X-GitHub-Event: push",
                            "-H",
                            "Content-Type: application/json",
                        ])
                        .args(["-H", &format!("X-Hub-Signature-256: {signature}")])
                        .args(["--data-binary", &body])
                        .arg(format!("http://127.0.0.1:{}/api/webhook", ports[0]))
                        .output()
                        .unwrap();
                    assert_eq!(String::from_utf8_lossy(&status.stdout), "200", "webhook accepted");
                    until_applications(client, ns, &[(format!("s{k:04}-{tag}"), "HEAD".to_string())]).await;
                    t.elapsed()
                }
            };
            r.latencies.push(latency);
            // The rest of the change (status patches, the other sets a trigger reached).
            quiet(ports).await;
            r.cpu.push(cpu() - cpu0);
            let writes: Vec<_> = harness::audited_writes(&audit, ns)
                .into_iter()
                .filter(|w| w.start >= started && w.writer.starts_with("scale-"))
                .collect();
            r.app_writes
                .push(writes.iter().filter(|w| w.resource == "applications").count());
            r.set_writes
                .push(writes.iter().filter(|w| w.resource == "applicationsets").count());
        }
        reports.push(r);
    }
    reports
}

/// 1,000 ApplicationSets (a third each list, cluster and git directories generators) owning
/// 10,000 Applications, reconciled by 1 and then 3 replicas (`--shards auto`): from a change (a
/// set edited, a cluster Secret added, a git push with its webhook) to the Applications updated,
/// with appset's API writes and CPU seconds per change, its CPU in an idle minute, and its
/// resident memory. Writes are read from the API server's audit log (by User-Agent).
/// The scale benchmarks' world, in one namespace: [`SCALE_SETS`] sets of [`PER_SET`]
/// Applications each (a third list sets, a third cluster sets over [`GROUPS`] groups of cluster
/// Secrets, a third git directory sets of one repository served by `git daemon`), and the one
/// replica (unsharded) that created the Applications, quiet and still running.
struct ScaleWorld {
    _dir: tempfile::TempDir,
    _daemon: harness::git::GitDaemon,
    /// The git repository's work tree.
    repo: std::path::PathBuf,
    /// Its `git://` URL.
    url: String,
    /// The replica that created everything: (process, port, git cache).
    creator: (std::process::Child, u16, tempfile::TempDir),
}

async fn scale_world(client: &Client, ns: &str) -> ScaleWorld {
    install_crds(client).await;
    namespace(client, ns).await;
    // The git repository: ten directories under each git set's path.
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("gitops");
    let dirs: Vec<String> = (0..SCALE_SETS)
        .filter(|k| k % 3 == 2)
        .flat_map(|k| (0..PER_SET).map(move |j| format!("apps/s{k:04}/d{j}")))
        .collect();
    harness::git::init_with_dirs(&repo, &dirs.iter().map(String::as_str).collect::<Vec<_>>());
    let daemon = harness::git::GitDaemon::start(dir.path());
    let url = format!("git://127.0.0.1:{}/gitops", daemon.port);
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), ns);
    for g in 0..GROUPS {
        for j in 0..PER_SET {
            secrets
                .create(&PostParams::default(), &scale_cluster(&format!("c{g:02}-{j}"), g))
                .await
                .unwrap();
        }
    }
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), ns);

    // One replica creates everything.
    let (one, port, cache) = scale_replica(ns, "scale-0", &[]);
    eventually(Duration::from_secs(30), || async {
        harness::http_get(port, "/readyz").is_some_and(|(c, _)| c == 200)
    })
    .await
    .expect("ready");
    let t = Instant::now();
    for k in 0..SCALE_SETS {
        sets.create(&PostParams::default(), &scale_set(ns, k, &url))
            .await
            .unwrap();
    }
    eventually(Duration::from_secs(900), || async {
        count(client, ns).await == SCALE_SETS * PER_SET
    })
    .await
    .expect("10,000 Applications");
    quiet(&[port]).await;
    println!(
        "setup: {} sets, {} Applications created by one replica in {:.1} s",
        SCALE_SETS,
        SCALE_SETS * PER_SET,
        t.elapsed().as_secs_f64()
    );
    ScaleWorld {
        _dir: dir,
        _daemon: daemon,
        repo,
        url,
        creator: (one, port, cache),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored"]
async fn bench_scale_1000_sets_10000_applications_change_latency_on_1_and_3_replicas() {
    const SAMPLES: usize = 10;
    let client = client().await;
    let ns = "bench-scale";
    let world = scale_world(&client, ns).await;
    let (repo, url) = (&world.repo, &world.url);
    let (mut one, port, _cache) = world.creator;
    for (label, replicas) in [("1 replica", 1usize), ("3 replicas (--shards auto)", 3)] {
        let mut children = Vec::new();
        if replicas == 1 {
            children.push((one.id(), port));
        } else {
            let _ = one.kill();
            let _ = one.wait();
        }
        let mut kept = Vec::new();
        if replicas > 1 {
            for r in 0..replicas {
                let (child, port, cache) =
                    scale_replica(ns, &format!("scale-{}", r + 1), &["--shards", "auto"]);
                children.push((child.id(), port));
                kept.push((child, cache));
            }
            let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client.clone(), ns);
            eventually(Duration::from_secs(120), || async {
                let mut held = std::collections::BTreeMap::<String, usize>::new();
                for l in leases
                    .list(&ListParams::default())
                    .await
                    .map(|l| l.items)
                    .unwrap_or_default()
                {
                    if l.metadata.name.as_deref().is_some_and(|n| n.contains("-shard-"))
                        && let Some(h) = l.spec.and_then(|s| s.holder_identity)
                    {
                        *held.entry(h).or_default() += 1;
                    }
                }
                held.len() == replicas && held.values().all(|&n| n == 12 / replicas)
            })
            .await
            .expect("the shards spread evenly");
        }
        let pids: Vec<u32> = children.iter().map(|c| c.0).collect();
        let ports: Vec<u16> = children.iter().map(|c| c.1).collect();
        for p in &ports {
            eventually(Duration::from_secs(60), || async {
                harness::http_get(*p, "/readyz").is_some_and(|(c, _)| c == 200)
            })
            .await
            .expect("ready");
        }
        quiet(&ports).await;
        // Resident memory, and how much of it is the heap (anonymous) and mapped files (the
        // binary's code, git pack files).
        let rss: Vec<String> = pids
            .iter()
            .map(|p| {
                let [rss, anon, files] = status_kib(*p, ["VmRSS:", "RssAnon:", "RssFile:"]);
                let mib = |kib: u64| kib as f64 / 1024.0;
                format!(
                    "{:.1} MiB (anonymous {:.1}, files {:.1})",
                    mib(rss),
                    mib(anon),
                    mib(files)
                )
            })
            .collect();
        let idle0: f64 = pids.iter().map(|p| cpu_seconds(*p)).sum();
        let writes0 = harness::audited_writes(&harness::control_plane().audit_log(), ns).len();
        tokio::time::sleep(Duration::from_secs(60)).await;
        let idle = pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>() - idle0;
        let idle_writes = harness::audited_writes(&harness::control_plane().audit_log(), ns).len() - writes0;
        let cp_before = cpu_snapshot();
        let reports = measure_changes(&client, ns, repo, url, &pids, &ports, SAMPLES, replicas).await;
        println!(
            "{label}: resident memory {}; an idle minute: {idle:.2} CPU s, {idle_writes} writes",
            rss.join(", ")
        );
        for r in &reports {
            println!("  {r}");
        }
        println!("  control plane during the changes: {}", cpu_delta(&cp_before));
        for (mut child, _cache) in kept {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Resident memory of one replica by the share of the sets it holds, with the world of the scale
/// benchmark: all 12 shards of 12 (`--shard 0/1`), one of 12 (`--shard 0/12`), and, as the
/// baseline, a replica serving an empty namespace. The fixed part is what a replica pays for the
/// sets and Applications of the shards it does not hold.
///
/// `APPSET_BENCH_BIN` runs another `appset` binary for the measured replicas (e.g. one built with
/// `--features system-allocator`); `APPSET_BENCH_HEAPTRACK=DIR` runs them under heaptrack and
/// kills them with SIGKILL once measured, so that what is allocated then is reported as leaked
/// (`heaptrack_print DIR/share-1-of-12.zst`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored"]
async fn bench_resident_memory_by_share_of_1000_sets() {
    let client = client().await;
    let ns = "bench-share";
    let empty = "bench-share-empty";
    let world = scale_world(&client, ns).await;
    namespace(&client, empty).await;
    let (mut creator, ..) = world.creator;
    let _ = creator.kill();
    let _ = creator.wait();
    let bin = std::env::var("APPSET_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_appset").to_string());
    let heaptrack = std::env::var("APPSET_BENCH_HEAPTRACK").ok();
    let mut rows = Vec::new();
    for (label, namespace, shard, file) in [
        ("12 of 12 shards", ns, "0/1", "share-12-of-12"),
        ("1 of 12 shards", ns, "0/12", "share-1-of-12"),
        ("an empty namespace", empty, "0/12", "empty"),
    ] {
        let cache = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut command = match &heaptrack {
            Some(dir) => {
                let mut c = std::process::Command::new("heaptrack");
                c.args(["-o", &format!("{dir}/{file}"), &bin]);
                c
            }
            None => std::process::Command::new(&bin),
        };
        let mut child = command
            .args([
                "run",
                "--namespaces",
                namespace,
                "--controller-namespace",
                namespace,
            ])
            .args(["--identity", file, "--shard", shard, "--lease-name", file])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("KUBECONFIG", &harness::control_plane().kubeconfig)
            .env("APPSET_GIT_CACHE", cache.path())
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap();
        eventually(Duration::from_secs(120), || async {
            harness::http_get(port, "/readyz").is_some_and(|(c, _)| c == 200)
        })
        .await
        .expect("ready");
        quiet(&[port]).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        // Under heaptrack, the replica is heaptrack's child: the newest process of its name.
        let pid = match &heaptrack {
            Some(_) => {
                let name: String = bin
                    .rsplit('/')
                    .next()
                    .unwrap_or("appset")
                    .chars()
                    .take(15)
                    .collect();
                let out = std::process::Command::new("pgrep")
                    .args(["-n", "-x", &name])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse()
                    .expect("the replica under heaptrack")
            }
            None => child.id(),
        };
        let [rss, anon, files] = status_kib(pid, ["VmRSS:", "RssAnon:", "RssFile:"]);
        let (_, metrics) = harness::http_get(port, "/metrics").unwrap_or_default();
        let held: u64 = metrics
            .lines()
            .filter(|l| l.starts_with("appset_shard_applicationsets{") && l.contains("held=\"true\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum();
        let apps = harness::metric_value(&metrics, "appset_cached_applications").unwrap_or(0);
        let mib = |kib: u64| kib as f64 / 1024.0;
        rows.push(format!(
            "{label:<20} sets held {held:>4}, Applications cached {apps:>5}: RSS {:.1} MiB (anonymous {:.1}, files {:.1})",
            mib(rss),
            mib(anon),
            mib(files)
        ));
        let _ = std::process::Command::new("kill")
            .args([
                if heaptrack.is_some() { "-KILL" } else { "-TERM" },
                &pid.to_string(),
            ])
            .status();
        for _ in 0..100 {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    for row in rows {
        println!("{row}");
    }
}
