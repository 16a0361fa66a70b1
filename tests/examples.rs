//! The bundled examples as README and docs/generators.md describe them, through the binary:
//!
//! - every file under `generators/` and `templates/` renders with no network: `appset render`
//!   with every way out trapped ([`harness::no_network`]) succeeds, or fails for `err-*` files,
//!   without a connection or a git fetch, and `appset render --offline` gives the same answer;
//! - `--offline` (and `APPSET_OFFLINE`) refuses each kind of live read with an error naming what
//!   to pass;
//! - each parameter table of docs/generators.md lists exactly the parameter names, and the
//!   example values, of the first parameter set `appset render -o params` prints for the example
//!   the table names.

use std::{
    collections::BTreeMap,
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use serde_json::Value;

mod harness;

use harness::no_network::NoNetwork;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `appset ARGS` in `env`, with `stdin` as its standard input.
fn appset(env: &NoNetwork, args: &[&str], stdin: &str) -> Output {
    let mut c = env.command(env!("CARGO_BIN_EXE_appset"));
    c.args(args);
    run(c, stdin)
}

fn run(mut c: Command, stdin: &str) -> Output {
    let mut child = c
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run appset");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for appset")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml") {
            out.push(p);
        }
    }
}

#[test]
fn every_bundled_example_renders_with_no_network() {
    let env = NoNetwork::new();
    let mut files = Vec::new();
    yaml_files(&root().join("generators"), &mut files);
    yaml_files(&root().join("templates"), &mut files);
    files.sort();
    assert!(files.len() > 40, "{files:?}");
    for f in &files {
        let rel = f.strip_prefix(root()).expect("in the repository");
        let rel = rel.to_str().expect("UTF-8 path");
        let live = appset(&env, &["render", rel], "");
        env.assert_untouched(&format!("appset render {rel}"));
        let expect_error = f
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("err-"));
        assert_eq!(
            live.status.success(),
            !expect_error,
            "appset render {rel}: {}",
            text(&live.stderr)
        );
        let offline = appset(&env, &["render", "--offline", rel], "");
        env.assert_untouched(&format!("appset render --offline {rel}"));
        assert_eq!(
            (
                offline.status.code(),
                text(&offline.stdout),
                text(&offline.stderr)
            ),
            (live.status.code(), text(&live.stdout), text(&live.stderr)),
            "{rel}: --offline changes the answer, so the example reads something live"
        );
    }
}

/// One generator of each live kind, with nothing recorded.
const UNRECORDED: [(&str, &str); 3] = [
    (
        "git: {repoURL: 'https://github.com/example/gitops.git', directories: [{path: '*'}]}",
        "pass --repo https://github.com/example/gitops.git=PATH",
    ),
    ("clusters: {}", "pass --clusters FILE"),
    (
        "pullRequest: {github: {owner: example, repo: app}}",
        "pass --pull-requests FILE",
    ),
];

#[test]
fn offline_refuses_every_live_read_naming_what_to_pass() {
    let env = NoNetwork::new();
    for (generator, hint) in UNRECORDED {
        let set = format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: s}}\n\
             spec:\n  generators: [{{{generator}}}]\n  template:\n    metadata: {{name: x}}\n    \
             spec: {{project: default, destination: {{server: 'https://kubernetes.default.svc', namespace: x}}}}\n"
        );
        let flag = appset(&env, &["render", "--offline", "-"], &set);
        env.assert_untouched(&format!("--offline with {generator}"));
        let mut c = env.command(env!("CARGO_BIN_EXE_appset"));
        c.args(["render", "-"]).env("APPSET_OFFLINE", "true");
        let by_env = run(c, &set);
        env.assert_untouched(&format!("APPSET_OFFLINE=true with {generator}"));
        for (how, o) in [("--offline", &flag), ("APPSET_OFFLINE=true", &by_env)] {
            let err = text(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{how} {generator}: {err}");
            assert!(err.contains(hint), "{how} {generator}: {err}");
            assert!(o.stdout.is_empty(), "{how} {generator}");
        }
    }
}

/// A parameter table of docs/generators.md: the example it documents, and its rows.
struct Table {
    line: usize,
    example: String,
    rows: BTreeMap<String, String>,
}

/// The tables whose header is `| parameter | example value |`; the example is the last link to
/// a `.yaml` file under `generators/` in the paragraph just above the table.
fn tables(markdown: &str) -> Vec<Table> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.replace(' ', "") != "|parameter|examplevalue|" {
            continue;
        }
        let paragraph = lines[..i]
            .iter()
            .rev()
            .skip_while(|l| l.trim().is_empty())
            .take_while(|l| !l.trim().is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let example = paragraph
            .match_indices("](../generators/")
            .last()
            .and_then(|(at, _)| {
                let rest = &paragraph[at + "](../".len()..];
                rest.split(')').next()
            })
            .unwrap_or_else(|| panic!("docs/generators.md:{}: no example linked above the table", i + 1))
            .to_string();
        let mut rows = BTreeMap::new();
        for row in lines[i + 2..].iter().take_while(|l| l.starts_with('|')) {
            let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
            let [name, value] = cells[..] else {
                panic!("docs/generators.md: a row of two cells: {row}");
            };
            let unquote = |c: &str| c.trim_matches('`').to_string();
            let dup = rows.insert(unquote(name), unquote(value));
            assert!(dup.is_none(), "docs/generators.md: {name} twice in one table");
        }
        out.push(Table {
            line: i + 1,
            example,
            rows,
        });
    }
    out
}

/// A parameter set as the tables show it: nested objects become dotted names (a flat-mode name
/// already has its dots), strings stand as they are (the empty string as `""`), other values as
/// JSON.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&name, v, out);
            }
        }
        Value::String(s) if s.is_empty() => {
            out.insert(prefix.to_string(), "\"\"".to_string());
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

#[test]
fn generator_parameter_tables_match_what_render_prints() {
    let docs = std::fs::read_to_string(root().join("docs/generators.md")).expect("docs/generators.md");
    let tables = tables(&docs);
    let env = NoNetwork::new();
    let mut kinds = std::collections::BTreeSet::new();
    for t in &tables {
        let o = appset(&env, &["render", "-o", "params", &t.example], "");
        assert!(o.status.success(), "{}: {}", t.example, text(&o.stderr));
        let params: Value = serde_json::from_slice(&o.stdout).expect("JSON parameter sets");
        let first = params
            .get(0)
            .unwrap_or_else(|| panic!("{}: no parameter set", t.example));
        let mut actual = BTreeMap::new();
        flatten("", first, &mut actual);
        assert_eq!(
            t.rows, actual,
            "docs/generators.md:{}: the table differs from the first parameter set of \
             `appset render -o params {}` (left: the table)",
            t.line, t.example
        );
        kinds.insert(t.example.split('/').nth(1).unwrap_or_default().to_string());
    }
    let documented: Vec<_> = kinds.into_iter().collect();
    assert_eq!(
        documented,
        [
            "cluster",
            "cluster-decision-resource",
            "git-branches",
            "git-directories",
            "git-files",
            "list",
            "matrix",
            "merge",
            "plugin",
            "pull-request",
            "scm-provider"
        ],
        "every generator has a parameter table"
    );
}
