//! The `serviceAccountToken` source: a token minted by the TokenRequest API
//! (`serviceaccounts/token`) (effect). Its expiry is read from the response — the
//! `status.expirationTimestamp`, and the token's own `exp` claim when it has one, whichever is
//! sooner — never assumed from what was asked, since the API server may shorten it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kube::core::request::Request;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{CredentialValue, FetchCredentialError};
use crate::credentials::unusable::Unusable;
use crate::k8s::{Kube, OnConflict};
use crate::spec::model::ServiceAccountTokenSource;
use crate::value::secret::SecretValue;

/// The `exp` claim of a JWT, if it is one.
fn jwt_expiry(token: &str) -> Option<SystemTime> {
    let payload = token.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(claims["exp"].as_u64()?))
}

pub async fn fetch(
    kube: &Kube,
    source: &ServiceAccountTokenSource,
) -> Result<CredentialValue, FetchCredentialError> {
    let what = format!(
        "TokenRequest for serviceaccount {}/{}",
        source.namespace, source.service_account
    );
    let mut spec = json!({});
    if !source.audiences.is_empty() {
        spec["audiences"] = json!(source.audiences);
    }
    if let Some(seconds) = source.expiration_seconds {
        spec["expirationSeconds"] = json!(seconds);
    }
    let body = serde_json::to_vec(
        &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}),
    )
    .unwrap_or_default();
    let request = Request::new(format!("/api/v1/namespaces/{}/serviceaccounts", source.namespace));
    let response = kube
        .call(OnConflict::Retry, || {
            request.create_subresource(
                "token",
                &source.service_account,
                &Default::default(),
                body.clone(),
            )
        })
        .await
        .map_err(|source| FetchCredentialError::Kubernetes {
            what: what.clone(),
            source,
        })?;
    let token = response
        .pointer("/status/token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| FetchCredentialError::Unusable {
            what: what.clone(),
            problem: Unusable::NoToken,
        })?;
    let stated = response
        .pointer("/status/expirationTimestamp")
        .and_then(Value::as_str)
        .and_then(crate::time::parse);
    let expires_at = match (stated, jwt_expiry(token)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if expires_at.is_none() {
        return Err(FetchCredentialError::Unusable {
            what,
            problem: Unusable::NoExpiry,
        });
    }
    let digest = Sha256::digest(token.as_bytes());
    let fields = BTreeMap::from([
        ("token".to_string(), SecretValue::new(token)),
        ("password".to_string(), SecretValue::new(token)),
    ]);
    Ok(CredentialValue {
        fields,
        version: super::short_version(&digest),
        expires_at,
        origin: format!(
            "serviceAccountToken {}/{}",
            source.namespace, source.service_account
        ),
    })
}
