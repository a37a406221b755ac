//! Performance figures for the offline pipeline (numbers, not pass/fail):
//! specs → validate → resolve → fetch (once per credential) → render → write files, then the
//! same again to show an unchanged repo costs no writes. Run: `cargo bench --bench render`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Instant;

use pullsync::credentials;
use pullsync::engine::context::Context;
use pullsync::render::{self, RenderContext};
use pullsync::sink::dir::{self, DirOptions};
use pullsync::spec::{self, resolve};

const NAMESPACES: usize = 200;
const CREDENTIALS: usize = 20;
const PULL_SECRETS: usize = 50;
const REGISTRIES_PER_SECRET: usize = 3;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(String::from))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let creds = work.path().join("creds");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::create_dir_all(&creds).unwrap();
    let namespaces: Vec<String> = (0..NAMESPACES).map(|i| format!("team-{i}")).collect();
    let mut text = String::new();
    for c in 0..CREDENTIALS {
        let file = creds.join(format!("c{c}.yaml"));
        std::fs::write(
            &file,
            format!("username: user{c}\npassword: \"bench-password-{c}\"\n"),
        )
        .unwrap();
        let _ = write!(
            text,
            "apiVersion: pullsync.dev/v1alpha1\nkind: Credential\nmetadata: {{name: c{c}}}\nspec:\n  file: {{path: {}}}\n---\n",
            file.display()
        );
    }
    for p in 0..PULL_SECRETS {
        let _ = write!(
            text,
            "apiVersion: pullsync.dev/v1alpha1\nkind: PullSecret\nmetadata: {{name: pull-{p}}}\nspec:\n  namespaces: [{}]\n  labels: {{team: bench}}\n  registries:\n",
            namespaces.join(", ")
        );
        for r in 0..REGISTRIES_PER_SECRET {
            let _ = writeln!(
                text,
                "    - {{server: r{p}-{r}.example.com, credential: c{}}}",
                (p + r) % CREDENTIALS
            );
        }
        text.push_str("---\n");
    }
    text.push_str("apiVersion: pullsync.dev/v1alpha1\nkind: Defaults\nmetadata: {name: cluster}\nspec:\n  labels: {owner: platform}\n");
    std::fs::write(repo.join("specs.yaml"), &text).unwrap();
    println!(
        "spec repo: {} bytes, {NAMESPACES} namespaces, {CREDENTIALS} credentials, {PULL_SECRETS} pull secrets × {REGISTRIES_PER_SECRET} registries",
        text.len()
    );

    let out = work.path().join("out");
    // One install key for both runs, as `sync --once` keeps it in OUT/.pullsync-key: a new key
    // would change every content hash and rewrite every file.
    let key = render::digest::DigestKey::generate();
    for run in ["first sync", "unchanged repo"] {
        let t0 = Instant::now();
        let checked = spec::check(&repo).expect("valid specs");
        let t_check = t0.elapsed();
        let t1 = Instant::now();
        let desired = resolve::resolve(&checked.catalog, &resolve::Namespaces::default());
        let t_resolve = t1.elapsed();
        let t2 = Instant::now();
        let needed: BTreeSet<&str> = desired.secrets.values().flat_map(|s| s.credentials()).collect();
        let references: usize = desired.secrets.values().map(|s| s.credentials().len()).sum();
        let values = runtime.block_on(credentials::fetch_all(
            &checked.catalog,
            &needed,
            &Context::default().sources(),
        ));
        let t_fetch = t2.elapsed();
        let t3 = Instant::now();
        let context = RenderContext {
            revision: "bench".into(),
            instance: "default".into(),
            key: key.clone(),
        };
        let outcome = render::render(&desired, &checked.catalog, &values, &context);
        let t_render = t3.elapsed();
        let t4 = Instant::now();
        let report = dir::sync(
            &outcome,
            &DirOptions {
                out: out.clone(),
                instance: "default".into(),
                auth_json: false,
            },
        )
        .unwrap();
        let t_write = t4.elapsed();
        let total = t0.elapsed();
        println!("\n{run}:");
        println!("  secrets rendered        {}", outcome.rendered.len());
        println!("  credential references   {references}");
        println!(
            "  credential fetches      {} (fan-out {:.0}× saved)",
            values.ok.len(),
            references as f64 / values.ok.len().max(1) as f64
        );
        println!(
            "  files written           {} (unchanged {})",
            report.written.len(),
            report.unchanged.len()
        );
        println!(
            "  load+validate           {:>8.1} ms",
            t_check.as_secs_f64() * 1e3
        );
        println!(
            "  resolve                 {:>8.1} ms",
            t_resolve.as_secs_f64() * 1e3
        );
        println!(
            "  fetch                   {:>8.1} ms",
            t_fetch.as_secs_f64() * 1e3
        );
        println!(
            "  render                  {:>8.1} ms",
            t_render.as_secs_f64() * 1e3
        );
        println!(
            "  write                   {:>8.1} ms",
            t_write.as_secs_f64() * 1e3
        );
        println!(
            "  total                   {:>8.1} ms ({:.0} secrets/s)",
            total.as_secs_f64() * 1e3,
            outcome.rendered.len() as f64 / total.as_secs_f64()
        );
    }
    println!("\npeak RSS                  {} KiB", peak_rss_kib());
}
