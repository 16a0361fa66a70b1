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
//! document (`document.body.dataset.latency`: the list laid out and painted). The same request
//! is also timed alone (`POST /v1/render?params=true&tree=true` from this process, the body the
//! page sends) to split the time between the service and the browser.

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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// POST `body` to `/v1/render?params=true&tree=true`, the answer's status and length.
fn post(port: u16, body: &str) -> (u16, usize) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "POST /v1/render?params=true&tree=true HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/yaml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
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
                   && document.querySelectorAll('#view-apps .name').length === 1000";
    b.wait_for(&p, settled, Duration::from_secs(30)).unwrap();

    let mut latencies = Vec::new();
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
        let latency = b
            .wait_for(
                &p,
                &format!(
                    "{settled} && document.body.dataset.latency && Number(document.body.dataset.latency)"
                ),
                Duration::from_secs(30),
            )
            .unwrap()
            .as_f64()
            .unwrap();
        let first = b
            .eval(&p, "document.querySelector('#view-apps .name').textContent")
            .unwrap();
        let want = if i % 2 == 0 { "c0000-appx" } else { "c0000-app" };
        assert_eq!(first, serde_json::json!(want), "the list shows the edit");
        latencies.push(latency);
    }
    latencies.sort_by(f64::total_cmp);

    // The same request alone, from this process.
    let body = set.clone();
    let mut server = Vec::new();
    let mut answer_bytes = 0;
    for _ in 0..keystrokes {
        let started = Instant::now();
        let (status, len) = post(port, &body);
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
    println!(
        "  the same request alone (service):               p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms; answer {} KiB",
        percentile(&server, 0.5),
        percentile(&server, 0.9),
        server[server.len() - 1],
        answer_bytes / 1024
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
    let errors = b.errors(&p);
    assert!(errors.is_empty(), "{errors:?}");
}
