//! Lower-case hexadecimal, the one encoder (and decoder) every digest in pullsync is printed with (SigV4
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

/// Hex text back to bytes; `None` for an odd length or anything that is not a hex digit.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_digits_per_byte() {
        assert_eq!(super::lower(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(super::lower(&[]), "");
        assert_eq!(super::decode("000fa0ff"), Some(vec![0x00, 0x0f, 0xa0, 0xff]));
        assert_eq!(super::decode("abc"), None);
        assert_eq!(super::decode("zz"), None);
        assert_eq!(
            super::decode("\u{e9}\u{e9}"),
            None,
            "non-ASCII is refused, not a panic"
        );
    }
}
