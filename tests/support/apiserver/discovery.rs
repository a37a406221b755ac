//! Discovery documents, enough for `kubectl get` and `kube::Discovery`. Followed: "API
//! Discovery" (legacy `/api`, `/apis`, `/api/v1` `APIResourceList`) and kubectl's needs as
//! measured with kubectl 1.32 (`/version`, `/api`, `/api/v1`, `/apis`, each group version).

use serde_json::{Value, json};

fn resource(name: &str, kind: &str, namespaced: bool, verbs: &[&str], short: &[&str]) -> Value {
    json!({"name": name, "singularName": kind.to_lowercase(), "namespaced": namespaced, "kind": kind, "verbs": verbs, "shortNames": short})
}

const ALL: [&str; 8] = [
    "create",
    "delete",
    "get",
    "list",
    "patch",
    "update",
    "watch",
    "deletecollection",
];

pub fn respond(path: &str) -> Option<Value> {
    Some(match path.trim_end_matches('/') {
        "/version" => {
            json!({"major": "1", "minor": "34", "gitVersion": "v1.34.0-pullsync-test", "platform": "linux/amd64"})
        }
        "/api" => {
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
        }
        "/api/v1" => json!({
            "kind": "APIResourceList", "groupVersion": "v1",
            "resources": [
                resource("namespaces", "Namespace", false, &["create", "delete", "get", "list", "patch", "update", "watch"], &["ns"]),
                resource("secrets", "Secret", true, &ALL, &[]),
                resource("serviceaccounts", "ServiceAccount", true, &ALL, &["sa"]),
                {"name": "serviceaccounts/token", "singularName": "", "namespaced": true, "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest", "verbs": ["create"]},
                resource("events", "Event", true, &ALL, &["ev"]),
            ]
        }),
        "/apis" => json!({
            "kind": "APIGroupList", "apiVersion": "v1",
            "groups": [{"name": "coordination.k8s.io", "versions": [{"groupVersion": "coordination.k8s.io/v1", "version": "v1"}], "preferredVersion": {"groupVersion": "coordination.k8s.io/v1", "version": "v1"}}]
        }),
        "/apis/coordination.k8s.io/v1" => json!({
            "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "coordination.k8s.io/v1",
            "resources": [resource("leases", "Lease", true, &ALL, &[])]
        }),
        _ => return None,
    })
}
