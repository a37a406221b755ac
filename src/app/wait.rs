//! `pullsync wait --revision SHA`: poll the daemon's /status until the revision is applied
//! (to the given namespaces), rejected, or the time is up (effect). Made for an Argo CD
//! PreSync hook Job that must hold a sync until its pull secrets exist.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Between two polls.
const POLL: Duration = Duration::from_millis(500);

/// The largest /status document read (it is bounded by the daemon's history of 100 revisions).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// One request, connect to last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// GET a URL with a real HTTP/1.1 client (chunked bodies, UTF-8 split across reads, keep-alive
/// are hyper's business, not string splitting).
async fn get_json(url: &str) -> Result<Value, String> {
    use http_body_util::{BodyExt, Empty, Limited};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let uri: http::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err("only http:// status URLs are supported (the in-cluster Service)".into());
    }
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<axum::body::Bytes>>();
    let request = http::Request::get(uri)
        .header(http::header::ACCEPT, "application/json")
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let fetch = async {
        let response = client.request(request).await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, fetch)
        .await
        .map_err(|_| "timed out".to_string())?
}

/// `Some(true)` applied, `Some(false)` rejected, `None` not yet.
pub fn verdict(status: &Value, revision: &str, namespaces: &[String]) -> Option<bool> {
    let applied = status["applied"].as_array().cloned().unwrap_or_default();
    let position = applied.iter().position(|a| a["revision"] == revision);
    if let Some(i) = position {
        // Applied, or superseded by a later applied revision that reached the namespaces.
        let reached = applied[i..].iter().any(|a| {
            a["complete"] == true
                && namespaces.iter().all(|ns| {
                    a["namespaces"]
                        .as_array()
                        .is_some_and(|list| list.iter().any(|n| n == ns.as_str()))
                })
        });
        if reached {
            return Some(true);
        }
    }
    if status["rejected"]
        .as_array()
        .is_some_and(|r| r.iter().any(|x| x == revision))
    {
        return Some(false);
    }
    None
}

pub async fn run(
    revision: &str,
    namespaces: &[String],
    url: &str,
    timeout: Duration,
) -> anyhow::Result<ExitCode> {
    let deadline = Instant::now() + timeout;
    let mut last_error = String::new();
    loop {
        match get_json(url).await {
            Ok(status) => match verdict(&status, revision, namespaces) {
                Some(true) => {
                    println!("revision {revision} is applied");
                    return Ok(ExitCode::SUCCESS);
                }
                Some(false) => {
                    eprintln!("error: revision {revision} was rejected as invalid:");
                    for d in status["diagnostics"].as_array().into_iter().flatten() {
                        eprintln!("  {}", d.as_str().unwrap_or_default());
                    }
                    return Ok(ExitCode::FAILURE);
                }
                None => {}
            },
            Err(e) => last_error = e,
        }
        if Instant::now() >= deadline {
            let why = if last_error.is_empty() {
                "not applied yet".to_string()
            } else {
                format!("last error: {last_error}")
            };
            eprintln!("error: timed out waiting for revision {revision} ({why})");
            return Ok(ExitCode::FAILURE);
        }
        tokio::time::sleep(POLL).await;
    }
}
