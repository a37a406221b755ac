//! Parse decrypted or mounted credential content: a flat YAML/JSON map of strings (pure).
//!
//! Error messages here never quote the content, keys included (a secret pasted where a key
//! belongs is still a secret): they name the line instead.

use std::collections::BTreeMap;

use crate::value::secret::SecretValue;

/// Parse `key: value` pairs. Values must be strings: an unquoted `0123` would otherwise turn
/// into a number and lose its leading zero, silently changing a password.
pub fn parse(text: &str) -> Result<BTreeMap<String, SecretValue>, String> {
    let parsed: serde_json::Value =
        serde_saphyr::from_str(text).map_err(|error| match error.location().filter(|l| l.line() > 0) {
            Some(at) => format!(
                "not a YAML/JSON map of strings (syntax error at line {})",
                at.line()
            ),
            None => "not a YAML/JSON map of strings".to_string(),
        })?;
    let index = crate::spec::locate::PathIndex::build(text);
    if let Some((at, _)) = &index.first_tag {
        // `!!binary` would turn what was written into something else.
        return Err(format!(
            "has a YAML tag on line {}; write plain `key: \"value\"` lines without `!` tags",
            at.line
        ));
    }
    let serde_json::Value::Object(map) = parsed else {
        return Err("not a YAML/JSON map of strings (write `key: value` lines)".into());
    };
    let mut out = BTreeMap::new();
    for (key, value) in map {
        match value {
            serde_json::Value::String(s) => {
                out.insert(key, SecretValue::new(s));
            }
            other => {
                let kind = match other {
                    serde_json::Value::Null => "empty",
                    serde_json::Value::Bool(_) => "a boolean",
                    serde_json::Value::Number(_) => "a number",
                    _ => "not a string",
                };
                let line = index
                    .key(&key)
                    .map_or_else(String::new, |at| format!(" on line {}", at.line));
                return Err(format!(
                    "the value{line} is {kind}; quote it (`key: \"...\"`) so it is read exactly as written"
                ));
            }
        }
    }
    if out.is_empty() {
        return Err("holds no fields".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_only_and_errors_without_values() {
        let map = parse("username: a\npassword: \"0123\"\n").unwrap();
        assert_eq!(map["password"].expose(), "0123");
        let err = parse("password: 0123-canary\nother: 77123\n").unwrap_err();
        assert!(err.contains("the value on line 2 is a number"), "{err}");
        assert!(!err.contains("77123"));
        let err = parse("S3cr3tT0ken-abc123:\n").unwrap_err();
        assert!(
            err.contains("line 1 is empty") && !err.contains("S3cr3t"),
            "{err}"
        );
        let err = parse("password: !!binary aGVsbG8=\n").unwrap_err();
        assert!(
            err.contains("YAML tag on line 1") && !err.contains("aGVsbG8"),
            "{err}"
        );
        let err = parse("password: [canary-xyz\n").unwrap_err();
        assert!(!err.contains("canary"), "{err}");
        assert!(parse("just a string").is_err());
    }
}
