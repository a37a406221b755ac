//! Operating pullsync as an operator does, against a real kube-apiserver: the dashboard and the
//! alert rules name only metrics a running daemon exports (and the histograms they chart have
//! samples after a sync), `pullsync status` prints what `/status` says as a table that fits
//! 100 columns (and the JSON itself), it reaches the API server's service proxy with a
//! kubeconfig, and a long first sync says how far it is.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::controlplane::ControlPlane;
use support::daemon::Daemon;
use support::{eventually, pullsync};

const CANARY: &str = "canary-operate-7f3e";

/// The metric names a `/metrics` text declares, with the sample names each type has
/// (`_total` for counters; `_bucket`, `_sum`, `_count` for histograms).
fn exported(metrics: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in metrics.lines() {
        let mut words = line.split_whitespace();
        if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
            (words.next(), words.next(), words.next(), words.next())
        {
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
        }
    }
    names
}

/// Every `pullsync_…` name in a PromQL expression.
fn named_in(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("pullsync_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

/// Every `expr` of the dashboard's panels, rows' panels included.
fn dashboard_queries(panels: &Value, out: &mut Vec<String>) {
    for panel in panels.as_array().into_iter().flatten() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            out.push(target["expr"].as_str().unwrap().to_string());
        }
        dashboard_queries(&panel["panels"], out);
    }
}

#[test]
fn the_dashboard_alerts_and_status_table_show_a_running_daemon() {
    let server = ControlPlane::start();
    server.create_namespace("pullsync-system", &[]);
    for ns in ["ml-team", "inference"] {
        server.create_namespace(ns, &[("gpu", "true")]);
    }
    let work = tempfile::tempdir().unwrap();
    let repo = support::gpu_pull_secret_repo(work.path(), CANARY);
    // A credential with an expiry (a TokenRequest token), so the expiry series exist too.
    server.create(
        "serviceaccounts",
        "ml-team",
        serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "puller"}}),
    );
    support::write(
        &repo,
        "internal.yaml",
        format!(
            "{}kind: Credential\nmetadata: {{name: internal}}\nspec:\n  serviceAccountToken: {{namespace: ml-team, serviceAccount: puller, expirationSeconds: 3600}}\n  usernamePreset: openshiftToken\n---\n{}kind: PullSecret\nmetadata: {{name: internal-registry}}\nspec:\n  namespaces: [ml-team]\n  registries: [{{server: \"image-registry.openshift-image-registry.svc:5000\", credential: internal}}]\n",
            support::HEADER,
            support::HEADER
        ),
    );
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &[]);
    eventually("the first sync is applied", || daemon.get("/readyz").0 == 200);

    let (code, metrics) = daemon.get("/metrics");
    assert_eq!(code, 200);
    assert!(!metrics.contains(CANARY), "no value in /metrics");
    let names = exported(&metrics);

    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string("deploy/helm/pullsync/files/dashboard.json").unwrap())
            .unwrap();
    let mut queries = Vec::new();
    dashboard_queries(&dashboard["panels"], &mut queries);
    assert!(queries.len() >= 15, "{} queries", queries.len());
    let rules: Value =
        serde_saphyr::from_str(&std::fs::read_to_string("deploy/helm/pullsync/files/alerts.yaml").unwrap())
            .unwrap();
    for rule in rules["groups"][0]["rules"].as_array().unwrap() {
        queries.push(rule["expr"].as_str().unwrap().to_string());
    }
    let mut charted = BTreeSet::new();
    for query in &queries {
        for name in named_in(query) {
            assert!(
                names.contains(&name),
                "`{name}` (in `{query}`) is not exported:\n{metrics}"
            );
            charted.insert(name);
        }
    }
    // The dashboard template variable reads this one too.
    assert!(names.contains("pullsync_leader"));
    assert!(charted.len() >= 15, "{charted:?}");

    // After one sync the histograms the dashboard charts have samples, labelled by kind.
    for sample in [
        "pullsync_sync_duration_seconds_count{result=\"success\"}",
        "pullsync_source_fetch_duration_seconds_count{source=\"file\"}",
        "pullsync_apply_duration_seconds_count{action=\"create\"}",
        "pullsync_kube_requests_total{method=\"POST\",code=\"201\"}",
        "pullsync_kube_request_duration_seconds_count{method=\"POST\"}",
        "pullsync_credential_renew_timestamp_seconds{credential=\"ngc\"}",
        "pullsync_credential_expiry_timestamp_seconds{credential=\"internal\"}",
        "pullsync_source_fetch_duration_seconds_count{source=\"serviceAccountToken\"}",
    ] {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(sample))
            .unwrap_or_else(|| panic!("{sample} in:\n{metrics}"));
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(value >= 1.0, "{line}");
    }
    let creates = metrics
        .lines()
        .find(|l| l.starts_with("pullsync_apply_duration_seconds_count{action=\"create\"}"))
        .unwrap();
    assert!(creates.ends_with(" 3"), "one create per Secret: {creates}");

    // `pullsync status`: the table, in /status' words, within 100 columns.
    let table = pullsync(&["status", "--status-url", &daemon.url()], None, None);
    assert_eq!(table.code, 0, "{}", table.all());
    assert!(!table.all().contains(CANARY));
    assert!(!table.stdout.contains('\x1b'), "no colour off a terminal");
    for line in table.stdout.lines() {
        assert!(line.chars().count() <= 100, "{line}");
    }
    let status = daemon.status();
    let revision: String = status["currentRevision"]
        .as_str()
        .unwrap()
        .chars()
        .take(12)
        .collect();
    for expected in [
        "pullsync ready   leader: yes",
        &format!("revision: {revision}"),
        "nothing refused",
    ] {
        assert!(
            table.stdout.contains(expected),
            "{expected:?} in:\n{}",
            table.stdout
        );
    }
    let row = |first: &str| -> Vec<String> {
        table
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(first))
            .unwrap_or_else(|| panic!("a row for {first}:\n{}", table.stdout))
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    let ngc = row("ngc");
    assert_eq!(ngc[1], "file");
    let internal = row("internal");
    assert_eq!(internal[1], "serviceAccountToken");
    assert!(
        internal[3].contains('m') && !internal[3].contains('h'),
        "a one-hour token expires within the hour: {internal:?}"
    );
    let version = status["credentials"]["ngc"]["version"].as_str().unwrap();
    assert!(
        version.starts_with(ngc[2].trim_end_matches('…')),
        "{ngc:?} shows {version}"
    );
    assert_eq!(row("ml-team")[1..], ["2", "0", "0", "0"]);
    assert_eq!(row("inference")[1..], ["1", "0", "0", "0"]);

    let json = pullsync(
        &["status", "--status-url", &daemon.url(), "--output", "json"],
        None,
        None,
    );
    assert_eq!(json.code, 0, "{}", json.all());
    let printed: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(printed["credentials"]["ngc"]["source"], "file");
    assert_eq!(printed["lastGoodRevision"], status["lastGoodRevision"]);

    // A daemon that cannot be reached: a clear error naming where it looked, exit 1.
    let down = pullsync(
        &["status", "--status-url", "http://127.0.0.1:9/status"],
        None,
        None,
    );
    assert_eq!(down.code, 1, "{}", down.all());
    assert!(
        down.stderr
            .contains("cannot read the daemon's status from http://127.0.0.1:9/status"),
        "{}",
        down.stderr
    );
}

/// `--kubeconfig` reads `/status` through the API server's service proxy: the real server
/// answers for the Service named. (The proxy refuses loopback endpoints, and servers here
/// listen on loopback only, so the answer is the server's own "no endpoints" — proof the path
/// and the authentication are the API server's, not a port-forward's.)
#[test]
fn status_through_the_api_server_proxy_names_the_service() {
    let server = ControlPlane::start();
    server.create_namespace("pullsync-system", &[]);
    server.create(
        "services",
        "pullsync-system",
        serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "pullsync"},
            "spec": {"ports": [{"name": "http", "port": 8080}]}
        }),
    );
    let admin = server.admin_kubeconfig();
    let run = pullsync(&["status", "--kubeconfig", admin.to_str().unwrap()], None, None);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("service pullsync-system/pullsync:http")
            && run.stderr.contains("no endpoints available for service")
            && run.stderr.contains("through the API server's proxy"),
        "{}",
        run.stderr
    );
    // pullsync's own account (the chart's RBAC) has no services/proxy: the API server says so.
    let kubeconfig = server.kubeconfig();
    let run = pullsync(
        &["status", "--kubeconfig", kubeconfig.to_str().unwrap()],
        None,
        None,
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("403") || run.stderr.contains("forbidden"),
        "{}",
        run.stderr
    );
    let bad = pullsync(
        &[
            "status",
            "--kubeconfig",
            admin.to_str().unwrap(),
            "--service",
            "pullsync",
        ],
        None,
        None,
    );
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("write NAMESPACE/NAME:PORT"), "{}", bad.stderr);
}

/// A first sync paced by the client's rate limit (as a 10,000-namespace one is) logs how far
/// it is at each interval: counts only, never a name or a value.
#[test]
fn a_long_first_sync_says_how_far_it_is() {
    let server = ControlPlane::start();
    server.create_namespace("pullsync-system", &[]);
    for i in 0..30 {
        server.create_namespace(&format!("team-{i}"), &[("gpu", "true")]);
    }
    let work = tempfile::tempdir().unwrap();
    let repo = support::gpu_pull_secret_repo(work.path(), CANARY);
    let creds = work.path().join("creds");
    let kubeconfig = server.kubeconfig();
    // 30 writes at 10 a second after a burst of 1: three seconds of applying at least.
    let run = support::sync_once(
        &repo,
        &kubeconfig,
        &[
            "--file-source-root",
            creds.to_str().unwrap(),
            "--qps",
            "10",
            "--burst",
            "1",
            "--progress-interval",
            "1s",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(!run.all().contains(CANARY));
    let lines: Vec<&str> = run.stderr.lines().filter(|l| l.contains("progress")).collect();
    assert!(lines.len() >= 2, "a line a second:\n{}", run.stderr);
    let done = |line: &str| -> u64 {
        let at = line.find("done=").unwrap() + 5;
        line[at..].split_whitespace().next().unwrap().parse().unwrap()
    };
    for line in &lines {
        assert!(
            line.contains("phase=applying") && line.contains("total=30"),
            "{line}"
        );
        assert!(done(line) < 30, "{line}");
    }
    assert!(done(lines[0]) <= done(lines[lines.len() - 1]), "{lines:?}");
    assert_eq!(
        server
            .list("secrets")
            .iter()
            .filter(|s| s["metadata"]["name"] == "ngc-pull")
            .count(),
        30
    );
}
