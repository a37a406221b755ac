//! Sources and remotes that accept a connection and never answer, against the real
//! kube-apiserver: the other credentials are fetched meanwhile and their Secrets written, each
//! stalled one fails after `--source-timeout` with its name; a stalled Git remote fails the fetch
//! after `--git-timeout`; SIGTERM in the middle of a stalled sync stops the daemon within
//! seconds, with no write after the signal and the lease released.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::blackhole::Blackhole;
use support::controlplane::ControlPlane;
use support::daemon::Daemon;
use support::{HEADER, write};

/// A GCP service-account key (a fresh RSA key; for tests only) whose token endpoint is `host`.
fn gcp_key(dir: &Path, host: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let pem = dir.join("key.pem");
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&pem)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(out.success(), "openssl genpkey");
    let key = serde_json::json!({
        "type": "service_account",
        "client_email": "stalled@test-only.iam.gserviceaccount.com",
        "private_key": std::fs::read_to_string(&pem).unwrap(),
        "token_uri": format!("http://{host}/token"),
    });
    write(dir, "key.json", key.to_string())
}

/// `count` GCP credentials whose token endpoint never answers, each in its own PullSecret, and
/// one working file credential for nvcr.io in `ngc-pull`.
fn specs(work: &Path, hole: &Blackhole, count: usize) -> std::path::PathBuf {
    let repo = work.join("repo");
    let mut text = String::new();
    for n in 1..=count {
        let key_dir = work.join(format!("gcp-{n}"));
        gcp_key(&key_dir, &hole.host);
        text.push_str(&format!(
            "{HEADER}kind: Credential\nmetadata: {{name: gcp-key-{n}}}\nspec:\n  file: {{path: {}}}\n---\n{HEADER}kind: Credential\nmetadata: {{name: gar-{n}}}\nspec:\n  gcpAccessToken: {{serviceAccountKey: gcp-key-{n}}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: gar-{n}-pull}}\nspec:\n  namespaces: [team-a]\n  registries: [{{server: europe-docker.pkg.dev, credential: gar-{n}}}]\n---\n",
            key_dir.display()
        ));
    }
    let ngc = write(
        work,
        "ngc.yaml",
        "username: $oauthtoken\npassword: nvapi-test-only-stalled\n",
    );
    text.push_str(&format!(
        "{HEADER}kind: Credential\nmetadata: {{name: ngc}}\nspec:\n  file: {{path: {}}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: ngc-pull}}\nspec:\n  namespaces: [team-a]\n  registries: [{{server: nvcr.io, credential: ngc}}]\n",
        ngc.display()
    ));
    write(&repo, "specs.yaml", text);
    repo
}

/// Wait for `child` to exit within `limit`; `None` when it is still running then.
fn exits_within(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn stalled_sources_are_fetched_together_and_the_others_written() {
    support::require("openssl");
    let server = ControlPlane::start();
    server.create_namespace("team-a", &[]);
    let hole = Blackhole::start();
    let work = tempfile::tempdir().unwrap();
    let repo = specs(work.path(), &hole, 3);
    let root = work.path().to_str().unwrap();
    let run = support::sync_once(
        &repo,
        &server.kubeconfig(),
        &["--file-source-root", root, "--source-timeout", "3s"],
    );
    assert_eq!(run.code, 1, "the stalled credentials are failures: {}", run.all());
    // All three were asked at once: sequential fetching holds at most one open.
    assert_eq!(hole.accepted(), 3, "one exchange per credential");
    assert_eq!(
        hole.max_open(),
        3,
        "the stalled sources were fetched concurrently"
    );
    for n in 1..=3 {
        assert!(
            run.all().lines().any(|l| l.contains(&format!("gar-{n}"))
                && l.contains("the source gave no answer within 3s (--source-timeout)")),
            "gar-{n} is named with its timeout: {}",
            run.all()
        );
        assert!(
            server
                .get("secrets", "team-a", &format!("gar-{n}-pull"))
                .is_none(),
            "nothing is written for a credential that failed"
        );
    }
    let ngc = server
        .get("secrets", "team-a", "ngc-pull")
        .expect("the working Secret");
    assert_eq!(
        support::nvcr_password(&ngc).as_deref(),
        Some("nvapi-test-only-stalled")
    );
}

#[test]
fn a_git_remote_that_never_answers_fails_the_fetch_within_the_timeout() {
    let server = ControlPlane::start();
    let hole = Blackhole::start();
    let work = tempfile::tempdir().unwrap();
    let mut child = Command::new(support::bin())
        .args(["run", "--git-url", &format!("http://{}/specs.git", hole.host)])
        .arg("--git-cache")
        .arg(work.path().join("cache"))
        .args(["--git-timeout", "2s", "--listen", "127.0.0.1:0", "--kubeconfig"])
        .arg(server.kubeconfig())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = exits_within(&mut child, Duration::from_secs(30));
    if status.is_none() {
        let _ = child.kill();
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = status.unwrap_or_else(|| panic!("a stalled first fetch hangs the daemon: {stderr}"));
    assert!(!status.success(), "{stderr}");
    assert!(hole.accepted() >= 1, "the remote was reached");
    assert!(
        stderr.contains(&format!("git fetch of http://{}/specs.git failed", hole.host))
            && stderr.to_lowercase().contains("timed out"),
        "{stderr}"
    );
}

#[test]
fn sigterm_mid_sync_stops_within_seconds_and_releases_the_lease() {
    support::require("openssl");
    let server = ControlPlane::start();
    server.create_namespace("pullsync-system", &[]);
    server.create_namespace("team-a", &[]);
    let hole = Blackhole::start();
    let work = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let repo = specs(work.path(), &hole, 1);
    let mut daemon = Daemon::start(
        &server.kubeconfig(),
        &repo,
        &["--leader-election", "--identity", "replica-a"],
    );
    // The sync is in progress: it waits on the stalled token endpoint (25 s by default).
    support::eventually("the stalled fetch", || hole.accepted() >= 1);
    server.clear_log();
    let signalled = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &daemon.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = exits_within(&mut daemon.child, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still running 10 s after SIGTERM: {}", daemon.log()));
    assert!(status.success(), "{}", daemon.log());
    let log = daemon.log();
    assert!(
        log.contains("SIGTERM: shutting down")
            && log.contains("abandoned the sync in progress")
            && log.contains("released the lease"),
        "{log}"
    );
    assert_eq!(
        server.writes_to("secrets"),
        0,
        "no Secret written after the signal"
    );
    let lease = server
        .get("leases", "pullsync-system", "pullsync-default")
        .expect("the lease");
    assert_eq!(lease["spec"]["holderIdentity"], "", "released for a successor");
    eprintln!("exited {} ms after SIGTERM", signalled.elapsed().as_millis());
}
