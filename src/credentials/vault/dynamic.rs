//! Dynamic Vault secrets with leases (effect): issue, renew at about two thirds of the lease,
//! replace when the lease cannot be extended (max TTL), and revoke the replaced lease once the
//! secrets that used it were rewritten.
//!
//! The [`LeaseBook`] carries each lease (id, times, values) between runs so a restart reuses a
//! lease that is still good instead of issuing a new credential. It holds secret values: it is
//! persisted only into a Kubernetes Secret in pullsync's own namespace, never into a file,
//! annotation or log; its `Debug` shows lease ids' count only.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::VaultSession;
use super::kv::fields_of;
use crate::credentials::unusable::Unusable;
use crate::credentials::{CredentialValue, FetchCredentialError};
use crate::spec::model::{DynamicMethod, VaultDynamic};
use crate::value::secret::SecretValue;

/// Renew once this share of the lease has passed.
const RENEW_AFTER: f64 = 2.0 / 3.0;
/// Replace a lease whose remaining life is below this share and cannot be extended.
const REPLACE_BELOW: f64 = 1.0 / 3.0;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LeaseRecord {
    pub lease_id: String,
    pub path: String,
    pub issued_at: u64,
    /// When the lease was issued or last renewed.
    pub renewed_at: u64,
    pub expires_at: u64,
    /// The lease duration Vault granted at issue.
    pub duration: u64,
    pub renewable: bool,
    pub fields: BTreeMap<String, String>,
}

/// Every dynamic credential's current lease, plus replaced leases waiting to be revoked.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LeaseBook {
    pub current: BTreeMap<String, LeaseRecord>,
    /// credential → lease ids replaced but not yet revoked.
    #[serde(default)]
    pub retired: BTreeMap<String, Vec<String>>,
    /// What happened this run, for reports and tests (not persisted).
    #[serde(skip)]
    pub events: Vec<String>,
}

impl std::fmt::Debug for LeaseBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "LeaseBook({} leases, {} retired)",
            self.current.len(),
            self.retired.values().map(Vec::len).sum::<usize>()
        )
    }
}

fn value_of(record: &LeaseRecord, name: &str) -> CredentialValue {
    CredentialValue {
        fields: record
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), SecretValue::new(v.clone())))
            .collect(),
        version: record
            .lease_id
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .chars()
            .take(12)
            .collect(),
        expires_at: Some(UNIX_EPOCH + Duration::from_secs(record.expires_at)),
        origin: format!("vault dynamic {} ({name})", record.path),
    }
}

async fn issue(
    session: &VaultSession,
    name: &str,
    spec: &VaultDynamic,
) -> Result<LeaseRecord, FetchCredentialError> {
    let path = spec.path.trim_matches('/');
    let what = format!("vault dynamic {path}");
    let response = match spec.method {
        DynamicMethod::Read => session.call(http::Method::GET, path, None).await,
        DynamicMethod::Write => {
            session
                .call(http::Method::POST, path, Some(&json!(spec.params)))
                .await
        }
    }
    .map_err(|source| FetchCredentialError::Vault {
        what: what.clone(),
        source,
    })?;
    let lease_id = response["lease_id"]
        .as_str()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| FetchCredentialError::Unusable {
            what: what.clone(),
            problem: Unusable::NoLease,
        })?;
    let duration = response["lease_duration"].as_u64().unwrap_or(0);
    let fields = fields_of(&response["data"], &what)?
        .into_iter()
        .map(|(k, v)| (k, v.expose().to_string()))
        .collect();
    let now = now_secs();
    tracing::info!(credential = %name, %path, lease_seconds = duration, renewable = response["renewable"].as_bool().unwrap_or(false), "issued a dynamic credential");
    Ok(LeaseRecord {
        lease_id: lease_id.to_string(),
        path: path.to_string(),
        issued_at: now,
        renewed_at: now,
        expires_at: now + duration,
        duration,
        renewable: response["renewable"].as_bool().unwrap_or(false),
        fields,
    })
}

/// The credential for `name`: the current lease while it is good (renewed when due), else a
/// new one (the old one is retired for revocation).
pub async fn fetch(
    session: &VaultSession,
    name: &str,
    spec: &VaultDynamic,
    book: &mut LeaseBook,
) -> Result<CredentialValue, FetchCredentialError> {
    let now = now_secs();
    let path = spec.path.trim_matches('/');
    if let Some(record) = book
        .current
        .get(name)
        .filter(|r| r.path == path && r.expires_at > now)
        .cloned()
    {
        let remaining = record.expires_at.saturating_sub(now);
        let since = now.saturating_sub(record.renewed_at);
        let due = since as f64 >= record.duration as f64 * RENEW_AFTER;
        if !due {
            book.events.push(format!("{name}: reused lease"));
            return Ok(value_of(&record, name));
        }
        if record.renewable {
            let body = json!({"lease_id": record.lease_id, "increment": record.duration});
            match session
                .call(http::Method::PUT, "sys/leases/renew", Some(&body))
                .await
            {
                Ok(renewed) => {
                    let ttl = renewed["lease_duration"].as_u64().unwrap_or(0);
                    if now + ttl > record.expires_at && ttl as f64 >= record.duration as f64 * REPLACE_BELOW {
                        let mut updated = record.clone();
                        updated.renewed_at = now;
                        updated.expires_at = now + ttl;
                        tracing::info!(credential = %name, lease_seconds = ttl, "renewed the lease");
                        book.events.push(format!("{name}: renewed lease for {ttl}s"));
                        book.current.insert(name.to_string(), updated.clone());
                        return Ok(value_of(&updated, name));
                    }
                    tracing::info!(credential = %name, lease_seconds = ttl, "the lease is at its max TTL; replacing it");
                }
                Err(error) => {
                    tracing::warn!(credential = %name, %error, "could not renew the lease; replacing it")
                }
            }
        } else if remaining as f64 > record.duration as f64 * REPLACE_BELOW {
            book.events.push(format!("{name}: reused lease"));
            return Ok(value_of(&record, name));
        }
    }
    let fresh = issue(session, name, spec).await?;
    if let Some(old) = book.current.insert(name.to_string(), fresh.clone()) {
        if spec.revoke_old {
            book.retired
                .entry(name.to_string())
                .or_default()
                .push(old.lease_id);
        }
        book.events.push(format!("{name}: replaced lease"));
    } else {
        book.events.push(format!("{name}: issued lease"));
    }
    Ok(value_of(&fresh, name))
}

/// The current lease's value without touching Vault (for `plan`, which must not issue).
pub fn current(
    name: &str,
    spec: &VaultDynamic,
    book: &LeaseBook,
) -> Result<CredentialValue, FetchCredentialError> {
    let path = spec.path.trim_matches('/');
    match book
        .current
        .get(name)
        .filter(|r| r.path == path && r.expires_at > now_secs())
    {
        Some(record) => Ok(value_of(record, name)),
        None => Err(FetchCredentialError::Unusable {
            what: format!("vault dynamic {path}"),
            problem: Unusable::NotIssuedInPlan,
        }),
    }
}

/// Revoke the retired leases of the named credentials (those whose secrets were all replaced).
pub async fn revoke_retired(session: &VaultSession, book: &mut LeaseBook, credentials: &[String]) {
    for name in credentials {
        let Some(ids) = book.retired.remove(name) else {
            continue;
        };
        let mut left = Vec::new();
        for id in ids {
            match session
                .call(
                    http::Method::PUT,
                    "sys/leases/revoke",
                    Some(&json!({"lease_id": id})),
                )
                .await
            {
                Ok(_) => {
                    tracing::info!(credential = %name, "revoked the replaced lease");
                    book.events.push(format!("{name}: revoked old lease"));
                }
                Err(error) => {
                    tracing::warn!(credential = %name, %error, "could not revoke the replaced lease; will retry");
                    left.push(id);
                }
            }
        }
        if !left.is_empty() {
            book.retired.insert(name.clone(), left);
        }
    }
}

/// The book without this run's notes, as JSON for the state Secret.
pub fn to_json(book: &LeaseBook) -> Value {
    serde_json::to_value(book).unwrap_or(Value::Null)
}
