//! Least privilege: the test API server authorizes pullsync's requests with the RBAC of
//! `deploy/` (every other test runs under the cluster-wide variant too). Here: a run that
//! exercises every feature needs every granted permission — none is surplus — and a
//! manifest missing one makes the matching action fail with the server's 403.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use support::controlplane::ControlPlane;
use support::daemon::Daemon;
use support::{HEADER, write};

use support::eventually;

/// Everything pullsync can do to a cluster: a TokenRequest credential, a PullSecret added to
/// a ServiceAccount, an Opaque Secret, and a Secret whose name someone else already uses.
fn specs(with_extra: bool) -> String {
    let release = if with_extra { "one" } else { "two" };
    let mut text = format!(
        "{HEADER}kind: Secret\nmetadata: {{name: env}}\nspec:\n  namespaces: [team-a]\n  data: {{RELEASE: {{value: {release}}}}}\n  rolloutRestart: [{{kind: Deployment, name: web}}, {{kind: StatefulSet, name: db}}, {{kind: DaemonSet, name: agent}}]\n---\n"
    );
    text.push_str(&format!(
        "{HEADER}kind: Credential\nmetadata: {{name: internal}}\nspec:\n  serviceAccountToken: {{namespace: team-a, serviceAccount: puller, expirationSeconds: 3600}}\n  usernamePreset: openshiftToken\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: internal-registry}}\nspec:\n  namespaces: [team-a]\n  registries: [{{server: \"image-registry.openshift-image-registry.svc:5000\", credential: internal}}]\n  serviceAccounts: [default]\n---\n{HEADER}kind: Secret\nmetadata: {{name: taken}}\nspec:\n  namespaces: [team-a]\n  data: {{x: {{value: \"1\"}}}}\n"
    ));
    if with_extra {
        text.push_str(&format!(
            "---\n{HEADER}kind: Secret\nmetadata: {{name: extra}}\nspec:\n  namespaces: [team-a]\n  data: {{x: {{value: \"1\"}}}}\n"
        ));
    }
    text
}

fn cluster() -> ControlPlane {
    let server = ControlPlane::start();
    server.create_namespace("team-a", &[]);
    for sa in ["default", "puller"] {
        server.create(
            "serviceaccounts",
            "team-a",
            json!({"metadata": {"name": sa, "namespace": "team-a"}}),
        );
    }
    for (resource, name) in [
        ("deployments", "web"),
        ("statefulsets", "db"),
        ("daemonsets", "agent"),
    ] {
        server.create(
            resource,
            "team-a",
            support::controlplane::workload(resource, name),
        );
    }
    // Someone else's Secret of the same name: pullsync reads its labels and leaves it alone.
    server.create(
        "secrets",
        "team-a",
        json!({"metadata": {"name": "taken", "namespace": "team-a"}, "type": "Opaque", "data": {"x": "eA=="}}),
    );
    server
}

fn forbidden(server: &ControlPlane) -> Vec<String> {
    server
        .log()
        .iter()
        .filter(|l| l.status == 403)
        .map(|l| format!("{} {}", l.method, l.path))
        .collect()
}

#[test]
fn every_granted_permission_is_needed_and_none_is_missing() {
    let server = cluster();
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    write(&repo, "specs.yaml", specs(true));
    let election = [
        "--leader-election",
        "--lease-duration",
        "2s",
        "--identity",
        "replica-a",
    ];
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &election);
    eventually("applied", || server.get("secrets", "team-a", "extra").is_some());
    eventually("the pull secret is on the ServiceAccount", || {
        server.get("serviceaccounts", "team-a", "default").unwrap()["imagePullSecrets"]
            .to_string()
            .contains("internal-registry")
    });
    // Edited by hand: put back (a patch). Removed from the specs: pruned (a delete).
    server.update(
        "secrets",
        "team-a",
        "extra",
        |s| s["data"]["x"] = json!("Mg=="),
        "kubectl-edit",
    );
    eventually("the edit is undone", || {
        server.get("secrets", "team-a", "extra").unwrap()["data"]["x"] == "MQ=="
    });
    write(&repo, "specs.yaml", specs(false));
    eventually("pruned", || server.get("secrets", "team-a", "extra").is_none());
    // The lease is renewed (an update) within its duration.
    std::thread::sleep(Duration::from_millis(1500));
    drop(daemon);
    assert_eq!(forbidden(&server), Vec::<String>::new(), "nothing was refused");
    assert_eq!(
        server.rbac_unused(),
        Vec::<String>::new(),
        "every permission in deploy/base/rbac.yaml was needed"
    );
}

#[test]
fn a_missing_permission_is_a_403_the_user_sees() {
    let server = cluster();
    let work = tempfile::tempdir().unwrap();
    // The cluster-wide RBAC without `delete` on Secrets.
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/base/rbac.yaml"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("- delete"))
            .collect::<Vec<_>>()
            .join("\n");
    let manifest = write(work.path(), "rbac.yaml", manifest);
    server.set_rbac(&[manifest.as_path()]);
    let repo = work.path().join("repo");
    write(&repo, "specs.yaml", specs(true));
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &[]);
    eventually("applied", || server.get("secrets", "team-a", "extra").is_some());
    write(&repo, "specs.yaml", specs(false));
    eventually("the prune is refused by RBAC and reported", || {
        daemon.status()["secrets"]["team-a/extra"] == "failed"
    });
    assert!(
        forbidden(&server)
            .iter()
            .any(|r| r == "DELETE /api/v1/namespaces/team-a/secrets/extra"),
        "{:?}",
        forbidden(&server)
    );
    assert!(server.get("secrets", "team-a", "extra").is_some());
}

#[test]
fn namespaced_rbac_reaches_the_listed_namespaces_only() {
    let server = cluster();
    server.create_namespace("team-b", &[]);
    server.create_namespace("team-c", &[]);
    server.set_rbac(&[Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/overlays/namespaced/rbac.yaml")
        .as_path()]);
    // A bootstrap credential in pullsync's own namespace (read with the Role there).
    server.create(
        "secrets",
        "pullsync-system",
        json!({"metadata": {"name": "registry-robot", "namespace": "pullsync-system"}, "type": "Opaque", "data": {"password": "cm9ib3Q="}}),
    );
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let more = format!(
        "---\n{HEADER}kind: Credential\nmetadata: {{name: robot}}\nspec:\n  kubernetesSecret: {{name: registry-robot}}\n  username: robot\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: robot-pull}}\nspec:\n  namespaces: [team-b, team-c]\n  registries: [{{server: registry.example.com, credential: robot}}]\n"
    );
    write(&repo, "specs.yaml", specs(true) + &more);
    let args = [
        "--namespaces",
        "team-a,team-b",
        "--leader-election",
        "--lease-duration",
        "2s",
        "--identity",
        "replica-a",
    ];
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &args);
    eventually("applied", || {
        server.get("secrets", "team-b", "robot-pull").is_some()
    });
    server.update(
        "secrets",
        "team-a",
        "extra",
        |s| s["data"]["x"] = json!("Mg=="),
        "kubectl-edit",
    );
    eventually("the edit is undone (a namespaced watch)", || {
        server.get("secrets", "team-a", "extra").unwrap()["data"]["x"] == "MQ=="
    });
    write(&repo, "specs.yaml", specs(false) + &more);
    eventually("pruned", || server.get("secrets", "team-a", "extra").is_none());
    std::thread::sleep(Duration::from_millis(1500));
    let status = daemon.status();
    drop(daemon);
    assert!(
        server.get("secrets", "team-c", "robot-pull").is_none(),
        "team-c is not listed"
    );
    assert!(
        status["diagnostics"].to_string().contains("team-c"),
        "the skipped namespace is reported: {status}"
    );
    assert_eq!(forbidden(&server), Vec::<String>::new(), "nothing was refused");
    assert_eq!(
        server.rbac_unused(),
        // Written only with dynamic Vault credentials (tests/vault.rs covers it under the
        // cluster-wide RBAC, where the same verb is granted cluster-wide).
        vec!["Role pullsync-self: patch secrets".to_string()],
        "every other permission of deploy/overlays/namespaced/rbac.yaml was needed"
    );
}
