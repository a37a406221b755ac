//! pullsync against a Kubernetes API: the test API server in `tests/support/apiserver`, spoken
//! to by the real `kube::Client` inside the `pullsync` binary, cross-checked with `kubectl`.

#[path = "support/apiserver/mod.rs"]
mod apiserver;
mod support;

use apiserver::{ApiServer, kubectl};
use serde_json::json;

#[test]
fn the_test_server_speaks_to_kubectl() {
    support::require("kubectl");
    let server = ApiServer::start();
    server.create_namespace("ml-team", &[("team", "ml")]);
    server.create(
        "secrets",
        "ml-team",
        json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"k": "dg=="}}),
    );
    let out = kubectl(&server, &["get", "secret", "s", "-n", "ml-team", "-o", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let secret: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(secret["data"]["k"], "dg==");
    let out = kubectl(&server, &["get", "namespaces", "-l", "team=ml", "-o", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}
