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
//! - [`sources`]: git (gix), cluster Secrets, pull requests: live or recorded.
//! - [`text`]: string helpers shared by generators and templates (normalize, slugify, Go `%v`).

pub mod crd;
pub mod file;
pub mod generators;
pub mod render;
pub mod sources;
pub mod text;

pub use crd::{Application, ApplicationSet, ApplicationSetSpec};
pub use generators::Params;
