//! A real Kubernetes control plane for the controller tests: etcd, kube-apiserver and
//! kube-controller-manager (garbage collector, namespace controller) from the binaries
//! `tests/control-plane/provision.sh` provides, on free loopback ports, with appset's CRDs
//! installed. One control plane per test binary, shared by its tests (each test works in its own
//! namespace). The processes are started with a parent-death signal from a thread that never
//! exits, so they die with the test process.

#![allow(dead_code)]

pub mod argo_app_controller;
pub mod azure_devops_server;
pub mod bitbucket_server;
pub mod browser;
pub mod forge;
pub mod git;
pub mod git_https;
pub mod gitea_server;
pub mod github_server;
pub mod gitlab_server;
pub mod no_network;
pub mod scm_server;
pub mod sshd;

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::core::v1::Namespace, apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, Config, ResourceExt,
    api::{DynamicObject, ListParams, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};

/// Where the control plane listens and how to reach it.
pub struct ControlPlane {
    /// Working directory (kubeconfig, logs, etcd data).
    pub dir: PathBuf,
    /// kubeconfig with an admin token.
    pub kubeconfig: PathBuf,
    /// API server URL.
    pub server: String,
    /// Directory of the binaries (kubectl included).
    pub bin: PathBuf,
    /// Process ids of etcd, kube-apiserver and kube-controller-manager (for CPU accounting).
    pub pids: Vec<(&'static str, u32)>,
}

impl ControlPlane {
    /// The API server's audit log (JSON lines, one per finished write of Applications and
    /// ApplicationSets, with the writer's User-Agent and the request's start and end times).
    pub fn audit_log(&self) -> PathBuf {
        self.dir.join("audit.log")
    }
}

/// What the API server audits: writes of Argo CD's resources, at the Metadata level (who, what,
/// when; no bodies). Everything else is not logged.
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  verbs: [create, update, patch, delete]
  resources:
  - group: argoproj.io
    resources: [applications, applicationsets, applicationsets/status]
- level: None
";

static CONTROL_PLANE: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
const TOKEN: &str = "appset-test-admin-token";

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A free port below the kernel's ephemeral range, for a server that is stopped and started
/// again on the same port (a port of the ephemeral range, free while the server is down, may be
/// taken meanwhile as the local port of an outgoing connection: seen as "address already in use"
/// when a restarted API server binds it).
pub fn free_port_for_restarts() -> u16 {
    let low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    // A start of its own per process and call, then the first port that binds (bounded).
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let span = u32::from(low.saturating_sub(20_000)).max(1);
    let seed = std::process::id() * 7919 + NEXT.fetch_add(97, std::sync::atomic::Ordering::SeqCst);
    for k in 0..span {
        let port = 20_000 + ((seed + k) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    free_port()
}

fn provision() -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/control-plane/provision.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("{} failed", script.display()));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = stdout.lines().last().unwrap_or_default().trim().to_string();
    Ok(PathBuf::from(dir))
}

/// Spawn `cmd` so that it is killed when this process dies.
fn spawn(bin: &Path, args: &[String], log: &Path) -> Result<Child, String> {
    let log = std::fs::File::create(log).map_err(|e| e.to_string())?;
    Command::new("setpriv")
        .arg("--pdeathsig")
        .arg("KILL")
        .arg("--")
        .arg(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("{what} not ready within {timeout:?}"))
}

/// Remove the working directories (etcd data, logs) of control planes whose test process is gone:
/// the processes die with their test process, but nothing is left to delete their files.
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("appset-control-plane-"))
            .and_then(|p| p.split('-').next()?.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A process to start from the keeper thread: (binary, arguments, log file, where to send its
/// pid).
type KeepRequest = (
    PathBuf,
    Vec<String>,
    PathBuf,
    std::sync::mpsc::Sender<Result<u32, String>>,
);

/// Start a process with a parent-death signal from a thread that never exits (the signal fires
/// when the thread that forked ends, so it must outlive every test): its pid.
fn keep(bin: &Path, args: &[String], log: &Path) -> Result<u32, String> {
    static KEEPER: OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<KeepRequest>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<KeepRequest>();
        std::thread::Builder::new()
            .name("control-plane".into())
            .spawn(move || {
                let mut children = Vec::new();
                for (bin, args, log, reply) in rx {
                    let child = spawn(&bin, &args, &log);
                    let _ = reply.send(child.as_ref().map(|c| c.id()).map_err(Clone::clone));
                    children.extend(child.ok());
                    // Reap the processes that ended (killed by a restart).
                    children.retain_mut(|c| c.try_wait().ok().flatten().is_none());
                }
                loop {
                    std::thread::park();
                }
            })
            .expect("keeper thread");
        std::sync::Mutex::new(tx)
    });
    let (reply, answer) = std::sync::mpsc::channel();
    keeper
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((bin.to_path_buf(), args.to_vec(), log.to_path_buf(), reply))
        .map_err(|e| e.to_string())?;
    answer.recv().map_err(|e| e.to_string())?
}

/// Ports and files of one control plane, and the arguments of its processes.
#[derive(Clone)]
struct Layout {
    dir: PathBuf,
    etcd_port: u16,
    peer_port: u16,
    api_port: u16,
}

impl Layout {
    fn new(dir: PathBuf) -> Result<Layout, String> {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("certs")).map_err(|e| e.to_string())?;
        let layout = Layout {
            dir,
            // Restarted in place by `PrivatePlane`.
            etcd_port: free_port_for_restarts(),
            peer_port: free_port_for_restarts(),
            api_port: free_port_for_restarts(),
        };
        let d = |p: &str| layout.path(p);
        // Service-account signing keys and the admin token.
        for args in [
            vec!["genrsa", "-out", &d("sa.key"), "2048"],
            vec!["rsa", "-in", &d("sa.key"), "-pubout", "-out", &d("sa.pub")],
        ] {
            let ok = Command::new("openssl")
                .args(&args)
                .stderr(Stdio::null())
                .status()
                .map_err(|e| e.to_string())?;
            if !ok.success() {
                return Err(format!("openssl {args:?} failed"));
            }
        }
        std::fs::write(
            layout.dir.join("tokens.csv"),
            format!("{TOKEN},admin,admin,\"system:masters\"\n"),
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(layout.dir.join("audit-policy.yaml"), AUDIT_POLICY).map_err(|e| e.to_string())?;
        std::fs::write(
            layout.dir.join("kubeconfig"),
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {}\n    \
                 insecure-skip-tls-verify: true\nusers:\n- name: admin\n  user:\n    token: {TOKEN}\ncontexts:\n- name: \
                 test\n  context: {{cluster: test, user: admin}}\ncurrent-context: test\n",
                layout.server()
            ),
        )
        .map_err(|e| e.to_string())?;
        Ok(layout)
    }

    fn path(&self, p: &str) -> String {
        self.dir.join(p).to_string_lossy().into_owned()
    }

    fn server(&self) -> String {
        format!("https://127.0.0.1:{}", self.api_port)
    }

    fn etcd_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.etcd_port)
    }

    fn etcd_args(&self) -> Vec<String> {
        let (etcd, peer) = (self.etcd_url(), format!("http://127.0.0.1:{}", self.peer_port));
        vec![
            format!("--data-dir={}", self.path("etcd")),
            format!("--listen-client-urls={etcd}"),
            format!("--advertise-client-urls={etcd}"),
            format!("--listen-peer-urls={peer}"),
            format!("--initial-advertise-peer-urls={peer}"),
            format!("--initial-cluster=default={peer}"),
            "--unsafe-no-fsync".into(),
        ]
    }

    fn api_args(&self) -> Vec<String> {
        let d = |p: &str| self.path(p);
        vec![
            format!("--etcd-servers={}", self.etcd_url()),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={}", self.api_port),
            "--insecure-port=0".into(),
            format!("--cert-dir={}", d("certs")),
            format!("--token-auth-file={}", d("tokens.csv")),
            "--authorization-mode=RBAC".into(),
            format!("--service-account-key-file={}", d("sa.pub")),
            format!("--service-account-signing-key-file={}", d("sa.key")),
            "--service-account-issuer=https://kubernetes.default.svc".into(),
            "--service-cluster-ip-range=10.96.0.0/24".into(),
            "--endpoint-reconciler-type=none".into(),
            "--disable-admission-plugins=ServiceAccount".into(),
            format!("--audit-policy-file={}", d("audit-policy.yaml")),
            format!("--audit-log-path={}", d("audit.log")),
            "--audit-log-format=json".into(),
            "--audit-log-mode=blocking".into(),
        ]
    }

    fn kcm_args(&self) -> Vec<String> {
        vec![
            format!("--kubeconfig={}", self.path("kubeconfig")),
            "--controllers=garbagecollector,namespace".into(),
            "--leader-elect=false".into(),
            "--port=0".into(),
            "--secure-port=0".into(),
            "--concurrent-gc-syncs=5".into(),
        ]
    }

    /// Wait until the API server (logging to `log` in the directory) answers `/readyz`.
    fn wait_api(&self, bin: &Path, log: &str) -> Result<(), String> {
        let readyz = |path: &str| {
            let mut kubectl = Command::new(bin.join("kubectl"));
            kubectl.args(["--kubeconfig", &self.path("kubeconfig"), "get", "--raw", path]);
            kubectl
        };
        wait_for("kube-apiserver", Duration::from_secs(90), || {
            readyz("/readyz")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map_err(|e| {
            // CI keeps no files: the failing checks and the log's end go into the message.
            let checks = readyz("/readyz?verbose")
                .output()
                .map(|o| {
                    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
                    text.push_str(&String::from_utf8_lossy(&o.stderr));
                    text.lines()
                        .filter(|l| !l.starts_with("[+]"))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_else(|e| e.to_string());
            let path = self.dir.join(log);
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            format!(
                "{e}; /readyz?verbose answers:\n{checks}\nthe end of {}:\n{tail}",
                path.display()
            )
        })
    }

    /// Start etcd, the API server (once etcd answers, it waits for it itself) and the controller
    /// manager: their pids.
    fn start_all(&self, bin: &Path) -> Result<[u32; 3], String> {
        let etcd = keep(&bin.join("etcd"), &self.etcd_args(), &self.dir.join("etcd.log"))?;
        let api = keep(
            &bin.join("kube-apiserver"),
            &self.api_args(),
            &self.dir.join("kube-apiserver.log"),
        )?;
        self.wait_api(bin, "kube-apiserver.log")?;
        let kcm = keep(
            &bin.join("kube-controller-manager"),
            &self.kcm_args(),
            &self.dir.join("kube-controller-manager.log"),
        )?;
        Ok([etcd, api, kcm])
    }
}

fn start() -> Result<ControlPlane, String> {
    let bin = provision()?;
    remove_stale_dirs();
    let layout =
        Layout::new(std::env::temp_dir().join(format!("appset-control-plane-{}", std::process::id())))?;
    let [etcd, api, kcm] = layout.start_all(&bin)?;
    Ok(ControlPlane {
        kubeconfig: layout.dir.join("kubeconfig"),
        server: layout.server(),
        dir: layout.dir,
        bin,
        pids: vec![
            ("etcd", etcd),
            ("kube-apiserver", api),
            ("kube-controller-manager", kcm),
        ],
    })
}

/// A control plane of one test's own, whose API server and etcd the test stops and starts
/// (fault tests); everything is killed when it is dropped.
pub struct PrivatePlane {
    layout: Layout,
    bin: PathBuf,
    /// Current pids of etcd, kube-apiserver and kube-controller-manager.
    pids: std::sync::Mutex<[u32; 3]>,
}

/// SIGKILL `pid` and wait (up to 10 s) until it is gone: every thread of it, not only the
/// first. A killed process's first thread can be a zombie while its other threads are still
/// exiting, and its files (the listening sockets) close with the last of them: a restart that
/// went on at the zombie found its port "already in use" (seen with kube-apiserver's threads).
fn kill_and_wait(pid: u32) {
    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    let _ = wait_for("a killed process to go", Duration::from_secs(10), || {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return true;
        };
        // What is left is zombies (not reaped yet) or nothing.
        tasks.flatten().all(|t| {
            std::fs::read_to_string(t.path().join("stat")).map_or(true, |s| {
                s.rsplit(')').next().and_then(|r| r.split_whitespace().next()) == Some("Z")
            })
        })
    });
}

/// Wait (up to 10 s) until `port` on 127.0.0.1 can be listened on again, as a restarted server
/// will (Go and Rust both set `SO_REUSEADDR`).
fn wait_port_free(port: u16) {
    let _ = wait_for("a port to be free", Duration::from_secs(10), || {
        TcpListener::bind(("127.0.0.1", port)).is_ok()
    });
}

impl PrivatePlane {
    /// Start a control plane named `name` (its directory is `appset-control-plane-PID-NAME`),
    /// with appset's CRDs.
    pub async fn start(name: &str) -> PrivatePlane {
        let name = name.to_string();
        let plane = tokio::task::spawn_blocking(move || -> Result<PrivatePlane, String> {
            let bin = provision()?;
            let layout = Layout::new(
                std::env::temp_dir().join(format!("appset-control-plane-{}-{name}", std::process::id())),
            )?;
            let pids = layout.start_all(&bin)?;
            Ok(PrivatePlane {
                layout,
                bin,
                pids: std::sync::Mutex::new(pids),
            })
        })
        .await
        .expect("starting a control plane")
        .unwrap_or_else(|e| panic!("private control plane: {e}"));
        let client = plane.client().await;
        for file in [
            "crds/applicationset.yaml",
            "crds/application.yaml",
            "tests/fixtures/appproject-crd.yaml",
        ] {
            let name = apply_crd(&client, file).await;
            wait_established(&client, &name).await;
        }
        plane
    }

    /// Its kubeconfig (an admin token).
    pub fn kubeconfig(&self) -> PathBuf {
        self.layout.dir.join("kubeconfig")
    }

    /// Its API server's audit log (see [`ControlPlane::audit_log`]).
    pub fn audit_log(&self) -> PathBuf {
        self.layout.dir.join("audit.log")
    }

    /// An admin client.
    pub async fn client(&self) -> Client {
        client_for(&self.kubeconfig()).await
    }

    fn pid(&self, i: usize) -> u32 {
        self.pids.lock().unwrap_or_else(|e| e.into_inner())[i]
    }

    /// Kill the API server (SIGKILL).
    pub fn stop_api_server(&self) {
        kill_and_wait(self.pid(1));
    }

    /// Start the API server again and wait until it is ready.
    pub async fn start_api_server(&self) {
        const LOG: &str = "kube-apiserver.log.restarted";
        wait_port_free(self.layout.api_port);
        let pid = keep(
            &self.bin.join("kube-apiserver"),
            &self.layout.api_args(),
            &self.layout.dir.join(LOG),
        )
        .expect("restart kube-apiserver");
        self.pids.lock().unwrap_or_else(|e| e.into_inner())[1] = pid;
        let (layout, bin) = (self.layout.clone(), self.bin.clone());
        tokio::task::spawn_blocking(move || layout.wait_api(&bin, LOG))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Kill etcd (SIGKILL) and start it again on the same data.
    pub fn restart_etcd(&self) {
        kill_and_wait(self.pid(0));
        wait_port_free(self.layout.etcd_port);
        wait_port_free(self.layout.peer_port);
        let pid = keep(
            &self.bin.join("etcd"),
            &self.layout.etcd_args(),
            &self.layout.dir.join("etcd.log.restarted"),
        )
        .expect("restart etcd");
        self.pids.lock().unwrap_or_else(|e| e.into_inner())[0] = pid;
    }
}

impl Drop for PrivatePlane {
    fn drop(&mut self) {
        for pid in self.pids.lock().unwrap_or_else(|e| e.into_inner()).iter().rev() {
            kill_and_wait(*pid);
        }
        // Kept when the test failed: its logs tell why.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.layout.dir);
        }
    }
}

/// The shared control plane (started and CRDs installed on first use).
pub fn control_plane() -> &'static ControlPlane {
    match CONTROL_PLANE.get_or_init(start) {
        Ok(cp) => cp,
        Err(e) => panic!("test control plane: {e}"),
    }
}

/// An admin client. `layer` wraps the transport (e.g. to count requests).
pub async fn client() -> Client {
    client_for(&control_plane().kubeconfig).await
}

/// An admin client of the control plane of `kubeconfig`.
async fn client_for(kubeconfig: &Path) -> Client {
    appset::install_crypto_provider();
    init_logging();
    let kc = Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

/// An admin client whose writes (POST, PUT, PATCH, DELETE) are counted in `writes`.
pub async fn counting_client(writes: Arc<AtomicU64>) -> Client {
    recording_client(writes, None).await
}

/// A client that counts write requests and logs each as `METHOD path` (to tell which objects
/// were written, and how).
pub async fn logging_client(log: Arc<std::sync::Mutex<Vec<String>>>) -> Client {
    recording_client(Arc::new(AtomicU64::new(0)), Some(log)).await
}

async fn recording_client(writes: Arc<AtomicU64>, log: Option<Arc<std::sync::Mutex<Vec<String>>>>) -> Client {
    appset::install_crypto_provider();
    let cp = control_plane();
    let kc = Kubeconfig::read_from(&cp.kubeconfig).expect("kubeconfig");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    let layer = tower::layer::layer_fn(move |inner| CountWrites {
        inner,
        writes: writes.clone(),
        log: log.clone(),
    });
    kube::client::ClientBuilder::try_from(config)
        .expect("builder")
        .with_layer(&layer)
        .build()
}

/// A tower service that counts (and optionally logs) write requests.
#[derive(Clone)]
pub struct CountWrites<S> {
    inner: S,
    writes: Arc<AtomicU64>,
    log: Option<Arc<std::sync::Mutex<Vec<String>>>>,
}

impl<S, B> tower::Service<http::Request<B>> for CountWrites<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if !matches!(
            req.method(),
            &http::Method::GET | &http::Method::HEAD | &http::Method::OPTIONS
        ) {
            self.writes.fetch_add(1, Ordering::SeqCst);
            if let Some(log) = &self.log {
                log.lock().unwrap_or_else(|p| p.into_inner()).push(format!(
                    "{} {}",
                    req.method(),
                    req.uri().path()
                ));
            }
        }
        self.inner.call(req)
    }
}

static CRDS: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// Install `crds/` (the committed files) and wait until they are established.
pub async fn install_crds(client: &Client) {
    CRDS.get_or_init(|| async {
        // appset's two CRDs, and Argo CD's AppProject (a test fixture: appset reads projects).
        for file in [
            "crds/applicationset.yaml",
            "crds/application.yaml",
            "tests/fixtures/appproject-crd.yaml",
        ] {
            apply_crd(client, file).await;
        }
        for name in [
            "applicationsets.argoproj.io",
            "applications.argoproj.io",
            "appprojects.argoproj.io",
        ] {
            wait_established(client, name).await;
        }
    })
    .await;
}

/// Apply the CRD of `file` (relative to the crate) by server-side apply; returns its name.
pub async fn apply_crd(client: &Client, file: &str) -> String {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).expect("crd file");
    let crd: CustomResourceDefinition = serde_saphyr::from_str(&text).expect("crd yaml");
    let name = crd.metadata.name.clone().expect("crd name");
    api.patch(
        &name,
        &PatchParams::apply("appset-tests").force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap_or_else(|e| panic!("the API server rejected {file}: {e}"));
    name
}

/// Wait (up to 30 s) until the CRD `name` is established (its resource served).
pub async fn wait_established(client: &Client, name: &str) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    eventually(Duration::from_secs(30), || async {
        api.get(name)
            .await
            .ok()
            .and_then(|c| c.status)
            .and_then(|s| s.conditions)
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"))
    })
    .await
    .unwrap_or_else(|_| panic!("{name} not established"));
}

/// A fresh namespace for one test.
pub async fn namespace(client: &Client, name: &str) -> String {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    api.create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("namespace {name}: {e}"));
    name.to_string()
}

/// A client for a test in its own fresh namespace `ns`, with the CRDs installed.
pub async fn setup(ns: &str) -> Client {
    let client = client().await;
    install_crds(&client).await;
    namespace(&client, ns).await;
    client
}

/// The Applications in `ns`.
pub fn apps_api(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &appset::controller::application_resource())
}

/// The names of the Applications in `ns` that are not being deleted, sorted.
pub async fn app_names(client: &Client, ns: &str) -> Vec<String> {
    let mut names: Vec<String> = apps_api(client, ns)
        .list(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter(|a| a.metadata.deletion_timestamp.is_none())
                .map(|a| a.name_any())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The value of the unlabelled metric `name` in a Prometheus (OpenMetrics) text exposition.
pub fn metric_value(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// How many reconciles `metrics` has counted (0 before the first).
pub fn reconciles(metrics: &appset::metrics::Metrics) -> u64 {
    metric_value(&metrics.encode(), "appset_reconciles_total").unwrap_or(0)
}

/// Poll `check` until it holds (bounded: every 100 ms up to `timeout`).
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> Result<(), ()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Controller logs on stderr when `RUST_LOG` is set (shown for failing tests).
pub fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

fn body_hash(body: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    h.finish()
}

/// Whether `path` (a trailing `/` trimmed) is among `files`: `Some(true)` a file, `Some(false)`
/// a directory holding one, `None` absent (what the forge-shaped servers' path checks answer).
pub fn path_kind(files: &[String], path: &str) -> Option<bool> {
    let path = path.trim_matches('/');
    if files.iter().any(|f| f == path) {
        return Some(true);
    }
    files
        .iter()
        .any(|f| f.strip_prefix(path).is_some_and(|rest| rest.starts_with('/')))
        .then_some(false)
}

/// A commit SHA of `repo` at `branch`, revision `n` (the SCM-shaped servers' fixtures).
pub fn scm_sha(repo: &str, branch: &str, n: u64) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ n;
    for b in repo.bytes().chain([b'@']).chain(branch.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}{h:016x}{:08x}", n as u32)
}

/// A branch of an SCM-shaped server's repository: (name, commit, files at that commit).
pub type FixtureBranch = (String, String, Vec<String>);

/// The `n` repositories `{prefix}NN` of an SCM-shaped server: (index, name, branches), each
/// with `main` and `feature/x`; every third one's `main` has `deploy/app.yaml`.
pub fn scm_fixture(prefix: &str, n: u64) -> Vec<(u64, String, Vec<FixtureBranch>)> {
    (0..n)
        .map(|i| {
            let name = format!("{prefix}{i:02}");
            let mut files = vec!["README.md".to_string()];
            if i % 3 == 0 {
                files.push("deploy/app.yaml".into());
            }
            let branches = vec![
                ("main".into(), scm_sha(&name, "main", 0), files),
                ("feature/x".into(), scm_sha(&name, "feature/x", 0), vec![]),
            ];
            (i, name, branches)
        })
        .collect()
}

/// A strong `ETag` for a body (the forge-shaped servers' conditional answers).
pub fn strong_etag(body: &str) -> String {
    format!("\"{:016x}\"", body_hash(body))
}

/// A weak `ETag` for a body (`W/"…"`, as GitHub, GitLab and Gitea send them).
pub fn weak_etag(body: &str) -> String {
    format!("W/\"{:016x}\"", body_hash(body))
}

/// What one `appset render` run printed.
pub struct Rendered {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Run the `appset render` binary on `text` (an ApplicationSet file, with its recorded
/// inputs), with `args` after the file and `env` set, off the async runtime's threads (the
/// binary may talk to a server this test serves). Its HOME and git cache are its own; no
/// forge token or offline switch leaks in from the test's environment.
pub async fn appset_render(text: &str, args: &[&str], env: &[(&str, &str)]) -> Rendered {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("set.yaml");
    std::fs::write(&file, text).unwrap();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_appset"))
            .arg("render")
            .arg(&file)
            .args(&args)
            .env("HOME", dir.path().join("home"))
            .env("APPSET_GIT_CACHE", dir.path().join("cache"))
            .env_remove("KUBECONFIG")
            .env_remove("APPSET_OFFLINE")
            .env_remove("GITHUB_TOKEN")
            .env_remove("GITLAB_TOKEN")
            .envs(env)
            .output()
            .expect("run appset");
        Rendered {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

/// A minimal HTTP/1.0 GET on 127.0.0.1 (status code and body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        code,
        buf.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default(),
    ))
}

/// An `appset run` process; killed (SIGKILL) when dropped.
pub struct Replica {
    /// The process.
    pub child: std::process::Child,
    /// Its `/metrics`, `/healthz` and `/api/webhook` port on 127.0.0.1.
    pub port: u16,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `appset run ARGS` for namespace `ns` of the control plane of `kubeconfig`, as `identity`, with
/// Leases of 3 s.
pub fn replica(kubeconfig: &Path, ns: &str, identity: &str, args: &[&str]) -> Replica {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_appset"))
        .arg("run")
        .args(args)
        .args([
            "--lease-duration-seconds",
            "3",
            "--namespaces",
            ns,
            "--controller-namespace",
            ns,
        ])
        .args(["--identity", identity, "--listen", &format!("127.0.0.1:{port}")])
        .env("KUBECONFIG", kubeconfig)
        // As in a pod: sharded replicas advertise http://POD_IP:PORT to forward webhooks.
        .env("POD_IP", "127.0.0.1")
        .env(
            "APPSET_GIT_CACHE",
            std::env::temp_dir().join(format!("appset-replica-{identity}")),
        )
        .env(
            "RUST_LOG",
            std::env::var("APPSET_REPLICA_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        // Its log, to read when a test fails.
        .stderr(
            std::fs::File::create(std::env::temp_dir().join(format!("appset-replica-{identity}.log")))
                .map_or_else(|_| Stdio::null(), Stdio::from),
        )
        .spawn()
        .expect("appset run");
    Replica { child, port }
}

/// One write of an Application or ApplicationSet as the API server's audit log tells it.
#[derive(Debug)]
pub struct AuditedWrite {
    /// The writer: the identity in an appset replica's User-Agent `appset/VERSION (IDENTITY)`,
    /// else the whole User-Agent.
    pub writer: String,
    /// `create`, `update`, `patch`, `delete`.
    pub verb: String,
    /// `applications` or `applicationsets`.
    pub resource: String,
    /// The object's name.
    pub name: String,
    /// The HTTP status of the answer.
    pub code: u64,
    /// When the API server received the request and when it answered.
    pub start: jiff::Timestamp,
    /// See `start`.
    pub end: jiff::Timestamp,
}

/// The writes made in `ns` according to the audit log at `path`, in the order the API server
/// received them.
pub fn audited_writes(path: &Path, ns: &str) -> Vec<AuditedWrite> {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let mut writes: Vec<AuditedWrite> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["objectRef"]["namespace"] == ns && e["stage"] == "ResponseComplete")
        .filter_map(|e| {
            let agent = e["userAgent"].as_str().unwrap_or_default();
            let writer = agent
                .strip_prefix("appset/")
                .and_then(|a| a.split_once(" (")?.1.strip_suffix(')'))
                .unwrap_or(agent);
            Some(AuditedWrite {
                writer: writer.to_string(),
                verb: e["verb"].as_str()?.to_string(),
                resource: e["objectRef"]["resource"].as_str()?.to_string(),
                name: e["objectRef"]["name"].as_str().unwrap_or_default().to_string(),
                code: e["responseStatus"]["code"].as_u64().unwrap_or_default(),
                start: e["requestReceivedTimestamp"].as_str()?.parse().ok()?,
                end: e["stageTimestamp"].as_str()?.parse().ok()?,
            })
        })
        .collect();
    writes.sort_by_key(|w| w.start);
    writes
}
