//! Where dynamic Vault leases live between runs (effect): a Secret in pullsync's own namespace,
//! `pullsync-vault-leases-<instance>`, one JSON document. It holds credential values, so it is
//! a Secret (RBAC-protected, never a file or an annotation), and it is written only when it
//! changed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kube::api::{Patch, PatchParams};
use kube::core::request::Request;
use serde_json::{Value, json};

use super::dynamic::{LeaseBook, to_json};
use crate::k8s::{CallError, Kube, OnConflict};

const KEY: &str = "leases.json";

pub fn secret_name(instance: &str) -> String {
    format!("pullsync-vault-leases-{instance}")
}

#[derive(Debug, thiserror::Error)]
pub enum LoadLeaseBookError {
    #[error(transparent)]
    Call(#[from] CallError),
    /// An empty book would issue every dynamic credential again and never revoke the old
    /// leases: refuse, and let a person look.
    #[error(
        "the lease book {namespace}/{name} is not readable (key `{KEY}` is not a lease book); refusing to sync: restore it, or delete the Secret to start a new book (the old leases then expire unrevoked)"
    )]
    Corrupt { namespace: String, name: String },
}

pub async fn load(kube: &Kube, namespace: &str, instance: &str) -> Result<LeaseBook, LoadLeaseBookError> {
    let request = Request::new(format!("/api/v1/namespaces/{namespace}/secrets"));
    let name = secret_name(instance);
    let secret = match kube
        .call(OnConflict::Retry, || request.get(&name, &Default::default()))
        .await
    {
        Ok(secret) => secret,
        Err(e) if e.is_not_found() => return Ok(LeaseBook::default()),
        Err(e) => return Err(e.into()),
    };
    let Some(encoded) = secret.pointer(&format!("/data/{KEY}")).and_then(Value::as_str) else {
        return Ok(LeaseBook::default());
    };
    STANDARD
        .decode(encoded)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<LeaseBook>(&bytes).ok())
        .ok_or_else(|| LoadLeaseBookError::Corrupt {
            namespace: namespace.to_string(),
            name,
        })
}

/// Write the book if it differs from `stored`, what this process last loaded or wrote.
pub async fn save(
    kube: &Kube,
    namespace: &str,
    instance: &str,
    book: &LeaseBook,
    stored: &LeaseBook,
) -> Result<(), CallError> {
    if to_json(stored) == to_json(book) {
        return Ok(());
    }
    let name = secret_name(instance);
    let body = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "pullsync", "pullsync.dev/state": instance}},
        "type": "Opaque",
        "data": {KEY: STANDARD.encode(to_json(book).to_string())}
    });
    let request = Request::new(format!("/api/v1/namespaces/{namespace}/secrets"));
    let params = PatchParams::apply(crate::k8s::FIELD_MANAGER).force();
    kube.call(OnConflict::Retry, || {
        request.patch(&name, &params, &Patch::Apply(&body))
    })
    .await?;
    Ok(())
}
