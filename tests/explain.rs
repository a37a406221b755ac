//! `pullsync explain` driven as a user would: pull secret files (a docker config, a Secret
//! written by kubectl, a Secret written by pullsync) and the quickstart specs.

mod support;

use std::process::Command;

use support::{HEADER, pullsync, require, write};

const CANARY: &str = "CANARY-explain-9d41";

fn json(run: &support::Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.all()))
}

fn servers(doc: &serde_json::Value) -> Vec<(String, String)> {
    doc["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["source"].as_str().unwrap().to_string(),
                m["server"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn files_in_pod_order_with_kubectl_and_pullsync_secrets() {
    require("kubectl");
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    // 1. A Secret manifest written by kubectl itself.
    let kubectl = Command::new("kubectl")
        .args([
            "create",
            "secret",
            "docker-registry",
            "ngc",
            "--docker-server=nvcr.io",
            "--docker-username=$oauthtoken",
        ])
        .arg(format!("--docker-password={CANARY}"))
        .args(["--dry-run=client", "-o", "yaml"])
        .env("KUBECONFIG", "/dev/null")
        .output()
        .unwrap();
    assert!(kubectl.status.success());
    let from_kubectl = write(dir, "ngc-secret.yaml", kubectl.stdout);
    // 2. A plain docker config whose `auth` disagrees with `username`: the kubelet uses `auth`.
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("team-bot:{CANARY}"),
    );
    let config = write(
        dir,
        "config.json",
        format!(
            r#"{{"auths":{{"nvcr.io/nvidia":{{"username":"ignored","password":"{CANARY}","auth":"{auth}"}},"ghcr.io":{{"username":"gh","password":"{CANARY}"}}}}}}"#
        ),
    );
    let run = pullsync(
        &[
            "explain",
            "nvcr.io/nvidia/tritonserver:24.05-py3",
            "--dockerconfig",
            from_kubectl.to_str().unwrap(),
            "--dockerconfig",
            config.to_str().unwrap(),
            "--output",
            "json",
        ],
        None,
        None,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let doc = json(&run);
    assert_eq!(doc["image"], "nvcr.io/nvidia/tritonserver:24.05-py3");
    assert_eq!(doc["reference"]["domain"], "nvcr.io");
    assert_eq!(doc["reference"]["path"], "nvidia/tritonserver");
    assert_eq!(doc["reference"]["tag"], "24.05-py3");
    assert!(doc["reference"]["digest"].is_null());
    assert_eq!(doc["lookup"], "nvcr.io/nvidia/tritonserver");
    // The more specific key (in the second file) is tried before the host-only key.
    assert_eq!(
        servers(&doc),
        vec![
            (config.display().to_string(), "nvcr.io/nvidia".to_string()),
            (from_kubectl.display().to_string(), "nvcr.io".to_string())
        ]
    );
    assert_eq!(
        doc["matches"][0]["username"], "team-bot",
        "decoded from auth, as the kubelet does"
    );
    assert_eq!(doc["matches"][1]["username"], "$oauthtoken");
    assert!(doc["matches"][0]["credential"].is_null());
    assert!(!run.all().contains(CANARY), "passwords are never printed");

    // Readable output for another image: the near miss is explained.
    let run = pullsync(
        &[
            "explain",
            "nvcr.io/other/app",
            "--dockerconfig",
            config.to_str().unwrap(),
        ],
        None,
        None,
    );
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("matches:   none"), "{}", run.stdout);
    assert!(
        run.stdout.contains("the key has a path (`/nvidia`)"),
        "{}",
        run.stdout
    );
    assert!(!run.all().contains(CANARY));
}

#[test]
fn the_four_near_misses_are_explained() {
    let work = tempfile::tempdir().unwrap();
    let config = write(
        work.path(),
        "config.json",
        r#"{"auths":{
            "nvcr.io/nvidia":{"auth":"dTpw"},
            "registry.example.com:5000":{"auth":"dTpw"},
            "*.dkr.ecr.*.amazonaws.com":{"auth":"dTpw"},
            "registry-1.docker.io":{"auth":"dTpw"}}}"#,
    );
    let cases = [
        ("nvcr.io/other/app", "the key has a path"),
        (
            "registry.example.com/app",
            "ports differ: the key has port 5000, the image has no port",
        ),
        (
            "123456789012.dkr.ecr.us-west-2.amazonaws.com.cn/app",
            "a glob label matches exactly one label",
        ),
        (
            "nginx:1.25",
            "Docker Hub images are looked up as `docker.io/library/nginx`; the key `registry-1.docker.io` never matches them",
        ),
    ];
    for (image, reason) in cases {
        let run = pullsync(
            &["explain", image, "--dockerconfig", config.to_str().unwrap()],
            None,
            None,
        );
        assert_eq!(run.code, 0, "{image}: {}", run.all());
        assert!(run.stdout.contains(reason), "{image}: {}", run.stdout);
    }
}

#[test]
fn a_pull_secret_without_the_auths_wrapper_is_called_out() {
    let work = tempfile::tempdir().unwrap();
    // The OpenShift AI mistake from the field: the registry map without "auths".
    let inner = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        r#"{"image-registry.openshift-image-registry.svc:5000":{"auth":"PHRva2VuPjp4"}}"#,
    );
    let secret = write(
        work.path(),
        "secret.yaml",
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: internal-registry-private-ai}}\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {inner}\n"
        ),
    );
    let run = pullsync(
        &[
            "explain",
            "image-registry.openshift-image-registry.svc:5000/private-ai-demo/model:v1",
            "--dockerconfig",
            secret.to_str().unwrap(),
            "--output",
            "json",
        ],
        None,
        None,
    );
    assert_eq!(run.code, 0);
    let doc = json(&run);
    assert_eq!(doc["matches"].as_array().unwrap().len(), 0);
    assert!(
        doc["warnings"][0]
            .as_str()
            .unwrap()
            .contains("no `auths` wrapper"),
        "{}",
        run.stdout
    );
}

#[test]
fn from_the_specs_of_a_namespace() {
    let repo = "examples/quickstart";
    let run = pullsync(
        &[
            "explain",
            "nvcr.io/nvidia/tritonserver:24.05-py3",
            "--repo",
            repo,
            "--namespace",
            "ml-team",
            "--output",
            "json",
        ],
        None,
        None,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let doc = json(&run);
    assert_eq!(
        servers(&doc),
        vec![("ml-team/registry-creds".to_string(), "nvcr.io".to_string())]
    );
    assert_eq!(doc["matches"][0]["credential"], "ngc");
    assert_eq!(
        doc["matches"][0]["username"], "$oauthtoken",
        "from the preset, no decryption needed"
    );

    // A username that lives in an encrypted file needs the identity.
    let image = "harbor.example.com/ml/app:1";
    let run = pullsync(
        &[
            "explain",
            image,
            "--repo",
            repo,
            "--namespace",
            "ml-team",
            "--output",
            "json",
        ],
        None,
        None,
    );
    assert_eq!(json(&run)["matches"][0]["username"], "");
    let run = pullsync(
        &[
            "explain",
            image,
            "--repo",
            repo,
            "--namespace",
            "ml-team",
            "--age-identity",
            "examples/quickstart/demo-identity.txt",
            "--output",
            "json",
        ],
        None,
        None,
    );
    let doc = json(&run);
    assert_eq!(doc["matches"][0]["username"], "robot$ml-team");
    assert_eq!(doc["matches"][0]["credential"], "harbor-robot");
    assert!(
        !run.all().contains("demo-harbor-password"),
        "passwords are never printed"
    );

    let run = pullsync(
        &[
            "explain",
            "nginx",
            "--repo",
            repo,
            "--namespace",
            "nowhere",
            "--output",
            "json",
        ],
        None,
        None,
    );
    assert!(
        json(&run)["warnings"][0]
            .as_str()
            .unwrap()
            .contains("no secrets into namespace `nowhere`")
    );
}

#[test]
fn an_invalid_reference_exits_1_with_the_rule() {
    let work = tempfile::tempdir().unwrap();
    let config = write(
        work.path(),
        "config.json",
        r#"{"auths":{"nvcr.io":{"auth":"dTpw"}}}"#,
    );
    for (image, rule) in [
        ("docker.io/Library/nginx", "must be lowercase"),
        ("nginx@sha256:abc", "at least 32 hexadecimal digits"),
        ("nginx:-bad", "tag `-bad` is invalid"),
    ] {
        let run = pullsync(
            &[
                "explain",
                image,
                "--dockerconfig",
                config.to_str().unwrap(),
                "--output",
                "json",
            ],
            None,
            None,
        );
        assert_eq!(run.code, 1, "{image}");
        let doc = json(&run);
        assert_eq!(doc["image"], image);
        assert!(
            doc["error"].as_str().unwrap().contains(rule),
            "{image}: {}",
            run.stdout
        );
        let run = pullsync(
            &["explain", image, "--dockerconfig", config.to_str().unwrap()],
            None,
            None,
        );
        assert_eq!(run.code, 1);
        assert!(run.stderr.contains(rule), "{}", run.stderr);
    }
}

#[test]
fn validate_warns_about_overlaps_and_keys_that_never_match() {
    let work = tempfile::tempdir().unwrap();
    write(
        work.path(),
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: c}}\nspec:\n  file: {{path: /run/secrets/c}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: p}}\nspec:\n  namespaces: [ns]\n  registries:\n    - {{server: \"*.dkr.ecr.*.amazonaws.com\", credential: c}}\n    - {{server: 123456789012.dkr.ecr.us-west-2.amazonaws.com, credential: c}}\n    - {{server: myregistry, credential: c}}\n"
        ),
    );
    let run = pullsync(&["validate", work.path().to_str().unwrap()], None, None);
    assert_eq!(run.code, 0, "warnings only: {}", run.all());
    assert!(run.stderr.contains("specs.yaml:14:16: warning: PullSecret/p: registry entries `*.dkr.ecr.*.amazonaws.com` and `123456789012.dkr.ecr.us-west-2.amazonaws.com` overlap"), "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "specs.yaml:15:16: warning: PullSecret/p: registry server `myregistry` can never match an image"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn says_whether_the_kubelet_gets_it_from_a_pull_secret_or_the_credential_provider() {
    let repo = "examples/credential-provider";
    let explain = |image: &str| {
        let run = pullsync(
            &[
                "explain",
                image,
                "--repo",
                repo,
                "--namespace",
                "inference",
                "--output",
                "json",
            ],
            None,
            None,
        );
        assert_eq!(run.code, 0, "{}", run.all());
        json(&run)
    };
    // delivery: provider: only the provider, limited to its ServiceAccount.
    let doc = explain("nvcr.io/nvidia/tritonserver:24.05-py3");
    let matches = doc["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 1, "{doc}");
    assert_eq!(matches[0]["via"], "credential-provider");
    assert!(
        matches[0]["source"]
            .as_str()
            .unwrap()
            .contains("ServiceAccounts triton only")
    );
    // delivery: both: the pull secret first (the kubelet tries secrets before providers).
    let doc = explain("harbor.example.com/ml/app:1");
    let via: Vec<&str> = doc["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["via"].as_str().unwrap())
        .collect();
    assert_eq!(via, ["pull-secret", "credential-provider"], "{doc}");
    assert_eq!(doc["matches"][0]["source"], "inference/harbor");
}
