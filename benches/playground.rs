//! The playground in headless Chromium: from the last keystroke to the updated Application list,
//! for an ApplicationSet of 1,000 Applications, and the size of what the page downloads.
//!
//! ```sh
//! cargo bench --bench playground             # 40 keystrokes
//! cargo bench --bench playground -- --quick  # 8 (a smoke run)
//! ```
//!
//! `appset serve` is the release binary in its own process; Chromium is Debian's, driven over the
//! DevTools protocol (`tests/harness/browser.rs`). Each keystroke is a real key event into the
//! template's name field, so every one of the 1,000 names changes; the page measures from the
//! keystroke's `input` event to the second animation frame after the new list is in the
//! document (`document.body.dataset.latency`: the list laid out and painted), and marks when
//! each stage ended (request sent, answered, parsed, shown, first frame). The renderer's own
//! work comes from its counters (`Performance.getMetrics`). The same request is also timed alone
//! (`POST /v1/render` from this process, the body the page sends while the Applications tab is
//! open) to split the time between the service and the browser.

use std::{
    io::{Read, Write},
    path::Path,
    process::{Child, Command},
    time::{Duration, Instant},
};

#[path = "../tests/harness/browser.rs"]
#[allow(dead_code)]
mod browser;

use browser::Browser;

const APPLICATIONS: usize = 1000;

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn set_yaml() -> String {
    let mut s = String::from(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: thousand}\nspec:\n  generators:\n  - list:\n      elements:\n",
    );
    for i in 0..APPLICATIONS {
        s.push_str(&format!(
            "      - {{cluster: c{i:04}, url: 'https://10.0.{}.{}'}}\n",
            i / 250,
            i % 250
        ));
    }
    s.push_str(
        "  template:\n    metadata: {name: '{{cluster}}-app'}\n    spec:\n      project: default\n      source: {repoURL: 'https://example.com/apps.git', path: 'apps/{{cluster}}', targetRevision: HEAD}\n      destination: {server: '{{url}}', namespace: apps}\n",
    );
    s
}

/// Resolves with `body.dataset.latency` once the page has painted its answer to the last keystroke
/// (rejects after 30 s).
const WAIT_FOR_LATENCY: &str = "new Promise((resolve, reject) => { \
    const b = document.body; \
    const done = () => b.dataset.latency && b.dataset.busy === 'false' && b.dataset.state === 'ok'; \
    if (done()) return resolve(Number(b.dataset.latency)); \
    const o = new MutationObserver(() => { if (done()) { o.disconnect(); resolve(Number(b.dataset.latency)); } }); \
    o.observe(b, { attributes: true }); \
    setTimeout(() => { o.disconnect(); reject(new Error('no answer within 30 s')); }, 30000); })";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// POST `body` to `path`, the answer's status and length.
fn post(port: u16, path: &str, body: &str) -> (u16, usize) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/yaml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).expect("read");
    let text = String::from_utf8_lossy(&answer);
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body_at = text.find("\r\n\r\n").map_or(0, |i| i + 4);
    (status, answer.len() - body_at)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let keystrokes = if quick { 8 } else { 40 };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _serve = Serve(
        Command::new(env!("CARGO_BIN_EXE_appset"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("HOME", std::env::temp_dir().join("appset-playground-bench-home"))
            .spawn()
            .expect("appset serve"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "appset serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    let assets: Vec<(&str, u64)> = ["index.html", "app.js", "style.css"]
        .iter()
        .map(|f| {
            (
                *f,
                std::fs::metadata(root.join("playground").join(f)).unwrap().len(),
            )
        })
        .collect();
    let total: u64 = assets.iter().map(|(_, n)| n).sum();

    let mut b = Browser::start(1400, 900).expect("headless chromium");
    let p = b.page(&format!("http://127.0.0.1:{port}/")).unwrap();
    b.wait_for(
        &p,
        "document.body.dataset.ready === 'true'",
        Duration::from_secs(20),
    )
    .unwrap();
    let set = set_yaml();
    b.eval(&p, "document.getElementById('inputs-text').value = ''")
        .unwrap();
    // Pasted: the text set at once and one `input` event, as a paste gives.
    let started = Instant::now();
    b.eval(
        &p,
        &format!(
            "(() => {{ const t = document.getElementById('set-text'); t.value = {}; \
             t.dispatchEvent(new Event('input')); }})()",
            serde_json::Value::String(set.clone())
        ),
    )
    .unwrap();
    println!(
        "playground: the 1,000-element set pasted, handled in {:?}",
        started.elapsed()
    );
    let settled = "document.body.dataset.busy === 'false' && document.body.dataset.state === 'ok' \
                   && document.querySelector('#status b').textContent === '1000'";
    b.wait_for(&p, settled, Duration::from_secs(30)).unwrap();

    let before = b.metrics(&p).unwrap();
    let mut latencies = Vec::new();
    // When each stage of a keystroke ended, in ms after its `input` event (the page's own marks).
    let mut stages: Vec<(String, Vec<f64>)> = Vec::new();
    for i in 0..keystrokes {
        // The caret after `-app` of the name template, then one key: a letter, or Backspace.
        b.eval(
            &p,
            "(() => { const t = document.getElementById('set-text'); const at = t.value.indexOf(\"-app\") + 4; \
             const end = t.value.indexOf(\"'\", at); t.focus(); t.setSelectionRange(end, end); \
             delete document.body.dataset.latency; })()",
        )
        .unwrap();
        if i % 2 == 0 {
            b.type_text(&p, "x").unwrap();
        } else {
            b.press(&p, "Backspace", 8).unwrap();
        }
        // Waited for in the page (a MutationObserver, bounded), not polled: polling would put
        // work of its own on the renderer's main thread while it is being measured.
        let latency = b.eval(&p, WAIT_FOR_LATENCY).unwrap().as_f64().expect("a latency");
        b.wait_for(&p, settled, Duration::from_secs(30)).unwrap();
        let first = b
            .eval(&p, "document.querySelector('#view-apps .name').textContent")
            .unwrap();
        let want = if i % 2 == 0 { "c0000-appx" } else { "c0000-app" };
        assert_eq!(first, serde_json::json!(want), "the list shows the edit");
        latencies.push(latency);
        let phases = b.eval(&p, "document.body.dataset.phases").unwrap();
        let phases: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(phases.as_str().unwrap_or("{}")).unwrap_or_default();
        for (name, at) in phases {
            let at = at.as_f64().unwrap_or(f64::NAN);
            match stages.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => v.push(at),
                None => stages.push((name, vec![at])),
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    // The renderer's own work per keystroke, from its cumulative counters.
    let after = b.metrics(&p).unwrap();
    let per_key = |name: &str| {
        let at = |m: &[(String, f64)]| m.iter().find(|(n, _)| n == name).map_or(0.0, |(_, v)| *v);
        (at(&after) - at(&before)) * 1000.0 / keystrokes as f64
    };
    let renderer = format!(
        "script {:.1}, style {:.1}, layout {:.1}, all tasks {:.1}",
        per_key("ScriptDuration"),
        per_key("RecalcStyleDuration"),
        per_key("LayoutDuration"),
        per_key("TaskDuration")
    );

    // The same request from the page with nothing else to do: fetch, then fetch and parse.
    let in_page = b
        .eval(
            &p,
            &format!(
                "(async () => {{ const body = document.getElementById('set-text').value; const f = [], j = []; \
                 for (let i = 0; i < {keystrokes}; i++) {{ const t0 = performance.now(); \
                   const r = await fetch('/v1/render', {{ method: 'POST', headers: {{ 'content-type': 'application/yaml' }}, body }}); \
                   const t1 = performance.now(); await r.json(); const t2 = performance.now(); \
                   f.push(t1 - t0); j.push(t2 - t0); }} \
                 const p50 = (v) => v.sort((a, b) => a - b)[Math.round((v.length - 1) / 2)]; \
                 return [p50(f), p50(j)]; }})()"
            ),
        )
        .unwrap();
    let in_page = (in_page[0].as_f64().unwrap(), in_page[1].as_f64().unwrap());

    // The same request alone, from this process.
    let body = set.clone();
    let mut server = Vec::new();
    let mut answer_bytes = 0;
    for _ in 0..keystrokes {
        let started = Instant::now();
        let (status, len) = post(port, "/v1/render", &body);
        server.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, 200);
        answer_bytes = len;
    }
    server.sort_by(f64::total_cmp);

    println!("playground: {APPLICATIONS} Applications, {keystrokes} keystrokes into the name template");
    println!(
        "  keystroke -> list updated and painted (browser): p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        latencies[latencies.len() - 1]
    );
    let mut stages: Vec<(String, f64)> = stages
        .into_iter()
        .map(|(name, mut v)| {
            v.sort_by(f64::total_cmp);
            (name, percentile(&v, 0.5))
        })
        .collect();
    stages.sort_by(|a, b| a.1.total_cmp(&b.1));
    let stages: Vec<String> = stages
        .iter()
        .map(|(name, at)| format!("{name} {at:.1}"))
        .collect();
    println!(
        "  stages at p50, ms after the keystroke:           {}",
        stages.join(", ")
    );
    println!("  renderer's work per keystroke (ms):               {renderer}");
    println!(
        "  the same request alone (service):               p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms; answer {} KiB",
        percentile(&server, 0.5),
        percentile(&server, 0.9),
        server[server.len() - 1],
        answer_bytes / 1024
    );
    println!(
        "  the same request from the idle page:            p50 {:.1} ms answered, {:.1} ms parsed",
        in_page.0, in_page.1
    );
    println!(
        "  embedded assets: {} bytes ({})",
        total,
        assets
            .iter()
            .map(|(f, n)| format!("{f} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let rows = b
        .eval(&p, "document.querySelectorAll('#view-apps li').length")
        .unwrap();
    println!("  rows of the list in the page: {rows} (of {APPLICATIONS})");
    let errors = b.errors(&p);
    assert!(errors.is_empty(), "{errors:?}");
}
