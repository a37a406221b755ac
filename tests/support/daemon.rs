//! The real `pullsync run` as a child process with its own log file, killed by its PID when
//! the test ends.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub struct Daemon {
    pub child: Child,
    pub port: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Keep the log only when a test failed, to read what the daemon did.
        if !std::thread::panicking() {
            let _ =
                std::fs::remove_file(std::env::temp_dir().join(format!("pullsync-daemon-{}.log", self.port)));
        }
    }
}

impl Daemon {
    pub fn start(kubeconfig: &Path, repo: &Path, extra: &[&str]) -> Daemon {
        let mut args = vec!["--poll-interval", "200ms"];
        args.extend(extra);
        Self::start_with(kubeconfig, repo, &args)
    }

    /// `extra` may repeat a flag given here (`--resync-interval`): the last one wins.
    pub fn start_with(kubeconfig: &Path, repo: &Path, extra: &[&str]) -> Daemon {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(super::bin())
            .args([
                "run",
                "--repo",
                repo.to_str().unwrap(),
                "--kubeconfig",
                kubeconfig.to_str().unwrap(),
            ])
            // Test credentials live in temporary folders; the daemon reads file sources there only.
            .arg("--file-source-root")
            .arg(std::env::temp_dir())
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--resync-interval",
                "1s",
                "--allow-mass-prune",
            ])
            .args(extra)
            .env("PULLSYNC_LOG_LEVEL", "info")
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(std::env::temp_dir().join(format!("pullsync-daemon-{port}.log")))
                    .unwrap(),
            )
            .spawn()
            .unwrap();
        Daemon { child, port }
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return (0, String::new());
        };
        let _ = write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        );
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (
            code,
            text.split_once("\r\n\r\n")
                .map(|(_, b)| b.to_string())
                .unwrap_or_default(),
        )
    }

    pub fn status(&self) -> Value {
        let (_, body) = self.get("/status");
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }

    /// What the daemon logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(std::env::temp_dir().join(format!("pullsync-daemon-{}.log", self.port)))
            .unwrap_or_default()
    }

    /// Syncs finished so far (each logs one `sync phases` line).
    pub fn syncs(&self) -> usize {
        self.log().matches("sync phases").count()
    }

    /// Wait until `n` more syncs have finished: with `n` ≥ 2 at least one of them started
    /// after this call, so what it would write has been written (a condition, not a sleep).
    pub fn wait_syncs(&self, n: usize) {
        let before = self.syncs();
        super::eventually_within(
            &format!("{n} more syncs"),
            std::time::Duration::from_secs(60),
            || self.syncs() >= before + n,
        );
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/status", self.port)
    }
}
