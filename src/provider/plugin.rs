//! `pullsync credential-provider`: the exec plugin the kubelet runs (effect). It holds no
//! secret and no spec: it reads the kubelet's `CredentialProviderRequest` from stdin, asks the
//! daemon's credential endpoint over HTTPS (the cluster CA, or a CA file), and writes the
//! `CredentialProviderResponse` to stdout; on any failure it writes one line to stderr and
//! exits non-zero, which the kubelet logs and treats as "no credential from this plugin"
//! (`k8s.io/kubernetes/pkg/credentialprovider/plugin`, `execPlugin.ExecPlugin`).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use super::server::{API_VERSION, PATH, ProviderRequest};

/// A request is an image name, a token and a few annotations.
const MAX_REQUEST: u64 = 64 * 1024;
/// An answer is a few logins.
const MAX_RESPONSE: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct PluginOptions {
    /// The daemon's base URL, e.g. `https://pullsync.pullsync-system.svc:8444`.
    pub url: String,
    /// PEM CA bundle that signed the daemon's certificate.
    pub ca_file: Option<PathBuf>,
    /// Connect to this IP instead of resolving the URL's host (a node's resolver does not know
    /// cluster DNS names); the certificate is still checked against the URL's host.
    pub resolve: Option<std::net::IpAddr>,
    /// For each attempt (the kubelet's own `execPlugin` timeout is one minute).
    pub timeout: Duration,
    /// Attempts before giving up: a Service may route one to a replica that is not serving.
    pub attempts: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialProviderError {
    #[error("cannot read the CredentialProviderRequest from stdin: {0}")]
    Stdin(#[source] std::io::Error),
    #[error("stdin is not a CredentialProviderRequest of {API_VERSION}: {0}")]
    Request(String),
    #[error("cannot read --ca-file {path}: {source}")]
    CaFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--ca-file {0}: no PEM certificate in it")]
    CaPem(PathBuf),
    #[error("cannot build the HTTPS client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("cannot reach {url}: {source}")]
    Send {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("pullsync refused ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("pullsync's answer is not a CredentialProviderResponse")]
    Response,
    #[error("cannot write the answer to stdout: {0}")]
    Stdout(#[source] std::io::Error),
}

fn client(options: &PluginOptions) -> Result<reqwest::Client, CredentialProviderError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(crate::credentials::http::USER_AGENT)
        .timeout(options.timeout)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &options.ca_file {
        let pem = crate::bounded::read_regular(path, crate::bounded::MAX_SMALL_FILE).map_err(|source| {
            CredentialProviderError::CaFile {
                path: path.clone(),
                source,
            }
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| CredentialProviderError::CaPem(path.clone()))?;
        builder = builder.tls_certs_only(certs);
    }
    if let Some(ip) = options.resolve
        && let Ok(url) = reqwest::Url::parse(&options.url)
        && let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default())
    {
        builder = builder.resolve(host, std::net::SocketAddr::new(ip, port));
    }
    builder.build().map_err(CredentialProviderError::Client)
}

/// One request to the daemon: the body the kubelet gave, the daemon's body back.
async fn ask(client: &reqwest::Client, url: &str, body: &[u8]) -> Result<Vec<u8>, CredentialProviderError> {
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_vec())
        .send()
        .await
        .map_err(|source| CredentialProviderError::Send {
            url: url.to_string(),
            source: source.without_url(),
        })?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|source| CredentialProviderError::Send {
            url: url.to_string(),
            source: source.without_url(),
        })?;
    let bytes = &bytes[..bytes.len().min(MAX_RESPONSE)];
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| v["message"].as_str().map(crate::image::reference::clip))
            .unwrap_or_else(|| crate::image::reference::clip(&String::from_utf8_lossy(bytes)));
        return Err(CredentialProviderError::Refused {
            status: status.as_u16(),
            message,
        });
    }
    Ok(bytes.to_vec())
}

/// Read the request, ask the daemon, write the answer.
pub async fn run(options: &PluginOptions) -> Result<(), CredentialProviderError> {
    let mut body = Vec::new();
    std::io::stdin()
        .take(MAX_REQUEST)
        .read_to_end(&mut body)
        .map_err(CredentialProviderError::Stdin)?;
    let request: ProviderRequest =
        serde_json::from_slice(&body).map_err(|e| CredentialProviderError::Request(e.to_string()))?;
    if request.api_version != API_VERSION || request.kind != "CredentialProviderRequest" {
        return Err(CredentialProviderError::Request(format!(
            "apiVersion {:?}, kind {:?}",
            request.api_version, request.kind
        )));
    }
    let client = client(options)?;
    let url = format!("{}{PATH}", options.url.trim_end_matches('/'));
    let mut last = None;
    for attempt in 0..options.attempts.max(1) {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 << attempt.min(4))).await;
        }
        match ask(&client, &url, &body).await {
            Ok(answer) => {
                let check: serde_json::Value =
                    serde_json::from_slice(&answer).map_err(|_| CredentialProviderError::Response)?;
                if check["kind"] != "CredentialProviderResponse" || check["apiVersion"] != API_VERSION {
                    return Err(CredentialProviderError::Response);
                }
                let mut out = std::io::stdout().lock();
                out.write_all(&answer).map_err(CredentialProviderError::Stdout)?;
                return out.flush().map_err(CredentialProviderError::Stdout);
            }
            // A refusal is final: the token, the audience or the request is wrong.
            Err(
                refused @ CredentialProviderError::Refused {
                    status: 400..=499, ..
                },
            ) => return Err(refused),
            Err(error) => last = Some(error),
        }
    }
    Err(last.unwrap_or(CredentialProviderError::Response))
}
