//! ECR credentials against moto in server mode (a real SigV4-checking AWS endpoint on
//! 127.0.0.1): permanent keys, STS session credentials with and without their session token,
//! a wrong secret, a web identity, the registry-host rules of `validate`, and the daemon's
//! refresh rate when moto hands out a token that expired long ago.

mod support;

use std::path::Path;

use support::moto::{Keys, Moto};
use support::{HEADER, Run, pullsync, secret_data, write};

const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

fn keys_file(dir: &Path, keys: &Keys) -> std::path::PathBuf {
    let mut text = format!(
        "access_key_id: {}\nsecret_access_key: {}\n",
        keys.access_key_id, keys.secret_access_key
    );
    if let Some(token) = &keys.session_token {
        text.push_str(&format!("session_token: {token}\n"));
    }
    write(dir, "aws/keys.yaml", text)
}

fn specs(repo: &Path, keys: &Path, server: &str) {
    write(
        repo,
        "ecr.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: aws-keys}}\nspec:\n  file: {{path: {}}}\n---\n{HEADER}kind: Credential\nmetadata: {{name: ecr}}\nspec:\n  ecr: {{region: us-east-1, identity: {{credential: aws-keys}}}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: ecr-pull}}\nspec:\n  namespaces: [inference]\n  registries: [{{server: \"{server}\", credential: ecr}}]\n",
            keys.display()
        ),
    );
}

fn sync(moto: &Moto, repo: &Path, out: &Path, root: &Path) -> Run {
    pullsync(
        &[
            "sync",
            "--once",
            "--repo",
            repo.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--aws-endpoint-url",
            &moto.url,
            "--file-source-root",
            root.to_str().unwrap(),
        ],
        None,
        None,
    )
}

fn auth_of(out: &Path) -> String {
    let config: serde_json::Value = serde_json::from_slice(&secret_data(
        &out.join("inference/ecr-pull.yaml"),
        ".dockerconfigjson",
    ))
    .unwrap();
    let auth = config["auths"][HOST]["auth"].as_str().unwrap().to_string();
    String::from_utf8(base64::Engine::decode(&base64::engine::general_purpose::STANDARD, auth).unwrap())
        .unwrap()
}

#[test]
fn keys_and_session_credentials_are_exchanged_and_bad_ones_explained() {
    let moto = Moto::start(true);
    let user = moto.iam_user();
    let work = tempfile::tempdir().unwrap();
    let (repo, out) = (work.path().join("repo"), work.path().join("out"));
    let keys = keys_file(work.path(), &user);
    specs(&repo, &keys, HOST);

    // Permanent keys: moto checks the signature and the IAM policy.
    let run = sync(&moto, &repo, &out, work.path());
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(auth_of(&out), "AWS:123456789012-auth-token");

    // Temporary credentials with their session token work too.
    let session = moto.session(&user);
    keys_file(work.path(), &session);
    let run = sync(&moto, &repo, &out, work.path());
    assert_eq!(run.code, 0, "{}", run.all());

    // The same temporary keys with a wrong session token: the token is named, not the key.
    keys_file(
        work.path(),
        &Keys {
            session_token: Some("FwoGZXIvYXdzEXAMPLE-not-this-session".into()),
            access_key_id: session.access_key_id.clone(),
            secret_access_key: session.secret_access_key.clone(),
        },
    );
    let run = sync(&moto, &repo, &out, work.path());
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.all().contains("the session token is not the one issued"),
        "{}",
        run.all()
    );
    assert!(
        !run.all().contains("does not know this access key"),
        "{}",
        run.all()
    );

    // The same temporary keys without the session token: refused, and said why.
    keys_file(
        work.path(),
        &Keys {
            session_token: None,
            ..session
        },
    );
    let run = sync(&moto, &repo, &out, work.path());
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.all().contains("session token"), "{}", run.all());

    // A wrong secret: the signature does not match, in words.
    keys_file(
        work.path(),
        &Keys {
            access_key_id: user.access_key_id.clone(),
            secret_access_key: "not-the-secret".into(),
            session_token: None,
        },
    );
    let run = sync(&moto, &repo, &out, work.path());
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.all().contains("SignatureDoesNotMatch"), "{}", run.all());
    assert!(
        run.all().contains("does not belong to this access key id"),
        "{}",
        run.all()
    );
    for secret in [&user.secret_access_key, "not-the-secret"] {
        assert!(!run.all().contains(secret), "no key material in the output");
    }
    // The last good pull secret was not emptied.
    assert_eq!(auth_of(&out), "AWS:123456789012-auth-token");
}

#[test]
fn a_web_identity_is_exchanged_through_sts() {
    let moto = Moto::start(false);
    let work = tempfile::tempdir().unwrap();
    let (repo, out) = (work.path().join("repo"), work.path().join("out"));
    let token = write(work.path(), "token", "eyJhbGciOiJSUzI1NiJ9.test-only.signature");
    write(
        &repo,
        "ecr.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: ecr}}\nspec:\n  ecr:\n    region: us-east-1\n    identity: {{webIdentity: {{roleArn: \"arn:aws:iam::123456789012:role/pullsync-ecr\"}}}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: ecr-pull}}\nspec:\n  namespaces: [inference]\n  registries: [{{server: \"{HOST}\", credential: ecr}}]\n"
        ),
    );
    let run = pullsync(
        &[
            "sync",
            "--once",
            "--repo",
            repo.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--aws-endpoint-url",
            &moto.url,
            "--aws-web-identity-token-file",
            token.to_str().unwrap(),
        ],
        None,
        None,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(auth_of(&out), "AWS:123456789012-auth-token");
    assert_eq!(
        moto.posts(),
        2,
        "one AssumeRoleWithWebIdentity, one GetAuthorizationToken"
    );
}

#[test]
fn validate_catches_the_nvcf_registry_cases() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let keys = write(work.path(), "keys.yaml", "access_key_id: x\n");
    for (server, expected) in [
        (format!("{HOST}/team/model"), "path"),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com".to_string(),
            "is not what ECR credential `ecr` logs in to",
        ),
    ] {
        specs(&repo, &keys, &server);
        let run = pullsync(&["validate", repo.to_str().unwrap()], None, None);
        assert_eq!(run.code, 1, "{}", run.all());
        assert!(run.all().contains(expected), "{server}: {}", run.all());
    }
}

#[test]
fn a_token_that_expired_before_it_arrived_is_refreshed_at_a_bounded_rate() {
    use support::daemon::Daemon;
    let moto = Moto::start(false);
    let server = support::controlplane::ControlPlane::start();
    server.create_namespace("inference", &[]);
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let keys = keys_file(
        work.path(),
        &Keys {
            access_key_id: "AKIAEXAMPLEEXAMPLE00".into(),
            secret_access_key: "test-only".into(),
            session_token: None,
        },
    );
    specs(&repo, &keys, HOST);
    // moto's tokens say they expired in 2015: the daemon must not ask again every moment.
    let daemon = Daemon::start(&server.kubeconfig(), &repo, &["--aws-endpoint-url", &moto.url]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while server.get("secrets", "inference", "ecr-pull").is_none() {
        assert!(std::time::Instant::now() < deadline, "applied");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let first = moto.posts();
    std::thread::sleep(std::time::Duration::from_secs(12));
    let calls = moto.posts() - first;
    drop(daemon);
    // The refresh floor is 5 s: at most 3 calls in 12 s (it was a hot loop without one).
    assert!(
        (1..=3).contains(&calls),
        "{calls} GetAuthorizationToken calls in 12 s"
    );
    let writes = server.writes_to("secrets");
    assert!(
        writes <= 5,
        "{writes} Secret writes: a new token only when it changed"
    );
}

#[test]
fn an_identity_must_hold_keys_not_be_exchanged_itself() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    write(
        &repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: gcp-key}}\nspec:\n  file: {{path: /run/gcp}}\n---\n{HEADER}kind: Credential\nmetadata: {{name: gar}}\nspec:\n  gcpAccessToken: {{serviceAccountKey: gcp-key}}\n---\n{HEADER}kind: Credential\nmetadata: {{name: ecr}}\nspec:\n  ecr: {{region: us-east-1, identity: {{credential: gar}}}}\n"
        ),
    );
    let run = pullsync(&["validate", repo.to_str().unwrap()], None, None);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.all()
            .contains("`gar` is itself exchanged from another credential"),
        "{}",
        run.all()
    );
}

#[test]
fn aws_calls_name_pullsync_in_their_user_agent() {
    use std::io::{BufRead, BufReader, Write};
    // A loopback listener in AWS's place captures the request head (CloudTrail records this
    // header as `userAgent`); moto's log does not keep it. It answers as AWS does to bad keys.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut agent = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("user-agent")
            {
                agent = value.trim().to_string();
            }
        }
        let body = r#"{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}"#;
        let _ = write!(
            &stream,
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        agent
    });
    let work = tempfile::tempdir().unwrap();
    let (repo, out) = (work.path().join("repo"), work.path().join("out"));
    let keys = keys_file(
        work.path(),
        &Keys {
            access_key_id: "AKIAEXAMPLEEXAMPLE00".into(),
            secret_access_key: "test-only".into(),
            session_token: None,
        },
    );
    specs(&repo, &keys, HOST);
    let run = pullsync(
        &[
            "sync",
            "--once",
            "--repo",
            repo.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--aws-endpoint-url",
            &url,
            "--file-source-root",
            work.path().to_str().unwrap(),
        ],
        None,
        None,
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(
        seen.join().unwrap(),
        concat!("pullsync/", env!("CARGO_PKG_VERSION"))
    );
}
