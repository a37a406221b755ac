//! Where the control plane's binaries are and how its processes run: built by
//! `scripts/setup-test-tools.sh` from `tests/controlplane/` into a cache folder keyed by that Go
//! module's `go.mod` and `go.sum`, started on loopback, and stopped by their own PIDs (also when
//! the test process dies: the kernel sends them SIGKILL then).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The folder holding `kube-apiserver` and `etcd`: `PULLSYNC_CONTROLPLANE_BIN`, or the cache
/// folder the setup script builds into (same key computed here and there).
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PULLSYNC_CONTROLPLANE_BIN") {
        return PathBuf::from(dir);
    }
    cached_build("controlplane", "tests/controlplane", &["go.mod", "go.sum"])
}

/// Where scripts/setup-test-tools.sh puts what it builds from the Go module `module` (relative
/// to the crate): `$XDG_CACHE_HOME/pullsync/KIND/KEY`, the key the first 12 hex digits of the
/// SHA-256 of `files` concatenated (the script computes the same).
pub fn cached_build(kind: &str, module: &str, files: &[&str]) -> PathBuf {
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join(module);
    let mut bytes = Vec::new();
    for file in files {
        bytes.extend(std::fs::read(module.join(file)).unwrap());
    }
    use sha2::Digest;
    let key: String = sha2::Sha256::digest(&bytes)
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    let cache = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
    cache.join("pullsync").join(kind).join(key)
}

pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup-test-tools.sh, which builds the control plane",
        path.display()
    );
    path
}

/// A loopback port nobody listens on right now (the caller retries if it is taken by then).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process whose output goes to `log`, killed by PID when dropped.
pub struct Process {
    pub child: Child,
    pub log: PathBuf,
}

impl Process {
    pub fn start(program: &Path, args: &[String], log: PathBuf) -> Process {
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        die_with_parent(&mut command);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        Process { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited (and then the end of its log, for the failure message).
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                let text = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                Some(format!(
                    "{status}; last lines of {}:\n{}",
                    self.log.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ))
            }
            _ => None,
        }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Ask the kernel to SIGKILL the child when the thread that started it ends, so a test killed
/// by a timeout leaves no API server behind.
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}
