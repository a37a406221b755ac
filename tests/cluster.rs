//! pullsync against a real Kubernetes API server (`tests/support/controlplane`: kube-apiserver
//! and etcd built from the Kubernetes sources), spoken to by the real `kube::Client` inside the
//! `pullsync` binary as its ServiceAccount under `deploy/`'s RBAC, cross-checked with `kubectl`.
//! Injected faults (409/429/500 on writes, a racing writer) are in `tests/faults.rs`.

mod support;

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use support::controlplane::{ControlPlane, kubectl};
use support::{HEADER, Run, pullsync, write};

/// A spec repo with two credentials from files outside it (so tests can change them).
struct Setup {
    work: tempfile::TempDir,
    server: ControlPlane,
}

impl Setup {
    fn new(namespaces: &[&str]) -> Setup {
        let server = ControlPlane::start();
        for ns in namespaces {
            server.create_namespace(ns, &[]);
        }
        let setup = Setup {
            work: tempfile::tempdir().unwrap(),
            server,
        };
        setup.credential("ngc", "nvapi-one");
        setup.credential("hf", "hf_one");
        setup
    }

    fn repo(&self) -> PathBuf {
        self.work.path().join("repo")
    }

    fn credential(&self, name: &str, password: &str) {
        write(
            &self.work.path().join("creds"),
            &format!("{name}.json"),
            json!({"username": "robot", "password": password, "token": password}).to_string(),
        );
    }

    fn credential_spec(&self, name: &str) -> String {
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: {name}}}\nspec:\n  file: {{path: {}}}\n---\n",
            self.work
                .path()
                .join("creds")
                .join(format!("{name}.json"))
                .display()
        )
    }

    fn specs(&self, body: &str) {
        let text = format!(
            "{}{}{body}",
            self.credential_spec("ngc"),
            self.credential_spec("hf")
        );
        write(&self.repo(), "specs.yaml", text);
    }

    fn run(&self, command: &str, extra: &[&str]) -> Run {
        let kubeconfig = self.server.kubeconfig();
        let mut args = vec![command];
        if command == "sync" {
            args.push("--once");
        }
        let repo = self.repo();
        // File sources against a cluster read only under a root the operator names.
        let creds = self.work.path().join("creds");
        args.extend([
            "--repo",
            repo.to_str().unwrap(),
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--file-source-root",
            creds.to_str().unwrap(),
        ]);
        args.extend(extra);
        pullsync(&args, None, None)
    }

    fn sync(&self) -> Run {
        let run = self.run("sync", &[]);
        assert_eq!(run.code, 0, "{}", run.all());
        run
    }

    fn secret(&self, ns: &str, name: &str) -> Value {
        self.server
            .get("secrets", ns, name)
            .unwrap_or_else(|| panic!("no secret {ns}/{name}"))
    }
}

fn pull_secret(name: &str, namespaces: &str, extra: &str) -> String {
    format!(
        "{HEADER}kind: PullSecret\nmetadata: {{name: {name}}}\nspec:\n  namespaces: {namespaces}\n  registries:\n    - {{server: nvcr.io, credential: ngc}}\n{extra}---\n"
    )
}

fn opaque(name: &str, namespaces: &str) -> String {
    format!(
        "{HEADER}kind: Secret\nmetadata: {{name: {name}}}\nspec:\n  namespaces: {namespaces}\n  data:\n    token: {{credential: hf}}\n---\n"
    )
}

fn decoded(secret: &Value, key: &str) -> Vec<u8> {
    STANDARD.decode(secret["data"][key].as_str().unwrap()).unwrap()
}

fn secret_writes(server: &ControlPlane) -> usize {
    server
        .log()
        .iter()
        .filter(|l| l.is_write() && l.path.contains("/secrets"))
        .count()
}

#[test]
fn sync_creates_then_costs_nothing_then_updates_only_what_changed() {
    let s = Setup::new(&["ml-team", "inference"]);
    s.specs(&format!(
        "{}{}",
        pull_secret("registry-creds", "[ml-team, inference]", "  labels: {opendatahub.io/dashboard: \"true\"}\n  annotations: {openshift.io/display-name: Registry}\n"),
        opaque("hf-credentials", "[ml-team]")
    ));
    let run = s.sync();
    assert!(run.stdout.contains("3 created"), "{}", run.stdout);

    let secret = s.secret("ml-team", "registry-creds");
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    let config: Value = serde_json::from_slice(&decoded(&secret, ".dockerconfigjson")).unwrap();
    assert_eq!(config["auths"]["nvcr.io"]["password"], "nvapi-one");
    assert_eq!(secret["metadata"]["labels"]["opendatahub.io/dashboard"], "true");
    assert_eq!(secret["metadata"]["labels"]["pullsync.dev/instance"], "default");
    assert_eq!(
        secret["metadata"]["annotations"]["openshift.io/display-name"],
        "Registry"
    );
    assert!(
        secret["metadata"]["annotations"]["pullsync.dev/content-hash"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:")
    );
    assert_eq!(
        decoded(&s.secret("ml-team", "hf-credentials"), "token"),
        b"hf_one"
    );
    let events = s.server.list("events");
    assert_eq!(
        events.len(),
        1,
        "one summary Event per sync, not one per Secret: {events:?}"
    );
    assert_eq!(events[0]["reason"], "Synced");
    assert!(
        events[0]["message"].as_str().unwrap().contains("created"),
        "{events:?}"
    );

    // Unchanged: zero writes of any kind.
    s.server.clear_log();
    let run = s.sync();
    assert!(
        run.stdout
            .contains("0 created, 0 updated, 0 adopted, 3 unchanged"),
        "{}",
        run.stdout
    );
    let writes: Vec<_> = s.server.log().into_iter().filter(|l| l.is_write()).collect();
    assert!(writes.is_empty(), "an unchanged sync wrote: {writes:?}");

    // One credential changes: only the secret that uses it is written.
    s.credential("hf", "hf_two");
    s.server.clear_log();
    let run = s.sync();
    assert!(run.stdout.contains("0 created, 1 updated"), "{}", run.stdout);
    assert_eq!(secret_writes(&s.server), 1, "{:?}", s.server.log());
    assert_eq!(
        decoded(&s.secret("ml-team", "hf-credentials"), "token"),
        b"hf_two"
    );
    let applied = s.server.log().into_iter().find(|l| l.method == "PATCH").unwrap();
    // A server-side apply: the server records pullsync's fields under an Apply entry.
    let managers = support::controlplane::managers(&s.secret("ml-team", "hf-credentials"));
    assert!(
        managers.contains(&("pullsync".to_string(), "Apply".to_string())),
        "{managers:?}"
    );
    assert!(
        applied.query.contains("fieldManager=pullsync") && applied.query.contains("force=true"),
        "{}",
        applied.query
    );
}

#[test]
fn kubectl_reads_back_what_pullsync_wrote() {
    support::require("kubectl");
    let s = Setup::new(&["ml-team"]);
    s.specs(&pull_secret("registry-creds", "[ml-team]", ""));
    s.sync();
    let out = kubectl(
        &s.server,
        &["get", "secret", "registry-creds", "-n", "ml-team", "-o", "json"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let secret: Value = serde_json::from_slice(&out.stdout).unwrap();
    let config: Value = serde_json::from_slice(&decoded(&secret, ".dockerconfigjson")).unwrap();
    assert!(
        config["auths"]["nvcr.io"]["auth"].is_string(),
        "the auths wrapper is there: {config}"
    );
    let out = kubectl(
        &s.server,
        &[
            "get",
            "secrets",
            "-A",
            "-l",
            "pullsync.dev/instance=default",
            "-o",
            "name",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "secret/registry-creds"
    );
}

#[test]
fn removed_specs_are_pruned_and_mass_prunes_refused() {
    let s = Setup::new(&["a", "b", "c", "d"]);
    s.specs(&format!(
        "{}{}",
        pull_secret("keep", "[a]", ""),
        opaque("extra", "[a, b, c, d]")
    ));
    s.sync();
    // Remove the opaque secret from b only: 1 of 5 managed secrets, under the 50% guard.
    s.specs(&format!(
        "{}{}",
        pull_secret("keep", "[a]", ""),
        opaque("extra", "[a, c, d]")
    ));
    let run = s.sync();
    assert!(run.stdout.contains("1 pruned"), "{}", run.stdout);
    assert!(s.server.get("secrets", "b", "extra").is_none());
    let delete = s.server.log().into_iter().find(|l| l.method == "DELETE").unwrap();
    assert_eq!(delete.path, "/api/v1/namespaces/b/secrets/extra");

    // Remove it everywhere: 3 of 4 managed — refused, nothing deleted, exit 1, clear error.
    s.specs(&pull_secret("keep", "[a]", ""));
    let run = s.run("sync", &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("refusing to prune 3 of 4 managed secrets (75% > the 50% limit)"),
        "{}",
        run.stderr
    );
    assert_eq!(managed_count(&s.server), 4);
    assert!(
        s.server
            .list("events")
            .iter()
            .any(|e| e["reason"] == "PruneRefused"
                && e["type"] == "Warning"
                && e["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("refusing to prune 3 of 4")),
        "a refused mass prune is an Event, not only a line on stderr"
    );
    let run = s.run("sync", &["--allow-mass-prune"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(managed_count(&s.server), 1);
}

#[test]
fn a_foreign_secret_is_never_touched_unless_adopted() {
    let s = Setup::new(&["ml-team"]);
    let foreign = json!({"metadata": {"name": "registry-creds", "labels": {"owner": "someone"}}, "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": STANDARD.encode(r#"{"auths":{}}"#)}});
    let before = s.server.create("secrets", "ml-team", foreign);
    s.specs(&pull_secret("registry-creds", "[ml-team]", ""));
    let run = s.run("sync", &[]);
    assert_eq!(run.code, 1, "a conflict is an error: {}", run.all());
    assert!(run.stdout.contains("conflict Secret ml-team/registry-creds: a Secret named registry-creds already exists and is not managed by pullsync"), "{}", run.stdout);
    assert_eq!(
        s.secret("ml-team", "registry-creds"),
        before,
        "not modified in any way"
    );
    assert!(
        s.server
            .list("events")
            .iter()
            .any(|e| e["reason"] == "Conflict" && e["type"] == "Warning")
    );

    s.specs(&pull_secret("registry-creds", "[ml-team]", "  adopt: true\n"));
    let run = s.sync();
    assert!(run.stdout.contains("1 adopted"), "{}", run.stdout);
    let after = s.secret("ml-team", "registry-creds");
    assert_eq!(after["metadata"]["labels"]["pullsync.dev/instance"], "default");
    assert_eq!(
        after["metadata"]["labels"]["owner"], "someone",
        "others' labels stay"
    );
    let config: Value = serde_json::from_slice(&decoded(&after, ".dockerconfigjson")).unwrap();
    assert_eq!(config["auths"]["nvcr.io"]["password"], "nvapi-one");
    // Now it is managed: the next sync is a no-op.
    s.server.clear_log();
    s.sync();
    assert_eq!(secret_writes(&s.server), 0);
}

#[test]
fn openshift_internal_registry_token_end_to_end() {
    let s = Setup::new(&["private-ai-demo"]);
    s.server.create(
        "serviceaccounts",
        "private-ai-demo",
        json!({"metadata": {"name": "pipeline"}}),
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/openshift-ai");
    let kubeconfig = s.server.kubeconfig();
    let run = pullsync(
        &[
            "sync",
            "--once",
            "--repo",
            repo.to_str().unwrap(),
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
        None,
        None,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let secret = s.secret("private-ai-demo", "internal-registry-private-ai");
    let labels = &secret["metadata"]["labels"];
    let annotations = &secret["metadata"]["annotations"];
    assert_eq!(labels["opendatahub.io/dashboard"], "true");
    assert_eq!(
        annotations["openshift.io/display-name"],
        "Internal OpenShift Registry"
    );
    assert_eq!(
        annotations["openshift.io/description"],
        "Internal OpenShift Registry for ModelCar Images"
    );
    assert_eq!(annotations["opendatahub.io/connection-type-ref"], "oci-v1");
    let config: Value = serde_json::from_slice(&decoded(&secret, ".dockerconfigjson")).unwrap();
    let entry = &config["auths"]["image-registry.openshift-image-registry.svc:5000"];
    assert_eq!(entry["username"], "<token>");
    // The password is a real token for the account, signed by the API server, with a real expiry.
    let token = entry["password"].as_str().unwrap();
    let review = s.server.token_review(token, &[]);
    assert_eq!(
        review["status"]["authenticated"], true,
        "a token the API server accepts: {review}"
    );
    assert_eq!(
        review["status"]["user"]["username"],
        "system:serviceaccount:private-ai-demo:pipeline"
    );
    let claims = support::controlplane::claims(token);
    let exp = claims["exp"].as_u64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        exp > now + 3000 && exp <= now + 3600 + 5,
        "expiry from the request (3600s): {exp} vs {now}"
    );
    assert!(
        run.stderr.is_empty() || !run.stderr.contains(token),
        "the token never reaches the logs"
    );
    let request = s
        .server
        .log()
        .into_iter()
        .find(|l| l.path.ends_with("/serviceaccounts/pipeline/token"))
        .unwrap();
    assert_eq!(request.method, "POST");
}

#[test]
fn a_bootstrap_secret_in_pullsyncs_namespace_is_a_source() {
    let s = Setup::new(&["ml-team"]);
    s.server.create("secrets", "pullsync-system", json!({"metadata": {"name": "ngc-bootstrap"}, "type": "Opaque", "data": {"api_key": STANDARD.encode("nvapi-bootstrap")}}));
    let spec = format!(
        "{HEADER}kind: Credential\nmetadata: {{name: ngc}}\nspec:\n  kubernetesSecret: {{name: ngc-bootstrap}}\n  usernamePreset: ngc\n  fields: {{password: api_key}}\n---\n{}",
        pull_secret("ngc-pull", "[ml-team]", "")
    );
    write(&s.repo(), "specs.yaml", spec);
    s.sync();
    let config: Value =
        serde_json::from_slice(&decoded(&s.secret("ml-team", "ngc-pull"), ".dockerconfigjson")).unwrap();
    assert_eq!(config["auths"]["nvcr.io"]["username"], "$oauthtoken");
    assert_eq!(config["auths"]["nvcr.io"]["password"], "nvapi-bootstrap");
}

#[test]
fn namespaces_by_selector_missing_and_terminating() {
    let s = Setup::new(&[]);
    s.server.create_namespace("gpu-a", &[("gpu", "true")]);
    s.server.create_namespace("gpu-b", &[("gpu", "true")]);
    s.server.create_namespace("cpu", &[("gpu", "false")]);
    s.server.create_namespace("gpu-old", &[("gpu", "true")]);
    s.server.terminate_namespace("gpu-old");
    s.specs(&format!(
        "{HEADER}kind: PullSecret\nmetadata: {{name: p}}\nspec:\n  namespaces: [ghost]\n  namespaceSelector: {{matchLabels: {{gpu: \"true\"}}}}\n  registries:\n    - {{server: nvcr.io, credential: ngc}}\n"
    ));
    let run = s.sync();
    assert!(
        run.stderr.contains("namespace `ghost` does not exist; skipped"),
        "{}",
        run.stderr
    );
    let mut where_: Vec<String> = s
        .server
        .list("secrets")
        .iter()
        .filter(|x| x["metadata"]["namespace"] != "pullsync-system")
        .map(|x| x["metadata"]["namespace"].as_str().unwrap().to_string())
        .collect();
    where_.sort();
    assert_eq!(where_, vec!["gpu-a", "gpu-b"]);
    assert!(
        s.server.get("namespaces", "", "ghost").is_none(),
        "namespaces are never created"
    );
    // A relabelled namespace leaves the selection: its secret is pruned (1 of 2, at the limit).
    s.server.set_namespace_labels("gpu-b", &[("gpu", "false")]);
    let run = s.sync();
    assert!(run.stdout.contains("1 pruned"), "{}", run.stdout);
}

#[test]
fn plan_shows_actions_and_exits_2_on_changes() {
    let s = Setup::new(&["ml-team"]);
    s.server.create(
        "secrets",
        "ml-team",
        json!({"metadata": {"name": "taken"}, "type": "Opaque"}),
    );
    s.specs(&format!(
        "{}{}",
        pull_secret("registry-creds", "[ml-team]", ""),
        opaque("taken", "[ml-team]")
    ));
    let run = s.run("plan", &[]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stdout.contains("create ml-team/registry-creds"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("conflict ml-team/taken"), "{}", run.stdout);
    assert!(s.server.log().iter().all(|l| !l.is_write()), "plan never writes");
    assert!(!run.all().contains("nvapi-one"), "values never printed");
    s.specs(&pull_secret("registry-creds", "[ml-team]", ""));
    s.sync();
    let run = s.run("plan", &["--output", "json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["actions"].as_array().unwrap().len(), 0);
    assert_eq!(doc["unchanged"], 1);
}

#[test]
fn a_pull_secret_written_to_the_cluster_authenticates_to_a_real_registry() {
    support::require("skopeo");
    let user = "robot$ci";
    let password = "cluster&<pass>:word";
    let registry = support::registry::Registry::start(user, password);
    registry.push("team/model", "v1", user, password);
    let s = Setup::new(&["ml-team"]);
    write(
        &s.work.path().join("creds"),
        "reg.json",
        json!({"username": user, "password": password}).to_string(),
    );
    let spec = format!(
        "{}{HEADER}kind: PullSecret\nmetadata: {{name: reg}}\nspec:\n  namespaces: [ml-team]\n  registries:\n    - {{server: \"{}\", credential: reg}}\n",
        s.credential_spec("reg"),
        registry.host
    );
    write(&s.repo(), "specs.yaml", spec);
    s.sync();
    let authfile = s.work.path().join("authfile.json");
    std::fs::write(
        &authfile,
        decoded(&s.secret("ml-team", "reg"), ".dockerconfigjson"),
    )
    .unwrap();
    registry
        .inspect_with(&authfile, "team/model", "v1")
        .expect("the Secret in the cluster authenticates");

    s.credential("reg", "wrong");
    write(
        &s.work.path().join("creds"),
        "reg.json",
        json!({"username": user, "password": "wrong"}).to_string(),
    );
    s.sync();
    std::fs::write(
        &authfile,
        decoded(&s.secret("ml-team", "reg"), ".dockerconfigjson"),
    )
    .unwrap();
    assert!(
        registry.inspect_with(&authfile, "team/model", "v1").is_err(),
        "a wrong password is refused"
    );
}

#[test]
fn watches_follow_changes_and_recover_from_an_expired_version() {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Api, WatchEvent, WatchParams};
    use kube::runtime::watcher;

    // Watches served by etcd, not the watch cache: the cache answers a resume from before its
    // window with its own copy (Added events), etcd with 410 once it has compacted.
    let server = ControlPlane::start_with(support::controlplane::Options {
        watch_cache: false,
        ..Default::default()
    });
    server.create_namespace("w", &[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let kubeconfig = kube::config::Kubeconfig::read_from(server.admin_kubeconfig()).unwrap();
    let client = runtime.block_on(async {
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(config).unwrap()
    });
    let api: Api<Secret> = Api::namespaced(client, "w");
    // The real server answers a resume from a version etcd has compacted away with HTTP 200
    // and one ERROR event carrying 410 Expired (not an HTTP 410).
    for i in 0..3 {
        server.create(
            "secrets",
            "w",
            json!({"metadata": {"name": format!("filler-{i}")}, "type": "Opaque"}),
        );
    }
    server.compact_etcd();
    runtime.block_on(async {
        let mut stale = api.watch(&WatchParams::default(), "1").await.unwrap().boxed();
        match stale.next().await {
            Some(Ok(WatchEvent::Error(e))) => assert_eq!(e.code, 410, "{e:?}"),
            other => panic!("expected a 410 ERROR event, got {other:?}"),
        }
    });

    // The runtime watcher lists, then watches, label-filtered; it sees create, change, delete.
    let (listed, ready) = std::sync::mpsc::channel();
    let plane = &server;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let server = plane;
            ready.recv().unwrap();
            server.create(
                "secrets",
                "w",
                json!({"metadata": {"name": "w1", "labels": {"app": "watched"}}, "type": "Opaque"}),
            );
            server.create(
                "secrets",
                "w",
                json!({"metadata": {"name": "other", "labels": {"app": "not-watched"}}, "type": "Opaque"}),
            );
            server.update("secrets", "w", "w1", |s| s["data"] = json!({"k": "dg=="}), "test");
            server.delete("secrets", "w", "w1");
        });
        let seen = runtime.block_on(async {
            let config = watcher::Config::default().labels("app=watched");
            let mut events = watcher(api.clone(), config).boxed();
            let mut seen = Vec::new();
            let driver = async {
                while let Some(event) = events.try_next().await.unwrap() {
                    let label = match &event {
                        watcher::Event::Init => continue,
                        watcher::Event::InitDone => {
                            listed.send(()).unwrap();
                            continue;
                        }
                        watcher::Event::InitApply(s) | watcher::Event::Apply(s) => {
                            format!("apply {}", s.metadata.name.clone().unwrap())
                        }
                        watcher::Event::Delete(s) => format!("delete {}", s.metadata.name.clone().unwrap()),
                    };
                    seen.push(label);
                    if seen.last().is_some_and(|l| l == "delete w1") {
                        break;
                    }
                }
                seen
            };
            tokio::time::timeout(std::time::Duration::from_secs(20), driver)
                .await
                .expect("watch events arrive")
        });
        assert_eq!(
            seen,
            vec!["apply w1", "apply w1", "delete w1"],
            "label-filtered: `other` never shows up"
        );
    });
}

/// Secrets outside pullsync's own namespace (where its digest key and lease book live).
fn managed_count(server: &ControlPlane) -> usize {
    server
        .list("secrets")
        .iter()
        .filter(|x| x["metadata"]["namespace"] != "pullsync-system")
        .count()
}

#[test]
fn a_corrupt_lease_book_is_refused_not_read_as_empty() {
    let s = Setup::new(&["ml-team"]);
    s.specs(&pull_secret("registry-creds", "[ml-team]", ""));
    // An empty book would issue every dynamic credential again and never revoke the old ones.
    s.server.create(
        "secrets",
        "pullsync-system",
        json!({"metadata": {"name": "pullsync-vault-leases-default"}, "type": "Opaque", "data": {"leases.json": STANDARD.encode("{not json")}}),
    );
    s.server.clear_log();
    let run = s.run("sync", &[]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("is not readable"), "{}", run.stderr);
    assert_eq!(secret_writes(&s.server), 0, "nothing written");
}

#[test]
fn a_label_or_annotation_removed_from_the_specs_leaves_the_secrets_it_was_created_on() {
    let s = Setup::new(&["ml-team"]);
    let with = |labels: &str, annotations: &str| {
        pull_secret(
            "registry-creds",
            "[ml-team]",
            &format!("  labels: {{{labels}}}\n  annotations: {{{annotations}}}\n"),
        )
    };
    s.specs(&with("team: ml, tier: gold", "owner: ml, ticket: ML-1"));
    s.sync();
    let labels = &s.secret("ml-team", "registry-creds")["metadata"]["labels"];
    assert_eq!(labels["tier"], "gold");
    // A label set by someone else stays whatever pullsync does.
    s.server.update(
        "secrets",
        "ml-team",
        "registry-creds",
        |v| v["metadata"]["labels"]["cost-center"] = json!("42"),
        "kubectl-label",
    );
    // The Secret was created (POST), never applied since: its keys are owned by pullsync's
    // create, which a later apply alone does not take away.
    s.specs(&with("team: ml", "owner: ml"));
    let run = s.sync();
    assert!(run.stdout.contains("1 updated"), "{}", run.stdout);
    let meta = &s.secret("ml-team", "registry-creds")["metadata"];
    assert!(meta["labels"].get("tier").is_none(), "{meta}");
    assert!(meta["annotations"].get("ticket").is_none(), "{meta}");
    assert_eq!(meta["labels"]["team"], "ml");
    assert_eq!(meta["annotations"]["owner"], "ml");
    assert_eq!(meta["labels"]["cost-center"], "42", "someone else's label stays");
    // And the next sync has nothing left to do.
    s.server.clear_log();
    let run = s.sync();
    assert!(run.stdout.contains("1 unchanged"), "{}", run.stdout);
    assert_eq!(secret_writes(&s.server), 0);

    // The same for a data key of an Opaque Secret.
    let opaque_with = |data: &str| {
        format!(
            "{}{HEADER}kind: Secret\nmetadata: {{name: s3}}\nspec:\n  namespaces: [ml-team]\n  data:\n    token: {{credential: hf}}\n{data}---\n",
            with("team: ml", "owner: ml")
        )
    };
    s.specs(&opaque_with(
        "    endpoint: {value: \"https://s3.example.com\"}\n",
    ));
    s.sync();
    assert!(s.secret("ml-team", "s3")["data"].get("endpoint").is_some());
    s.specs(&opaque_with(""));
    s.sync();
    let data = &s.secret("ml-team", "s3")["data"];
    assert!(data.get("endpoint").is_none(), "{data}");
    assert_eq!(decoded(&s.secret("ml-team", "s3"), "token"), b"hf_one");
    s.server.clear_log();
    s.sync();
    assert_eq!(secret_writes(&s.server), 0, "settled");
}
