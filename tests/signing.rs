//! Signed commits end to end: a real smart-HTTP Git remote, commits and tags signed with SSH
//! keys the test makes (`ssh-keygen`, `git commit -S` with `gpg.format=ssh`), the daemon with
//! `--verify-commits`, and the test API server for what reached the cluster.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::controlplane::ControlPlane;
use support::daemon::Daemon;
use support::git_http::GitServer;
use support::{HEADER, write};

use support::eventually;

/// A fresh Ed25519 key pair for signing (test-only, in a temporary folder).
fn keypair(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    (key, public.trim().to_string())
}

fn specs(work: &Path, label: &str) {
    write(
        work,
        "specs/specs.yaml",
        format!(
            "{HEADER}kind: Secret\nmetadata: {{name: endpoints}}\nspec:\n  namespaces: [team-a]\n  labels: {{release: {label}}}\n  data: {{endpoint: {{value: \"https://s3.example.com\"}}}}\n"
        ),
    );
}

fn release(server: &ControlPlane) -> Option<String> {
    server
        .get("secrets", "team-a", "endpoints")
        .and_then(|s| s["metadata"]["labels"]["release"].as_str().map(String::from))
}

fn metric(daemon: &Daemon, name: &str) -> Option<String> {
    let (_, text) = daemon.get("/metrics");
    text.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.split_whitespace().last().map(String::from))
}

#[test]
fn only_commits_signed_by_an_allowed_key_are_applied() {
    support::require("ssh-keygen");
    let (_git_server, work) = GitServer::start();
    let git = &_git_server;
    let keys = tempfile::tempdir().unwrap();
    let (platform_key, platform_pub) = keypair(keys.path(), "platform");
    let (foreign_key, _) = keypair(keys.path(), "foreign");
    let signers = write(
        keys.path(),
        "allowed_signers",
        format!("platform@example.com namespaces=\"git\" {platform_pub}\n"),
    );
    let server = ControlPlane::start();
    server.create_namespace("team-a", &[]);

    specs(&work, "one");
    let c1 = GitServer::commit_signed_and_push(&work, "signed by the platform", &platform_key);
    let cache = keys.path().join("cache");
    let args = [
        "--git-url",
        &git.url,
        "--git-path",
        "specs",
        "--git-cache",
        cache.to_str().unwrap(),
        "--poll-interval",
        "200ms",
        "--verify-commits",
        "head",
        "--allowed-signers",
        signers.to_str().unwrap(),
    ];
    let daemon = Daemon::start_with(&server.kubeconfig(), Path::new("."), &args);
    eventually("the signed commit is applied", || {
        release(&server).as_deref() == Some("one")
    });
    assert_eq!(
        metric(&daemon, "pullsync_commit_signature_rejected").as_deref(),
        Some("0")
    );

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
    // Unsigned, then signed by a key nobody allowed: neither applied, each said plainly.
    let refused = |id: &str, expected: &str| {
        eventually("the refusal shows in /status", || {
            let status = daemon.status();
            status["currentRevision"] == id
                && status["invalid"] == true
                && status["diagnostics"].to_string().contains(expected)
        });
        assert_eq!(
            metric(&daemon, "pullsync_commit_signature_rejected").as_deref(),
            Some("1")
        );
        let out = wait(id);
        assert_eq!(
            out.status.code(),
            Some(1),
            "wait refuses it: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(
            release(&server).as_deref(),
            Some("one"),
            "the last good commit stays"
        );
    };
    specs(&work, "two");
    let unsigned = GitServer::commit_and_push(&work, "unsigned");
    refused(&unsigned, "is not signed");
    specs(&work, "three");
    let foreign = GitServer::commit_signed_and_push(&work, "signed by someone else", &foreign_key);
    refused(&foreign, "is not an allowed signer");
    let events: Vec<String> = server
        .list("events")
        .iter()
        .filter(|e| e["type"] == "Warning")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(events.iter().any(|m| m.contains("is not signed")), "{events:?}");
    assert!(
        events.iter().any(|m| m.contains("not an allowed signer")),
        "{events:?}"
    );

    // Signed again by the platform: applied, and the refusal clears.
    specs(&work, "four");
    let c4 = GitServer::commit_signed_and_push(&work, "signed again", &platform_key);
    eventually("the next signed commit is applied", || {
        release(&server).as_deref() == Some("four")
    });
    assert_eq!(wait(&c4).status.code(), Some(0));
    assert_eq!(
        metric(&daemon, "pullsync_commit_signature_rejected").as_deref(),
        Some("0")
    );
    assert_ne!(c1, c4);
}

#[test]
fn a_signed_tag_is_required_when_asked() {
    support::require("ssh-keygen");
    let (git, work) = GitServer::start();
    let keys = tempfile::tempdir().unwrap();
    let (platform_key, platform_pub) = keypair(keys.path(), "platform");
    let signers = write(
        keys.path(),
        "allowed_signers",
        format!("platform@example.com {platform_pub}\n"),
    );
    let server = ControlPlane::start();
    server.create_namespace("team-a", &[]);
    specs(&work, "tagged");
    // The commit itself is unsigned; only the release tag is.
    GitServer::commit_and_push(&work, "release");
    GitServer::tag_and_push(&work, "v1", None);
    let cache = keys.path().join("cache");
    let args = [
        "--git-url",
        &git.url,
        "--git-ref",
        "refs/tags/v1",
        "--git-path",
        "specs",
        "--git-cache",
        cache.to_str().unwrap(),
        "--poll-interval",
        "200ms",
        "--verify-commits",
        "tag",
        "--allowed-signers",
        signers.to_str().unwrap(),
    ];
    let daemon = Daemon::start_with(&server.kubeconfig(), Path::new("."), &args);
    eventually("an unsigned tag is refused", || {
        daemon.status()["diagnostics"].to_string().contains("tag")
            && daemon.status()["diagnostics"]
                .to_string()
                .contains("is not signed")
    });
    assert_eq!(release(&server), None);
    GitServer::tag_and_push(&work, "v1", Some(&platform_key));
    eventually("the signed tag is applied", || {
        release(&server).as_deref() == Some("tagged")
    });
}

/// `ssh-keygen -t TYPE [-b BITS]` (test-only keys, in a temporary folder).
fn keypair_of(dir: &Path, name: &str, kind: &str, bits: Option<&str>) -> (PathBuf, String) {
    let key = dir.join(name);
    let mut command = Command::new("ssh-keygen");
    command.args(["-q", "-t", kind, "-N", "", "-C", name]);
    if let Some(bits) = bits {
        command.args(["-b", bits]);
    }
    assert!(command.arg("-f").arg(&key).status().unwrap().success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    (key, public.trim().to_string())
}

#[test]
fn ecdsa_and_rsa_keys_as_ssh_keygen_makes_them_verify_and_weak_ones_are_refused() {
    support::require("ssh-keygen");
    let dir = tempfile::tempdir().unwrap();
    let payload = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor a <a@example.com> 1700000000 +0000\n\nsigned\n";
    let message = write(dir.path(), "commit", payload);
    for (name, kind, bits) in [
        ("ed", "ed25519", None),
        ("ec", "ecdsa", None),
        ("rsa", "rsa", Some("3072")),
    ] {
        let (key, public) = keypair_of(dir.path(), name, kind, bits);
        // What git runs for `gpg.format=ssh`: `ssh-keygen -Y sign -n git`.
        let out = Command::new("ssh-keygen")
            .args(["-Y", "sign", "-n", "git", "-f"])
            .arg(&key)
            .arg(&message)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let signature = std::fs::read(message.with_extension("sig")).unwrap();
        std::fs::remove_file(message.with_extension("sig")).unwrap();
        let signers =
            pullsync::signing::AllowedSigners::parse(&format!("{name}@example.com {public}\n")).unwrap();
        assert_eq!(
            signers
                .verify("commit", "c1", &signature, payload, 1_700_000_000)
                .unwrap(),
            format!("{name}@example.com"),
            "{kind}"
        );
        // The same signature over other bytes does not verify.
        assert!(
            signers
                .verify("commit", "c1", &signature, b"tampered", 1_700_000_000)
                .is_err(),
            "{kind}"
        );
    }
    // A 1024-bit RSA key and an ECDSA P-384 key: refused when the file is read, saying why.
    let (_, weak) = keypair_of(dir.path(), "weak", "rsa", Some("1024"));
    let error = pullsync::signing::AllowedSigners::parse(&format!("weak@example.com {weak}\n")).unwrap_err();
    assert!(error.to_string().contains("1024 bits is too weak"), "{error}");
    let (_, p384) = keypair_of(dir.path(), "p384", "ecdsa", Some("384"));
    let error = pullsync::signing::AllowedSigners::parse(&format!("p384@example.com {p384}\n")).unwrap_err();
    assert!(error.to_string().contains("not supported"), "{error}");
}
