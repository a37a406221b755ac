//! KV v1 and v2 reads (effect). The KV v2 version becomes the credential version; a deleted or
//! destroyed latest version is an error, so the last good secret is kept.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{VaultCallError, VaultSession};
use crate::credentials::unusable::Unusable;
use crate::credentials::{CredentialValue, FetchCredentialError};
use crate::spec::model::{KvEngine, VaultKv};
use crate::value::secret::SecretValue;

fn vault_error(what: &str, source: VaultCallError) -> FetchCredentialError {
    FetchCredentialError::Vault {
        what: what.to_string(),
        source,
    }
}

/// Vault values are JSON: strings are taken as they are, other scalars as their JSON text.
pub fn fields_of(data: &Value, what: &str) -> Result<BTreeMap<String, SecretValue>, FetchCredentialError> {
    let map = data.as_object().ok_or_else(|| FetchCredentialError::Unusable {
        what: what.to_string(),
        problem: Unusable::NoData,
    })?;
    let mut fields = BTreeMap::new();
    for (key, value) in map {
        // The rule of credential files: strings only. A number loses its leading zeros and an
        // object would become its JSON text — not what was stored.
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => {
                let kind = match other {
                    Value::Bool(_) => "a boolean",
                    Value::Number(_) => "a number",
                    _ => "not a string (an object or a list)",
                };
                return Err(FetchCredentialError::Unusable {
                    what: what.to_string(),
                    problem: Unusable::NotAString {
                        field: key.clone(),
                        kind,
                    },
                });
            }
        };
        fields.insert(key.clone(), SecretValue::new(text));
    }
    if fields.is_empty() {
        return Err(FetchCredentialError::Unusable {
            what: what.to_string(),
            problem: Unusable::NoFields,
        });
    }
    Ok(fields)
}

pub async fn fetch(session: &VaultSession, kv: &VaultKv) -> Result<CredentialValue, FetchCredentialError> {
    let mount = kv.mount.trim_matches('/');
    let path = kv.path.trim_matches('/');
    match kv.engine {
        KvEngine::V2 => {
            let mut api_path = format!("{mount}/data/{path}");
            if let Some(version) = kv.version {
                api_path.push_str(&format!("?version={version}"));
            }
            let what = format!("kv v2 {mount}/{path}");
            let response = match session.call(http::Method::GET, &api_path, None).await {
                Ok(r) => r,
                // A deleted or destroyed version answers 404 with its metadata and no data.
                Err(VaultCallError::Api { code: 404, .. }) => {
                    let meta = session
                        .call(http::Method::GET, &format!("{mount}/metadata/{path}"), None)
                        .await
                        .ok();
                    let problem = match meta
                        .as_ref()
                        .and_then(|m| m.pointer("/data/current_version"))
                        .and_then(Value::as_u64)
                    {
                        Some(current) => {
                            let version = kv.version.unwrap_or(current);
                            let entry = meta
                                .as_ref()
                                .and_then(|m| m.pointer(&format!("/data/versions/{version}")));
                            let destroyed = entry.and_then(|e| e["destroyed"].as_bool()).unwrap_or(false);
                            let deleted = entry
                                .and_then(|e| e["deletion_time"].as_str())
                                .is_some_and(|t| !t.is_empty());
                            match (destroyed, deleted) {
                                (true, _) => Unusable::VersionDestroyed { version },
                                (_, true) => Unusable::VersionDeleted { version },
                                _ => Unusable::NoSuchVersion { version },
                            }
                        }
                        None => Unusable::NoSuchSecret,
                    };
                    return Err(FetchCredentialError::Unusable { what, problem });
                }
                Err(e) => return Err(vault_error(&what, e)),
            };
            let fields = fields_of(&response["data"]["data"], &what)?;
            let version = response
                .pointer("/data/metadata/version")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            Ok(CredentialValue {
                fields,
                version: format!("v{version}"),
                expires_at: None,
                origin: what,
            })
        }
        KvEngine::V1 => {
            let what = format!("kv v1 {mount}/{path}");
            let response = session
                .call(http::Method::GET, &format!("{mount}/{path}"), None)
                .await
                .map_err(|e| vault_error(&what, e))?;
            let fields = fields_of(&response["data"], &what)?;
            let mut digest = Sha256::new();
            for (k, v) in &fields {
                digest.update(k.as_bytes());
                digest.update([0]);
                digest.update(v.expose().as_bytes());
                digest.update([0]);
            }
            let version = crate::credentials::short_version(&digest.finalize());
            Ok(CredentialValue {
                fields,
                version,
                expires_at: None,
                origin: what,
            })
        }
    }
}
