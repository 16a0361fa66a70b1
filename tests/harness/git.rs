//! Real git for tests: the `git` CLI isolated from the user's and the system's configuration, and
//! a `git-daemon` serving a directory on 127.0.0.1.

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Run `git` in `cwd` isolated from the user's and the system's configuration; return trimmed stdout.
pub fn git(cwd: &Path, args: &[&str]) -> String {
    git_with_input(cwd, args, None)
}

pub fn git_with_input(cwd: &Path, args: &[&str], input: Option<&str>) -> String {
    use std::io::Write as _;
    let home = std::env::temp_dir();
    let mut child = Command::new("git")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
        ])
        .args(args)
        .current_dir(cwd)
        .env("HOME", &home)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "Test Committer")
        .env("GIT_COMMITTER_EMAIL", "committer@example.com")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git runs");
    if let Some(input) = input {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    let out = child.wait_with_output().expect("git finishes");
    assert!(
        out.status.success(),
        "git {args:?} failed in {}: {}",
        cwd.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8").trim().to_owned()
}

/// Write a `k.yaml` into each of the directories `dirs` of the repository `repo` and commit all
/// changes of its working tree as `message`.
pub fn commit_dirs(repo: &Path, dirs: &[&str], message: &str) {
    for d in dirs {
        std::fs::create_dir_all(repo.join(d)).expect("create directory");
        std::fs::write(repo.join(d).join("k.yaml"), "k: v\n").expect("write k.yaml");
    }
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", message]);
}

/// A new repository at `repo` whose first commit ("init") holds the directories `dirs`.
pub fn init_with_dirs(repo: &Path, dirs: &[&str]) {
    std::fs::create_dir_all(repo).expect("create repository");
    git(repo, &["init", "-q"]);
    commit_dirs(repo, dirs, "init");
}

/// The `git-daemon` program itself. `git daemon` runs it as a child of the `git` wrapper, so
/// killing the wrapper would leave the server running.
fn git_daemon_program() -> PathBuf {
    let out = Command::new("git")
        .arg("--exec-path")
        .output()
        .expect("git --exec-path");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("git-daemon")
}

/// A `git-daemon` serving `base` on 127.0.0.1, killed on drop (also when a test fails).
pub struct GitDaemon {
    child: Child,
    /// The port it listens on.
    pub port: u16,
}

impl GitDaemon {
    /// Serve `base` on a free port.
    pub fn start(base: &Path) -> GitDaemon {
        GitDaemon::start_on(base, super::free_port())
    }

    /// Serve `base` on `port` (to restart a stopped server where clients expect it); waits (at
    /// most 10 s) until it accepts connections.
    pub fn start_on(base: &Path, port: u16) -> GitDaemon {
        let child = Command::new(git_daemon_program())
            .args(["--reuseaddr", "--listen=127.0.0.1", "--export-all"])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon starts");
        let daemon = GitDaemon { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "git daemon did not listen on port {port} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        daemon
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
