//! Kubernetes name, label and annotation rules (pure).
//!
//! Copied from the rules in k8s.io/apimachinery `pkg/util/validation/validation.go`
//! (IsDNS1123Label, IsDNS1123Subdomain, IsQualifiedName, IsValidLabelValue) and
//! `pkg/api/validation/objectmeta.go` (total annotation size). Each check returns the reason a
//! value is rejected, phrased so it can follow "is not valid: ".

/// DNS-1123 label: namespaces, ServiceAccount names.
const DNS1123_LABEL_MAX: usize = 63;
/// DNS-1123 subdomain: Secret names, label and annotation key prefixes.
const DNS1123_SUBDOMAIN_MAX: usize = 253;
/// The name part of a qualified key and a label value.
const QUALIFIED_NAME_MAX: usize = 63;
/// Total size of all annotation keys and values on one object.
pub const TOTAL_ANNOTATION_SIZE_MAX: usize = 256 * 1024;
/// Secret data keys: `IsConfigMapKey`.
const DATA_KEY_MAX: usize = 253;

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// A DNS-1123 label: lower-case alphanumerics and '-', starting and ending alphanumeric.
pub fn dns1123_label(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.len() > DNS1123_LABEL_MAX {
        return Err(format!("must be no more than {DNS1123_LABEL_MAX} characters"));
    }
    let ok_chars = value.chars().all(|c| is_lower_alnum(c) || c == '-');
    let ok_ends = value.starts_with(is_lower_alnum) && value.ends_with(is_lower_alnum);
    if !ok_chars || !ok_ends {
        return Err(
            "must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name' or '123-abc')"
                .into(),
        );
    }
    Ok(())
}

/// A DNS-1123 subdomain: dot-separated DNS-1123 labels, at most 253 characters.
pub fn dns1123_subdomain(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.len() > DNS1123_SUBDOMAIN_MAX {
        return Err(format!("must be no more than {DNS1123_SUBDOMAIN_MAX} characters"));
    }
    let ok = value.split('.').all(|part| {
        !part.is_empty()
            && part.chars().all(|c| is_lower_alnum(c) || c == '-')
            && part.starts_with(is_lower_alnum)
            && part.ends_with(is_lower_alnum)
    });
    if !ok {
        return Err(
            "must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')"
                .into(),
        );
    }
    Ok(())
}

/// The name part of a qualified name, and a non-empty label value.
fn qualified_name_part(value: &str) -> Result<(), String> {
    if value.len() > QUALIFIED_NAME_MAX {
        return Err(format!("must be no more than {QUALIFIED_NAME_MAX} characters"));
    }
    let ok_chars = value
        .chars()
        .all(|c| is_alnum(c) || c == '-' || c == '_' || c == '.');
    let ok_ends = value.starts_with(is_alnum) && value.ends_with(is_alnum);
    if !ok_chars || !ok_ends {
        return Err(
            "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')"
                .into(),
        );
    }
    Ok(())
}

/// A label or annotation key: `[prefix/]name`, the prefix a DNS-1123 subdomain.
pub fn qualified_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if name.contains('/') {
            return Err("may contain at most one '/' (prefix/name)".into());
        }
        dns1123_subdomain(prefix).map_err(|why| format!("has a prefix that {why}"))?;
    }
    if name.is_empty() {
        return Err("must have a name part (prefix/name or name)".into());
    }
    qualified_name_part(name).map_err(|why| format!("has a name part that {why}"))
}

/// A label value: empty, or a qualified name part.
pub fn label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    qualified_name_part(value)
}

/// A key of a Secret's `data`.
pub fn data_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > DATA_KEY_MAX {
        return Err(format!("must be 1 to {DATA_KEY_MAX} characters"));
    }
    if key == "." || key == ".." {
        return Err("must not be '.' or '..'".into());
    }
    if !key
        .chars()
        .all(|c| is_alnum(c) || c == '-' || c == '_' || c == '.')
    {
        return Err("must consist of alphanumeric characters, '-', '_' or '.'".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains() {
        type Check = fn(&str) -> Result<(), String>;
        let cases: &[(&str, Check, &str, bool)] = &[
            ("namespace plain", dns1123_label, "ml-team", true),
            ("namespace upper", dns1123_label, "ML", false),
            ("namespace dot", dns1123_label, "a.b", false),
            ("namespace dash end", dns1123_label, "a-", false),
            ("namespace 64", dns1123_label, &"a".repeat(64), false),
            ("subdomain dots", dns1123_subdomain, "a.b-c.d", true),
            ("subdomain empty label", dns1123_subdomain, "a..b", false),
            ("key plain", qualified_key, "team", true),
            ("key prefixed", qualified_key, "opendatahub.io/dashboard", true),
            ("key upper name", qualified_key, "example.com/MyKey", true),
            ("key upper prefix", qualified_key, "Example.com/key", false),
            ("key two slashes", qualified_key, "a/b/c", false),
            ("key empty name", qualified_key, "example.com/", false),
            ("key space", qualified_key, "display name", false),
            ("value empty", label_value, "", true),
            ("value true", label_value, "true", true),
            ("value space", label_value, "a b", false),
            ("data key dot", data_key, ".dockerconfigjson", true),
            ("data key slash", data_key, "a/b", false),
        ];
        for (name, check, input, ok) in cases {
            assert_eq!(check(input).is_ok(), *ok, "case {name}: {input:?}");
        }
    }
}
