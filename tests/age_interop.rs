//! age files interoperate with the standard `age` CLI in both directions, armored and binary.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use support::{HEADER, pullsync, require, secret_data, write};

/// A fresh identity from `age-keygen`; returns (identity file, public key).
fn keygen(dir: &Path) -> (std::path::PathBuf, String) {
    let key = dir.join("key.txt");
    let output = Command::new("age-keygen").arg("-o").arg(&key).output().unwrap();
    assert!(output.status.success());
    let text = std::fs::read_to_string(&key).unwrap();
    let public = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    (key, public)
}

fn age_cli(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("age")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "age {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn a_file_encrypted_by_the_age_cli_decrypts_in_pullsync() {
    require("age");
    for armor in [false, true] {
        let work = tempfile::tempdir().unwrap();
        let (key, public) = keygen(work.path());
        let repo = work.path().join("repo");
        let mut args = vec!["-r", public.as_str()];
        if armor {
            args.push("-a");
        }
        let sealed = age_cli(&args, b"token: \"hf_interop_0123\"\n");
        write(&repo, "creds/hf.age", sealed);
        write(
            &repo,
            "specs.yaml",
            format!(
                "{HEADER}kind: Credential\nmetadata: {{name: hf}}\nspec:\n  ageFile: {{path: creds/hf.age}}\n---\n{HEADER}kind: Secret\nmetadata: {{name: hf-credentials}}\nspec:\n  namespaces: [ml-team]\n  data:\n    token: {{credential: hf}}\n"
            ),
        );
        let out = work.path().join("out");
        let run = pullsync(
            &[
                "sync",
                "--once",
                "--repo",
                repo.to_str().unwrap(),
                "--age-identity",
                key.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            None,
            None,
        );
        assert_eq!(run.code, 0, "armor={armor}: {}", run.all());
        assert_eq!(
            secret_data(&out.join("ml-team/hf-credentials.yaml"), "token"),
            b"hf_interop_0123"
        );
    }
}

#[test]
fn a_file_encrypted_by_pullsync_decrypts_with_the_age_cli() {
    require("age");
    for armor in [false, true] {
        let work = tempfile::tempdir().unwrap();
        let (key, public) = keygen(work.path());
        let sealed = work.path().join("s3.age");
        let values = b"# S3 keys\naccess-key: \"AKIAINTEROP\"\nsecret-key: \"interop/secret\"\n";
        let mut args = vec![
            "encrypt",
            "--recipient",
            public.as_str(),
            "--output",
            sealed.to_str().unwrap(),
        ];
        if armor {
            args.push("--armor");
        }
        let run = pullsync(&args, Some(values), None);
        assert_eq!(run.code, 0, "{}", run.all());
        let bytes = std::fs::read(&sealed).unwrap();
        assert_eq!(bytes.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"), armor);
        let plain = age_cli(
            &["-d", "-i", key.to_str().unwrap(), sealed.to_str().unwrap()],
            b"",
        );
        assert_eq!(
            plain, values,
            "armor={armor}: the file holds exactly what was piped in"
        );
        assert!(!run.all().contains("AKIAINTEROP"), "values are never echoed");
    }
}

#[test]
fn encrypt_refuses_input_that_is_not_a_credential_map_and_writes_nothing() {
    require("age");
    let work = tempfile::tempdir().unwrap();
    let (_, public) = keygen(work.path());
    let sealed = work.path().join("bad.age");
    let run = pullsync(
        &["encrypt", "-r", &public, "-o", sealed.to_str().unwrap()],
        Some(b"password: 012345\n"),
        None,
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("the value on line 1 is a number"),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains("012345"));
    assert!(!sealed.exists());
}
