//! The directory sink: `OUT/<namespace>/<name>.yaml` (and optionally `OUT/<namespace>/auth.json`)
//! written atomically with mode 0600, stale files of earlier runs removed (effect).
//!
//! A file is pullsync's when its manifest carries pullsync's ownership label with this
//! instance id (Secret manifests), or, for `<namespace>/auth.json` only, when the state file
//! lists it: the state file is never trusted with any other path, since whoever can write into
//! OUT can forge it. Nothing else is ever overwritten or deleted. Secrets that failed to render
//! keep whatever file they had. Symbolic links below OUT are never followed: a namespace
//! folder that is a link is refused, and a file that is a link is replaced, not written through.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::render::{
    DOCKER_CONFIG_JSON_KEY, LABEL_INSTANCE, LABEL_MANAGED_BY, MANAGED_BY_VALUE, RenderOutcome, manifest,
};

const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;
const STATE_FILE: &str = ".pullsync-state.json";
/// The install's digest key (see `render::digest`), beside the state file.
const KEY_FILE: &str = ".pullsync-key";
const AUTH_JSON: &str = "auth.json";

#[derive(Debug, Clone)]
pub struct DirOptions {
    pub out: PathBuf,
    pub instance: String,
    /// Also write a podman/skopeo/docker `auth.json` per namespace.
    pub auth_json: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct DirReport {
    pub written: Vec<PathBuf>,
    pub unchanged: Vec<PathBuf>,
    pub removed: Vec<PathBuf>,
    /// Files left as they were because their secret failed to render.
    pub kept: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteFilesError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot remove {path}: {source}")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is a symbolic link; pullsync writes only into real folders inside the output folder (remove the link)"
    )]
    Symlink { path: PathBuf },
    #[error("output path {path} is not usable: {source}")]
    Out {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    instance: String,
    files: BTreeSet<PathBuf>,
}

#[derive(Deserialize)]
struct OwnerProbe {
    metadata: OwnerProbeMeta,
}

#[derive(Deserialize)]
struct OwnerProbeMeta {
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Write the outcome into `options.out`.
pub fn sync(outcome: &RenderOutcome, options: &DirOptions) -> Result<DirReport, WriteFilesError> {
    let out = &options.out;
    create_dir(out, out)?;
    let mut report = DirReport::default();
    let wanted = plan_files(outcome, options, &mut report);
    let keep: BTreeSet<PathBuf> = outcome
        .failed
        .iter()
        .flat_map(|f| {
            let ns = PathBuf::from(&f.namespace);
            [ns.join(format!("{}.yaml", f.name)), ns.join(AUTH_JSON)]
        })
        .collect();
    let mut owned = owned_manifests(out, &options.instance)?;
    for (relative, content) in &wanted {
        let path = out.join(relative);
        if read_no_follow(&path).is_some_and(|existing| existing == content.as_bytes()) {
            report.unchanged.push(relative.clone());
            continue;
        }
        if let Some(parent) = path.parent() {
            create_dir(parent, out)?;
        }
        write_atomic(&path, content.as_bytes())?;
        report.written.push(relative.clone());
    }
    let state_path = out.join(STATE_FILE);
    let previous: State = read_no_follow(&state_path)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|s: &State| s.instance == options.instance)
        .unwrap_or_default();
    // From the state file only what a manifest cannot prove: `<namespace>/auth.json`.
    owned.extend(previous.files.iter().filter(|p| is_auth_json_path(p)).cloned());
    for relative in owned {
        if wanted.contains_key(&relative) {
            continue;
        }
        if keep.contains(&relative) {
            report.kept.push(relative);
            continue;
        }
        let path = out.join(&relative);
        if path
            .parent()
            .is_some_and(|p| p.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()))
        {
            return Err(WriteFilesError::Symlink {
                path: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            });
        }
        match fs::remove_file(&path) {
            Ok(()) => report.removed.push(relative),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(WriteFilesError::Remove { path, source }),
        }
        if let Some(parent) = path.parent() {
            // Only succeeds when the namespace folder is now empty.
            let _ = fs::remove_dir(parent);
        }
    }
    let state = State {
        instance: options.instance.clone(),
        files: wanted
            .keys()
            .cloned()
            .chain(report.kept.iter().cloned())
            .collect(),
    };
    let state_json = serde_json::to_vec_pretty(&state).unwrap_or_default();
    write_atomic(&state_path, &state_json)?;
    Ok(report)
}

/// The digest key kept in OUT, made on first use (0600, never through a link).
pub fn digest_key(out: &Path) -> Result<crate::value::digest::DigestKey, WriteFilesError> {
    use crate::value::digest::DigestKey;
    let path = out.join(KEY_FILE);
    if let Some(key) = read_no_follow(&path).and_then(|b| DigestKey::from_bytes(&b)) {
        return Ok(key);
    }
    create_dir(out, out)?;
    let key = DigestKey::generate();
    write_atomic(&path, key.expose())?;
    Ok(key)
}

/// Relative path → file content, for everything that rendered.
fn plan_files(
    outcome: &RenderOutcome,
    options: &DirOptions,
    report: &mut DirReport,
) -> BTreeMap<PathBuf, String> {
    let mut files = BTreeMap::new();
    let failed_namespaces: BTreeSet<&str> = outcome.failed.iter().map(|f| f.namespace.as_str()).collect();
    let mut auths: BTreeMap<&str, serde_json::Map<String, serde_json::Value>> = BTreeMap::new();
    let mut owners: BTreeMap<(&str, String), &str> = BTreeMap::new();
    for rendered in &outcome.rendered {
        let ns = PathBuf::from(&rendered.namespace);
        files.insert(
            ns.join(format!("{}.yaml", rendered.name)),
            manifest::to_yaml(rendered, true),
        );
        if !options.auth_json {
            continue;
        }
        let Some(config) = rendered.data.get(DOCKER_CONFIG_JSON_KEY) else {
            continue;
        };
        let parsed: serde_json::Value = serde_json::from_str(config.expose()).unwrap_or_default();
        let merged = auths.entry(rendered.namespace.as_str()).or_default();
        if let Some(entries) = parsed.get("auths").and_then(|a| a.as_object()) {
            for (server, entry) in entries {
                if let Some(first) = owners.get(&(rendered.namespace.as_str(), server.clone())) {
                    report.warnings.push(format!(
                        "{}/{AUTH_JSON}: registry `{server}` appears in more than one pull secret; the one in `{}` (first by name) is used",
                        rendered.namespace, first
                    ));
                    continue;
                }
                owners.insert(
                    (rendered.namespace.as_str(), server.clone()),
                    rendered.name.as_str(),
                );
                merged.insert(server.clone(), entry.clone());
            }
        }
    }
    for (namespace, entries) in auths {
        // A partial auth.json would silently drop a registry: keep the old one instead.
        if failed_namespaces.contains(namespace) {
            continue;
        }
        let doc = serde_json::json!({ "auths": entries });
        let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        text.push('\n');
        files.insert(PathBuf::from(namespace).join(AUTH_JSON), text);
    }
    files
}

/// `<namespace>/auth.json` and nothing else: two plain components, no `..`, not absolute.
fn is_auth_json_path(path: &Path) -> bool {
    use std::path::Component;
    let parts: Vec<Component<'_>> = path.components().collect();
    matches!(parts.as_slice(), [Component::Normal(ns), Component::Normal(file)]
        if *file == AUTH_JSON && crate::spec::names::dns1123_label(&ns.to_string_lossy()).is_ok())
}

/// A regular file's bytes, without following a symbolic link; `None` for anything else.
fn read_no_follow(path: &Path) -> Option<Vec<u8>> {
    let meta = path.symlink_metadata().ok()?;
    if !meta.file_type().is_file() {
        return None;
    }
    crate::bounded::read_regular(path, crate::bounded::MAX_SMALL_FILE).ok()
}

/// Secret manifests under `out/*/` that carry this instance's ownership label. A namespace
/// folder that is a symbolic link is refused: writes and prunes would land outside OUT.
fn owned_manifests(out: &Path, instance: &str) -> Result<BTreeSet<PathBuf>, WriteFilesError> {
    let mut owned = BTreeSet::new();
    let Ok(namespaces) = fs::read_dir(out) else {
        return Ok(owned);
    };
    for ns in namespaces.filter_map(Result::ok) {
        let Ok(kind) = ns.file_type() else { continue };
        if kind.is_symlink() {
            return Err(WriteFilesError::Symlink { path: ns.path() });
        }
        if !kind.is_dir() {
            continue;
        }
        let Ok(files) = fs::read_dir(ns.path()) else {
            continue;
        };
        for file in files.filter_map(Result::ok) {
            let path = file.path();
            if path.extension().and_then(|e| e.to_str()) != Some("yaml")
                || !file.file_type().is_ok_and(|t| t.is_file())
            {
                continue;
            }
            let Some(text) = read_no_follow(&path).and_then(|b| String::from_utf8(b).ok()) else {
                continue;
            };
            let Ok(probe) = serde_saphyr::from_str::<OwnerProbe>(&text) else {
                continue;
            };
            let labels = probe.metadata.labels;
            if labels.get(LABEL_MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE)
                && labels.get(LABEL_INSTANCE).map(String::as_str) == Some(instance)
            {
                owned.insert(PathBuf::from(ns.file_name()).join(file.file_name()));
            }
        }
    }
    Ok(owned)
}

/// Make a folder inside OUT; OUT itself may be a link the operator made, nothing below it.
fn create_dir(path: &Path, out: &Path) -> Result<(), WriteFilesError> {
    let out_error = |source| WriteFilesError::Out {
        path: path.to_path_buf(),
        source,
    };
    match path.symlink_metadata() {
        Ok(meta) if meta.file_type().is_symlink() && path != out => Err(WriteFilesError::Symlink {
            path: path.to_path_buf(),
        }),
        Ok(_) => Ok(()),
        Err(_) => {
            fs::create_dir_all(path).map_err(out_error)?;
            fs::set_permissions(path, fs::Permissions::from_mode(DIR_MODE)).map_err(out_error)
        }
    }
}

/// An unpredictable suffix for a temporary file: the std hasher's per-process random keys
/// mixed with a counter and the clock.
fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{:016x}", hasher.finish())
}

/// Write to a temporary file in the same folder, flush it to disk, then rename over the
/// target: a reader sees the old file or the new one, never half of one.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteFilesError> {
    let write_error = |source| WriteFilesError::Write {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", random_suffix()));
    let result = (|| {
        // `create_new` is O_EXCL: a link planted at the name fails here instead of being followed.
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&tmp)?;
        // `mode` applies only when the file is created; make sure of it either way.
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(write_error)
}
