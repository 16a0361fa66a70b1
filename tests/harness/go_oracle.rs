//! The Go oracle: tests/gotemplate-oracle/sprig/main.go (Go's text/template with sprig and Argo
//! CD's function map), built once per source version from Debian's `golang-go` and
//! `golang-github-masterminds-sprig-dev` in GOPATH mode (`.ci/run` installs both), and run as a
//! child process that answers JSON lines: `{"t", "d", "opt"}` in, `{"out"}` or `{"err"}` out.

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
};

use serde_json::{Value, json};

/// The oracle's source.
const SOURCE: &str = include_str!("../gotemplate-oracle/sprig/main.go");

/// Where Debian's Go packages live (GOPATH's second entry).
const DEBIAN_GOCODE: &str = "/usr/share/gocode";

/// One case for the oracle.
#[derive(Debug, Clone)]
pub struct Case {
    /// The template.
    pub t: String,
    /// The data (`.`).
    pub d: Value,
    /// A `goTemplateOptions` entry (`missingkey=...`), empty for none.
    pub opt: String,
}

impl Case {
    /// The case as the oracle reads it (and as the oracle JSONL files hold it).
    pub fn to_json(&self) -> Value {
        let mut v = json!({"t": self.t, "d": self.d});
        if !self.opt.is_empty() {
            v["opt"] = json!(self.opt);
        }
        v
    }
}

/// Go's answer: the output or the error text.
pub type Answer = Result<String, String>;

/// FNV-1a, a hash that is the same on every run and platform (the cache key).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Build the oracle (once per process; the binary is cached under the target directory, keyed by
/// a hash of its source) and return its path.
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build().unwrap_or_else(|e| panic!("building the Go oracle: {e}")))
}

fn build() -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("go-oracle")
        .join(format!("{:016x}", fnv1a(SOURCE.as_bytes())));
    let bin = dir.join("oracle");
    if bin.is_file() {
        return Ok(bin);
    }
    if !Path::new(DEBIAN_GOCODE)
        .join("src/github.com/Masterminds/sprig")
        .is_dir()
    {
        return Err(format!(
            "sprig is not under {DEBIAN_GOCODE}: apt-get install golang-go golang-github-masterminds-sprig-dev"
        ));
    }
    // A private GOPATH per build, so concurrent test processes do not share a half-written tree.
    let gopath = dir.join(format!("gopath-{}", std::process::id()));
    let pkg = gopath.join("src/oracle");
    std::fs::create_dir_all(&pkg).map_err(|e| e.to_string())?;
    std::fs::write(pkg.join("main.go"), SOURCE).map_err(|e| e.to_string())?;
    let tmp_bin = dir.join(format!("oracle.{}", std::process::id()));
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&tmp_bin)
        .arg("oracle")
        .env("GOPATH", format!("{}:{DEBIAN_GOCODE}", gopath.display()))
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .output()
        .map_err(|e| format!("go build (is golang-go installed?): {e}"))?;
    if !out.status.success() {
        return Err(format!("go build: {}", String::from_utf8_lossy(&out.stderr)));
    }
    std::fs::rename(&tmp_bin, &bin).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&gopath);
    Ok(bin)
}

/// Run a batch of cases through the oracle: N lines in, N answers out, in order. A case that kills
/// the oracle process (a Go runtime fatal error) is answered `Err("oracle crashed: ...")` and the
/// rest run in a new process.
pub fn run(cases: &[Case]) -> Vec<Answer> {
    let mut answers = Vec::with_capacity(cases.len());
    while answers.len() < cases.len() {
        let (batch, stderr) = run_process(&cases[answers.len()..]);
        answers.extend(batch);
        if answers.len() < cases.len() {
            let tail: String = stderr.lines().take(3).collect::<Vec<_>>().join(" / ");
            answers.push(Err(format!("oracle crashed: {tail}")));
        }
    }
    answers
}

/// One oracle process on `cases`: its answers (fewer if it died) and its stderr.
fn run_process(cases: &[Case]) -> (Vec<Answer>, String) {
    let mut input = String::new();
    for c in cases {
        input.push_str(&c.to_json().to_string());
        input.push('\n');
    }
    let mut child = Command::new(binary())
        .env("TZ", "UTC")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Go oracle");
    let mut stdin = child.stdin.take().expect("oracle stdin");
    // Write from a thread: the oracle answers while it reads, and both pipes are bounded. A write
    // error means the oracle died; its answers so far tell which case.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let mut answers = Vec::with_capacity(cases.len());
    let stdout = BufReader::new(child.stdout.take().expect("oracle stdout"));
    for line in stdout.lines().take(cases.len()) {
        let Ok(line) = line else { break };
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("oracle answer {line}: {e}"));
        answers.push(match (v["out"].as_str(), v["err"].as_str()) {
            (Some(out), _) => Ok(out.to_string()),
            (_, Some(err)) => Err(err.to_string()),
            _ => panic!("oracle answer without out or err: {line}"),
        });
    }
    let output = child.wait_with_output().expect("wait for the Go oracle");
    let _ = writer.join();
    (answers, String::from_utf8_lossy(&output.stderr).into_owned())
}
