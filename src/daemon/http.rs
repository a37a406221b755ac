//! The daemon's HTTP endpoints (effect): `/healthz`, `/readyz`, `/status` (JSON), `/metrics`,
//! and `POST /hooks/git` (a verified push webhook triggers an immediate fetch).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::sync::{RwLock, mpsc};
use tokio_util::sync::CancellationToken;

use super::status::Status;

pub type Shared = Arc<RwLock<Status>>;

#[derive(Clone)]
pub struct AppState {
    pub status: Shared,
    /// Durations and request counts, encoded beside the status' gauges.
    pub metrics: crate::metrics::Metrics,
    /// The webhook secret and where to send "fetch now"; `None`: the hook answers 404.
    pub webhook: Option<(Arc<Vec<u8>>, mpsc::Sender<()>)>,
    /// Delivery ids already acted on.
    pub deliveries: Arc<std::sync::Mutex<super::webhook::Deliveries>>,
}

async fn hook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> (StatusCode, &'static str) {
    let Some((secret, tx)) = &state.webhook else {
        return (StatusCode::NOT_FOUND, "no webhook configured");
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(String::from);
    if !super::webhook::verify(secret, &body, header) {
        tracing::warn!("webhook with a bad or missing signature refused");
        return (StatusCode::UNAUTHORIZED, "bad signature");
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
        return (StatusCode::BAD_REQUEST, "the body is not JSON");
    }
    if let Some(id) = super::webhook::DELIVERY_HEADERS.iter().find_map(|h| header(h)) {
        let first = state
            .deliveries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .first_time(&id, std::time::Instant::now());
        if !first {
            tracing::info!(delivery = %id, "webhook delivery already handled; ignored");
            return (StatusCode::OK, "already handled");
        }
    }
    let _ = tx.try_send(());
    (StatusCode::ACCEPTED, "fetching")
}

/// Serves until `stop` is cancelled, then finishes the requests in flight.
pub async fn serve(
    listen: SocketAddr,
    state: AppState,
    stop: CancellationToken,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), super::StartDaemonError> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(s): State<AppState>| async move {
                if s.status.read().await.ready() {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "not ready")
                }
            }),
        )
        .route(
            "/status",
            get(|State(s): State<AppState>| async move {
                let mut status = s.status.read().await.clone();
                if let Some(provider) = status.provider.as_mut() {
                    provider.requests = s.metrics.provider_counts();
                }
                axum::Json(status)
            }),
        )
        .route(
            "/metrics",
            get(|State(s): State<AppState>| async move {
                (
                    [(
                        "content-type",
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    s.status.read().await.metrics(&s.metrics),
                )
                    .into_response()
            }),
        )
        .route("/hooks/git", post(hook))
        .with_state(state);
    let listen_error = |source| super::StartDaemonError::Listen { listen, source };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(listen_error)?;
    let bound = listener.local_addr().map_err(listen_error)?;
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
    });
    Ok((bound, handle))
}
