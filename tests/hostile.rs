//! Hostile input against the real binary: whoever can commit a spec, write into the output
//! folder or name a file must not hang pullsync, exhaust its memory, make it write or delete
//! outside what was asked, or get a secret echoed back. Each case asserts the exit code, a
//! time bound (the child is killed past it), a peak-memory bound (`/usr/bin/time`), and that
//! nothing outside OUT changed.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{HEADER, write};

struct Bounded {
    code: i32,
    stdout: String,
    stderr: String,
    peak_kib: u64,
}

/// Run `pullsync ARGS`, killed after `limit`; peak RSS from `/usr/bin/time`.
fn bounded(args: &[&str], limit: Duration) -> Bounded {
    support::require("/usr/bin/time");
    let dir = tempfile::tempdir().unwrap();
    let (rss, out, err) = (
        dir.path().join("rss"),
        dir.path().join("out"),
        dir.path().join("err"),
    );
    let mut child = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o", rss.to_str().unwrap()])
        .arg(support::bin())
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pullsync {args:?} ran past {limit:?}: it must refuse or finish, not hang");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    Bounded {
        code: status.code().unwrap_or(-1),
        stdout: read(&out),
        stderr: read(&err),
        peak_kib: read(&rss)
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0),
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every file under `root` with its content, to prove nothing changed.
fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().filter_map(Result::ok) {
            let p = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

fn pull_secret_with_keys(keys: &[&str]) -> String {
    let registries: Vec<String> = keys
        .iter()
        .map(|k| format!("    - {{server: \"{k}\", credential: c}}\n"))
        .collect();
    format!(
        "{HEADER}kind: Credential\nmetadata: {{name: c}}\nspec:\n  file: {{path: /nonexistent/c}}\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: p}}\nspec:\n  namespaces: [ns]\n  registries:\n{}",
        registries.concat()
    )
}

#[test]
fn a_backtracking_glob_finishes_at_once() {
    let host = format!("{}.io", "a".repeat(60));
    let glob = "*a*a*a*a*a*a*a*a*b.io";
    let work = tempfile::tempdir().unwrap();
    write(work.path(), "specs.yaml", pull_secret_with_keys(&[glob, &host]));
    let run = bounded(&["validate", path(work.path())], Duration::from_secs(20));
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let config = write(
        work.path(),
        "config.json",
        format!(r#"{{"auths":{{"{glob}":{{"auth":"dTpw"}}}}}}"#),
    );
    let image = format!("{host}/x:1");
    let run = bounded(
        &["explain", &image, "--dockerconfig", path(&config)],
        Duration::from_secs(20),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn twenty_thousand_documents_load_in_linear_time_and_memory() {
    let work = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..20_000 {
        text.push_str(&format!(
            "---\n{HEADER}kind: Credential\nmetadata: {{name: c{i}}}\nspec:\n  file: {{path: /run/secrets/c{i}}}\n"
        ));
    }
    write(work.path(), "many.yaml", text);
    let run = bounded(&["validate", path(work.path())], Duration::from_secs(30));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("valid (20000 objects"), "{}", run.stdout);
    // Measured 1.05 GiB before the loader stopped padding each document with the lines before it.
    assert!(run.peak_kib < 300 * 1024, "peak RSS {} KiB", run.peak_kib);
}

fn file_source_repo(work: &Path, source: &str) -> PathBuf {
    let repo = work.join("repo");
    write(
        &repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: c}}\nspec:\n  file: {{path: \"{source}\", key: password}}\n  username: u\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: p}}\nspec:\n  namespaces: [ns]\n  registries: [{{server: r.example.com, credential: c}}]\n"
        ),
    );
    repo
}

#[test]
fn a_fifo_or_a_device_as_a_file_source_is_refused_not_read() {
    let work = tempfile::tempdir().unwrap();
    let fifo = work.path().join("pipe");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for (source, says) in [
        (path(&fifo), "FIFO"),
        ("/dev/zero", "a device"),
        ("/dev/urandom", "a device"),
    ] {
        let repo = file_source_repo(work.path(), source);
        let out = work.path().join("out");
        let run = bounded(
            &["sync", "--once", "--repo", path(&repo), "--out", path(&out)],
            Duration::from_secs(20),
        );
        assert_eq!(run.code, 1, "{source}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{source}: {}", run.stderr);
        assert!(
            run.peak_kib < 200 * 1024,
            "{source}: peak RSS {} KiB",
            run.peak_kib
        );
    }
}

#[test]
fn a_forged_state_file_deletes_nothing_outside_what_pullsync_owns() {
    let work = tempfile::tempdir().unwrap();
    let creds = write(work.path(), "creds/c", "password: p\n");
    let repo = file_source_repo(work.path(), path(&creds));
    let out = work.path().join("out");
    let victims = work.path().join("victim");
    write(&victims, "v.txt", "precious");
    write(&out, "ns/unrelated.yaml", "kind: ConfigMap\n");
    write(&out, "ns/auth.json.bak", "{}");
    let forged = serde_json::json!({
        "instance": "default",
        "files": ["../victim/v.txt", victims.join("v.txt"), "ns/unrelated.yaml", "ns/../../victim/v.txt"]
    });
    write(&out, ".pullsync-state.json", forged.to_string());
    let before = snapshot(&victims);
    let run = bounded(
        &["sync", "--once", "--repo", path(&repo), "--out", path(&out)],
        Duration::from_secs(20),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(snapshot(&victims), before, "nothing outside OUT changed");
    assert!(
        out.join("ns/unrelated.yaml").exists(),
        "a file pullsync cannot prove it owns stays"
    );
    assert!(out.join("ns/p.yaml").exists());
}

#[test]
fn symbolic_links_inside_out_are_never_followed() {
    let work = tempfile::tempdir().unwrap();
    let creds = write(work.path(), "creds/c", "password: p\n");
    let repo = file_source_repo(work.path(), path(&creds));
    let elsewhere = work.path().join("elsewhere");
    write(&elsewhere, "keep.txt", "precious");
    let before = snapshot(&elsewhere);

    // OUT/ns is a link to another folder: refused, clearly, with nothing written there.
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("ns")).unwrap();
    let run = bounded(
        &["sync", "--once", "--repo", path(&repo), "--out", path(&out)],
        Duration::from_secs(20),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("is a symbolic link"), "{}", run.stderr);
    assert_eq!(snapshot(&elsewhere), before);

    // OUT/ns/p.yaml is a link to a file elsewhere: the link is replaced, its target untouched.
    let out = work.path().join("out2");
    std::fs::create_dir_all(out.join("ns")).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("keep.txt"), out.join("ns/p.yaml")).unwrap();
    let run = bounded(
        &["sync", "--once", "--repo", path(&repo), "--out", path(&out)],
        Duration::from_secs(20),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        snapshot(&elsewhere),
        before,
        "the link's target is not overwritten"
    );
    let written = out.join("ns/p.yaml");
    assert!(!written.symlink_metadata().unwrap().file_type().is_symlink());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(written.metadata().unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn explain_fails_on_a_docker_config_it_cannot_use() {
    let work = tempfile::tempdir().unwrap();
    let not_config = write(work.path(), "list.json", "[1, 2, 3]");
    let huge = write(
        work.path(),
        "huge.json",
        format!(
            r#"{{"auths":{{{}}}}}"#,
            (0..20_000)
                .map(|i| format!(r#""r{i}.example.com":{{"auth":"dTpw"}}"#))
                .collect::<Vec<_>>()
                .join(",")
        ),
    );
    for (file, says) in [
        (work.path().join("missing.json"), "cannot read"),
        (work.path().to_path_buf(), "a directory"),
        (PathBuf::from("/dev/zero"), "a device"),
        (not_config, "no `auths` map"),
        (huge, "registry entries"),
    ] {
        let run = bounded(
            &["explain", "nvcr.io/nvidia/x:1", "--dockerconfig", path(&file)],
            Duration::from_secs(20),
        );
        assert_eq!(run.code, 1, "{}: {}{}", file.display(), run.stdout, run.stderr);
        assert!(run.stderr.contains(says), "{}: {}", file.display(), run.stderr);
    }
}

#[test]
fn yaml_tags_are_refused_with_their_position() {
    let work = tempfile::tempdir().unwrap();
    write(
        work.path(),
        "specs.yaml",
        format!(
            "# tags change what is written\n{HEADER}kind: Secret\nmetadata: {{name: s}}\nspec:\n  namespaces: [ns]\n  data:\n    token: {{value: !!binary aGVsbG8=}}\n"
        ),
    );
    let run = bounded(&["validate", path(work.path())], Duration::from_secs(20));
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr.contains("specs.yaml:8:") && run.stderr.contains("YAML tag `!!binary` is not allowed"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_empty_webhook_secret_refuses_to_start() {
    let work = tempfile::tempdir().unwrap();
    let secret = write(work.path(), "hook", "\n");
    let kubeconfig = write(
        work.path(),
        "kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters:\n- name: x\n  cluster: {server: \"http://127.0.0.1:9\"}\nusers:\n- name: x\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: x, user: x, namespace: pullsync-system}\ncurrent-context: x\n",
    );
    let repo = write(work.path(), "repo/specs.yaml", "");
    let run = bounded(
        &[
            "run",
            "--repo",
            path(repo.parent().unwrap()),
            "--kubeconfig",
            path(&kubeconfig),
            "--listen",
            "127.0.0.1:0",
            "--webhook-secret-file",
            path(&secret),
        ],
        Duration::from_secs(20),
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("is empty: anyone could sign a webhook"),
        "{}",
        run.stderr
    );
}

#[test]
fn digests_in_metadata_are_keyed_per_install_and_stable() {
    use sha2::{Digest, Sha256};
    let work = tempfile::tempdir().unwrap();
    let creds = write(work.path(), "creds/c", "hunter2\n");
    let repo = work.path().join("repo");
    write(
        &repo,
        "specs.yaml",
        format!(
            "{HEADER}kind: Credential\nmetadata: {{name: c}}\nspec:\n  file: {{path: \"{}\", key: password}}\n  username: u\n---\n{HEADER}kind: PullSecret\nmetadata: {{name: p}}\nspec:\n  namespaces: [ns]\n  registries: [{{server: r.example.com, credential: c}}]\n",
            path(&creds)
        ),
    );
    let annotations = |out: &Path| {
        let run = bounded(
            &["sync", "--once", "--repo", path(&repo), "--out", path(out)],
            Duration::from_secs(20),
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let text = std::fs::read_to_string(out.join("ns/p.yaml")).unwrap();
        let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        (
            doc["metadata"]["annotations"]["pullsync.dev/content-hash"]
                .as_str()
                .unwrap()
                .to_string(),
            doc["metadata"]["annotations"]["pullsync.dev/credentials"]
                .as_str()
                .unwrap()
                .to_string(),
            run.stdout,
        )
    };
    let (one, out_one) = (work.path().join("one"), work.path().join("two"));
    let (hash_a, creds_a, _) = annotations(&one);
    let (hash_b, creds_b, _) = annotations(&out_one);
    // What a metadata reader could test guesses against before: unsalted SHA-256 digests.
    let guess: String = Sha256::digest(b"hunter2\n")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    for text in [&hash_a, &creds_a, &hash_b, &creds_b] {
        assert!(!text.contains(&guess[..16]), "{text}");
    }
    assert!(hash_a.starts_with("hmac-sha256:"), "{hash_a}");
    assert_ne!(hash_a, hash_b, "a different install, a different key");
    assert_ne!(creds_a, creds_b);
    let (again, _, stdout) = annotations(&one);
    assert_eq!(again, hash_a, "the key is kept: stable across runs");
    assert!(stdout.contains("0 file(s) written, 1 unchanged"), "{stdout}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(one.join(".pullsync-key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_file_source_cannot_read_pullsyncs_own_credentials_or_leave_its_roots() {
    let work = tempfile::tempdir().unwrap();
    // A copy of the test identity (tests/data, a test-only key) placed where a spec can name it.
    let identity = write(
        work.path(),
        "keys/identity.txt",
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/test-identity.txt")).unwrap(),
    );
    let mounted = write(work.path(), "mounted/token", "t0ken\n");
    let outside = write(work.path(), "elsewhere/secret.txt", "canary-outside\n");
    let out = work.path().join("out");
    let sync = |source: &Path, extra: &[&str]| {
        let repo = file_source_repo(work.path(), path(source));
        let mut args = vec!["sync", "--once", "--repo", path(&repo), "--out", path(&out)];
        args.extend(extra);
        bounded(&args, Duration::from_secs(20))
    };
    // Its own age identity: refused even with no roots (local mode) and even under a root.
    let root = work.path().to_str().unwrap();
    for extra in [vec![], vec!["--file-source-root", root]] {
        let mut args = vec!["--age-identity", path(&identity)];
        args.extend(extra);
        let run = sync(&identity, &args);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            run.stderr.contains("pullsync's own credential files"),
            "{}",
            run.stderr
        );
    }
    // With roots, only under them.
    let mounted_root = mounted.parent().unwrap().to_str().unwrap();
    let run = sync(&outside, &["--file-source-root", mounted_root]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("outside every --file-source-root"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("canary-outside"));
    let run = sync(&mounted, &["--file-source-root", mounted_root]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}
