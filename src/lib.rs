//! appset: Argo CD ApplicationSets rendered by a Rust engine.
//!
//! ```text
//! ApplicationSet ─► generators ─► Vec<Params> ─► render ─► Vec<Application> ─► plan ─► apply / prune ─► status
//!    (crd)        (I/O only via                  (pure)                       (pure)    (controller,
//!                  Sources)                                                              kube client)
//! ```
//!
//! - [`crd`]: the `ApplicationSet` and `Application` types and the generated CRDs.
//! - [`file`](mod@file): ApplicationSet files (the ApplicationSet plus optional recorded inputs).
//! - [`generators`]: parameter sets from list, cluster, git, pull-request, matrix and merge
//!   generators; reaches the outside world only through [`sources::Sources`].
//! - [`render`]: one Application per parameter set (Argo's `{{param}}`, jinja), templatePatch,
//!   finalizer rule, validation.
//! - [`plan`]: desired vs live Applications under the sync policy → creates, updates, deletes.
//! - [`live`]: live Applications as the controller caches them (compact; views built on demand).
//! - [`diff`]: what a change to an ApplicationSet creates, updates (field diff) and deletes.
//! - [`serve`]: the templating service (`appset serve`: `/v1/render`, `/v1/diff`).
//! - [`sources`]: git (gix), cluster Secrets, pull requests: live or recorded.
//! - [`controller`]: reconcile (generate → render → plan → apply/prune → status), finalizer.
//! - [`install`]: ServiceAccount, RBAC and Deployment for `appset install`.
//! - [`lease`]: leader election on a `coordination.k8s.io` Lease.
//! - [`server`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`webhook`]: GitHub `push` / `pull_request` webhooks → targeted in-process refreshes.
//! - [`text`]: string helpers shared by generators and templates (normalize, slugify, Go `%v`).

pub mod controller;
pub mod crd;
pub mod diff;
pub mod file;
pub mod generators;
pub mod install;
pub mod lease;
pub mod live;
pub mod plan;
pub mod render;
pub mod serve;
pub mod server;
pub mod sources;
pub mod text;
pub mod webhook;

pub use crd::{Application, ApplicationSet, ApplicationSetSpec};

/// Make `ring` the process's TLS crypto provider. Two providers are compiled in (kube uses
/// `ring`; gix's HTTP transport brings `aws-lc-rs`), and rustls then refuses to guess; the
/// Kubernetes client needs a process default. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
pub use generators::Params;
