//! Git remotes as spec sources (effect, blocking: call from `spawn_blocking`).
//!
//! A cache folder holds one clone; each `sync` fetches the configured branch, tag or commit
//! with a forced refspec (force-pushes and rewritten history just move the pointer) and, when
//! the commit is new, checks its tree out into a [`Snapshot`]: a folder of its own beside the
//! cache, never written again, removed when the last holder drops it. A sync reads one
//! snapshot from start to end, so it never sees a mix of two commits, and a fetch never deletes
//! files under a running sync. The cache survives restarts (no full re-clone); a cache that
//! cannot be opened or fetched into is deleted and cloned again.

use std::path::{Path, PathBuf};

use base64::Engine;

use crate::signing::{AllowedSigners, VerifyMode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    Branch(String),
    Tag(String),
    Commit(String),
}

impl GitRef {
    /// `refs/heads/main`, `refs/tags/v1`, a 40-hex commit, or a bare branch name.
    pub fn parse(text: &str) -> GitRef {
        if let Some(tag) = text.strip_prefix("refs/tags/") {
            GitRef::Tag(tag.into())
        } else if let Some(branch) = text.strip_prefix("refs/heads/") {
            GitRef::Branch(branch.into())
        } else if text.len() == 40 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            GitRef::Commit(text.into())
        } else {
            GitRef::Branch(text.into())
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct GitAuth {
    /// HTTPS: a token (sent as the password, user `git`) read from a file at each fetch.
    pub token_file: Option<PathBuf>,
    /// SSH: a deploy key.
    pub ssh_key: Option<PathBuf>,
    /// SSH: known_hosts to check the server key against (on by default through libgit2's own
    /// `~/.ssh/known_hosts` check when not given).
    pub known_hosts: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct GitSource {
    pub url: String,
    pub reference: GitRef,
    /// Spec root inside the repository.
    pub subpath: PathBuf,
    pub cache: PathBuf,
    pub auth: GitAuth,
    /// Apply only signed commits/tags: what must be signed, and the allowed-signers file
    /// (read at every fetch, so a rotated ConfigMap takes effect without a restart).
    pub verify: Option<(VerifyMode, PathBuf)>,
}

/// One commit's files, checked out once and never changed; the folder goes with the value.
#[derive(Debug)]
pub struct Snapshot {
    pub commit: String,
    /// What the ref pointed at: the commit, or an annotated tag object (re-signing a tag
    /// changes this, not the commit).
    pub fetched: String,
    /// Where the specs are: the snapshot folder plus the sub-path.
    pub root: PathBuf,
    dir: PathBuf,
    /// Why this commit may not be applied (signature verification); nothing is checked out.
    pub untrusted: Option<String>,
    /// Who signed it, when verification is on and passed.
    pub signed_by: Option<String>,
}

impl Drop for Snapshot {
    /// The last `Arc` may die on a runtime thread (the daemon's sync loop): a checkout of
    /// thousands of files is then removed on a blocking thread, not on the runtime.
    fn drop(&mut self) {
        let dir = std::mem::take(&mut self.dir);
        let remove = move || {
            if let Err(error) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), %error, "could not remove an old snapshot");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(remove)),
            Err(_) => remove(),
        }
    }
}

/// Where snapshots live: beside the cache (a rebuilt cache must not take live snapshots along).
pub fn snapshots_dir(source: &GitSource) -> PathBuf {
    let mut name = source.cache.file_name().unwrap_or_default().to_os_string();
    name.push(".snapshots");
    source.cache.with_file_name(name)
}

/// Remove snapshots a previous process left behind (none is in use at start).
pub fn clear_snapshots(source: &GitSource) {
    let _ = std::fs::remove_dir_all(snapshots_dir(source));
}

#[derive(Debug, thiserror::Error)]
pub enum FetchSpecsError {
    #[error("git fetch of {url} failed: {reason}")]
    Fetch {
        url: String,
        reason: String,
        network: bool,
    },
    #[error("{what} not found in {url}")]
    NotFound { url: String, what: String },
    #[error("cannot prepare the git cache {path}: {reason}")]
    Cache { path: PathBuf, reason: String },
    #[error("--allowed-signers {path}: {reason}")]
    Signers { path: PathBuf, reason: String },
}

fn callbacks(auth: &GitAuth) -> git2::RemoteCallbacks<'_> {
    let mut callbacks = git2::RemoteCallbacks::new();
    callbacks.credentials(move |_url, username, allowed| {
        if allowed.contains(git2::CredentialType::SSH_KEY)
            && let Some(key) = &auth.ssh_key
        {
            return git2::Cred::ssh_key(username.unwrap_or("git"), None, key, None);
        }
        if allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT)
            && let Some(file) = &auth.token_file
        {
            let token = std::fs::read_to_string(file)
                .map_err(|e| git2::Error::from_str(&format!("cannot read the git token file: {e}")))?;
            return git2::Cred::userpass_plaintext("git", token.trim());
        }
        Err(git2::Error::from_str(
            "the remote asks for credentials and none are configured",
        ))
    });
    if let Some(known_hosts) = auth.known_hosts.clone() {
        callbacks.certificate_check(move |cert, host| {
            let Some(hostkey) = cert.as_hostkey().and_then(|k| k.hostkey()) else {
                return Ok(git2::CertificateCheckStatus::CertificatePassthrough);
            };
            let key = base64::engine::general_purpose::STANDARD.encode(hostkey);
            let known = std::fs::read_to_string(&known_hosts).unwrap_or_default();
            let trusted = known.lines().any(|line| {
                let mut parts = line.split_whitespace();
                let hosts = parts.next().unwrap_or_default();
                let _kind = parts.next();
                hosts
                    .split(',')
                    .any(|h| h == host || h.trim_start_matches('[').split(']').next() == Some(host))
                    && parts.next() == Some(key.as_str())
            });
            if trusted {
                Ok(git2::CertificateCheckStatus::CertificateOk)
            } else {
                Err(git2::Error::from_str(&format!(
                    "host key of {host} is not in the known_hosts file"
                )))
            }
        });
    }
    callbacks
}

fn open_or_init(cache: &Path, url: &str) -> Result<git2::Repository, git2::Error> {
    let repo = match git2::Repository::open(cache) {
        Ok(repo) => repo,
        Err(_) => git2::Repository::init(cache)?,
    };
    match repo.find_remote("origin") {
        Ok(remote) if remote.url().ok() == Some(url) => {}
        Ok(_) => repo.remote_set_url("origin", url)?,
        Err(_) => {
            repo.remote("origin", url)?;
        }
    }
    Ok(repo)
}

fn fetch_and_checkout(
    source: &GitSource,
    current: Option<&str>,
) -> Result<Option<Snapshot>, FetchSpecsError> {
    let fetch_err = |e: git2::Error| FetchSpecsError::Fetch {
        url: source.url.clone(),
        reason: e.message().to_string(),
        network: matches!(
            e.class(),
            git2::ErrorClass::Net | git2::ErrorClass::Http | git2::ErrorClass::Ssh | git2::ErrorClass::Ssl
        ),
    };
    std::fs::create_dir_all(&source.cache).map_err(|e| FetchSpecsError::Cache {
        path: source.cache.clone(),
        reason: e.to_string(),
    })?;
    let repo = open_or_init(&source.cache, &source.url).map_err(fetch_err)?;
    let mut remote = repo.find_remote("origin").map_err(fetch_err)?;
    let (refspec, local) = match &source.reference {
        GitRef::Branch(b) => (
            format!("+refs/heads/{b}:refs/remotes/origin/{b}"),
            format!("refs/remotes/origin/{b}"),
        ),
        GitRef::Tag(t) => (format!("+refs/tags/{t}:refs/tags/{t}"), format!("refs/tags/{t}")),
        // A pinned commit: fetch everything reachable from the branches, then find it.
        GitRef::Commit(c) => ("+refs/heads/*:refs/remotes/origin/*".to_string(), c.clone()),
    };
    let mut options = git2::FetchOptions::new();
    options.remote_callbacks(callbacks(&source.auth));
    options.download_tags(git2::AutotagOption::None);
    remote
        .fetch(&[refspec.as_str()], Some(&mut options), None)
        .map_err(fetch_err)?;
    let target = match &source.reference {
        GitRef::Commit(c) => git2::Oid::from_str(c).map_err(fetch_err)?,
        _ => repo
            .refname_to_id(&local)
            .map_err(|_| FetchSpecsError::NotFound {
                url: source.url.clone(),
                what: local.clone(),
            })?,
    };
    // An annotated tag points at a tag object; the specs are its commit.
    let commit = repo
        .find_object(target, None)
        .and_then(|o| o.peel_to_commit())
        .map_err(|_| FetchSpecsError::NotFound {
            url: source.url.clone(),
            what: format!("commit {target}"),
        })?;
    let oid = commit.id();
    let commit_id = oid.to_string();
    if current == Some(target.to_string().as_str()) {
        return Ok(None);
    }
    let cache_error = |path: &Path, e: std::io::Error| FetchSpecsError::Cache {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let parent = snapshots_dir(source);
    std::fs::create_dir_all(&parent).map_err(|e| cache_error(&parent, e))?;
    // A fresh folder even for a commit seen before (the old one may still be in use).
    let dir = (0u32..)
        .map(|n| parent.join(format!("{commit_id}.{n}")))
        .find(|d| !d.exists())
        .unwrap_or_else(|| parent.join(&commit_id));
    std::fs::create_dir(&dir).map_err(|e| cache_error(&dir, e))?;
    let (signed_by, untrusted) = match &source.verify {
        None => (None, None),
        Some((mode, file)) => match verify(&repo, *mode, target, &commit, file)? {
            Ok(who) => (Some(who), None),
            Err(why) => (None, Some(why.to_string())),
        },
    };
    let snapshot = Snapshot {
        commit: commit_id,
        fetched: target.to_string(),
        root: dir.join(&source.subpath),
        dir: dir.clone(),
        untrusted,
        signed_by,
    };
    if snapshot.untrusted.is_some() {
        // Not one file of an untrusted commit reaches the disk.
        return Ok(Some(snapshot));
    }
    let mut checkout = git2::build::CheckoutBuilder::new();
    checkout.force().target_dir(&dir).update_index(false);
    repo.checkout_tree(commit.as_object(), Some(&mut checkout))
        .map_err(fetch_err)?;
    Ok(Some(snapshot))
}

/// Check the signature(s) `mode` asks for; `Ok(Err)`: the commit must not be applied.
fn verify(
    repo: &git2::Repository,
    mode: VerifyMode,
    target: git2::Oid,
    commit: &git2::Commit<'_>,
    file: &Path,
) -> Result<Result<String, crate::signing::VerifySignatureError>, FetchSpecsError> {
    use crate::signing::VerifySignatureError;
    let signers_error = |reason: String| FetchSpecsError::Signers {
        path: file.to_path_buf(),
        reason,
    };
    let text = crate::bounded::read_text(file, crate::bounded::MAX_SMALL_FILE)
        .map_err(|e| signers_error(e.to_string()))?;
    let signers = AllowedSigners::parse(&text).map_err(|e| signers_error(e.to_string()))?;
    let time = commit.committer().when().seconds();
    let mut who = Vec::new();
    if matches!(mode, VerifyMode::Tag | VerifyMode::Both) {
        let id = target.to_string();
        let odb = repo.odb().map_err(|e| signers_error(e.message().to_string()))?;
        let Ok(object) = odb.read(target) else {
            return Ok(Err(VerifySignatureError::Unsigned { what: "tag", id }));
        };
        if object.kind() != git2::ObjectType::Tag {
            // A lightweight tag (or a branch) has no tag object to carry a signature.
            return Ok(Err(VerifySignatureError::Unsigned { what: "tag", id }));
        }
        let data = object.data();
        let start = [
            b"-----BEGIN SSH SIGNATURE-----".as_slice(),
            b"-----BEGIN PGP SIGNATURE-----",
        ]
        .iter()
        .filter_map(|marker| data.windows(marker.len()).position(|w| w == *marker))
        .min();
        let Some(start) = start else {
            return Ok(Err(VerifySignatureError::Unsigned { what: "tag", id }));
        };
        match signers.verify("tag", &id, &data[start..], &data[..start], time) {
            Ok(principal) => who.push(principal),
            Err(e) => return Ok(Err(e)),
        }
    }
    if matches!(mode, VerifyMode::Head | VerifyMode::Both) {
        let id = commit.id().to_string();
        let Ok((signature, signed)) = repo.extract_signature(&commit.id(), None) else {
            return Ok(Err(VerifySignatureError::Unsigned { what: "commit", id }));
        };
        match signers.verify("commit", &id, &signature, &signed, time) {
            Ok(principal) => who.push(principal),
            Err(e) => return Ok(Err(e)),
        }
    }
    who.dedup();
    Ok(Ok(who.join(", ")))
}

/// Fetch; when what the ref points at differs from `current` (a [`Snapshot::fetched`]), a new snapshot of it (`None`: unchanged).
/// When the failure is not the network's (a damaged cache, a missing object), rebuild the
/// cache once.
pub fn sync(source: &GitSource, current: Option<&str>) -> Result<Option<Snapshot>, FetchSpecsError> {
    match fetch_and_checkout(source, current) {
        Ok(snapshot) => Ok(snapshot),
        Err(error @ FetchSpecsError::Fetch { network: true, .. }) => Err(error),
        Err(first) => {
            tracing::warn!(cache = %source.cache.display(), error = %first, "rebuilding the git cache");
            let _ = std::fs::remove_dir_all(&source.cache);
            fetch_and_checkout(source, current)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(GitRef::parse("main"), GitRef::Branch("main".into()));
        assert_eq!(GitRef::parse("refs/tags/v1.2"), GitRef::Tag("v1.2".into()));
        assert_eq!(GitRef::parse(&"a".repeat(40)), GitRef::Commit("a".repeat(40)));
    }
}
