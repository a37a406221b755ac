//! The loaded specs, grouped by kind, each with where it came from (pure data).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::diag::Position;
use super::locate::{LineCol, PathIndex};
use super::model::{CredentialSpec, DefaultsSpec, PullSecretSpec, SecretSpec, TenantSpec};

/// Where a document was read from, and how to point at any node in it. The index of every
/// node's position is built from the document's text the first time a position inside it is
/// asked for (a diagnostic, a layered value), not for each of a large repository's documents:
/// it was a quarter of the memory of 100,000 documents (#24).
#[derive(Debug, Clone)]
pub struct Origin {
    /// Relative to the spec root.
    pub file: PathBuf,
    /// Where the document's first node starts.
    pub start: LineCol,
    /// The document's own text, and how many lines of its file come before it.
    text: Arc<str>,
    offset: usize,
    index: OnceLock<Arc<PathIndex>>,
}

impl Origin {
    /// A document read from `file`, `offset` lines into it; `index` when one was built already.
    pub fn new(
        file: PathBuf,
        start: LineCol,
        text: Arc<str>,
        offset: usize,
        index: Option<PathIndex>,
    ) -> Origin {
        let cell = OnceLock::new();
        if let Some(index) = index {
            let _ = cell.set(Arc::new(index));
        }
        Origin {
            file,
            start,
            text,
            offset,
            index: cell,
        }
    }

    /// Positions of every node (built on first use).
    pub fn index(&self) -> &PathIndex {
        self.index.get_or_init(|| {
            let mut index = PathIndex::build(&self.text);
            index.shift(self.offset);
            Arc::new(index)
        })
    }

    /// Position of the value at `path` (or its nearest parent).
    pub fn at(&self, path: &str) -> Position {
        let at = self.index().value_or_parent(path);
        Position {
            file: self.file.clone(),
            line: at.line,
            column: at.column,
        }
    }

    /// Position of the key at `path` (or its value, or its nearest parent).
    pub fn key_at(&self, path: &str) -> Position {
        match self.index().key(path) {
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
            line: self.start.line,
            column: self.start.column,
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
