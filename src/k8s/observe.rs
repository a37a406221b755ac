//! What exists in the cluster that a sync depends on (effect): namespaces with their labels
//! and phase, and the Secrets this instance manages — listed by label and as metadata only, so
//! neither memory nor the wire ever carries Secret data pullsync does not need.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::api::ListParams;
use kube::core::request::Request;
use serde_json::Value;

use super::client::{CallError, Kube, OnConflict};
use crate::value::intern::Interner;
pub use crate::value::labels::ownership_selector;
pub use crate::value::observed::{ManagedSecret, NamespaceInfo, Observed, SecretMeta};

/// Page size for lists.
const PAGE: u32 = 500;

/// The keys owned by pullsync's `operation` entry (`Apply`, or `Update` for what its create
/// wrote) in `managedFields` (FieldsV1 format: `{"f:metadata":{"f:labels":{"f:KEY":{}}}}`,
/// Kubernetes API concepts: field management), as `labels/KEY`, `annotations/KEY` and (with
/// `data`) `data/KEY`.
fn owned_keys(meta: &Value, operation: &str, with_data: bool) -> std::collections::BTreeSet<String> {
    let entries = meta["managedFields"].as_array().into_iter().flatten();
    owned_keys_of(
        entries.map(|e| {
            (
                e["manager"].as_str().unwrap_or_default(),
                e["operation"].as_str().unwrap_or_default(),
                &e["fieldsV1"],
            )
        }),
        operation,
        with_data,
    )
}

/// [`owned_keys`] from (manager, operation, fieldsV1) entries, however they were decoded.
pub fn owned_keys_of<'a>(
    entries: impl Iterator<Item = (&'a str, &'a str, &'a Value)>,
    operation: &str,
    with_data: bool,
) -> std::collections::BTreeSet<String> {
    let mut keys = std::collections::BTreeSet::new();
    for (_, _, fields) in
        entries.filter(|(manager, op, _)| *manager == super::FIELD_MANAGER && *op == operation)
    {
        let mut maps = vec![
            ("labels", &fields["f:metadata"]["f:labels"]),
            ("annotations", &fields["f:metadata"]["f:annotations"]),
        ];
        if with_data {
            maps.push(("data", &fields["f:data"]));
        }
        for (prefix, map) in maps {
            if let Some(map) = map.as_object() {
                keys.extend(
                    map.keys()
                        .filter_map(|k| k.strip_prefix("f:"))
                        .map(|k| format!("{prefix}/{k}")),
                );
            }
        }
    }
    keys
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// List page by page, handing each page's items to `each` as it arrives: a list of 10,000
/// Secrets never sits in memory whole (peak memory is one page).
async fn for_each_page(
    kube: &Kube,
    path: &str,
    params: ListParams,
    metadata_only: bool,
    mut each: impl FnMut(Vec<Value>),
) -> Result<(), CallError> {
    let request = Request::new(path);
    let mut token: Option<String> = None;
    loop {
        let mut page = params.clone().limit(PAGE);
        if let Some(t) = &token {
            page = page.continue_token(t);
        }
        let mut list = kube
            .call(OnConflict::Retry, || {
                if metadata_only {
                    request.list_metadata(&page)
                } else {
                    request.list(&page)
                }
            })
            .await?;
        token = list
            .pointer("/metadata/continue")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(String::from);
        match list.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => each(items),
            _ => each(Vec::new()),
        }
        if token.is_none() {
            return Ok(());
        }
    }
}

/// Managed Secrets (of `keys`) whose data no longer matches their content-hash annotation: a
/// hand edit made before this process was watching (a restart, a takeover by another replica).
/// One list with data; only for Secrets this process has no version of its own for.
/// Where to look: the whole cluster, or only the listed namespaces (namespaced RBAC).
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    Cluster,
    Namespaces(&'a [String]),
}

impl<'a> Scope<'a> {
    pub fn of(namespaces: &'a [String]) -> Scope<'a> {
        if namespaces.is_empty() {
            Scope::Cluster
        } else {
            Scope::Namespaces(namespaces)
        }
    }

    /// The Secret collections to list: one cluster-wide, or one per namespace.
    fn secret_paths(self) -> Vec<String> {
        match self {
            Scope::Cluster => vec!["/api/v1/secrets".into()],
            Scope::Namespaces(list) => list
                .iter()
                .map(|ns| format!("/api/v1/namespaces/{ns}/secrets"))
                .collect(),
        }
    }
}

pub async fn edited_before_us(
    kube: &Kube,
    instance: &str,
    scope: Scope<'_>,
    key: &crate::value::digest::DigestKey,
    keys: &std::collections::BTreeSet<(String, String)>,
) -> Result<std::collections::BTreeSet<(String, String)>, CallError> {
    use base64::Engine;
    let params = ListParams::default().labels(&ownership_selector(instance));
    let mut edited = std::collections::BTreeSet::new();
    let mut check = |secret: &Value| {
        let meta = &secret["metadata"];
        let (Some(ns), Some(name)) = (meta["namespace"].as_str(), meta["name"].as_str()) else {
            return;
        };
        let id = (ns.to_string(), name.to_string());
        if !keys.contains(&id) {
            return;
        }
        let data: BTreeMap<String, crate::value::secret::SecretValue> = secret["data"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v.as_str()?)
                    .ok()?;
                Some((
                    k.clone(),
                    crate::value::secret::SecretValue::new(String::from_utf8(bytes).ok()?),
                ))
            })
            .collect();
        let secret_type = secret["type"].as_str().unwrap_or("Opaque");
        let actual = crate::value::digest::content_hash(key, secret_type, &data);
        if meta["annotations"][crate::value::labels::ANNOTATION_CONTENT_HASH].as_str()
            != Some(actual.as_str())
        {
            edited.insert(id);
        }
    };
    for path in scope.secret_paths() {
        for_each_page(kube, &path, params.clone(), false, |page| {
            page.iter().for_each(&mut check)
        })
        .await?;
    }
    Ok(edited)
}

pub async fn observe(kube: &Kube, instance: &str, scope: Scope<'_>) -> Result<Observed, CallError> {
    let mut namespaces = BTreeMap::new();
    let mut labels = Interner::default();
    if let Scope::Namespaces(list) = scope {
        // Namespaced RBAC reads no Namespace object: the listed ones are taken as they are,
        // without labels.
        namespaces.extend(list.iter().map(|ns| (ns.clone(), NamespaceInfo::default())));
    } else {
        observe_namespaces(kube, &mut namespaces, &mut labels).await?;
    }
    let params = ListParams::default().labels(&ownership_selector(instance));
    let mut managed = BTreeMap::new();
    let mut metas = Interner::default();
    for path in scope.secret_paths() {
        for_each_page(kube, &path, params.clone(), true, |page| {
            for secret in page {
                let meta = &secret["metadata"];
                let (Some(ns), Some(name)) = (meta["namespace"].as_str(), meta["name"].as_str()) else {
                    continue;
                };
                managed.insert(
                    (ns.to_string(), name.to_string()),
                    ManagedSecret {
                        resource_version: meta["resourceVersion"].as_str().unwrap_or_default().to_string(),
                        meta: metas.intern(SecretMeta {
                            labels: string_map(&meta["labels"]),
                            annotations: string_map(&meta["annotations"]),
                            applied_keys: owned_keys(meta, "Apply", false),
                            created_keys: owned_keys(meta, "Update", true),
                        }),
                    },
                );
            }
        })
        .await?;
    }
    Ok(Observed {
        namespaces: Arc::new(namespaces),
        managed: Arc::new(managed),
        drifted: Default::default(),
    })
}

async fn observe_namespaces(
    kube: &Kube,
    namespaces: &mut BTreeMap<String, NamespaceInfo>,
    labels: &mut Interner<BTreeMap<String, String>>,
) -> Result<(), CallError> {
    for_each_page(kube, "/api/v1/namespaces", ListParams::default(), false, |page| {
        for ns in page {
            let Some(name) = ns.pointer("/metadata/name").and_then(Value::as_str) else {
                continue;
            };
            namespaces.insert(
                name.to_string(),
                NamespaceInfo {
                    labels: labels.intern(string_map(&ns["metadata"]["labels"])),
                    terminating: ns.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating"),
                },
            );
        }
    })
    .await
}
