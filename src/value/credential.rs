//! A fetched credential: named fields (all redacted), a version, an optional expiry and where
//! it came from — the same shape whichever source produced it — and the outcome of fetching
//! every credential a sync needs.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use crate::value::secret::SecretValue;

/// A credential version from a digest: its first 8 bytes in hex (identifies, reveals nothing).
pub fn short_version(digest: &[u8]) -> String {
    crate::value::hex::lower(&digest[..digest.len().min(8)])
}

/// Fetched secret material. `Debug` lists field names only.
#[derive(Clone)]
pub struct CredentialValue {
    /// Source key → value, before the spec's `fields` mapping.
    pub fields: BTreeMap<String, SecretValue>,
    /// Changes whenever the material changes (a digest of the ciphertext, a KV version, …).
    pub version: String,
    pub expires_at: Option<SystemTime>,
    /// Human description of the source, e.g. `ageFile credentials/ngc.age`.
    pub origin: String,
}

impl fmt::Debug for CredentialValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialValue")
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("version", &self.version)
            .field("expires_at", &self.expires_at)
            .field("origin", &self.origin)
            .finish()
    }
}

/// The outcome of fetching every needed credential once; `E` says why one failed (the
/// sources' error type: the stages that only read the outcome need nothing but its text).
#[derive(Debug)]
pub struct Values<E> {
    pub ok: BTreeMap<String, CredentialValue>,
    pub failed: BTreeMap<String, E>,
}

impl<E> Default for Values<E> {
    fn default() -> Self {
        Values {
            ok: BTreeMap::new(),
            failed: BTreeMap::new(),
        }
    }
}

/// A field the fetched credential does not hold. Names keys only, never values.
#[derive(Debug, Clone, thiserror::Error)]
#[error("field `{field}` (key `{key}`) is not in the credential; it has: {}", .available.join(", "))]
pub struct MissingField {
    pub field: String,
    pub key: String,
    pub available: Vec<String>,
}

/// The value of source key `key` (after the spec's `fields` mapping) for logical `field`.
pub fn field_of(value: &CredentialValue, logical: &str, key: &str) -> Result<SecretValue, MissingField> {
    value.fields.get(key).cloned().ok_or_else(|| MissingField {
        field: logical.to_string(),
        key: key.to_string(),
        available: value.fields.keys().cloned().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_errors_name_fields_never_values() {
        let canary = "canary-7f3c-credential-value";
        let value = CredentialValue {
            fields: [("api_key".to_string(), SecretValue::new(canary))].into(),
            version: "1".into(),
            expires_at: None,
            origin: "test".into(),
        };
        let debug = format!("{value:?}");
        assert!(debug.contains("api_key") && !debug.contains(canary), "{debug}");
        let missing = field_of(&value, "password", "password").unwrap_err().to_string();
        assert!(
            missing.contains("it has: api_key") && !missing.contains(canary),
            "{missing}"
        );
        assert_eq!(field_of(&value, "password", "api_key").unwrap().expose(), canary);
    }
}
