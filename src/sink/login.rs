//! Does a credential log in to a registry? (effect) The check `verify: true` makes before a
//! changed pull secret is written: `GET /v2/`, then what its `WWW-Authenticate` asks for —
//! HTTP basic, or the bearer-token flow of the distribution token spec ("Token
//! Authentication Specification": the realm, `service` and `scope` from the challenge, basic
//! credentials to the realm, the returned `token`/`access_token` back to `/v2/`).

use std::time::Duration;

use base64::Engine;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyLoginError {
    #[error("{server} refused the credential ({status})")]
    Refused { server: String, status: u16 },
    #[error("{server}: {reason}")]
    Unreachable { server: String, reason: String },
    #[error("{server}: unexpected answer: {reason}")]
    Protocol { server: String, reason: String },
}

/// The base URL of a registry key (`https://index.docker.io/v1/` is Docker Hub's API host).
fn base(server: &str, plain_http: &[String]) -> String {
    let host = if server.contains("index.docker.io") || server == "docker.io" {
        "registry-1.docker.io"
    } else {
        server
    };
    let scheme = if plain_http.iter().any(|h| h == host) {
        "http"
    } else {
        "https"
    };
    format!("{scheme}://{host}")
}

/// `Bearer realm="…",service="…",scope="…"` → its parameters (quoted values may hold commas).
pub fn challenge(header: &str) -> (String, Vec<(String, String)>) {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let mut params = Vec::new();
    let mut rest = rest.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.split_once('"') {
                Some((v, r)) => (v.to_string(), r),
                None => (quoted.to_string(), ""),
            }
        } else {
            match after.split_once(',') {
                Some((v, r)) => (v.trim().to_string(), r),
                None => (after.trim().to_string(), ""),
            }
        };
        params.push((key, value));
        rest = remaining.trim_start_matches(',').trim();
    }
    (scheme.to_ascii_lowercase(), params)
}

pub async fn verify(
    server: &str,
    username: &str,
    password: &str,
    plain_http: &[String],
) -> Result<(), VerifyLoginError> {
    let unreachable = |e: reqwest::Error| VerifyLoginError::Unreachable {
        server: server.to_string(),
        reason: e.without_url().to_string(),
    };
    let client = reqwest::Client::builder()
        .user_agent(concat!("pullsync/", env!("CARGO_PKG_VERSION")))
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .map_err(unreachable)?;
    let url = format!("{}/v2/", base(server, plain_http));
    let first = client.get(&url).send().await.map_err(unreachable)?;
    if first.status().is_success() {
        // An open registry: nothing to prove (the credential is not needed to pull).
        return Ok(());
    }
    if first.status().as_u16() != 401 {
        return Err(VerifyLoginError::Protocol {
            server: server.into(),
            reason: format!("GET /v2/ answered {}", first.status()),
        });
    }
    let header = first
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (scheme, params) = challenge(&header);
    let refused = |status: u16| VerifyLoginError::Refused {
        server: server.to_string(),
        status,
    };
    // The registry's answer to the authenticated `GET /v2/`.
    let accepted = |answer: reqwest::Response| {
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(refused(answer.status().as_u16()))
        }
    };
    match scheme.as_str() {
        "basic" => {
            let answer = client
                .get(&url)
                .basic_auth(username, Some(password))
                .send()
                .await
                .map_err(unreachable)?;
            accepted(answer)
        }
        "bearer" => {
            let param = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
            let realm = param("realm").ok_or_else(|| VerifyLoginError::Protocol {
                server: server.into(),
                reason: "a Bearer challenge without a realm".into(),
            })?;
            let query: Vec<String> = [("service", param("service")), ("scope", param("scope"))]
                .into_iter()
                .filter_map(|(k, v)| Some(format!("{k}={}", crate::credentials::http::encode(&v?))))
                .collect();
            let separator = if realm.contains('?') { '&' } else { '?' };
            let token_url = format!("{realm}{separator}{}", query.join("&"));
            let token = client
                .get(&token_url)
                .basic_auth(username, Some(password))
                .send()
                .await
                .map_err(unreachable)?;
            if !token.status().is_success() {
                return Err(refused(token.status().as_u16()));
            }
            let bytes = token.bytes().await.map_err(unreachable)?;
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let bearer = body["token"]
                .as_str()
                .or(body["access_token"].as_str())
                .ok_or_else(|| VerifyLoginError::Protocol {
                    server: server.into(),
                    reason: "the token endpoint answered without a token".into(),
                })?;
            let answer = client
                .get(&url)
                .bearer_auth(bearer)
                .send()
                .await
                .map_err(unreachable)?;
            accepted(answer)
        }
        _ => Err(VerifyLoginError::Protocol {
            server: server.into(),
            reason: "GET /v2/ asked for no known authentication scheme".into(),
        }),
    }
}

/// The logins of a `.dockerconfigjson`: (server, username, password).
pub fn logins(dockerconfig: &str) -> Vec<(String, String, String)> {
    let config: serde_json::Value = serde_json::from_str(dockerconfig).unwrap_or_default();
    let mut out = Vec::new();
    for (server, entry) in config["auths"].as_object().into_iter().flatten() {
        let decoded = entry["auth"]
            .as_str()
            .and_then(|a| base64::engine::general_purpose::STANDARD.decode(a).ok())
            .and_then(|b| String::from_utf8(b).ok());
        if let Some((user, pass)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
            out.push((server.clone(), user.to_string(), pass.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_as_registries_send_them() {
        let (scheme, params) = challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(scheme, "bearer");
        assert_eq!(params[0], ("realm".into(), "https://auth.docker.io/token".into()));
        assert_eq!(params[2], ("scope".into(), "repository:a/b:pull,push".into()));
        let (scheme, params) = challenge(r#"Basic realm="pullsync-test""#);
        assert_eq!(scheme, "basic");
        assert_eq!(params, vec![("realm".into(), "pullsync-test".into())]);
    }

    #[test]
    fn docker_hub_is_reached_at_its_api_host() {
        assert_eq!(
            base("https://index.docker.io/v1/", &[]),
            "https://registry-1.docker.io"
        );
        assert_eq!(
            base("127.0.0.1:5000", &["127.0.0.1:5000".into()]),
            "http://127.0.0.1:5000"
        );
    }
}
