//! The loaded specs, grouped by kind, each with where it came from (pure data).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::diag::Position;
use super::locate::PathIndex;
use super::model::{CredentialSpec, DefaultsSpec, PullSecretSpec, SecretSpec, TenantSpec};

/// Where a document was read from, and an index to point at any node in it.
#[derive(Debug, Clone)]
pub struct Origin {
    /// Relative to the spec root.
    pub file: PathBuf,
    pub index: PathIndex,
}

impl Origin {
    /// Position of the value at `path` (or its nearest parent).
    pub fn at(&self, path: &str) -> Position {
        let at = self.index.value_or_parent(path);
        Position {
            file: self.file.clone(),
            line: at.line,
            column: at.column,
        }
    }

    /// Position of the key at `path` (or its value, or its nearest parent).
    pub fn key_at(&self, path: &str) -> Position {
        match self.index.key(path) {
            Some(at) => Position {
                file: self.file.clone(),
                line: at.line,
                column: at.column,
            },
            None => self.at(path),
        }
    }

    /// Position of the document itself.
    pub fn start(&self) -> Position {
        Position {
            file: self.file.clone(),
            line: self.index.start.line,
            column: self.index.start.column,
        }
    }

    /// `file#Kind/name`, the value of the spec-location annotation.
    pub fn annotation(&self, kind: &str, name: &str) -> String {
        format!("{}#{kind}/{name}", self.file.display())
    }
}

#[derive(Debug, Clone)]
pub struct Object<S> {
    pub kind: &'static str,
    pub name: String,
    /// Only `Defaults` may carry one.
    pub namespace: Option<String>,
    pub spec: S,
    pub origin: Origin,
}

impl<S> Object<S> {
    /// `Kind/name`, as diagnostics name objects.
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub root: PathBuf,
    pub credentials: Vec<Object<CredentialSpec>>,
    pub pull_secrets: Vec<Object<PullSecretSpec>>,
    pub secrets: Vec<Object<SecretSpec>>,
    pub defaults: Vec<Object<DefaultsSpec>>,
    pub tenants: Vec<Object<TenantSpec>>,
    /// Every regular file under the root (relative), for checking `ageFile` paths.
    pub files: BTreeSet<PathBuf>,
    /// Digest of every file under the root: the revision when no Git commit is known.
    pub fingerprint: String,
}

impl Catalog {
    pub fn credential(&self, name: &str) -> Option<&Object<CredentialSpec>> {
        self.credentials.iter().find(|c| c.name == name)
    }

    /// `names` and the credentials they are exchanged from.
    pub fn with_dependencies<'a>(&'a self, names: &BTreeSet<&'a str>) -> BTreeSet<&'a str> {
        let mut out = names.clone();
        for name in names {
            if let Some(dep) = self.credential(name).and_then(|c| c.spec.exchanged_from()) {
                out.insert(dep);
            }
        }
        out
    }

    /// Absolute path of a repository-relative file.
    pub fn path(&self, relative: &Path) -> PathBuf {
        self.root.join(relative)
    }
}
