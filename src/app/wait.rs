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
pub(crate) async fn get_json(url: &str) -> Result<Value, String> {
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

/// What `/status` says about a revision, for the namespaces waited on.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Applied,
    /// Refused as invalid (or unsigned): nothing of it ran.
    Rejected,
    /// Applied, but tenancy rejected these objects that asked for the namespaces waited on.
    ObjectsRejected(Vec<String>),
    NotYet,
}

pub fn verdict(status: &Value, revision: &str, namespaces: &[String]) -> Verdict {
    let applied = status["applied"].as_array().cloned().unwrap_or_default();
    let position = applied.iter().position(|a| a["revision"] == revision);
    if let Some(i) = position {
        // Applied, or superseded by a later applied revision that reached the namespaces (or
        // settled them: a namespace whose only Secret tenancy rejected is never "reached").
        let reached = applied[i..].iter().find(|a| {
            a["complete"] == true
                && namespaces.iter().all(|ns| {
                    a["namespaces"]
                        .as_array()
                        .is_some_and(|list| list.iter().any(|n| n == ns.as_str()))
                        || a["rejected"].get(ns.as_str()).is_some()
                })
        });
        if let Some(reached) = reached {
            // Without --namespace every namespace is waited on.
            let rejected: Vec<String> = reached["rejected"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(ns, _)| namespaces.is_empty() || namespaces.iter().any(|n| n == *ns))
                .flat_map(|(ns, objects)| {
                    objects
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|o| o.as_str().map(|o| format!("{ns}: {o}")))
                        .collect::<Vec<_>>()
                })
                .collect();
            return if rejected.is_empty() {
                Verdict::Applied
            } else {
                Verdict::ObjectsRejected(rejected)
            };
        }
    }
    if status["rejected"]
        .as_array()
        .is_some_and(|r| r.iter().any(|x| x == revision))
    {
        return Verdict::Rejected;
    }
    Verdict::NotYet
}

/// `pullsync wait`'s exit code when the revision ran but tenancy rejected objects that asked
/// for the namespaces waited on (1 stays "rejected as invalid, or timed out").
pub const EXIT_OBJECTS_REJECTED: u8 = 3;

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
                Verdict::Applied => {
                    println!("revision {revision} is applied");
                    return Ok(ExitCode::SUCCESS);
                }
                Verdict::ObjectsRejected(objects) => {
                    eprintln!(
                        "error: revision {revision} ran, but tenancy rejected {} object(s) for the namespaces waited on; what they ask for does not exist:",
                        objects.len()
                    );
                    for object in &objects {
                        eprintln!("  {object}");
                    }
                    return Ok(ExitCode::from(EXIT_OBJECTS_REJECTED));
                }
                Verdict::Rejected => {
                    eprintln!("error: revision {revision} was rejected as invalid:");
                    for d in status["diagnostics"].as_array().into_iter().flatten() {
                        eprintln!("  {}", d.as_str().unwrap_or_default());
                    }
                    return Ok(ExitCode::FAILURE);
                }
                Verdict::NotYet => {}
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_revision_is_applied_rejected_or_missing_objects_per_namespace() {
        let status = json!({
            "applied": [
                {"revision": "r1", "namespaces": ["a", "b"], "complete": true,
                 "rejected": {"c": ["Secret/x (teams/c/s.yaml): rule `namespaces`"], "b": ["PullSecret/p (teams/b/s.yaml): rule `credentials`"]}},
                {"revision": "r2", "namespaces": ["a"], "complete": false}
            ],
            "rejected": ["bad"]
        });
        let ns = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(verdict(&status, "r1", &ns(&["a"])), Verdict::Applied);
        assert_eq!(
            verdict(&status, "r1", &ns(&["a", "b"])),
            Verdict::ObjectsRejected(vec![
                "b: PullSecret/p (teams/b/s.yaml): rule `credentials`".into()
            ])
        );
        // Only a rejected object asked for c: settled, and not applied.
        assert_eq!(
            verdict(&status, "r1", &ns(&["c"])),
            Verdict::ObjectsRejected(vec!["c: Secret/x (teams/c/s.yaml): rule `namespaces`".into()])
        );
        // Without --namespace, every namespace counts.
        assert!(matches!(verdict(&status, "r1", &[]), Verdict::ObjectsRejected(o) if o.len() == 2));
        assert_eq!(verdict(&status, "r2", &ns(&["a"])), Verdict::NotYet, "incomplete");
        assert_eq!(verdict(&status, "bad", &[]), Verdict::Rejected);
        assert_eq!(verdict(&status, "r9", &[]), Verdict::NotYet);
    }
}
