//! An ECR credential fanned out to N namespaces over a compressed token lifetime (numbers, not
//! pass/fail): GetAuthorizationToken calls and pull-Secret writes per issued lifetime, counted
//! from moto's and the real kube-apiserver's logs, for the rule pullsync follows (renew a third
//! of the lifetime before expiry) side by side with an interval-driven refresh of the same token
//! (`refreshInterval` at its 5 s floor, the shape of the old 5-minute default against a 12-hour
//! token). moto's tokens here are new at each call and expire a set time later
//! (`tests/support/moto_lifetime.py`). Run: `scripts/bench.sh`, or
//! `PULLSYNC_BENCH_N=1000 cargo bench --bench exchanged`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::controlplane::ControlPlane;
use support::moto::Moto;

const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

fn specs(repo: &Path, keys: &Path, refresh: Option<&str>) {
    std::fs::create_dir_all(repo).unwrap();
    std::fs::write(
        keys,
        "# bench-only keys: moto accepts any\naccess_key_id: AKIAEXAMPLEEXAMPLE00\nsecret_access_key: test-only\n",
    )
    .unwrap();
    let rotation = refresh
        .map(|r| format!("  rotation: {{refreshInterval: {r}}}\n"))
        .unwrap_or_default();
    std::fs::write(
        repo.join("specs.yaml"),
        format!(
            "apiVersion: pullsync.dev/v1alpha1\nkind: Credential\nmetadata: {{name: aws-keys}}\nspec:\n  file: {{path: {}}}\n---\napiVersion: pullsync.dev/v1alpha1\nkind: Credential\nmetadata: {{name: ecr}}\nspec:\n  ecr: {{region: us-east-1, identity: {{credential: aws-keys}}}}\n{rotation}---\napiVersion: pullsync.dev/v1alpha1\nkind: PullSecret\nmetadata: {{name: ecr-pull}}\nspec:\n  namespaceSelector: {{matchLabels: {{gpu: \"true\"}}}}\n  registries: [{{server: \"{HOST}\", credential: ecr}}]\n",
            keys.display()
        ),
    )
    .unwrap();
}

fn daemon(server: &ControlPlane, moto: &Moto, repo: &Path, root: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pullsync"))
        .args(["run", "--repo", repo.to_str().unwrap()])
        .arg("--kubeconfig")
        .arg(server.kubeconfig())
        .args(["--listen", "127.0.0.1:0", "--aws-endpoint-url", &moto.url])
        .arg("--file-source-root")
        .arg(root)
        .args(["--resync-interval", "2s", "--poll-interval", "1s"])
        .args(["--qps", "100000", "--burst", "100000", "--concurrency", "32"])
        .env("PULLSYNC_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// pullsync's successful writes of the fanned-out pull Secret.
fn pull_secret_writes(server: &ControlPlane) -> usize {
    server
        .log()
        .iter()
        .filter(|l| l.is_write() && l.status < 300 && l.resource == "secrets" && l.name == "ecr-pull")
        .count()
}

struct Row {
    exchanges: usize,
    writes: usize,
    lifetimes: f64,
}

/// One daemon over `window`, after its first sync: exchanges and writes in that window.
fn measure(n: usize, lifetime: u64, refresh: Option<&str>, window: Duration) -> Row {
    let moto = Moto::with_token_lifetime(lifetime);
    let server = ControlPlane::start();
    for i in 0..n {
        server.create_namespace(&format!("team-{i}"), &[("gpu", "true")]);
    }
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    specs(&repo, &work.path().join("keys.yaml"), refresh);
    let mut child = daemon(&server, &moto, &repo, work.path());
    let started = Instant::now();
    while pull_secret_writes(&server) < n {
        assert!(started.elapsed() < Duration::from_secs(900), "first sync");
        std::thread::sleep(Duration::from_millis(500));
    }
    server.clear_log();
    let before = moto.posts();
    // The window is the measurement: whatever the daemon does in it is counted.
    std::thread::sleep(window);
    let exchanges = moto.posts() - before;
    // Writes of the last renewal in the window may still be landing: count them in (a renewal
    // that starts meanwhile adds a few more, counted too — an upper bound, never a flattering one).
    let landing = Instant::now();
    while pull_secret_writes(&server) < n * exchanges && landing.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = child.kill();
    let _ = child.wait();
    Row {
        exchanges,
        writes: pull_secret_writes(&server),
        lifetimes: window.as_secs_f64() / lifetime as f64,
    }
}

fn main() {
    let sizes: Vec<usize> = match std::env::var("PULLSYNC_BENCH_N")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        Some(n) => vec![n],
        None => vec![1000, 10_000],
    };
    println!(
        "| N namespaces | token lifetime | rule | exchanges per lifetime | Secret writes per lifetime | writes per exchange |"
    );
    println!("|---:|---:|---|---:|---:|---:|");
    for n in sizes {
        // Long enough for one renewal's N writes to finish well inside a lifetime.
        let lifetime = (30 * n.div_ceil(1000)).clamp(30, 120) as u64;
        let window = Duration::from_secs(2 * lifetime);
        for (rule, refresh) in [
            ("by expiry (pullsync: a third before)", None),
            ("every refreshInterval 5s (interval-driven)", Some("5s")),
        ] {
            let row = measure(n, lifetime, refresh, window);
            println!(
                "| {n} | {lifetime} s | {rule} | {:.1} | {:.0} | {:.0} |",
                row.exchanges as f64 / row.lifetimes,
                row.writes as f64 / row.lifetimes,
                row.writes as f64 / row.exchanges.max(1) as f64,
            );
        }
    }
    println!(
        "\nAt real scale the interval-driven rule is the old default: a 12-hour ECR token refreshed every 5 minutes is 144 exchanges and 144·N Secret writes per lifetime; by expiry it is 1.5 and 1.5·N."
    );
}
