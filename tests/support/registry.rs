//! A real OCI registry for tests: Debian's `docker-registry` (distribution 2.8) with htpasswd
//! basic auth on 127.0.0.1, a free port, stopped by its PID when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub struct Registry {
    child: Child,
    pub host: String,
    _dir: tempfile::TempDir,
    /// The token server of a token-auth registry.
    token_server: Option<Child>,
}

impl Registry {
    /// Tokens the token server has issued (token-auth registries).
    pub fn tokens_issued(&self) -> usize {
        std::fs::read_to_string(self._dir.path().join("token.port.issued"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(child) = self.token_server.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `docker-registry serve` on a free loopback port with this `auth:` section, storing under
/// `dir`; returns once it accepts connections.
fn serve(dir: &Path, auth: &str) -> (Child, String) {
    let port = free_port();
    let config = format!(
        "version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n{auth}",
        dir.join("data").display()
    );
    let config_path = dir.join("config.yml");
    std::fs::write(&config_path, config).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let host = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(&host).is_err() {
        assert!(Instant::now() < deadline, "registry did not start on {host}");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, host)
}

impl Registry {
    /// Start a registry that accepts one user.
    pub fn start(user: &str, password: &str) -> Registry {
        super::require("docker-registry");
        super::require("htpasswd");
        let dir = tempfile::tempdir().unwrap();
        let htpasswd = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .unwrap();
        assert!(htpasswd.status.success());
        let htpasswd_path = dir.path().join("htpasswd");
        std::fs::write(&htpasswd_path, htpasswd.stdout).unwrap();
        let auth = format!(
            "  htpasswd:\n    realm: pullsync-test\n    path: {}\n",
            htpasswd_path.display()
        );
        let (child, host) = serve(dir.path(), &auth);
        Registry {
            child,
            host,
            _dir: dir,
            token_server: None,
        }
    }

    /// A registry with token authentication: a token server (`registry_token.py`) checks the
    /// one user's basic credentials and signs tokens the registry trusts.
    pub fn start_token(user: &str, password: &str) -> Registry {
        super::require("docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let (cert, port_file) = (dir.path().join("token.pem"), dir.path().join("token.port"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/registry_token.py");
        let token_server = Command::new("python3")
            .arg(&script)
            .arg(&cert)
            .args([user, password])
            .arg(&port_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !port_file.exists() {
            assert!(Instant::now() < deadline, "the token server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let token_port = std::fs::read_to_string(&port_file).unwrap();
        let auth = format!(
            "  token:\n    realm: http://127.0.0.1:{token_port}/token\n    service: pullsync-test\n    issuer: pullsync-test-issuer\n    rootcertbundle: {}\n",
            cert.display()
        );
        let (child, host) = serve(dir.path(), &auth);
        Registry {
            child,
            host,
            _dir: dir,
            token_server: Some(token_server),
        }
    }

    /// Push a one-layer image built from scratch (no network, no daemon) as `repo:tag`.
    pub fn push(&self, repo: &str, tag: &str, user: &str, password: &str) {
        let layout = tempfile::tempdir().unwrap();
        let dir = layout.path();
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        let blob = |bytes: &[u8]| -> (String, usize) {
            let digest: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
            std::fs::write(dir.join("blobs/sha256").join(&digest), bytes).unwrap();
            (format!("sha256:{digest}"), bytes.len())
        };
        let layer = tar_with_one_file("hello.txt", b"hello from a pullsync test\n");
        let (layer_digest, layer_size) = blob(&layer);
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]}
        })
        .to_string();
        let (config_digest, config_size) = blob(config.as_bytes());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}]
        })
        .to_string();
        let (manifest_digest, manifest_size) = blob(manifest.as_bytes());
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest, "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": tag}
            }]
        });
        std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let out = Command::new("skopeo")
            .args(["copy", "--dest-tls-verify=false", "--dest-creds"])
            .arg(format!("{user}:{password}"))
            .arg(format!("oci:{}:{tag}", dir.display()))
            .arg(format!("docker://{}/{repo}:{tag}", self.host))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo copy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `skopeo inspect --authfile FILE` of `repo:tag`: Ok, or skopeo's error text.
    pub fn inspect_with(&self, authfile: &Path, repo: &str, tag: &str) -> Result<(), String> {
        let out = Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--authfile"])
            .arg(authfile)
            .arg(format!("docker://{}/{repo}:{tag}", self.host))
            .env("REGISTRY_AUTH_FILE", "/nonexistent")
            .output()
            .unwrap();
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

/// A POSIX tar holding one regular file (enough for a registry and skopeo).
fn tar_with_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    let octal = |field: &mut [u8], value: u64| {
        let text = format!("{value:0width$o}\0", width = field.len() - 1);
        field.copy_from_slice(text.as_bytes());
    };
    octal(&mut header[100..108], 0o644);
    octal(&mut header[108..116], 0);
    octal(&mut header[116..124], 0);
    octal(&mut header[124..136], content.len() as u64);
    octal(&mut header[136..148], 0);
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    let checksum = format!("{sum:06o}\0 ");
    header[148..156].copy_from_slice(checksum.as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// Write a Secret manifest's `.dockerconfigjson` to a file skopeo can read.
pub fn authfile_from_secret(manifest: &Path, into: &Path) -> PathBuf {
    let bytes = super::secret_data(manifest, ".dockerconfigjson");
    let path = into.join("from-secret.json");
    std::fs::write(&path, bytes).unwrap();
    path
}
