//! Signed commits and tags (pure): an allowed-signers file and SSH signatures (`sshsig`, what
//! `git commit -S` makes with `gpg.format=ssh`).
//!
//! The allowed-signers format is ssh-keygen(1)'s ALLOWED SIGNERS section, the file git's
//! `gpg.ssh.allowedSignersFile` names: `principals [options] keytype base64-key [comment]`,
//! with the options `namespaces="…"`, `valid-after=`, `valid-before=` (judged at the commit's
//! time, as git passes `-Overify-time`). `cert-authority` lines are refused rather than
//! silently ignored. The signature must be for the namespace `git` (what git signs with).
//! Ed25519, ECDSA P-256 and RSA (at least 2048 bits, SHA-2 signatures) keys are accepted;
//! other key types are an error that says so.

use std::fmt;

use ssh_key::{Algorithm, PublicKey, SshSig};

/// What the signature must cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyMode {
    /// The commit the ref points at.
    Head,
    /// The annotated tag (only with a tag ref).
    Tag,
    /// Both the tag and the commit it points at.
    Both,
}

/// One line of an allowed-signers file.
#[derive(Debug, Clone)]
pub struct Signer {
    pub principals: String,
    pub key: PublicKey,
    /// `namespaces="…"`: when present, must list `git`.
    namespaces: Option<Vec<String>>,
    valid_after: Option<i64>,
    valid_before: Option<i64>,
    line: usize,
}

#[derive(Debug, Clone, Default)]
pub struct AllowedSigners {
    pub signers: Vec<Signer>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("allowed signers, line {line}: {reason}")]
pub struct ParseSignersError {
    pub line: usize,
    pub reason: String,
}

/// Why a commit or tag is not trusted. Never carries signed content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifySignatureError {
    #[error("{what} {id} is not signed")]
    Unsigned { what: &'static str, id: String },
    #[error("{what} {id} carries an OpenPGP signature; pullsync verifies SSH signatures (gpg.format=ssh)")]
    OpenPgp { what: &'static str, id: String },
    #[error("{what} {id}: the signature cannot be read ({reason})")]
    Malformed {
        what: &'static str,
        id: String,
        reason: String,
    },
    #[error("{what} {id} is signed for namespace `{namespace}`, not `git`")]
    Namespace {
        what: &'static str,
        id: String,
        namespace: String,
    },
    #[error("{what} {id} is signed by {fingerprint}, which is not an allowed signer")]
    UnknownKey {
        what: &'static str,
        id: String,
        fingerprint: String,
    },
    #[error("{what} {id}: the signature by {fingerprint} does not verify (content changed after signing?)")]
    Invalid {
        what: &'static str,
        id: String,
        fingerprint: String,
    },
    #[error("{what} {id} is signed by {principals}, whose key is not valid at the commit's time")]
    Expired {
        what: &'static str,
        id: String,
        principals: String,
    },
}

impl fmt::Display for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (line {})", self.principals, self.line)
    }
}

impl AllowedSigners {
    pub fn parse(text: &str) -> Result<AllowedSigners, ParseSignersError> {
        let mut signers = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let raw = raw.trim();
            if raw.is_empty() || raw.starts_with('#') {
                continue;
            }
            signers.push(parse_line(raw, line)?);
        }
        if signers.is_empty() {
            return Err(ParseSignersError {
                line: 0,
                reason: "no signers: every commit would be refused; add `EMAIL ssh-ed25519 AAAA…` lines"
                    .into(),
            });
        }
        Ok(AllowedSigners { signers })
    }

    /// Verify an armored SSH signature over `signed`, made at `time` (Unix seconds); the
    /// principals of the key that made it.
    pub fn verify(
        &self,
        what: &'static str,
        id: &str,
        armored: &[u8],
        signed: &[u8],
        time: i64,
    ) -> Result<String, VerifySignatureError> {
        let id = id.to_string();
        if contains(armored, b"-----BEGIN PGP SIGNATURE-----") {
            return Err(VerifySignatureError::OpenPgp { what, id });
        }
        let signature = SshSig::from_pem(armored).map_err(|e| VerifySignatureError::Malformed {
            what,
            id: id.clone(),
            reason: e.to_string(),
        })?;
        if signature.namespace() != "git" {
            return Err(VerifySignatureError::Namespace {
                what,
                id,
                namespace: signature.namespace().chars().take(64).collect(),
            });
        }
        let fingerprint = signature.public_key().fingerprint(Default::default()).to_string();
        let mut known = self
            .signers
            .iter()
            .filter(|s| s.key.key_data() == signature.public_key())
            .filter(|s| s.namespaces.as_ref().is_none_or(|n| n.iter().any(|n| n == "git")))
            .peekable();
        if known.peek().is_none() {
            return Err(VerifySignatureError::UnknownKey {
                what,
                id,
                fingerprint,
            });
        }
        let mut expired = None;
        for signer in known {
            let valid =
                signer.valid_after.is_none_or(|t| time >= t) && signer.valid_before.is_none_or(|t| time < t);
            if !valid {
                expired = Some(signer.principals.clone());
                continue;
            }
            return match signer.key.verify("git", signed, &signature) {
                Ok(()) => Ok(signer.principals.clone()),
                Err(_) => Err(VerifySignatureError::Invalid {
                    what,
                    id,
                    fingerprint,
                }),
            };
        }
        Err(VerifySignatureError::Expired {
            what,
            id,
            principals: expired.unwrap_or_default(),
        })
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// NIST SP 800-131A's floor for RSA signatures.
const MIN_RSA_BITS: usize = 2048;

fn is_key_type(token: &str) -> bool {
    token.starts_with("ssh-") || token.starts_with("ecdsa-") || token.starts_with("sk-")
}

fn parse_line(raw: &str, line: usize) -> Result<Signer, ParseSignersError> {
    let fail = |reason: String| ParseSignersError { line, reason };
    let (principals, rest) = raw
        .split_once(char::is_whitespace)
        .ok_or_else(|| fail("expected `PRINCIPALS [OPTIONS] KEYTYPE KEY`".into()))?;
    let rest = rest.trim_start();
    let (options, key) = if rest.split_whitespace().next().is_some_and(is_key_type) {
        ("", rest)
    } else {
        split_options(rest).ok_or_else(|| fail("unterminated quote in the options".into()))?
    };
    let mut signer = Signer {
        principals: principals.to_string(),
        key: PublicKey::from_openssh(key.trim())
            .map_err(|e| fail(format!("cannot read the public key: {e}")))?,
        namespaces: None,
        valid_after: None,
        valid_before: None,
        line,
    };
    // What `ssh-keygen` makes by default on current systems: Ed25519, ECDSA P-256, RSA
    // (signed with SHA-2: `rsa-sha2-512`, as `ssh-keygen -Y sign` does; SHA-1 fails to verify).
    match signer.key.algorithm() {
        Algorithm::Ed25519
        | Algorithm::Ecdsa {
            curve: ssh_key::EcdsaCurve::NistP256,
        } => {}
        Algorithm::Rsa { .. } => {
            let bits = signer
                .key
                .key_data()
                .rsa()
                .map_or(0, |k| k.n.as_positive_bytes().map_or(0, |n| n.len() * 8));
            if bits < MIN_RSA_BITS {
                return Err(fail(format!(
                    "an RSA key of {bits} bits is too weak; use at least {MIN_RSA_BITS} bits (or ssh-ed25519)"
                )));
            }
        }
        other => {
            return Err(fail(format!(
                "{other} keys are not supported; pullsync verifies ssh-ed25519, ecdsa-sha2-nistp256 and ssh-rsa (SHA-2) signatures"
            )));
        }
    }
    for option in options_list(options) {
        let (name, value) = option.split_once('=').unwrap_or((option.as_str(), ""));
        let value = value.trim_matches('"');
        match name.to_ascii_lowercase().as_str() {
            "namespaces" => {
                signer.namespaces = Some(value.split(',').map(|s| s.trim().to_string()).collect())
            }
            "valid-after" => {
                signer.valid_after = Some(
                    parse_time(value)
                        .ok_or_else(|| fail(format!("valid-after `{value}`: write YYYYMMDD[HHMM[SS]][Z]")))?,
                )
            }
            "valid-before" => {
                signer.valid_before =
                    Some(parse_time(value).ok_or_else(|| {
                        fail(format!("valid-before `{value}`: write YYYYMMDD[HHMM[SS]][Z]"))
                    })?)
            }
            "cert-authority" => {
                return Err(fail(
                    "cert-authority lines are not supported; list the signers' own keys".into(),
                ));
            }
            other => {
                return Err(fail(format!(
                    "unknown option `{other}` (known: namespaces, valid-after, valid-before)"
                )));
            }
        }
    }
    Ok(signer)
}

/// The options field ends at the first whitespace outside double quotes.
fn split_options(rest: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (i, c) in rest.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return Some((&rest[..i], &rest[i..])),
            _ => {}
        }
    }
    None
}

/// Comma-separated, commas inside quotes kept.
fn options_list(options: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut current, mut quoted) = (String::new(), false);
    for c in options.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `YYYYMMDD[HHMM[SS]][Z]` as ssh-keygen reads it; taken as UTC (the trailing `Z` or not:
/// a daemon has no meaningful local zone).
fn parse_time(text: &str) -> Option<i64> {
    let digits = text.strip_suffix('Z').unwrap_or(text);
    if !digits.chars().all(|c| c.is_ascii_digit()) || !matches!(digits.len(), 8 | 12 | 14) {
        return None;
    }
    let n = |range: std::ops::Range<usize>| digits.get(range).map_or(Some(0), |s| s.parse::<i16>().ok());
    let (y, m, d) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (hh, mm, ss) = (n(8..10)?, n(10..12)?, n(12..14)?);
    // ssh-keygen allows a leap second; a civil time has none, so it is the second before.
    let small = |v: i16| i8::try_from(v).ok();
    crate::time::utc_seconds(
        y,
        small(m)?,
        small(d)?,
        small(hh)?,
        small(mm)?,
        small(ss)?.min(59),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // A test-only key pair, generated for these tests (`ssh-keygen -t ed25519`); not used
    // anywhere else.
    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHzgJnPEqcK0TCzTu0L2yD0yzU8k8WmU6Y0o2Jq3ZbGk test@example";

    #[test]
    fn allowed_signers_lines() {
        let signers = AllowedSigners::parse(&format!(
            "# platform team\n\nalice@example.com {KEY}\nbob@example.com,carol@example.com namespaces=\"git,file\",valid-after=20260101 {KEY}\n"
        ))
        .unwrap();
        assert_eq!(signers.signers.len(), 2);
        assert_eq!(signers.signers[1].principals, "bob@example.com,carol@example.com");
        assert_eq!(
            signers.signers[1].namespaces.as_deref(),
            Some(&["git".to_string(), "file".to_string()][..])
        );
        assert_eq!(signers.signers[1].valid_after, Some(1_767_225_600));
    }

    #[test]
    fn bad_lines_say_where_and_what() {
        let err = AllowedSigners::parse(&format!("a@b cert-authority {KEY}\n")).unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.reason.contains("cert-authority"));
        let err = AllowedSigners::parse("\n\na@b ssh-ed25519 not-base64\n").unwrap_err();
        assert_eq!(err.line, 3);
        let err = AllowedSigners::parse("# nobody\n").unwrap_err();
        assert!(err.reason.contains("no signers"));
        let err = AllowedSigners::parse(&format!("a@b valid-after=2026 {KEY}\n")).unwrap_err();
        assert!(err.reason.contains("YYYYMMDD"));
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("19700101"), Some(0));
        assert_eq!(parse_time("20000301123000Z"), Some(951_913_800));
        assert_eq!(parse_time("20001301"), None);
        assert_eq!(parse_time("2000-01-01"), None);
    }
}
