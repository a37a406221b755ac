//! The `.dockerconfigjson` pullsync writes is byte-for-byte what
//! `kubectl create secret docker-registry --dry-run=client -o json` writes for the same inputs.

mod support;

use std::path::Path;
use std::process::Command;

use base64::Engine;
use support::{HEADER, pullsync, require, secret_data, write};

struct Login {
    server: &'static str,
    username: &'static str,
    password: &'static str,
    email: Option<&'static str>,
}

/// kubectl's `.dockerconfigjson` bytes for one registry.
fn kubectl(login: &Login) -> Vec<u8> {
    let mut args = vec![
        "create".to_string(),
        "secret".into(),
        "docker-registry".into(),
        "golden".into(),
        format!("--docker-server={}", login.server),
        format!("--docker-username={}", login.username),
        format!("--docker-password={}", login.password),
        "--dry-run=client".into(),
        "-o".into(),
        "json".into(),
    ];
    if let Some(email) = login.email {
        args.push(format!("--docker-email={email}"));
    }
    let output = Command::new("kubectl")
        .args(&args)
        .env("KUBECONFIG", "/dev/null")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "kubectl: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let secret: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let encoded = secret["data"][".dockerconfigjson"].as_str().unwrap();
    base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()
}

/// kubectl writes one registry per secret; several are the same map with more sorted keys.
fn kubectl_many(logins: &[Login]) -> Vec<u8> {
    let mut entries: Vec<(&str, String)> = logins
        .iter()
        .map(|login| {
            let one = String::from_utf8(kubectl(login)).unwrap();
            let inner = one
                .strip_prefix("{\"auths\":{")
                .unwrap()
                .strip_suffix("}}")
                .unwrap()
                .to_string();
            (login.server, inner)
        })
        .collect();
    entries.sort();
    let joined: Vec<String> = entries.into_iter().map(|(_, e)| e).collect();
    format!("{{\"auths\":{{{}}}}}", joined.join(",")).into_bytes()
}

/// pullsync's bytes for the same logins, through specs, a `file` credential and `sync --out`.
fn pullsync_bytes(case: &str, logins: &[Login], work: &Path) -> Vec<u8> {
    let repo = work.join("repo");
    let creds = work.join("creds");
    let mut spec = String::new();
    let mut registries = String::new();
    for (i, login) in logins.iter().enumerate() {
        let values = serde_json::json!({"username": login.username, "password": login.password});
        let file = write(&creds, &format!("c{i}.json"), values.to_string());
        spec.push_str(&format!(
            "{HEADER}kind: Credential\nmetadata: {{name: c{i}}}\nspec:\n  file: {{path: {}}}\n---\n",
            file.display()
        ));
        let email = login.email.map(|e| format!(", email: {e:?}")).unwrap_or_default();
        registries.push_str(&format!(
            "    - {{server: {:?}, credential: c{i}{email}}}\n",
            login.server
        ));
    }
    spec.push_str(&format!(
        "{HEADER}kind: PullSecret\nmetadata: {{name: golden}}\nspec:\n  namespaces: [golden]\n  registries:\n{registries}"
    ));
    write(&repo, "specs.yaml", spec);
    let out = work.join("out");
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
    assert_eq!(run.code, 0, "case {case}: {}", run.all());
    secret_data(&out.join("golden/golden.yaml"), ".dockerconfigjson")
}

#[test]
fn dockerconfigjson_matches_kubectl() {
    require("kubectl");
    let cases: Vec<(&str, Vec<Login>)> = vec![
        (
            "special characters",
            vec![Login {
                server: "registry.example.com",
                username: "robot$ci+bot",
                password: "p&ss<w>rd\"\\'ü€😀",
                email: None,
            }],
        ),
        (
            "ngc oauthtoken",
            vec![Login {
                server: "nvcr.io",
                username: "$oauthtoken",
                password: "nvapi-canary-0123",
                email: None,
            }],
        ),
        (
            "docker hub legacy key",
            vec![Login {
                server: "https://index.docker.io/v1/",
                username: "alice",
                password: "s3cret",
                email: None,
            }],
        ),
        (
            "host and port",
            vec![Login {
                server: "image-registry.openshift-image-registry.svc:5000",
                username: "<token>",
                password: "sha256~abc",
                email: None,
            }],
        ),
        (
            "email",
            vec![Login {
                server: "ghcr.io",
                username: "bob",
                password: "ghp_x",
                email: Some("bob@example.com"),
            }],
        ),
        (
            "several registries",
            vec![
                Login {
                    server: "nvcr.io",
                    username: "$oauthtoken",
                    password: "k1",
                    email: None,
                },
                Login {
                    server: "123456789012.dkr.ecr.us-west-2.amazonaws.com",
                    username: "AWS",
                    password: "eyJ&",
                    email: None,
                },
                Login {
                    server: "https://index.docker.io/v1/",
                    username: "carol",
                    password: "k3",
                    email: Some("c@example.com"),
                },
            ],
        ),
    ];
    for (name, logins) in cases {
        let work = tempfile::tempdir().unwrap();
        let ours = pullsync_bytes(name, &logins, work.path());
        let theirs = kubectl_many(&logins);
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "case {name}"
        );
    }
}
