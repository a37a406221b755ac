//! Token exchanges of GCP and Azure (effect): a service-account key or a service principal
//! in, a short-lived registry password out.
//!
//! - GCP: the OAuth 2.0 JWT-bearer grant (RFC 7523; Google's "Using OAuth 2.0 for Server to
//!   Server Applications"): an RS256 assertion signed with the key's private half, posted to
//!   the key's `token_uri`; the access token logs in as `oauth2accesstoken`.
//! - Azure: the client-credentials grant at Entra ID for `containerregistry.azure.net`, then
//!   ACR's `/oauth2/exchange` (the ACR authentication docs, "AAD access token to ACR refresh
//!   token"); the refresh token logs in as `00000000-0000-0000-0000-000000000000`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::CredentialValue;
use super::exchange_error::{Call, ExchangeError};
use super::http::{client, encode, form};
use crate::value::secret::SecretValue;

pub const GCP_USERNAME: &str = "oauth2accesstoken";
pub const ACR_USERNAME: &str = "00000000-0000-0000-0000-000000000000";
const GCP_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const GCP_CALL: Call = "GCP token exchange";
const ENTRA_CALL: Call = "Entra ID token";
const ACR_CALL: Call = "ACR token exchange";

/// POST a form; the JSON answer, or an error naming the endpoint's `error`/`error_description`
/// (never the form, which holds the secret).
async fn post_form(url: &str, pairs: &[(&str, &str)], call: Call) -> Result<Value, ExchangeError> {
    let response = client()?
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs))
        .send()
        .await
        .map_err(ExchangeError::send(call))?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(ExchangeError::send(call))?;
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        let error = answer["error"].as_str().unwrap_or("unknown_error");
        let description: String = answer["error_description"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        return Err(ExchangeError::Refused {
            call,
            status: status.as_u16(),
            explained: format!("HTTP {status}: {error} {description}")
                .trim_end()
                .to_string(),
        });
    }
    Ok(answer)
}

/// `field` of an exchange's JSON answer, as text.
fn answered<'a>(answer: &'a Value, call: Call, field: &'static str) -> Result<&'a str, ExchangeError> {
    answer[field]
        .as_str()
        .ok_or(ExchangeError::Incomplete { call, field })
}

fn value(username: &str, password: String, expires_in: Option<u64>, origin: String) -> CredentialValue {
    let now = SystemTime::now();
    let expires_at = expires_in.map(|s| now + Duration::from_secs(s));
    let mut fields = BTreeMap::new();
    fields.insert("username".to_string(), SecretValue::new(username));
    fields.insert("password".to_string(), SecretValue::new(password));
    CredentialValue {
        fields,
        version: format!("issued-{}", crate::time::format(now)),
        expires_at,
        origin,
    }
}

/// The JWT-bearer exchange for a service-account JSON key.
pub async fn gcp_access_token(key_json: &str) -> Result<CredentialValue, ExchangeError> {
    let bad_key = |problem: &str| ExchangeError::ServiceAccountKey {
        problem: problem.to_string(),
    };
    let key: Value = serde_json::from_str(key_json).map_err(|_| bad_key("is not JSON"))?;
    let field = |name: &str| {
        key[name]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| bad_key(&format!("has no `{name}`")))
    };
    let (email, pem, token_uri) = (field("client_email")?, field("private_key")?, field("token_uri")?);
    let der = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>();
    let der = STANDARD
        .decode(der.trim())
        .map_err(|_| bad_key("has a private_key that is not PEM"))?;
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der)
        .map_err(|_| bad_key("has a private_key that is not an RSA PKCS#8 key"))?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "typ": "JWT"}).to_string());
    let claims = URL_SAFE_NO_PAD.encode(
        json!({"iss": email, "scope": GCP_SCOPE, "aud": token_uri, "iat": now, "exp": now + 3600})
            .to_string(),
    );
    let input = format!("{header}.{claims}");
    let mut signature = vec![0u8; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| bad_key("could not sign the assertion"))?;
    let assertion = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
    let answer = post_form(
        &token_uri,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &assertion),
        ],
        GCP_CALL,
    )
    .await?;
    let token = answered(&answer, GCP_CALL, "access_token")?;
    Ok(value(
        GCP_USERNAME,
        token.to_string(),
        answer["expires_in"].as_u64(),
        format!("gcp access token for {email}"),
    ))
}

/// Entra ID client credentials → ACR refresh token.
pub async fn acr_refresh_token(
    registry: &str,
    client_id: &str,
    client_secret: &str,
    tenant_id: &str,
    authority: &str,
    plain_http: bool,
) -> Result<CredentialValue, ExchangeError> {
    let authority = authority.trim_end_matches('/');
    let aad = post_form(
        &format!("{authority}/{}/oauth2/v2.0/token", encode(tenant_id)),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("scope", "https://containerregistry.azure.net/.default"),
        ],
        ENTRA_CALL,
    )
    .await?;
    let aad_token = answered(&aad, ENTRA_CALL, "access_token")?;
    let scheme = if plain_http { "http" } else { "https" };
    let answer = post_form(
        &format!("{scheme}://{registry}/oauth2/exchange"),
        &[
            ("grant_type", "access_token"),
            ("service", registry),
            ("tenant", tenant_id),
            ("access_token", aad_token),
        ],
        ACR_CALL,
    )
    .await?;
    let refresh = answered(&answer, ACR_CALL, "refresh_token")?;
    // ACR refresh tokens live 3 hours (ACR authentication docs); renew well before.
    Ok(value(
        ACR_USERNAME,
        refresh.to_string(),
        Some(3 * 3600),
        format!("acr refresh token for {registry}"),
    ))
}
