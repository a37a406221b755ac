//! Spec folder → [`Catalog`] plus diagnostics (effect: reads files; everything else is pure).
//!
//! Every `*.yaml` / `*.yml` file under the root (dot-folders and dot-files skipped) is split into
//! YAML documents, and each document is read on its own, so one broken document never hides the
//! errors of the others: a repository's mistakes are reported in one pass.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::catalog::{Catalog, Object, Origin};
use super::diag::{Diagnostic, Position};
use super::locate::{LineCol, PathIndex};
use super::model::{API_VERSION, Document, Header, KINDS};
use super::suggest::closest;
use crate::value::hex;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum LoadSpecsError {
    #[error("cannot read spec root {path}: {source}")]
    ReadRoot {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The digest [`load`] gives as `Catalog::fingerprint`, without parsing anything: what a
/// daemon polling a folder needs to notice a new revision (it read and parsed every spec on
/// every poll before).
pub fn fingerprint(root: &Path) -> Option<String> {
    let root = fs::canonicalize(root).ok()?;
    let mut files = Vec::new();
    walk(&root, Path::new(""), &mut files, &mut Vec::new());
    files.sort();
    let mut digest = Sha256::new();
    for relative in &files {
        if let Ok(bytes) = fs::read(root.join(relative)) {
            add_to_digest(&mut digest, relative, &bytes);
        }
    }
    Some(hex::lower(&digest.finalize()))
}

/// One file's part of the folder digest: its path, its length, its bytes.
fn add_to_digest(digest: &mut Sha256, relative: &Path, bytes: &[u8]) {
    digest.update(relative.to_string_lossy().as_bytes());
    digest.update([0]);
    digest.update((bytes.len() as u64).to_be_bytes());
    digest.update(bytes);
}

/// Read every spec under `root`.
pub fn load(root: &Path) -> Result<(Catalog, Vec<Diagnostic>), LoadSpecsError> {
    load_except(root, None)
}

/// `load`, leaving out one folder (relative to the root): the platform's Tenants when they
/// live inside the spec repository.
pub fn load_except(root: &Path, except: Option<&Path>) -> Result<(Catalog, Vec<Diagnostic>), LoadSpecsError> {
    load_cached(root, except, None)
}

/// What a long-running process keeps between loads: each spec file's objects and diagnostics,
/// by the digest of its bytes. A commit that changes one file of a large repository re-parses
/// that file only; the others are copied from here (parsing was nearly all of a load).
/// One file's objects and diagnostics.
type Parsed = Arc<(Catalog, Vec<Diagnostic>)>;

#[derive(Debug, Default)]
pub struct LoadCache {
    /// File → (digest of its bytes, its parse).
    files: std::collections::HashMap<PathBuf, (Vec<u8>, Parsed)>,
    /// Files taken from the cache, and files parsed, over this cache's life.
    pub reused: u64,
    pub parsed: u64,
}

/// [`load_except`] through `cache` (a daemon's), when there is one.
pub fn load_cached(
    root: &Path,
    except: Option<&Path>,
    mut cache: Option<&mut LoadCache>,
) -> Result<(Catalog, Vec<Diagnostic>), LoadSpecsError> {
    let root = fs::canonicalize(root).map_err(|source| LoadSpecsError::ReadRoot {
        path: root.to_path_buf(),
        source,
    })?;
    if !root.is_dir() {
        return Err(LoadSpecsError::ReadRoot {
            path: root,
            source: std::io::Error::other("not a directory"),
        });
    }
    let mut catalog = Catalog {
        root: root.clone(),
        ..Catalog::default()
    };
    let mut diagnostics = Vec::new();
    let mut files = Vec::new();
    walk(&root, Path::new(""), &mut files, &mut diagnostics);
    if let Some(except) = except {
        files.retain(|f| !f.starts_with(except));
    }
    files.sort();
    let mut digest = Sha256::new();
    let mut texts: Vec<(&Path, String)> = Vec::new();
    for relative in &files {
        let bytes = match fs::read(root.join(relative)) {
            Ok(bytes) => bytes,
            Err(error) => {
                diagnostics.push(Diagnostic::error(
                    position(relative, 1, 1),
                    format!("cannot read file: {error}"),
                ));
                continue;
            }
        };
        add_to_digest(&mut digest, relative, &bytes);
        catalog.files.insert(relative.clone());
        if is_spec_file(relative) {
            match String::from_utf8(bytes) {
                Ok(text) => texts.push((relative, text)),
                Err(_) => diagnostics.push(
                    Diagnostic::error(position(relative, 1, 1), "file is not valid UTF-8")
                        .help("save spec files as UTF-8 text"),
                ),
            }
        }
    }
    // Parsing is the cost of a large repository: files are parsed on every core, and their
    // objects and diagnostics joined in file order, as one thread would have left them.
    // Unchanged files (same bytes) come from the cache; the rest are parsed.
    let names: Vec<PathBuf> = texts.iter().map(|(relative, _)| relative.to_path_buf()).collect();
    let digests: Vec<Vec<u8>> = texts
        .iter()
        .map(|(_, text)| Sha256::digest(text.as_bytes()).to_vec())
        .collect();
    let mut parts: Vec<Option<Parsed>> = texts
        .iter()
        .zip(&digests)
        .map(|((relative, _), digest)| {
            let cached = cache.as_ref()?.files.get(*relative)?;
            (&cached.0 == digest).then(|| cached.1.clone())
        })
        .collect();
    // Moved, not copied: a first load of a large repository held every file's text twice.
    let missing: Vec<(&Path, String)> = texts
        .into_iter()
        .zip(&parts)
        .filter(|(_, part)| part.is_none())
        .map(|(text, _)| text)
        .collect();
    let mut fresh = parse_files(&missing).into_iter();
    for part in parts.iter_mut().filter(|p| p.is_none()) {
        *part = fresh.next().map(Arc::new);
    }
    let parts: Vec<Parsed> = parts.into_iter().flatten().collect();
    if let Some(cache) = cache.as_deref_mut() {
        cache.parsed += missing.len() as u64;
        cache.reused += (parts.len() - missing.len()) as u64;
        cache.files = names
            .into_iter()
            .zip(digests)
            .zip(&parts)
            .map(|((file, digest), part)| (file, (digest, part.clone())))
            .collect();
    }
    let parts: Vec<(Catalog, Vec<Diagnostic>)> = match cache {
        // The cache keeps its own copy: the caller's catalog is its to change.
        Some(_) => parts.iter().map(|p| (p.0.clone(), p.1.clone())).collect(),
        None => parts
            .into_iter()
            .map(|p| Arc::try_unwrap(p).unwrap_or_else(|p| (p.0.clone(), p.1.clone())))
            .collect(),
    };
    // Sized once: growing by doubling while joining held up to twice the objects at the peak.
    catalog
        .credentials
        .reserve_exact(parts.iter().map(|(p, _)| p.credentials.len()).sum());
    catalog
        .pull_secrets
        .reserve_exact(parts.iter().map(|(p, _)| p.pull_secrets.len()).sum());
    catalog
        .secrets
        .reserve_exact(parts.iter().map(|(p, _)| p.secrets.len()).sum());
    catalog
        .defaults
        .reserve_exact(parts.iter().map(|(p, _)| p.defaults.len()).sum());
    catalog
        .tenants
        .reserve_exact(parts.iter().map(|(p, _)| p.tenants.len()).sum());
    for (part, part_diagnostics) in parts {
        catalog.credentials.extend(part.credentials);
        catalog.pull_secrets.extend(part.pull_secrets);
        catalog.secrets.extend(part.secrets);
        catalog.defaults.extend(part.defaults);
        catalog.tenants.extend(part.tenants);
        diagnostics.extend(part_diagnostics);
    }
    // The threads' parse buffers are free now: give their pages back.
    crate::memory::release_free_pages();
    catalog.credentials.shrink_to_fit();
    catalog.pull_secrets.shrink_to_fit();
    catalog.secrets.shrink_to_fit();
    catalog.defaults.shrink_to_fit();
    catalog.tenants.shrink_to_fit();
    catalog.fingerprint = hex::lower(&digest.finalize());
    Ok((catalog, diagnostics))
}

/// Each file's objects and diagnostics, in the order of `texts`, parsed on up to as many threads
/// as there are cores (contiguous runs of files per thread).
fn parse_files(texts: &[(&Path, String)]) -> Vec<(Catalog, Vec<Diagnostic>)> {
    let parse = |(relative, text): &(&Path, String)| {
        let (mut part, mut diagnostics) = (Catalog::default(), Vec::new());
        load_file(relative, text, &mut part, &mut diagnostics);
        (part, diagnostics)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(texts.len());
    if threads <= 1 {
        return texts.iter().map(parse).collect();
    }
    let per = texts.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let runs: Vec<_> = texts
            .chunks(per)
            .map(|run| scope.spawn(move || run.iter().map(parse).collect::<Vec<_>>()))
            .collect();
        runs.into_iter()
            .flat_map(|run| {
                run.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Load one file's text as if it were `relative` under an empty spec root (for fuzzing and
/// tools; [`load`] is what commands use).
pub fn load_str(relative: &Path, text: &str) -> (Catalog, Vec<Diagnostic>) {
    let mut catalog = Catalog::default();
    let mut diagnostics = Vec::new();
    load_file(relative, text, &mut catalog, &mut diagnostics);
    (catalog, diagnostics)
}

fn is_spec_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml") | Some("yml")
    )
}

fn position(file: &Path, line: usize, column: usize) -> Position {
    Position {
        file: file.to_path_buf(),
        line,
        column,
    }
}

fn walk(root: &Path, relative: &Path, out: &mut Vec<PathBuf>, diags: &mut Vec<Diagnostic>) {
    let Ok(entries) = fs::read_dir(root.join(relative)) else {
        diags.push(Diagnostic::error(
            position(relative, 1, 1),
            "cannot read directory",
        ));
        return;
    };
    let mut names: Vec<_> = entries.filter_map(Result::ok).collect();
    names.sort_by_key(|e| e.file_name());
    for entry in names {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = relative.join(&name);
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_symlink() {
            // Following links could leave the repository or loop; Git repos rarely need them.
            if is_spec_file(&path) {
                diags.push(
                    Diagnostic::warning(position(&path, 1, 1), "symbolic link skipped")
                        .help("commit the file itself instead of a link"),
                );
            }
        } else if kind.is_dir() {
            walk(root, &path, out, diags);
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

/// One document of a file: its own lines only, and how many lines of the file come before it
/// (positions are shifted by that, so a file of many documents costs linear time and memory).
struct Chunk {
    offset: usize,
    text: String,
}

/// Split a YAML stream at `---` / `...` markers. YAML 1.2 §9.1: a line starting with `---` or
/// `...` followed by white space or the end of the line is always a document marker.
fn split_documents(text: &str) -> Vec<Chunk> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').collect();
    let is_marker = |line: &str, marker: &str| {
        line.strip_prefix(marker)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r']))
    };
    let mut chunks = Vec::new();
    let mut start = 0;
    let flush = |from: usize, to: usize, chunks: &mut Vec<Chunk>| {
        let body = &lines[from..to];
        let has_content = body.iter().any(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#') && t != "---" && t != "..."
        });
        if has_content {
            let mut text = body.join("\n");
            text.push('\n');
            chunks.push(Chunk { offset: from, text });
        }
    };
    for (i, line) in lines.iter().enumerate() {
        if is_marker(line, "---") && i > start {
            flush(start, i, &mut chunks);
            start = i;
        } else if is_marker(line, "...") {
            flush(start, i, &mut chunks);
            start = i + 1;
        }
    }
    flush(start, lines.len(), &mut chunks);
    chunks
}

/// A serde-saphyr error as a diagnostic at its own position, with a hint where one helps.
fn yaml_error(
    file: &Path,
    error: &serde_saphyr::Error,
    offset: usize,
    fallback: (usize, usize),
) -> Diagnostic {
    let (line, column) = error
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| (l.line() as usize + offset, l.column().max(1) as usize))
        .unwrap_or(fallback);
    let mut message = error.without_snippet().to_string();
    // serde-saphyr appends the position; ours is already in front.
    if let Some(cut) = message.rfind(" at line ") {
        message.truncate(cut);
    }
    let message = plain_words(&message);
    let help = hint_for(&message);
    let mut diagnostic = Diagnostic::error(position(file, line, column), message);
    diagnostic.help = help;
    diagnostic
}

/// The YAML library's advice is for programmers ("set DuplicateKeyPolicy in Options", "use
/// Option<String>"); say what is wrong in the spec instead.
fn plain_words(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(", set DuplicateKeyPolicy").next().unwrap_or(rest);
        return format!("the key `{key}` appears twice in this mapping");
    }
    if message.starts_with("cannot deserialize null into") {
        return "the value is empty".into();
    }
    match message.split_once("; use Option<") {
        Some((head, _)) => head.to_string(),
        None => message.to_string(),
    }
}

fn hint_for(message: &str) -> Option<String> {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, rest) = rest.split_once('`')?;
        let expected: Vec<&str> = rest
            .split_once("expected one of ")
            .map(|(_, list)| list.split(',').map(|s| s.trim().trim_matches('`')).collect())
            .or_else(|| {
                rest.split_once("expected ")
                    .map(|(_, one)| vec![one.trim().trim_matches('`')])
            })
            .unwrap_or_default();
        return Some(match closest(field, &expected) {
            Some(best) => format!("did you mean `{best}`?"),
            None if expected.is_empty() => format!("remove `{field}`: this object has no fields"),
            None => format!("remove `{field}`; allowed here: {}", expected.join(", ")),
        });
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next()?;
        return Some(format!("add `{field}:` to this object"));
    }
    if message.contains("indicator") || message.contains("unclosed") || message.contains("did not find") {
        return Some(
            "YAML syntax: check brackets, quotes and indentation here and on the lines above".into(),
        );
    }
    if message.starts_with("the value is empty") {
        return Some(
            "write the value after the colon; quote it if it could read as a number, `~` or `null`".into(),
        );
    }
    if message.contains("appears twice in this mapping") {
        return Some("each key may appear once in a mapping; remove one of them".into());
    }
    None
}

/// Only `metadata.name`, read leniently so errors elsewhere can still name their object.
#[derive(Deserialize)]
struct NameProbe {
    metadata: Option<NameProbeMeta>,
}

#[derive(Deserialize)]
struct NameProbeMeta {
    name: Option<String>,
}

fn load_file(file: &Path, text: &str, catalog: &mut Catalog, diags: &mut Vec<Diagnostic>) {
    let chunks = split_documents(text);
    if chunks.is_empty() {
        // A spec that was emptied by mistake (a bad merge, a truncated write) must not pass as
        // silently as one that was meant to go.
        diags.push(
            Diagnostic::warning(
                position(file, 1, 1),
                "the file holds no spec document (it is empty or only comments); nothing of it is applied",
            )
            .help(
                "delete the file if that is meant, or write its documents (apiVersion, kind, metadata, spec)",
            ),
        );
    }
    for chunk in chunks {
        load_document(file, &chunk, catalog, diags);
    }
}

/// Where a document's first node starts, read from its text without parsing it: the first
/// line that is not blank, a comment, a directive or a bare document marker. `None` where the
/// text is not that plain (a node on the marker line, an anchor, a tag, a quoted or flow key):
/// the parser then says (`first_node_matches_the_parser` checks both on every corpus file).
fn first_node(text: &str) -> Option<LineCol> {
    for (i, line) in text.split('\n').enumerate() {
        let trimmed = line.trim_start_matches([' ', '\t']);
        let content = trimmed.trim_end_matches(['\r', ' ', '\t']);
        if content.is_empty() || content.starts_with('#') || content.starts_with('%') {
            continue;
        }
        // A marker is `---` or `...` at the start of a line, alone or before a comment.
        let at_start = line.trim_end_matches(['\r', ' ', '\t']);
        if let Some(rest) = at_start
            .strip_prefix("---")
            .or_else(|| at_start.strip_prefix("..."))
        {
            if rest.is_empty() || (rest.starts_with([' ', '\t']) && rest.trim_start().starts_with('#')) {
                continue;
            }
            return None;
        }
        let first = content.chars().next()?;
        if !(first.is_ascii_alphanumeric() || first == '_') {
            return None;
        }
        return Some(LineCol {
            line: i + 1,
            column: line.len() - trimmed.len() + 1,
        });
    }
    None
}

fn load_document(file: &Path, chunk: &Chunk, catalog: &mut Catalog, diags: &mut Vec<Diagnostic>) {
    let (text, offset) = (chunk.text.as_str(), chunk.offset);
    // Tags need the parser's events; a document without a `!` has none, and its index waits
    // until a position in it is asked for.
    let plain = first_node(text);
    let eager = (text.contains('!') || text.contains("<<") || plain.is_none() || might_hold_typed(text))
        .then(|| {
            let mut index = PathIndex::build(text);
            index.shift(offset);
            index
        });
    let start = match (&eager, plain) {
        (Some(index), _) => index.start,
        (None, Some(at)) => LineCol {
            line: at.line + offset,
            column: at.column,
        },
        (None, None) => LineCol::default(),
    };
    if let Some((at, tag)) = eager.as_ref().and_then(|i| i.first_tag.as_ref()) {
        // `!!binary aGVsbG8=` would write `hello`: what is in Git must be what is written.
        diags.push(
            Diagnostic::error(
                position(file, at.line, at.column),
                format!("YAML tag `{tag}` is not allowed in specs"),
            )
            .help("write the plain value without a `!` tag; specs hold strings, lists and maps only"),
        );
        return;
    }
    if let Some(at) = eager.as_ref().and_then(|i| i.first_key_named("<<")) {
        // `<<: *base` copies a mapping in where the reader of the file sees one key: what a
        // review shows must be what is applied (the same reason tags are refused).
        diags.push(
            Diagnostic::error(
                position(file, at.line, at.column),
                "YAML merge key `<<` is not allowed in specs",
            )
            .help("write the keys out where they apply (or layer them with a Defaults object); a reviewer must see every key that is applied"),
        );
        return;
    }
    let typed: Vec<Diagnostic> = eager
        .iter()
        .flat_map(|i| &i.typed)
        .filter(|(path, _, _)| must_be_string(path))
        .map(|(path, at, value)| typed_value(file, path, *at, value))
        .collect();
    if !typed.is_empty() {
        diags.extend(typed);
        return;
    }
    let origin = Origin::new(file.to_path_buf(), start, Arc::from(text), offset, eager);
    // The common case in one parse: a plain header and a document that reads as its kind.
    // Anything else (and any error) takes the path below, which says what is wrong.
    if let Some(kind) = plain_header(text)
        && push_valid(kind, chunk, &origin, catalog)
    {
        return;
    }
    let start = (origin.start.line.max(1), origin.start.column.max(1));
    let header: Header = match serde_saphyr::from_str(text) {
        Ok(header) => header,
        Err(error) => {
            let mut diagnostic = yaml_error(file, &error, offset, start);
            let is_typo = diagnostic
                .help
                .as_deref()
                .is_some_and(|h| h.starts_with("did you mean"));
            if diagnostic.message.starts_with("unknown field") && !is_typo {
                diagnostic.help =
                    Some("a spec document has exactly apiVersion, kind, metadata and spec".into());
            }
            diags.push(diagnostic);
            return;
        }
    };
    // Only error messages need the name before the typed parse: read it lazily (a parse of
    // its own), so a valid document is parsed by serde twice, not three times.
    let name = || {
        serde_saphyr::from_str::<NameProbe>(text)
            .ok()
            .and_then(|p| p.metadata?.name)
            .unwrap_or_else(|| "?".into())
    };
    if header.api_version != API_VERSION {
        diags.push(
            Diagnostic::error(
                origin.at("apiVersion"),
                format!("unsupported apiVersion `{}`", header.api_version),
            )
            .object(format!("{}/{}", header.kind, name()))
            .help(format!("write `apiVersion: {API_VERSION}`")),
        );
        return;
    }
    let Some(kind) = KINDS.iter().find(|k| **k == header.kind) else {
        let help = match closest(&header.kind, &KINDS) {
            Some(best) => format!("did you mean `kind: {best}`?"),
            None => format!("write one of: {}", KINDS.join(", ")),
        };
        diags.push(
            Diagnostic::error(origin.at("kind"), format!("unknown kind `{}`", header.kind))
                .object(format!("{}/{}", header.kind, name()))
                .help(help),
        );
        return;
    };
    let object_id = || format!("{kind}/{}", name());
    match *kind {
        "Credential" => push_typed(kind, chunk, origin, object_id, &mut catalog.credentials, diags),
        "PullSecret" => push_typed(kind, chunk, origin, object_id, &mut catalog.pull_secrets, diags),
        "Secret" => push_typed(kind, chunk, origin, object_id, &mut catalog.secrets, diags),
        "Defaults" => push_typed(kind, chunk, origin, object_id, &mut catalog.defaults, diags),
        _ => push_typed(kind, chunk, origin, object_id, &mut catalog.tenants, diags),
    }
}

/// Whether any word of the text could be an unquoted number, boolean or null (a cheap test:
/// the parser's events decide, see `PathIndex::typed`).
fn might_hold_typed(text: &str) -> bool {
    text.split(|c: char| c.is_whitespace() || ",[]{}:#\"'".contains(c))
        .any(super::locate::looks_typed)
}

/// Fields Kubernetes or pullsync take as text only, where YAML would silently turn `1`, `true`
/// or `on` into text that is not what the file seems to say (Kubernetes refuses non-string
/// label values outright).
fn must_be_string(path: &str) -> bool {
    let tail = path.rsplit('.').next().unwrap_or(path);
    matches!(path, "metadata.name" | "metadata.namespace")
        || path.starts_with("spec.namespaces[")
        || path.starts_with("spec.serviceAccounts[")
        || path.contains(".labels.")
        || path.contains(".annotations.")
        || path.contains(".matchLabels.")
        || (path.contains(".matchExpressions[") && path.contains(".values["))
        || (path.starts_with("spec.data.") && tail == "value")
        || (path.starts_with("spec.registries[") && matches!(tail, "server" | "credential" | "email"))
}

fn typed_value(file: &Path, path: &str, at: LineCol, value: &str) -> Diagnostic {
    let key = path
        .rsplit(['.', '['])
        .next()
        .unwrap_or(path)
        .trim_end_matches(']');
    let what = if value.parse::<f64>().is_ok() || value.starts_with("0x") || value.starts_with("0o") {
        "a number"
    } else if matches!(value.to_ascii_lowercase().as_str(), "null" | "~") {
        "null"
    } else {
        "a boolean"
    };
    Diagnostic::error(
        position(file, at.line, at.column),
        format!("`{value}` at {path} is {what} to YAML, not text"),
    )
    .help(if path.contains("abels.") {
        format!("quote it: `{key}: \"{value}\"`; Kubernetes refuses a label value that is not a string")
    } else {
        format!("quote it: `{key}: \"{value}\"`; this field is text, and unquoted YAML reads {what}")
    })
}

/// The kind of a document whose `apiVersion` and `kind` are plain top-level lines (`kind:
/// Secret`), once each, with the supported version and a known kind; `None` otherwise.
fn plain_header(text: &str) -> Option<&'static str> {
    let (mut version, mut kind) = (None, None);
    for line in text.lines() {
        let value = |rest: &str| {
            let rest = rest.split(" #").next().unwrap_or(rest).trim();
            rest.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '-'))
                .then(|| rest.to_string())
        };
        if let Some(rest) = line.strip_prefix("apiVersion:") {
            if version.replace(value(rest)?).is_some() {
                return None;
            }
        } else if let Some(rest) = line.strip_prefix("kind:")
            && kind.replace(value(rest)?).is_some()
        {
            return None;
        }
    }
    if version? != API_VERSION {
        return None;
    }
    let kind = kind?;
    KINDS.iter().find(|k| **k == kind).copied()
}

/// Parse `chunk` as a document of `kind` and add it; `false` (nothing added, nothing said)
/// when it does not read as one.
fn push_valid(kind: &'static str, chunk: &Chunk, origin: &Origin, catalog: &mut Catalog) -> bool {
    fn push<S: DeserializeOwned>(
        kind: &'static str,
        chunk: &Chunk,
        origin: &Origin,
        out: &mut Vec<Object<S>>,
    ) -> bool {
        match serde_saphyr::from_str::<Document<S>>(&chunk.text) {
            // What the lines said must be what the parser read (a line inside a multi-line
            // string could look like a header).
            Ok(document) if document.kind == kind && document.api_version == API_VERSION => {
                out.push(Object {
                    kind,
                    name: document.metadata.name,
                    namespace: document.metadata.namespace,
                    spec: document.spec,
                    origin: origin.clone(),
                });
                true
            }
            _ => false,
        }
    }
    match kind {
        "Credential" => push(kind, chunk, origin, &mut catalog.credentials),
        "PullSecret" => push(kind, chunk, origin, &mut catalog.pull_secrets),
        "Secret" => push(kind, chunk, origin, &mut catalog.secrets),
        "Defaults" => push(kind, chunk, origin, &mut catalog.defaults),
        _ => push(kind, chunk, origin, &mut catalog.tenants),
    }
}

fn push_typed<S: DeserializeOwned>(
    kind: &'static str,
    chunk: &Chunk,
    origin: Origin,
    object_id: impl FnOnce() -> String,
    out: &mut Vec<Object<S>>,
    diags: &mut Vec<Diagnostic>,
) {
    let start = (origin.start.line.max(1), origin.start.column.max(1));
    match serde_saphyr::from_str::<Document<S>>(&chunk.text) {
        Ok(document) => out.push(Object {
            kind,
            name: document.metadata.name,
            namespace: document.metadata.namespace,
            spec: document.spec,
            origin,
        }),
        Err(error) => diags.push(yaml_error(&origin.file, &error, chunk.offset, start).object(object_id())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_with_no_document_is_said_not_skipped() {
        for text in [
            "",
            "\n\n",
            "# all commented out\n# kind: PullSecret\n",
            "---\n...\n",
        ] {
            let (mut catalog, mut diags) = (Catalog::default(), Vec::new());
            load_file(Path::new("teams/a/empty.yaml"), text, &mut catalog, &mut diags);
            assert_eq!(diags.len(), 1, "{text:?}: {diags:?}");
            assert!(
                !diags[0].is_error(),
                "a warning: the rest of the revision applies"
            );
            assert_eq!(
                diags[0].to_string().lines().next().unwrap(),
                "teams/a/empty.yaml:1:1: warning: the file holds no spec document (it is empty or only comments); nothing of it is applied"
            );
        }
        let (mut catalog, mut diags) = (Catalog::default(), Vec::new());
        load_file(
            Path::new("a.yaml"),
            "# a note\nkind: Credential\n",
            &mut catalog,
            &mut diags,
        );
        assert!(
            !diags.iter().any(|d| d.message.contains("no spec document")),
            "{diags:?}"
        );
    }

    #[test]
    fn splits_documents_and_keeps_absolute_lines() {
        let text = "# header comment\n---\nkind: A\n---\n# empty\n---\nkind: B\n...\nkind: C\n";
        let chunks = split_documents(text);
        assert_eq!(chunks.len(), 3);
        let line = |c: &Chunk| {
            let mut index = PathIndex::build(&c.text);
            index.shift(c.offset);
            index.value("kind").unwrap().line
        };
        assert_eq!(line(&chunks[0]), 3);
        assert_eq!(line(&chunks[1]), 7);
        assert_eq!(line(&chunks[2]), 9);
    }

    #[test]
    fn the_poll_fingerprint_is_the_catalogs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), "kind: [broken\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/README.md"), "docs\n").unwrap();
        let (catalog, _) = load(dir.path()).unwrap();
        assert_eq!(
            fingerprint(dir.path()).as_deref(),
            Some(catalog.fingerprint.as_str())
        );
    }

    /// Every document of the corpus and the examples: where the text says the first node is,
    /// the parser agrees (the lazy index depends on it).
    #[test]
    fn first_node_matches_the_parser() {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if is_spec_file(&path) {
                    out.push(path);
                }
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        walk(&root.join("tests/data"), &mut files);
        walk(&root.join("examples"), &mut files);
        let mut checked = 0;
        for file in &files {
            let Ok(text) = fs::read_to_string(file) else {
                continue;
            };
            for chunk in split_documents(&text) {
                if let Some(at) = first_node(&chunk.text) {
                    assert_eq!(
                        at,
                        PathIndex::build(&chunk.text).start,
                        "{}: {:?}",
                        file.display(),
                        chunk.text
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "only {checked} documents");
        // The shapes it leaves to the parser.
        for text in ["--- {a: 1}\n", "&x a: 1\n", "\"a\": 1\n", "- a\n", "--- a: 1\n"] {
            assert_eq!(first_node(text), None, "{text:?}");
        }
        for (text, line, column) in [("# c\n---\n\n  a: 1\n", 4, 3), ("--- # c\nkind: X\n", 2, 1)] {
            assert_eq!(first_node(text), Some(LineCol { line, column }), "{text:?}");
            assert_eq!(PathIndex::build(text).start, LineCol { line, column }, "{text:?}");
        }
    }

    #[test]
    fn a_cache_reparses_only_changed_files_and_gives_what_a_fresh_load_gives() {
        let dir = tempfile::tempdir().unwrap();
        let doc = |name: &str, extra: &str| {
            format!(
                "apiVersion: {API_VERSION}\nkind: Credential\nmetadata: {{name: {name}}}\nspec:\n  file: {{path: /run/{name}}}\n{extra}"
            )
        };
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("f{i}.yaml")), doc(&format!("c{i}"), "")).unwrap();
        }
        let mut cache = LoadCache::default();
        load_cached(dir.path(), None, Some(&mut cache)).unwrap();
        assert_eq!((cache.parsed, cache.reused), (5, 0));
        // One file changes (and now holds a mistake): that file alone is parsed again.
        std::fs::write(dir.path().join("f3.yaml"), doc("c3", "  bogus: 1\n")).unwrap();
        std::fs::remove_file(dir.path().join("f4.yaml")).unwrap();
        let (cached, cached_diags) = load_cached(dir.path(), None, Some(&mut cache)).unwrap();
        assert_eq!((cache.parsed, cache.reused), (6, 3));
        let (fresh, fresh_diags) = load(dir.path()).unwrap();
        let names = |c: &Catalog| c.credentials.iter().map(|o| o.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&cached), names(&fresh));
        assert_eq!(names(&cached), ["c0", "c1", "c2"]);
        assert_eq!(cached_diags, fresh_diags);
        assert_eq!(cached.fingerprint, fresh.fingerprint);
        assert_eq!(cache.files.len(), 4, "a removed file leaves the cache");
    }

    #[test]
    fn a_dash_line_inside_a_value_is_not_a_marker() {
        let chunks = split_documents("a: |\n  ---\n  b\n----\n");
        assert_eq!(chunks.len(), 1);
    }
}
