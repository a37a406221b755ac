//! `pullsync wait --revision SHA`: poll the daemon's /status until the revision is applied
//! (to the given namespaces), rejected, or the time is up (effect). Made for an Argo CD
//! PreSync hook Job that must hold a sync until its pull secrets exist.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Between two polls.
const POLL: Duration = Duration::from_millis(500);

/// GET a URL with plain HTTP/1.1 (the status endpoint is in-cluster HTTP).
async fn get_json(url: &str) -> Result<Value, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// status URLs are supported")?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let address = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let mut stream = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(&address))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("malformed response")?;
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || tail.len() < n {
                break;
            }
            out.push_str(&tail[..n]);
            rest = tail[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        body.to_string()
    };
    serde_json::from_str(&body).map_err(|e| format!("not JSON: {e}"))
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
