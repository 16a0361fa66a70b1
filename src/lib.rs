//! appset: Argo CD ApplicationSets rendered by a Rust engine.
//!
//! ```text
//! ApplicationSet ─► generators ─► Vec<Params> ─► render ─► Applications ─► validate ─► plan ─► execute ─► status
//!     (crd)         └───────── pipeline: pure, I/O only through sources ──────────┘    (pure)  (controller: Kubernetes API)
//! ```
//!
//! [`pipeline::generate_applications`] is the one entry point that `appset render`, `appset
//! serve` ([`service`]) and the controller call (`appset render -o names` calls its twin
//! [`pipeline::generate_names`], which keeps only names). No two modules import each other, directly or
//! around a loop (`tests/architecture.rs` fails if they do); [`params`] is the vocabulary of the
//! generate and render stages, and the one import against the data flow is generators → render:
//! generators use the template engine (matrix interpolation, `values`), the engine never reaches
//! back into generators. ARCHITECTURE.md is the longer map.
//!
//! Engine (pure; I/O only through [`sources`], and goTemplate's clock and random functions):
//! - [`crd`]: the `ApplicationSet` and `Application` types and the generated CRDs.
//! - [`text`]: string helpers shared by generators and templates (normalize, slugify, Go `%v`).
//! - [`params`]: parameter sets (`Params`), their two shapes, mergo's empty-value rule.
//! - [`sources`]: git (gix), cluster Secrets, pull requests (GitHub through
//!   octocrab; GitLab, Gitea, Bitbucket Server and Cloud, Azure DevOps through one shared
//!   reqwest layer), forge organizations for the SCM provider generator ([`sources::scm`]),
//!   plugin services (reqwest), ConfigMaps and duck-typed resources (kube's dynamic API):
//!   recorded or live. I/O.
//! - [`file`](mod@file): ApplicationSet files (one or more ApplicationSets plus optional recorded
//!   inputs).
//! - [`render`]: the template engines (Argo's `{{param}}`, goTemplate, jinja), compiled template
//!   trees, one finished Application per parameter set (finalizer rule, `templatePatch`).
//! - [`generators`]: parameter sets from list, cluster, git, SCM provider, pull-request, plugin,
//!   cluster decision resource, matrix and merge generators, post-selectors; reach the outside
//!   world only through [`sources::Sources`].
//! - [`namespaces`]: which namespaces the controller serves (Argo CD's names, globs, `/regex/`).
//! - [`shard`]: which shard an ApplicationSet is in, and which shard Leases a replica takes or
//!   gives back (pure; the Leases are held through [`lease`]).
//! - [`pipeline`]: ApplicationSet → Applications: generators, template overrides, render,
//!   validation; options, limits and the errors that fail a set closed.
//!
//! Reconcile and preview (pure):
//! - [`plan`]: desired vs live Applications under the sync policy → creates, updates, deletes.
//! - [`rollout`]: progressive sync (RollingSync): Argo CD's step assignment, maxUpdate and
//!   rollout-configuration messages; [`rollout::status`]: each Application's Waiting → Pending →
//!   Progressing → Healthy transitions and the sync operation, on fresh status only, halting on
//!   failure; [`rollout::preview`]: the rollout before it runs (steps, batches, problems) for
//!   `appset render -o steps` and `/v1/render?steps=true`.
//! - [`live`]: live Applications as the controller caches them (compact; views built on demand).
//! - [`diff`]: what a change to an ApplicationSet creates, updates (field diff) and deletes.
//!
//! Processes (I/O):
//! - [`metrics`]: the Prometheus registry (Argo CD's `argocd_appset_*` and `argocd_github_api_*`
//!   families beside appset's own) and the HTTP request metrics layer (no I/O itself).
//! - [`health`]: `/healthz`, `/readyz`, `/metrics` endpoints. HTTP.
//! - [`webhook`]: webhooks of GitHub, GitLab, Gitea/Forgejo, Bitbucket Server and Cloud, Azure
//!   DevOps (pushes, pull and merge requests) → targeted refreshes and expired pull-request
//!   listings; the endpoint in `mod.rs`, one file per forge (parsing and verification). HTTP.
//! - [`service`]: the templating service (`appset serve`: `/v1/render`, `/v1/diff`). HTTP.
//! - [`playground`]: the web page `appset serve` shows at `/` (embedded assets, the bundled
//!   examples). HTTP.
//! - [`lease`]: leader election on a `coordination.k8s.io` Lease. Kubernetes API.
//! - [`install`]: ServiceAccount, RBAC and Deployment for `appset install` (text only).
//! - [`controller`]: the reconcile (inputs → generate → plan → execute → outcome → status),
//!   finalizer, triggers (among them a watch per decision resource in use). Kubernetes API.

pub mod controller;
pub mod crd;
pub mod diff;
pub mod file;
pub mod generators;
pub mod health;
pub mod install;
pub mod lease;
pub mod live;
pub mod metrics;
pub mod namespaces;
pub mod params;
pub mod pipeline;
pub mod plan;
pub mod playground;
pub mod render;
pub mod rollout;
pub mod service;
pub mod shard;
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
pub use params::Params;
