//! `pullsync run` end to end: the real binary as a daemon against a real kube-apiserver (and
//! OpenBao), driven by changes a user makes — new specs, hand edits, new namespaces, Vault
//! updates, replicas dying. Stalls, failing watches and short-lived tokens the real server will
//! not produce are in `tests/faults.rs`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use support::controlplane::ControlPlane;
use support::daemon::Daemon;
use support::{HEADER, write};

use support::eventually;

fn password(server: &ControlPlane, ns: &str, name: &str) -> Option<String> {
    support::nvcr_password(&server.get("secrets", ns, name)?)
}

fn setup(work: &Path, password: &str) -> PathBuf {
    support::gpu_pull_secret_repo(work, password)
}

/// The `setup` specs (credential files under `outside`) committed under `specs/` in a Git
/// work tree and pushed; the commit id.
fn push_specs(work: &Path, outside: &Path, message: &str) -> String {
    let specs_dir = setup(outside, "p1");
    std::fs::create_dir_all(work.join("specs")).unwrap();
    std::fs::copy(specs_dir.join("specs.yaml"), work.join("specs/specs.yaml")).unwrap();
    support::git_http::GitServer::commit_and_push(work, message)
}

#[test]
fn the_daemon_keeps_secrets_true() {
    let server = ControlPlane::start();
    server.create_namespace("pullsync-system", &[]);
    server.create_namespace("team-a", &[("gpu", "true")]);
    let work = tempfile::tempdir().unwrap();
    let repo = setup(work.path(), "p1");
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &[]);
    eventually("the secret appears", || {
        password(&server, "team-a", "ngc-pull").as_deref() == Some("p1")
    });
    eventually("ready", || daemon.get("/readyz").0 == 200);
    assert_eq!(daemon.get("/healthz").0, 200);

    // Deleted by hand → restored. Data edited by hand → restored.
    server.delete("secrets", "team-a", "ngc-pull");
    eventually("restored after deletion", || {
        password(&server, "team-a", "ngc-pull").is_some()
    });
    server.update(
        "secrets",
        "team-a",
        "ngc-pull",
        |s| s["data"][".dockerconfigjson"] = json!(STANDARD.encode(r#"{"auths":{}}"#)),
        "kubectl-edit",
    );
    eventually("restored after an edit", || {
        password(&server, "team-a", "ngc-pull").as_deref() == Some("p1")
    });

    // A new namespace with the selector label gets its secret.
    server.create_namespace("team-b", &[("gpu", "true")]);
    eventually("the new namespace gets its secret", || {
        password(&server, "team-b", "ngc-pull").is_some()
    });

    // A changed credential → rotated.
    write(
        &work.path().join("creds"),
        "ngc.json",
        json!({"username": "u", "password": "p2"}).to_string(),
    );
    eventually("rotated", || {
        password(&server, "team-a", "ngc-pull").as_deref() == Some("p2")
            && password(&server, "team-b", "ngc-pull").as_deref() == Some("p2")
    });
    let good = daemon.status()["lastGoodRevision"].as_str().unwrap().to_string();

    // An invalid commit changes nothing; /status says why; the next good one applies.
    let specs = std::fs::read_to_string(repo.join("specs.yaml")).unwrap();
    std::fs::write(
        repo.join("specs.yaml"),
        specs.replace("server: nvcr.io", "server: https://nvcr.io"),
    )
    .unwrap();
    eventually("invalid in /status", || daemon.status()["invalid"] == true);
    let status = daemon.status();
    assert!(
        status["diagnostics"][0]
            .as_str()
            .unwrap()
            .contains("has a scheme"),
        "{status}"
    );
    assert_eq!(status["lastGoodRevision"], good.as_str());
    let bad = status["currentRevision"].as_str().unwrap().to_string();
    assert_eq!(daemon.get("/readyz").0, 503);
    eventually("a Warning event about the rejected revision", || {
        server.list("events").iter().any(|e| {
            e["reason"] == "InvalidSpecs"
                && e["type"] == "Warning"
                && e["message"].as_str().unwrap_or_default().contains(&bad)
        })
    });
    assert!(daemon.get("/metrics").1.contains("pullsync_invalid_commit 1"));
    let wait = |revision: &str| {
        Command::new(support::bin())
            .args([
                "wait",
                "--revision",
                revision,
                "--status-url",
                &daemon.url(),
                "--timeout",
                "5s",
            ])
            .output()
            .unwrap()
    };
    let out = wait(&bad);
    assert_eq!(out.status.code(), Some(1), "wait fails for a rejected revision");
    assert!(String::from_utf8_lossy(&out.stderr).contains("was rejected as invalid"));
    assert_eq!(
        password(&server, "team-a", "ngc-pull").as_deref(),
        Some("p2"),
        "nothing changed"
    );
    std::fs::write(repo.join("specs.yaml"), &specs).unwrap();
    eventually("valid again", || daemon.status()["invalid"] == false);
    let out = wait(&good);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(support::bin())
        .args([
            "wait",
            "--revision",
            &good,
            "--namespace",
            "team-b",
            "--status-url",
            &daemon.url(),
            "--timeout",
            "5s",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let metrics = daemon.get("/metrics").1;
    assert!(
        metrics.contains("pullsync_syncs_total{result=\"success\"}"),
        "{metrics}"
    );
    assert!(!daemon.get("/status").1.contains("p2"), "no value in /status");
}

#[test]
fn two_replicas_one_writer_and_a_takeover() {
    let server = ControlPlane::start();
    server.create_namespace("pullsync-system", &[]);
    server.create_namespace("team-a", &[("gpu", "true")]);
    let work = tempfile::tempdir().unwrap();
    let repo = setup(work.path(), "p1");
    let election = |id: &'static str| vec!["--leader-election", "--lease-duration", "2s", "--identity", id];
    let a = Daemon::start(&server.kubeconfig(), &repo, &election("replica-a"));
    let b = Daemon::start(&server.kubeconfig(), &repo, &election("replica-b"));
    eventually("one leader", || {
        // Both answering (a replica not listening yet has no status, which is not "follower").
        let (sa, sb) = (a.status(), b.status());
        let up = sa["leader"].is_boolean() && sb["leader"].is_boolean();
        up && ((sa["leader"] == true) ^ (sb["leader"] == true))
    });
    eventually("the secret appears", || {
        password(&server, "team-a", "ngc-pull").is_some()
    });
    let (leader, follower) = if a.status()["leader"] == true {
        (a, b)
    } else {
        (b, a)
    };
    let holder = server
        .get("leases", "pullsync-system", "pullsync-default")
        .unwrap()["spec"]["holderIdentity"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(follower.status()["leader"], false);
    assert!(["replica-a", "replica-b"].contains(&holder.as_str()));
    // The follower never writes: its status records no sync.
    assert!(
        follower.status()["lastSync"].is_null(),
        "the follower synced: {}",
        follower.status()
    );

    // SIGTERM: the leader finishes and releases the lease, so the other takes over at once.
    let status = Command::new("kill")
        .args(["-TERM", &leader.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut leader = leader;
    eventually("the leader exits", || leader.child.try_wait().unwrap().is_some());
    let log =
        std::fs::read_to_string(std::env::temp_dir().join(format!("pullsync-daemon-{}.log", leader.port)))
            .unwrap();
    assert!(
        log.contains("SIGTERM: shutting down") && log.contains("released the lease"),
        "{log}"
    );
    eventually("takeover after release", || follower.status()["leader"] == true);
    drop(leader);
    // Now the new leader dies without releasing: a restarted replica takes over when it expires.
    let (dead, _) = (follower, ());
    let survivor = Daemon::start(&server.kubeconfig(), &repo, &election("replica-c"));
    let status = Command::new("kill")
        .args(["-KILL", &dead.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let follower = survivor;
    eventually("takeover", || follower.status()["leader"] == true);
    server.delete("secrets", "team-a", "ngc-pull");
    eventually("the new leader restores", || {
        password(&server, "team-a", "ngc-pull").is_some()
    });
    let lease = server
        .get("leases", "pullsync-system", "pullsync-default")
        .unwrap();
    assert_ne!(lease["spec"]["holderIdentity"], holder.as_str());
    assert!(lease["spec"]["leaseTransitions"].as_u64().unwrap() >= 1);
}

#[test]
fn a_vault_change_rotates_the_secrets_that_use_it_and_nothing_else() {
    let bao = support::openbao::OpenBao::start();
    let token = bao.pullsync_token("1h");
    bao.kv2_put("registries/ngc", json!({"api_key": "nvapi-1"}));
    let server = ControlPlane::start();
    server.create_namespace("team-a", &[("gpu", "true")]);
    let work = tempfile::tempdir().unwrap();
    let creds = work.path().join("creds");
    write(&creds, "hf.json", json!({"token": "hf"}).to_string());
    let repo = work.path().join("repo");
    write(
        &repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: ngc}}\nspec:\n  vault: {{kv: {{mount: secret, path: registries/ngc}}}}\n  usernamePreset: ngc\n  fields: {{password: api_key}}\n  rotation: {{refreshInterval: 1s}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: ngc-pull}}\nspec:\n  namespaces: [team-a]\n  registries: [{{server: nvcr.io, credential: ngc}}]\n---\n{HEADER}kind: Credential\nmetadata: {{name: hf}}\nspec:\n  file: {{path: {}}}\n---\n{HEADER}kind: Secret\nmetadata: {{name: hf-credentials}}\nspec:\n  namespaces: [team-a]\n  data: {{token: {{credential: hf}}}}\n",
            creds.join("hf.json").display()
        ),
    );
    let daemon = Daemon::start(
        &server.kubeconfig(),
        &repo,
        &[
            "--vault-addr",
            &bao.addr,
            "--vault-auth",
            "token",
            "--vault-token-file",
            token.to_str().unwrap(),
        ],
    );
    eventually("synced", || {
        password(&server, "team-a", "ngc-pull").as_deref() == Some("nvapi-1")
            && server.get("secrets", "team-a", "hf-credentials").is_some()
    });
    let hf_before =
        server.get("secrets", "team-a", "hf-credentials").unwrap()["metadata"]["resourceVersion"].clone();
    server.clear_log();
    bao.kv2_put("registries/ngc", json!({"api_key": "nvapi-2"}));
    eventually("rotated", || {
        password(&server, "team-a", "ngc-pull").as_deref() == Some("nvapi-2")
    });
    daemon.wait_syncs(2);
    let writes: Vec<String> = server
        .log()
        .iter()
        .filter(|l| l.is_write() && l.path.contains("/secrets"))
        .map(|l| format!("{} {}", l.method, l.path))
        .collect();
    assert_eq!(
        writes,
        vec!["PATCH /api/v1/namespaces/team-a/secrets/ngc-pull"],
        "only the rotated secret is written"
    );
    assert_eq!(
        server.get("secrets", "team-a", "hf-credentials").unwrap()["metadata"]["resourceVersion"],
        hf_before
    );
    let reads = bao.reads_of("secret/data/registries/ngc");
    assert!(reads >= 2, "refreshed on its interval: {reads}");
}

#[test]
fn a_git_remote_push_and_a_webhook() {
    use support::git_http::GitServer;
    let (git, work) = GitServer::start();
    let server = ControlPlane::start();
    server.create_namespace("team-a", &[("gpu", "true")]);
    let outside = tempfile::tempdir().unwrap();
    let c1 = push_specs(&work, outside.path(), "first");
    let secret_file = write(outside.path(), "hook-secret", "hook-s3cret");
    let cache = outside.path().join("cache");
    let revision_of = |server: &ControlPlane| -> Option<String> {
        server.get("secrets", "team-a", "ngc-pull").and_then(|s| {
            s["metadata"]["annotations"]["pullsync.dev/revision"]
                .as_str()
                .map(String::from)
        })
    };
    let git_args = |poll: &'static str| {
        vec![
            "--git-url".to_string(),
            git.url.clone(),
            "--git-path".into(),
            "specs".into(),
            "--git-cache".into(),
            cache.display().to_string(),
            "--webhook-secret-file".into(),
            secret_file.display().to_string(),
            "--poll-interval".into(),
            poll.into(),
        ]
    };
    {
        let args = git_args("300ms");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _daemon = Daemon::start_with(&server.kubeconfig(), Path::new("."), &args);
        eventually("applied from the remote", || {
            revision_of(&server).as_deref() == Some(c1.as_str())
        });
        // A push: picked up by polling.
        let text = std::fs::read_to_string(work.join("specs/specs.yaml")).unwrap();
        std::fs::write(
            work.join("specs/specs.yaml"),
            text.replace("registries:", "labels: {release: two}\n  registries:"),
        )
        .unwrap();
        let c2 = GitServer::commit_and_push(&work, "second");
        eventually("the pushed commit is applied", || {
            revision_of(&server).as_deref() == Some(c2.as_str())
        });
        assert_eq!(
            server.get("secrets", "team-a", "ngc-pull").unwrap()["metadata"]["labels"]["release"],
            "two"
        );
    }
    // Restarted with a slow poll and a damaged cache: it is rebuilt, and a webhook fetches at once.
    std::fs::remove_dir_all(cache.join(".git/objects")).unwrap();
    let args = git_args("1h");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let daemon = Daemon::start_with(&server.kubeconfig(), Path::new("."), &args);
    eventually("ready after restart", || daemon.get("/readyz").0 == 200);
    std::fs::write(
        work.join("specs/specs.yaml"),
        std::fs::read_to_string(work.join("specs/specs.yaml"))
            .unwrap()
            .replace("release: two", "release: three"),
    )
    .unwrap();
    let c3 = GitServer::commit_and_push(&work, "third");
    let body = br#"{"ref":"refs/heads/main"}"#;
    let post_as = |signature: &str, delivery: &str| {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", daemon.port)).unwrap();
        let _ = write!(
            stream,
            "POST /hooks/git HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nX-Hub-Signature-256: {signature}\r\nX-GitHub-Delivery: {delivery}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(body);
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .unwrap_or(0)
    };
    // A fresh delivery id per call, as a Git host sends; replays reuse one.
    let deliveries = std::cell::Cell::new(0u32);
    let post = |signature: &str| {
        deliveries.set(deliveries.get() + 1);
        post_as(signature, &format!("delivery-{}", deliveries.get()))
    };
    // The handler answers 401 before it can signal a fetch, so the refusal is the proof that
    // nothing was triggered; the revision check below only guards against a poll racing ahead.
    assert_eq!(post("sha256=0000"), 401, "a bad signature is refused");
    assert_ne!(
        revision_of(&server).as_deref(),
        Some(c3.as_str()),
        "nothing happened on a bad signature"
    );
    // Signed as GitHub signs it, with ring rather than the daemon's own code.
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"hook-s3cret");
    let mac: String = ring::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(post_as(&format!("sha256={mac}"), "push-c3"), 202);
    eventually("the webhook push is applied without waiting for the poll", || {
        revision_of(&server).as_deref() == Some(c3.as_str())
    });
    assert_eq!(
        post_as(&format!("sha256={mac}"), "push-c3"),
        200,
        "a replayed delivery is acknowledged and not fetched again"
    );

    // History rewritten and force-pushed: followed too.
    let out = Command::new("git")
        .args(["reset", "-q", "--hard", &c1])
        .current_dir(&work)
        .output()
        .unwrap();
    assert!(out.status.success());
    let c4 = GitServer::commit_and_push(&work, "rewritten");
    assert_eq!(post(&format!("sha256={mac}")), 202);
    eventually("the force-pushed commit is applied", || {
        revision_of(&server).as_deref() == Some(c4.as_str())
    });
    let out = Command::new(support::bin())
        .args([
            "wait",
            "--revision",
            &c4,
            "--status-url",
            &daemon.url(),
            "--timeout",
            "10s",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigkill_during_a_large_apply_converges_without_reissuing_a_dynamic_credential() {
    let pg = support::postgres::Postgres::start();
    let bao = support::openbao::OpenBao::start();
    let token = bao.pullsync_token("1h");
    bao.database_role(&pg, "10m", "1h");
    let server = ControlPlane::start();
    server.create_namespace("pullsync-system", &[]);
    for i in 0..300 {
        server.create_namespace(&format!("team-{i}"), &[("gpu", "true")]);
    }
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    write(
        &repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: db}}\nspec:\n  vault: {{dynamic: {{path: database/creds/registry-reader, revokeOld: true}}}}\n---\n{HEADER}kind: Secret\nmetadata: {{name: db-creds}}\nspec:\n  namespaceSelector: {{matchLabels: {{gpu: \"true\"}}}}\n  data: {{username: {{credential: db}}, password: {{credential: db}}}}\n"
        ),
    );
    let vault = [
        "--vault-addr",
        bao.addr.as_str(),
        "--vault-auth",
        "token",
        "--vault-token-file",
        token.to_str().unwrap(),
        "--qps",
        "1000",
        "--burst",
        "1000",
    ];
    // Writes held to 60/s by pullsync's own rate limit, so the kill lands mid-apply (5 s).
    let mut slow = vault.to_vec();
    slow.extend(["--qps", "60", "--burst", "5"]);
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &slow);
    eventually("the apply is under way", || {
        server
            .list("secrets")
            .iter()
            .filter(|s| s["metadata"]["name"] == "db-creds")
            .count()
            >= 20
    });
    let status = Command::new("kill")
        .args(["-KILL", &daemon.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let written = server
        .list("secrets")
        .iter()
        .filter(|s| s["metadata"]["name"] == "db-creds")
        .count();
    assert!(written < 300, "killed mid-apply: {written} of 300 written");
    drop(daemon);

    let _restarted = Daemon::start(&server.kubeconfig(), &repo, &vault);
    eventually("converged after the restart", || {
        server
            .list("secrets")
            .iter()
            .filter(|s| s["metadata"]["name"] == "db-creds")
            .count()
            == 300
    });
    let secrets: Vec<Value> = server
        .list("secrets")
        .into_iter()
        .filter(|s| s["metadata"]["name"] == "db-creds")
        .collect();
    let users: std::collections::BTreeSet<String> = secrets
        .iter()
        .map(|s| {
            String::from_utf8(STANDARD.decode(s["data"]["username"].as_str().unwrap()).unwrap()).unwrap()
        })
        .collect();
    assert_eq!(users.len(), 1, "every namespace holds the same credential");
    assert!(
        secrets
            .iter()
            .all(|s| s["metadata"]["labels"]["pullsync.dev/instance"] == "default"),
        "no orphans: every secret is owned"
    );
    assert_eq!(
        bao.reads_of("database/creds/registry-reader"),
        1,
        "the still-valid credential was not issued a second time"
    );
}

#[test]
fn the_vault_token_is_renewed_before_it_expires_and_replaced_when_it_cannot_be() {
    let bao = support::openbao::OpenBao::start();
    bao.pullsync_token("1h");
    bao.kv2_put("registries/ngc", json!({"api_key": "nvapi-renew"}));
    // AppRole tokens of 6 s, renewable up to 10 s: renewed once, then a fresh login.
    bao.root("POST", "sys/auth/approle", Some(json!({"type": "approle"})));
    bao.root(
        "POST",
        "auth/approle/role/pullsync",
        Some(json!({"token_policies": ["pullsync"], "token_ttl": "6s", "token_max_ttl": "10s"})),
    );
    let role_id = bao.root("GET", "auth/approle/role/pullsync/role-id", None)["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret_id = bao.root("POST", "auth/approle/role/pullsync/secret-id", None)["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_string();
    let work = tempfile::tempdir().unwrap();
    let role_file = write(work.path(), "role-id", role_id);
    let secret_file = write(work.path(), "secret-id", secret_id);
    let server = ControlPlane::start();
    server.create_namespace("team-a", &[]);
    let repo = work.path().join("repo");
    write(
        &repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: ngc}}\nspec:\n  vault: {{kv: {{mount: secret, path: registries/ngc}}}}\n  usernamePreset: ngc\n  fields: {{password: api_key}}\n  rotation: {{refreshInterval: 1s}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: ngc-pull}}\nspec:\n  namespaces: [team-a]\n  registries: [{{server: nvcr.io, credential: ngc}}]\n"
        ),
    );
    let _daemon = Daemon::start(
        &server.kubeconfig(),
        &repo,
        &[
            "--vault-addr",
            &bao.addr,
            "--vault-auth",
            "approle",
            "--vault-role-id-file",
            role_file.to_str().unwrap(),
            "--vault-secret-id-file",
            secret_file.to_str().unwrap(),
        ],
    );
    eventually("synced", || {
        password(&server, "team-a", "ngc-pull").as_deref() == Some("nvapi-renew")
    });
    eventually("renewed, then logged in again at max TTL", || {
        bao.requests_to("auth/token/renew-self") >= 1 && bao.requests_to("auth/approle/login") >= 2
    });
    // Reads kept working throughout: every KV read was authorized.
    let denied = bao
        .audit()
        .iter()
        .filter(|e| {
            e["type"] == "response"
                && e["request"]["path"] == "secret/data/registries/ngc"
                && e["error"].as_str().is_some_and(|s| !s.is_empty())
        })
        .count();
    assert_eq!(denied, 0, "no read was refused for an expired token");
}

#[test]
fn an_invalid_commit_keeps_the_last_good_revision_running_from_its_own_snapshot() {
    use support::git_http::GitServer;
    let (git, work) = GitServer::start();
    let server = ControlPlane::start();
    server.create_namespace("team-a", &[("gpu", "true")]);
    let outside = tempfile::tempdir().unwrap();
    let good = push_specs(&work, outside.path(), "good");
    let cache = outside.path().join("cache");
    let args = [
        "--git-url",
        &git.url,
        "--git-path",
        "specs",
        "--git-cache",
        cache.to_str().unwrap(),
        "--poll-interval",
        "300ms",
    ];
    let daemon = Daemon::start_with(&server.kubeconfig(), Path::new("."), &args);
    eventually("applied", || {
        password(&server, "team-a", "ngc-pull").as_deref() == Some("p1")
    });
    // A broken commit, then more commits on top: each revision gets its own snapshot folder,
    // and folders no sync holds any more are removed.
    std::fs::write(work.join("specs/broken.yaml"), "kind: [unclosed\n").unwrap();
    let bad = GitServer::commit_and_push(&work, "broken");
    eventually("the broken revision is seen and rejected", || {
        let s = daemon.status();
        s["invalid"] == true && s["currentRevision"] == bad.as_str()
    });
    // The last good revision keeps running: its credential still rotates.
    write(
        &outside.path().join("creds"),
        "ngc.json",
        json!({"username": "u", "password": "p2"}).to_string(),
    );
    eventually(
        "the last good revision rotates while the newest is invalid",
        || password(&server, "team-a", "ngc-pull").as_deref() == Some("p2"),
    );
    let status = daemon.status();
    assert_eq!(status["lastGoodRevision"], good.as_str(), "{status}");
    assert_eq!(status["currentRevision"], bad.as_str(), "{status}");
    assert_eq!(
        daemon.get("/readyz").0,
        503,
        "not ready while the newest revision is invalid"
    );
    let snapshots = outside.path().join("cache.snapshots");
    let count = || std::fs::read_dir(&snapshots).map(|d| d.count()).unwrap_or(0);
    assert!(
        count() <= 2,
        "the good and the broken snapshot at most: {}",
        count()
    );
    // Fixed: applied, and the old snapshots are gone.
    std::fs::remove_file(work.join("specs/broken.yaml")).unwrap();
    let fixed = GitServer::commit_and_push(&work, "fixed");
    eventually("the fix is applied", || {
        let s = daemon.status();
        s["invalid"] == false && s["lastGoodRevision"] == fixed.as_str()
    });
    eventually("only the newest snapshot is kept", || count() == 1);
}

#[test]
fn an_edit_made_before_the_daemon_started_is_repaired() {
    let server = ControlPlane::start();
    server.create_namespace("team-a", &[("gpu", "true")]);
    let work = tempfile::tempdir().unwrap();
    let repo = setup(work.path(), "p1");
    {
        let _first = Daemon::start(&server.kubeconfig(), &repo, &[]);
        eventually("written by a first daemon", || {
            password(&server, "team-a", "ngc-pull").as_deref() == Some("p1")
        });
    }
    // Edited while no daemon runs (or before a new leader takes over): the resourceVersion the
    // next process sees is the edited one, so only the data can tell.
    server.update(
        "secrets",
        "team-a",
        "ngc-pull",
        |s| s["data"][".dockerconfigjson"] = json!(STANDARD.encode(r#"{"auths":{}}"#)),
        "kubectl-edit",
    );
    let _second = Daemon::start(&server.kubeconfig(), &repo, &[]);
    eventually("repaired by the next daemon", || {
        password(&server, "team-a", "ngc-pull").as_deref() == Some("p1")
    });
}

#[test]
fn a_local_folder_is_watched_not_only_polled() {
    let server = ControlPlane::start();
    server.create_namespace("team-a", &[("gpu", "true")]);
    let work = tempfile::tempdir().unwrap();
    // git-sync's layout: `current` is a link to one checkout, swapped for the next.
    let first = setup(&work.path().join("rev1"), "p1");
    let link = work.path().join("current");
    std::os::unix::fs::symlink(&first, &link).unwrap();
    // An hour between polls and between resyncs: only the watcher can notice changes within
    // the test (once the syncs our own first writes trigger through the cluster watch are over).
    let _daemon = Daemon::start_with(
        &server.kubeconfig(),
        &link,
        &["--poll-interval", "1h", "--resync-interval", "1h"],
    );
    eventually("the first revision", || {
        password(&server, "team-a", "ngc-pull").as_deref() == Some("p1")
    });
    std::thread::sleep(Duration::from_millis(1500));
    // An edit inside the checkout (a label on the PullSecret).
    let specs = first.join("specs.yaml");
    let text = std::fs::read_to_string(&specs).unwrap();
    std::fs::write(
        &specs,
        text.replace("registries:", "labels: {edited: \"yes\"}\n  registries:"),
    )
    .unwrap();
    eventually("the edit, seen by the watcher", || {
        server.get("secrets", "team-a", "ngc-pull").unwrap()["metadata"]["labels"]["edited"] == "yes"
    });
    // The link swapped to a new checkout, atomically (rename over it), as git-sync does.
    let second = setup(&work.path().join("rev2"), "p2");
    let tmp = work.path().join("current.tmp");
    std::os::unix::fs::symlink(&second, &tmp).unwrap();
    std::fs::rename(&tmp, &link).unwrap();
    eventually("the swapped checkout", || {
        password(&server, "team-a", "ngc-pull").as_deref() == Some("p2")
    });
    // And an edit in the new checkout is seen too (the watch moved with the link).
    let specs = second.join("specs.yaml");
    let text = std::fs::read_to_string(&specs).unwrap();
    std::fs::write(
        &specs,
        text.replace("registries:", "labels: {again: \"yes\"}\n  registries:"),
    )
    .unwrap();
    eventually("an edit in the new checkout", || {
        server.get("secrets", "team-a", "ngc-pull").unwrap()["metadata"]["labels"]["again"] == "yes"
    });
}

/// A list of every managed Secret or namespace (not a watch, not one object).
fn is_list(l: &support::controlplane::Logged) -> bool {
    l.method == "GET"
        && !l.query.contains("watch=")
        && (l.path.ends_with("/secrets") || l.path == "/api/v1/namespaces")
}

#[test]
fn resyncs_read_the_watched_copy_and_still_repair_drift() {
    let server = ControlPlane::start();
    for i in 0..30 {
        server.create_namespace(&format!("team-{i}"), &[("gpu", "true")]);
    }
    let work = tempfile::tempdir().unwrap();
    let repo = setup(work.path(), "p1");
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &[]);
    eventually("the first sync", || {
        (0..30).all(|i| password(&server, &format!("team-{i}"), "ngc-pull").as_deref() == Some("p1"))
    });
    daemon.wait_syncs(2);
    server.clear_log();
    // --resync-interval 1s: six resyncs, none of which lists or writes.
    daemon.wait_syncs(6);
    let log = server.log();
    let lists = log.iter().filter(|l| is_list(l)).count();
    let writes = log.iter().filter(|l| l.is_write()).count();
    assert_eq!(lists, 0, "resyncs list nothing: {lists} lists");
    assert_eq!(writes, 0, "and write nothing: {writes} writes");

    // Drift is still seen through the watch: a hand edit and a deletion are repaired, and
    // the repair does not start a loop of rewrites against a copy that lags behind.
    server.update(
        "secrets",
        "team-3",
        "ngc-pull",
        |s| s["data"][".dockerconfigjson"] = json!(STANDARD.encode(r#"{"auths":{}}"#)),
        "kubectl-edit",
    );
    server.delete("secrets", "team-7", "ngc-pull");
    eventually("repaired", || {
        password(&server, "team-3", "ngc-pull").as_deref() == Some("p1")
            && password(&server, "team-7", "ngc-pull").as_deref() == Some("p1")
    });
    daemon.wait_syncs(2);
    server.clear_log();
    daemon.wait_syncs(4);
    let log = server.log();
    let writes: Vec<String> = log
        .iter()
        .filter(|l| l.is_write())
        .map(|l| format!("{} {}", l.method, l.path))
        .collect();
    assert!(writes.is_empty(), "quiet after the repair: {writes:?}");
    assert_eq!(log.iter().filter(|l| is_list(l)).count(), 0);
}

#[test]
fn a_label_dropped_from_the_specs_leaves_the_secrets_the_daemon_created() {
    let server = ControlPlane::start();
    server.create_namespace("team-a", &[("gpu", "true")]);
    let work = tempfile::tempdir().unwrap();
    let repo = setup(work.path(), "p1");
    let specs = repo.join("specs.yaml");
    let plain = std::fs::read_to_string(&specs).unwrap();
    std::fs::write(
        &specs,
        plain.replace("registries:", "labels: {tier: gold}\n  registries:"),
    )
    .unwrap();
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &[]);
    eventually("created with the label", || {
        server
            .get("secrets", "team-a", "ngc-pull")
            .is_some_and(|s| s["metadata"]["labels"]["tier"] == "gold")
    });
    daemon.wait_syncs(2);
    // The daemon reads ownership from its watch-fed copy: the create's keys must be there.
    std::fs::write(&specs, plain).unwrap();
    eventually("the label is gone", || {
        server
            .get("secrets", "team-a", "ngc-pull")
            .is_some_and(|s| s["metadata"]["labels"].get("tier").is_none())
    });
    daemon.wait_syncs(2);
    server.clear_log();
    daemon.wait_syncs(3);
    let writes = server.log().iter().filter(|l| l.is_write()).count();
    assert_eq!(writes, 0, "settled: no write loop after the removal");
}

/// A real API server sends a quiet watch nothing for a minute or more (its bookmarks are about
/// one a minute): a client read timeout shorter than that broke every quiet watch, marked the
/// copy failing and made each resync list again. Counted over 40 resyncs (about 40 s).
#[test]
fn a_quiet_watch_outlives_the_clients_read_timeout() {
    let server = ControlPlane::start();
    server.create_namespace("team-a", &[("gpu", "true")]);
    let work = tempfile::tempdir().unwrap();
    let repo = setup(work.path(), "p1");
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &[]);
    eventually("the first sync", || {
        password(&server, "team-a", "ngc-pull").as_deref() == Some("p1")
    });
    let log_file = std::env::temp_dir().join(format!("pullsync-daemon-{}.log", daemon.port));
    let daemon_log = || std::fs::read_to_string(&log_file).unwrap_or_default();
    let syncs = || daemon_log().matches("sync phases").count();
    // The first sync's own reads are done once a resync has run after it.
    let first = syncs();
    support::eventually("a resync", || syncs() > first);
    server.clear_log();
    let before = syncs();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while syncs() < before + 40 {
        assert!(std::time::Instant::now() < deadline, "resyncs stopped");
        std::thread::sleep(Duration::from_millis(250));
    }
    let log = server.log();
    let lists: Vec<String> = log
        .iter()
        .filter(|l| l.is_list())
        .map(|l| format!("{} {}", l.path, l.completed))
        .collect();
    assert!(
        !daemon_log().contains("watch failed"),
        "no quiet watch failed:\n{}",
        daemon_log()
            .lines()
            .filter(|l| l.contains("watch failed"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(
        lists,
        Vec::<String>::new(),
        "40 resyncs read the watched copy, no list"
    );
    assert_eq!(
        log.iter().filter(|l| l.is_write()).count(),
        0,
        "and wrote nothing"
    );
}
