//! moto in server mode (AWS ECR, STS and IAM on 127.0.0.1): a real SigV4-checking endpoint
//! for the ECR credential tests. Stopped by its PID when the value is dropped.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    pub url: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Keys for pullsync: an IAM user's, or temporary ones with a session token.
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl Moto {
    /// `checked`: moto verifies every request's SigV4 signature and the caller's IAM policy
    /// (after the first five setup calls, which create the IAM user and role of `iam_user`).
    pub fn start(checked: bool) -> Moto {
        Self::spawn(checked, None)
    }

    /// moto whose ECR tokens are new at each call and expire `seconds` after it
    /// (`tests/support/moto_lifetime.py`), as AWS's 12-hour tokens do, compressed.
    pub fn with_token_lifetime(seconds: u64) -> Moto {
        Self::spawn(false, Some(seconds))
    }

    fn spawn(checked: bool, lifetime: Option<u64>) -> Moto {
        super::require("moto_server");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("moto.log");
        let mut command = match lifetime {
            Some(seconds) => {
                let mut c = Command::new("python3");
                c.arg(
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto_lifetime.py"),
                )
                .env("MOTO_ECR_TOKEN_SECONDS", seconds.to_string());
                c
            }
            None => Command::new("moto_server"),
        };
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            // werkzeug logs one line per request here: the tests count calls with it.
            .stderr(std::fs::File::create(&log).unwrap());
        if checked {
            command.env("INITIAL_NO_AUTH_ACTION_COUNT", "5");
        }
        let child = command.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        }
    }

    /// Requests served so far (POSTs: every AWS API call here is one).
    pub fn posts(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"POST / HTTP/1.1\""))
            .count()
    }

    fn python(&self, script: &str) -> String {
        let out = Command::new("python3")
            .arg("-c")
            .arg(script)
            .env("MOTO_URL", &self.url)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// An IAM user allowed `ecr:GetAuthorizationToken` and `sts:AssumeRole`, a role `ecr`
    /// allowed the same, and the user's keys (the first five calls of a checked server).
    pub fn iam_user(&self) -> Keys {
        let out = self.python(
            r#"
import boto3, json, os
iam = boto3.client("iam", endpoint_url=os.environ["MOTO_URL"], region_name="us-east-1",
                   aws_access_key_id="AKIASETUPSETUPSETUP0", aws_secret_access_key="setup")
iam.create_user(UserName="pullsync")
key = iam.create_access_key(UserName="pullsync")["AccessKey"]
policy = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken", "sts:AssumeRole"], "Resource": "*"}]})
iam.put_user_policy(UserName="pullsync", PolicyName="ecr", PolicyDocument=policy)
iam.create_role(RoleName="ecr", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}))
iam.put_role_policy(RoleName="ecr", PolicyName="ecr", PolicyDocument=policy)
print(key["AccessKeyId"], key["SecretAccessKey"])
"#,
        );
        let mut parts = out.split_whitespace();
        Keys {
            access_key_id: parts.next().unwrap().to_string(),
            secret_access_key: parts.next().unwrap().to_string(),
            session_token: None,
        }
    }

    /// Temporary credentials (`sts:AssumeRole` into the role `ecr`), as the NVCF seed's users
    /// have: an `ASIA…` key that is only valid with its session token.
    pub fn session(&self, user: &Keys) -> Keys {
        let out = self.python(&format!(
            r#"
import boto3, os
sts = boto3.client("sts", endpoint_url=os.environ["MOTO_URL"], region_name="us-east-1",
                   aws_access_key_id="{}", aws_secret_access_key="{}")
c = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/ecr", RoleSessionName="pullsync-test")["Credentials"]
print(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
"#,
            user.access_key_id, user.secret_access_key
        ));
        let mut parts = out.split_whitespace();
        Keys {
            access_key_id: parts.next().unwrap().to_string(),
            secret_access_key: parts.next().unwrap().to_string(),
            session_token: Some(parts.next().unwrap().to_string()),
        }
    }
}
