//! Keyed digests for what leaves the process in metadata (pure, apart from key generation).
//!
//! `pullsync.dev/content-hash` and the versions in `pullsync.dev/credentials` are read by a far
//! wider audience than the Secret's data (Argo CD, monitoring, anyone allowed to list metadata).
//! An unsalted SHA-256 of `hunter2\n` is the same in every install and confirms a guess offline,
//! so these are HMAC-SHA256 under a random per-install key that pullsync keeps to itself (a
//! Secret in its own namespace, or a 0600 file beside OUT's state). The key is stable across
//! restarts, so an unchanged resync still compares equal and costs no write.

use std::fmt;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// Key length in bytes (HMAC-SHA256's block-size-independent recommendation: the hash size).
pub const KEY_LEN: usize = 32;

/// The per-install digest key. `Debug` never shows it.
#[derive(Clone)]
pub struct DigestKey(hmac::Key, Vec<u8>);

impl fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DigestKey([redacted])")
    }
}

impl DigestKey {
    pub fn from_bytes(bytes: &[u8]) -> Option<DigestKey> {
        (bytes.len() >= KEY_LEN).then(|| DigestKey(hmac::Key::new(hmac::HMAC_SHA256, bytes), bytes.to_vec()))
    }

    /// A fresh random key from the operating system's CSPRNG.
    pub fn generate() -> DigestKey {
        let mut bytes = vec![0u8; KEY_LEN];
        // SystemRandom reads getrandom(2); it fails only on a broken kernel interface.
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("the operating system's random number generator failed");
        DigestKey(hmac::Key::new(hmac::HMAC_SHA256, &bytes), bytes)
    }

    /// The key's bytes, to store it where it is kept.
    pub fn expose(&self) -> &[u8] {
        &self.1
    }

    /// HMAC-SHA256 over length-prefixed parts, as hex: no two different inputs collide by
    /// shifting bytes between parts.
    pub fn digest<'a>(&self, parts: impl IntoIterator<Item = &'a [u8]>) -> String {
        let mut context = hmac::Context::with_key(&self.0);
        for part in parts {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part);
        }
        crate::value::hex::lower(context.sign().as_ref())
    }
}

/// `hmac-sha256:<hex>` over the type and every key and value, under the install's key.
pub fn content_hash(
    key: &DigestKey,
    secret_type: &str,
    data: &std::collections::BTreeMap<String, crate::value::secret::SecretValue>,
) -> String {
    let parts = std::iter::once(secret_type).chain(data.iter().flat_map(|(k, v)| [k.as_str(), v.expose()]));
    format!("hmac-sha256:{}", key.digest(parts.map(str::as_bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_stable_and_never_printed() {
        let a = DigestKey::from_bytes(&[1; KEY_LEN]).unwrap();
        let b = DigestKey::from_bytes(&[2; KEY_LEN]).unwrap();
        let input: [&[u8]; 1] = [b"hunter2\n"];
        assert_eq!(a.digest(input), a.digest(input), "stable for one key");
        assert_ne!(a.digest(input), b.digest(input), "different per install");
        assert_ne!(
            a.digest([b"ab".as_slice(), b"c"]),
            a.digest([b"a".as_slice(), b"bc"])
        );
        assert_eq!(format!("{a:?}"), "DigestKey([redacted])");
        assert!(DigestKey::from_bytes(&[0; 8]).is_none(), "too short");
        assert_ne!(DigestKey::generate().expose(), DigestKey::generate().expose());
    }
}
