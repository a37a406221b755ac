//! Kubernetes Events about what pullsync did to an object (effect). Messages name objects,
//! credentials and reasons — never values. A failed event write is logged, never fatal.

use serde_json::json;

use super::client::{Kube, OnConflict};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// What to record, on which object.
pub struct Note<'a> {
    pub namespace: &'a str,
    pub kind: crate::value::kind::ObjectKind,
    pub name: &'a str,
    pub event_type: EventType,
    pub reason: &'a str,
    pub message: &'a str,
}

/// Record a note as an Event in the object's namespace.
pub async fn emit(kube: &Kube, instance: &str, note: &Note<'_>) {
    let Note {
        namespace,
        kind,
        name,
        event_type,
        reason,
        message,
    } = *note;
    let now = crate::time::format(std::time::SystemTime::now());
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": format!("{name}."), "namespace": namespace},
        "involvedObject": {"apiVersion": kind.api_version(), "kind": kind.as_str(), "name": name, "namespace": namespace},
        "reason": reason,
        "message": message,
        "type": match event_type { EventType::Normal => "Normal", EventType::Warning => "Warning" },
        "source": {"component": "pullsync"},
        "reportingComponent": "pullsync",
        "reportingInstance": instance,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1
    });
    let body = serde_json::to_vec(&event).unwrap_or_default();
    let request = kube::core::request::Request::new(format!("/api/v1/namespaces/{namespace}/events"));
    let result = kube
        .call(OnConflict::Return, || {
            request.create(&Default::default(), body.clone())
        })
        .await;
    if let Err(error) = result {
        tracing::warn!(%namespace, object = %name, %reason, %error, "could not record event");
    }
}
