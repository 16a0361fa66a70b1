//! README's commands, run as written: every fenced block of README.md whose info string is
//! exactly `sh` runs, as one `sh -e` script from the repository root, with the `appset` this
//! test was built with first on `PATH` and no way to reach the network
//! ([`harness::no_network`]); it must exit 0. A block whose info string is `output`, directly
//! after an `sh` block, is that block's expected standard output, compared exactly.
//!
//! Blocks that cannot run here say why in their info string, which GitHub shows as the block's
//! language and ignores:
//!
//! - `sh cluster`: needs a Kubernetes cluster (kubectl, `appset run`, `appset install`).
//! - `sh network`: reads the network (a live git repository, GitHub).
//! - `sh your-files`: stands for the reader's own files (`appsets/apps.yaml`, `$HOME/src/...`).
//! - `sh build`: builds, installs or tests the crate (`cargo install`, `cargo test`); the build
//!   that made this test stands in for it.
//! - `sh server`: starts a server that runs until it is stopped (`appset serve`);
//!   `tests/serve.rs` and `tests/playground.rs` start it and use it.
//!
//! Any other word after `sh` fails the test, so a new kind of block is a decision, not an
//! accident. In a block that runs, `cargo run -- ARGS` runs as `appset ARGS` (the binary cargo
//! built for this test); any other `cargo` command fails the test (mark the block `sh build`).

use std::{
    path::Path,
    process::{Output, Stdio},
};

mod harness;

use harness::no_network::NoNetwork;

/// The reasons a `sh` block may give for not running.
const NOT_RUN: [&str; 5] = ["cluster", "network", "your-files", "build", "server"];

/// A fenced block of README.md.
struct Block {
    /// 1-based line of its opening fence.
    line: usize,
    /// The `## ` heading it is under.
    section: String,
    info: String,
    body: String,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        if let Some(b) = open.as_mut() {
            if line.trim_start().starts_with("```") {
                out.extend(open.take());
            } else {
                b.body.push_str(line);
                b.body.push('\n');
            }
        } else if let Some(h) = line.strip_prefix("## ") {
            section = h.trim().to_string();
        } else if let Some(info) = line.trim_start().strip_prefix("```") {
            open = Some(Block {
                line: i + 1,
                section: section.clone(),
                info: info.trim().to_string(),
                body: String::new(),
            });
        }
    }
    assert!(open.is_none(), "README.md: an unclosed fence");
    out
}

/// The script a block runs: `cargo run -- ARGS` becomes `appset ARGS`; other cargo commands are
/// refused.
fn script(b: &Block) -> String {
    let mut s = String::new();
    for line in b.body.lines() {
        let t = line.trim_start();
        if let Some(args) = t.strip_prefix("cargo run -- ") {
            s.push_str("appset ");
            s.push_str(args);
        } else {
            assert!(
                !t.starts_with("cargo ") && !t.contains("&& cargo "),
                "README.md:{}: `{t}` builds the crate: mark the block `sh build`",
                b.line
            );
            s.push_str(line);
        }
        s.push('\n');
    }
    s
}

fn run(b: &Block, env: &NoNetwork, bin_dir: &Path) -> Output {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path =
        std::env::join_paths(std::iter::once(bin_dir.to_path_buf()).chain(std::env::split_paths(&path)))
            .expect("PATH");
    env.command("sh")
        .args(["-e", "-c", &script(b)])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", path)
        .stdin(Stdio::null())
        .output()
        .expect("run sh")
}

#[test]
fn readme_commands_that_need_no_cluster_and_no_network_run_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let blocks = blocks(&readme);
    let bin_dir = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_appset"), bin_dir.path().join("appset"))
        .expect("link appset");
    let env = NoNetwork::new();

    let mut ran = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        let Some(rest) = b.info.strip_prefix("sh") else {
            assert!(
                b.info != "output" || blocks[..i].last().is_some_and(|p| p.info == "sh"),
                "README.md:{}: an `output` block must follow a block that runs (`sh`)",
                b.line
            );
            continue;
        };
        let reason = rest.trim();
        if !reason.is_empty() {
            assert!(
                NOT_RUN.contains(&reason),
                "README.md:{}: `sh {reason}`: not one of {NOT_RUN:?} (see tests/readme.rs)",
                b.line
            );
            continue;
        }
        let what = format!("README.md:{} ({})", b.line, b.section);
        let out = run(b, &env, bin_dir.path());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{what} failed ({}):\n{}\nstdout:\n{stdout}\nstderr:\n{}",
            out.status,
            b.body,
            String::from_utf8_lossy(&out.stderr)
        );
        env.assert_untouched(&what);
        if let Some(expected) = blocks.get(i + 1).filter(|n| n.info == "output") {
            assert_eq!(
                stdout.trim_end(),
                expected.body.trim_end(),
                "{what}: the output README shows at line {}",
                expected.line
            );
        }
        ran.push(b.section.clone());
    }
    assert!(
        ran.iter().any(|s| s == "Quickstart"),
        "README's Quickstart has no block that runs: {ran:?}"
    );
}
