//! Faults a real API server cannot be made to produce on demand, against the home-made test
//! server in `tests/support/apiserver`: a share of writes answered 409/429/500, and a writer that
//! deterministically gets in between pullsync's read of a ServiceAccount and its patch. Every
//! other cluster test runs against the real kube-apiserver (`tests/cluster.rs` and others).

#[path = "support/apiserver/mod.rs"]
mod apiserver;
mod support;

use apiserver::{ApiServer, Faults};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use support::daemon::Daemon;
use support::eventually;
use support::{HEADER, Run, pullsync, write};

struct Setup {
    work: tempfile::TempDir,
    server: ApiServer,
}

impl Setup {
    fn new(namespaces: &[&str]) -> Setup {
        let server = ApiServer::start();
        for ns in namespaces {
            server.create_namespace(ns, &[]);
        }
        let setup = Setup {
            work: tempfile::tempdir().unwrap(),
            server,
        };
        for (name, password) in [("ngc", "nvapi-one"), ("hf", "hf_one")] {
            setup.credential(name, password);
        }
        setup
    }

    fn credential(&self, name: &str, password: &str) {
        write(
            &self.work.path().join("creds"),
            &format!("{name}.json"),
            json!({"username": "robot", "password": password, "token": password}).to_string(),
        );
    }

    fn specs(&self, body: &str) {
        let creds = self.work.path().join("creds");
        let credential = |name: &str| {
            format!(
                "{HEADER}kind: Credential\nmetadata: {{name: {name}}}\nspec:\n  file: {{path: {}}}\n---\n",
                creds.join(format!("{name}.json")).display()
            )
        };
        write(
            &self.work.path().join("repo"),
            "specs.yaml",
            format!("{}{}{body}", credential("ngc"), credential("hf")),
        );
    }

    fn run(&self, command: &str, extra: &[&str]) -> Run {
        let kubeconfig = self.server.kubeconfig();
        let repo = self.work.path().join("repo");
        let creds = self.work.path().join("creds");
        let mut args = vec![command];
        if command == "sync" {
            args.push("--once");
        }
        args.extend([
            "--repo",
            repo.to_str().unwrap(),
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--file-source-root",
            creds.to_str().unwrap(),
        ]);
        args.extend(extra);
        pullsync(&args, None, None)
    }

    fn sync(&self) -> Run {
        let run = self.run("sync", &[]);
        assert_eq!(run.code, 0, "{}", run.all());
        run
    }
}

fn pull_secret(name: &str, namespaces: &str, extra: &str) -> String {
    format!(
        "{HEADER}kind: PullSecret\nmetadata: {{name: {name}}}\nspec:\n  namespaces: {namespaces}\n  registries:\n    - {{server: nvcr.io, credential: ngc}}\n{extra}---\n"
    )
}

fn opaque(name: &str, namespaces: &str) -> String {
    format!(
        "{HEADER}kind: Secret\nmetadata: {{name: {name}}}\nspec:\n  namespaces: {namespaces}\n  data:\n    token: {{credential: hf}}\n---\n"
    )
}

fn secret_writes(server: &ApiServer) -> usize {
    server
        .log()
        .iter()
        .filter(|l| l.is_write() && l.path.contains("/secrets"))
        .count()
}

fn managed_count(server: &ApiServer) -> usize {
    server
        .list("secrets")
        .iter()
        .filter(|x| x["metadata"]["namespace"] != "pullsync-system")
        .count()
}

#[test]
fn service_account_merge_survives_a_concurrent_writer() {
    let s = Setup::new(&["ml-team"]);
    // OpenShift's own entry comes first and must stay first.
    s.server.create(
        "serviceaccounts",
        "ml-team",
        json!({"metadata": {"name": "default"}, "imagePullSecrets": [{"name": "default-dockercfg-abcde"}]}),
    );
    s.specs(&format!(
        "{}{}",
        pull_secret("ngc-pull", "[ml-team]", "  serviceAccounts: [default]\n"),
        pull_secret("extra-pull", "[ml-team]", "  serviceAccounts: [default]\n")
    ));

    // A writer that keeps adding and removing its own entries while pullsync syncs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let kubeconfig = s.server.kubeconfig();
        std::thread::spawn(move || {
            let mut i = 0;
            // At least one round, then until told to stop.
            loop {
                i += 1;
                let patch = json!([{"op": "add", "path": "/imagePullSecrets/-", "value": {"name": format!("writer-{i}")}}]);
                let _ = std::process::Command::new("kubectl")
                    .env("KUBECONFIG", &kubeconfig)
                    .args([
                        "patch",
                        "serviceaccount",
                        "default",
                        "-n",
                        "ml-team",
                        "--type=json",
                        "-p",
                        &patch.to_string(),
                    ])
                    .output();
                if i % 3 == 0 {
                    // Remove one of its own entries, found by reading first and guarded by a test.
                    let out = std::process::Command::new("kubectl")
                        .env("KUBECONFIG", &kubeconfig)
                        .args(["get", "serviceaccount", "default", "-n", "ml-team", "-o", "json"])
                        .output()
                        .unwrap();
                    let sa: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
                    let own = format!("writer-{}", i - 1);
                    if let Some(k) = sa["imagePullSecrets"]
                        .as_array()
                        .and_then(|l| l.iter().position(|e| e["name"] == own.as_str()))
                    {
                        let remove = json!([{"op": "test", "path": format!("/imagePullSecrets/{k}/name"), "value": own}, {"op": "remove", "path": format!("/imagePullSecrets/{k}")}]);
                        let _ = std::process::Command::new("kubectl")
                            .env("KUBECONFIG", &kubeconfig)
                            .args([
                                "patch",
                                "serviceaccount",
                                "default",
                                "-n",
                                "ml-team",
                                "--type=json",
                                "-p",
                                &remove.to_string(),
                            ])
                            .output();
                    }
                }
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
            }
        })
    };
    // And one that deterministically gets in between pullsync's read and its write, 3 times.
    s.server.set_faults(Faults {
        race_service_account: Some(("ml-team".into(), "default".into(), 3)),
        ..Faults::default()
    });
    for _ in 0..3 {
        s.sync();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    let names = |sa: &Value| -> Vec<String> {
        sa["imagePullSecrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    };
    s.sync();
    let sa = s.server.get("serviceaccounts", "ml-team", "default").unwrap();
    let list = names(&sa);
    assert_eq!(
        list[0], "default-dockercfg-abcde",
        "others' entries keep their place: {list:?}"
    );
    assert!(
        list.contains(&"ngc-pull".to_string()) && list.contains(&"extra-pull".to_string()),
        "{list:?}"
    );
    assert_eq!(
        list.iter().filter(|n| *n == "ngc-pull").count(),
        1,
        "no duplicates: {list:?}"
    );
    assert!(
        list.iter().any(|n| n.starts_with("writer-")),
        "the concurrent writer's entries survive: {list:?}"
    );
    let raced = s
        .server
        .log()
        .iter()
        .filter(|l| {
            l.path.ends_with("/serviceaccounts/default")
                && l.method == "PATCH"
                && l.query.contains("fieldManager=pullsync")
                && l.status == 422
        })
        .count();
    assert!(
        raced >= 3,
        "pullsync's guarded patches lost races and were redone: {raced}"
    );
    assert!(
        list.iter().filter(|n| n.starts_with("racer-")).count() == 3,
        "every racer's entry survives: {list:?}"
    );

    // Dropping one PullSecret removes only that entry; the writer's and OpenShift's stay.
    let others: Vec<String> = list.iter().filter(|n| !n.ends_with("-pull")).cloned().collect();
    s.specs(&pull_secret(
        "ngc-pull",
        "[ml-team]",
        "  serviceAccounts: [default]\n",
    ));
    let run = s.run("sync", &["--allow-mass-prune"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let after = names(&s.server.get("serviceaccounts", "ml-team", "default").unwrap());
    assert_eq!(
        after
            .iter()
            .filter(|n| !n.ends_with("-pull"))
            .cloned()
            .collect::<Vec<_>>(),
        others,
        "others untouched and in order"
    );
    assert!(
        after.contains(&"ngc-pull".to_string()) && !after.contains(&"extra-pull".to_string()),
        "{after:?}"
    );
}

#[test]
fn faults_on_a_fifth_of_writes_still_converge() {
    // Enough writes that every third injected fault cycles through all three codes.
    let s = Setup::new(&["a", "b", "c", "d", "e", "f", "g", "h"]);
    s.specs(&format!(
        "{}{}",
        pull_secret("p", "[a, b, c, d, e, f, g, h]", ""),
        opaque("o", "[a, b, c, d, e, f, g, h]")
    ));
    s.server.set_faults(Faults {
        write_failure_ratio: 0.2,
        codes: vec![409, 429, 500],
        retry_after: Some(0),
        ..Faults::default()
    });
    let run = s.sync();
    assert!(run.stdout.contains("16 created"), "{}", run.stdout);
    let log = s.server.log();
    let failed: Vec<u16> = log
        .iter()
        .filter(|l| l.is_write() && l.status >= 400)
        .map(|l| l.status)
        .collect();
    assert!(
        failed.contains(&409) && failed.contains(&429) && failed.contains(&500),
        "faults were injected: {failed:?}"
    );
    assert_eq!(managed_count(&s.server), 16);
    s.server.set_faults(Faults::default());
    s.server.clear_log();
    s.sync();
    assert_eq!(secret_writes(&s.server), 0, "converged: nothing left to do");

    // With every write failing, the sync reports failure honestly and changes nothing.
    s.credential("hf", "hf_three");
    s.server.set_faults(Faults {
        write_failure_ratio: 1.0,
        codes: vec![500],
        ..Faults::default()
    });
    let run = s.run("sync", &["--max-attempts", "2"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("8 failed"), "{}", run.stdout);
    assert!(
        run.stdout.contains("failed Secret a/o: 500 InternalError"),
        "{}",
        run.stdout
    );

    // 503 is one kube's own client would retry up to 15 times under ours: --max-attempts is
    // the whole budget, so each of the 8 Secret writes is tried exactly twice.
    s.credential("hf", "hf_four");
    s.server.set_faults(Faults {
        write_failure_ratio: 1.0,
        codes: vec![503],
        ..Faults::default()
    });
    s.server.clear_log();
    let run = s.run("sync", &["--max-attempts", "2"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let unavailable = s
        .server
        .log()
        .iter()
        .filter(|l| l.is_write() && l.status == 503 && l.path.contains("/secrets/"))
        .map(|l| format!("{} {}", l.method, l.path))
        .collect::<Vec<_>>();
    assert_eq!(
        unavailable.len(),
        16,
        "two attempts per write, no hidden retries: {unavailable:#?}"
    );
}

// --- The daemon under faults -----------------------------------------------------------------

fn password(server: &ApiServer, ns: &str, name: &str) -> Option<String> {
    support::nvcr_password(&server.get("secrets", ns, name)?)
}

fn setup(work: &Path, password: &str) -> PathBuf {
    support::gpu_pull_secret_repo(work, password)
}

#[test]
fn a_token_issued_shorter_than_renew_before_rotates_at_half_its_life_not_in_a_loop() {
    let server = ApiServer::start();
    server.create_namespace("private-ai-demo", &[]);
    server.create(
        "serviceaccounts",
        "private-ai-demo",
        json!({"metadata": {"name": "pipeline"}}),
    );
    // The OpenShift AI example asks one hour and renews 20 minutes before expiry; this cluster
    // caps tokens at 16 s (--service-account-max-token-expiration). Renewing "20m before
    // expiry" of a 16 s token was a TokenRequest and a Secret write every few milliseconds.
    server.set_max_token_seconds(16);
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    write(
        &repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: internal}}\nspec:\n  serviceAccountToken: {{namespace: private-ai-demo, serviceAccount: pipeline, expirationSeconds: 3600}}\n  usernamePreset: openshiftToken\n  rotation: {{renewBefore: 20m}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: internal-registry}}\nspec:\n  namespaces: [private-ai-demo]\n  registries: [{{server: \"image-registry.openshift-image-registry.svc:5000\", credential: internal}}]\n"
        ),
    );
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &[]);
    let token = || {
        let s = server.get("secrets", "private-ai-demo", "internal-registry")?;
        let config: Value =
            serde_json::from_slice(&STANDARD.decode(s["data"][".dockerconfigjson"].as_str()?).ok()?).ok()?;
        config["auths"]["image-registry.openshift-image-registry.svc:5000"]["password"]
            .as_str()
            .map(String::from)
    };
    eventually("the first token", || token().is_some());
    let first = token().unwrap();
    // Count over 20 s: a renewal every 8 s (half of 16 s) is 2-3 TokenRequests.
    server.clear_log();
    std::thread::sleep(Duration::from_secs(20));
    let log = server.log();
    let requests = log
        .iter()
        .filter(|l| l.path.ends_with("/serviceaccounts/pipeline/token"))
        .count();
    let writes = log
        .iter()
        .filter(|l| l.is_write() && l.path.ends_with("/secrets/internal-registry"))
        .count();
    assert!(
        (2..=4).contains(&requests),
        "a TokenRequest per half-lifetime, not per sync: {requests} in 20 s"
    );
    assert!(
        writes <= requests,
        "one Secret write per new token at most: {writes}"
    );
    assert_ne!(token().unwrap(), first, "rotated before the first token expired");
    let status = daemon.status();
    let credential = &status["credentials"]["internal"];
    assert!(credential["expiresAt"].is_string(), "{status}");
    assert!(
        credential["renewAdjusted"]
            .as_str()
            .unwrap_or_default()
            .contains("renewBefore 20m is not shorter than half the issued lifetime"),
        "the clamp is visible in /status: {status}"
    );
    assert!(
        log.iter().all(|l| l.user_agent.starts_with("pullsync/")),
        "every request says who sent it"
    );
}

#[test]
fn an_api_server_stalled_longer_than_the_lease_never_gives_two_writers() {
    let server = ApiServer::start();
    server.create_namespace("team-a", &[("gpu", "true")]);
    let work = tempfile::tempdir().unwrap();
    let repo = setup(work.path(), "p1");
    let election = |id: &'static str| {
        vec![
            "--leader-election",
            "--lease-duration",
            "3s",
            "--renew-deadline",
            "2s",
            "--retry-period",
            "500ms",
            "--identity",
            id,
        ]
    };
    let a = Daemon::start(&server.kubeconfig(), &repo, &election("replica-a"));
    let b = Daemon::start(&server.kubeconfig(), &repo, &election("replica-b"));
    eventually("the secret appears", || {
        password(&server, "team-a", "ngc-pull").as_deref() == Some("p1")
    });
    // Hand edits keep the leader wanting to write (drift is restored) throughout.
    let vandalise = || {
        server.update(
            "secrets",
            "team-a",
            "ngc-pull",
            |s| s["data"][".dockerconfigjson"] = json!(STANDARD.encode(r#"{"auths":{}}"#)),
            "kubectl-edit",
        );
    };
    // Every request takes 4 s, longer than the 3 s lease, for 8 s.
    server.set_faults(Faults {
        latency: Duration::from_secs(4),
        ..Faults::default()
    });
    for _ in 0..8 {
        vandalise();
        std::thread::sleep(Duration::from_secs(1));
    }
    server.set_faults(Faults::default());
    for _ in 0..4 {
        vandalise();
        std::thread::sleep(Duration::from_secs(1));
    }
    eventually("restored once the API server answers again", || {
        password(&server, "team-a", "ngc-pull").as_deref() == Some("p1")
    });
    let writes: Vec<_> = server
        .log()
        .into_iter()
        .filter(|l| l.is_write() && l.path.starts_with("/api/v1/namespaces/team-a/secrets"))
        .collect();
    assert!(!writes.is_empty());
    for w in &writes {
        assert!(
            w.user_agent.ends_with(&format!("({})", w.lease_holder)),
            "a Secret write from `{}` arrived while `{}` held the lease: {w:?}",
            w.user_agent,
            w.lease_holder
        );
    }
    let leaders = [a.status()["leader"] == true, b.status()["leader"] == true];
    assert!(leaders.iter().filter(|l| **l).count() <= 1, "{leaders:?}");
}

#[test]
fn failing_watches_are_retried_with_backoff_not_in_a_loop() {
    let server = ApiServer::start();
    server.create_namespace("team-a", &[("gpu", "true")]);
    let work = tempfile::tempdir().unwrap();
    let repo = setup(work.path(), "p1");
    server.set_faults(Faults {
        fail_watches: true,
        ..Faults::default()
    });
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &[]);
    eventually("synced without watches", || {
        password(&server, "team-a", "ngc-pull").as_deref() == Some("p1")
    });
    server.clear_log();
    std::thread::sleep(Duration::from_secs(10));
    let watches = server.log().iter().filter(|l| l.query.contains("watch=")).count();
    // kube-rs's default backoff: 0.8 s doubling, jittered: a handful per watch in 10 s.
    assert!(watches <= 20, "{watches} watch requests in 10 s");
    assert!(watches >= 2, "the watches keep trying: {watches}");
    let log =
        std::fs::read_to_string(std::env::temp_dir().join(format!("pullsync-daemon-{}.log", daemon.port)))
            .unwrap_or_default();
    assert!(
        log.contains("watch failed; retrying with backoff"),
        "errors are logged"
    );
    // With no watch to tell it, the periodic resync still sees a deletion: a broken watch
    // makes syncs list instead of trusting a copy that no longer changes.
    server.delete("secrets", "team-a", "ngc-pull");
    eventually("recreated by a resync", || {
        password(&server, "team-a", "ngc-pull").as_deref() == Some("p1")
    });
    let log =
        std::fs::read_to_string(std::env::temp_dir().join(format!("pullsync-daemon-{}.log", daemon.port)))
            .unwrap_or_default();
    assert!(
        !log.contains("did not catch up"),
        "no sync waited for a copy its broken watch cannot update"
    );
}
