//! Why the daemon could not start (each variant the step that failed, with its cause). Once it
//! runs, nothing ends it but a signal: a failing sync is reported in `/status`, not returned.

use std::path::PathBuf;

use crate::engine::EngineError;
use crate::k8s::CallError;
use crate::repo::FetchSpecsError;

#[derive(Debug, thiserror::Error)]
pub enum StartDaemonError {
    #[error("--webhook-secret-file {}: {source}", path.display())]
    ReadWebhookSecret {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "--webhook-secret-file {} is empty: anyone could sign a webhook; write a random secret into it (e.g. `openssl rand -hex 32`)",
        path.display()
    )]
    EmptyWebhookSecret { path: PathBuf },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(
        "cannot keep the digest key Secret in namespace {namespace} ({source}); pullsync needs to read and create Secrets in its own namespace (--own-namespace)"
    )]
    DigestKey {
        namespace: String,
        #[source]
        source: CallError,
    },
    #[error("cannot watch for SIGTERM: {0}")]
    Signals(#[source] std::io::Error),
    #[error("cannot listen on {listen}: {source}")]
    Listen {
        listen: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    FirstFetch(#[from] FetchSpecsError),
    #[error("the first fetch gave no commit")]
    NoCommit,
    #[error("the first fetch stopped: {0}")]
    FetchTask(#[source] tokio::task::JoinError),
    #[error("the admission webhook: {0}")]
    Admission(#[from] crate::admission::server::ServeAdmissionError),
    #[error("the credential provider endpoint: {0}")]
    Provider(#[from] crate::provider::server::ServeProviderError),
}
