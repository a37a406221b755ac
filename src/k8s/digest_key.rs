//! The per-install digest key in the cluster (effect): a Secret in pullsync's own namespace,
//! `pullsync-digest-key-<instance>`, created once with a random key and read at start. Created
//! with POST, so two replicas starting together end up with the same key (the loser reads the
//! winner's).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kube::api::PostParams;
use kube::core::request::Request;
use serde_json::{Value, json};

use super::client::{CallError, Kube, OnConflict};
use crate::value::digest::DigestKey;

const KEY: &str = "key";

pub fn secret_name(instance: &str) -> String {
    format!("pullsync-digest-key-{instance}")
}

async fn read(kube: &Kube, request: &Request, name: &str) -> Result<Option<DigestKey>, CallError> {
    match kube
        .call(OnConflict::Retry, || request.get(name, &Default::default()))
        .await
    {
        Ok(secret) => Ok(secret
            .pointer(&format!("/data/{KEY}"))
            .and_then(Value::as_str)
            .and_then(|b| STANDARD.decode(b).ok())
            .and_then(|bytes| DigestKey::from_bytes(&bytes))),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The install's key; with `create`, made when missing. `None`: missing and not created (for
/// read-only commands, which then use a throwaway key).
pub async fn load(
    kube: &Kube,
    namespace: &str,
    instance: &str,
    create: bool,
) -> Result<Option<DigestKey>, CallError> {
    let request = Request::new(format!("/api/v1/namespaces/{namespace}/secrets"));
    let name = secret_name(instance);
    if let Some(key) = read(kube, &request, &name).await? {
        return Ok(Some(key));
    }
    if !create {
        return Ok(None);
    }
    let key = DigestKey::generate();
    let body = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "pullsync", "pullsync.dev/state": instance}},
        "type": "Opaque",
        "data": {KEY: STANDARD.encode(key.expose())}
    });
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let params = PostParams {
        field_manager: Some(super::FIELD_MANAGER.into()),
        ..Default::default()
    };
    match kube
        .call(OnConflict::Return, || request.create(&params, body.clone()))
        .await
    {
        Ok(_) => Ok(Some(key)),
        Err(e) if e.reason() == "AlreadyExists" => read(kube, &request, &name).await,
        Err(e) => Err(e),
    }
}
