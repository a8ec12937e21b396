//! The metrics listener: `GET /metrics` (Prometheus text format), `/healthz` (the process is alive) and `/readyz`
//! (every issuer's keys are loaded).

use std::sync::Mutex;

use async_trait::async_trait;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::{Encoder, Registry, TextEncoder};

use crate::edge::Edge;

#[derive(Clone)]
struct AppState {
    edge: Edge,
    registry: Registry,
}

/// Serves the metrics listener as a Pingora background service.
pub struct HealthService {
    listener: Mutex<Option<std::net::TcpListener>>,
    state: AppState,
}

impl HealthService {
    /// A service on an already bound (non-blocking) listener.
    pub fn new(listener: std::net::TcpListener, edge: Edge, registry: Registry) -> Self {
        HealthService { listener: Mutex::new(Some(listener)), state: AppState { edge, registry } }
    }
}

/// The routes, usable on any listener.
fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    s.edge.sync_caches().await;
    let mut buf = Vec::new();
    let _ = TextEncoder::new().encode(&s.registry.gather(), &mut buf);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], buf)
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    if s.edge.ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: issuer keys not loaded yet\n")
    }
}

#[async_trait]
impl pingora::services::background::BackgroundService for HealthService {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        let Some(std_listener) = self.listener.lock().ok().and_then(|mut l| l.take()) else { return };
        let listener = match tokio::net::TcpListener::from_std(std_listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "metrics listener failed");
                return;
            }
        };
        let app = router(self.state.clone());
        let stop = async move {
            let _ = shutdown.changed().await;
        };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
            tracing::error!(error = %e, "metrics listener failed");
        }
    }
}
