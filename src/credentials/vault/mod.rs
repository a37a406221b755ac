//! The Vault / OpenBao source (effect): one session per auth identity, with the token renewed
//! before it expires and a fresh login when it cannot be; KV v1/v2 reads (`kv.rs`) and dynamic
//! secrets with leases (`dynamic.rs`).
//!
//! The HTTP client is vaultrs's (rustls, CA bundle, `insecure`, timeout). Calls go through it
//! raw, because vaultrs's typed helpers drop what pullsync needs (`lease_id`,
//! `lease_duration`, `renewable`, the KV v2 version) and its health call fails on OpenBao.
//! Responses are parsed here; error messages carry Vault's `errors` strings, never bodies.

pub mod dynamic;
pub mod kv;
pub mod lease_state;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

/// Every Vault call has this long.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Attempts per call on 5xx / 429 / transport errors.
const ATTEMPTS: u32 = 3;
/// Renew the token once less than this share of its lifetime remains.
const RENEW_AT_REMAINING: f64 = 1.0 / 3.0;
/// Where a pod's projected service-account token lives (re-read at each login: the kubelet
/// rotates it).
pub const DEFAULT_JWT_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// How pullsync proves who it is to Vault. A value, so each tenant can get its own later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultAuth {
    /// A token read from a file (or given through `VAULT_TOKEN`-style settings by the caller).
    Token { file: PathBuf },
    AppRole {
        mount: String,
        role_id_file: PathBuf,
        secret_id_file: PathBuf,
    },
    Kubernetes {
        mount: String,
        role: String,
        jwt_file: PathBuf,
    },
    Jwt {
        mount: String,
        role: String,
        jwt_file: PathBuf,
    },
}

#[derive(Debug, Clone)]
pub struct VaultSettings {
    pub address: String,
    pub namespace: Option<String>,
    pub ca_cert: Option<PathBuf>,
    /// Skip TLS verification: explicit dev use only.
    pub insecure: bool,
    pub auth: VaultAuth,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum VaultCallError {
    #[error("cannot build the Vault client: {0}")]
    Client(String),
    #[error("Vault {method} {path}: {code} {message}")]
    Api {
        method: String,
        path: String,
        code: u16,
        message: String,
    },
    #[error("Vault {method} {path}: {reason}")]
    Transport {
        method: String,
        path: String,
        reason: String,
    },
    #[error("Vault login ({method}): {reason}")]
    Login { method: &'static str, reason: String },
}

impl VaultCallError {
    pub fn code(&self) -> Option<u16> {
        match self {
            VaultCallError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

struct Token {
    value: String,
    /// `None`: does not expire (e.g. a root token).
    expires: Option<Instant>,
    duration: Duration,
    renewable: bool,
}

/// A logged-in identity. Cheap to clone; the token is shared.
#[derive(Clone)]
pub struct VaultSession {
    settings: Arc<VaultSettings>,
    http: Arc<vaultrs::client::VaultClient>,
    token: Arc<Mutex<Option<Token>>>,
    /// Calls sent to Vault (for reports and benchmarks).
    pub calls: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for VaultSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultSession")
            .field("address", &self.settings.address)
            .field("auth", &self.settings.auth)
            .finish()
    }
}

fn errors_of(body: &Value) -> String {
    body["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "(no error message)".into())
}

fn read_trimmed(path: &PathBuf, what: &'static str) -> Result<String, VaultCallError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| VaultCallError::Login {
            method: what,
            reason: format!("cannot read {}: {e}", path.display()),
        })
}

impl VaultSession {
    /// A separate session that logs in with `role` instead (a tenant's own identity, so
    /// Vault's policy for that role bounds what its credentials can read).
    pub fn for_role(&self, role: &str) -> Result<VaultSession, VaultCallError> {
        let mut settings = (*self.settings).clone();
        settings.auth = match settings.auth {
            VaultAuth::Kubernetes { mount, jwt_file, .. } => VaultAuth::Kubernetes {
                mount,
                role: role.to_string(),
                jwt_file,
            },
            VaultAuth::Jwt { mount, jwt_file, .. } => VaultAuth::Jwt {
                mount,
                role: role.to_string(),
                jwt_file,
            },
            VaultAuth::Token { .. } | VaultAuth::AppRole { .. } => {
                return Err(VaultCallError::Login {
                    method: "tenant role",
                    reason: "a Tenant's spec.vault.role needs --vault-auth kubernetes or jwt".into(),
                });
            }
        };
        VaultSession::new(settings)
    }

    pub fn new(settings: VaultSettings) -> Result<VaultSession, VaultCallError> {
        let mut builder = vaultrs::client::VaultClientSettingsBuilder::default();
        // Everything explicit: the builder's defaults read VAULT_* environment variables.
        builder
            .address(&settings.address)
            .token("")
            .timeout(Some(TIMEOUT))
            .verify(!settings.insecure)
            .ca_certs(settings.ca_cert.iter().map(|p| p.display().to_string()).collect());
        let client_settings = builder
            .build()
            .map_err(|e| VaultCallError::Client(e.to_string()))?;
        let http = vaultrs::client::VaultClient::new(client_settings)
            .map_err(|e| VaultCallError::Client(e.to_string()))?;
        Ok(VaultSession {
            settings: Arc::new(settings),
            http: Arc::new(http),
            token: Arc::new(Mutex::new(None)),
            calls: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        })
    }

    /// One HTTP call with retries; `token` is sent when given. 204 answers `Null`.
    async fn send(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> Result<Value, VaultCallError> {
        let url = format!("{}/v1/{path}", self.settings.address.trim_end_matches('/'));
        use backon::Retryable;
        let url = &url;
        let method = &method;
        let attempt = move || async move {
            let mut request = self.http.http.http.request(method.clone(), url).timeout(TIMEOUT);
            if let Some(token) = token {
                request = request.header("X-Vault-Token", token);
            }
            if let Some(namespace) = &self.settings.namespace {
                request = request.header("X-Vault-Namespace", namespace);
            }
            if let Some(body) = body {
                request = request
                    .header("Content-Type", "application/json")
                    .body(serde_json::to_vec(body).unwrap_or_default());
            }
            self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let response = request.send().await.map_err(|e| VaultCallError::Transport {
                method: method.to_string(),
                path: path.to_string(),
                reason: e.to_string(),
            })?;
            let code = response.status().as_u16();
            let bytes = response.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            let parsed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if (200..300).contains(&code) {
                return Ok(parsed);
            }
            Err(VaultCallError::Api {
                method: method.to_string(),
                path: path.to_string(),
                code,
                message: errors_of(&parsed),
            })
        };
        attempt
            .retry(
                backon::ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_times(ATTEMPTS as usize - 1)
                    .with_jitter(),
            )
            .when(|error: &VaultCallError| matches!(error.code(), Some(429) | Some(500..=599) | None))
            .notify(|error, wait| {
                tracing::debug!(%error, wait_ms = wait.as_millis() as u64, "retrying Vault call");
            })
            .await
    }

    async fn login(&self) -> Result<Token, VaultCallError> {
        let (what, mount, body) = match &self.settings.auth {
            VaultAuth::Token { file } => {
                let value = read_trimmed(file, "token")?;
                let lookup = self
                    .send(http::Method::GET, "auth/token/lookup-self", None, Some(&value))
                    .await?;
                let ttl = lookup.pointer("/data/ttl").and_then(Value::as_u64).unwrap_or(0);
                return Ok(Token {
                    value,
                    expires: (ttl > 0).then(|| Instant::now() + Duration::from_secs(ttl)),
                    duration: Duration::from_secs(ttl),
                    renewable: lookup
                        .pointer("/data/renewable")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                });
            }
            VaultAuth::AppRole {
                mount,
                role_id_file,
                secret_id_file,
            } => (
                "approle",
                mount,
                json!({"role_id": read_trimmed(role_id_file, "approle")?, "secret_id": read_trimmed(secret_id_file, "approle")?}),
            ),
            VaultAuth::Kubernetes {
                mount,
                role,
                jwt_file,
            } => (
                "kubernetes",
                mount,
                json!({"role": role, "jwt": read_trimmed(jwt_file, "kubernetes")?}),
            ),
            VaultAuth::Jwt {
                mount,
                role,
                jwt_file,
            } => (
                "jwt",
                mount,
                json!({"role": role, "jwt": read_trimmed(jwt_file, "jwt")?}),
            ),
        };
        let response = self
            .send(
                http::Method::POST,
                &format!("auth/{mount}/login"),
                Some(&body),
                None,
            )
            .await
            .map_err(|e| VaultCallError::Login {
                method: what,
                reason: e.to_string(),
            })?;
        let auth = &response["auth"];
        let value = auth["client_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or(VaultCallError::Login {
                method: what,
                reason: "no client_token in the answer".into(),
            })?;
        let ttl = auth["lease_duration"].as_u64().unwrap_or(0);
        tracing::info!(method = what, ttl_seconds = ttl, "logged in to Vault");
        Ok(Token {
            value: value.to_string(),
            expires: (ttl > 0).then(|| Instant::now() + Duration::from_secs(ttl)),
            duration: Duration::from_secs(ttl),
            renewable: auth["renewable"].as_bool().unwrap_or(false),
        })
    }

    /// A token that is valid now: renewed when its remaining life is short, else a new login.
    async fn token(&self) -> Result<String, VaultCallError> {
        let mut slot = self.token.lock().await;
        if let Some(token) = slot.as_mut() {
            let Some(expires) = token.expires else {
                return Ok(token.value.clone());
            };
            let remaining = expires.saturating_duration_since(Instant::now());
            if remaining > token.duration.mul_f64(RENEW_AT_REMAINING) {
                return Ok(token.value.clone());
            }
            if token.renewable && !remaining.is_zero() {
                match self
                    .send(
                        http::Method::POST,
                        "auth/token/renew-self",
                        Some(&json!({})),
                        Some(&token.value),
                    )
                    .await
                {
                    Ok(renewed) => {
                        let ttl = renewed
                            .pointer("/auth/lease_duration")
                            .and_then(Value::as_u64)
                            .unwrap_or(0);
                        // Renewal that cannot extend (max TTL) is as good as none: log in again.
                        if ttl > 0 && Duration::from_secs(ttl) > remaining {
                            token.expires = Some(Instant::now() + Duration::from_secs(ttl));
                            tracing::debug!(ttl_seconds = ttl, "renewed the Vault token");
                            return Ok(token.value.clone());
                        }
                    }
                    Err(error) => tracing::warn!(%error, "could not renew the Vault token; logging in again"),
                }
            }
        }
        let fresh = self.login().await?;
        let value = fresh.value.clone();
        *slot = Some(fresh);
        Ok(value)
    }

    /// An authenticated call; a 403 triggers one fresh login (the token may have been revoked).
    pub async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, VaultCallError> {
        let token = self.token().await?;
        match self.send(method.clone(), path, body, Some(&token)).await {
            Err(e) if e.code() == Some(403) => {
                *self.token.lock().await = None;
                let token = self.token().await?;
                self.send(method, path, body, Some(&token)).await
            }
            other => other,
        }
    }
}
