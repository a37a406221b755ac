//! Container image references, parsed as `github.com/distribution/reference`'s
//! `ParseNormalizedNamed` does (pure).
//!
//! The grammar (distribution/reference `reference.go`, `regexp.go`):
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain '/'] remote-name
//! domain           := host [':' port-number]
//! host             := domain-name | '[' IPv6address ']'
//! domain-name      := domain-component ['.' domain-component]*
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! remote-name      := path-component ['/' path-component]*
//! path-component   := /[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*/
//! tag              := /[\w][\w.-]{0,127}/
//! digest           := algorithm ":" /[0-9a-fA-F]{32,}/   (then validated per algorithm)
//! ```
//!
//! Normalisation (`normalize.go`, `splitDockerDomain`): a first component without `.` or `:`,
//! not `localhost` and all lower case, is a Docker Hub path, so the domain becomes `docker.io`;
//! `index.docker.io` becomes `docker.io`; a one-component Docker Hub path gets `library/`.

use std::fmt;

use serde::Serialize;

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const LOCALHOST: &str = "localhost";
/// `RepositoryNameTotalLengthMax` of the current distribution/reference (reference.go): it
/// bounds the path only — the domain is not counted (2.8 counted `domain/path`), so
/// `example.com/` + 255 characters is valid and 256 is not (reference_test.go).
const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// How much of a user's input an error quotes: enough to recognise, never a wall of text.
const QUOTE_MAX: usize = 100;

/// At most [`QUOTE_MAX`] characters of `s`, saying how many more there were.
pub fn clip(s: &str) -> String {
    match s.char_indices().nth(QUOTE_MAX) {
        Some((cut, _)) => format!("{}… ({} more characters)", &s[..cut], s[cut..].chars().count()),
        None => s.to_string(),
    }
}
const TAG_MAX: usize = 128;

/// A parsed, normalised reference. `tag` and `digest` are exactly as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reference {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    /// `domain/path`: what the kubelet looks credentials up with (`named.Name()`).
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }
}

/// Which rule of the grammar a reference breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseReferenceError {
    Empty,
    HexIdentifier,
    RepositoryUppercase(String),
    NameTooLong(usize),
    Tag(String),
    Digest(String),
    Domain(String),
    PathComponent(String),
    Format,
}

impl fmt::Display for ParseReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(
                f,
                "the reference is empty: a repository name needs at least one component"
            ),
            Self::HexIdentifier => write!(
                f,
                "a 64-character hexadecimal string is an image ID, not a repository name"
            ),
            Self::RepositoryUppercase(name) => write!(
                f,
                "repository name `{}` must be lowercase (only the domain may use upper case)",
                clip(name)
            ),
            Self::NameTooLong(len) => write!(
                f,
                "the repository path is {len} characters; at most {NAME_TOTAL_LENGTH_MAX} (the domain is not counted)"
            ),
            Self::Tag(why) | Self::Digest(why) | Self::Domain(why) | Self::PathComponent(why) => {
                f.write_str(why)
            }
            Self::Format => write!(
                f,
                "invalid reference format: expected [domain[:port]/]path[:tag][@digest]"
            ),
        }
    }
}

impl std::error::Error for ParseReferenceError {}

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let alnum_run = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && is_lower_alnum(b[*i] as char) {
            *i += 1;
        }
        *i > start
    };
    if !alnum_run(&mut i) {
        return false;
    }
    while i < b.len() {
        match b[i] {
            b'.' => i += 1,
            b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if !alnum_run(&mut i) {
            return false;
        }
    }
    true
}

fn is_remote_name(s: &str) -> bool {
    s.split('/').all(is_path_component)
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
fn is_domain_component(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// `(domain-name | '[' ipv6 ']') (':' [0-9]+)?`
fn is_domain_and_port(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty() || !v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return false,
            },
        }
    } else {
        match s.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(s), None),
        }
    };
    let host_ok = host.is_none_or(|h| h.split('.').all(is_domain_component));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    host_ok && port_ok
}

/// `[\w][\w.-]{0,127}`
fn is_tag(s: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    !s.is_empty()
        && s.len() <= TAG_MAX
        && s.starts_with(word)
        && s.chars().all(|c| word(c) || c == '.' || c == '-')
}

/// The digest pattern, then go-digest's `Validate` for the algorithms the kubelet links in.
fn check_digest(s: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("digest `{s}` is invalid: {why}"));
    let Some((algorithm, hex)) = s.split_once(':') else {
        return bad("write algorithm:hex, e.g. sha256:<64 hex digits>");
    };
    let component_ok = |c: &str| {
        c.starts_with(|ch: char| ch.is_ascii_alphabetic()) && c.chars().all(|ch| ch.is_ascii_alphanumeric())
    };
    if !algorithm.split(['-', '_', '+', '.']).all(component_ok) {
        return bad("the algorithm must be letters and digits, starting with a letter (e.g. sha256)");
    }
    if hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return bad("the value must be at least 32 hexadecimal digits");
    }
    let expected = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return bad("unsupported digest algorithm (sha256, sha384 or sha512)"),
    };
    if hex.len() != expected {
        return Err(format!(
            "digest `{s}` is invalid: {algorithm} needs exactly {expected} hexadecimal digits, not {}",
            hex.len()
        ));
    }
    if hex.chars().any(|c| c.is_ascii_uppercase()) {
        return bad("hexadecimal digits must be lower case");
    }
    Ok(())
}

/// `splitDockerDomain`.
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.find('/') {
        Some(i) => {
            let first = &name[..i];
            let looks_like_path =
                !first.contains(['.', ':']) && first != LOCALHOST && first.to_lowercase() == first;
            if looks_like_path {
                (DEFAULT_DOMAIN.to_string(), name.to_string())
            } else {
                (first.to_string(), name[i + 1..].to_string())
            }
        }
        None => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
    }
    (domain, remainder)
}

/// `reference.Parse` on an already split string, with a precise reason when it fails.
fn parse(s: &str) -> Result<Reference, ParseReferenceError> {
    let (rest, digest) = match s.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (s, None),
    };
    let last_slash = rest.rfind('/');
    let (name, tag) = match rest.rfind(':') {
        Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
            (&rest[..colon], Some(&rest[colon + 1..]))
        }
        _ => (rest, None),
    };
    if let Some(tag) = tag
        && !is_tag(tag)
    {
        let why = if tag.len() > TAG_MAX {
            format!("tag is {} characters; at most {TAG_MAX} are allowed", tag.len())
        } else {
            format!(
                "tag `{}` is invalid: a tag is [A-Za-z0-9_.-] and starts with a letter, digit or '_'",
                clip(tag)
            )
        };
        return Err(ParseReferenceError::Tag(why));
    }
    if let Some(digest) = digest {
        check_digest(digest).map_err(ParseReferenceError::Digest)?;
    }
    let (domain, path) = match name.split_once('/') {
        Some((domain, path)) if is_domain_and_port(domain) && is_remote_name(path) => (domain, path),
        _ if is_remote_name(name) => ("", name),
        Some((domain, path)) => {
            if !is_domain_and_port(domain) {
                return Err(ParseReferenceError::Domain(format!(
                    "domain `{}` is invalid: write host[:port] with letters, digits, '-' and '.', or [IPv6]:port",
                    clip(domain)
                )));
            }
            let bad = path.split('/').find(|c| !is_path_component(c)).unwrap_or(path);
            if bad.to_lowercase() != bad && is_path_component(&bad.to_lowercase()) {
                return Err(ParseReferenceError::RepositoryUppercase(path.to_string()));
            }
            return Err(ParseReferenceError::PathComponent(if bad.is_empty() {
                "the path has an empty component (`//` or a trailing `/`)".to_string()
            } else {
                format!(
                    "path component `{}` is invalid: lower-case letters and digits, separated by '.', '_', '__' or '-'",
                    clip(bad)
                )
            }));
        }
        None => return Err(ParseReferenceError::Format),
    };
    if path.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ParseReferenceError::NameTooLong(path.len()));
    }
    Ok(Reference {
        domain: domain.to_string(),
        path: path.to_string(),
        tag: tag.map(String::from),
        digest: digest.map(String::from),
    })
}

/// `ParseNormalizedNamed`.
pub fn parse_normalized(s: &str) -> Result<Reference, ParseReferenceError> {
    if s.is_empty() {
        return Err(ParseReferenceError::Empty);
    }
    if s.len() == 64 && s.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) {
        return Err(ParseReferenceError::HexIdentifier);
    }
    let (domain, remainder) = split_docker_domain(s);
    let remote_name = remainder.split(':').next().unwrap_or_default();
    if remote_name.to_lowercase() != remote_name {
        return Err(ParseReferenceError::RepositoryUppercase(remote_name.to_string()));
    }
    parse(&format!("{domain}/{remainder}"))
}

#[cfg(test)]
#[path = "reference_tests.rs"]
mod tests;
