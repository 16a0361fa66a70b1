//! The playground page of `appset serve`, in a real browser: headless Chromium driven over the
//! DevTools protocol ([`harness::browser`]) against the `appset` binary on 127.0.0.1.
//!
//! One walk through the page, as a person would use it: load it, load an example from the menu,
//! type an edit and see the Application list change, introduce an error and see it marked on
//! its line, fix it, look at the parameters and the generator tree, switch to diff mode and edit
//! the set, open the shared link in a fresh page and get the same view, switch theme, paste a
//! hostile set and see the limit's error instead of a frozen page, paste 1,500 Applications and
//! scroll the list (only the rows in view are in the page). Throughout: the page makes no
//! request to any host but the server, and logs no error (a Content-Security-Policy violation
//! would be one). Screenshots of each state go to `$CARGO_TARGET_TMPDIR/playground/`.
//!
//! What the page shows is checked against the engine, not against copies: the Application names
//! against `appset render -o names` of the same file.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

mod harness;

use harness::browser::{Browser, Page};

const WAIT: Duration = Duration::from_secs(20);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `appset serve` on a free loopback port, killed on drop.
struct Serve {
    child: Child,
    port: u16,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Serve {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_appset"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("HOME", std::env::temp_dir().join("appset-playground-test-home"))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "appset serve did not listen within {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Serve { child, port }
}

/// The names `appset render -o names` prints for an example, in order.
fn rendered_names(example: &str) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_appset"))
        .args(["render", "--offline", "-o", "names", example])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn shots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("playground")
}

/// The Application names the page lists.
fn names(b: &mut Browser, p: &Page) -> Vec<String> {
    let v = b
        .eval(
            p,
            "[...document.querySelectorAll('#view-apps .name')].map(e => e.textContent)",
        )
        .unwrap();
    serde_json::from_value(v).unwrap()
}

/// Wait until the page shows the answer to the newest edit (nothing scheduled or in flight),
/// and that answer is `state` (`ok` or `error`).
fn settled(b: &mut Browser, p: &Page, state: &str) {
    b.wait_for(
        p,
        &format!("document.body.dataset.busy === 'false' && document.body.dataset.state === {state:?}"),
        WAIT,
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}\nstatus: {:?}",
            b.eval(p, "document.getElementById('status').textContent")
        )
    });
}

/// The boxes of the generator tree: [path, kind, count, what it says], one per generator.
fn tree_boxes(b: &mut Browser, p: &Page) -> Value {
    b.eval(
        p,
        "[...document.querySelectorAll('#view-tree .node')].map(g => [...g.querySelectorAll('title, text')].map(t => t.textContent))",
    )
    .unwrap()
}

/// Put the caret of the editor `id` right after the first occurrence of `after`.
fn caret_after(b: &mut Browser, p: &Page, id: &str, after: &str) {
    let found = b
        .eval(
            p,
            &format!(
                "(() => {{ const t = document.getElementById({id:?}); const i = t.value.indexOf({after:?}); \
                 if (i < 0) return false; t.focus(); t.setSelectionRange(i + {n}, i + {n}); return true; }})()",
                n = after.chars().count()
            ),
        )
        .unwrap();
    assert_eq!(found, json!(true), "{after:?} not in #{id}");
}

fn text_of(b: &mut Browser, p: &Page, id: &str) -> String {
    b.eval(p, &format!("document.getElementById({id:?}).textContent"))
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The 1-based line of the first line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).expect("the needle") + 1
}

#[test]
fn the_playground_shows_what_a_set_generates_as_it_is_typed() {
    let server = serve();
    let origin = format!("http://127.0.0.1:{}", server.port);
    let mut b = Browser::start(1400, 900).expect("headless chromium");
    let p = b.page(&format!("{origin}/")).unwrap();
    b.color_scheme(&p, "light").unwrap();

    // Loaded: the default example, rendered, the same names as the CLI gives.
    b.wait_for(&p, "document.body.dataset.ready === 'true'", WAIT)
        .unwrap();
    settled(&mut b, &p, "ok");
    let default = "generators/matrix/env-by-directories.yaml";
    assert_eq!(names(&mut b, &p), rendered_names(default));
    assert!(text_of(&mut b, &p, "status").starts_with("6 Applications"));
    b.screenshot(&p, &shots().join("01-loaded-light.png")).unwrap();

    // The generator tree of that matrix: list 3 × git directories 2 = 6, drawn as boxes (the
    // tab asks for the tree: the Applications list's answer did not carry it).
    b.click(&p, "#tab-tree").unwrap();
    settled(&mut b, &p, "ok");
    let boxes = tree_boxes(&mut b, &p);
    assert_eq!(
        boxes[0],
        json!(["spec.generators[0].matrix", "matrix", "6", "3 × 2 = 6"])
    );
    assert_eq!(
        boxes[1],
        json!([
            "spec.generators[0].matrix.generators[0].list",
            "list",
            "3",
            "yields env"
        ])
    );
    assert_eq!(
        boxes[2].as_array().unwrap()[..3],
        [
            json!("spec.generators[0].matrix.generators[1].git"),
            json!("git directories"),
            json!("2")
        ]
    );
    assert!(
        boxes[2][3]
            .as_str()
            .unwrap()
            .starts_with("yields path, path.basename"),
        "{boxes}"
    );
    b.screenshot(&p, &shots().join("01-tree-light.png")).unwrap();
    b.click(&p, "#tab-apps").unwrap();

    // The Examples menu holds every bundled example (src/playground.rs checks that
    // /v1/examples has every file); choosing one loads and renders it.
    let on_disk = b
        .eval(
            &p,
            "fetch('/v1/examples').then(r => r.json()).then(a => a.length)",
        )
        .unwrap();
    let options = b
        .eval(
            &p,
            "document.querySelectorAll('#examples option[value]:not([value=\"\"])').length",
        )
        .unwrap();
    assert_eq!(options, on_disk);
    let choose = |b: &mut Browser, example: &str| {
        b.eval(
            &p,
            &format!(
                "(() => {{ const s = document.getElementById('examples'); s.value = {example:?}; \
                 s.dispatchEvent(new Event('change')); }})()"
            ),
        )
        .unwrap();
    };

    // A warning (a parameter no generator gives) is listed and marked on its line.
    let warned = "templates/templated-keys-and-warnings.yaml";
    choose(&mut b, warned);
    b.wait_for(
        &p,
        "document.getElementById('warnings').textContent.includes('teem')",
        WAIT,
    )
    .unwrap();
    settled(&mut b, &p, "ok");
    let text = std::fs::read_to_string(root().join(warned)).unwrap();
    assert_eq!(
        b.eval(
            &p,
            "[...document.querySelectorAll('[data-for=set] .gutter .warned')].map(e => e.textContent)"
        )
        .unwrap(),
        json!([line_of(&text, "note: 'deployed by").to_string()])
    );
    assert_eq!(names(&mut b, &p), rendered_names(warned));

    let example = "generators/list/three-clusters.yaml";
    choose(&mut b, example);
    b.wait_for(
        &p,
        "document.querySelectorAll('#view-apps .name').length === 3",
        WAIT,
    )
    .unwrap();
    settled(&mut b, &p, "ok");
    let three = rendered_names(example);
    assert_eq!(names(&mut b, &p), three);
    // An Application opens to its full YAML.
    b.click(&p, "#view-apps summary").unwrap();
    let yaml = b
        .wait_for(
            &p,
            "(document.querySelector('#view-apps details[open] pre') || {}).textContent",
            WAIT,
        )
        .unwrap();
    let yaml = yaml.as_str().unwrap();
    assert!(
        yaml.starts_with("apiVersion: argoproj.io/v1alpha1\nkind: Application\n"),
        "{yaml}"
    );
    assert!(yaml.contains("  name: engineering-dev-guestbook\n"), "{yaml}");
    assert!(yaml.contains("    server: https://1.2.3.4\n"), "{yaml}");

    // Typing a fourth element: the list grows, in the order the engine gives.
    caret_after(&mut b, &p, "set-text", "url: https://9.8.7.6");
    b.type_text(&p, "\n      - cluster: new-team\n        url: https://4.4.4.4")
        .unwrap();
    b.wait_for(
        &p,
        "document.querySelectorAll('#view-apps .name').length === 4",
        WAIT,
    )
    .unwrap();
    settled(&mut b, &p, "ok");
    let mut four = three.clone();
    four.push("new-team-guestbook".into());
    assert_eq!(names(&mut b, &p), four);
    // The page writes its latency two frames after the answer is shown.
    b.wait_for(&p, "Number(document.body.dataset.latency) > 0", WAIT)
        .unwrap();
    let latency: f64 = b
        .eval(&p, "Number(document.body.dataset.latency)")
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(latency > 0.0, "the page measures keystroke to list");
    b.screenshot(&p, &shots().join("02-typed.png")).unwrap();

    // "Copy as command" gives a shell command that renders what the page shows.
    b.allow_clipboard(&p, &origin).unwrap();
    b.eval(&p, "navigator.clipboard.writeText('')").unwrap();
    b.click(&p, "#copy-command").unwrap();
    let command = b
        .wait_for(&p, "navigator.clipboard.readText()", WAIT)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    assert!(command.ends_with("appset render appset.yaml\n"), "{command}");
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_appset")).parent().unwrap();
    let run = Command::new("bash")
        .args(["-c", &command])
        .current_dir(dir.path())
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("APPSET_OFFLINE", "true")
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let copied = dir.path().join("appset.yaml");
    assert_eq!(rendered_names(copied.to_str().unwrap()), four);

    // An error: a list where a string belongs. Marked on its line, with the message; the last
    // good list stays, dimmed.
    caret_after(&mut b, &p, "set-text", "- cluster: engineering-dev");
    b.type_text(&p, "]").unwrap();
    caret_after(&mut b, &p, "set-text", "- cluster: ");
    b.type_text(&p, "[").unwrap();
    settled(&mut b, &p, "error");
    let set_text = b
        .eval(&p, "document.getElementById('set-text').value")
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    let bad_line = line_of(&set_text, "- cluster: [engineering-dev]");
    let error = text_of(&mut b, &p, "error");
    assert!(
        error.contains("spec.generators[0].list.elements[0].cluster"),
        "{error}"
    );
    assert!(error.contains("the value is a list"), "{error}");
    assert_eq!(
        b.eval(&p, "document.getElementById('error').dataset.line")
            .unwrap(),
        json!(bad_line.to_string())
    );
    assert_eq!(
        b.eval(
            &p,
            "[...document.querySelectorAll('[data-for=set] .gutter .bad')].map(e => e.textContent)"
        )
        .unwrap(),
        json!([bad_line.to_string()])
    );
    assert_eq!(names(&mut b, &p), four, "the last good list stays");
    b.screenshot(&p, &shots().join("03-error.png")).unwrap();

    // Fixed: the mark goes, the list is back.
    caret_after(&mut b, &p, "set-text", "- cluster: [");
    b.press(&p, "Backspace", 8).unwrap();
    caret_after(&mut b, &p, "set-text", "- cluster: engineering-dev]");
    b.press(&p, "Backspace", 8).unwrap();
    settled(&mut b, &p, "ok");
    assert_eq!(names(&mut b, &p), four);
    assert_eq!(
        b.eval(
            &p,
            "document.querySelectorAll('.gutter .bad, #error:not([hidden])').length"
        )
        .unwrap(),
        json!(0)
    );

    // Parameters: one row per Application, one column per parameter, each naming its
    // generator; the generator tree: one list of four.
    b.click(&p, "#tab-params").unwrap();
    settled(&mut b, &p, "ok");
    let table = b
        .eval(
            &p,
            "(() => { const t = document.querySelector('#view-params table'); return t && { \
             rows: t.tBodies[0].rows.length, \
             head: [...t.tHead.rows[0].cells].map(c => c.textContent) }; })()",
        )
        .unwrap();
    assert_eq!(table["rows"], json!(4));
    assert_eq!(
        table["head"],
        json!(["Application", "clusterfrom list", "urlfrom list"])
    );
    b.click(&p, "#tab-tree").unwrap();
    settled(&mut b, &p, "ok");
    let boxes = tree_boxes(&mut b, &p);
    assert_eq!(
        boxes,
        json!([["spec.generators[0].list", "list", "4", "yields cluster, url"]])
    );
    b.screenshot(&p, &shots().join("04-tree.png")).unwrap();
    b.click(&p, "#tab-apps").unwrap();

    // Diff mode: before is the set as it is; editing the after side shows one update (field by
    // field) and one create.
    b.click(&p, "#mode-diff").unwrap();
    settled(&mut b, &p, "ok");
    assert!(text_of(&mut b, &p, "status").starts_with("0 to create, 0 to update, 0 to delete, 4 unchanged"));
    caret_after(&mut b, &p, "set-text", "url: https://2.4.6.");
    b.press(&p, "Delete", 46).unwrap();
    b.type_text(&p, "9").unwrap();
    caret_after(&mut b, &p, "set-text", "url: https://4.4.4.4");
    b.type_text(&p, "\n      - cluster: qa\n        url: https://5.5.5.5")
        .unwrap();
    b.wait_for(
        &p,
        "document.getElementById('status').textContent.startsWith('1 to create, 1 to update, 0 to delete, 3 unchanged')",
        WAIT,
    )
    .unwrap();
    let diff = text_of(&mut b, &p, "view-diff");
    assert!(diff.contains("+ qa-guestbook"), "{diff}");
    assert!(diff.contains("~ engineering-prod-guestbook"), "{diff}");
    assert!(diff.contains("/spec/destination/server"), "{diff}");
    assert!(
        diff.contains("\"https://2.4.6.8\"") && diff.contains("\"https://2.4.6.9\""),
        "{diff}"
    );
    b.screenshot(&p, &shots().join("05-diff.png")).unwrap();

    // Share: the link's fragment holds the state; a fresh page on it shows the same view.
    let link = b
        .wait_for(&p, "location.hash.length > 3 && location.href", WAIT)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    let view = |b: &mut Browser, p: &Page| -> Value {
        b.eval(
            p,
            "[...['set-text', 'inputs-text', 'before-text'].map(id => document.getElementById(id).value), \
             document.getElementById('status').textContent.replace(/ · .*/, ''), \
             document.getElementById('view-diff').textContent]",
        )
        .unwrap()
    };
    let here = view(&mut b, &p);
    let q = b.page(&link).unwrap();
    b.wait_for(&q, "document.body.dataset.ready === 'true'", WAIT)
        .unwrap();
    settled(&mut b, &q, "ok");
    assert_eq!(view(&mut b, &q), here, "the shared link reproduces the view");
    assert!(link.starts_with(&format!("{origin}/#z=")), "{link}");

    // The dark theme, from the toggle.
    b.click(&q, "#theme").unwrap();
    assert_eq!(
        b.eval(&q, "document.documentElement.dataset.theme").unwrap(),
        json!("dark")
    );
    b.screenshot(&q, &shots().join("06-diff-dark.png")).unwrap();
    b.click(&q, "#mode-render").unwrap();
    settled(&mut b, &q, "ok");
    b.screenshot(&q, &shots().join("07-loaded-dark.png")).unwrap();

    // A hostile set, pasted: a 1,000 × 1,000 matrix. The service's limit answers, the page shows
    // it, and it stays responsive.
    let big: Vec<String> = (0..1000).map(|i| format!("{{a: '{i}'}}")).collect();
    let hostile = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: hostile}}\nspec:\n  generators:\n  - matrix:\n      generators:\n      - list: {{elements: [{l}]}}\n      - list: {{elements: [{r}]}}\n  template:\n    metadata: {{name: 'x-{{{{a}}}}'}}\n    spec: {{project: default, destination: {{server: https://kubernetes.default.svc}}}}\n",
        l = big.join(", "),
        r = big.join(", ").replace("a:", "b:"),
    );
    b.eval(&q, "document.getElementById('set-text').select()")
        .unwrap();
    b.insert_text(&q, &hostile).unwrap();
    settled(&mut b, &q, "error");
    let error = text_of(&mut b, &q, "error");
    assert!(error.contains("more than 10000 parameter sets"), "{error}");
    assert!(error.contains("LimitExceeded"), "{error}");
    let started = Instant::now();
    b.eval(&q, "1 + 1").unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "the page froze");
    b.screenshot(&q, &shots().join("08-limit.png")).unwrap();

    // A long list: only the rows in view are in the page; scrolling brings the others, and a
    // row far down opens to its own YAML.
    let elements: String = (0..1500)
        .map(|i| format!("      - {{cluster: c{i:04}}}\n"))
        .collect();
    let long = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: long}}\nspec:\n  generators:\n  - list:\n      elements:\n{elements}  template:\n    metadata: {{name: '{{{{cluster}}}}-app'}}\n    spec: {{project: default, destination: {{server: https://kubernetes.default.svc, namespace: '{{{{cluster}}}}'}}}}\n"
    );
    // Set at once with one `input` event, as a paste gives (inserting 1,500 lines as typed text
    // takes Chromium 13 s).
    b.eval(
        &q,
        &format!(
            "(t => {{ t.value = {}; t.dispatchEvent(new Event('input')); }})(document.getElementById('set-text'))",
            json!(long)
        ),
    )
    .unwrap();
    settled(&mut b, &q, "ok");
    assert!(text_of(&mut b, &q, "status").starts_with("1500 Applications"));
    let rows = |b: &mut Browser| {
        b.eval(&q, "document.querySelectorAll('#view-apps li').length")
            .unwrap()
            .as_u64()
            .unwrap()
    };
    let in_page = rows(&mut b);
    assert!((1..200).contains(&in_page), "{in_page} rows in the page");
    assert_eq!(names(&mut b, &q)[0], "c0000-app");
    b.eval(
        &q,
        "(v => v.scrollTop = v.scrollHeight)(document.getElementById('view-apps'))",
    )
    .unwrap();
    b.wait_for(
        &q,
        "[...document.querySelectorAll('#view-apps .name')].pop().textContent === 'c1499-app'",
        WAIT,
    )
    .unwrap();
    assert!(rows(&mut b) < 200);
    b.eval(
        &q,
        "[...document.querySelectorAll('#view-apps summary')].pop().click()",
    )
    .unwrap();
    let yaml = b
        .wait_for(
            &q,
            "(document.querySelector('#view-apps details[open] pre') || {}).textContent",
            WAIT,
        )
        .unwrap();
    assert!(yaml.as_str().unwrap().contains("  namespace: c1499\n"), "{yaml}");
    b.screenshot(&q, &shots().join("09-long-list-end.png")).unwrap();

    // Keyboard: Escape then Tab leaves the editor (Tab alone indents).
    b.eval(&q, "document.getElementById('set-text').focus()").unwrap();
    b.press(&q, "Escape", 27).unwrap();
    b.press(&q, "Tab", 9).unwrap();
    assert_ne!(
        b.eval(&q, "document.activeElement.id").unwrap(),
        json!("set-text"),
        "Escape, Tab moves the focus on"
    );

    // Nothing left the machine, and nothing was refused or thrown.
    for page in [&p, &q] {
        for url in b.requests(page) {
            assert!(
                url.starts_with(&format!("{origin}/")) || url.starts_with("data:"),
                "a request to another host: {url}"
            );
        }
        assert_eq!(b.errors(page), Vec::<String>::new());
    }
}
