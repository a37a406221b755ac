//! Credential sources: where secret material comes from (effect).
//!
//! Each `Credential` spec is fetched once per run, however many secrets and namespaces use it,
//! and becomes a [`CredentialValue`]: named fields (all redacted), a version, an optional
//! expiry and a description of where it came from. Later sources (Vault, TokenRequest, cloud
//! token exchanges) produce the same value.

pub mod age_file;
pub mod aws;
pub mod cache;
pub mod file;
pub mod file_policy;
pub mod http;
pub mod kubernetes_secret;
pub mod oauth;
pub mod service_account_token;
pub mod value_map;
pub mod vault;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::context::Context;
use crate::secret::SecretValue;
use crate::spec::model::CredentialSpec;
use crate::spec::{Catalog, Object};

/// A credential version from a digest: its first 8 bytes in hex (identifies, reveals nothing).
pub fn short_version(digest: &[u8]) -> String {
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Fetched secret material. `Debug` lists field names only.
#[derive(Clone)]
pub struct CredentialValue {
    /// Source key → value, before the spec's `fields` mapping.
    pub fields: BTreeMap<String, SecretValue>,
    /// Changes whenever the material changes (a digest of the ciphertext, a KV version, …).
    pub version: String,
    pub expires_at: Option<SystemTime>,
    /// Human description of the source, e.g. `ageFile credentials/ngc.age`.
    pub origin: String,
}

impl fmt::Debug for CredentialValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialValue")
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("version", &self.version)
            .field("expires_at", &self.expires_at)
            .field("origin", &self.origin)
            .finish()
    }
}

/// Why a credential could not be fetched. Never carries secret material.
#[derive(Debug, thiserror::Error)]
pub enum FetchCredentialError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no age identity: pass --age-identity FILE (or PULLSYNC_AGE_IDENTITY) to decrypt {path}")]
    NoAgeIdentity { path: PathBuf },
    #[error("cannot decrypt {path}: {reason}")]
    DecryptAgeFile { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    ParseValues { path: PathBuf, reason: String },
    #[error("file source {path} {reason}")]
    FileNotAllowed { path: PathBuf, reason: String },
    #[error("credential has no source")]
    NoSource,
    #[error("this source needs a cluster: pass --kubeconfig, or run in a cluster")]
    NoCluster,
    #[error("{what}: {source}")]
    Kubernetes {
        what: String,
        #[source]
        source: crate::k8s::CallError,
    },
    #[error("{0}")]
    BadResponse(String),
    #[error("this source needs Vault: pass --vault-addr and an auth method")]
    NoVault,
    #[error("{0}")]
    Aws(String),
    #[error("identity credential `{0}` is not available (it failed, or is missing)")]
    Identity(String),
    #[error("{what}: {source}")]
    Vault {
        what: String,
        #[source]
        source: vault::VaultCallError,
    },
}

/// The outcome of fetching every needed credential once.
#[derive(Debug, Default)]
pub struct Values {
    pub ok: BTreeMap<String, CredentialValue>,
    pub failed: BTreeMap<String, FetchCredentialError>,
}

/// The credentials another one is exchanged from (an ECR identity's keys).
pub fn dependencies(spec: &crate::spec::model::CredentialSpec) -> Option<&str> {
    spec.ecr
        .as_ref()
        .and_then(|e| e.identity.credential.as_deref())
        .or(spec
            .gcp_access_token
            .as_ref()
            .map(|g| g.service_account_key.as_str()))
        .or(spec.acr_token.as_ref().map(|a| a.service_principal.as_str()))
}

/// `names` and the credentials they are exchanged from.
pub fn with_dependencies<'a>(catalog: &'a Catalog, names: &BTreeSet<&'a str>) -> BTreeSet<&'a str> {
    let mut out = names.clone();
    for name in names {
        if let Some(dep) = catalog.credential(name).and_then(|c| dependencies(&c.spec)) {
            out.insert(dep);
        }
    }
    out
}

/// Fetch each named credential exactly once; those exchanged from another come after it.
pub async fn fetch_all(catalog: &Catalog, names: &BTreeSet<&str>, context: &Context) -> Values {
    use tracing::Instrument;
    let mut values = Values::default();
    let derived = |name: &&&str| {
        catalog
            .credential(name)
            .is_some_and(|c| dependencies(&c.spec).is_some())
    };
    let ordered: Vec<&&str> = names
        .iter()
        .filter(|n| !derived(n))
        .chain(names.iter().filter(|n| derived(n)))
        .collect();
    for name in ordered {
        let Some(object) = catalog.credential(name) else {
            continue;
        };
        let span = tracing::info_span!("fetch_credential", credential = %name);
        let now = std::time::SystemTime::now();
        if let Some(cache) = &context.cache {
            let cache = cache.lock().await;
            if let Some(value) = cache.fresh(name, &object.spec, now) {
                values.ok.insert(name.to_string(), value.clone());
                continue;
            }
            if let Some(failing) = cache.backing_off(name, now) {
                match cache.last_good(name, now) {
                    Some(value) => {
                        values.ok.insert(name.to_string(), value.clone());
                    }
                    None => {
                        let error = FetchCredentialError::BadResponse(format!(
                            "{} (failed {} time(s); next attempt after a backoff)",
                            failing.error, failing.failures
                        ));
                        values.failed.insert(name.to_string(), error);
                    }
                }
                continue;
            }
        }
        match fetch(catalog, object, context, &values.ok)
            .instrument(span.clone())
            .await
        {
            Ok(value) => {
                let _guard = span.enter();
                tracing::debug!(version = %value.version, origin = %value.origin, fields = value.fields.len(), "credential fetched");
                if let Some(cache) = &context.cache {
                    cache.lock().await.store(name, &object.spec, value.clone(), now);
                }
                values.ok.insert(name.to_string(), value);
            }
            Err(error) => {
                let _guard = span.enter();
                let last_good = match &context.cache {
                    Some(cache) => {
                        let mut cache = cache.lock().await;
                        cache.note_error(name, error.to_string(), now);
                        cache.last_good(name, now).cloned()
                    }
                    None => None,
                };
                match last_good {
                    Some(value) => {
                        tracing::warn!(%error, "credential refresh failed; using the last good value until it expires");
                        values.ok.insert(name.to_string(), value);
                    }
                    None => {
                        tracing::warn!(%error, "credential fetch failed");
                        values.failed.insert(name.to_string(), error);
                    }
                }
            }
        }
    }
    values
}

async fn fetch(
    catalog: &Catalog,
    object: &Object<CredentialSpec>,
    context: &Context,
    done: &BTreeMap<String, CredentialValue>,
) -> Result<CredentialValue, FetchCredentialError> {
    let spec = &object.spec;
    if let Some(source) = &spec.ecr {
        let keys = match (&source.identity.credential, &source.identity.web_identity) {
            (Some(name), _) => {
                let get = |logical: &str| dependency_field(catalog, done, name, logical);
                aws::sigv4::AwsKeys {
                    access_key_id: get("access_key_id")?.trim().to_string(),
                    secret_access_key: get("secret_access_key")?.trim().to_string().into(),
                    session_token: get("session_token").ok().map(|t| t.trim().to_string().into()),
                }
            }
            (None, Some(web)) => {
                aws::sts::assume_role_with_web_identity(&context.aws, &source.region, &web.role_arn)
                    .await
                    .map_err(FetchCredentialError::Aws)?
                    .0
            }
            (None, None) => return Err(FetchCredentialError::NoSource),
        };
        return aws::ecr::fetch(source, &keys, &context.aws)
            .await
            .map_err(FetchCredentialError::Aws);
    }
    if let Some(gcp) = &spec.gcp_access_token {
        let field = gcp.field.as_deref().unwrap_or("key.json");
        let key = dependency_field(catalog, done, &gcp.service_account_key, field)?;
        return oauth::gcp_access_token(&key)
            .await
            .map_err(FetchCredentialError::Aws);
    }
    if let Some(acr) = &spec.acr_token {
        let get = |f: &str| dependency_field(catalog, done, &acr.service_principal, f);
        let plain = context.plain_http.iter().any(|h| h == &acr.registry);
        return oauth::acr_refresh_token(
            &acr.registry,
            &get("client_id")?,
            &get("client_secret")?,
            &get("tenant_id")?,
            &context.azure_authority,
            plain,
        )
        .await
        .map_err(FetchCredentialError::Aws);
    }
    if let Some(source) = &spec.service_account_token {
        let kube = context.kube.as_ref().ok_or(FetchCredentialError::NoCluster)?;
        return service_account_token::fetch(kube, source).await;
    }
    if let Some(source) = &spec.kubernetes_secret {
        let kube = context.kube.as_ref().ok_or(FetchCredentialError::NoCluster)?;
        let namespace = context
            .own_namespace
            .clone()
            .unwrap_or_else(|| kube.default_namespace.clone());
        return kubernetes_secret::fetch(kube, &namespace, &source.name).await;
    }
    if let Some(source) = &spec.vault {
        let session = context
            .tenant_vault
            .get(&object.name)
            .or(context.vault.as_ref())
            .ok_or(FetchCredentialError::NoVault)?;
        if let Some(kv) = &source.kv {
            return vault::kv::fetch(session, kv).await;
        }
        if let Some(dynamic) = &source.dynamic {
            let mut book = context.leases.lock().await;
            if context.read_only {
                return vault::dynamic::current(&object.name, dynamic, &book);
            }
            return vault::dynamic::fetch(session, &object.name, dynamic, &mut book).await;
        }
    }
    if let Some(age) = &spec.age_file {
        let relative = crate::spec::validate::age_file_path(&object.origin, &age.path).ok_or_else(|| {
            FetchCredentialError::Read {
                path: PathBuf::from(&age.path),
                source: std::io::Error::other("path leaves the spec repository"),
            }
        })?;
        return age_file::fetch(
            &catalog.path(&relative),
            &relative,
            context.age_identities.as_deref(),
        );
    }
    if let Some(file) = &spec.file {
        return file::fetch(file, &context.files);
    }
    Err(FetchCredentialError::NoSource)
}

/// The value of a logical field (`username`, `password`, `token`…) after the spec's mapping.
pub fn field(
    spec: &CredentialSpec,
    value: &CredentialValue,
    logical: &str,
) -> Result<SecretValue, MissingField> {
    if logical == "username" {
        if let Some(username) = &spec.username {
            return Ok(SecretValue::new(username.clone()));
        }
        if let Some(preset) = spec.username_preset {
            return Ok(SecretValue::new(preset.username()));
        }
    }
    let key = spec.fields.get(logical).map(String::as_str).unwrap_or(logical);
    value.fields.get(key).cloned().ok_or_else(|| MissingField {
        field: logical.to_string(),
        key: key.to_string(),
        available: value.fields.keys().cloned().collect(),
    })
}

/// A field the fetched credential does not hold. Names keys only, never values.
#[derive(Debug, Clone, thiserror::Error)]
#[error("field `{field}` (key `{key}`) is not in the credential; it has: {}", .available.join(", "))]
pub struct MissingField {
    pub field: String,
    pub key: String,
    pub available: Vec<String>,
}

/// A field of an already fetched credential, through that credential's `fields` mapping.
fn dependency_field(
    catalog: &Catalog,
    done: &BTreeMap<String, CredentialValue>,
    name: &str,
    logical: &str,
) -> Result<String, FetchCredentialError> {
    let value = done
        .get(name)
        .ok_or_else(|| FetchCredentialError::Identity(name.to_string()))?;
    let key = catalog
        .credential(name)
        .and_then(|c| c.spec.fields.get(logical))
        .map_or(logical, String::as_str);
    value
        .fields
        .get(key)
        .map(|v| v.expose().to_string())
        .ok_or_else(|| FetchCredentialError::Aws(format!("credential `{name}` has no field `{key}`")))
}
