//! What the image credential provider costs a pull (numbers, not pass/fail), against a real
//! kube-apiserver: 1,000 requests for one registry to the daemon's endpoint over one kept-alive
//! HTTPS connection (what a busy node's plugin calls add up to), beside the plain loop of 1,000
//! TokenReviews sent straight to the API server (the floor: every answer needs one); then 50
//! runs of the exec plugin itself, as the kubelet starts it per image. Latency percentiles, and
//! the source fetches the 1,000 requests caused (from `/metrics`: the index is built by the
//! sync, so a request never fetches). Run: `cargo bench --bench provider` (in scripts/bench.sh).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::admission::free_listen;
use support::controlplane::ControlPlane;
use support::daemon::Daemon;
use support::provider::{flags, pod, rbac, token};

const REQUESTS: usize = 1000;
const PLUGIN_RUNS: usize = 50;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn line(what: &str, mut latencies: Vec<Duration>, took: Duration) {
    latencies.sort();
    println!(
        "{what:<46} p50 {:>7.2} ms  p99 {:>7.2} ms  {:>7.0} req/s",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.len() as f64 / took.as_secs_f64()
    );
}

fn metric(daemon: &Daemon, series: &str) -> f64 {
    let (_, text) = daemon.get("/metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

fn main() {
    let server = ControlPlane::start();
    rbac(&server);
    server.create_namespace("team-a", &[]);
    let work = tempfile::tempdir().unwrap();
    let creds = support::write(
        &work.path().join("creds"),
        "registry.json",
        json!({"username": "robot", "password": "bench-password-not-secret"}).to_string(),
    );
    let repo = work.path().join("repo");
    support::write(
        &repo,
        "specs.yaml",
        format!(
            "{h}kind: Credential\nmetadata: {{name: registry}}\nspec:\n  file: {{path: {}}}\n---\n\
             {h}kind: PullSecret\nmetadata: {{name: registry}}\nspec:\n  namespaces: [team-a]\n  delivery: provider\n  registries: [{{server: registry.example.com, credential: registry}}]\n",
            creds.display(),
            h = support::HEADER
        ),
    );
    let image = "registry.example.com/team-a/app:1";
    let pod = pod(&server, "team-a", "app", "runner", image);
    let listen = free_listen();
    let flags = flags(&server, &listen);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    // One sync a minute: the requests below run between syncs.
    let daemon = Daemon::start_with(
        &server.kubeconfig(),
        &repo,
        &[&flags[..], &["--resync-interval", "60s"]].concat(),
    );
    support::eventually("the first sync", || daemon.get("/readyz").0 == 200);
    let bound = token(&server, &pod, "pullsync", true);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ca = reqwest::Certificate::from_pem(server.ca_pem().as_bytes()).unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().tls_certs_only([ca]).build().unwrap();
    let request = json!({
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "kind": "CredentialProviderRequest",
        "image": image,
        "serviceAccountToken": bound,
        "serviceAccountAnnotations": {}
    })
    .to_string();
    let url = format!("https://{listen}/credential-provider/v1");
    let fetches = |d: &Daemon| metric(d, "pullsync_source_fetch_duration_seconds_count{source=\"file\"}");
    let syncs_before = daemon.syncs();
    let fetches_before = fetches(&daemon);

    // The plain loop: TokenReviews straight to the API server.
    let review = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                        "spec": {"token": bound, "audiences": ["pullsync"]}});
    let started = Instant::now();
    let mut plain = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let t = Instant::now();
        let answer = server
            .request(
                "POST",
                "/apis/authentication.k8s.io/v1/tokenreviews",
                "application/json",
                Some(&review),
            )
            .unwrap();
        assert_eq!(answer["status"]["authenticated"], true);
        plain.push(t.elapsed());
    }
    let plain_took = started.elapsed();

    let started = Instant::now();
    let mut served = Vec::with_capacity(REQUESTS);
    runtime.block_on(async {
        for _ in 0..REQUESTS {
            let t = Instant::now();
            let answer = client.post(&url).body(request.clone()).send().await.unwrap();
            assert!(answer.status().is_success());
            let body: serde_json::Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
            assert!(body["auth"]["registry.example.com"].is_object());
            served.push(t.elapsed());
        }
    });
    let served_took = started.elapsed();
    let fetched = fetches(&daemon) - fetches_before;
    let syncs = daemon.syncs() - syncs_before;

    let mut runs = Vec::with_capacity(PLUGIN_RUNS);
    let ca_file = support::write(work.path(), "ca.crt", server.ca_pem());
    let started = Instant::now();
    for _ in 0..PLUGIN_RUNS {
        let t = Instant::now();
        let (code, _, stderr) = support::provider::plugin(&listen, &ca_file, image, &bound);
        assert_eq!(code, 0, "{stderr}");
        runs.push(t.elapsed());
    }
    let plugin_took = started.elapsed();

    println!("credential provider, {REQUESTS} requests for one registry (real kube-apiserver):");
    line("plain loop: TokenReview to the API server", plain, plain_took);
    line("pullsync endpoint (TokenReview + answer)", served, served_took);
    line(
        &format!("exec plugin as the kubelet runs it ({PLUGIN_RUNS})"),
        runs,
        plugin_took,
    );
    println!(
        "source fetches during the {REQUESTS} requests: {fetched} (syncs meanwhile: {syncs}; a file source is read once per sync)"
    );
}
