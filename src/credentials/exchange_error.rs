//! Why a token exchange (STS, ECR, Google OAuth, Entra ID, ACR) failed, named by the call that
//! failed, with the HTTP client's error kept as the source. No variant holds a request body, a
//! key, an assertion or a token: the endpoint's own error words are kept, clipped.

use std::path::PathBuf;

/// The exchange that failed, as a user searches for it in the vendor's docs.
pub type Call = &'static str;

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The request did not complete (connect, TLS, timeout, reading the answer); the URL is
    /// removed from the source, since a query may carry a token.
    #[error("{call}: {source}")]
    Send {
        call: Call,
        #[source]
        source: reqwest::Error,
    },
    /// The endpoint answered with an error status; `explained` is its code and message in
    /// words a user can act on.
    #[error("{call}: {explained}")]
    Refused {
        call: Call,
        status: u16,
        explained: String,
    },
    #[error("{call} answered without {field}")]
    Incomplete { call: Call, field: &'static str },
    #[error("{call}: {problem}")]
    Malformed { call: Call, problem: &'static str },
    #[error("web identity token {}: {source}", path.display())]
    WebIdentityToken {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the service-account key {problem}")]
    ServiceAccountKey { problem: String },
}

impl ExchangeError {
    pub fn send(call: Call) -> impl FnOnce(reqwest::Error) -> ExchangeError {
        move |e| ExchangeError::Send {
            call,
            source: e.without_url(),
        }
    }
}
