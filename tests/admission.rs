//! The pod admission webhook against a real kube-apiserver: the daemon serves it over TLS, a
//! ValidatingWebhookConfiguration registers it (caBundle from the harness CA), and `kubectl
//! run` shows what a platform user sees — a `Warning:` for a namespace with no pull secret for
//! the registry, for a key with a path, for a pull secret the pod does not use; nothing for a
//! matching one or an anonymous registry; a refusal where the namespace asks for deny mode; and
//! pods still admitted, within the timeout, when the webhook is down (fail open).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::json;
use support::admission::{flags as admission_flags, free_listen, register};
use support::controlplane::ControlPlane;
use support::daemon::Daemon;
use support::{HEADER, eventually, write};

const CANARY: &str = "canary-admission-51c9";

/// `kubectl run NAME --image IMAGE -n NS` as the admin, with `overrides` merged into the pod.
fn run_pod(
    server: &ControlPlane,
    namespace: &str,
    name: &str,
    image: &str,
    overrides: Option<serde_json::Value>,
) -> (bool, String) {
    let admin = server.admin_kubeconfig();
    let mut command = Command::new("kubectl");
    command.args([
        "--kubeconfig",
        admin.to_str().unwrap(),
        "run",
        name,
        "-n",
        namespace,
        "--restart=Never",
        "--image",
        image,
    ]);
    if let Some(overrides) = overrides {
        command.args(["--overrides", &overrides.to_string()]);
    }
    let out = command.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn warnings(output: &str) -> Vec<&str> {
    output.lines().filter(|l| l.starts_with("Warning: ")).collect()
}

#[test]
fn kubectl_run_warns_before_image_pull_back_off_and_fails_open() {
    support::require("kubectl");
    let server = ControlPlane::start();
    server.create_namespace("pullsync-system", &[]);
    server.create_namespace("inference", &[]);
    server.create_namespace("ml-team", &[]);
    // No controller-manager runs: the ServiceAccount pullsync lists the secret on is made here.
    server.create(
        "serviceaccounts",
        "inference",
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
    );
    let work = tempfile::tempdir().unwrap();
    let creds = work.path().join("creds");
    write(
        &creds,
        "ngc.json",
        json!({"username": "$oauthtoken", "password": CANARY}).to_string(),
    );
    let repo = work.path().join("repo");
    write(
        &repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: ngc}}\nspec:\n  file: {{path: {}}}\n---\n\
             {HEADER}kind: PullSecret\nmetadata: {{name: ngc-pull}}\nspec:\n  namespaces: [inference]\n  serviceAccounts: [default]\n  registries: [{{server: nvcr.io, credential: ngc}}]\n",
            creds.join("ngc.json").display()
        ),
    );
    // A pull secret made by hand (not by pullsync), keyed with a path, as the seeds show.
    let auths = json!({"auths": {"registry.example.com/team-a": {"username": "robot", "password": CANARY}}});
    server.create(
        "secrets",
        "ml-team",
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "team-a-pull"},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(auths.to_string())}
        }),
    );
    let listen = free_listen();
    let flags = admission_flags(&server, &listen);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &flags);
    eventually("the first sync", || daemon.get("/readyz").0 == 200);

    register(&server, &[&listen]);

    // Matching (the ServiceAccount lists the secret): no warning. The API server starts calling
    // a new webhook within a moment; a warned pod in ml-team shows it does.
    let mut attempt = 0;
    eventually("the webhook is called", || {
        attempt += 1;
        let (ok, out) = run_pod(
            &server,
            "ml-team",
            &format!("probe-{attempt}"),
            "nvcr.io/nvidia/tritonserver:24.01-py3",
            None,
        );
        ok && !warnings(&out).is_empty()
    });
    let (ok, out) = run_pod(
        &server,
        "inference",
        "triton",
        "nvcr.io/nvidia/tritonserver:24.01-py3",
        None,
    );
    assert!(ok, "{out}");
    assert!(warnings(&out).is_empty(), "a covered image: {out}");

    // No pull secret for the registry in the namespace: where the PullSecret does go.
    let (ok, out) = run_pod(
        &server,
        "ml-team",
        "triton",
        "nvcr.io/nvidia/tritonserver:24.01-py3",
        None,
    );
    assert!(ok, "admitted in warn mode: {out}");
    assert_eq!(
        warnings(&out),
        [
            "Warning: pullsync: image nvcr.io/nvidia/tritonserver:24.01-py3: namespace ml-team has no pull secret for nvcr.io; PullSecret ngc-pull targets only inference"
        ],
        "{out}"
    );

    // A key with a path that does not cover the image.
    let uses = |secret: &str| json!({"spec": {"imagePullSecrets": [{"name": secret}]}});
    let (ok, out) = run_pod(
        &server,
        "ml-team",
        "app",
        "registry.example.com/team-b/app:1",
        Some(uses("team-a-pull")),
    );
    assert!(ok, "{out}");
    let w = warnings(&out);
    assert_eq!(w.len(), 1, "{out}");
    assert!(
        w[0] == "Warning: pullsync: image registry.example.com/team-b/app:1: pull secret ml-team/team-a-pull: key `registry.example.com/team-a` has a path, so it covers only registry.example.com/team-a/…; write `registry.example.com`",
        "{out}"
    );
    // The same image under the key's path: covered.
    let (ok, out) = run_pod(
        &server,
        "ml-team",
        "app2",
        "registry.example.com/team-a/app:1",
        Some(uses("team-a-pull")),
    );
    assert!(ok && warnings(&out).is_empty(), "{out}");

    // The namespace has the secret, the pod's ServiceAccount does not list it.
    let account = json!({"spec": {"serviceAccountName": "runner"}});
    let (ok, out) = run_pod(
        &server,
        "inference",
        "runner",
        "nvcr.io/nvidia/x:1",
        Some(account),
    );
    assert!(ok, "{out}");
    assert!(
        warnings(&out).iter().any(|w| w.contains(
            "pull secret ngc-pull in inference covers nvcr.io, but its ServiceAccount runner does not list it"
        )),
        "{out}"
    );
    // Anonymous by design: silent.
    let (ok, out) = run_pod(&server, "ml-team", "pause", "registry.k8s.io/pause:3.10", None);
    assert!(ok && warnings(&out).is_empty(), "{out}");

    // Deny mode, per namespace label: refused, with the same words.
    server.set_namespace_labels("ml-team", &[("pullsync.dev/admission", "deny")]);
    let mut n = 0;
    eventually("ml-team refuses", || {
        n += 1;
        let (ok, out) = run_pod(
            &server,
            "ml-team",
            &format!("denied-{n}"),
            "nvcr.io/nvidia/x:1",
            None,
        );
        !ok && out.contains("refused by pullsync (namespace label pullsync.dev/admission=deny)")
            && out.contains("namespace ml-team has no pull secret for nvcr.io")
    });
    let (ok, out) = run_pod(&server, "inference", "still-warned", "quay.io/org/app:1", None);
    assert!(ok, "other namespaces stay in warn mode: {out}");

    // Never a value, anywhere: not in warnings, not in the daemon's log or metrics.
    let (_, metrics) = daemon.get("/metrics");
    assert!(!metrics.contains(CANARY) && !daemon.log().contains(CANARY));
    for line in [
        "pullsync_admission_reviews_total{result=\"warned\"}",
        "pullsync_admission_reviews_total{result=\"allowed\"}",
        "pullsync_admission_reviews_total{result=\"denied\"}",
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }

    // The webhook down: pods are still admitted (failurePolicy Ignore), well within the timeout.
    drop(daemon);
    let started = Instant::now();
    let (ok, out) = run_pod(&server, "ml-team", "after", "nvcr.io/nvidia/x:1", None);
    let took = started.elapsed();
    assert!(ok, "fail open: {out}");
    assert!(warnings(&out).is_empty(), "{out}");
    assert!(took < Duration::from_secs(10), "admitted in {took:?}");
}

/// With leader election only the leader syncs; the follower resolves the same specs against
/// its watched copy (no fetch, no write) and answers too, so a Service in front of both
/// replicas never gives half the pods silence.
#[test]
fn a_follower_answers_as_the_leader_does() {
    support::require("kubectl");
    let server = ControlPlane::start();
    server.create_namespace("pullsync-system", &[]);
    server.create_namespace("inference", &[]);
    server.create_namespace("ml-team", &[]);
    let work = tempfile::tempdir().unwrap();
    let repo = support::gpu_pull_secret_repo(work.path(), CANARY);
    // gpu_pull_secret_repo targets gpu=true namespaces: inference only.
    server.set_namespace_labels("inference", &[("gpu", "true")]);
    let listens = [free_listen(), free_listen()];
    let replicas: Vec<Daemon> = listens
        .iter()
        .zip(["replica-a", "replica-b"])
        .map(|(listen, id)| {
            let mut flags = admission_flags(&server, listen);
            flags.extend(["--leader-election", "--lease-duration", "2s", "--identity", id].map(String::from));
            let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
            Daemon::start(&server.kubeconfig(), &repo, &flags)
        })
        .collect();
    eventually("one replica applied the specs", || {
        replicas.iter().any(|d| d.get("/readyz").0 == 200)
    });
    register(&server, &[&listens[0], &listens[1]]);
    // The API server (and kubectl) print a warning once however many webhooks send it, so
    // each replica's own count says that it answered, and answered with a warning.
    let warned = |d: &Daemon| {
        d.get("/metrics")
            .1
            .lines()
            .any(|l| l.starts_with("pullsync_admission_reviews_total{result=\"warned\"}"))
    };
    let mut n = 0;
    eventually("both replicas warn", || {
        n += 1;
        let (ok, out) = run_pod(&server, "ml-team", &format!("p-{n}"), "nvcr.io/nvidia/x:1", None);
        let expected = "Warning: pullsync: image nvcr.io/nvidia/x:1: namespace ml-team has no pull secret for nvcr.io; PullSecret ngc-pull targets only inference";
        ok && warnings(&out) == [expected] && replicas.iter().all(warned)
    });
    let leaders = replicas.iter().filter(|d| d.status()["leader"] == true).count();
    assert_eq!(leaders, 1, "one leader, one follower, both answered");
}
