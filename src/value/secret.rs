//! A redacting wrapper for secret material (pure).
//!
//! Every value that came from a credential source lives in a [`SecretValue`]. Its `Debug` and
//! `Display` print `[redacted]`, so a value cannot reach a log line, an error or a panic message
//! by accident; code that really needs the bytes calls [`SecretValue::expose`].

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// What `Debug` and `Display` print instead of a secret.
pub const REDACTED: &str = "[redacted]";

/// A secret string, zeroed on drop, never printed.
#[derive(Clone)]
pub struct SecretValue(SecretString);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The secret itself. Call only where the value is written to its destination.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

impl PartialEq for SecretValue {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for SecretValue {}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let value = SecretValue::new("canary-7f3a");
        assert_eq!(format!("{value:?}"), REDACTED);
        assert_eq!(format!("{value}"), REDACTED);
        assert_eq!(format!("{:?}", Some(vec![value.clone()])), "Some([[redacted]])");
        assert_eq!(value.expose(), "canary-7f3a");
    }
}
