//! An environment in which `appset` cannot reach the network unnoticed: every way out that a live
//! read takes leads to a trap on 127.0.0.1, and the git cache starts empty.
//!
//! - HTTP(S) (gix over reqwest, octocrab, kube): `http_proxy`, `https_proxy`, `ALL_PROXY` (both
//!   cases) name the trap, `NO_PROXY` is cleared.
//! - The Kubernetes API: `KUBECONFIG` names a cluster at the trap; `HOME` is a fresh directory, so
//!   no `~/.kube/config` is found either.
//! - GitHub: `APPSET_GITHUB_API` is the trap; `GITHUB_TOKEN` is removed.
//! - git over `git://`, `ssh://` or a path: every fetch starts by making its bare clone under
//!   `APPSET_GIT_CACHE`, an empty directory that must stay empty.
//!
//! [`NoNetwork::assert_untouched`] fails when anything connected to the trap or wrote to the cache.

use std::{
    io::ErrorKind,
    net::TcpListener,
    path::{Path, PathBuf},
    process::Command,
};

/// The trap, the empty git cache and the fresh home of one test.
pub struct NoNetwork {
    trap: TcpListener,
    dir: tempfile::TempDir,
}

impl NoNetwork {
    pub fn new() -> Self {
        let trap = TcpListener::bind("127.0.0.1:0").expect("bind the trap");
        trap.set_nonblocking(true).expect("non-blocking trap");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        std::fs::create_dir_all(dir.path().join("git-cache")).expect("git cache");
        let url = format!("https://{}", trap.local_addr().expect("trap address"));
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: trap, cluster: {{server: '{url}'}}}}]\n\
             users: [{{name: trap, user: {{token: t}}}}]\n\
             contexts: [{{name: trap, context: {{cluster: trap, user: trap}}}}]\ncurrent-context: trap\n"
        );
        std::fs::write(dir.path().join("kubeconfig"), kubeconfig).expect("kubeconfig");
        NoNetwork { trap, dir }
    }

    /// The trap's address, `http://127.0.0.1:PORT`.
    pub fn trap_url(&self) -> String {
        format!("http://{}", self.trap.local_addr().expect("trap address"))
    }

    /// The git cache that must stay empty.
    pub fn git_cache(&self) -> PathBuf {
        self.dir.path().join("git-cache")
    }

    /// `program` with the environment above, everything else inherited.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        let trap = self.trap_url();
        for var in [
            "http_proxy",
            "HTTP_PROXY",
            "https_proxy",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
        ] {
            c.env(var, &trap);
        }
        for var in [
            "no_proxy",
            "NO_PROXY",
            "GITHUB_TOKEN",
            "XDG_CACHE_HOME",
            "APPSET_CLUSTERS",
            "APPSET_PULL_REQUESTS",
            "APPSET_OFFLINE",
            "RUST_LOG",
        ] {
            c.env_remove(var);
        }
        c.env("HOME", self.dir.path().join("home"))
            .env("APPSET_GIT_CACHE", self.git_cache())
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .env("APPSET_GITHUB_API", &trap);
        c
    }

    /// Nothing connected to the trap and nothing was written to the git cache (`what` names the
    /// command in the failure).
    pub fn assert_untouched(&self, what: &str) {
        match self.trap.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Ok((_, from)) => panic!("{what}: reached for the network (a connection from {from})"),
            Err(e) => panic!("{what}: the trap failed: {e}"),
        }
        let cached = entries(&self.git_cache());
        assert!(
            cached.is_empty(),
            "{what}: fetched git repositories into the cache: {cached:?}"
        );
    }
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}
