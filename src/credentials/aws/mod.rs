//! AWS as a credential source (effect): ECR registry tokens exchanged for an AWS identity —
//! long-lived keys or STS session credentials from another Credential, or a web identity (a
//! projected service-account token, as IRSA does). Signed with SigV4 here ([`sigv4`]) rather
//! than through the AWS SDK: one API call per service does not justify its build time.

pub mod ecr;
pub mod errors;
pub mod sigv4;
pub mod sts;

use std::path::PathBuf;

/// Where AWS is, and the daemon's web-identity token: operator settings, never a spec's (a
/// spec that could name the endpoint could send a signed request, session token included, to
/// a server of its choosing).
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// One endpoint for every AWS service (`AWS_ENDPOINT_URL`): a VPC endpoint, or a local
    /// emulator in tests.
    pub endpoint_url: Option<String>,
    pub web_identity_token_file: PathBuf,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            endpoint_url: None,
            web_identity_token_file: PathBuf::from(DEFAULT_WEB_IDENTITY_TOKEN_FILE),
        }
    }
}

/// Where EKS's pod identity webhook mounts the projected token (IRSA).
pub const DEFAULT_WEB_IDENTITY_TOKEN_FILE: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token";

pub use super::http::client;

/// The URL and `host` header for `service` in `region`, honouring the endpoint override.
pub fn endpoint(settings: &AwsSettings, default_host: &str) -> (String, String) {
    match &settings.endpoint_url {
        Some(url) => {
            let url = url.trim_end_matches('/');
            let host = url
                .split_once("://")
                .map_or(url, |(_, rest)| rest)
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string();
            (format!("{url}/"), host)
        }
        None => (format!("https://{default_host}/"), default_host.to_string()),
    }
}
