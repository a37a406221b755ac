//! Request counts and timings of a 1,000-namespace sync against a real kube-apiserver (the
//! tests' control plane; requests counted from its audit log), numbers, not pass/fail: first
//! sync, an unchanged re-sync, and one changed credential. Run: `cargo bench --bench cluster`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

use support::controlplane::ControlPlane;

const NAMESPACES: usize = 1000;

fn main() {
    let server = ControlPlane::start();
    for i in 0..NAMESPACES {
        server.create_namespace(&format!("team-{i}"), &[("gpu", "true")]);
    }
    let work = tempfile::tempdir().unwrap();
    let creds = work.path().join("creds");
    std::fs::create_dir_all(&creds).unwrap();
    let write_cred = |name: &str, password: &str| {
        std::fs::write(
            creds.join(format!("{name}.json")),
            format!("{{\"username\":\"u\",\"password\":\"{password}\",\"token\":\"{password}\"}}"),
        )
        .unwrap();
    };
    write_cred("ngc", "one");
    write_cred("hf", "one");
    let repo = work.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let mut specs = String::new();
    for name in ["ngc", "hf"] {
        let _ = write!(
            specs,
            "apiVersion: pullsync.dev/v1alpha1\nkind: Credential\nmetadata: {{name: {name}}}\nspec:\n  file: {{path: {}}}\n---\n",
            creds.join(format!("{name}.json")).display()
        );
    }
    specs.push_str("apiVersion: pullsync.dev/v1alpha1\nkind: PullSecret\nmetadata: {name: ngc-pull}\nspec:\n  namespaceSelector: {matchLabels: {gpu: \"true\"}}\n  registries: [{server: nvcr.io, credential: ngc}]\n---\n");
    specs.push_str("apiVersion: pullsync.dev/v1alpha1\nkind: Secret\nmetadata: {name: hf-credentials}\nspec:\n  namespaceSelector: {matchLabels: {gpu: \"true\"}}\n  data: {token: {credential: hf}}\n");
    std::fs::write(repo.join("specs.yaml"), specs).unwrap();
    let kubeconfig = server.kubeconfig();
    println!("{NAMESPACES} namespaces, 2 secrets each (one PullSecret, one Opaque), 2 credentials");
    println!(
        "client settings: --qps 2000 --burst 2000 --concurrency 16 (defaults 20/40/8 would pace the first sync at ~20 writes/s)\n"
    );
    for (step, change) in [
        ("first sync", None),
        ("unchanged re-sync", None),
        ("one changed credential", Some("hf")),
    ] {
        if let Some(name) = change {
            write_cred(name, "two");
        }
        server.clear_log();
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_pullsync"))
            .args([
                "sync",
                "--once",
                "--repo",
                repo.to_str().unwrap(),
                "--kubeconfig",
                kubeconfig.to_str().unwrap(),
                // File sources are off in cluster mode until the operator names where they read.
                "--file-source-root",
                creds.to_str().unwrap(),
            ])
            .args([
                "--qps",
                "2000",
                "--burst",
                "2000",
                "--concurrency",
                "16",
                "--log-level",
                "warn",
            ])
            .output()
            .unwrap();
        let elapsed = started.elapsed();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let log = server.log();
        let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
        for l in &log {
            let resource = l
                .path
                .rsplit('/')
                .find(|s| ["secrets", "namespaces", "events", "serviceaccounts"].contains(s))
                .map_or_else(
                    || {
                        if l.path.contains("/secrets/") {
                            "secrets".into()
                        } else if l.path.contains("/events") {
                            "events".into()
                        } else {
                            "other".into()
                        }
                    },
                    String::from,
                );
            *by_kind.entry(format!("{} {resource}", l.method)).or_default() += 1;
        }
        let writes = log.iter().filter(|l| l.is_write()).count();
        println!(
            "{step}: {} requests ({} writes) in {:.2} s",
            log.len(),
            writes,
            elapsed.as_secs_f64()
        );
        for (kind, n) in by_kind {
            println!("    {kind:<22} {n}");
        }
        println!(
            "    {}",
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .unwrap_or_default()
        );
    }
}
