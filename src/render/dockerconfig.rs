//! `.dockerconfigjson` exactly as `kubectl create secret docker-registry` writes it (pure).
//!
//! kubectl marshals `{"auths": {SERVER: {username, password, email, auth}}}` with Go's
//! `encoding/json`: compact, map keys sorted, empty fields omitted (`omitempty`), and `<`, `>`,
//! `&`, U+2028, U+2029 escaped as `\u003c`, `\u003e`, `\u0026`, `\u2028`, `\u2029`.
//! `auth` is base64 of `username:password` with no newline
//! (kubectl `pkg/cmd/create/create_secret_docker.go`, `handleDockerCfgJSONContent`).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use crate::value::secret::SecretValue;

/// One registry's login.
pub struct Login<'a> {
    pub server: &'a str,
    pub username: &'a SecretValue,
    pub password: &'a SecretValue,
    pub email: Option<&'a str>,
}

#[derive(Serialize)]
struct Config<'a> {
    auths: BTreeMap<&'a str, Entry<'a>>,
}

/// Field order matters for byte equality: it is kubectl's `DockerConfigEntry` order.
#[derive(Serialize)]
struct Entry<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    username: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    password: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    email: &'a str,
    #[serde(skip_serializing_if = "String::is_empty")]
    auth: String,
}

/// The document's bytes, as a secret: it holds passwords.
pub fn render(logins: &[Login<'_>]) -> SecretValue {
    let auths = logins
        .iter()
        .map(|login| {
            let (user, pass) = (login.username.expose(), login.password.expose());
            let entry = Entry {
                username: user,
                password: pass,
                email: login.email.unwrap_or(""),
                auth: STANDARD.encode(format!("{user}:{pass}")),
            };
            (login.server, entry)
        })
        .collect();
    let json = serde_json::to_string(&Config { auths }).unwrap_or_default();
    SecretValue::new(go_html_escape(&json))
}

/// Go's `encoding/json` HTML-safe escaping, applied after serde_json (which escapes the rest
/// the same way). Safe on the whole document: these characters occur only inside strings.
fn go_html_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_kubectl_shape() {
        let (user, pass) = (SecretValue::new("<token>"), SecretValue::new("a&b"));
        let json = render(&[Login {
            server: "r.example:5000",
            username: &user,
            password: &pass,
            email: None,
        }]);
        assert_eq!(
            json.expose(),
            r#"{"auths":{"r.example:5000":{"username":"\u003ctoken\u003e","password":"a\u0026b","auth":"PHRva2VuPjphJmI="}}}"#
        );
    }
}
