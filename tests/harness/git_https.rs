//! A real smart-HTTP git server on 127.0.0.1: `git http-backend` (git's own CGI program) behind
//! HTTPS with a test CA made here by `openssl`, basic auth for one user and token, and, when
//! asked, client certificates signed by the same CA. It runs on its own thread and runtime and
//! stops when dropped.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Arc,
};

use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Bytes, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio_rustls::rustls::{
    self,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};

/// A running server.
pub struct GitHttps {
    /// The port on 127.0.0.1.
    pub port: u16,
    /// The test CA's certificate (PEM): trust it to reach the server.
    pub ca_pem: String,
    /// A client certificate and its key (PEM), signed by the CA.
    pub client_cert: String,
    /// The client certificate's key (PEM).
    pub client_key: String,
    /// The user name basic auth accepts.
    pub user: String,
    /// The token (password) basic auth accepts.
    pub token: String,
    /// Every `Authorization` header received, in order.
    pub authorizations: Arc<std::sync::Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for GitHttps {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A key and a certificate for `cn` signed by the CA in `dir` (with `ext` as extensions).
fn signed(dir: &Path, name: &str, cn: &str, ext: &str) {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let crt = format!("{name}.pem");
    let extfile = format!("{name}.ext");
    std::fs::write(dir.join(&extfile), ext).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={cn}"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &crt,
            "-extfile",
            &extfile,
        ],
    );
}

impl GitHttps {
    /// Serve the repositories under `root` (URL path = path under `root`). With
    /// `require_client_cert`, TLS asks for a client certificate signed by the test CA.
    pub fn start(root: &Path, require_client_cert: bool) -> GitHttps {
        GitHttps::start_for(root, require_client_cert, "ci-bot", "s3cret-token")
    }

    /// [`GitHttps::start`] accepting `user` and `token`.
    pub fn start_for(root: &Path, require_client_cert: bool, user: &str, token: &str) -> GitHttps {
        GitHttps::start_with(root, require_client_cert, user, token, false)
    }

    /// [`GitHttps::start_for`]; with `hide`, a request without valid credentials gets 404 and no
    /// challenge, as servers that hide private repositories answer.
    pub fn start_with(
        root: &Path,
        require_client_cert: bool,
        user: &str,
        token: &str,
        hide: bool,
    ) -> GitHttps {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=appset test CA",
            ],
        );
        signed(
            d,
            "server",
            "127.0.0.1",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        );
        signed(d, "client", "appset-client", "extendedKeyUsage=clientAuth\n");
        let read = |name: &str| std::fs::read_to_string(d.join(name)).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(d.join("server.pem"))
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let key = PrivateKeyDer::from_pem_file(d.join("server.key")).unwrap();
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let config = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            for ca in CertificateDer::pem_file_iter(d.join("ca.pem")).unwrap() {
                roots.add(ca.unwrap()).unwrap();
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        }
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (user, token) = (user.to_owned(), token.to_owned());
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
        );
        let root = root.to_owned();
        let authorizations: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let seen = authorizations.clone();
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (tcp, _) = tokio::select! {
                        r = listener.accept() => match r { Ok(c) => c, Err(_) => continue },
                        _ = &mut stop_rx => return,
                    };
                    let (acceptor, root, expected) = (acceptor.clone(), root.clone(), expected.clone());
                    let seen = seen.clone();
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                            if let Some(v) = req.headers().get("authorization").and_then(|v| v.to_str().ok())
                            {
                                seen.lock().unwrap().push(v.to_owned());
                            }
                            let (root, expected) = (root.clone(), expected.clone());
                            async move {
                                Ok::<_, std::convert::Infallible>(serve(req, &root, &expected, hide).await)
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(tls), service)
                            .await;
                    });
                }
            });
        });
        GitHttps {
            port,
            ca_pem: read("ca.pem"),
            client_cert: read("client.pem"),
            client_key: read("client.key"),
            user,
            token,
            authorizations,
            stop: Some(stop_tx),
            thread: Some(thread),
            _dir: dir,
        }
    }

    /// The `https://` URL of the repository `name` under the served root.
    pub fn url(&self, name: &str) -> String {
        format!("https://127.0.0.1:{}/{name}", self.port)
    }
}

/// One request through `git http-backend` (CGI), after basic auth.
async fn serve(
    req: Request<hyper::body::Incoming>,
    root: &Path,
    expected: &str,
    hide: bool,
) -> Response<Full<Bytes>> {
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected);
    if !authorized && hide {
        return Response::builder()
            .status(404)
            .body(Full::new(Bytes::from_static(b"not found\n")))
            .unwrap();
    }
    if !authorized {
        return Response::builder()
            .status(401)
            .header("www-authenticate", "Basic realm=\"git\"")
            .body(Full::new(Bytes::from_static(b"authentication required\n")))
            .unwrap();
    }
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (content_type, encoding, protocol) = (
        header("content-type"),
        header("content-encoding"),
        header("git-protocol"),
    );
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let root: PathBuf = root.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("git")
            .arg("http-backend")
            .env("GIT_PROJECT_ROOT", &root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("REQUEST_METHOD", &method)
            .env("PATH_INFO", &path)
            .env("QUERY_STRING", &query)
            .env("CONTENT_TYPE", &content_type)
            .env("HTTP_CONTENT_ENCODING", &encoding)
            .env("GIT_PROTOCOL", &protocol)
            .env("REMOTE_USER", "ci-bot")
            .env("REMOTE_ADDR", "127.0.0.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("git http-backend");
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&body);
        });
        let out = child.wait_with_output().expect("http-backend output");
        let _ = writer.join();
        out.stdout
    })
    .await
    .unwrap();
    // CGI: headers, a blank line, the body.
    let split = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| output.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((at, len)) = split else {
        return Response::builder()
            .status(500)
            .body(Full::new(Bytes::new()))
            .unwrap();
    };
    let mut response = Response::builder();
    let mut status = 200;
    for line in String::from_utf8_lossy(&output[..at]).lines() {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("status") {
                status = value
                    .trim()
                    .split(' ')
                    .next()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(500);
            } else {
                response = response.header(name.trim(), value.trim());
            }
        }
    }
    response
        .status(status)
        .body(Full::new(Bytes::copy_from_slice(&output[at + len..])))
        .unwrap()
}
