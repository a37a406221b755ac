//! ECR Public end to end (moto has no `ecr-public`): a loopback endpoint that checks SigV4 for
//! service `ecr-public` in `us-east-1` independently of pullsync and answers
//! `GetAuthorizationToken` as AWS documents it (`tests/support/ecr_public.py`); the pull
//! secret pullsync renders from that token pulls with skopeo from a registry that accepts it.
//! A wrong secret key is refused and explained, and the last good pull secret is kept.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::registry::Registry;
use support::{HEADER, Run, pullsync, write};

// Test-only key pair and token.
const KEY_ID: &str = "AKIAECRPUBLICTEST01";
const SECRET: &str = "test-only-ecr-public-secret-key-0000000";
const TOKEN: &str = "canary-ecr-public-token-3b7f";

struct Endpoint {
    child: Child,
    url: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn endpoint() -> Endpoint {
    let dir = tempfile::tempdir().unwrap();
    let port = dir.path().join("port");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/ecr_public.py");
    let child = Command::new("python3")
        .arg(script)
        .arg(&port)
        .args([KEY_ID, SECRET, TOKEN])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !port.exists() {
        assert!(Instant::now() < deadline, "the ECR Public endpoint did not start");
        std::thread::sleep(Duration::from_millis(50)); // a child's start, no other signal
    }
    Endpoint {
        url: format!("http://127.0.0.1:{}", std::fs::read_to_string(&port).unwrap()),
        log: dir.path().join("port.log"),
        child,
        _dir: dir,
    }
}

fn sync(endpoint: &Endpoint, repo: &Path, out: &Path, root: &Path) -> Run {
    pullsync(
        &[
            "sync",
            "--once",
            "--repo",
            repo.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--aws-endpoint-url",
            &endpoint.url,
            "--file-source-root",
            root.to_str().unwrap(),
        ],
        None,
        None,
    )
}

#[test]
fn a_public_ecr_token_is_exchanged_and_pulls() {
    support::require("skopeo");
    let registry = Registry::start("AWS", TOKEN);
    registry.push("public/app", "1", "AWS", TOKEN);
    let endpoint = endpoint();
    let work = tempfile::tempdir().unwrap();
    let (repo, out) = (work.path().join("repo"), work.path().join("out"));
    let keys = write(
        work.path(),
        "aws/keys.yaml",
        format!("access_key_id: {KEY_ID}\nsecret_access_key: {SECRET}\n"),
    );
    write(
        &repo,
        "ecr.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: aws-keys}}\nspec:\n  file: {{path: {}}}\n---\n{HEADER}kind: Credential\nmetadata: {{name: ecr-public}}\nspec:\n  ecr: {{region: us-east-1, public: true, identity: {{credential: aws-keys}}}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: public-pull}}\nspec:\n  namespaces: [inference]\n  registries: [{{server: public.ecr.aws, credential: ecr-public}}]\n",
            keys.display(),
        ),
    );
    // The entry pullsync wrote for public.ecr.aws, shown to a loopback registry that accepts
    // the token (skopeo cannot reach AWS from here).
    let loopback = |out: &Path| {
        let config: serde_json::Value = serde_json::from_slice(&support::secret_data(
            &out.join("inference/public-pull.yaml"),
            ".dockerconfigjson",
        ))
        .unwrap();
        let entry = config["auths"]["public.ecr.aws"].clone();
        assert!(entry["auth"].is_string(), "{config}");
        write(
            work.path(),
            "auth.json",
            serde_json::json!({"auths": {registry.host.as_str(): entry}}).to_string(),
        )
    };
    let run = sync(&endpoint, &repo, &out, work.path());
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        std::fs::read_to_string(&endpoint.log).unwrap(),
        "issued\n",
        "one signed exchange"
    );
    registry.inspect_with(&loopback(&out), "public/app", "1").unwrap();
    assert!(!run.all().contains(TOKEN) && !run.all().contains(SECRET));

    // A wrong secret: the endpoint's own check refuses it; pullsync says so and keeps the file.
    write(
        work.path(),
        "aws/keys.yaml",
        format!("access_key_id: {KEY_ID}\nsecret_access_key: not-the-secret\n"),
    );
    let run = sync(&endpoint, &repo, &out, work.path());
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.all().contains("InvalidSignatureException"), "{}", run.all());
    assert!(!run.all().contains("not-the-secret"));
    registry.inspect_with(&loopback(&out), "public/app", "1").unwrap();
}
