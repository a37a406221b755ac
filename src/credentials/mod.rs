//! Credential sources: where secret material comes from (effect).
//!
//! Each `Credential` spec is fetched once per run, however many secrets and namespaces use it,
//! and becomes a [`CredentialValue`]: named fields (all redacted), a version, an optional
//! expiry and a description of where it came from. Later sources (Vault, TokenRequest, cloud
//! token exchanges) produce the same value.

pub mod age_file;
pub mod aws;
pub mod exchange_error;
pub mod file;
pub mod file_policy;
pub mod http;
pub mod kubernetes_secret;
pub mod oauth;
pub mod service_account_token;
pub mod unusable;
pub mod value_map;
pub mod vault;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use crate::k8s::Kube;
use crate::schedule::cache::CredentialCache;
use crate::spec::model::CredentialSpec;
use crate::spec::{Catalog, Object};

pub use crate::value::credential::{CredentialValue, MissingField, short_version};

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
    /// The source answered, but not with something usable.
    #[error("{what}: {problem}")]
    Unusable {
        what: String,
        problem: unusable::Unusable,
    },
    #[error("{last} (failed {failures} time(s); next attempt after a backoff)")]
    BackingOff { last: String, failures: u32 },
    #[error("the source gave no answer within {}s (--source-timeout)", after.as_secs_f64())]
    TimedOut { after: Duration },
    #[error("this source needs Vault: pass --vault-addr and an auth method")]
    NoVault,
    /// A token exchange (AWS, GCP, Entra ID/ACR) failed.
    #[error("{0}")]
    Exchange(#[from] exchange_error::ExchangeError),
    /// An exchange needs a field its identity credential does not have.
    #[error("credential `{credential}` has no field `{field}`")]
    MissingField { credential: String, field: String },
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
pub type Values = crate::value::credential::Values<FetchCredentialError>;

/// What fetching credentials may reach and keep: the parts of a sync's context the sources
/// use, and nothing else (no informer, no sink, no leadership).
pub struct Sources<'a> {
    pub kube: Option<&'a Kube>,
    /// pullsync's own namespace (`kubernetesSecret` sources); the kubeconfig's when `None`.
    pub own_namespace: Option<&'a str>,
    pub vault: Option<&'a vault::VaultSession>,
    /// Credential → the Vault session of the tenant that owns it.
    pub tenant_vault: &'a BTreeMap<String, vault::VaultSession>,
    pub aws: &'a aws::AwsSettings,
    pub azure_authority: &'a str,
    pub plain_http: &'a [String],
    pub files: &'a file_policy::FilePolicy,
    pub age_identities: Option<&'a age_file::Identities>,
    /// Issue nothing (`plan`): a dynamic secret is read from the lease book only.
    pub read_only: bool,
    pub leases: &'a tokio::sync::Mutex<vault::dynamic::LeaseBook>,
    /// Values and failures kept between syncs; `None` in a one-shot command.
    pub cache: Option<&'a tokio::sync::Mutex<CredentialCache>>,
    /// How long one credential's fetch may take.
    pub timeout: SourceTimeout,
    /// Where each fetch's duration is observed.
    pub metrics: &'a crate::metrics::Metrics,
}

/// How many credentials are fetched at once: one slow or dead source then costs the others
/// nothing, and a Vault or a token endpoint never sees more than this many calls from one sync.
pub const FETCH_CONCURRENCY: usize = 8;

/// How long one credential's fetch may take before it counts as failed (`--source-timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceTimeout(pub Duration);

impl Default for SourceTimeout {
    /// Under the 30 s the HTTP clients allow per request, so a source that answers nothing
    /// fails here first, with its credential's name.
    fn default() -> Self {
        SourceTimeout(Duration::from_secs(25))
    }
}

/// Fetch each named credential exactly once, up to [`FETCH_CONCURRENCY`] at a time, each
/// within the source timeout; those exchanged from another come after every other.
pub async fn fetch_all(catalog: &Catalog, names: &BTreeSet<&str>, context: &Sources<'_>) -> Values {
    use futures::StreamExt;
    let mut values = Values::default();
    let derived = |name: &&str| {
        catalog
            .credential(name)
            .is_some_and(|c| c.spec.exchanged_from().is_some())
    };
    let (exchanged, direct): (Vec<&str>, Vec<&str>) = names.iter().copied().partition(derived);
    for wave in [direct, exchanged] {
        let done = &values.ok;
        let fetched: Vec<(&str, Result<CredentialValue, FetchCredentialError>)> = futures::stream::iter(
            wave.into_iter()
                .filter_map(|name| Some((name, catalog.credential(name)?))),
        )
        .map(|(name, object)| async move { (name, fetch_one(catalog, object, context, done).await) })
        .buffer_unordered(FETCH_CONCURRENCY)
        .collect()
        .await;
        for (name, result) in fetched {
            match result {
                Ok(value) => {
                    values.ok.insert(name.to_string(), value);
                }
                Err(error) => {
                    values.failed.insert(name.to_string(), error);
                }
            }
        }
    }
    values
}
/// One credential: the cached value while it is fresh or its source is backing off, else a
/// fetch within the source timeout; a failed fetch falls back to the last good value.
async fn fetch_one(
    catalog: &Catalog,
    object: &Object<CredentialSpec>,
    context: &Sources<'_>,
    done: &BTreeMap<String, CredentialValue>,
) -> Result<CredentialValue, FetchCredentialError> {
    use tracing::Instrument;
    let name = object.name.as_str();
    let span = tracing::info_span!("fetch_credential", credential = %name);
    let now = std::time::SystemTime::now();
    if let Some(cache) = context.cache {
        let cache = cache.lock().await;
        if let Some(value) = cache.fresh(name, &object.spec, now) {
            return Ok(value.clone());
        }
        if let Some(failing) = cache.backing_off(name, now) {
            return match cache.last_good(name, now) {
                Some(value) => Ok(value.clone()),
                None => Err(FetchCredentialError::BackingOff {
                    last: failing.error.clone(),
                    failures: failing.failures,
                }),
            };
        }
    }
    let limit = context.timeout.0;
    let started = std::time::Instant::now();
    let result = match tokio::time::timeout(limit, fetch(catalog, object, context, done))
        .instrument(span.clone())
        .await
    {
        Ok(result) => result,
        Err(_) => Err(FetchCredentialError::TimedOut { after: limit }),
    };
    context
        .metrics
        .fetched(object.spec.source_kind(), started.elapsed());
    let _guard = span.enter();
    match result {
        Ok(value) => {
            tracing::debug!(version = %value.version, origin = %value.origin, fields = value.fields.len(), "credential fetched");
            if let Some(cache) = context.cache {
                cache.lock().await.store(name, &object.spec, value.clone(), now);
            }
            Ok(value)
        }
        Err(error) => {
            let last_good = match context.cache {
                Some(cache) => {
                    let mut cache = cache.lock().await;
                    cache.note_error(name, &object.spec, error.to_string(), now);
                    cache.last_good(name, now).cloned()
                }
                None => None,
            };
            match last_good {
                Some(value) => {
                    tracing::warn!(%error, "credential refresh failed; using the last good value until it expires");
                    Ok(value)
                }
                None => {
                    tracing::warn!(%error, "credential fetch failed");
                    Err(error)
                }
            }
        }
    }
}

async fn fetch(
    catalog: &Catalog,
    object: &Object<CredentialSpec>,
    context: &Sources<'_>,
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
                aws::sts::assume_role_with_web_identity(context.aws, &source.region, &web.role_arn)
                    .await?
                    .0
            }
            (None, None) => return Err(FetchCredentialError::NoSource),
        };
        return Ok(aws::ecr::fetch(source, &keys, context.aws).await?);
    }
    if let Some(gcp) = &spec.gcp_access_token {
        let field = gcp.field.as_deref().unwrap_or("key.json");
        let key = dependency_field(catalog, done, &gcp.service_account_key, field)?;
        return Ok(oauth::gcp_access_token(&key).await?);
    }
    if let Some(acr) = &spec.acr_token {
        let get = |f: &str| dependency_field(catalog, done, &acr.service_principal, f);
        let plain = context.plain_http.iter().any(|h| h == &acr.registry);
        return oauth::acr_refresh_token(
            &acr.registry,
            &get("client_id")?,
            &get("client_secret")?,
            &get("tenant_id")?,
            context.azure_authority,
            plain,
        )
        .await
        .map_err(FetchCredentialError::from);
    }
    if let Some(source) = &spec.service_account_token {
        let kube = context.kube.ok_or(FetchCredentialError::NoCluster)?;
        return service_account_token::fetch(kube, source).await;
    }
    if let Some(source) = &spec.kubernetes_secret {
        let kube = context.kube.ok_or(FetchCredentialError::NoCluster)?;
        let namespace = context
            .own_namespace
            .map_or_else(|| kube.default_namespace.clone(), str::to_string);
        return kubernetes_secret::fetch(kube, &namespace, &source.name).await;
    }
    if let Some(source) = &spec.vault {
        let session = context
            .tenant_vault
            .get(&object.name)
            .or(context.vault)
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
        return age_file::fetch(&catalog.path(&relative), &relative, context.age_identities);
    }
    if let Some(file) = &spec.file {
        return file::fetch(file, context.files);
    }
    Err(FetchCredentialError::NoSource)
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
        .ok_or_else(|| FetchCredentialError::MissingField {
            credential: name.to_string(),
            field: key.to_string(),
        })
}
