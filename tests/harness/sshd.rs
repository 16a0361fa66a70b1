//! A real OpenSSH server (Debian's `openssh-server`) on 127.0.0.1, serving git repositories over
//! SSH to one client key: its own configuration, host key and `authorized_keys` in a temporary
//! directory, started in the foreground and killed when dropped.

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::free_port;

/// A running sshd.
pub struct Sshd {
    child: Child,
    /// The port on 127.0.0.1.
    pub port: u16,
    /// The client's private key (OpenSSH format), authorised for the current user.
    pub client_key: String,
    /// Another private key, not authorised.
    pub other_key: String,
    /// The `known_hosts` line of the server's host key.
    pub known_hosts: String,
    /// A `known_hosts` line for this address with another host key.
    pub wrong_known_hosts: String,
    _dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "appset-test", "-f"])
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .expect("ssh-keygen (package openssh-client)");
    assert!(status.success(), "ssh-keygen failed");
}

fn public_key(path: &Path) -> String {
    let text = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    text.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// The sshd binary (Debian puts it in /usr/sbin).
fn sshd_binary() -> PathBuf {
    ["/usr/sbin/sshd", "/usr/bin/sshd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("sshd not found: install Debian's openssh-server (.ci/run does)")
}

impl Sshd {
    /// Start sshd; panics when it does not listen within 10 s.
    pub fn start() -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        for name in ["host_key", "other_host_key", "client_key", "other_key"] {
            keygen(&path(name));
        }
        std::fs::write(
            path("authorized_keys"),
            format!("{}\n", public_key(&path("client_key"))),
        )
        .unwrap();
        // sshd's privilege separation needs this directory (the package's service creates it).
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {pid}\n\
             AuthorizedKeysFile {auth}\nPubkeyAuthentication yes\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nStrictModes no\n\
             UsePAM no\nLogLevel ERROR\nMaxStartups 100\n",
            host = path("host_key").display(),
            pid = path("sshd.pid").display(),
            auth = path("authorized_keys").display(),
        );
        std::fs::write(path("sshd_config"), config).unwrap();
        let child = Command::new(sshd_binary())
            .args(["-D", "-e", "-f"])
            .arg(path("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let read = |name: &str| std::fs::read_to_string(path(name)).unwrap();
        Sshd {
            child,
            port,
            client_key: read("client_key"),
            other_key: read("other_key"),
            known_hosts: format!("[127.0.0.1]:{port} {}\n", public_key(&path("host_key"))),
            wrong_known_hosts: format!("[127.0.0.1]:{port} {}\n", public_key(&path("other_host_key"))),
            _dir: dir,
        }
    }

    /// The `ssh://` URL of a repository at an absolute local path, as the current user.
    pub fn url(&self, repo: &Path) -> String {
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "root".to_owned());
        format!("ssh://{user}@127.0.0.1:{}{}", self.port, repo.display())
    }
}
