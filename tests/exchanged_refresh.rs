//! Exchanged registry tokens renew by the expiry they were issued with, not every
//! `refreshInterval`: against moto (SigV4, ECR) whose tokens are new at each call and expire a
//! set time later (`tests/support/moto_lifetime.py`), and the real kube-apiserver, counting
//! GetAuthorizationToken calls and Secret writes from moto's and the API server's logs.

mod support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use support::controlplane::ControlPlane;
use support::daemon::Daemon;
use support::moto::Moto;
use support::{HEADER, eventually_within, write};

const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

/// An ECR credential from file keys, fanned out to `namespaces`, and cluster `Defaults` that
/// ask every credential to be refreshed each minute (meant for KV values).
fn specs(repo: &Path, keys: &Path, namespaces: &[&str]) {
    write(
        keys,
        "keys.yaml",
        "access_key_id: AKIAEXAMPLEEXAMPLE00\nsecret_access_key: test-only\n",
    );
    write(
        repo,
        "ecr.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: aws-keys}}\nspec:\n  file: {{path: {}}}\n---\n{HEADER}kind: Credential\nmetadata: {{name: ecr}}\nspec:\n  ecr: {{region: us-east-1, identity: {{credential: aws-keys}}}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: ecr-pull}}\nspec:\n  namespaces: [{}]\n  registries: [{{server: \"{HOST}\", credential: ecr}}]\n---\n{HEADER}kind: Defaults\nmetadata: {{name: cluster}}\nspec:\n  rotation: {{refreshInterval: 1m}}\n",
            keys.join("keys.yaml").display(),
            namespaces.join(", ")
        ),
    );
}

fn password(server: &ControlPlane, ns: &str) -> Option<String> {
    server
        .get("secrets", ns, "ecr-pull")
        .and_then(|s| support::registry_password(&s, HOST))
}

/// pullsync's writes of the pull secret (its digest key in its own namespace aside).
fn pull_secret_writes(server: &ControlPlane) -> usize {
    server
        .log()
        .iter()
        .filter(|l| l.is_write() && l.status < 300 && l.resource == "secrets" && l.name == "ecr-pull")
        .count()
}

fn at(status: &serde_json::Value, field: &str) -> SystemTime {
    let text = status["credentials"]["ecr"][field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    pullsync::time::parse(text).unwrap()
}

#[test]
fn a_twelve_hour_style_token_is_renewed_a_third_before_its_expiry_not_every_few_minutes() {
    let moto = Moto::with_token_lifetime(3600);
    let server = ControlPlane::start();
    server.create_namespace("inference", &[]);
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    specs(&repo, &work.path().join("aws"), &["inference"]);
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &["--aws-endpoint-url", &moto.url]);
    eventually_within("the pull secret", Duration::from_secs(30), || {
        password(&server, "inference").is_some()
    });
    eventually_within("the credential in /status", Duration::from_secs(10), || {
        daemon.status()["credentials"]["ecr"]["renewAt"].is_string()
    });
    let status = daemon.status();
    let (expires, renew) = (at(&status, "expiresAt"), at(&status, "renewAt"));
    let lead = expires.duration_since(renew).unwrap().as_secs();
    // A third of the issued hour before expiry; not the 1m of Defaults nor the 5m default.
    assert!(
        (1195..=1205).contains(&lead),
        "renewal {lead} s before expiry: {}",
        status["credentials"]["ecr"]
    );
    let remaining = renew
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .as_secs();
    assert!(remaining > 2300, "next renewal in {remaining} s");
    // Many resyncs later (1 s each here), still one exchange and one write.
    let syncs = |d: &Daemon| d.status()["syncs"]["success"].as_u64().unwrap_or(0);
    let first = syncs(&daemon);
    eventually_within("five more syncs", Duration::from_secs(30), || {
        syncs(&daemon) >= first + 5
    });
    assert_eq!(moto.posts(), 1, "GetAuthorizationToken calls");
    assert_eq!(pull_secret_writes(&server), 1, "Secret writes");
}

#[test]
fn each_renewal_is_one_exchange_and_one_write_per_namespace() {
    // A compressed lifetime: renewed 3 s before a 9 s expiry (a third), so every 6 s.
    const LIFETIME: u64 = 9;
    let namespaces = ["team-a", "team-b", "team-c"];
    let moto = Moto::with_token_lifetime(LIFETIME);
    let server = ControlPlane::start();
    for ns in namespaces {
        server.create_namespace(ns, &[]);
    }
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    specs(&repo, &work.path().join("aws"), &namespaces);
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &["--aws-endpoint-url", &moto.url]);
    eventually_within("the pull secrets", Duration::from_secs(30), || {
        namespaces.iter().all(|ns| password(&server, ns).is_some())
    });
    let started = Instant::now();
    // Three renewals, each written to every namespace.
    eventually_within("three renewals", Duration::from_secs(60), || {
        let exchanges = moto.posts();
        exchanges >= 4
            && namespaces
                .iter()
                .all(|ns| password(&server, ns) == Some(format!("123456789012-auth-token-{exchanges}")))
    });
    let elapsed = started.elapsed().as_secs_f64();
    drop(daemon);
    let exchanges = moto.posts();
    let writes = pull_secret_writes(&server);
    assert_eq!(
        writes,
        namespaces.len() * exchanges,
        "{writes} Secret writes for {exchanges} exchanges"
    );
    // Renewals per issued lifetime: 1.5 by the rule; never the resync's rate (1 s here).
    let per_lifetime = (exchanges - 1) as f64 / (elapsed / LIFETIME as f64);
    assert!(
        per_lifetime <= 3.0,
        "{per_lifetime:.1} renewals per lifetime ({exchanges} exchanges in {elapsed:.1} s)"
    );
}

#[test]
fn a_secret_whose_credential_never_worked_is_reported_not_created_rather_than_kept() {
    let moto = Moto::start(true);
    let user = moto.iam_user();
    let server = ControlPlane::start();
    server.create_namespace("inference", &[]);
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let keys = work.path().join("aws");
    specs(&repo, &keys, &["inference"]);
    // `specs` wrote keys moto does not know: the exchange fails from the first sync on.
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &["--aws-endpoint-url", &moto.url]);
    eventually_within("the failure in /status", Duration::from_secs(30), || {
        daemon.status()["secrets"]["inference/ecr-pull"].is_string()
    });
    let status = daemon.status();
    assert_eq!(status["secrets"]["inference/ecr-pull"], "not-created", "{status}");
    assert!(server.get("secrets", "inference", "ecr-pull").is_none());
    // Working keys: created, and from then on a failure would keep it.
    write(
        &keys,
        "keys.yaml",
        format!(
            "access_key_id: {}\nsecret_access_key: {}\n",
            user.access_key_id, user.secret_access_key
        ),
    );
    eventually_within("the pull secret", Duration::from_secs(30), || {
        password(&server, "inference").is_some()
    });
    eventually_within("created in /status", Duration::from_secs(10), || {
        daemon.status()["secrets"]["inference/ecr-pull"] == "created"
    });
}
