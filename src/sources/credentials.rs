//! Argo CD's repository credentials: which Secret's credential a git URL is read with.
//!
//! Stage: sources (pure: parses Secrets that were read elsewhere, from the Kubernetes API or from
//! a `--repo-creds` file, and matches URLs against them).
//!
//! Argo CD keeps them as Secrets in its own namespace, labelled
//! `argocd.argoproj.io/secret-type`:
//! - `repository`: one repository, matched by URL after Argo CD's normalisation
//!   ([`normalize_git_url`]); a Secret with `project` set applies only to ApplicationSets of that
//!   project, and one of the same project wins over one without.
//! - `repo-creds`: a credential template for every repository whose normalised URL starts with its
//!   URL; the longest prefix wins. A `repository` Secret without credentials of its own takes the
//!   template's (Argo CD's `CopyCredentialsFrom`).
//!
//! Secret values never leave this module in a message: [`RepoCredential`]'s `Debug` shows which
//! fields are set, not their values, and every error names the Secret and the field, not the
//! content.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;

use super::secret_field;

/// The label that says what an Argo CD Secret is.
pub const SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";

/// What a credential Secret describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// `repository`: one repository.
    Repository,
    /// `repo-creds`: every repository under a URL prefix.
    Template,
}

/// A GitHub App that mints installation tokens for HTTPS git.
#[derive(Clone, PartialEq, Eq)]
pub struct GitHubApp {
    /// `githubAppID`.
    pub app_id: u64,
    /// `githubAppInstallationID`.
    pub installation_id: u64,
    /// `githubAppPrivateKey` (PEM).
    pub private_key: String,
    /// `githubAppEnterpriseBaseUrl`: the API of a GitHub Enterprise server (None: api.github.com).
    pub enterprise_base_url: Option<String>,
}

/// One credential Secret, parsed.
#[derive(Clone, PartialEq, Eq)]
pub struct RepoCredential {
    /// The Secret it came from, `namespace/name` (named in every message about it).
    pub source: String,
    /// Repository or template.
    pub kind: CredentialKind,
    /// `url`, as written.
    pub url: String,
    /// `project`: the AppProject this repository is scoped to (None: every project).
    pub project: Option<String>,
    /// `username` (HTTPS).
    pub username: Option<String>,
    /// `password` (HTTPS; a token works as the password).
    pub password: Option<String>,
    /// `sshPrivateKey` (PEM / OpenSSH).
    pub ssh_private_key: Option<String>,
    /// `insecure` or `insecureIgnoreHostKey`: no host-key (SSH) or certificate (HTTPS) check.
    pub insecure: bool,
    /// `tlsClientCertData` (PEM).
    pub tls_client_cert: Option<String>,
    /// `tlsClientCertKey` (PEM).
    pub tls_client_key: Option<String>,
    /// `githubAppID` + `githubAppInstallationID` + `githubAppPrivateKey`.
    pub github_app: Option<GitHubApp>,
    /// `proxy`: the HTTP(S) proxy for this repository.
    pub proxy: Option<String>,
    /// `noProxy`: hosts that bypass the proxy.
    pub no_proxy: Option<String>,
    /// `forceHttpBasicAuth`: send basic auth without waiting for a challenge.
    pub force_http_basic_auth: bool,
}

impl std::fmt::Debug for RepoCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("RepoCredential")
            .field("source", &self.source)
            .field("kind", &self.kind)
            .field("url", &redact_url(&self.url))
            .field("project", &self.project)
            .field("username", &self.username)
            .field("password", &set(&self.password))
            .field("ssh_private_key", &set(&self.ssh_private_key))
            .field("insecure", &self.insecure)
            .field("tls_client_cert", &set(&self.tls_client_cert))
            .field("tls_client_key", &set(&self.tls_client_key))
            .field(
                "github_app",
                &self.github_app.as_ref().map(|a| (a.app_id, a.installation_id)),
            )
            .field("proxy", &self.proxy.as_deref().map(redact_url))
            .field("force_http_basic_auth", &self.force_http_basic_auth)
            .finish()
    }
}

impl RepoCredential {
    /// Whether it carries any credential (Argo CD's `HasCredentials`); a repository Secret without
    /// one takes its template's.
    pub fn has_credentials(&self) -> bool {
        self.username.is_some()
            || self.password.is_some()
            || self.ssh_private_key.is_some()
            || self.tls_client_cert.is_some()
            || self.github_app.is_some()
    }

    /// A stable fingerprint of everything that decides what this credential may read: the git
    /// cache keeps one clone per (URL, fingerprint), so two credentials for one URL never share
    /// what one of them may not see. Not reversible (SHA-256).
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [
            self.username.as_deref(),
            self.password.as_deref(),
            self.ssh_private_key.as_deref(),
            self.tls_client_cert.as_deref(),
            self.tls_client_key.as_deref(),
            self.github_app.as_ref().map(|a| a.private_key.as_str()),
        ] {
            h.update(part.unwrap_or("\u{0}").as_bytes());
            h.update([0xff]);
        }
        if let Some(app) = &self.github_app {
            h.update(format!("{}/{}", app.app_id, app.installation_id).as_bytes());
        }
        h.update([u8::from(self.insecure)]);
        hex::encode(&h.finalize()[..8])
    }

    /// Argo CD's `CopyCredentialsFrom`: take `template`'s credentials (this one has none).
    fn fill_from(&mut self, template: &RepoCredential) {
        self.username = template.username.clone();
        self.password = template.password.clone();
        self.ssh_private_key = template.ssh_private_key.clone();
        self.tls_client_cert = template.tls_client_cert.clone();
        self.tls_client_key = template.tls_client_key.clone();
        self.github_app = template.github_app.clone();
        if self.proxy.is_none() {
            self.proxy = template.proxy.clone();
            self.no_proxy = template.no_proxy.clone();
        }
        self.force_http_basic_auth |= template.force_http_basic_auth;
        self.source = format!("{} (credentials from {})", self.source, template.source);
    }
}

/// A credential Secret that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("repository credential Secret {secret}: {message}")]
pub struct CredentialError {
    /// `namespace/name`.
    pub secret: String,
    /// What is wrong (never a value).
    pub message: String,
}

/// Every repository credential of an installation.
#[derive(Debug, Clone, Default)]
pub struct RepoCredentials {
    repositories: Vec<RepoCredential>,
    templates: Vec<RepoCredential>,
    /// Known SSH host keys (`argocd-ssh-known-hosts-cm`, key `ssh_known_hosts`), in
    /// `known_hosts` format.
    pub known_hosts: Option<String>,
    /// Extra CA certificates by host name (`argocd-tls-certs-cm`), PEM.
    pub tls_certs: BTreeMap<String, String>,
}

impl RepoCredentials {
    /// The credential Secrets among `secrets` (others are ignored); a Secret that is labelled as
    /// one but cannot be parsed is an error, reported for that Secret alone.
    pub fn from_secrets<'s>(secrets: impl IntoIterator<Item = &'s Secret>) -> (Self, Vec<CredentialError>) {
        let mut out = RepoCredentials::default();
        let mut errors = Vec::new();
        for secret in secrets {
            let kind = match secret
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SECRET_TYPE_LABEL))
                .map(String::as_str)
            {
                Some("repository") => CredentialKind::Repository,
                Some("repo-creds") => CredentialKind::Template,
                _ => continue,
            };
            match parse(secret, kind) {
                Ok(c) if kind == CredentialKind::Repository => out.repositories.push(c),
                Ok(c) => out.templates.push(c),
                Err(e) => errors.push(e),
            }
        }
        (out, errors)
    }

    /// The credentials among Kubernetes manifests (what `--repo-creds FILE` holds: the same
    /// Secrets an Argo CD installation keeps, plus its ConfigMaps `argocd-ssh-known-hosts-cm`
    /// and `argocd-tls-certs-cm`); other documents are ignored.
    pub fn from_manifests(docs: &[serde_json::Value]) -> (Self, Vec<CredentialError>) {
        let kind = |d: &serde_json::Value| {
            d.get("kind")
                .and_then(|k| k.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let mut secrets = Vec::new();
        let mut errors = Vec::new();
        for doc in docs.iter().filter(|d| kind(d) == "Secret") {
            match serde_json::from_value::<Secret>(doc.clone()) {
                Ok(s) => secrets.push(s),
                Err(e) => errors.push(CredentialError {
                    secret: doc
                        .pointer("/metadata/name")
                        .and_then(|n| n.as_str())
                        .unwrap_or("?")
                        .to_owned(),
                    message: format!("not a Secret: {e}"),
                }),
            }
        }
        let (mut out, parse_errors) = RepoCredentials::from_secrets(&secrets);
        errors.extend(parse_errors);
        for doc in docs.iter().filter(|d| kind(d) == "ConfigMap") {
            let name = doc.pointer("/metadata/name").and_then(|n| n.as_str());
            let data = doc.get("data").and_then(|d| d.as_object());
            match (name, data) {
                (Some("argocd-ssh-known-hosts-cm"), Some(data)) => {
                    out.known_hosts = data
                        .get("ssh_known_hosts")
                        .and_then(|v| v.as_str())
                        .map(str::to_owned);
                }
                (Some("argocd-tls-certs-cm"), Some(data)) => {
                    out.tls_certs = data
                        .iter()
                        .filter_map(|(host, pem)| Some((host.clone(), pem.as_str()?.to_owned())))
                        .collect();
                }
                _ => {}
            }
        }
        (out, errors)
    }

    /// The extra CA certificates (PEM) for the HTTPS host of `url` (`argocd-tls-certs-cm` is
    /// keyed by host name; an entry for `host:port` wins).
    pub fn tls_ca_for(&self, url: &str) -> Option<String> {
        let rest = url.split_once("://")?.1;
        let authority = rest.split('/').next().unwrap_or_default();
        let host_port = authority.rsplit('@').next().unwrap_or_default().to_lowercase();
        let host = match host_port.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h.to_owned(),
            _ => host_port.clone(),
        };
        self.tls_certs
            .get(&host_port)
            .or_else(|| self.tls_certs.get(&host))
            .cloned()
    }

    /// The fingerprints of every credential a lookup can return (each repository Secret, each
    /// template, and each repository Secret filled from a template): what the git cache may keep
    /// key files for.
    pub fn fingerprints(&self) -> std::collections::BTreeSet<String> {
        let mut out: std::collections::BTreeSet<String> = self
            .repositories
            .iter()
            .chain(&self.templates)
            .map(RepoCredential::fingerprint)
            .collect();
        for r in self.repositories.iter().filter(|r| !r.has_credentials()) {
            for t in &self.templates {
                let mut filled = r.clone();
                filled.fill_from(t);
                out.insert(filled.fingerprint());
            }
        }
        out
    }

    /// Whether there is no credential at all.
    pub fn is_empty(&self) -> bool {
        self.repositories.is_empty() && self.templates.is_empty()
    }

    /// The credential to read `url` with for an ApplicationSet of `project` (Argo CD's
    /// `GetRepository` then `GetRepoCreds`): a repository Secret of this URL and project, else one
    /// of this URL without a project, else the template with the longest matching prefix. None:
    /// read without a credential.
    ///
    /// Unlike Argo CD's plain string prefix, a template's URL covers a repository only up to a
    /// boundary (`/` or `:` follows, or the prefix ends with one), so the credential of
    /// `https://git.example.com` is never sent to `https://git.example.com.attacker.io/x`, nor
    /// that of `https://github.com/org` to `https://github.com/org-evil/x`: an ApplicationSet's
    /// author cannot pick the host a credential goes to.
    pub fn lookup(&self, url: &str, project: &str) -> Option<RepoCredential> {
        let wanted = normalize_git_url(url);
        let same_url = |c: &&RepoCredential| normalize_git_url(&c.url) == wanted;
        let repository = self
            .repositories
            .iter()
            .filter(same_url)
            .find(|c| c.project.as_deref() == Some(project))
            .or_else(|| {
                self.repositories
                    .iter()
                    .filter(same_url)
                    .find(|c| c.project.is_none())
            });
        let template = self
            .templates
            .iter()
            .map(|c| (normalize_git_url(&c.url), c))
            .filter(|(prefix, _)| covers(prefix, &wanted))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, c)| c);
        match (repository, template) {
            (Some(r), Some(t)) if !r.has_credentials() => {
                let mut r = r.clone();
                r.fill_from(t);
                Some(r)
            }
            (Some(r), _) => Some(r.clone()),
            (None, Some(t)) => Some(t.clone()),
            (None, None) => None,
        }
    }
}

/// Whether the (normalized) template URL `prefix` covers `url`: a prefix that ends at a path,
/// port or host boundary of it.
fn covers(prefix: &str, url: &str) -> bool {
    url.starts_with(prefix)
        && (prefix.len() == url.len()
            || prefix.ends_with(['/', ':'])
            || url[prefix.len()..].starts_with(['/', ':']))
}

fn parse(secret: &Secret, kind: CredentialKind) -> Result<RepoCredential, CredentialError> {
    let source = format!(
        "{}/{}",
        secret.metadata.namespace.as_deref().unwrap_or_default(),
        secret.metadata.name.as_deref().unwrap_or_default()
    );
    let error = |message: String| CredentialError {
        secret: source.clone(),
        message,
    };
    let field = |key: &str| secret_field(secret, key).filter(|v| !v.is_empty());
    let flag = |key: &str| -> Result<bool, CredentialError> {
        match field(key).as_deref().map(str::trim) {
            None => Ok(false),
            // Go's strconv.ParseBool.
            Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
            Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
            Some(_) => Err(error(format!("{key} is not a boolean"))),
        }
    };
    let number = |key: &str| -> Result<Option<u64>, CredentialError> {
        field(key)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| error(format!("{key} is not a number")))
            })
            .transpose()
    };
    let url = field("url").ok_or_else(|| error("no url".into()))?;
    let github_app = match (
        number("githubAppID")?,
        number("githubAppInstallationID")?,
        field("githubAppPrivateKey"),
    ) {
        (None, None, None) => None,
        (Some(app_id), Some(installation_id), Some(private_key)) => Some(GitHubApp {
            app_id,
            installation_id,
            private_key,
            enterprise_base_url: field("githubAppEnterpriseBaseUrl"),
        }),
        _ => {
            return Err(error(
                "a GitHub App needs githubAppID, githubAppInstallationID and githubAppPrivateKey".into(),
            ));
        }
    };
    let tls_client_cert = field("tlsClientCertData");
    let tls_client_key = field("tlsClientCertKey");
    if tls_client_cert.is_some() != tls_client_key.is_some() {
        return Err(error(
            "a client certificate needs both tlsClientCertData and tlsClientCertKey".into(),
        ));
    }
    Ok(RepoCredential {
        kind,
        url,
        project: field("project").filter(|_| kind == CredentialKind::Repository),
        username: field("username"),
        password: field("password"),
        ssh_private_key: field("sshPrivateKey"),
        insecure: flag("insecure")? || flag("insecureIgnoreHostKey")?,
        tls_client_cert,
        tls_client_key,
        github_app,
        proxy: field("proxy"),
        no_proxy: field("noProxy"),
        force_http_basic_auth: flag("forceHttpBasicAuth")?,
        source,
    })
}

/// Argo CD's `git.NormalizeGitURL`, for matching credentials: lowercase, trimmed, scp-like SSH
/// addresses (`git@host:org/repo`) as `git@host/org/repo`, no `ssh://` and no `.git` suffix.
pub fn normalize_git_url(url: &str) -> String {
    let mut repo = url.trim().to_lowercase();
    if is_ssh_url(&repo) && !repo.starts_with("ssh://") {
        repo = format!("ssh://{}", repo.replacen(':', "/", 1));
    }
    if let Some(stripped) = repo.strip_suffix(".git") {
        repo = stripped.to_string();
    }
    repo.strip_prefix("ssh://").map(str::to_string).unwrap_or(repo)
}

/// Argo CD's `IsSSHURL`: `^(ssh://)?([^/:]*?)@[^@]+$`.
fn is_ssh_url(url: &str) -> bool {
    let rest = url.strip_prefix("ssh://").unwrap_or(url);
    match rest.split_once('@') {
        Some((user, host)) => !user.contains(['/', ':']) && !host.is_empty() && !host.contains('@'),
        None => false,
    }
}

/// `url` with any user-info password replaced (`https://user:***@host/...`), for messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{path}")
            } else {
                format!("{scheme}://{user}@{host}{path}")
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(name: &str, kind: &str, data: &[(&str, &str)]) -> Secret {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "argocd", "labels": {SECRET_TYPE_LABEL: kind}},
            "stringData": data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        }))
        .unwrap()
    }

    #[test]
    fn urls_normalise_as_argo_cd_does() {
        assert_eq!(
            normalize_git_url(" https://GitHub.com/Org/Repo.git "),
            "https://github.com/org/repo"
        );
        assert_eq!(
            normalize_git_url("git@github.com:org/repo.git"),
            "git@github.com/org/repo"
        );
        assert_eq!(
            normalize_git_url("ssh://git@github.com/org/repo"),
            "git@github.com/org/repo"
        );
        assert_eq!(
            normalize_git_url("ssh://git@host:2222/org/repo"),
            "git@host:2222/org/repo"
        );
        assert_eq!(
            normalize_git_url("git@github.com:org/repo"),
            normalize_git_url("ssh://git@github.com/org/repo.git")
        );
    }

    #[test]
    fn a_repository_secret_wins_and_takes_a_template_s_credentials_when_it_has_none() {
        let secrets = [
            secret(
                "org",
                "repo-creds",
                &[
                    ("url", "https://git.example.com/org"),
                    ("username", "t"),
                    ("password", "org-token"),
                ],
            ),
            secret(
                "team",
                "repo-creds",
                &[
                    ("url", "https://git.example.com/org/team"),
                    ("password", "team-token"),
                ],
            ),
            secret(
                "apps",
                "repository",
                &[
                    ("url", "https://git.example.com/org/apps.git"),
                    ("password", "apps-token"),
                ],
            ),
            secret(
                "bare",
                "repository",
                &[("url", "https://git.example.com/org/team/bare")],
            ),
            secret("cluster", "cluster", &[("url", "https://k8s")]),
        ];
        let (creds, errors) = RepoCredentials::from_secrets(&secrets);
        assert!(errors.is_empty(), "{errors:?}");
        let pw = |url: &str| creds.lookup(url, "default").and_then(|c| c.password);
        assert_eq!(
            pw("https://git.example.com/org/apps").as_deref(),
            Some("apps-token")
        );
        assert_eq!(
            pw("https://git.example.com/org/other").as_deref(),
            Some("org-token")
        );
        assert_eq!(
            pw("https://git.example.com/org/team/x.git").as_deref(),
            Some("team-token"),
            "longest prefix"
        );
        assert_eq!(
            pw("https://git.example.com/org/team/bare").as_deref(),
            Some("team-token"),
            "filled from the template"
        );
        assert_eq!(creds.lookup("https://elsewhere/org/x", "default"), None);
        let filled = creds
            .lookup("https://git.example.com/org/team/bare", "default")
            .unwrap();
        assert_eq!(filled.source, "argocd/bare (credentials from argocd/team)");
    }

    #[test]
    fn project_scoped_repositories_apply_to_their_project_only() {
        let secrets = [
            secret(
                "shared",
                "repository",
                &[("url", "https://h/r"), ("password", "shared")],
            ),
            secret(
                "team-a",
                "repository",
                &[("url", "https://h/r"), ("password", "a"), ("project", "team-a")],
            ),
            secret(
                "only-b",
                "repository",
                &[("url", "https://h/b"), ("password", "b"), ("project", "team-b")],
            ),
        ];
        let (creds, _) = RepoCredentials::from_secrets(&secrets);
        let pw = |url: &str, project: &str| creds.lookup(url, project).and_then(|c| c.password);
        assert_eq!(pw("https://h/r", "team-a").as_deref(), Some("a"));
        assert_eq!(pw("https://h/r", "team-c").as_deref(), Some("shared"));
        assert_eq!(pw("https://h/b", "team-b").as_deref(), Some("b"));
        assert_eq!(
            pw("https://h/b", "team-a"),
            None,
            "another project's repository is not used"
        );
    }

    #[test]
    fn bad_secrets_are_errors_that_name_the_secret_and_field_but_no_value() {
        let secrets = [
            secret(
                "flag",
                "repository",
                &[
                    ("url", "https://h/r"),
                    ("insecure", "hunter2"),
                    ("password", "hunter2"),
                ],
            ),
            secret(
                "app",
                "repo-creds",
                &[("url", "https://h"), ("githubAppID", "12")],
            ),
            secret(
                "cert",
                "repo-creds",
                &[("url", "https://h"), ("tlsClientCertData", "PEM")],
            ),
            secret("nourl", "repository", &[("password", "hunter2")]),
        ];
        let (creds, errors) = RepoCredentials::from_secrets(&secrets);
        assert!(creds.is_empty());
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "repository credential Secret argocd/flag: insecure is not a boolean",
                "repository credential Secret argocd/app: a GitHub App needs githubAppID, githubAppInstallationID and githubAppPrivateKey",
                "repository credential Secret argocd/cert: a client certificate needs both tlsClientCertData and tlsClientCertKey",
                "repository credential Secret argocd/nourl: no url",
            ]
        );
        assert!(messages.iter().all(|m| !m.contains("hunter2")));
    }

    #[test]
    fn debug_output_and_fingerprints_reveal_no_secret() {
        let (creds, _) = RepoCredentials::from_secrets(&[secret(
            "s",
            "repository",
            &[
                ("url", "https://user:pw-in-url@h/r"),
                ("password", "hunter2"),
                ("sshPrivateKey", "KEYDATA"),
            ],
        )]);
        let c = creds.lookup("https://user:pw-in-url@h/r", "p").unwrap();
        let debug = format!("{c:?} {creds:?}");
        for secret in ["hunter2", "KEYDATA", "pw-in-url"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(!c.fingerprint().contains("hunter2"));
        let mut other = c.clone();
        other.password = Some("other".into());
        assert_ne!(
            c.fingerprint(),
            other.fingerprint(),
            "two credentials, two caches"
        );
        assert_eq!(c.fingerprint(), c.clone().fingerprint());
        assert_eq!(redact_url("https://u:p@h/x"), "https://u:***@h/x");
        assert_eq!(redact_url("ssh://git@h/x"), "ssh://git@h/x");
    }

    #[test]
    fn a_template_covers_repositories_below_its_url_only_at_a_boundary() {
        for (prefix, url, yes) in [
            (
                "https://git.example.com",
                "https://git.example.com/org/repo",
                true,
            ),
            (
                "https://git.example.com/org",
                "https://git.example.com/org/repo",
                true,
            ),
            (
                "https://git.example.com/org/",
                "https://git.example.com/org/repo",
                true,
            ),
            ("git@git.example.com:", "git@git.example.com:org/repo", true),
            (
                "https://git.example.com",
                "https://git.example.com.attacker.io/x",
                false,
            ),
            ("https://github.com/org", "https://github.com/org-evil/x", false),
        ] {
            assert_eq!(covers(prefix, url), yes, "{prefix} {url}");
        }
    }
}
