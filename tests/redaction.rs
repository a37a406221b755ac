//! A canary secret rendered through every code path never reaches stdout (without
//! `--show-secrets`), stderr, trace-level logs or error messages.

mod support;

use std::path::Path;

use base64::Engine;
use support::{HEADER, Run, pullsync, write};

const CANARY_PASSWORD: &str = "CANARY-pw-5f1e9b";
const CANARY_TOKEN: &str = "CANARY-tok-77c2d0";
const CANARY_AGE: &str = "CANARY-age-3a9e41";

fn forms(canary: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        canary.to_string(),
        b64.encode(canary),
        b64.encode(format!("robot:{canary}")),
    ]
}

fn assert_clean(what: &str, run: &Run) {
    for canary in [CANARY_PASSWORD, CANARY_TOKEN, CANARY_AGE] {
        for form in forms(canary) {
            assert!(
                !run.all().contains(&form),
                "{what}: `{form}` leaked:\n{}",
                run.all()
            );
        }
    }
}

/// A repo whose credentials hold canaries: a `file` map, a `file` key, an `ageFile`.
fn setup(work: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let creds = work.join("creds");
    write(
        &creds,
        "robot.yaml",
        format!("username: robot\npassword: \"{CANARY_PASSWORD}\"\n"),
    );
    write(&creds, "token", format!("{CANARY_TOKEN}\n"));
    let identity = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/test-identity.txt");
    let public = std::fs::read_to_string(&identity)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(String::from))
        .unwrap();
    let repo = work.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let sealed = repo.join("age.age");
    let run = pullsync(
        &[
            "encrypt",
            "-r",
            &public,
            "-o",
            sealed.to_str().unwrap(),
            "--log-level",
            "trace",
        ],
        Some(format!("password: \"{CANARY_AGE}\"\n").as_bytes()),
        None,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert_clean("encrypt", &run);
    write(
        &repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: robot}}\nspec:\n  file: {{path: {}}}\n---\n\
             {HEADER}kind: Credential\nmetadata: {{name: token}}\nspec:\n  file: {{path: {}, key: token}}\n---\n\
             {HEADER}kind: Credential\nmetadata: {{name: sealed}}\nspec:\n  ageFile: {{path: age.age}}\n  username: robot\n---\n\
             {HEADER}kind: PullSecret\nmetadata: {{name: pull}}\nspec:\n  namespaces: [ns]\n  registries:\n    - {{server: r.example.com, credential: robot}}\n    - {{server: s.example.com, credential: sealed}}\n---\n\
             {HEADER}kind: Secret\nmetadata: {{name: opaque}}\nspec:\n  namespaces: [ns]\n  data:\n    token: {{credential: token}}\n    password: {{credential: robot}}\n",
            creds.join("robot.yaml").display(),
            creds.join("token").display()
        ),
    );
    (repo, identity)
}

#[test]
fn canaries_never_leak_on_success_paths() {
    let work = tempfile::tempdir().unwrap();
    let (repo, identity) = setup(work.path());
    let (repo, identity) = (repo.to_str().unwrap(), identity.to_str().unwrap());
    for format in ["text", "json"] {
        let common = [
            "--log-level",
            "trace",
            "--log-format",
            format,
            "--age-identity",
            identity,
        ];
        let run = pullsync(
            &[&["validate", repo, "--log-level", "trace"][..]].concat(),
            None,
            None,
        );
        assert_eq!(run.code, 0, "{}", run.all());
        assert_clean("validate", &run);

        for output in ["yaml", "json"] {
            let run = pullsync(
                &[&["render", repo, "--output", output][..], &common].concat(),
                None,
                None,
            );
            assert_eq!(run.code, 0, "{}", run.all());
            assert!(run.stdout.contains("[redacted]"), "{}", run.stdout);
            assert_clean(&format!("render {output} ({format} logs)"), &run);
        }

        let out = work.path().join(format!("out-{format}"));
        let run = pullsync(
            &[
                &[
                    "sync",
                    "--once",
                    "--repo",
                    repo,
                    "--out",
                    out.to_str().unwrap(),
                    "--auth-json",
                ][..],
                &common,
            ]
            .concat(),
            None,
            None,
        );
        assert_eq!(run.code, 0, "{}", run.all());
        assert!(
            run.stderr.contains("fetch_credential"),
            "trace logs were on: {}",
            run.stderr
        );
        assert_clean("sync", &run);
        // The files the user asked for do hold the values.
        let written = std::fs::read_to_string(out.join("ns/opaque.yaml")).unwrap();
        assert!(written.contains(&base64::engine::general_purpose::STANDARD.encode(CANARY_TOKEN)));
        assert!(
            std::fs::read_to_string(out.join("ns/auth.json"))
                .unwrap()
                .contains(CANARY_AGE)
        );
    }

    // The one way to see values: asked for explicitly.
    let run = pullsync(
        &["render", repo, "--age-identity", identity, "--show-secrets"],
        None,
        None,
    );
    assert!(
        run.stdout
            .contains(&base64::engine::general_purpose::STANDARD.encode(CANARY_TOKEN))
    );
}

#[test]
fn canaries_never_leak_from_error_paths() {
    let work = tempfile::tempdir().unwrap();
    let (repo, identity) = setup(work.path());
    let creds = work.path().join("creds");
    let specs = std::fs::read_to_string(repo.join("specs.yaml")).unwrap();
    let trace = ["--log-level", "trace"];

    // A field the credential does not have: the error names keys, not values.
    write(
        &repo,
        "specs.yaml",
        specs.replace(
            "password: {credential: robot}",
            "password: {credential: robot, field: nope}",
        ),
    );
    let run = pullsync(
        &[
            &[
                "render",
                repo.to_str().unwrap(),
                "--age-identity",
                identity.to_str().unwrap(),
            ][..],
            &trace,
        ]
        .concat(),
        None,
        None,
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("field `nope` (key `nope`) is not in the credential; it has: password, username"),
        "{}",
        run.stderr
    );
    assert_clean("missing field", &run);
    write(&repo, "specs.yaml", &specs);

    // Malformed credential files that contain the canary.
    for (name, content) in [
        (
            "syntax",
            format!("password: [\"{CANARY_PASSWORD}\"\nusername: x\n"),
        ),
        (
            "number",
            format!("password: 9111111111111\nother: \"{CANARY_PASSWORD}\"\n"),
        ),
        ("not a map", format!("{CANARY_PASSWORD}\n")),
    ] {
        write(&creds, "robot.yaml", &content);
        let run = pullsync(
            &[
                &[
                    "render",
                    repo.to_str().unwrap(),
                    "--age-identity",
                    identity.to_str().unwrap(),
                ][..],
                &trace,
            ]
            .concat(),
            None,
            None,
        );
        assert_eq!(run.code, 1, "{name}: {}", run.all());
        assert!(
            run.stderr.contains("robot.yaml"),
            "{name}: names the file: {}",
            run.stderr
        );
        assert_clean(name, &run);
        assert!(!run.all().contains("9111111111111"), "{name}");
    }

    // A wrong identity and a malformed identity file.
    let wrong = work.path().join("wrong.txt");
    let keygen = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(&wrong)
        .output();
    if keygen.is_ok_and(|o| o.status.success()) {
        let run = pullsync(
            &[
                "render",
                repo.to_str().unwrap(),
                "--age-identity",
                wrong.to_str().unwrap(),
            ],
            None,
            None,
        );
        assert_eq!(run.code, 1);
        assert!(run.stderr.contains("no identity matches"), "{}", run.stderr);
        assert_clean("wrong identity", &run);
    }
    let bad = write(
        work.path(),
        "bad-identity.txt",
        format!("AGE-SECRET-KEY-{CANARY_AGE}\n"),
    );
    let run = pullsync(
        &[
            "render",
            repo.to_str().unwrap(),
            "--age-identity",
            bad.to_str().unwrap(),
        ],
        None,
        None,
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("holds no usable age identity"),
        "{}",
        run.stderr
    );
    assert_clean("bad identity file", &run);
}

#[test]
fn debug_output_of_values_is_redacted() {
    let value = pullsync::secret::SecretValue::new(CANARY_TOKEN);
    let mut fields = std::collections::BTreeMap::new();
    fields.insert("token".to_string(), value.clone());
    let credential = pullsync::credentials::CredentialValue {
        fields,
        version: "v1".into(),
        expires_at: None,
        origin: "test".into(),
    };
    let shown = format!("{credential:?} {value} {value:?}");
    assert!(!shown.contains(CANARY_TOKEN), "{shown}");
    assert!(shown.contains("token"), "field names stay visible: {shown}");
}
