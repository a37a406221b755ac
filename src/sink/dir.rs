//! The directory sink: `OUT/<namespace>/<name>.yaml` (and optionally `OUT/<namespace>/auth.json`)
//! written atomically with mode 0600, stale files of earlier runs removed (effect).
//!
//! A file is pullsync's when its manifest carries pullsync's ownership label with this
//! instance id (Secret manifests), or when the state file lists it (`auth.json`). Nothing else
//! is ever overwritten or deleted. Secrets that failed to render keep whatever file they had.

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
    create_dir(out)?;
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
    for (relative, content) in &wanted {
        let path = out.join(relative);
        if fs::read(&path).is_ok_and(|existing| existing == content.as_bytes()) {
            report.unchanged.push(relative.clone());
            continue;
        }
        if let Some(parent) = path.parent() {
            create_dir(parent)?;
        }
        write_atomic(&path, content.as_bytes())?;
        report.written.push(relative.clone());
    }
    let state_path = out.join(STATE_FILE);
    let previous: State = fs::read(&state_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|s: &State| s.instance == options.instance)
        .unwrap_or_default();
    let mut owned = owned_manifests(out, &options.instance);
    owned.extend(previous.files.iter().cloned());
    for relative in owned {
        if wanted.contains_key(&relative) {
            continue;
        }
        if keep.contains(&relative) {
            report.kept.push(relative);
            continue;
        }
        let path = out.join(&relative);
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

/// Secret manifests under `out/*/` that carry this instance's ownership label.
fn owned_manifests(out: &Path, instance: &str) -> BTreeSet<PathBuf> {
    let mut owned = BTreeSet::new();
    let Ok(namespaces) = fs::read_dir(out) else {
        return owned;
    };
    for ns in namespaces.filter_map(Result::ok) {
        if !ns.path().is_dir() {
            continue;
        }
        let Ok(files) = fs::read_dir(ns.path()) else {
            continue;
        };
        for file in files.filter_map(Result::ok) {
            let path = file.path();
            if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
                continue;
            }
            let Ok(text) = fs::read_to_string(&path) else {
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
    owned
}

fn create_dir(path: &Path) -> Result<(), WriteFilesError> {
    let out_error = |source| WriteFilesError::Out {
        path: path.to_path_buf(),
        source,
    };
    if !path.exists() {
        fs::create_dir_all(path).map_err(out_error)?;
        fs::set_permissions(path, fs::Permissions::from_mode(DIR_MODE)).map_err(out_error)?;
    }
    Ok(())
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
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
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
