//! A real OpenBao server for tests: `bao server -dev` on a free 127.0.0.1 port with a file
//! audit device (declared in a config file: OpenBao 2 refuses audit devices over the API),
//! configured through its HTTP API, stopped by its PID when dropped.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub struct OpenBao {
    child: Child,
    pub addr: String,
    pub port: u16,
    pub root_token: String,
    dir: tempfile::TempDir,
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 JSON call (Connection: close), enough to configure OpenBao.
pub fn http(method: &str, addr: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    http_ns(method, addr, path, token, body, None)
}

/// `http` inside an OpenBao namespace (`X-Vault-Namespace`).
pub fn http_ns(
    method: &str,
    addr: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    namespace: Option<&str>,
) -> (u16, Value) {
    let host = addr.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request = format!(
        "{method} /v1/{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = token {
        request.push_str(&format!("X-Vault-Token: {token}\r\n"));
    }
    if let Some(namespace) = namespace {
        request.push_str(&format!("X-Vault-Namespace: {namespace}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let payload = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, serde_json::from_str(&payload).unwrap_or(Value::Null))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl OpenBao {
    pub fn start() -> OpenBao {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> OpenBao {
        super::require("bao");
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit.log");
        let config = dir.path().join("config.hcl");
        std::fs::write(
            &config,
            format!(
                "audit \"file\" \"counter\" {{\n  options {{\n    file_path = \"{}\"\n  }}\n}}\n",
                audit.display()
            ),
        )
        .unwrap();
        let root_token = format!("root-{port}-{}", std::process::id());
        let child = Command::new("bao")
            .args(["server", "-dev", "-dev-no-store-token"])
            .arg(format!("-dev-root-token-id={root_token}"))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .arg(format!("-config={}", config.display()))
            .env("HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http("GET", &addr, "sys/seal-status", None, None).1["sealed"] == false
            {
                break;
            }
            assert!(Instant::now() < deadline, "OpenBao did not start on {addr}");
            std::thread::sleep(Duration::from_millis(100));
        }
        OpenBao {
            child,
            addr,
            port,
            root_token,
            dir,
        }
    }

    /// A dev server speaking TLS with its own CA (`-dev-tls`); set up with `curl`.
    pub fn start_tls() -> (Child, String, PathBuf, tempfile::TempDir) {
        super::require("bao");
        super::require("curl");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new("bao")
            .args([
                "server",
                "-dev",
                "-dev-tls",
                "-dev-no-store-token",
                "-dev-root-token-id=root-tls",
            ])
            .arg(format!("-dev-tls-cert-dir={}", dir.path().display()))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .env("HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = format!("https://127.0.0.1:{port}");
        let ca = dir.path().join("vault-ca.pem");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = ca.exists()
                && Command::new("curl")
                    .args(["-sf", "--cacert"])
                    .arg(&ca)
                    .arg(format!("{addr}/v1/sys/seal-status"))
                    .output()
                    .is_ok_and(|o| o.status.success());
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "OpenBao (TLS) did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        (child, addr, ca, dir)
    }

    /// A root call that must succeed.
    pub fn root(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = http(method, &self.addr, path, Some(&self.root_token), body.as_ref());
        assert!((200..300).contains(&status), "{method} {path}: {status} {value}");
        value
    }

    /// A root call inside a namespace that must succeed.
    pub fn root_in(&self, namespace: &str, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = http_ns(
            method,
            &self.addr,
            path,
            Some(&self.root_token),
            body.as_ref(),
            Some(namespace),
        );
        assert!(
            (200..300).contains(&status),
            "{namespace}: {method} {path}: {status} {value}"
        );
        value
    }

    pub fn kv2_put(&self, path: &str, data: Value) -> u64 {
        self.root(
            "POST",
            &format!("secret/data/{path}"),
            Some(json!({"data": data})),
        )["data"]["version"]
            .as_u64()
            .unwrap()
    }

    /// A policy allowing what pullsync needs, and a renewable token file with it.
    pub fn pullsync_token(&self, ttl: &str) -> PathBuf {
        self.root(
            "PUT",
            "sys/policies/acl/pullsync",
            Some(json!({"policy": POLICY})),
        );
        let token = self.root(
            "POST",
            "auth/token/create",
            Some(json!({"policies": ["pullsync"], "ttl": ttl, "renewable": true})),
        )["auth"]["client_token"]
            .as_str()
            .unwrap()
            .to_string();
        let path = self.dir.path().join("pullsync-token");
        std::fs::write(&path, token).unwrap();
        path
    }

    /// The database secrets engine against `pg`, with a role `registry-reader` issuing
    /// PostgreSQL users on leases of `ttl`, renewable up to `max_ttl`.
    pub fn database_role(&self, pg: &super::postgres::Postgres, ttl: &str, max_ttl: &str) {
        self.root("POST", "sys/mounts/database", Some(json!({"type": "database"})));
        self.root(
            "POST",
            "database/config/pg",
            Some(json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?sslmode=disable", pg.port),
                "username": pg.user, "password": pg.password, "allowed_roles": "*", "verify_connection": true
            })),
        );
        self.root(
            "POST",
            "database/roles/registry-reader",
            Some(json!({
                "db_name": "pg",
                "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"],
                "default_ttl": ttl, "max_ttl": max_ttl
            })),
        );
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Requests OpenBao received for `path` (request entries of the audit log).
    pub fn requests_to(&self, path: &str) -> usize {
        self.audit()
            .iter()
            .filter(|e| e["type"] == "request" && e["request"]["path"] == path)
            .count()
    }

    /// Reads of `path` (writes by the test's own setup excluded).
    pub fn reads_of(&self, path: &str) -> usize {
        self.audit()
            .iter()
            .filter(|e| {
                e["type"] == "request" && e["request"]["path"] == path && e["request"]["operation"] == "read"
            })
            .count()
    }

    /// Requests made with a token carrying the `pullsync` policy, or to log in: pullsync's own.
    pub fn pullsync_requests(&self) -> Vec<String> {
        self.audit()
            .iter()
            .filter(|e| e["type"] == "request")
            .filter(|e| {
                let policies = e["auth"]["token_policies"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                policies.iter().any(|p| p == "pullsync")
                    || e["request"]["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("/login"))
            })
            .map(|e| {
                format!(
                    "{} {}",
                    e["request"]["operation"].as_str().unwrap_or(""),
                    e["request"]["path"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    pub fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("audit.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const POLICY: &str = r#"
path "secret/data/*" { capabilities = ["read"] }
path "secret/metadata/*" { capabilities = ["read"] }
path "kv1/*" { capabilities = ["read"] }
path "database/creds/*" { capabilities = ["read", "update"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "sys/leases/revoke" { capabilities = ["update"] }
"#;

/// A JWT signed by a key the test owns (Ed25519, with the openssl CLI).
pub fn signed_jwt(dir: &std::path::Path, claims: &Value) -> (String, String) {
    let key = dir.join("jwt-key.pem");
    if !key.exists() {
        assert!(
            std::process::Command::new("openssl")
                .args(["genpkey", "-algorithm", "ed25519", "-out"])
                .arg(&key)
                .status()
                .unwrap()
                .success()
        );
    }
    let public = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    let header = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        json!({"alg": "EdDSA", "typ": "JWT"}).to_string(),
    );
    let payload = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        claims.to_string(),
    );
    let input = dir.join("jwt-input");
    std::fs::write(&input, format!("{header}.{payload}")).unwrap();
    let signature = std::process::Command::new("openssl")
        .args(["pkeyutl", "-sign", "-rawin", "-inkey"])
        .arg(&key)
        .arg("-in")
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        signature.status.success(),
        "{}",
        String::from_utf8_lossy(&signature.stderr)
    );
    (
        format!(
            "{header}.{payload}.{}",
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                signature.stdout
            )
        ),
        String::from_utf8(public.stdout).unwrap(),
    )
}

impl OpenBao {
    /// JWT auth (`auth/jwt`) trusting `public` (PEM) for issuer `https://pullsync.test`.
    pub fn enable_jwt(&self, public: &str) {
        self.root("POST", "sys/auth/jwt", Some(json!({"type": "jwt"})));
        self.root(
            "POST",
            "auth/jwt/config",
            Some(json!({"jwt_validation_pubkeys": [public], "bound_issuer": "https://pullsync.test"})),
        );
    }

    /// A policy `name` reading KV v2 data under `secret/<prefix>`, and a JWT role of the same
    /// name holding it (audience `pullsync`).
    pub fn jwt_role_reading(&self, name: &str, prefix: &str) {
        let policy = format!("path \"secret/data/{prefix}/*\" {{ capabilities = [\"read\"] }}\n");
        self.root(
            "PUT",
            &format!("sys/policies/acl/{name}"),
            Some(json!({"policy": policy})),
        );
        self.root(
            "POST",
            &format!("auth/jwt/role/{name}"),
            Some(json!({"role_type": "jwt", "bound_audiences": ["pullsync"], "user_claim": "sub", "token_policies": [name], "token_ttl": "10m"})),
        );
    }
}
