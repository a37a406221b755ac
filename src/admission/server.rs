//! The validating admission webhook (effect): `POST /admission/pods` takes an
//! `admission.k8s.io/v1` AdmissionReview for a Pod (or a workload with a pod template) and
//! answers from the last sync's [`PullIndex`] — no API call per request — with warnings, or a
//! refusal in deny mode. Bounded: a body cap, an answer deadline well under the API server's
//! webhook timeout, and anything it cannot judge is admitted without a word.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodSpec;

use super::index::PullIndex;
use super::review::{MODE_LABEL, Mode, candidates, review};

/// The last sync's index, swapped whole after each applied sync.
pub type SharedIndex = Arc<RwLock<Arc<PullIndex>>>;

/// AdmissionReview bodies are a pod or a workload: far below this.
const MAX_BODY: usize = 3 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct AdmissionOptions {
    pub listen: SocketAddr,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    /// The mode of namespaces without the `pullsync.dev/admission` label.
    pub mode: Mode,
    /// Registry hosts pulled anonymously by design.
    pub anonymous: Vec<String>,
    /// Read the `auths` keys of pull secrets a pod names that pullsync does not manage. Off
    /// by default: whoever can reach the webhook port can forge a review for any namespace
    /// and learn the keys (registry hosts, never values) of a Secret by its name there.
    pub read_unmanaged: bool,
}

#[derive(Clone)]
struct AppState {
    index: SharedIndex,
    /// Where the keys of pull secrets pullsync does not manage are read.
    external: Option<Arc<super::external::ExternalKeys>>,
    mode: Mode,
    anonymous: Arc<Vec<String>>,
    metrics: crate::metrics::Metrics,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdmissionReview {
    request: Option<AdmissionRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdmissionRequest {
    uid: String,
    kind: GroupVersionKind,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    object: Value,
}

#[derive(Debug, Deserialize)]
struct GroupVersionKind {
    kind: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewAnswer {
    api_version: &'static str,
    kind: &'static str,
    response: Response,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    uid: String,
    allowed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<ResponseStatus>,
}

#[derive(Debug, Serialize)]
struct ResponseStatus {
    code: u16,
    message: String,
}

/// Where a kind keeps its pod spec (Job and workloads: a template; CronJob: a template of one).
fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "Pod" => Some("/spec"),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => Some("/spec/template/spec"),
        "CronJob" => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// The pod spec of the object under review, if its kind has one.
fn pod_spec(request: &AdmissionRequest) -> Option<PodSpec> {
    pod_spec_pointer(&request.kind.kind)
        .and_then(|p| request.object.pointer(p))
        .and_then(|s| PodSpec::deserialize(s).ok())
}

/// The answer to one review (pure): `external` holds the keys of the pull secrets it names
/// that pullsync does not manage.
fn decide(
    request: &AdmissionRequest,
    spec: Option<&PodSpec>,
    index: &PullIndex,
    external: &BTreeMap<String, Option<Vec<String>>>,
    default_mode: Mode,
    anonymous: &[String],
) -> Response {
    let allowed = |warnings| Response {
        uid: request.uid.clone(),
        allowed: true,
        warnings,
        status: None,
    };
    let Some(spec) = spec else {
        return allowed(Vec::new());
    };
    let warnings = review(spec, &request.namespace, index, external, anonymous);
    let mode = match index
        .labels
        .get(&request.namespace)
        .and_then(|l| l.get(MODE_LABEL))
        .map(String::as_str)
    {
        Some("deny") => Mode::Deny,
        Some("warn") => Mode::Warn,
        _ => default_mode,
    };
    if warnings.is_empty() || mode == Mode::Warn {
        return allowed(warnings);
    }
    Response {
        uid: request.uid.clone(),
        allowed: false,
        status: Some(ResponseStatus {
            code: 403,
            message: format!(
                "refused by pullsync (namespace label {MODE_LABEL}=deny): {}",
                warnings.join("; ")
            ),
        }),
        warnings,
    }
}

async fn pods(State(state): State<AppState>, body: axum::body::Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    let started = Instant::now();
    let review: AdmissionReview = match serde_json::from_slice(&body) {
        Ok(review) => review,
        Err(_) => return (axum::http::StatusCode::BAD_REQUEST, "not an AdmissionReview").into_response(),
    };
    let Some(request) = review.request else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            "an AdmissionReview without a request",
        )
            .into_response();
    };
    let index = state.index.read().unwrap_or_else(|e| e.into_inner()).clone();
    let spec = pod_spec(&request);
    let unmanaged: Vec<String> = spec
        .as_ref()
        .map(|s| candidates(s, &request.namespace, &index).0)
        .unwrap_or_default()
        .into_iter()
        .filter(|n| index.secret(&request.namespace, n).is_none())
        .collect();
    let external = match (&state.external, unmanaged.is_empty()) {
        (_, true) => BTreeMap::new(),
        (Some(external), false) => external.keys(&request.namespace, &unmanaged).await,
        (None, false) => unmanaged.into_iter().map(|n| (n, None)).collect(),
    };
    let response = decide(
        &request,
        spec.as_ref(),
        &index,
        &external,
        state.mode,
        &state.anonymous,
    );
    let result = match (response.allowed, response.warnings.is_empty()) {
        (false, _) => "denied",
        (true, false) => "warned",
        (true, true) => "allowed",
    };
    state.metrics.admitted(result, started.elapsed());
    tracing::debug!(namespace = %request.namespace, kind = %request.kind.kind, result, warnings = response.warnings.len(), "admission review");
    axum::Json(ReviewAnswer {
        api_version: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        response,
    })
    .into_response()
}

/// Why the webhook could not start serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeAdmissionError {
    #[error("cannot listen on {listen}: {source}")]
    Listen {
        listen: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("--admission-tls-cert/--admission-tls-key: {0}")]
    Certificate(#[from] super::tls::LoadCertificateError),
}

/// Serve the webhook until `stop`; the certificate pair is checked before this returns.
pub async fn serve(
    options: &AdmissionOptions,
    index: SharedIndex,
    kube: Option<crate::k8s::Kube>,
    metrics: crate::metrics::Metrics,
    stop: CancellationToken,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), ServeAdmissionError> {
    let state = AppState {
        index,
        external: kube
            .filter(|_| options.read_unmanaged)
            .map(|k| Arc::new(super::external::ExternalKeys::new(k))),
        mode: options.mode,
        anonymous: Arc::new(options.anonymous.clone()),
        metrics,
    };
    // The answer is computed in memory from the last sync's index (microseconds); the API
    // server's own timeout (the chart sets 3 s, failurePolicy Ignore) bounds everything else.
    let app = Router::new()
        .route("/admission/pods", post(pods))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state);
    let listen = options.listen;
    let tcp = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServeAdmissionError::Listen { listen, source })?;
    let listener = super::tls::TlsListener::new(tcp, &options.cert, &options.key)?;
    let bound = axum::serve::Listener::local_addr(&listener)
        .map_err(|source| ServeAdmissionError::Listen { listen, source })?;
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
    });
    Ok((bound, handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: &str, namespace: &str, object: Value) -> AdmissionRequest {
        AdmissionRequest {
            uid: "u-1".into(),
            kind: GroupVersionKind { kind: kind.into() },
            namespace: namespace.into(),
            object,
        }
    }

    fn judge(request: &AdmissionRequest, index: &PullIndex, mode: Mode) -> Response {
        decide(
            request,
            pod_spec(request).as_ref(),
            index,
            &BTreeMap::new(),
            mode,
            &[],
        )
    }

    fn index(deny: bool) -> PullIndex {
        let mut index = PullIndex {
            ready: true,
            ..PullIndex::default()
        };
        let labels: std::collections::BTreeMap<String, String> = if deny {
            [(MODE_LABEL.to_string(), "deny".to_string())].into()
        } else {
            Default::default()
        };
        index.labels.insert("ml-team".into(), Arc::new(labels));
        index
    }

    #[test]
    fn pods_and_pod_templates_are_judged_and_deny_is_per_namespace() {
        let pod = serde_json::json!({"spec": {"containers": [{"name": "c", "image": "nvcr.io/nvidia/x"}]}});
        let answer = judge(&request("Pod", "ml-team", pod.clone()), &index(false), Mode::Warn);
        assert!(answer.allowed && answer.warnings.len() == 1, "{answer:?}");
        assert_eq!(answer.uid, "u-1");
        let deployment = serde_json::json!({"spec": {"template": {"spec": pod["spec"]}}});
        let answer = judge(
            &request("Deployment", "ml-team", deployment),
            &index(false),
            Mode::Warn,
        );
        assert_eq!(answer.warnings.len(), 1, "{answer:?}");
        let cron =
            serde_json::json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": pod["spec"]}}}}});
        let answer = judge(&request("CronJob", "ml-team", cron), &index(false), Mode::Warn);
        assert_eq!(answer.warnings.len(), 1, "{answer:?}");

        let denied = judge(&request("Pod", "ml-team", pod.clone()), &index(true), Mode::Warn);
        assert!(!denied.allowed, "{denied:?}");
        let status = denied.status.unwrap();
        assert_eq!(status.code, 403);
        assert!(
            status.message.contains("pullsync.dev/admission=deny"),
            "{}",
            status.message
        );
        // The flag's default applies where the namespace has no label.
        let default_deny = judge(&request("Pod", "other", pod), &index(false), Mode::Deny);
        assert!(!default_deny.allowed);
        // Anything else is admitted without a word.
        let config = judge(
            &request("ConfigMap", "ml-team", serde_json::json!({})),
            &index(true),
            Mode::Deny,
        );
        assert!(config.allowed && config.warnings.is_empty());
    }
}
