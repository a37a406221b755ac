//! The proof that matters: a pull secret pullsync wrote authenticates to a real registry
//! (Debian's docker-registry with htpasswd), checked by skopeo.

mod support;

use support::registry::{Registry, authfile_from_secret};
use support::{HEADER, pullsync, require, write};

const USER: &str = "robot$ml";
/// Test-only password with the characters that break hand-written pull secrets.
const PASSWORD: &str = "p&ss:w<rd>\"x";

fn sync_with(work: &std::path::Path, host: &str, password: &str) -> std::path::PathBuf {
    let creds = work.join("creds");
    write(
        &creds,
        "registry.json",
        serde_json::json!({"username": USER, "password": password}).to_string(),
    );
    let repo = work.join("repo");
    write(
        &repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: reg}}\nspec:\n  file: {{path: {}}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: reg-pull}}\nspec:\n  namespaces: [ml-team]\n  registries:\n    - {{server: \"{host}\", credential: reg}}\n",
            creds.join("registry.json").display()
        ),
    );
    let out = work.join("out");
    let run = pullsync(
        &[
            "sync",
            "--once",
            "--repo",
            repo.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--auth-json",
        ],
        None,
        None,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    out
}

#[test]
fn written_pull_secrets_authenticate_with_skopeo() {
    require("skopeo");
    let registry = Registry::start(USER, PASSWORD);
    registry.push("ml/model", "v1", USER, PASSWORD);
    let work = tempfile::tempdir().unwrap();

    let out = sync_with(work.path(), &registry.host, PASSWORD);
    registry
        .inspect_with(&out.join("ml-team/auth.json"), "ml/model", "v1")
        .expect("auth.json authenticates");
    let from_secret = authfile_from_secret(&out.join("ml-team/reg-pull.yaml"), work.path());
    registry
        .inspect_with(&from_secret, "ml/model", "v1")
        .expect("the Secret's .dockerconfigjson authenticates");

    // Control: the same files with a wrong password are refused, so the check can fail.
    let wrong = tempfile::tempdir().unwrap();
    let out = sync_with(wrong.path(), &registry.host, "not-the-password");
    let error = registry
        .inspect_with(&out.join("ml-team/auth.json"), "ml/model", "v1")
        .unwrap_err();
    assert!(
        error.contains("unauthorized") || error.contains("authentication required"),
        "{error}"
    );

    // And the field's classic mistake, a config without the `auths` wrapper, is refused too.
    let unwrapped = work.path().join("unwrapped.json");
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(&from_secret).unwrap()).unwrap();
    std::fs::write(&unwrapped, config["auths"].to_string()).unwrap();
    assert!(registry.inspect_with(&unwrapped, "ml/model", "v1").is_err());
}
