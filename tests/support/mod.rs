//! Test harness: run the real `pullsync` binary and build spec folders on disk.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout and stderr together, for "never appears anywhere" checks.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pullsync"))
}

/// Run `pullsync ARGS` with optional stdin, in `cwd` (default: the crate root).
pub fn pullsync(args: &[&str], stdin: Option<&[u8]>, cwd: Option<&Path>) -> Run {
    pullsync_env(args, &[], stdin, cwd)
}

/// `pullsync` with extra environment variables (all other `PULLSYNC_*` are cleared).
pub fn pullsync_env(args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>, cwd: Option<&Path>) -> Run {
    let mut command = Command::new(bin());
    command
        .args(args)
        .current_dir(cwd.unwrap_or(Path::new(env!("CARGO_MANIFEST_DIR"))))
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("PULLSYNC_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    let mut child = command.spawn().expect("start pullsync");
    {
        let mut pipe = child.stdin.take().expect("stdin");
        if let Some(bytes) = stdin {
            pipe.write_all(bytes).expect("write stdin");
        }
    }
    let output = child.wait_with_output().expect("wait for pullsync");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub fn write(root: &Path, relative: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, content).unwrap();
    path
}

/// Whether an external tool is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Wait up to 20 s for `check`, polling every 100 ms; the test fails naming `what`.
pub fn eventually(what: &str, check: impl FnMut() -> bool) {
    eventually_within(what, std::time::Duration::from_secs(20), check)
}

/// [`eventually`] with its own limit, for waits that span several syncs or renewals.
pub fn eventually_within(what: &str, limit: std::time::Duration, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `pullsync sync --once --repo REPO --kubeconfig KUBECONFIG EXTRA…`.
pub fn sync_once(repo: &Path, kubeconfig: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "sync",
        "--once",
        "--repo",
        repo.to_str().unwrap(),
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ];
    args.extend(extra);
    pullsync(&args, None, None)
}

/// Fail loudly when a tool the suite needs is missing: `scripts/test.sh` installs it.
pub fn require(tool: &str) {
    assert!(
        have(tool),
        "`{tool}` is not installed; run scripts/test.sh, which installs it"
    );
}

/// Decode the base64 `data` value `key` from a Secret manifest file written by pullsync.
pub fn secret_data(manifest: &Path, key: &str) -> Vec<u8> {
    use base64::Engine;
    let text = std::fs::read_to_string(manifest).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let encoded = doc["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no data[{key}] in {}", manifest.display()));
    base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()
}

pub mod admission;
pub mod blackhole;
pub mod controlplane;
pub mod daemon;
pub mod git_http;
pub mod manifests;
pub mod moto;
pub mod openbao;
pub mod postgres;
pub mod provider;
pub mod registry;

pub const HEADER: &str = "apiVersion: pullsync.dev/v1alpha1\n";

/// The `nvcr.io` password in a pull Secret's `.dockerconfigjson`, as the API returned it.
pub fn nvcr_password(secret: &serde_json::Value) -> Option<String> {
    registry_password(secret, "nvcr.io")
}

/// The password a pull Secret (an API object) holds for `host`.
pub fn registry_password(secret: &serde_json::Value, host: &str) -> Option<String> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(secret["data"][".dockerconfigjson"].as_str()?)
        .ok()?;
    let config: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    config["auths"][host]["password"].as_str().map(String::from)
}

/// A spec repo under `work`: the file credential `ngc` (`work/creds/ngc.json`, this password)
/// in a PullSecret `ngc-pull` for every namespace labelled `gpu=true`.
pub fn gpu_pull_secret_repo(work: &Path, password: &str) -> PathBuf {
    let creds = work.join("creds");
    write(
        &creds,
        "ngc.json",
        serde_json::json!({"username": "u", "password": password}).to_string(),
    );
    let repo = work.join("repo");
    write(
        &repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: ngc}}\nspec:\n  file: {{path: {}}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: ngc-pull}}\nspec:\n  namespaceSelector: {{matchLabels: {{gpu: \"true\"}}}}\n  registries: [{{server: nvcr.io, credential: ngc}}]\n",
            creds.join("ngc.json").display()
        ),
    );
    repo
}
