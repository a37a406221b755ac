//! Credential sources and settings as a user meets them: a mounted Secret volume, username
//! presets, and configuration through `PULLSYNC_*` environment variables.

mod support;

use std::os::unix::fs::symlink;

use support::{HEADER, pullsync, pullsync_env, secret_data, write};

#[test]
fn a_mounted_secret_volume_is_read_like_the_kubelet_lays_it_out() {
    let work = tempfile::tempdir().unwrap();
    // The kubelet's layout: files in a timestamped folder, `..data` pointing at it, and one
    // symlink per key. Values end with the newline `kubectl create secret --from-file` keeps.
    let volume = work.path().join("volume");
    let stamped = volume.join("..2026_11_22_08_00_00.123");
    write(&stamped, "username", "robot\n");
    write(&stamped, "password", "s3cret-value\n");
    symlink("..2026_11_22_08_00_00.123", volume.join("..data")).unwrap();
    symlink("..data/username", volume.join("username")).unwrap();
    symlink("..data/password", volume.join("password")).unwrap();
    let repo = work.path().join("repo");
    write(
        &repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: vol}}\nspec:\n  file: {{path: {}}}\n---\n{HEADER}kind: Secret\nmetadata: {{name: copy}}\nspec:\n  namespaces: [ns]\n  data:\n    username: {{credential: vol}}\n    password: {{credential: vol}}\n",
            volume.display()
        ),
    );
    let out = work.path().join("out");
    let run = pullsync(
        &[
            "sync",
            "--once",
            "--repo",
            repo.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        None,
        None,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(secret_data(&out.join("ns/copy.yaml"), "username"), b"robot");
    assert_eq!(
        secret_data(&out.join("ns/copy.yaml"), "password"),
        b"s3cret-value"
    );
}

#[test]
fn username_presets_write_the_registry_conventions() {
    let work = tempfile::tempdir().unwrap();
    let creds = work.path().join("creds");
    write(&creds, "key", "the-password\n");
    let presets = [
        ("ngc", "$oauthtoken"),
        ("ecr", "AWS"),
        ("gcpJsonKey", "_json_key"),
        ("gcpAccessToken", "oauth2accesstoken"),
        ("acrToken", "00000000-0000-0000-0000-000000000000"),
        ("openshiftToken", "<token>"),
        ("openshiftServiceAccount", "serviceaccount"),
    ];
    let mut specs = String::new();
    let mut registries = String::new();
    for (i, (preset, _)) in presets.iter().enumerate() {
        specs.push_str(&format!(
            "{HEADER}kind: Credential\nmetadata: {{name: c{i}}}\nspec:\n  file: {{path: {}, key: password}}\n  usernamePreset: {preset}\n---\n",
            creds.join("key").display()
        ));
        registries.push_str(&format!("    - {{server: r{i}.example.com, credential: c{i}}}\n"));
    }
    specs.push_str(&format!("{HEADER}kind: PullSecret\nmetadata: {{name: p}}\nspec:\n  namespaces: [ns]\n  registries:\n{registries}"));
    write(&work.path().join("repo"), "specs.yaml", specs);
    let out = work.path().join("out");
    let repo = work.path().join("repo");
    let run = pullsync(
        &[
            "sync",
            "--once",
            "--repo",
            repo.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        None,
        None,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let config: serde_json::Value =
        serde_json::from_slice(&secret_data(&out.join("ns/p.yaml"), ".dockerconfigjson")).unwrap();
    for (i, (preset, username)) in presets.iter().enumerate() {
        let entry = &config["auths"][format!("r{i}.example.com")];
        assert_eq!(entry["username"], *username, "preset {preset}");
        assert_eq!(entry["password"], "the-password", "preset {preset}");
    }
}

#[test]
fn every_setting_can_come_from_the_environment() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("OUT");
    let run = pullsync_env(
        &["sync", "--once"],
        &[
            ("PULLSYNC_REPO", "examples/quickstart"),
            ("PULLSYNC_AGE_IDENTITY", "examples/quickstart/demo-identity.txt"),
            ("PULLSYNC_OUT", out.to_str().unwrap()),
            ("PULLSYNC_AUTH_JSON", "true"),
            ("PULLSYNC_INSTANCE", "blue"),
            ("PULLSYNC_REVISION", "0123abc"),
            ("PULLSYNC_LOG_FORMAT", "json"),
        ],
        None,
        None,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(out.join("ml-team/auth.json").exists());
    let manifest = std::fs::read_to_string(out.join("ml-team/registry-creds.yaml")).unwrap();
    assert!(manifest.contains("pullsync.dev/instance: blue"), "{manifest}");
    assert!(manifest.contains("pullsync.dev/revision: 0123abc"), "{manifest}");
    let first_log = run.stderr.lines().next().unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(first_log).is_ok(),
        "JSON logs: {first_log}"
    );
}
