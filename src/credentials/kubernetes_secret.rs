//! The `kubernetesSecret` source: keys of a Secret in pullsync's own namespace, e.g. an NGC
//! API key or IAM keys an admin created by hand (effect). The version is the Secret's
//! resourceVersion.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kube::core::request::Request;
use serde_json::Value;

use super::{CredentialValue, FetchCredentialError};
use crate::credentials::unusable::Unusable;
use crate::k8s::{Kube, OnConflict};
use crate::value::secret::SecretValue;

pub async fn fetch(
    kube: &Kube,
    namespace: &str,
    name: &str,
) -> Result<CredentialValue, FetchCredentialError> {
    let what = format!("secret {namespace}/{name}");
    let request = Request::new(format!("/api/v1/namespaces/{namespace}/secrets"));
    let secret = kube
        .call(OnConflict::Retry, || request.get(name, &Default::default()))
        .await
        .map_err(|source| FetchCredentialError::Kubernetes {
            what: what.clone(),
            source,
        })?;
    let mut fields = BTreeMap::new();
    for (key, value) in secret["data"].as_object().into_iter().flatten() {
        let bytes = value
            .as_str()
            .and_then(|v| STANDARD.decode(v).ok())
            .ok_or_else(|| FetchCredentialError::Unusable {
                what: what.clone(),
                problem: Unusable::NotBase64 { key: key.clone() },
            })?;
        let text = String::from_utf8(bytes).map_err(|_| FetchCredentialError::Unusable {
            what: what.clone(),
            problem: Unusable::NotText { key: key.clone() },
        })?;
        fields.insert(key.clone(), SecretValue::new(text));
    }
    if fields.is_empty() {
        return Err(FetchCredentialError::Unusable {
            what,
            problem: Unusable::NoData,
        });
    }
    Ok(CredentialValue {
        fields,
        version: secret
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        expires_at: None,
        origin: format!("kubernetesSecret {namespace}/{name}"),
    })
}
