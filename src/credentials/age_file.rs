//! The `ageFile` source: an age-encrypted YAML/JSON map in the spec repository, and the
//! encryption helper behind `pullsync encrypt` (effect: reads files).
//!
//! Files are standard age (binary or ASCII-armored), so the `age` CLI can make and read them.
//! The identity comes from a file given to the daemon, never from the spec repository.

use std::fmt;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use sha2::{Digest, Sha256};

use super::{CredentialValue, FetchCredentialError, value_map};

/// age identities loaded from an identity file. `Debug` shows only how many.
pub struct Identities(Vec<Box<dyn age::Identity + Send + Sync>>);

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identities({})", self.0.len())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadIdentityError {
    #[error("cannot read age identity file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no usable age identity (expected lines such as AGE-SECRET-KEY-1...)")]
    Empty { path: PathBuf },
}

impl Identities {
    pub fn load(path: &Path) -> Result<Self, LoadIdentityError> {
        let read_error = |source| LoadIdentityError::Read {
            path: path.to_path_buf(),
            source,
        };
        let bytes = crate::bounded::read_regular(path, crate::bounded::MAX_SMALL_FILE).map_err(read_error)?;
        // The parse error of a malformed identity file could quote key material: report none of it.
        let parsed = age::IdentityFile::from_buffer(BufReader::new(bytes.as_slice())).map_err(|_| {
            LoadIdentityError::Empty {
                path: path.to_path_buf(),
            }
        })?;
        let identities = parsed.into_identities().map_err(|_| LoadIdentityError::Empty {
            path: path.to_path_buf(),
        })?;
        if identities.is_empty() {
            return Err(LoadIdentityError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Self(identities))
    }
}

/// Decrypt `path` (shown to users as `relative`) and parse its map of fields.
pub fn fetch(
    path: &Path,
    relative: &Path,
    identities: Option<&Identities>,
) -> Result<CredentialValue, FetchCredentialError> {
    let identities = identities.ok_or_else(|| FetchCredentialError::NoAgeIdentity {
        path: relative.to_path_buf(),
    })?;
    let ciphertext =
        crate::bounded::read_regular(path, MAX_AGE_FILE).map_err(|source| FetchCredentialError::Read {
            path: relative.to_path_buf(),
            source,
        })?;
    let plaintext =
        decrypt(&ciphertext, identities).map_err(|reason| FetchCredentialError::DecryptAgeFile {
            path: relative.to_path_buf(),
            reason,
        })?;
    let text = String::from_utf8(plaintext).map_err(|_| FetchCredentialError::ParseValues {
        path: relative.to_path_buf(),
        reason: "decrypted content is not UTF-8 text".into(),
    })?;
    let fields = value_map::parse(&text).map_err(|reason| FetchCredentialError::ParseValues {
        path: relative.to_path_buf(),
        reason: format!("decrypted content is {reason}"),
    })?;
    let digest = Sha256::digest(&ciphertext);
    Ok(CredentialValue {
        fields,
        version: super::short_version(&digest),
        expires_at: None,
        origin: format!("ageFile {}", relative.display()),
    })
}

/// An age file in a spec repository holds a small map; far larger is not a credential file.
pub const MAX_AGE_FILE: u64 = 1024 * 1024;
/// The header (recipient stanzas) is read before anything is decrypted; a few dozen
/// recipients fit with room to spare.
const MAX_HEADER: usize = 16 * 1024;
const MAX_STANZAS: usize = 64;

/// Refuse a header with too many recipient stanzas before the library tries each against each
/// identity (1,000 stanzas took seconds: a cheap stall for whoever can commit a file).
fn check_header(ciphertext: &[u8]) -> Result<(), String> {
    let mut header = Vec::new();
    ArmoredReader::new(ciphertext)
        .take(MAX_HEADER as u64)
        .read_to_end(&mut header)
        .map_err(|_| "is not an age file (armor or binary)".to_string())?;
    // The header ends at the `---` MAC line (age-encryption.org/v1 format).
    let end = header.windows(4).position(|w| w == b"\n---").ok_or_else(|| {
        format!("has an age header over {MAX_HEADER} bytes; re-encrypt it to fewer recipients")
    })?;
    let stanzas = header[..end]
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"-> "))
        .count();
    if stanzas > MAX_STANZAS {
        return Err(format!(
            "has {stanzas} recipient stanzas (at most {MAX_STANZAS}); re-encrypt it to fewer recipients"
        ));
    }
    Ok(())
}

/// Decrypt armored or binary age data.
pub fn decrypt(ciphertext: &[u8], identities: &Identities) -> Result<Vec<u8>, String> {
    check_header(ciphertext)?;
    let decryptor = age::Decryptor::new(ArmoredReader::new(ciphertext)).map_err(|e| e.to_string())?;
    let mut reader = decryptor
        .decrypt(identities.0.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => {
                "no identity matches any recipient of this file; was it encrypted to the daemon's public key?"
                    .to_string()
            }
            other => other.to_string(),
        })?;
    let mut plaintext = Vec::new();
    reader.read_to_end(&mut plaintext).map_err(|e| e.to_string())?;
    Ok(plaintext)
}

#[derive(Debug, thiserror::Error)]
pub enum EncryptCredentialError {
    #[error("{at} is not an age public key (age1...){}", if *secret { "; it is a secret identity: pass its public key, from `age-keygen -y FILE`, or use the identity with --age-identity" } else { "" })]
    BadRecipient { at: String, secret: bool },
    #[error("cannot read recipients file {path}: {source}")]
    ReadRecipients {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no recipients: pass --recipient age1... or --recipients-file FILE")]
    NoRecipients,
    #[error("the input is {0}; nothing was written")]
    BadInput(String),
    #[error("encryption failed: {0}")]
    Encrypt(String),
}

/// Parse recipients given on the command line and in recipients files (`age -R` format).
pub fn recipients(
    inline: &[String],
    files: &[PathBuf],
) -> Result<Vec<age::x25519::Recipient>, EncryptCredentialError> {
    // (where it came from, the text): errors name the place, never the text, which may be a
    // secret key given by mistake (`-R identity.txt`).
    let mut lines: Vec<(String, String)> = inline
        .iter()
        .enumerate()
        .map(|(i, l)| (format!("--recipient #{}", i + 1), l.clone()))
        .collect();
    for path in files {
        let text = crate::bounded::read_text(path, crate::bounded::MAX_SMALL_FILE).map_err(|source| {
            EncryptCredentialError::ReadRecipients {
                path: path.clone(),
                source,
            }
        })?;
        lines.extend(
            text.lines()
                .enumerate()
                .map(|(i, l)| (i, l.trim()))
                .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
                .map(|(i, l)| (format!("{} line {}", path.display(), i + 1), l.to_string())),
        );
    }
    let parsed = lines
        .iter()
        .map(|(at, l)| {
            l.parse::<age::x25519::Recipient>().map_err(|_| {
                let secret = l.to_ascii_uppercase().starts_with("AGE-SECRET-KEY-");
                EncryptCredentialError::BadRecipient {
                    at: at.clone(),
                    secret,
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if parsed.is_empty() {
        return Err(EncryptCredentialError::NoRecipients);
    }
    Ok(parsed)
}

/// Check that `plaintext` is a credential map, then encrypt it unchanged (comments kept).
pub fn encrypt(
    plaintext: &[u8],
    recipients: &[age::x25519::Recipient],
    armor: bool,
) -> Result<Vec<u8>, EncryptCredentialError> {
    let text = std::str::from_utf8(plaintext)
        .map_err(|_| EncryptCredentialError::BadInput("not UTF-8 text".into()))?;
    value_map::parse(text).map_err(EncryptCredentialError::BadInput)?;
    let encryptor = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|e| EncryptCredentialError::Encrypt(e.to_string()))?;
    let format = if armor { Format::AsciiArmor } else { Format::Binary };
    let mut out = Vec::new();
    let armored = ArmoredWriter::wrap_output(&mut out, format)
        .map_err(|e| EncryptCredentialError::Encrypt(e.to_string()))?;
    let mut writer = encryptor
        .wrap_output(armored)
        .map_err(|e| EncryptCredentialError::Encrypt(e.to_string()))?;
    writer
        .write_all(plaintext)
        .map_err(|e| EncryptCredentialError::Encrypt(e.to_string()))?;
    writer
        .finish()
        .and_then(|armored| armored.finish())
        .map_err(|e| EncryptCredentialError::Encrypt(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn round_trip_binary_and_armored() {
        let identity = age::x25519::Identity::generate();
        let identities = Identities(vec![Box::new(identity.clone())]);
        for armor in [false, true] {
            let sealed = encrypt(b"password: \"p&ss\"\n", &[identity.to_public()], armor).unwrap();
            assert_eq!(sealed.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"), armor);
            assert_eq!(decrypt(&sealed, &identities).unwrap(), b"password: \"p&ss\"\n");
        }
    }

    #[test]
    fn refuses_input_that_is_not_a_map() {
        let identity = age::x25519::Identity::generate();
        let err = encrypt(b"canary-value-only", &[identity.to_public()], false).unwrap_err();
        assert!(!err.to_string().contains("canary"));
    }

    #[test]
    fn a_header_with_too_many_stanzas_is_refused_before_decrypting() {
        let identity = age::x25519::Identity::generate();
        let identities = Identities(vec![Box::new(identity.clone())]);
        let mut many: Vec<_> = (0..MAX_STANZAS)
            .map(|_| age::x25519::Identity::generate().to_public())
            .collect();
        many.push(identity.to_public());
        for armor in [false, true] {
            let sealed = encrypt(b"password: p\n", &many, armor).unwrap();
            let err = decrypt(&sealed, &identities).unwrap_err();
            assert!(err.contains("recipient stanzas (at most 64)"), "{err}");
        }
        let few = encrypt(b"password: p\n", &many[MAX_STANZAS - 3..], true).unwrap();
        assert_eq!(decrypt(&few, &identities).unwrap(), b"password: p\n");
    }

    #[test]
    fn a_secret_key_given_as_a_recipient_is_not_echoed() {
        let identity = age::x25519::Identity::generate();
        let secret = identity.to_string();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("identity.txt");
        std::fs::write(&file, format!("# created: test\n{}\n", secret.expose_secret())).unwrap();
        let err = recipients(&[], &[file]).unwrap_err().to_string();
        assert!(
            err.contains("identity.txt line 2") && err.contains("secret identity"),
            "{err}"
        );
        assert!(!err.contains(secret.expose_secret()), "{err}");
        let err = recipients(&[secret.expose_secret().to_string()], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("--recipient #1") && !err.contains(secret.expose_secret()),
            "{err}"
        );
    }
}
