//! The admission webhook under a real API server: the daemon's flags for it (the harness'
//! serving certificate for 127.0.0.1, which its CA signed) and a ValidatingWebhookConfiguration
//! pointing at one or more daemons, as a platform would register it (fail open, 3 s).

use base64::Engine;
use serde_json::{Value, json};

use super::controlplane::ControlPlane;

/// A free loopback address for a webhook listener.
pub fn free_listen() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// The daemon's admission flags on `listen`.
pub fn flags(server: &ControlPlane, listen: &str) -> Vec<String> {
    let pki = server.data_dir().join("pki");
    vec![
        "--admission-listen".into(),
        listen.into(),
        "--admission-tls-cert".into(),
        pki.join("serving.crt").to_string_lossy().into_owned(),
        "--admission-tls-key".into(),
        pki.join("serving.key").to_string_lossy().into_owned(),
        "--admission-anonymous-registry".into(),
        "registry.k8s.io".into(),
        // The API server is the only client on loopback here.
        "--admission-read-unmanaged".into(),
    ]
}

/// One webhook per address for pod creates (caBundle: the harness CA).
pub fn register(server: &ControlPlane, listens: &[&str]) {
    let ca = base64::engine::general_purpose::STANDARD.encode(server.ca_pem());
    let hooks: Vec<Value> = listens
        .iter()
        .enumerate()
        .map(|(i, listen)| {
            json!({
                "name": format!("pods-{i}.pullsync.dev"),
                "clientConfig": {"url": format!("https://{listen}/admission/pods"), "caBundle": ca},
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}],
                "failurePolicy": "Ignore",
                "sideEffects": "None",
                "timeoutSeconds": 3,
                "admissionReviewVersions": ["v1"],
                "namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "pullsync-system"]}]}
            })
        })
        .collect();
    server.create(
        "validatingwebhookconfigurations",
        "",
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "pullsync-pods"},
            "webhooks": hooks
        }),
    );
}
