//! GCP and Azure registry credentials against loopback token endpoints that follow the
//! documented protocols (`tests/support/oauth_server.py`): the GCP JWT-bearer grant, with the
//! assertion verified by the service-account key's public half; Entra ID client credentials
//! then ACR's `/oauth2/exchange`. Each exchange once per credential however many namespaces.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::controlplane::ControlPlane;
use support::{HEADER, Run, write};

struct TokenServer {
    child: Child,
    host: String,
    key: PathBuf,
    dir: tempfile::TempDir,
}

impl TokenServer {
    /// `path` and User-Agent of each request the endpoint served.
    fn requests(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.dir.path().join("requests.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(p, a)| (p.to_string(), a.to_string()))
            .collect()
    }

    /// Every request named pullsync and its version, as the Kubernetes calls do.
    fn assert_user_agents(&self, paths: usize) {
        let requests = self.requests();
        assert_eq!(requests.len(), paths, "{requests:?}");
        let agent = concat!("pullsync/", env!("CARGO_PKG_VERSION"));
        for (path, got) in &requests {
            assert_eq!(got, agent, "User-Agent of {path}");
        }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token_server() -> TokenServer {
    let dir = tempfile::tempdir().unwrap();
    let (key, port) = (dir.path().join("sa-key.json"), dir.path().join("port"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/oauth_server.py");
    let child = Command::new("python3")
        .arg(script)
        .arg(&key)
        .arg(&port)
        .args(["test-client-id", "test-client-secret"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !port.exists() || !key.exists() {
        assert!(Instant::now() < deadline, "the token server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let host = format!("127.0.0.1:{}", std::fs::read_to_string(&port).unwrap());
    TokenServer {
        child,
        host,
        key,
        dir,
    }
}

fn sync(server: &ControlPlane, repo: &Path, root: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["--file-source-root", root.to_str().unwrap()];
    args.extend(extra);
    support::sync_once(repo, &server.kubeconfig(), &args)
}

fn login(server: &ControlPlane, ns: &str, name: &str, host: &str) -> (String, String) {
    let secret = server.get("secrets", ns, name).unwrap();
    let raw = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        secret["data"][".dockerconfigjson"].as_str().unwrap(),
    )
    .unwrap();
    let config: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let entry = &config["auths"][host];
    (
        entry["username"].as_str().unwrap().to_string(),
        entry["password"].as_str().unwrap().to_string(),
    )
}

fn cluster() -> ControlPlane {
    let server = ControlPlane::start();
    for ns in ["team-a", "team-b"] {
        server.create_namespace(ns, &[]);
    }
    server
}

#[test]
fn a_gcp_service_account_key_becomes_an_access_token() {
    let tokens = token_server();
    let server = cluster();
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let key_dir = work.path().join("gcp");
    std::fs::create_dir_all(&key_dir).unwrap();
    std::fs::copy(&tokens.key, key_dir.join("key.json")).unwrap();
    write(
        &repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: gcp-key}}\nspec:\n  file: {{path: {}}}\n---\n{HEADER}kind: Credential\nmetadata: {{name: gar}}\nspec:\n  gcpAccessToken: {{serviceAccountKey: gcp-key}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: gar-pull}}\nspec:\n  namespaces: [team-a, team-b]\n  registries: [{{server: europe-docker.pkg.dev, credential: gar}}]\n",
            key_dir.display()
        ),
    );
    let run = sync(&server, &repo, work.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    for ns in ["team-a", "team-b"] {
        let (user, password) = login(&server, ns, "gar-pull", "europe-docker.pkg.dev");
        assert_eq!(user, "oauth2accesstoken");
        assert_eq!(password, "ya29.test-only-1", "one exchange for both namespaces");
    }
    tokens.assert_user_agents(1);
    // A key whose private half is not the one the endpoint knows: refused, said, nothing written.
    let other = work.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let foreign = token_server();
    std::fs::copy(&foreign.key, other.join("key.json")).unwrap();
    let mut key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(other.join("key.json")).unwrap()).unwrap();
    key["token_uri"] = serde_json::json!(format!("http://{}/token", tokens.host));
    std::fs::write(key_dir.join("key.json"), key.to_string()).unwrap();
    server.clear_log();
    let run = sync(&server, &repo, work.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.all().contains("invalid_grant Invalid JWT Signature."),
        "{}",
        run.all()
    );
    assert!(
        !run.all().contains("PRIVATE KEY"),
        "the key never reaches the output"
    );
    assert_eq!(server.writes_to("secrets"), 0, "the working Secrets are kept");
}

#[test]
fn an_azure_service_principal_becomes_an_acr_refresh_token() {
    let tokens = token_server();
    let server = cluster();
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let sp = write(
        work.path(),
        "sp.yaml",
        "client_id: test-client-id\nclient_secret: test-client-secret\ntenant_id: 11111111-2222-3333-4444-555555555555\n",
    );
    // The loopback endpoint plays both Entra ID and the registry's /oauth2/exchange.
    write(
        &repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: sp}}\nspec:\n  file: {{path: {}}}\n---\n{HEADER}kind: Credential\nmetadata: {{name: acr}}\nspec:\n  acrToken: {{registry: \"{host}\", servicePrincipal: sp}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: acr-pull}}\nspec:\n  namespaces: [team-a, team-b]\n  registries: [{{server: \"{host}\", credential: acr}}]\n",
            sp.display(),
            host = tokens.host
        ),
    );
    let authority = format!("http://{}", tokens.host);
    let extra = [
        "--azure-authority-host",
        authority.as_str(),
        "--registry-plain-http",
        tokens.host.as_str(),
    ];
    let run = sync(&server, &repo, work.path(), &extra);
    assert_eq!(run.code, 0, "{}", run.all());
    for ns in ["team-a", "team-b"] {
        let (user, password) = login(&server, ns, "acr-pull", &tokens.host);
        assert_eq!(user, "00000000-0000-0000-0000-000000000000");
        assert_eq!(password, "acr-refresh-test-1");
    }
    // Entra ID's token, then ACR's exchange.
    tokens.assert_user_agents(2);
    // A wrong client secret: Entra ID's error, not the secret.
    write(
        work.path(),
        "sp.yaml",
        "client_id: test-client-id\nclient_secret: not-the-secret\ntenant_id: 11111111-2222-3333-4444-555555555555\n",
    );
    let run = sync(&server, &repo, work.path(), &extra);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.all().contains("AADSTS7000215"), "{}", run.all());
    assert!(!run.all().contains("not-the-secret"));
}
