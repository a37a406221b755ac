//! README's first command, end to end, and what a user sees on later runs: no-op, pruning,
//! a failing source, an invalid commit.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use support::{pullsync, secret_data};

const REPO: &str = "examples/quickstart";
const IDENTITY: &str = "examples/quickstart/demo-identity.txt";

fn sync(repo: &str, out: &Path) -> support::Run {
    pullsync(
        &[
            "sync",
            "--once",
            "--repo",
            repo,
            "--age-identity",
            IDENTITY,
            "--out",
            out.to_str().unwrap(),
        ],
        None,
        None,
    )
}

/// A private copy of the quickstart, to change specs in.
fn copy_quickstart(into: &Path) -> PathBuf {
    let target = into.join("quickstart");
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(REPO)
        .arg(&target)
        .status()
        .unwrap();
    assert!(status.success());
    target
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn readme_quickstart_writes_working_pull_secrets() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("OUT");
    let run = sync(REPO, &out);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("4 secret(s) rendered"), "{}", run.stdout);

    for file in [
        "ml-team/registry-creds.yaml",
        "ml-team/hf-credentials.yaml",
        "ml-team/s3-credentials.yaml",
        "inference/registry-creds.yaml",
    ] {
        let mode = std::fs::metadata(out.join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    let config: serde_json::Value = serde_json::from_slice(&secret_data(
        &out.join("ml-team/registry-creds.yaml"),
        ".dockerconfigjson",
    ))
    .unwrap();
    let ngc = &config["auths"]["nvcr.io"];
    assert_eq!(ngc["username"], "$oauthtoken");
    assert_eq!(ngc["password"], "demo-ngc-api-key-NOT-REAL");
    assert_eq!(
        ngc["auth"],
        "JG9hdXRodG9rZW46ZGVtby1uZ2MtYXBpLWtleS1OT1QtUkVBTA=="
    );
    assert_eq!(config["auths"]["harbor.example.com"]["username"], "robot$ml-team");
    assert_eq!(
        secret_data(&out.join("ml-team/s3-credentials.yaml"), "endpoint"),
        b"https://s3.example.com"
    );

    let manifest: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(out.join("ml-team/registry-creds.yaml")).unwrap())
            .unwrap();
    assert_eq!(manifest["type"], "kubernetes.io/dockerconfigjson");
    let labels = &manifest["metadata"]["labels"];
    assert_eq!(
        labels["opendatahub.io/dashboard"], "true",
        "a quoted \"true\" stays a string"
    );
    assert_eq!(
        labels["platform.example.com/tier"], "gpu-inference",
        "namespace Defaults beat cluster Defaults"
    );
    assert_eq!(labels["pullsync.dev/instance"], "default");
    let annotations = &manifest["metadata"]["annotations"];
    assert_eq!(
        annotations["argocd.argoproj.io/compare-options"],
        "IgnoreExtraneous"
    );
    assert_eq!(
        annotations["pullsync.dev/spec"],
        "pull-secrets.yaml#PullSecret/registry-creds"
    );
    assert!(
        annotations["pullsync.dev/content-hash"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:")
    );

    // The auth.json option: podman/skopeo/docker format, same mode.
    let run = pullsync(
        &[
            "sync",
            "--once",
            "--repo",
            REPO,
            "--age-identity",
            IDENTITY,
            "--out",
            out.to_str().unwrap(),
            "--auth-json",
        ],
        None,
        None,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let auth: serde_json::Value = serde_json::from_slice(&read(&out.join("ml-team/auth.json"))).unwrap();
    assert_eq!(auth["auths"]["nvcr.io"]["auth"], ngc["auth"]);
    assert_eq!(
        std::fs::metadata(out.join("ml-team/auth.json"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
}

#[test]
fn an_unchanged_repo_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("OUT");
    assert_eq!(sync(REPO, &out).code, 0);
    let before = std::fs::metadata(out.join("ml-team/registry-creds.yaml"))
        .unwrap()
        .modified()
        .unwrap();
    let run = sync(REPO, &out);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("0 file(s) written, 4 unchanged"),
        "{}",
        run.stdout
    );
    let after = std::fs::metadata(out.join("ml-team/registry-creds.yaml"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
}

#[test]
fn stale_owned_files_are_removed_and_nothing_else() {
    let work = tempfile::tempdir().unwrap();
    let repo = copy_quickstart(work.path());
    let out = work.path().join("OUT");
    assert_eq!(sync(repo.to_str().unwrap(), &out).code, 0);
    let mine = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: mine\n  namespace: ml-team\ntype: Opaque\n";
    std::fs::write(out.join("ml-team/mine.yaml"), mine).unwrap();
    let other_instance = std::fs::read_to_string(out.join("ml-team/hf-credentials.yaml"))
        .unwrap()
        .replace("pullsync.dev/instance: default", "pullsync.dev/instance: blue");
    std::fs::write(out.join("ml-team/blue.yaml"), &other_instance).unwrap();

    std::fs::remove_file(repo.join("model-sources.yaml")).unwrap();
    let run = sync(repo.to_str().unwrap(), &out);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("2 removed"), "{}", run.stdout);
    assert!(!out.join("ml-team/hf-credentials.yaml").exists());
    assert!(!out.join("ml-team/s3-credentials.yaml").exists());
    assert!(out.join("ml-team/registry-creds.yaml").exists());
    assert_eq!(
        std::fs::read_to_string(out.join("ml-team/mine.yaml")).unwrap(),
        mine,
        "unowned file untouched"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("ml-team/blue.yaml")).unwrap(),
        other_instance,
        "another instance's file untouched"
    );
}

#[test]
fn a_failing_source_keeps_the_last_good_secret() {
    let work = tempfile::tempdir().unwrap();
    let repo = copy_quickstart(work.path());
    let out = work.path().join("OUT");
    assert_eq!(sync(repo.to_str().unwrap(), &out).code, 0);
    let hf_before = read(&out.join("ml-team/hf-credentials.yaml"));

    // The encrypted file is replaced by something that is not age at all, and a spec changes
    // so that every other secret gets a new revision.
    std::fs::write(repo.join("secrets/hf.age"), b"not an age file").unwrap();
    let run = sync(repo.to_str().unwrap(), &out);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("ml-team/hf-credentials"), "{}", run.stderr);
    assert!(
        run.stderr.contains("credential `hf` is unavailable"),
        "{}",
        run.stderr
    );
    assert_eq!(
        read(&out.join("ml-team/hf-credentials.yaml")),
        hf_before,
        "last good secret kept as it was"
    );
    assert!(out.join("ml-team/s3-credentials.yaml").exists());
}

#[test]
fn an_invalid_repo_changes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let repo = copy_quickstart(work.path());
    let out = work.path().join("OUT");
    assert_eq!(sync(repo.to_str().unwrap(), &out).code, 0);
    let before = read(&out.join("ml-team/hf-credentials.yaml"));

    std::fs::remove_file(repo.join("model-sources.yaml")).unwrap();
    std::fs::write(repo.join("broken.yaml"), "apiVersion: pullsync.dev/v1alpha1\nkind: PullSecret\nmetadata: {name: x}\nspec:\n  namespaces: [ml-team]\n  registries: []\n").unwrap();
    let run = sync(repo.to_str().unwrap(), &out);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("broken.yaml:6:15: error: PullSecret/x: registries is empty"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
    assert_eq!(
        read(&out.join("ml-team/hf-credentials.yaml")),
        before,
        "not pruned by a bad commit"
    );
}

#[test]
fn a_missing_identity_is_a_clear_error() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("OUT");
    let run = pullsync(
        &["sync", "--once", "--repo", REPO, "--out", out.to_str().unwrap()],
        None,
        None,
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("pass --age-identity FILE"), "{}", run.stderr);
}
