//! `verify: true`: a changed pull secret is proven against the registry before it is written
//! (Debian's `docker-registry`, htpasswd basic auth, and token auth with a token server
//! the test runs), so a bad rotation keeps the old Secrets instead of becoming
//! ImagePullBackOff everywhere.

mod support;

use std::path::Path;

use support::controlplane::ControlPlane;
use support::registry::Registry;
use support::{HEADER, Run, write};

fn specs(repo: &Path, credentials: &Path, host: &str) {
    write(
        repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: robot}}\nspec:\n  file: {{path: {}}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: robot-pull}}\nspec:\n  namespaces: [team-a, team-b]\n  registries: [{{server: \"{host}\", credential: robot}}]\n  verify: true\n",
            credentials.display()
        ),
    );
}

fn sync(server: &ControlPlane, repo: &Path, root: &Path, host: &str) -> Run {
    let root = root.to_str().unwrap();
    support::sync_once(
        repo,
        &server.kubeconfig(),
        &["--file-source-root", root, "--registry-plain-http", host],
    )
}

fn password_in(server: &ControlPlane, ns: &str) -> Option<String> {
    let secret = server.get("secrets", ns, "robot-pull")?;
    let raw = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        secret["data"][".dockerconfigjson"].as_str()?,
    )
    .ok()?;
    let config: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    config["auths"].as_object()?.values().next()?["password"]
        .as_str()
        .map(String::from)
}

/// Returns the token logins the first sync (two namespaces, one credential) made.
fn a_bad_rotation_keeps_the_old_secrets(registry: &Registry) -> usize {
    let server = ControlPlane::start();
    server.create_namespace("team-a", &[]);
    server.create_namespace("team-b", &[]);
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let credentials = write(
        work.path(),
        "robot.yaml",
        "username: robot\npassword: right-test-pass\n",
    );
    specs(&repo, &credentials, &registry.host);
    let run = sync(&server, &repo, work.path(), &registry.host);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(password_in(&server, "team-b").as_deref(), Some("right-test-pass"));
    let logins_for_two_namespaces = registry.tokens_issued();

    // A rotation to a password the registry does not accept: nothing is written.
    write(
        work.path(),
        "robot.yaml",
        "username: robot\npassword: wrong-test-pass\n",
    );
    server.clear_log();
    let run = sync(&server, &repo, work.path(), &registry.host);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.all().contains("refused the credential (401"), "{}", run.all());
    assert!(
        !run.all().contains("wrong-test-pass"),
        "no password in the output"
    );
    for ns in ["team-a", "team-b"] {
        assert_eq!(
            password_in(&server, ns).as_deref(),
            Some("right-test-pass"),
            "{ns} keeps the old Secret"
        );
    }
    assert_eq!(server.writes_to("secrets"), 0);
    let warnings = server
        .list("events")
        .into_iter()
        .filter(|e| e["type"] == "Warning" && e["message"].as_str().unwrap_or("").contains("does not log in"))
        .count();
    assert_eq!(warnings, 2, "a Warning Event on each Secret left behind");

    // Fixed: written everywhere.
    write(
        work.path(),
        "robot.yaml",
        "username: robot\npassword: right-test-pass-2\n",
    );
    let run = sync(&server, &repo, work.path(), &registry.host);
    assert_eq!(
        run.code,
        1,
        "the registry does not know this one either: {}",
        run.all()
    );
    let run = {
        write(
            work.path(),
            "robot.yaml",
            "username: robot\npassword: right-test-pass\n",
        );
        sync(&server, &repo, work.path(), &registry.host)
    };
    assert_eq!(run.code, 0, "{}", run.all());
    logins_for_two_namespaces
}

#[test]
fn basic_auth_registry() {
    let registry = Registry::start("robot", "right-test-pass");
    a_bad_rotation_keeps_the_old_secrets(&registry);
}

#[test]
fn token_auth_registry() {
    let registry = Registry::start_token("robot", "right-test-pass");
    let logins = a_bad_rotation_keeps_the_old_secrets(&registry);
    assert_eq!(
        logins, 1,
        "one login for the credential, however many namespaces share it"
    );
}
