//! Where `file` credential sources may read (pure, apart from resolving links).
//!
//! A `file` source is a path written by whoever can commit a spec. Unchecked, one commit could
//! copy the daemon's own age identity, Vault token or service-account token into a tenant's
//! namespace. So in cluster mode (`sync` to a cluster, `plan`, `run`) a file source must lie
//! under a root the operator names (`--file-source-root`, none by default); on one's own
//! machine (`render`, `sync --out`) anywhere unless roots are given. The daemon's own credential
//! files are refused wherever they are. Paths are compared after resolving links, so a link
//! inside a root cannot point out of it (a Secret volume's `..data` links stay inside it).

use std::path::{Path, PathBuf};

/// Where the service-account token of the pod pullsync runs in is mounted.
const SERVICE_ACCOUNT_DIRS: [&str; 2] = [
    "/var/run/secrets/kubernetes.io/serviceaccount",
    "/run/secrets/kubernetes.io/serviceaccount",
];

#[derive(Debug, Clone, Default)]
pub struct FilePolicy {
    /// `None`: anywhere; `Some`: only under these folders (an empty list allows nothing).
    pub roots: Option<Vec<PathBuf>>,
    /// Files (or folders) never read as a source: the daemon's own credentials.
    pub forbidden: Vec<PathBuf>,
}

/// `path` with every link resolved; a path that does not exist (yet) is kept as written.
fn resolved(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

impl FilePolicy {
    /// The policy for one command: `cluster` mode requires roots.
    pub fn new(roots: &[PathBuf], cluster: bool, own_credentials: impl IntoIterator<Item = PathBuf>) -> Self {
        let roots = (cluster || !roots.is_empty()).then(|| roots.iter().map(|r| resolved(r)).collect());
        let forbidden = own_credentials
            .into_iter()
            .chain(SERVICE_ACCOUNT_DIRS.iter().map(PathBuf::from))
            .map(|p| resolved(&p))
            .collect();
        FilePolicy { roots, forbidden }
    }

    /// Why `path` may not be read, if it may not.
    pub fn check(&self, path: &Path) -> Result<(), String> {
        let real = resolved(path);
        if self.forbidden.iter().any(|f| real.starts_with(f)) {
            return Err("is one of pullsync's own credential files; it is never read as a source".into());
        }
        match &self.roots {
            None => Ok(()),
            Some(roots) if roots.iter().any(|r| real.starts_with(r)) => Ok(()),
            Some(roots) if roots.is_empty() => Err(
                "file sources are off in cluster mode until the operator names where they may read: pass --file-source-root DIR (e.g. the mount path of a Secret volume)".into(),
            ),
            Some(roots) => Err(format!(
                "is outside every --file-source-root ({})",
                roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_links_and_own_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("mounted");
        std::fs::create_dir_all(root.join("..data")).unwrap();
        std::fs::write(root.join("..data/token"), "t").unwrap();
        std::os::unix::fs::symlink("..data/token", root.join("token")).unwrap();
        let identity = dir.path().join("identity.txt");
        std::fs::write(&identity, "k").unwrap();
        std::os::unix::fs::symlink(&identity, root.join("sneaky")).unwrap();
        let outside = dir.path().join("other.txt");
        std::fs::write(&outside, "o").unwrap();

        let cluster = FilePolicy::new(std::slice::from_ref(&root), true, [identity.clone()]);
        assert!(
            cluster.check(&root.join("token")).is_ok(),
            "a Secret volume's links stay inside"
        );
        assert!(
            cluster
                .check(&outside)
                .unwrap_err()
                .contains("outside every --file-source-root")
        );
        assert!(
            cluster
                .check(&root.join("sneaky"))
                .unwrap_err()
                .contains("own credential")
        );
        assert!(cluster.check(&identity).unwrap_err().contains("own credential"));

        let none = FilePolicy::new(&[], true, []);
        assert!(
            none.check(&outside)
                .unwrap_err()
                .contains("--file-source-root DIR")
        );
        let local = FilePolicy::new(&[], false, [identity.clone()]);
        assert!(local.check(&outside).is_ok(), "on one's own machine: anywhere");
        assert!(local.check(&identity).is_err(), "but never the identity");
        assert!(
            local
                .check(Path::new("/var/run/secrets/kubernetes.io/serviceaccount/token"))
                .is_err()
        );
    }
}
