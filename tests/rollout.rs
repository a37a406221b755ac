//! rolloutRestart: an Opaque Secret consumed as environment variables reaches running pods
//! only through a restart. The daemon restarts the named workloads exactly when the Secret's
//! data changed — not on its creation, not on a resync, not on a label change — with the
//! annotation `kubectl rollout restart` sets.

mod support;

use support::controlplane::ControlPlane;
use support::daemon::Daemon;
use support::{HEADER, write};

use support::eventually;

fn specs(credentials: &std::path::Path, label: &str) -> String {
    format!(
        "{HEADER}kind: Credential\nmetadata: {{name: hf}}\nspec:\n  file: {{path: {}, key: token}}\n  rotation: {{refreshInterval: 1s}}\n---\n{HEADER}kind: Secret\nmetadata: {{name: hf-token}}\nspec:\n  namespaces: [team-a]\n  labels: {{release: {label}}}\n  data: {{HF_TOKEN: {{credential: hf, field: token}}}}\n  rolloutRestart:\n    - {{kind: Deployment, name: inference}}\n    - {{kind: StatefulSet, name: gone}}\n",
        credentials.display()
    )
}

fn restarted_at(server: &ControlPlane) -> Option<String> {
    server.get("deployments", "team-a", "inference").and_then(|d| {
        d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .as_str()
            .map(String::from)
    })
}

fn restarts(server: &ControlPlane) -> usize {
    server
        .log()
        .iter()
        .filter(|l| l.method == "PATCH" && l.path.contains("/deployments/") && l.status < 300)
        .count()
}

#[test]
fn workloads_restart_only_when_the_data_changed() {
    let server = ControlPlane::start();
    server.create_namespace("team-a", &[]);
    server.create(
        "deployments",
        "team-a",
        support::controlplane::workload("deployments", "inference"),
    );
    let work = tempfile::tempdir().unwrap();
    let token = write(work.path(), "hf/token", "hf_first_test_value");
    let repo = work.path().join("repo");
    write(&repo, "specs.yaml", specs(&token, "one"));
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &[]);
    eventually("the Secret is created", || {
        server.get("secrets", "team-a", "hf-token").is_some()
    });
    // Created, then three resyncs (1 s each): nobody is restarted.
    daemon.wait_syncs(3);
    assert_eq!(restarts(&server), 0);
    assert_eq!(restarted_at(&server), None);

    // A label change writes the Secret but not its data: still no restart.
    write(&repo, "specs.yaml", specs(&token, "two"));
    eventually("the label is applied", || {
        server.get("secrets", "team-a", "hf-token").unwrap()["metadata"]["labels"]["release"] == "two"
    });
    daemon.wait_syncs(2);
    assert_eq!(restarts(&server), 0);

    // The token rotates: one restart, with kubectl's annotation; the missing StatefulSet is
    // reported, not a failure.
    write(work.path(), "hf/token", "hf_second_test_value");
    eventually("restarted", || restarted_at(&server).is_some());
    daemon.wait_syncs(3);
    assert_eq!(restarts(&server), 1, "one restart per data change");
    let status = daemon.status();
    assert_eq!(status["syncs"]["failed"], serde_json::Value::Null, "{status}");
    assert!(
        !server
            .log()
            .iter()
            .any(|l| l.path.contains("/deployments") && l.path.contains("team-b")),
        "only the Secret's own namespace"
    );
}
