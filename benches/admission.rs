//! What the admission webhook adds to a pod create (numbers, not pass/fail): pod creates
//! paced at 100 a second against a real kube-apiserver, first with no webhook registered (the
//! plain loop), then with pullsync's webhook called on each, side by side: latency
//! percentiles as the client saw them, the rate reached, and the webhook's own answer time from
//! its `/metrics`. Half the pods get a warning (no pull secret for their registry), half none.
//! Run: `cargo bench --bench admission` (part of `scripts/bench.sh`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::controlplane::ControlPlane;
use support::daemon::Daemon;

const PODS: usize = 1000;
const RATE: f64 = 100.0;
const NAMESPACES: usize = 20;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// Create PODS pods at RATE per second (the next one starts on schedule, or at once when the
/// last one ran late); each create's latency, and the rate reached.
fn create_pods(server: &ControlPlane, prefix: &str) -> (Vec<Duration>, f64) {
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(PODS);
    for i in 0..PODS {
        let due = started + Duration::from_secs_f64(i as f64 / RATE);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait); // pacing the load, not waiting for a condition
        }
        let namespace = format!("team-{}", i % NAMESPACES);
        // Even namespaces have a pull secret for nvcr.io (no warning); odd ones do not.
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("{prefix}-{i}")},
            "spec": {"containers": [{"name": "c", "image": "nvcr.io/nvidia/tritonserver:24.01-py3"}]}
        });
        let t = Instant::now();
        server.create("pods", &namespace, pod);
        latencies.push(t.elapsed());
    }
    let rate = PODS as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    (latencies, rate)
}

fn main() {
    let server = ControlPlane::start();
    server.create_namespace("pullsync-system", &[]);
    for i in 0..NAMESPACES {
        let gpu = if i % 2 == 0 { "true" } else { "false" };
        server.create_namespace(&format!("team-{i}"), &[("gpu", gpu)]);
        server.create(
            "serviceaccounts",
            &format!("team-{i}"),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
        );
    }
    let work = tempfile::tempdir().unwrap();
    let repo = support::gpu_pull_secret_repo(work.path(), "bench-password");
    let specs = repo.join("specs.yaml");
    let text = std::fs::read_to_string(&specs).unwrap();
    std::fs::write(
        &specs,
        text.replace("registries:", "serviceAccounts: [default]\n  registries:"),
    )
    .unwrap();
    let listen = support::admission::free_listen();
    let mut flags = support::admission::flags(&server, &listen);
    flags.extend(["--log-level".to_string(), "warn".to_string()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &flags);
    support::eventually_within("the first sync", Duration::from_secs(60), || {
        daemon.get("/readyz").0 == 200
    });

    let (plain, plain_rate) = create_pods(&server, "plain");

    support::admission::register(&server, &[&listen]);
    let reviews = || -> (f64, f64) {
        let (_, metrics) = daemon.get("/metrics");
        let sum_of = |name: &str| -> f64 {
            metrics
                .lines()
                .filter(|l| l.starts_with(name))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        (
            sum_of("pullsync_admission_review_duration_seconds_count"),
            sum_of("pullsync_admission_review_duration_seconds_sum"),
        )
    };
    // The API server starts calling a new webhook within a moment: wait until it does.
    let mut n = 0;
    support::eventually_within("the webhook is called", Duration::from_secs(30), || {
        n += 1;
        server.create(
            "pods",
            "team-1",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("probe-{n}")},
                   "spec": {"containers": [{"name": "c", "image": "nvcr.io/nvidia/x:1"}]}}),
        );
        reviews().0 > 0.0
    });
    let before = reviews();
    let (hooked, hooked_rate) = create_pods(&server, "hooked");
    let after = reviews();
    let answered = after.0 - before.0;
    let answer_ms = (after.1 - before.1) / answered.max(1.0) * 1e3;

    println!(
        "{PODS} pod creates paced at {RATE:.0}/s against kube-apiserver, {NAMESPACES} namespaces, half of the pods warned"
    );
    println!("| | p50 ms | p90 ms | p99 ms | max ms | rate reached /s |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, l, rate) in [
        ("no webhook (plain loop)", &plain, plain_rate),
        ("pullsync webhook", &hooked, hooked_rate),
    ] {
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {rate:.0} |",
            percentile(l, 0.5),
            percentile(l, 0.9),
            percentile(l, 0.99),
            percentile(l, 1.0)
        );
    }
    println!(
        "added at p50: {:.1} ms; the webhook answered {answered:.0} reviews, {answer_ms:.3} ms each on average (its own handler time)",
        percentile(&hooked, 0.5) - percentile(&plain, 0.5)
    );
}
