//! The probe and scrape endpoints of every appset process: `/healthz`, `/readyz` and Prometheus
//! `/metrics`.
//!
//! Stage: serve (I/O: listens on `--listen`). `appset run` serves them beside the webhook
//! endpoint ([`serve_probes`]); `appset serve` merges [`probes`] into the templating API
//! ([`crate::service`]).

use std::sync::Arc;

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};

use crate::metrics::{Metrics, observed};

/// The router: `/healthz` (always 200 while the process serves), `/readyz` (200 once the caches
/// are filled), `/metrics`.
pub fn probes(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(m): State<Arc<Metrics>>| async move {
                if m.is_ready() {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "not ready")
                }
            }),
        )
        .route(
            "/metrics",
            get(|State(m): State<Arc<Metrics>>| async move {
                (
                    [(
                        "content-type",
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    m.encode(),
                )
                    .into_response()
            }),
        )
        .with_state(metrics)
}

/// Serve [`probes`], plus `extra` routes (the webhook endpoint), on `listener` until the future
/// is dropped, with request logging and HTTP metrics.
pub async fn serve_probes(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    extra: Option<Router>,
) -> std::io::Result<()> {
    let app = probes(metrics.clone()).merge(extra.unwrap_or_default());
    axum::serve(listener, observed(app, metrics)).await
}
