//! Lower-case hexadecimal, the one encoder every digest in pullsync is printed with (SigV4
//! signatures, content hashes, webhook signatures, spec fingerprints). No crate in the tree
//! exports one; four lines do not justify adding one.

use std::fmt::Write as _;

/// `bytes` as lower-case hex, two digits per byte.
pub fn lower(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_digits_per_byte() {
        assert_eq!(super::lower(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(super::lower(&[]), "");
    }
}
