//! Big spec repositories (numbers, not pass/fail; issue #24). Side by side in one run:
//! 1. `pullsync validate` of 100,000 small Secret documents in 1,000 files (time and peak RSS
//!    of the process), beside the plain loop: the same files read and parsed as YAML values,
//!    nothing else, on one thread.
//! 2. Re-planning after a one-file commit, in process: load + validate + resolve through a
//!    warm `LoadCache` (what the daemon keeps) against the same without one (a full re-plan).
//! 3. The daemon against a real kube-apiserver with those documents (individually listed
//!    namespaces, not a selector): its resident memory once converged, and the time from a
//!    one-file commit to that file's single write. `PULLSYNC_BENCH_DOCS` (default 100,000;
//!    the daemon part writes each as a Secret first: ~4 minutes at 100,000 on 2 cores).
//!    Run: `cargo bench --bench big_repos` (in scripts/bench.sh).

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use pullsync::spec::fleet::ClusterIdentity;
use pullsync::spec::load::LoadCache;
use pullsync::spec::resolve::Namespaces;
use pullsync::spec::tenancy::TenancySettings;
use support::controlplane::ControlPlane;
use support::daemon::Daemon;

const PER_FILE: usize = 100;

/// Documents per namespace (`PULLSYNC_BENCH_PER_NAMESPACE`, default 100; 1 gives as many
/// namespaces as documents, each listed by name).
fn per_namespace() -> usize {
    std::env::var("PULLSYNC_BENCH_PER_NAMESPACE")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(PER_FILE)
        .max(1)
}

fn namespace_of(i: usize) -> String {
    format!("team-{:05}", i / per_namespace())
}

fn doc(i: usize, namespace: &str, value: &str) -> String {
    format!(
        "{h}kind: Secret\nmetadata: {{name: app-{i:06}}}\nspec:\n  namespaces: [{namespace}]\n  data:\n    token: {{value: {value}}}\n",
        h = support::HEADER
    )
}

fn file_text(file: usize, value_of: impl Fn(usize) -> String) -> String {
    (0..PER_FILE)
        .map(|j| {
            let i = file * PER_FILE + j;
            doc(i, &namespace_of(i), &value_of(i))
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

fn write_repo(dir: &Path, docs: usize) {
    for file in 0..docs / PER_FILE {
        std::fs::write(
            dir.join(format!("team-{file:04}.yaml")),
            file_text(file, |i| format!("v{i}")),
        )
        .unwrap();
    }
}

/// A `/proc/PID/status` figure in KiB (`VmHWM`: peak RSS; `VmRSS`: now).
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

/// Run the binary to its end, sampling its peak RSS (VmHWM is kept until exit).
fn run_measured(args: &[&str]) -> (Duration, u64) {
    let started = Instant::now();
    let mut child = std::process::Command::new(support::bin())
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut peak = 0;
    loop {
        peak = peak.max(peak_rss_kib(child.id()));
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success());
            return (started.elapsed(), peak);
        }
        std::thread::sleep(Duration::from_millis(5)); // sampling, not waiting for a condition
    }
}

fn resolve(dir: &Path, cache: Option<&std::sync::Mutex<LoadCache>>) -> usize {
    let resolved = pullsync::engine::pipeline::check_and_resolve_cached(
        dir,
        &Namespaces::default(),
        &TenancySettings::default(),
        &ClusterIdentity::default(),
        cache,
    )
    .unwrap_or_else(|_| panic!("valid"));
    resolved.desired.secrets.len()
}

fn main() {
    let docs: usize = std::env::var("PULLSYNC_BENCH_DOCS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    write_repo(&repo, docs);
    println!(
        "{docs} Secret documents in {} files, {} namespaces (each listed by name):",
        docs / PER_FILE,
        docs.div_ceil(per_namespace())
    );

    // 1. validate, beside a plain parse of the same files.
    let (took, rss) = run_measured(&["validate", repo.to_str().unwrap()]);
    let started = Instant::now();
    let mut parsed = 0;
    for entry in std::fs::read_dir(&repo).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        parsed += serde_saphyr::from_multiple::<serde_json::Value>(&text)
            .unwrap()
            .len();
    }
    assert_eq!(parsed, docs);
    let plain = started.elapsed();
    println!(
        "  pullsync validate                 {:>6.2} s   peak RSS {:>4} MiB",
        took.as_secs_f64(),
        rss / 1024
    );
    println!(
        "  plain loop: YAML parse only       {:>6.2} s   (one thread)",
        plain.as_secs_f64()
    );

    // 2. Re-plan after a one-file commit: warm cache vs none.
    let cache = std::sync::Mutex::new(LoadCache::default());
    assert_eq!(resolve(&repo, Some(&cache)), docs);
    let changed = repo.join("team-0000.yaml");
    std::fs::write(&changed, file_text(0, |i| format!("changed{i}"))).unwrap();
    let started = Instant::now();
    assert_eq!(resolve(&repo, Some(&cache)), docs);
    let incremental = started.elapsed();
    let started = Instant::now();
    assert_eq!(resolve(&repo, None), docs);
    let full = started.elapsed();
    let (parsed, reused) = {
        let c = cache.lock().unwrap();
        (c.parsed, c.reused)
    };
    println!(
        "  re-plan after a one-file commit: {:>6.0} ms with the parse cache ({} files parsed, {} reused over two loads), {:>6.0} ms without ({:.1}×)",
        incremental.as_secs_f64() * 1e3,
        parsed,
        reused,
        full.as_secs_f64() * 1e3,
        full.as_secs_f64() / incremental.as_secs_f64()
    );

    // 3. The daemon: memory once converged, and a one-file commit to its write.
    std::fs::write(&changed, file_text(0, |i| format!("v{i}"))).unwrap();
    let server = ControlPlane::start();
    for n in 0..docs.div_ceil(per_namespace()) {
        server.create_namespace(&format!("team-{n:05}"), &[]);
    }
    let daemon = Daemon::start_with(
        &server.kubeconfig(),
        &repo,
        &["--resync-interval", "10m", "--qps", "1000", "--burst", "2000"],
    );
    let started = Instant::now();
    support::eventually_within("converged", Duration::from_secs(1800), || {
        daemon.get("/readyz").0 == 200 && daemon.syncs() >= 1
    });
    let first = started.elapsed();
    let rss = peak_rss_kib(daemon.child.id());
    let file = docs / 2 / PER_FILE;
    let target = format!("app-{:06}", file * PER_FILE);
    server.clear_log();
    std::fs::write(
        repo.join(format!("team-{file:04}.yaml")),
        file_text(file, |i| {
            if i == file * PER_FILE {
                "rotated".to_string()
            } else {
                format!("v{i}")
            }
        }),
    )
    .unwrap();
    let started = Instant::now();
    support::eventually_within("the one write", Duration::from_secs(600), || {
        server
            .get("secrets", &namespace_of(file * PER_FILE), &target)
            .is_some_and(|s| s["data"]["token"] == "cm90YXRlZA==")
    });
    let commit = started.elapsed();
    let resident = status_kib(daemon.child.id(), "VmRSS:");
    println!(
        "  daemon: first sync {:.1} s, peak RSS {} MiB, resident after the commit {} MiB; one-file commit → its write {:.2} s ({} Secret write(s) for it)",
        first.as_secs_f64(),
        rss / 1024,
        resident / 1024,
        commit.as_secs_f64(),
        server.writes_to("secrets")
    );
}
