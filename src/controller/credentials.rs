//! The controller's view of Argo CD's repository credentials: the `repository` / `repo-creds`
//! Secrets and the known-hosts ConfigMap of its own namespace (Argo CD's; never a tenant's), kept
//! current by watches, and which ApplicationSets a change to them concerns.
//!
//! Stage: controller (no I/O here: the stores are filled by kube's reflectors in `run`). A
//! rotated Secret is used by the next reconcile that reads the repository, without a restart.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::runtime::reflector::{ObjectRef, Store};
use tracing::warn;

use crate::{
    crd::{ApplicationSet, GitGenerator},
    generators::GeneratorSpec,
    sources::{
        credentials::{RepoCredentials, normalize_git_url},
        secret_field,
    },
};

/// The ConfigMap of known SSH host keys (key `ssh_known_hosts`).
pub const KNOWN_HOSTS_CONFIG_MAP: &str = "argocd-ssh-known-hosts-cm";
/// The ConfigMap of extra CA certificates by host name.
pub const TLS_CERTS_CONFIG_MAP: &str = "argocd-tls-certs-cm";

/// The label selector of credential Secrets.
pub fn secret_selector() -> String {
    format!(
        "{} in (repository,repo-creds)",
        crate::sources::credentials::SECRET_TYPE_LABEL
    )
}

/// The watched credential Secrets and ConfigMaps of the controller's namespace.
#[derive(Clone)]
pub struct CredentialStores {
    /// `repository` and `repo-creds` Secrets.
    pub secrets: Store<Secret>,
    /// The namespace's ConfigMaps (the known-hosts and TLS ones are read).
    pub config_maps: Store<ConfigMap>,
}

impl CredentialStores {
    /// The credentials as they are now. A Secret that cannot be used is logged (by name and
    /// field, never its content) and left out: reads it would have served fail closed.
    pub fn current(&self) -> Arc<RepoCredentials> {
        let secrets = self.secrets.state();
        let (mut creds, errors) = RepoCredentials::from_secrets(secrets.iter().map(|s| s.as_ref()));
        for e in errors {
            warn!(error = %e, "ignoring a repository credential Secret");
        }
        for cm in self.config_maps.state() {
            let data = cm.data.clone().unwrap_or_default();
            match cm.metadata.name.as_deref() {
                Some(KNOWN_HOSTS_CONFIG_MAP) => creds.known_hosts = data.get("ssh_known_hosts").cloned(),
                Some(TLS_CERTS_CONFIG_MAP) => creds.tls_certs = data.into_iter().collect(),
                _ => {}
            }
        }
        Arc::new(creds)
    }
}

/// The ApplicationSets whose git generators read a repository under `url` (a credential
/// Secret's URL; a template's is a prefix).
pub fn sets_reading(sets: &Store<ApplicationSet>, secret: &Secret) -> Vec<ObjectRef<ApplicationSet>> {
    let Some(prefix) = secret_field(secret, "url").map(|u| normalize_git_url(&u)) else {
        return Vec::new();
    };
    sets_with_git(sets, |git| normalize_git_url(&git.repo_url).starts_with(&prefix))
}

/// The ApplicationSets a change of the known-hosts or TLS ConfigMap concerns: those with a git
/// generator. Other ConfigMaps concern none.
pub fn sets_reading_git(
    sets: &Store<ApplicationSet>,
    config_map: &ConfigMap,
) -> Vec<ObjectRef<ApplicationSet>> {
    let name = config_map.metadata.name.as_deref();
    if name != Some(KNOWN_HOSTS_CONFIG_MAP) && name != Some(TLS_CERTS_CONFIG_MAP) {
        return Vec::new();
    }
    sets_with_git(sets, |_| true)
}

/// The ApplicationSets with a git generator (at any depth) that `reads`.
fn sets_with_git(
    sets: &Store<ApplicationSet>,
    reads: impl Fn(&GitGenerator) -> bool,
) -> Vec<ObjectRef<ApplicationSet>> {
    sets.state()
        .into_iter()
        .filter(|set| {
            GeneratorSpec::all_in(&set.spec.generators)
                .iter()
                .any(|g| matches!(g, GeneratorSpec::Git(git) if reads(git)))
        })
        .map(|set| ObjectRef::from_obj(&*set))
        .collect()
}
