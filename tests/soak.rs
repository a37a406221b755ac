//! A compressed-time soak of `pullsync run` (about two minutes of real time, refresh
//! intervals of seconds): no-op commits, a one-secret change, a removed credential, OpenBao
//! down for many refresh periods and back, the latest KV version deleted, and an invalid commit
//! that lasts many refresh periods. Everything is judged from outside: the test API server's
//! request log, OpenBao, and `/status`. Each phase must stay quiet (bounded syncs and API
//! requests per second), write exactly what changed, and never delete or empty a Secret.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::controlplane::ControlPlane;
use support::daemon::Daemon;
use support::openbao::OpenBao;
use support::{HEADER, eventually_within, write};

const NAMESPACES: usize = 20;
/// The daemon's periodic resync in this test.
const RESYNC_SECONDS: u64 = 2;

fn specs(creds: &Path, with_hf: bool, hf_annotation: &str) -> String {
    let mut text = format!(
        "{HEADER}kind: Credential\nmetadata: {{name: ngc}}\nspec:\n  vault: {{kv: {{mount: secret, path: registries/ngc}}}}\n  usernamePreset: ngc\n  fields: {{password: api_key}}\n  rotation: {{refreshInterval: 5s}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: ngc-pull}}\nspec:\n  namespaceSelector: {{matchLabels: {{gpu: \"true\"}}}}\n  registries: [{{server: nvcr.io, credential: ngc}}]\n"
    );
    if with_hf {
        text.push_str(&format!(
            "---\n{HEADER}kind: Credential\nmetadata: {{name: hf}}\nspec:\n  file: {{path: {}}}\n---\n{HEADER}kind: Secret\nmetadata: {{name: hf-credentials}}\nspec:\n  namespaces: [team-0]\n  annotations: {{note: \"{hf_annotation}\"}}\n  data: {{token: {{credential: hf}}}}\n",
            creds.join("hf.json").display()
        ));
    }
    text
}

fn password(server: &ControlPlane, ns: &str) -> Option<String> {
    support::nvcr_password(&server.get("secrets", ns, "ngc-pull")?)
}

fn all_passwords_are(server: &ControlPlane, value: &str) -> bool {
    (0..NAMESPACES).all(|i| password(server, &format!("team-{i}")).as_deref() == Some(value))
}

fn syncs(daemon: &Daemon) -> u64 {
    daemon.status()["syncs"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0)
}

/// What one phase cost, measured from outside.
#[derive(Debug)]
struct Window {
    seconds: f64,
    syncs: u64,
    requests: usize,
    secret_writes: Vec<String>,
    events: usize,
}

impl Window {
    fn measure(server: &ControlPlane, daemon: &Daemon, run: impl FnOnce()) -> Window {
        server.clear_log();
        let (before, started) = (syncs(daemon), Instant::now());
        run();
        let log = server.log();
        Window {
            seconds: started.elapsed().as_secs_f64(),
            syncs: syncs(daemon) - before,
            // Watches are long-lived requests, not load.
            requests: log.iter().filter(|l| !l.query.contains("watch=")).count(),
            secret_writes: log
                .iter()
                .filter(|l| l.is_write() && l.path.contains("/secrets"))
                .map(|l| format!("{} {}", l.method, l.path))
                .collect(),
            events: log
                .iter()
                .filter(|l| l.is_write() && l.path.ends_with("/events"))
                .count(),
        }
    }

    /// Quiet: about one sync per resync period (plus triggers), a handful of requests each.
    fn assert_bounded(&self, phase: &str, triggers: u64) {
        // Slack for a credential coming due and a failing source retrying within the window.
        let allowed_syncs = (self.seconds / RESYNC_SECONDS as f64).ceil() as u64 + triggers + 4;
        assert!(
            self.syncs <= allowed_syncs,
            "{phase}: {} syncs in {:.0} s (at most {allowed_syncs}): {self:?}",
            self.syncs,
            self.seconds
        );
        // A sync lists namespaces and managed Secrets and reads the lease book: a few requests.
        let per_sync = self.requests as f64 / self.syncs.max(1) as f64;
        assert!(
            per_sync <= 6.0,
            "{phase}: {per_sync:.1} API requests per sync: {self:?}"
        );
        let per_second = self.requests as f64 / self.seconds;
        if triggers == 0 {
            assert!(
                per_second < 5.0,
                "{phase}: {per_second:.1} API requests/s while idle: {self:?}"
            );
        }
        println!("{phase}: {self:?} ({per_second:.1} requests/s)");
    }
}

#[test]
fn a_compressed_month_stays_quiet_bounded_and_safe() {
    let mut bao = OpenBao::start();
    bao.kv2_put("registries/ngc", json!({"api_key": "nvapi-1"}));
    // The dev server's root token id is fixed per port, so it is valid again after a restart.
    let work = tempfile::tempdir().unwrap();
    let token = write(work.path(), "vault-token", &bao.root_token);
    let creds = work.path().join("creds");
    write(&creds, "hf.json", json!({"token": "hf-1"}).to_string());
    let server = ControlPlane::start();
    server.create_namespace("pullsync-system", &[]);
    for i in 0..NAMESPACES {
        server.create_namespace(&format!("team-{i}"), &[("gpu", "true")]);
    }
    let repo = work.path().join("repo");
    write(&repo, "specs.yaml", specs(&creds, true, "one"));
    let resync = format!("{RESYNC_SECONDS}s");
    let daemon = Daemon::start(
        &server.kubeconfig(),
        &repo,
        &[
            "--resync-interval",
            &resync,
            "--vault-addr",
            &bao.addr,
            "--vault-auth",
            "token",
            "--vault-token-file",
            token.to_str().unwrap(),
        ],
    );
    eventually_within("the first sync", Duration::from_secs(30), || {
        all_passwords_are(&server, "nvapi-1") && server.get("secrets", "team-0", "hf-credentials").is_some()
    });
    std::thread::sleep(Duration::from_secs(1));

    // 20 commits that touch no spec: no Secret write, no Event.
    let w = Window::measure(&server, &daemon, || {
        for i in 0..20 {
            write(&repo, "README.md", format!("edit {i}\n"));
            std::thread::sleep(Duration::from_millis(300));
        }
        std::thread::sleep(Duration::from_secs(1));
    });
    assert!(w.secret_writes.is_empty(), "no-op commits wrote: {w:?}");
    assert_eq!(w.events, 0, "no-op commits made events: {w:?}");
    w.assert_bounded("no-op commits", 20);

    // One spec change for one Secret: exactly that Secret is written, one summary Event.
    let w = Window::measure(&server, &daemon, || {
        write(&repo, "specs.yaml", specs(&creds, true, "two"));
        eventually_within("the annotation", Duration::from_secs(20), || {
            server.get("secrets", "team-0", "hf-credentials").unwrap()["metadata"]["annotations"]["note"]
                == "two"
        });
        std::thread::sleep(Duration::from_secs(2));
    });
    assert_eq!(
        w.secret_writes,
        vec!["PATCH /api/v1/namespaces/team-0/secrets/hf-credentials"],
        "{w:?}"
    );
    assert_eq!(w.events, 1, "one summary Event: {w:?}");
    w.assert_bounded("one spec change", 1);

    // A credential removed from the specs: its Secret is pruned once, then nothing wakes for it.
    write(&repo, "specs.yaml", specs(&creds, false, ""));
    eventually_within("the prune", Duration::from_secs(20), || {
        server.get("secrets", "team-0", "hf-credentials").is_none()
    });
    // The request log is written after the response: let the prune's own entries land first.
    std::thread::sleep(Duration::from_secs(1));
    let w = Window::measure(&server, &daemon, || std::thread::sleep(Duration::from_secs(8)));
    assert!(w.secret_writes.is_empty(), "{w:?}");
    w.assert_bounded("credential removed", 0);

    // OpenBao down for many refresh periods: back off, keep every Secret as it is.
    bao.stop();
    let w = Window::measure(&server, &daemon, || std::thread::sleep(Duration::from_secs(15)));
    assert!(w.secret_writes.is_empty(), "nothing deleted or emptied: {w:?}");
    w.assert_bounded("OpenBao down", 0);
    assert!(all_passwords_are(&server, "nvapi-1"));
    let status = daemon.status();
    assert!(
        status["credentials"]["ngc"]["failures"].as_u64().unwrap_or(0) >= 2,
        "the failures show in /status: {status}"
    );
    let bao_reads_while_down = status["credentials"]["ngc"]["failures"].as_u64().unwrap();
    assert!(
        bao_reads_while_down <= 6,
        "backoff, not a retry per sync: {status}"
    );

    // It comes back (a dev server starts empty: seeded again): recovery by itself.
    let bao = OpenBao::start_on(bao.port);
    bao.kv2_put("registries/ngc", json!({"api_key": "nvapi-2"}));
    eventually_within("recovery after the outage", Duration::from_secs(60), || {
        all_passwords_are(&server, "nvapi-2")
    });

    // The latest KV version soft-deleted: keep the last good value, quietly.
    bao.root("DELETE", "secret/data/registries/ngc", None);
    let w = Window::measure(&server, &daemon, || std::thread::sleep(Duration::from_secs(12)));
    assert!(w.secret_writes.is_empty(), "{w:?}");
    w.assert_bounded("latest version deleted", 0);
    assert!(all_passwords_are(&server, "nvapi-2"));

    // An invalid commit that lasts many refresh periods: nothing written, no spin.
    write(&repo, "specs.yaml", "apiVersion: [unclosed\n");
    let w = Window::measure(&server, &daemon, || std::thread::sleep(Duration::from_secs(12)));
    assert!(w.secret_writes.is_empty(), "{w:?}");
    w.assert_bounded("invalid commit", 1);
    assert_eq!(daemon.status()["invalid"], true);
    assert!(all_passwords_are(&server, "nvapi-2"));
}
