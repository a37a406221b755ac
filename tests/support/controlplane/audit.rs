//! The API server's own record of requests: the audit policy the harness starts it with and the
//! reading of its JSON audit log (one event per line) into [`Logged`] requests, so tests count
//! what pullsync sent as the server saw it.

use serde_json::Value;

/// Metadata for every request, once per request (`ResponseComplete`, or `ResponseStarted` for a
/// watch still open); the API server's own loopback client and health probes left out.
pub const POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    users: [\"system:apiserver\"]
  - level: None
    nonResourceURLs: [\"/readyz*\", \"/healthz*\", \"/livez*\"]
  - level: Metadata
";

/// One request as the server recorded it.
#[derive(Debug, Clone)]
pub struct Logged {
    /// The HTTP method the verb came from (`watch` and `list` are GET).
    pub method: String,
    pub verb: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub user: String,
    pub user_agent: String,
    /// The subresource or resource named, e.g. `secrets`, `leases`.
    pub resource: String,
    pub group: String,
    pub namespace: String,
    pub name: String,
    /// When the server finished answering (RFC 3339 with microseconds).
    pub completed: String,
}

impl Logged {
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
    }

    pub fn is_watch(&self) -> bool {
        self.verb == "watch"
    }

    pub fn is_list(&self) -> bool {
        self.verb == "list"
    }
}

fn method_of(verb: &str) -> &'static str {
    match verb {
        "create" => "POST",
        "update" => "PUT",
        "patch" => "PATCH",
        "delete" | "deletecollection" => "DELETE",
        _ => "GET",
    }
}

/// The requests in `text` (audit log lines), each once, in the order the server finished them.
pub fn parse(text: &str) -> Vec<Logged> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            continue; // a line still being written
        };
        let id = event["auditID"].as_str().unwrap_or_default().to_string();
        if !seen.insert(id) {
            continue;
        }
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let uri = s(&event["requestURI"]);
        let (path, query) = match uri.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (uri.clone(), String::new()),
        };
        let verb = s(&event["verb"]);
        let object = &event["objectRef"];
        let resource = match object["subresource"].as_str() {
            Some(sub) => format!("{}/{sub}", s(&object["resource"])),
            None => s(&object["resource"]),
        };
        out.push(Logged {
            method: method_of(&verb).to_string(),
            verb,
            path,
            query,
            status: event["responseStatus"]["code"].as_u64().unwrap_or(0) as u16,
            user: s(&event["user"]["username"]),
            user_agent: s(&event["userAgent"]),
            resource,
            group: s(&object["apiGroup"]),
            namespace: s(&object["namespace"]),
            name: s(&object["name"]),
            completed: s(&event["stageTimestamp"]),
        });
    }
    out
}
