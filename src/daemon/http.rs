//! The daemon's HTTP endpoints (effect): `/healthz`, `/readyz`, `/status` (JSON), `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::RwLock;

use super::status::Status;

pub type Shared = Arc<RwLock<Status>>;

pub async fn serve(
    listen: SocketAddr,
    status: Shared,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(s): State<Shared>| async move {
                if s.read().await.ready() {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "not ready")
                }
            }),
        )
        .route(
            "/status",
            get(|State(s): State<Shared>| async move { axum::Json(s.read().await.clone()) }),
        )
        .route(
            "/metrics",
            get(|State(s): State<Shared>| async move {
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    s.read().await.metrics(),
                )
                    .into_response()
            }),
        )
        .with_state(status);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((bound, handle))
}
