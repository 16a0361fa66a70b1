//! Load test of the templating service: `appset serve` (the release binary, its own process)
//! under concurrent keep-alive clients on 127.0.0.1.
//!
//! ```sh
//! cargo bench --bench serve            # 10 s per load level
//! cargo bench --bench serve -- --quick # 2 s (a smoke run)
//! ```
//!
//! - `POST /v1/render` with the three-cluster list example (`generators/list/three-clusters.yaml`,
//!   YAML in, JSON out): requests per second and latency percentiles, every answer checked.
//! - `POST /api/webhook` with signed `push` events: the controller's webhook endpoint in this
//!   process, over 100 ApplicationSets of which one reads the pushed repository. Every event must
//!   be answered 200 and every refresh must reach the controller's queue (none lost).

use std::{
    path::Path,
    time::{Duration, Instant},
};

use std::sync::Arc;

use appset::{ApplicationSet, sources::GitHub, webhook};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use kube::runtime::{reflector, watcher};

/// One client connection: send `body` to `path` until `until`, returning each request's latency.
async fn client(
    port: u16,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
    until: Instant,
) -> Vec<Duration> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut latencies = Vec::new();
    while Instant::now() < until {
        let mut request = Request::post(path).header("host", "127.0.0.1");
        for (k, v) in &headers {
            request = request.header(*k, v);
        }
        let request = request.body(Full::new(body.clone())).expect("request");
        let started = Instant::now();
        sender.ready().await.expect("connection ready");
        let response = sender.send_request(request).await.expect("send");
        let status = response.status();
        let answer = response.into_body().collect().await.expect("body").to_bytes();
        latencies.push(started.elapsed());
        assert!(
            status.is_success(),
            "{status}: {}",
            String::from_utf8_lossy(&answer)
        );
        assert!(answer.len() > 10);
    }
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Kills the server process however the benchmark ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run `connections` clients against `path` for `seconds`; print and return the request count.
async fn level(
    port: u16,
    path: &'static str,
    headers: &[(&'static str, String)],
    body: &Bytes,
    connections: usize,
    seconds: u64,
) -> usize {
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(client(port, path, headers.to_vec(), body.clone(), until)))
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    println!(
        "  {connections:>2} connections: {:>6.0} requests/s ({} requests), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        all.len() as f64 / elapsed,
        all.len(),
        percentile(&all, 0.50).as_secs_f64() * 1000.0,
        percentile(&all, 0.99).as_secs_f64() * 1000.0,
        all.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    );
    all.len()
}

async fn wait_for_port(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on port {port}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn render_load(seconds: u64) {
    let port = free_port();
    let _server = Server(
        std::process::Command::new(env!("CARGO_BIN_EXE_appset"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("start appset serve"),
    );
    let body = Bytes::from(
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("generators/list/three-clusters.yaml"))
            .unwrap(),
    );
    let headers = vec![("content-type", "application/yaml".to_string())];
    wait_for_port(port).await;
    // Warm up.
    client(
        port,
        "/v1/render",
        headers.clone(),
        body.clone(),
        Instant::now() + Duration::from_millis(500),
    )
    .await;
    println!(
        "POST /v1/render, three-cluster list example, {seconds} s per level (server and client share the machine)"
    );
    for connections in [1, 8, 32] {
        level(port, "/v1/render", &headers, &body, connections, seconds).await;
    }
}

fn git_set(i: usize, repo: &str) -> ApplicationSet {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": format!("set-{i}"), "namespace": "argocd", "uid": format!("uid-{i}")},
        "spec": {"generators": [{"git": {"repoURL": repo, "revision": "HEAD", "directories": [{"path": "*"}]}}],
                 "template": {"metadata": {"name": "{{path.basename}}"}, "spec": {"project": "default"}}}
    }))
    .unwrap()
}

async fn webhook_load(seconds: u64) {
    // 100 ApplicationSets, one of which reads the pushed repository.
    let mut writer = reflector::store::Writer::<ApplicationSet>::default();
    let store = writer.as_reader();
    writer.apply_watcher_event(&watcher::Event::Init);
    for i in 0..100 {
        let repo = if i == 42 {
            "https://github.com/org/gitops.git".to_string()
        } else {
            format!("https://github.com/org/other-{i}.git")
        };
        writer.apply_watcher_event(&watcher::Event::InitApply(git_set(i, &repo)));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    let secret = b"load-test-secret";
    let hooks = webhook::Webhooks::new(Some(secret.to_vec()), Arc::new(GitHub::new(None, Duration::ZERO)));
    let refreshes = hooks.attach(store).expect("attach");
    let received = tokio::spawn(async move {
        use futures::StreamExt;
        let mut refreshes = std::pin::pin!(refreshes);
        let mut n = 0usize;
        while let Ok(Some(r)) = tokio::time::timeout(Duration::from_secs(2), refreshes.next()).await {
            assert_eq!(r.name, "set-42");
            n += 1;
        }
        n
    });
    let metrics = Arc::new(appset::metrics::Metrics::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(appset::health::serve_probes(
        listener,
        metrics,
        Some(webhook::endpoint(hooks.clone())),
    ));
    let body = serde_json::json!({
        "ref": "refs/heads/main",
        "repository": {"name": "gitops", "clone_url": "https://github.com/org/gitops.git",
                       "html_url": "https://github.com/org/gitops", "default_branch": "main"}
    })
    .to_string();
    let headers = vec![
        ("content-type", "application/json".to_string()),
        ("x-github-event", "push".to_string()),
        ("x-hub-signature-256", webhook::sign(secret, body.as_bytes())),
    ];
    let body = Bytes::from(body);
    println!(
        "POST /api/webhook, signed push events, 100 ApplicationSets (one matches), {seconds} s per level (in process)"
    );
    let mut sent = 0;
    for connections in [1, 8, 32] {
        sent += level(port, "/api/webhook", &headers, &body, connections, seconds).await;
    }
    let got = received.await.expect("receiver");
    let stats = hooks.stats();
    println!(
        "  events sent {sent}, accepted {}, rejected {}, refreshes queued {}, refreshes received by the controller's stream {got}",
        stats.accepted, stats.rejected, stats.refreshes
    );
    assert_eq!(
        (stats.accepted as usize, stats.refreshes as usize, got),
        (sent, sent, sent),
        "no event lost"
    );
    server.abort();
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let seconds = if quick { 2 } else { 10 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    appset::install_crypto_provider();
    runtime.block_on(async {
        render_load(seconds).await;
        webhook_load(seconds).await;
    });
}
