//! The daemon's credential endpoint for `pullsync credential-provider` (effect): `POST
//! /credential-provider/v1` takes the kubelet's `CredentialProviderRequest` as the plugin
//! received it, checks the pod's service-account token with a TokenReview, and answers a
//! `CredentialProviderResponse` from the leader's [`ProviderIndex`] — no credential fetch per
//! request. Every answer and refusal is counted, none logged with a value; a refusal says why
//! (the kubelet logs the plugin's stderr).

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::answer::{Answer, EMPTY_CACHE, answer};
use super::index::ProviderIndex;
use super::token_review::{ReviewTokenError, review};
use crate::k8s::Kube;

/// The last leader sync's index, swapped whole after each applied sync.
pub type SharedProviderIndex = Arc<RwLock<Arc<ProviderIndex>>>;

/// The plugin's path on the daemon.
pub const PATH: &str = "/credential-provider/v1";
/// A request is an image name, a token and a few annotations.
const MAX_BODY: usize = 64 * 1024;
pub const API_VERSION: &str = "credentialprovider.kubelet.k8s.io/v1";

#[derive(Debug, Clone)]
pub struct ProviderOptions {
    pub listen: SocketAddr,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    /// The audience the kubelet's `tokenAttributes.serviceAccountTokenAudience` names.
    pub audience: String,
    /// The longest the kubelet may cache an answer (shorter when a credential renews sooner).
    pub max_cache: Duration,
}

#[derive(Clone)]
struct AppState {
    index: SharedProviderIndex,
    kube: Kube,
    audience: Arc<String>,
    max_cache: Duration,
    metrics: crate::metrics::Metrics,
}

/// `credentialprovider.kubelet.k8s.io/v1` `CredentialProviderRequest`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderRequest {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub service_account_token: String,
}

impl std::fmt::Debug for ProviderRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderRequest")
            .field("image", &self.image)
            .field("service_account_token", &"<redacted>")
            .finish()
    }
}

#[derive(Serialize)]
struct AuthConfig<'a> {
    username: &'a str,
    password: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProviderResponse<'a> {
    api_version: &'static str,
    kind: &'static str,
    cache_key_type: &'static str,
    cache_duration: String,
    auth: std::collections::BTreeMap<&'a str, AuthConfig<'a>>,
}

#[derive(Serialize)]
struct Refusal {
    message: String,
}

fn refuse(code: StatusCode, message: String) -> Response {
    (code, axum::Json(Refusal { message })).into_response()
}

/// `metav1.Duration` as Go's `time.ParseDuration` reads it.
fn go_duration(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

async fn credentials(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let started = Instant::now();
    let (result, response) = handle(&state, &body).await;
    state.metrics.provided(result, started.elapsed());
    response
}

async fn handle(state: &AppState, body: &[u8]) -> (&'static str, Response) {
    let Ok(request) = serde_json::from_slice::<ProviderRequest>(body) else {
        return (
            "refused",
            refuse(StatusCode::BAD_REQUEST, "not a CredentialProviderRequest".into()),
        );
    };
    if request.kind != "CredentialProviderRequest" || request.api_version != API_VERSION {
        return (
            "refused",
            refuse(
                StatusCode::BAD_REQUEST,
                format!("expected kind CredentialProviderRequest of {API_VERSION}"),
            ),
        );
    }
    if request.service_account_token.is_empty() {
        return (
            "refused",
            refuse(
                StatusCode::UNAUTHORIZED,
                format!(
                    "no service-account token: set tokenAttributes.serviceAccountTokenAudience: {} in the kubelet's CredentialProviderConfig",
                    state.audience
                ),
            ),
        );
    }
    let index = state.index.read().unwrap_or_else(|e| e.into_inner()).clone();
    if !index.ready {
        return (
            "unavailable",
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "not serving yet: this replica has not applied a sync as the leader".into(),
            ),
        );
    }
    let pod = match review(&state.kube, &request.service_account_token, &state.audience).await {
        Ok(pod) => pod,
        Err(ReviewTokenError::Kubernetes(error)) => {
            tracing::warn!(%error, "TokenReview failed");
            return (
                "unavailable",
                refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("cannot check the token: {error}"),
                ),
            );
        }
        Err(refusal) => {
            tracing::info!(image = %request.image, reason = %refusal, "credential provider request refused");
            return ("refused", refuse(StatusCode::FORBIDDEN, refusal.to_string()));
        }
    };
    let now = SystemTime::now();
    let answered = answer(
        &index,
        &pod.namespace,
        &pod.service_account,
        &request.image,
        now,
        state.max_cache,
    );
    let (result, response) = match answered {
        Err(error) => (
            "refused",
            refuse(
                StatusCode::BAD_REQUEST,
                format!("image {}: {error}", request.image),
            ),
        ),
        Ok(Answer::Unavailable { spec_ref, reason }) => (
            "unavailable",
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{spec_ref}: no credential this sync ({reason})"),
            ),
        ),
        Ok(Answer::Empty) => (
            "empty",
            axum::Json(ProviderResponse {
                api_version: API_VERSION,
                kind: "CredentialProviderResponse",
                cache_key_type: "Registry",
                cache_duration: go_duration(EMPTY_CACHE.min(state.max_cache)),
                auth: Default::default(),
            })
            .into_response(),
        ),
        Ok(Answer::Served { auth, cache_for }) => (
            "served",
            axum::Json(ProviderResponse {
                api_version: API_VERSION,
                kind: "CredentialProviderResponse",
                // The kubelet adds the ServiceAccount to its cache key (tokenAttributes.cacheType
                // ServiceAccount), so one pod's answer is not another namespace's.
                cache_key_type: "Registry",
                cache_duration: go_duration(cache_for),
                auth: auth
                    .iter()
                    .map(|l| {
                        (
                            l.server.as_str(),
                            AuthConfig {
                                username: l.username.expose(),
                                password: l.password.expose(),
                            },
                        )
                    })
                    .collect(),
            })
            .into_response(),
        ),
    };
    tracing::debug!(namespace = %pod.namespace, service_account = %pod.service_account, pod = %pod.pod, image = %request.image, result, "credential provider request");
    (result, response)
}

/// Why the credential endpoint could not start serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeProviderError {
    #[error("cannot listen on {listen}: {source}")]
    Listen {
        listen: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("--provider-tls-cert/--provider-tls-key: {0}")]
    Certificate(#[from] crate::admission::tls::LoadCertificateError),
}

/// Serve until `stop`; the certificate pair is checked before this returns.
pub async fn serve(
    options: &ProviderOptions,
    index: SharedProviderIndex,
    kube: Kube,
    metrics: crate::metrics::Metrics,
    stop: CancellationToken,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), ServeProviderError> {
    let state = AppState {
        index,
        kube,
        audience: Arc::new(options.audience.clone()),
        max_cache: options.max_cache,
        metrics,
    };
    let app = Router::new()
        .route(PATH, post(credentials))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state);
    let listen = options.listen;
    let tcp = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServeProviderError::Listen { listen, source })?;
    let listener = crate::admission::tls::TlsListener::new(tcp, &options.cert, &options.key)?;
    let bound = axum::serve::Listener::local_addr(&listener)
        .map_err(|source| ServeProviderError::Listen { listen, source })?;
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
    });
    Ok((bound, handle))
}
