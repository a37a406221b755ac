//! What the container image relies on, tested on the binary (no container runtime runs here):
//! pullsync works as an arbitrary non-root uid, from `/` as working directory, with no home,
//! and writes nothing but the paths it is given — the chart's read-only root filesystem with
//! an emptyDir for the Git cache. Needs root (to switch uid), as CI has.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const UID: u32 = 43210;

fn as_nobody(args: &[&str]) -> Command {
    let mut command = Command::new("setpriv");
    command
        .args([
            "--reuid",
            &UID.to_string(),
            "--regid",
            &UID.to_string(),
            "--clear-groups",
            "--",
        ])
        .arg(support::bin())
        .args(args)
        .current_dir("/")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", "/nonexistent");
    command
}

/// Files owned by `UID` in the world-writable places of this machine, outside `except`.
fn strays(except: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for root in ["/tmp", "/var/tmp", "/dev/shm"] {
        let Ok(entries) = std::fs::read_dir(root) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.starts_with(except) {
                continue;
            }
            if entry.metadata().is_ok_and(|m| m.uid() == UID) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

fn open_dir(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).unwrap();
}

#[test]
fn runs_as_any_uid_and_writes_only_where_told() {
    support::require("setpriv");
    if unsafe { libc::geteuid() } != 0 {
        panic!("this test switches uid: run the suite as root (as CI does)");
    }
    let work = tempfile::tempdir().unwrap();
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // Readable inputs (root-owned, as a ConfigMap or Secret volume would be).
    let repo = work.path().join("repo");
    let copy = Command::new("cp")
        .arg("-r")
        .arg("examples/quickstart")
        .arg(&repo)
        .status()
        .unwrap();
    assert!(copy.success());
    let _ = Command::new("chmod").args(["-R", "a+rX"]).arg(&repo).status();
    // The one writable place.
    let writable = work.path().join("writable");
    open_dir(&writable);
    let out = writable.join("out");

    let run = as_nobody(&[
        "sync",
        "--once",
        "--repo",
        repo.to_str().unwrap(),
        "--age-identity",
        repo.join("demo-identity.txt").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let written: Vec<_> = walk(&out);
    assert!(!written.is_empty());
    assert!(written.iter().all(|p| std::fs::metadata(p).unwrap().uid() == UID));

    // The daemon from a Git remote, its cache in the writable folder, against a cluster.
    let server = support::controlplane::ControlPlane::start();
    server.create_namespace("ml-team", &[]);
    let kubeconfig = work.path().join("kubeconfig");
    std::fs::copy(server.kubeconfig(), &kubeconfig).unwrap();
    std::fs::set_permissions(&kubeconfig, std::fs::Permissions::from_mode(0o644)).unwrap();
    let git = work.path().join("git");
    for args in [
        vec!["init", "-q", "-b", "main"],
        vec!["add", "-A"],
        vec![
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            "specs",
        ],
    ] {
        if args[0] == "init" {
            Command::new("cp")
                .arg("-r")
                .arg(&repo)
                .arg(&git)
                .status()
                .unwrap();
        }
        assert!(
            Command::new("git")
                .args(&args)
                .current_dir(&git)
                .status()
                .unwrap()
                .success()
        );
    }
    // libgit2 refuses a local repository another user owns (safe.directory); a real remote is
    // https or ssh, so hand this stand-in remote to the uid.
    let owner = format!("{UID}:{UID}");
    assert!(
        Command::new("chown")
            .args(["-R", &owner])
            .arg(&git)
            .status()
            .unwrap()
            .success()
    );
    let url = format!("file://{}", git.display());
    let cache = writable.join("cache/git");
    let mut daemon = as_nobody(&[
        "run",
        "--git-url",
        &url,
        "--git-cache",
        cache.to_str().unwrap(),
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--age-identity",
        repo.join("demo-identity.txt").to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--allow-mass-prune",
    ])
    .env("GIT_CONFIG_GLOBAL", "/dev/null")
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while server
        .list("secrets")
        .iter()
        .all(|s| s["metadata"]["namespace"] != "ml-team")
    {
        if Instant::now() > deadline || daemon.try_wait().unwrap().is_some() {
            let _ = daemon.kill();
            let out = daemon.wait_with_output().unwrap();
            panic!(
                "the daemon wrote nothing: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert_eq!(
        strays(work.path()),
        Vec::<String>::new(),
        "nothing written outside the given paths"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
