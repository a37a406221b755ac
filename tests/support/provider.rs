//! The image credential provider under a real API server: the daemon's provider flags (the
//! harness' serving certificate for 127.0.0.1), a kubelet `CredentialProviderConfig` that runs
//! the real `pullsync credential-provider`, the kubelet's own plugin code as a driver (built by
//! scripts/setup-test-tools.sh from tests/credprovider/), pods and their bound tokens.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use serde_json::{Value, json};

use super::controlplane::ControlPlane;

/// The driver, from the cache folder the setup script builds into (same key computed there).
pub fn driver() -> PathBuf {
    let path = super::controlplane::process::cached_build(
        "credprovider",
        "tests/credprovider",
        &["go.mod", "go.sum", "main.go"],
    )
    .join("credprovider-driver");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup-test-tools.sh, which builds it",
        path.display()
    );
    path
}

/// The daemon's provider flags on `listen`.
pub fn flags(server: &ControlPlane, listen: &str) -> Vec<String> {
    let pki = server.data_dir().join("pki");
    vec![
        "--provider-listen".into(),
        listen.into(),
        "--provider-tls-cert".into(),
        pki.join("serving.crt").to_string_lossy().into_owned(),
        "--provider-tls-key".into(),
        pki.join("serving.key").to_string_lossy().into_owned(),
    ]
}

/// pullsync's RBAC with the provider's rule added (deploy/overlays/credential-provider).
pub fn rbac(server: &ControlPlane) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    server.set_rbac(&[
        &root.join("deploy/base/rbac.yaml"),
        &root.join("deploy/overlays/credential-provider/rbac.yaml"),
    ]);
}

/// A kubelet plugin folder and `CredentialProviderConfig` in `dir`, as the chart's node
/// DaemonSet writes them (`pullsync install-credential-provider`): the plugin connects to the
/// endpoint by a Service-like name its certificate holds, resolved to `listen`'s address.
pub fn kubelet_config(
    server: &ControlPlane,
    dir: &Path,
    listen: &str,
    match_images: &[&str],
) -> (PathBuf, PathBuf) {
    let bin_dir = dir.join("plugins");
    let ca = dir.join("ca-source.crt");
    std::fs::write(&ca, server.ca_pem()).unwrap();
    let config = dir.join("credential-provider-config.json");
    let (ip, port) = listen.rsplit_once(':').unwrap();
    let mut args = vec![
        "install-credential-provider".to_string(),
        "--bin-dir".into(),
        bin_dir.display().to_string(),
        "--config".into(),
        config.display().to_string(),
        "--node-config-dir".into(),
        dir.display().to_string(),
        "--url".into(),
        format!("https://kubernetes.default.svc:{port}"),
        "--resolve".into(),
        ip.into(),
        "--ca-file".into(),
        ca.display().to_string(),
    ];
    for image in match_images {
        args.extend(["--match-image".to_string(), image.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = super::pullsync(&args, None, None);
    assert_eq!(run.code, 0, "{}", run.all());
    (config, bin_dir)
}

/// What the kubelet's keyring returned for one image.
#[derive(Debug)]
pub struct Found {
    pub image: String,
    pub found: bool,
    /// (username, password) in the keyring's order.
    pub auths: Vec<(String, String)>,
}

/// Run the kubelet's plugin code for one pod (the kubelet's rights: the admin kubeconfig mints
/// the pod's token and reads its ServiceAccount) and look `images` up in order.
pub fn kubelet_lookup(
    server: &ControlPlane,
    config: &Path,
    bin_dir: &Path,
    pod: &Pod,
    images: &[&str],
) -> Result<Vec<Found>, String> {
    let out = Command::new(driver())
        .arg("-config")
        .arg(config)
        .arg("-bin-dir")
        .arg(bin_dir)
        .arg("-kubeconfig")
        .arg(server.admin_kubeconfig())
        .args([
            "-namespace",
            &pod.namespace,
            "-pod",
            &pod.name,
            "-pod-uid",
            &pod.uid,
        ])
        .args(["-service-account", &pod.account, "-images", &images.join(",")])
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            Found {
                image: v["image"].as_str().unwrap().to_string(),
                found: v["found"].as_bool().unwrap(),
                auths: v["auths"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| {
                        (
                            a["username"].as_str().unwrap().to_string(),
                            a["password"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect(),
            }
        })
        .collect())
}

pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub account: String,
    pub uid: String,
}

/// A ServiceAccount (no controller-manager makes them) and a pod running as it (no kubelet
/// runs it: it stays Pending, which is all a bound token needs).
pub fn pod(server: &ControlPlane, namespace: &str, name: &str, account: &str, image: &str) -> Pod {
    if server.get("serviceaccounts", namespace, account).is_none() {
        server.create(
            "serviceaccounts",
            namespace,
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}}),
        );
    }
    let created = server.create(
        "pods",
        namespace,
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"serviceAccountName": account, "containers": [{"name": "c", "image": image}]}
        }),
    );
    Pod {
        namespace: namespace.into(),
        name: name.into(),
        account: account.into(),
        uid: created["metadata"]["uid"].as_str().unwrap().to_string(),
    }
}

/// A token for the pod's ServiceAccount from the real TokenRequest API, for `audience`, bound
/// to the pod when `bound` (as the kubelet asks for it).
pub fn token(server: &ControlPlane, pod: &Pod, audience: &str, bound: bool) -> String {
    let mut spec = json!({"audiences": [audience], "expirationSeconds": 600});
    if bound {
        spec["boundObjectRef"] = json!({"apiVersion": "v1", "kind": "Pod", "name": pod.name, "uid": pod.uid});
    }
    let path = format!(
        "/api/v1/namespaces/{}/serviceaccounts/{}/token",
        pod.namespace, pod.account
    );
    let answer = server
        .request(
            "POST",
            &path,
            "application/json",
            Some(&json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})),
        )
        .unwrap();
    answer["status"]["token"].as_str().unwrap().to_string()
}

/// `token` with its times moved into the past and signed again with the API server's own
/// service-account key (ES256): a token the server issued in every respect, but expired.
pub fn expired(server: &ControlPlane, token: &str) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    claims["iat"] = json!(now - 1800);
    claims["nbf"] = json!(now - 1800);
    claims["exp"] = json!(now - 900);
    let signing_input = format!("{}.{}", parts[0], b64.encode(claims.to_string()));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("input"), &signing_input).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(server.data_dir().join("pki/sa.key"))
        .arg(dir.path().join("input"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    format!("{signing_input}.{}", b64.encode(der_to_jose(&out.stdout)))
}

/// An ECDSA P-256 signature from DER (`SEQUENCE { INTEGER r, INTEGER s }`) to JOSE's r‖s.
fn der_to_jose(der: &[u8]) -> Vec<u8> {
    let mut at = 2; // SEQUENCE tag and (short) length
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[at], 0x02, "an INTEGER");
        let len = der[at + 1] as usize;
        let int = &der[at + 2..at + 2 + len];
        let int = &int[int.len().saturating_sub(32)..];
        out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
        out.extend_from_slice(int);
        at += 2 + len;
    }
    out
}

/// Run the plugin as the kubelet would, with this request on stdin: (exit code, stdout, stderr).
pub fn plugin(listen: &str, ca: &Path, image: &str, token: &str) -> (i32, Value, String) {
    let request = json!({
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "kind": "CredentialProviderRequest",
        "image": image,
        "serviceAccountToken": token,
        "serviceAccountAnnotations": {}
    });
    let run = super::pullsync(
        &[
            "credential-provider",
            "--url",
            &format!("https://{listen}"),
            "--ca-file",
            ca.to_str().unwrap(),
            "--attempts",
            "1",
        ],
        Some(request.to_string().as_bytes()),
        None,
    );
    (
        run.code,
        serde_json::from_str(&run.stdout).unwrap_or(Value::Null),
        run.stderr,
    )
}
