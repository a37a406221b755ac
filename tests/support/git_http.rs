//! A smart-HTTP Git remote for tests: a loopback HTTP/1.1 server that runs `git http-backend`
//! as a CGI program for each request (one thread per connection, Connection: close).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct GitServer {
    pub url: String,
    pub root: PathBuf,
    stop: Arc<AtomicBool>,
    _dir: tempfile::TempDir,
}

impl Drop for GitServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = std::net::TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn handle(mut stream: std::net::TcpStream, root: &Path) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() || request_line.is_empty() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("GET").to_string(),
        parts.next().unwrap_or("/").to_string(),
    );
    let (path, query) = target
        .split_once('?')
        .map(|(p, q)| (p.to_string(), q.to_string()))
        .unwrap_or((target.clone(), String::new()));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if let Some(length) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        body.resize(length, 0);
        let _ = reader.read_exact(&mut body);
    } else if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            let mut size = String::new();
            let _ = reader.read_line(&mut size);
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                let _ = reader.read_line(&mut String::new());
                break;
            }
            let mut chunk = vec![0; n];
            let _ = reader.read_exact(&mut chunk);
            body.extend(chunk);
            let _ = reader.read_line(&mut String::new());
        }
    }
    let mut cgi = Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", &path)
        .env("QUERY_STRING", &query)
        .env("CONTENT_TYPE", header("content-type").unwrap_or_default())
        .env("CONTENT_LENGTH", body.len().to_string())
        .env(
            "HTTP_CONTENT_ENCODING",
            header("content-encoding").unwrap_or_default(),
        )
        .env("GIT_HTTP_MAX_REQUEST_BUFFER", "100M")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    cgi.stdin.take().unwrap().write_all(&body).unwrap();
    let output = cgi.wait_with_output().unwrap();
    let split = output
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| {
            output
                .stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, 2))
        });
    let Some((end, sep)) = split else { return };
    let head = String::from_utf8_lossy(&output.stdout[..end]).to_string();
    let payload = &output.stdout[end + sep..];
    let mut status = "200 OK".to_string();
    let mut response_headers = String::new();
    for line in head.lines() {
        if let Some(s) = line.strip_prefix("Status:") {
            status = s.trim().to_string();
        } else if !line.trim().is_empty() {
            response_headers.push_str(line.trim());
            response_headers.push_str("\r\n");
        }
    }
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\n{response_headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    );
    let _ = stream.write_all(payload);
}

impl GitServer {
    /// Serve a new bare repository `specs.git`; returns the server and a work clone to commit in.
    pub fn start() -> (GitServer, PathBuf) {
        super::require("git");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("srv");
        std::fs::create_dir_all(&root).unwrap();
        git(&root, &["init", "--bare", "-b", "main", "specs.git"]);
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "-b", "main"]);
        git(
            &work,
            &[
                "remote",
                "add",
                "origin",
                root.join("specs.git").to_str().unwrap(),
            ],
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let (serve_root, serve_stop) = (root.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if serve_stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let root = serve_root.clone();
                std::thread::spawn(move || handle(stream, &root));
            }
        });
        (
            GitServer {
                url: format!("{url}/specs.git"),
                root,
                stop,
                _dir: dir,
            },
            work,
        )
    }

    /// Commit everything in `work` and push; returns the commit id.
    /// Commit signed with the SSH key `key` (`gpg.format=ssh`, as `git commit -S` makes it),
    /// push, and return the commit id.
    pub fn commit_signed_and_push(work: &Path, message: &str, key: &Path) -> String {
        let signing = format!("user.signingkey={}", key.display());
        git(work, &["add", "-A"]);
        git(
            work,
            &[
                "-c",
                "gpg.format=ssh",
                "-c",
                &signing,
                "commit",
                "-q",
                "-S",
                "--allow-empty",
                "-m",
                message,
            ],
        );
        git(work, &["push", "-q", "-f", "origin", "HEAD:main"]);
        let out = Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(work)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// An annotated tag `name` on HEAD, signed with `key` when given; pushed.
    pub fn tag_and_push(work: &Path, name: &str, key: Option<&Path>) {
        match key {
            Some(key) => {
                let signing = format!("user.signingkey={}", key.display());
                git(
                    work,
                    &[
                        "-c",
                        "gpg.format=ssh",
                        "-c",
                        &signing,
                        "tag",
                        "-f",
                        "-s",
                        name,
                        "-m",
                        name,
                    ],
                );
            }
            None => git(work, &["tag", "-f", "-a", name, "-m", name]),
        }
        git(
            work,
            &["push", "-q", "-f", "origin", &format!("refs/tags/{name}")],
        );
    }

    pub fn commit_and_push(work: &Path, message: &str) -> String {
        git(work, &["add", "-A"]);
        git(work, &["commit", "-q", "--allow-empty", "-m", message]);
        git(work, &["push", "-q", "-f", "origin", "HEAD:main"]);
        let out = Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(work)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}
