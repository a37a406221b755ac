//! The Kubernetes client pullsync uses (effect).
//!
//! Requests are built by `kube` (URLs, parameters, auth, TLS) and sent raw through
//! `kube::Client::send`, because pullsync needs what the typed helpers hide: the `Retry-After`
//! header and `Status.details.retryAfterSeconds` of a 429, and bodies it parses itself so a
//! Secret's data never passes through a library's error log. Every call waits for the
//! client-side rate limiter and a concurrency permit, and is retried with backoff and jitter on
//! 429, 5xx and (where safe) 409.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::client::Body;
use serde_json::Value;
use tokio::sync::Semaphore;

/// Longest wait between two attempts, whatever the server asks.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// First backoff step; doubled per attempt, with jitter.
const BASE_BACKOFF: Duration = Duration::from_millis(100);
/// Every request (but a watch) has this long to answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The connection's read timeout, which watches share: longer than kube-runtime's watch
/// timeout (290 s), because a real API server sends a quiet watch nothing for about a minute
/// between bookmarks; kube's own default (295 s), for the same reason.
const READ_TIMEOUT: Duration = Duration::from_secs(295);

#[derive(Debug, Clone)]
pub struct KubeSettings {
    /// Kubeconfig file; `None` infers (in-cluster, then `KUBECONFIG`, then `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// Sustained requests per second.
    pub qps: f64,
    /// Requests allowed in a burst above `qps`.
    pub burst: u32,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// This replica's name (leader election), added to the User-Agent for audit logs.
    pub identity: Option<String>,
}

impl Default for KubeSettings {
    fn default() -> Self {
        Self {
            kubeconfig: None,
            qps: 20.0,
            burst: 40,
            concurrency: 8,
            max_attempts: 5,
            identity: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectKubeError {
    #[error("cannot read kubeconfig {path}: {reason}")]
    Kubeconfig { path: PathBuf, reason: String },
    #[error("no Kubernetes configuration found (in-cluster, KUBECONFIG or ~/.kube/config): {0}")]
    Infer(String),
    #[error("cannot build the Kubernetes client: {0}")]
    Client(String),
}

/// A failed API call. Messages come from the API server's `Status`, which never holds Secret
/// data (the server redacts it in validation errors too).
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("{code} {reason}: {message}")]
    Api {
        code: u16,
        reason: String,
        message: String,
    },
    #[error("request failed: {0}")]
    Transport(String),
    #[error("cannot build request: {0}")]
    Build(String),
    #[error("unexpected response: {0}")]
    Decode(String),
}

impl CallError {
    pub fn code(&self) -> Option<u16> {
        match self {
            CallError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            CallError::Api { reason, .. } => reason,
            _ => "",
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }
}

/// Whether a 409 may be retried by sending the same request again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    Retry,
    Return,
}

/// Token bucket: `qps` tokens a second, at most `burst` saved up.
struct RateLimiter {
    qps: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    async fn acquire(&self) {
        loop {
            let wait = {
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let (tokens, last) = *state;
                let tokens = (tokens + now.duration_since(last).as_secs_f64() * self.qps).min(self.burst);
                if tokens >= 1.0 {
                    *state = (tokens - 1.0, now);
                    return;
                }
                *state = (tokens, now);
                Duration::from_secs_f64((1.0 - tokens) / self.qps)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// `attempts` tries in all: BASE_BACKOFF doubling up to MAX_BACKOFF, each step with jitter.
fn retry_policy(attempts: u32) -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::default()
        .with_min_delay(BASE_BACKOFF)
        .with_max_delay(MAX_BACKOFF)
        .with_max_times(attempts.saturating_sub(1) as usize)
        .with_jitter()
}

/// A little jitter without a random-number crate: the clock's nanoseconds are noise enough.
fn jitter(max: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    max.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

#[derive(Clone)]
pub struct Kube {
    client: kube::Client,
    limiter: Arc<RateLimiter>,
    permits: Arc<Semaphore>,
    max_attempts: u32,
    /// The namespace of the kubeconfig context, or the pod's own when in a cluster.
    pub default_namespace: String,
    /// Calls sent, retries included (for reports and benchmarks).
    pub calls: Arc<std::sync::atomic::AtomicU64>,
    /// Each call's method, status and duration, for `/metrics`.
    pub metrics: crate::metrics::Metrics,
}

impl std::fmt::Debug for Kube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kube")
            .field("default_namespace", &self.default_namespace)
            .finish()
    }
}

impl Kube {
    pub async fn connect(settings: &KubeSettings) -> Result<Kube, ConnectKubeError> {
        let config = match &settings.kubeconfig {
            Some(path) => {
                let err = |reason: String| ConnectKubeError::Kubeconfig {
                    path: path.clone(),
                    reason,
                };
                let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| err(e.to_string()))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
                    .await
                    .map_err(|e| err(e.to_string()))?
            }
            None => kube::Config::infer()
                .await
                .map_err(|e| ConnectKubeError::Infer(e.to_string()))?,
        };
        let mut config = config;
        // kube's client retries 429/503/504 itself by default (up to 15 times, backing off to
        // 1000 s); under pullsync's own retries (`--max-attempts`, Retry-After capped) that
        // multiplied the attempts and broke "nothing waits forever". One retry policy: ours.
        config.default_retry = false;
        config.read_timeout = Some(READ_TIMEOUT);
        config.connect_timeout = Some(REQUEST_TIMEOUT);
        // API server audit logs and priority-and-fairness rules tell clients apart by this.
        let agent = match &settings.identity {
            Some(identity) => format!("pullsync/{} ({identity})", env!("CARGO_PKG_VERSION")),
            None => format!("pullsync/{}", env!("CARGO_PKG_VERSION")),
        };
        config.headers.push((
            http::header::USER_AGENT,
            http::HeaderValue::from_str(&agent).unwrap_or_else(|_| {
                http::HeaderValue::from_static(concat!("pullsync/", env!("CARGO_PKG_VERSION")))
            }),
        ));
        let default_namespace = config.default_namespace.clone();
        let client = kube::Client::try_from(config).map_err(|e| ConnectKubeError::Client(e.to_string()))?;
        Ok(Kube {
            client,
            limiter: Arc::new(RateLimiter {
                qps: settings.qps.max(0.1),
                burst: f64::from(settings.burst.max(1)),
                state: Mutex::new((f64::from(settings.burst.max(1)), Instant::now())),
            }),
            permits: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            max_attempts: settings.max_attempts.max(1),
            default_namespace,
            calls: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            metrics: crate::metrics::Metrics::default(),
        })
    }

    /// The same connection with its own rate limit and concurrency: a second traffic class
    /// (the credential provider's TokenReviews) neither waits behind the sync's writes nor
    /// takes their budget.
    pub fn with_limits(&self, qps: f64, burst: u32, concurrency: usize) -> Kube {
        Kube {
            limiter: Arc::new(RateLimiter {
                qps: qps.max(0.1),
                burst: f64::from(burst.max(1)),
                state: Mutex::new((f64::from(burst.max(1)), Instant::now())),
            }),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            ..self.clone()
        }
    }

    /// The underlying client, for watches.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// Send the request `build` makes, retrying as configured; the body of a 2xx as JSON.
    pub async fn call<F>(&self, on_conflict: OnConflict, build: F) -> Result<Value, CallError>
    where
        F: Fn() -> Result<http::Request<Vec<u8>>, kube::core::request::Error>,
    {
        self.call_as(on_conflict, build).await
    }

    /// [`Kube::call`], decoding the body of a 2xx as `T`: a caller that needs one field of the
    /// answer (a write's new resourceVersion) decodes that field, not the whole object.
    pub async fn call_as<T, F>(&self, on_conflict: OnConflict, build: F) -> Result<T, CallError>
    where
        T: serde::de::DeserializeOwned,
        F: Fn() -> Result<http::Request<Vec<u8>>, kube::core::request::Error>,
    {
        use backon::Retryable;
        let build = &build;
        let attempt = move || async move {
            let request = build().map_err(|e| (CallError::Build(e.to_string()), None))?;
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|e| (CallError::Transport(e.to_string()), None))?;
            self.limiter.acquire().await;
            self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (method, path) = (request.method().clone(), request.uri().path().to_string());
            let started = Instant::now();
            let answer = self.send::<T>(request).await;
            let code = match &answer {
                Ok((status, _)) => Some(*status),
                Err((error, _)) => error.code(),
            };
            self.metrics.requested(method.as_str(), code, started.elapsed());
            if let Err((error, _)) = &answer {
                tracing::debug!(%method, %path, %error, "Kubernetes call failed");
            }
            answer.map(|(_, body)| body)
        };
        let retryable = |(error, _): &(CallError, Option<Duration>)| match error.code() {
            Some(429) | Some(500..=599) => true,
            Some(409) => on_conflict == OnConflict::Retry && error.reason() != "AlreadyExists",
            Some(_) => false,
            None => matches!(error, CallError::Transport(_)),
        };
        attempt
            .retry(retry_policy(self.max_attempts))
            .when(retryable)
            // A 429's Retry-After (or Status.details.retryAfterSeconds) replaces the step, up to
            // MAX_BACKOFF; the number of attempts stays the policy's.
            .adjust(|(_, server_wait), next| {
                next.map(|step| {
                    server_wait.map_or(step, |asked| {
                        asked.min(MAX_BACKOFF) + jitter(asked.min(MAX_BACKOFF) / 2)
                    })
                })
            })
            .notify(|_, wait| {
                tracing::debug!(wait_ms = wait.as_millis() as u64, "retrying Kubernetes call");
            })
            .await
            .map_err(|(error, _)| error)
    }

    /// One attempt: the status and body of a 2xx; on failure, the error and how long the
    /// server asked us to wait.
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<(u16, T), (CallError, Option<Duration>)> {
        // The whole exchange, body included, within REQUEST_TIMEOUT (the connection's own read
        // timeout is a watch's).
        tokio::time::timeout(REQUEST_TIMEOUT, self.send_unbounded(request))
            .await
            .unwrap_or_else(|_| {
                Err((
                    CallError::Transport(format!("no answer within {}s", REQUEST_TIMEOUT.as_secs())),
                    None,
                ))
            })
    }

    async fn send_unbounded<T: serde::de::DeserializeOwned>(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<(u16, T), (CallError, Option<Duration>)> {
        let response = self
            .client
            .send(request.map(Body::from))
            .await
            .map_err(|e| (CallError::Transport(e.to_string()), None))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response
            .into_body()
            .collect_bytes()
            .await
            .map_err(|e| (CallError::Transport(e.to_string()), None))?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes)
                .map(|body| (status, body))
                .map_err(|_| {
                    (
                        CallError::Decode(format!("HTTP {status} with a body that is not JSON")),
                        None,
                    )
                });
        }
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let details_wait = body
            .pointer("/details/retryAfterSeconds")
            .and_then(Value::as_u64)
            .map(Duration::from_secs);
        let error = CallError::Api {
            code: status,
            reason: body["reason"].as_str().unwrap_or("Unknown").to_string(),
            message: body["message"].as_str().unwrap_or("(no message)").to_string(),
        };
        Err((error, retry_after.or(details_wait)))
    }
}
