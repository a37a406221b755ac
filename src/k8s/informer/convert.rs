//! Watch events and partial objects → the informer's entries (pure).

use super::*;

/// Taken apart, not copied: the event's maps move into the copy.
pub(super) fn managed_secret(meta: PartialObjectMeta<Secret>) -> (String, ManagedSecret) {
    let m = meta.metadata;
    let id = format!(
        "{}/{}",
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default()
    );
    let null = serde_json::Value::Null;
    let entries = || {
        m.managed_fields.iter().flatten().map(|e| {
            (
                e.manager.as_deref().unwrap_or_default(),
                e.operation.as_deref().unwrap_or_default(),
                e.fields_v1.as_ref().map_or(&null, |f| &f.0),
            )
        })
    };
    let applied_keys = owned_keys_of(entries(), "Apply", false);
    let created_keys = owned_keys_of(entries(), "Update", true);
    let secret = ManagedSecret {
        resource_version: m.resource_version.unwrap_or_default(),
        meta: Arc::new(SecretMeta {
            labels: m.labels.unwrap_or_default(),
            annotations: m.annotations.unwrap_or_default(),
            applied_keys,
            created_keys,
        }),
    };
    (id, secret)
}

pub(super) fn namespace_info(ns: PartialObjectMeta<Namespace>) -> (String, NamespaceInfo) {
    let info = NamespaceInfo {
        // A namespace being deleted has its deletionTimestamp set as its phase turns
        // Terminating (Kubernetes docs, Namespaces: "Terminating" phase).
        terminating: ns.metadata.deletion_timestamp.is_some(),
        labels: Arc::new(ns.metadata.labels.unwrap_or_default()),
    };
    (ns.metadata.name.unwrap_or_default(), info)
}

pub(super) fn decode<K, T>(event: watcher::Event<K>, convert: impl Fn(K) -> (String, T)) -> Seen<T> {
    match event {
        watcher::Event::Init => Seen::Init,
        watcher::Event::InitApply(k) => {
            let (id, t) = convert(k);
            Seen::Listed(id, t)
        }
        watcher::Event::InitDone => Seen::Done,
        watcher::Event::Apply(k) => {
            let (id, t) = convert(k);
            Seen::Applied(id, t)
        }
        watcher::Event::Delete(k) => Seen::Deleted(convert(k).0),
    }
}
