//! No Secret at all, against a real kube-apiserver and a real registry: a PullSecret with
//! `delivery: provider` writes nothing into the namespace; the kubelet's own plugin code
//! (k8s.io/kubernetes/pkg/credentialprovider/plugin, the API server's version) runs `pullsync
//! credential-provider` with a real CredentialProviderConfig (tokenAttributes) and the pod's
//! real bound token, gets the credential, and skopeo pulls with it. Then the tenant matrix:
//! another team's pod, an expired token, a foreign audience, a token of a deleted pod, a token
//! bound to nothing — none gets a credential — and rotation.

mod support;

use base64::Engine;
use serde_json::json;
use support::admission::free_listen;
use support::controlplane::ControlPlane;
use support::daemon::Daemon;
use support::provider::{Pod, expired, flags, kubelet_config, kubelet_lookup, plugin, pod, rbac, token};
use support::registry::Registry;
use support::{HEADER, eventually, write};

const USER: &str = "robot";
const CANARY: &str = "canary-provider-5e0a";
const ROTATED: &str = "canary-provider-rotated-88c1";

fn specs(creds: &std::path::Path, host: &str) -> String {
    format!(
        "{HEADER}kind: Credential\nmetadata: {{name: registry}}\nspec:\n  file: {{path: {}}}\n---\n\
         {HEADER}kind: PullSecret\nmetadata: {{name: team-a-registry}}\nspec:\n  namespaces: [team-a]\n  delivery: provider\n  registries: [{{server: \"{host}\", credential: registry}}]\n",
        creds.display()
    )
}

fn metric(daemon: &Daemon, series: &str) -> f64 {
    let (_, text) = daemon.get("/metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// An auth file for skopeo with exactly what the kubelet got.
fn authfile(dir: &std::path::Path, host: &str, user: &str, password: &str) -> std::path::PathBuf {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    write(
        dir,
        "auth.json",
        json!({"auths": {host: {"auth": auth}}}).to_string(),
    )
}

struct Setup {
    server: ControlPlane,
    registry: Registry,
    daemon: Daemon,
    listen: String,
    work: tempfile::TempDir,
    creds: std::path::PathBuf,
    team_a: Pod,
    team_b: Pod,
}

fn setup() -> Setup {
    support::require("skopeo");
    let registry = Registry::start(USER, CANARY);
    registry.push("team-a/app", "1", USER, CANARY);
    let server = ControlPlane::start();
    rbac(&server);
    server.create_namespace("team-a", &[]);
    server.create_namespace("team-b", &[]);
    let image = format!("{}/team-a/app:1", registry.host);
    let team_a = pod(&server, "team-a", "app", "runner", &image);
    let team_b = pod(&server, "team-b", "app", "runner", &image);
    let work = tempfile::tempdir().unwrap();
    let creds = write(
        &work.path().join("creds"),
        "registry.json",
        json!({"username": USER, "password": CANARY}).to_string(),
    );
    let repo = work.path().join("repo");
    write(&repo, "specs.yaml", specs(&creds, &registry.host));
    let listen = free_listen();
    let flags = flags(&server, &listen);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &flags);
    eventually("the first sync", || daemon.get("/readyz").0 == 200);
    Setup {
        server,
        registry,
        daemon,
        listen,
        work,
        creds,
        team_a,
        team_b,
    }
}

#[test]
fn the_kubelets_own_plugin_code_gets_the_pods_credential_and_it_pulls() {
    let s = setup();
    let image = format!("{}/team-a/app:1", s.registry.host);
    // Delivered by the provider only: no Secret in the namespace, none on the ServiceAccount.
    assert!(s.server.get("secrets", "team-a", "team-a-registry").is_none());
    let (config, bin_dir) = kubelet_config(
        &s.server,
        s.work.path(),
        &s.listen,
        &[&s.registry.host, "*.example.com"],
    );

    let found = kubelet_lookup(&s.server, &config, &bin_dir, &s.team_a, &[&image]).unwrap();
    assert!(found[0].found, "{found:?}");
    assert_eq!(found[0].auths, [(USER.to_string(), CANARY.to_string())]);
    // What the kubelet got pulls from the registry.
    let auth = authfile(s.work.path(), &s.registry.host, USER, CANARY);
    s.registry.inspect_with(&auth, "team-a/app", "1").unwrap();

    // Team B's pod asks for the same image: the specs give team-b nothing.
    let found = kubelet_lookup(&s.server, &config, &bin_dir, &s.team_b, &[&image]).unwrap();
    assert!(!found[0].found && found[0].auths.is_empty(), "{found:?}");
    // An image no spec matches: an empty answer the kubelet accepts (no error, nothing found).
    let found = kubelet_lookup(
        &s.server,
        &config,
        &bin_dir,
        &s.team_a,
        &["quay.example.com/x/y:1"],
    )
    .unwrap();
    assert!(!found[0].found, "{found:?}");

    assert!(metric(&s.daemon, "pullsync_provider_requests_total{result=\"served\"}") >= 1.0);
    assert!(metric(&s.daemon, "pullsync_provider_requests_total{result=\"empty\"}") >= 2.0);
    // delivery: both writes the Secret too; back to provider, pullsync prunes the one it wrote.
    let repo = s.work.path().join("repo");
    write(
        &repo,
        "specs.yaml",
        specs(&s.creds, &s.registry.host).replace("delivery: provider", "delivery: both"),
    );
    eventually("the Secret for delivery: both", || {
        s.server.get("secrets", "team-a", "team-a-registry").is_some()
    });
    write(&repo, "specs.yaml", specs(&s.creds, &s.registry.host));
    eventually("pruned for delivery: provider", || {
        s.server.get("secrets", "team-a", "team-a-registry").is_none()
    });
    let found = kubelet_lookup(&s.server, &config, &bin_dir, &s.team_a, &[&image]).unwrap();
    assert!(found[0].found, "still served: {found:?}");

    // /status says what it serves and how often it answered, never with a value.
    let status = s.daemon.status();
    let provider = &status["provider"];
    assert_eq!(provider["namespaces"], 1, "{provider}");
    assert_eq!(provider["credentials"], 1, "{provider}");
    assert!(
        provider["requests"]["served"].as_u64().unwrap() >= 1,
        "{provider}"
    );
    assert!(provider["requests"]["empty"].as_u64().unwrap() >= 2, "{provider}");
    assert!(!status.to_string().contains(CANARY));
    let log = s.daemon.log();
    assert!(!log.contains(CANARY), "a credential value in the daemon's log");
    // Only the rules it was given, and each needed: nothing refused.
    assert!(
        s.server.log().iter().all(|l| l.status != 403),
        "a request was refused"
    );
}

#[test]
fn expired_foreign_unbound_and_deleted_pod_tokens_get_nothing_and_rotation_is_served() {
    let s = setup();
    let image = format!("{}/team-a/app:1", s.registry.host);
    let ca = write(s.work.path(), "ca.crt", s.server.ca_pem());
    let good = token(&s.server, &s.team_a, "pullsync", true);

    let (code, answer, stderr) = plugin(&s.listen, &ca, &image, &good);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(answer["kind"], "CredentialProviderResponse");
    assert_eq!(answer["cacheKeyType"], "Registry");
    assert_eq!(answer["auth"][&s.registry.host]["password"], CANARY);
    let cached = answer["cacheDuration"]
        .as_str()
        .unwrap()
        .trim_end_matches('s')
        .parse::<u64>()
        .unwrap();
    assert!(cached > 0 && cached <= 600, "{answer}");

    // Another audience (a token meant for Vault, say): refused, and says which audience.
    let vault = token(&s.server, &s.team_a, "vault", true);
    let (code, answer, stderr) = plugin(&s.listen, &ca, &image, &vault);
    assert_ne!(code, 0);
    assert!(answer.is_null(), "{answer}");
    assert!(stderr.contains("pullsync refused (403)"), "{stderr}");
    // Not bound to a pod (a token minted by hand): refused.
    let unbound = token(&s.server, &s.team_a, "pullsync", false);
    let (code, _, stderr) = plugin(&s.listen, &ca, &image, &unbound);
    assert_ne!(code, 0);
    assert!(stderr.contains("not bound to a pod"), "{stderr}");
    // Issued by the API server, signed with its key, but expired.
    let (code, _, stderr) = plugin(&s.listen, &ca, &image, &expired(&s.server, &good));
    assert_ne!(code, 0);
    assert!(stderr.contains("not accepted by the API server"), "{stderr}");
    // The pod it is bound to is gone: the same token that was served a moment ago is refused.
    s.server.delete("pods", "team-a", "app");
    eventually("the bound pod's token is refused", || {
        let (code, _, stderr) = plugin(&s.listen, &ca, &image, &good);
        code != 0 && stderr.contains("not accepted by the API server")
    });
    // No token at all (a config without tokenAttributes): says what to set.
    let (code, _, stderr) = plugin(&s.listen, &ca, &image, "");
    assert_ne!(code, 0);
    assert!(stderr.contains("serviceAccountTokenAudience"), "{stderr}");
    assert!(metric(&s.daemon, "pullsync_provider_requests_total{result=\"refused\"}") >= 5.0);

    // Rotation: the source changes, the next sync holds the new value, the next answer has it.
    let pod = pod(&s.server, "team-a", "app-2", "runner", &image);
    let fresh = token(&s.server, &pod, "pullsync", true);
    std::fs::write(
        &s.creds,
        json!({"username": USER, "password": ROTATED}).to_string(),
    )
    .unwrap();
    s.daemon.wait_syncs(2);
    let (code, answer, stderr) = plugin(&s.listen, &ca, &image, &fresh);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(answer["auth"][&s.registry.host]["password"], ROTATED);
    // Every answer came from the index the sync built: none fetched a credential.
    let fetches = metric(
        &s.daemon,
        "pullsync_source_fetch_duration_seconds_count{source=\"file\"}",
    );
    let before = s.daemon.syncs();
    for _ in 0..20 {
        assert_eq!(plugin(&s.listen, &ca, &image, &fresh).0, 0);
    }
    let after = metric(
        &s.daemon,
        "pullsync_source_fetch_duration_seconds_count{source=\"file\"}",
    );
    let syncs_between = (s.daemon.syncs() - before) as f64;
    assert!(
        after - fetches <= syncs_between + 1.0,
        "fetches {fetches} → {after} over {syncs_between} syncs: requests must not fetch"
    );
    let log = s.daemon.log();
    assert!(
        !log.contains(ROTATED) && !log.contains(&fresh),
        "a value or a token in the log"
    );
}

#[test]
fn only_the_leader_answers_and_a_follower_says_so() {
    support::require("skopeo");
    let s = setup();
    let image = format!("{}/team-a/app:1", s.registry.host);
    let ca = write(s.work.path(), "ca.crt", s.server.ca_pem());
    // Two replicas under leader election, each with its own endpoint.
    let repo = s.work.path().join("repo");
    let replica = |identity: &str, listen: &str| {
        let mut flags = flags(&s.server, listen);
        flags.extend(
            [
                "--leader-election",
                "--lease-duration",
                "2s",
                "--identity",
                identity,
            ]
            .map(String::from),
        );
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        Daemon::start(&s.server.kubeconfig(), &repo, &flags)
    };
    let (listen_a, listen_b) = (free_listen(), free_listen());
    let a = replica("replica-a", &listen_a);
    let b = replica("replica-b", &listen_b);
    let mut leader = None;
    eventually("one replica leads and has synced", || {
        leader = [(&a, &listen_a), (&b, &listen_b)]
            .into_iter()
            .find(|(d, _)| d.status()["leader"] == true && d.syncs() >= 1)
            .map(|(_, l)| l.clone());
        leader.is_some()
    });
    let leader = leader.unwrap();
    let follower = if leader == listen_a { &listen_b } else { &listen_a };
    let pod_token = token(&s.server, &s.team_a, "pullsync", true);
    let (code, answer, stderr) = plugin(&leader, &ca, &image, &pod_token);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(answer["auth"][&s.registry.host]["password"], CANARY);
    // The follower holds no fetched value: a 503 the plugin retries elsewhere (here: once).
    let (code, _, stderr) = plugin(follower, &ca, &image, &pod_token);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("(503)") && stderr.contains("not serving yet"),
        "{stderr}"
    );
}
