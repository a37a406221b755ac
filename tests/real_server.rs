//! What only a real control plane can pose: the API server restarted under a running daemon
//! while etcd compacts its history away, so every watch resumes from a version that no longer
//! exists (410 Expired → relist) — the daemon must converge, write each Secret once, and keep
//! following changes afterwards; and the API server's 1 MiB limit on a Secret's data.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use support::controlplane::{ControlPlane, Options};
use support::daemon::Daemon;
use support::{HEADER, eventually, write};

fn password(server: &ControlPlane, ns: &str) -> Option<String> {
    support::nvcr_password(&server.get("secrets", ns, "ngc-pull")?)
}

#[test]
fn a_restarted_api_server_with_compacted_history_converges_with_one_write_per_secret() {
    // Watches served from etcd, so a resume from before the compaction is refused by etcd
    // itself rather than answered from a fresh watch cache.
    let server = ControlPlane::start_with(Options {
        watch_cache: false,
        ..Options::default()
    });
    let namespaces: Vec<String> = (0..10).map(|i| format!("team-{i}")).collect();
    for ns in &namespaces {
        server.create_namespace(ns, &[("gpu", "true")]);
    }
    let work = tempfile::tempdir().unwrap();
    let creds = work.path().join("creds");
    let secret_file = write(
        &creds,
        "ngc.json",
        json!({"username": "u", "password": "p1"}).to_string(),
    );
    let repo = work.path().join("repo");
    write(
        &repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: ngc}}\nspec:\n  file: {{path: {}}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: ngc-pull}}\nspec:\n  namespaceSelector: {{matchLabels: {{gpu: \"true\"}}}}\n  registries: [{{server: nvcr.io, credential: ngc}}]\n",
            secret_file.display()
        ),
    );
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &[]);
    eventually("the first sync", || {
        namespaces
            .iter()
            .all(|ns| password(&server, ns).as_deref() == Some("p1"))
    });

    server.clear_log();
    server.stop_apiserver();
    // While it is down: the credential changes, and history moves on and is compacted.
    write(
        &creds,
        "ngc.json",
        json!({"username": "u", "password": "p2"}).to_string(),
    );
    server.compact_etcd();
    server.start_apiserver();
    // Something changed in the cluster while the watches were away: a namespace appeared.
    server.create_namespace("team-new", &[("gpu", "true")]);
    eventually("converged after the restart", || {
        namespaces
            .iter()
            .chain(std::iter::once(&"team-new".to_string()))
            .all(|ns| password(&server, ns).as_deref() == Some("p2"))
    });
    // A hand deletion afterwards is seen: the watches were re-established.
    server.delete("secrets", "team-3", "ngc-pull");
    eventually("repaired after the restart", || {
        password(&server, "team-3").as_deref() == Some("p2")
    });

    let log = server.log();
    let mut writes = std::collections::BTreeMap::<String, usize>::new();
    for l in log
        .iter()
        .filter(|l| l.is_write() && l.resource == "secrets" && l.status < 300)
    {
        *writes.entry(format!("{}/{}", l.namespace, l.name)).or_default() += 1;
    }
    for ns in &namespaces {
        let expected = if ns == "team-3" { 2 } else { 1 };
        assert_eq!(
            writes.get(&format!("{ns}/ngc-pull")).copied().unwrap_or(0),
            expected,
            "{ns}: one write for the new value (team-3: and one to recreate it): {writes:?}"
        );
    }
    assert_eq!(writes.get("team-new/ngc-pull"), Some(&1), "{writes:?}");
    drop(daemon);
}

#[test]
fn a_secret_over_the_servers_1_mib_limit_is_a_clear_error_and_the_old_one_stays() {
    let server = ControlPlane::start();
    server.create_namespace("ml-team", &[]);
    let work = tempfile::tempdir().unwrap();
    let creds = work.path().join("creds");
    let token = |name: &str, value: &str| write(&creds, name, json!({ name: value }).to_string());
    let (a, b) = (token("a", "small-a"), token("b", "small-b"));
    let repo = work.path().join("repo");
    write(
        &repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: a}}\nspec:\n  file: {{path: {}}}\n---\n{HEADER}kind: Credential\nmetadata: {{name: b}}\nspec:\n  file: {{path: {}}}\n---\n{HEADER}kind: Secret\nmetadata: {{name: big}}\nspec:\n  namespaces: [ml-team]\n  data: {{a: {{credential: a}}, b: {{credential: b}}}}\n",
            a.display(),
            b.display()
        ),
    );
    let run = support::sync_once(
        &repo,
        &server.kubeconfig(),
        &["--file-source-root", creds.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    // Each file is under pullsync's own 1 MiB cap; together they are over the server's.
    let canary = "CANARY-".repeat(100_000);
    token("a", &canary);
    token("b", &canary);
    let run = support::sync_once(
        &repo,
        &server.kubeconfig(),
        &["--file-source-root", creds.to_str().unwrap()],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stdout.contains("failed Secret ml-team/big") && run.all().contains("Too long"),
        "the server's reason reaches the user: {}",
        &run.all()[..run.all().len().min(2000)]
    );
    assert!(!run.all().contains("CANARY-CANARY"), "no value in the output");
    let kept = server.get("secrets", "ml-team", "big").unwrap();
    assert_eq!(
        kept["data"]["a"],
        STANDARD.encode("small-a"),
        "the working Secret is kept"
    );
}
