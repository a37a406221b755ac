//! The `file` source: a file or directory outside the repository, e.g. a mounted Secret volume
//! (effect: reads the file system).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::file_policy::FilePolicy;
use super::{CredentialValue, FetchCredentialError, value_map};
use crate::spec::model::FileSource;
use crate::value::secret::SecretValue;

/// Keep exactly what the file holds, minus one trailing newline: `echo token > file` and
/// `kubectl create secret --from-file` both leave one, and no registry password ends in one.
fn strip_newline(text: &str) -> &str {
    text.strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text)
}

/// A Secret volume holds a handful of keys; a folder with more is not one.
const MAX_KEYS: usize = 256;

/// A regular file (or a link to one, as in a Secret volume) of bounded size: never a FIFO or
/// a device, which would block or flood the process.
fn read(path: &Path) -> Result<String, FetchCredentialError> {
    crate::bounded::read_text(path, crate::bounded::MAX_SMALL_FILE).map_err(|source| {
        FetchCredentialError::Read {
            path: path.to_path_buf(),
            source,
        }
    })
}

pub fn fetch(spec: &FileSource, policy: &FilePolicy) -> Result<CredentialValue, FetchCredentialError> {
    let path = PathBuf::from(&spec.path);
    let allowed = |p: &Path| {
        policy
            .check(p)
            .map_err(|reason| FetchCredentialError::FileNotAllowed {
                path: p.to_path_buf(),
                reason,
            })
    };
    allowed(&path)?;
    let read_error = |source| FetchCredentialError::Read {
        path: path.clone(),
        source,
    };
    let meta = fs::metadata(&path).map_err(read_error)?;
    let mut fields = BTreeMap::new();
    let mut digest = Sha256::new();
    if meta.is_dir() {
        // A Secret volume: one file per key, plus `..data` links that start with a dot.
        let mut entries: Vec<_> = fs::read_dir(&path)
            .map_err(read_error)?
            .filter_map(Result::ok)
            .collect();
        entries.retain(|e| !e.file_name().to_string_lossy().starts_with('.'));
        if entries.len() > MAX_KEYS {
            return Err(FetchCredentialError::ParseValues {
                path,
                reason: format!(
                    "directory holds {} files; a Secret volume has at most {MAX_KEYS}",
                    entries.len()
                ),
            });
        }
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.path().is_file() {
                continue;
            }
            allowed(&entry.path())?;
            let text = read(&entry.path())?;
            digest.update(name.as_bytes());
            digest.update([0]);
            digest.update(text.as_bytes());
            fields.insert(name, SecretValue::new(strip_newline(&text)));
        }
        if fields.is_empty() {
            return Err(FetchCredentialError::ParseValues {
                path,
                reason: "directory holds no files".into(),
            });
        }
    } else {
        let text = read(&path)?;
        digest.update(text.as_bytes());
        match &spec.key {
            Some(key) => {
                fields.insert(key.clone(), SecretValue::new(strip_newline(&text)));
            }
            None => {
                fields = value_map::parse(&text).map_err(|reason| FetchCredentialError::ParseValues {
                    path: path.clone(),
                    reason,
                })?;
            }
        }
    }
    let version = super::short_version(&digest.finalize());
    Ok(CredentialValue {
        fields,
        version,
        expires_at: None,
        origin: format!("file {}", path.display()),
    })
}
