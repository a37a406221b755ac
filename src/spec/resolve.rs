//! Catalog → per-namespace secret intents, with layered labels, annotations and rotation
//! (pure).
//!
//! Layering follows the AMD AIM credential scope: the object itself wins over its namespace's
//! `Defaults`, which win over the cluster `Defaults`; maps merge key by key. Every merged value
//! records the layer it came from, so `render` can show why a label is there.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;

use super::catalog::{Catalog, Object, Origin};
use super::diag::{Diagnostic, Position};
use super::model::{DefaultsSpec, LabelSelector, Rotation};
use super::validate::ARGOCD_TRACKING_KEYS;
use crate::value::vec_map::VecMap;

mod targets;
pub use targets::matches;
use targets::targets;

/// The Argo CD annotation that keeps Argo CD from flagging or pruning generated secrets.
pub const ARGOCD_COMPARE_OPTIONS: &str = "argocd.argoproj.io/compare-options";
pub const ARGOCD_IGNORE_EXTRANEOUS: &str = "IgnoreExtraneous";

/// Where a layered value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "layer", rename_all = "camelCase")]
pub enum Layer {
    /// Written by pullsync itself.
    Builtin,
    /// The cluster-wide `Defaults`.
    Cluster { defaults: String, at: Position },
    /// The target namespace's `Defaults`.
    Namespace { defaults: String, at: Position },
    /// The `PullSecret` / `Secret` object.
    Object { at: Position },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Layered {
    pub value: String,
    pub from: Layer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryIntent {
    pub server: String,
    pub credential: String,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataIntent {
    Credential { credential: String, field: String },
    Literal(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Pull(Vec<RegistryIntent>),
    Opaque {
        secret_type: String,
        /// A sorted vector, not a `BTreeMap`: one or two keys per Secret (memory, #24).
        data: crate::value::vec_map::VecMap<String, DataIntent>,
    },
}

/// One Secret that must exist in one namespace.
#[derive(Debug, Clone)]
pub struct SecretIntent {
    pub namespace: String,
    /// Everything but the namespace, shared by every namespace a spec reaches through the
    /// same `Defaults` (a fan-out to 10,000 namespaces holds one or two of these, not 10,000).
    pub body: Arc<IntentBody>,
}

impl std::ops::Deref for SecretIntent {
    type Target = IntentBody;

    fn deref(&self) -> &IntentBody {
        &self.body
    }
}

/// What a [`SecretIntent`] asks for, whichever namespace it is in.
#[derive(Debug, Clone)]
pub struct IntentBody {
    pub name: String,
    /// `file#Kind/name`.
    pub spec_ref: String,
    pub origin: Position,
    pub payload: Payload,
    /// Sorted vectors, not `BTreeMap`s: a few keys each (every intent carries Argo CD's
    /// compare-options annotation), and a `BTreeMap` node for eleven per intent was most of a
    /// 100,000-document repository's memory (#24).
    pub labels: VecMap<String, Layered>,
    pub annotations: VecMap<String, Layered>,
    pub rotation: VecMap<String, Layered>,
    pub adopt: bool,
    /// Prove the registries accept the credential before writing changed data.
    pub verify: bool,
    pub service_accounts: Vec<String>,
    /// Workloads to restart in this namespace when the data changes.
    pub rollout_restart: Vec<super::model::RolloutTarget>,
    /// A Secret, the kubelet credential provider, or both (pull secrets only).
    pub delivery: super::model::Delivery,
}

impl IntentBody {
    /// Credentials this secret needs, each once.
    pub fn credentials(&self) -> BTreeSet<&str> {
        match &self.payload {
            Payload::Pull(registries) => registries.iter().map(|r| r.credential.as_str()).collect(),
            Payload::Opaque { data, .. } => data
                .values()
                .filter_map(|d| match d {
                    DataIntent::Credential { credential, .. } => Some(credential.as_str()),
                    DataIntent::Literal(_) => None,
                })
                .collect(),
        }
    }
}

/// What is known about namespaces. Local mode knows none, so selectors cannot match.
#[derive(Debug, Clone, Default)]
pub struct Namespaces {
    /// `None`: no cluster to ask; explicit `namespaces` lists are taken as they are.
    pub known: Option<BTreeMap<String, crate::value::intern::SharedMap>>,
}

#[derive(Debug, Default)]
pub struct Desired {
    pub secrets: BTreeMap<(String, String), SecretIntent>,
    pub diagnostics: Vec<Diagnostic>,
    /// A second intent for a (namespace, name) already taken, with the error that says so:
    /// settled by [`settle_collisions`] once tenancy has said which specs it rejects.
    pub collisions: Vec<(SecretIntent, Diagnostic)>,
}

/// Turn collisions into errors, except where tenancy rejected one side: a rejected spec
/// neither takes a name from a legitimate one nor makes the revision invalid.
pub fn settle_collisions(desired: &mut Desired, rejected: &BTreeSet<&str>) {
    for (intent, diagnostic) in std::mem::take(&mut desired.collisions) {
        if rejected.contains(intent.spec_ref.as_str()) {
            continue;
        }
        let key = (intent.namespace.clone(), intent.name.clone());
        match desired.secrets.get(&key) {
            Some(first) if !rejected.contains(first.spec_ref.as_str()) => {
                desired.diagnostics.push(diagnostic)
            }
            _ => {
                desired.secrets.insert(key, intent);
            }
        }
    }
}

/// Resolve every object; collisions wait in `Desired::collisions` (see [`settle_collisions`];
/// [`resolve`] settles them at once).
pub fn resolve_unsettled(catalog: &Catalog, namespaces: &Namespaces) -> Desired {
    let mut desired = Desired::default();
    let cluster = catalog.defaults.iter().find(|d| d.namespace.is_none());
    for object in &catalog.pull_secrets {
        let spec = &object.spec;
        let payload = Payload::Pull(
            spec.registries
                .iter()
                .map(|r| RegistryIntent {
                    server: r.server.clone(),
                    credential: r.credential.clone(),
                    email: r.email.clone(),
                })
                .collect(),
        );
        let common = Common {
            namespaces: &spec.namespaces,
            selector: spec.namespace_selector.as_ref(),
            labels: &spec.labels,
            annotations: &spec.annotations,
            rotation: spec.rotation.as_ref(),
            argocd: spec.argocd_ignore_extraneous,
            adopt: spec.adopt,
            verify: spec.verify,
            service_accounts: &spec.service_accounts,
            rollout_restart: &[],
            delivery: spec.delivery,
        };
        add(
            &mut desired,
            catalog,
            cluster,
            namespaces,
            object,
            &common,
            payload,
        );
    }
    for object in &catalog.secrets {
        let spec = &object.spec;
        let data = spec
            .data
            .iter()
            .map(|(key, source)| {
                let intent = match (&source.credential, &source.value) {
                    (Some(credential), _) => DataIntent::Credential {
                        credential: credential.clone(),
                        field: source.field.clone().unwrap_or_else(|| key.clone()),
                    },
                    (None, value) => DataIntent::Literal(value.clone().unwrap_or_default()),
                };
                (key.clone(), intent)
            })
            .collect();
        let payload = Payload::Opaque {
            secret_type: spec.secret_type.clone().unwrap_or_else(|| "Opaque".into()),
            data,
        };
        let common = Common {
            namespaces: &spec.namespaces,
            selector: spec.namespace_selector.as_ref(),
            labels: &spec.labels,
            annotations: &spec.annotations,
            rotation: spec.rotation.as_ref(),
            argocd: spec.argocd_ignore_extraneous,
            adopt: spec.adopt,
            verify: false,
            service_accounts: &[],
            rollout_restart: &spec.rollout_restart,
            delivery: super::model::Delivery::Secret,
        };
        add(
            &mut desired,
            catalog,
            cluster,
            namespaces,
            object,
            &common,
            payload,
        );
    }
    desired
}

/// Resolve every object; two specs producing one (namespace, name) is an error.
pub fn resolve(catalog: &Catalog, namespaces: &Namespaces) -> Desired {
    let mut desired = resolve_unsettled(catalog, namespaces);
    settle_collisions(&mut desired, &BTreeSet::new());
    desired
}

/// One layer's contribution, lowest precedence first.
struct LayerInput<'a> {
    layer: Layer,
    origin: &'a Origin,
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    rotation: Option<&'a Rotation>,
    argocd: Option<bool>,
}

/// What `PullSecret` and `Secret` share.
struct Common<'a> {
    namespaces: &'a [String],
    selector: Option<&'a LabelSelector>,
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    rotation: Option<&'a Rotation>,
    argocd: Option<bool>,
    adopt: bool,
    verify: bool,
    service_accounts: &'a [String],
    rollout_restart: &'a [super::model::RolloutTarget],
    delivery: super::model::Delivery,
}

fn add<S>(
    desired: &mut Desired,
    catalog: &Catalog,
    cluster: Option<&Object<DefaultsSpec>>,
    namespaces: &Namespaces,
    object: &Object<S>,
    common: &Common<'_>,
    payload: Payload,
) {
    // Namespaces with the same `Defaults` get the same body: one per distinct layering.
    let mut bodies: std::collections::HashMap<Option<usize>, Arc<IntentBody>> = Default::default();
    for namespace in targets(object, common, namespaces, &mut desired.diagnostics) {
        let scoped = catalog
            .defaults
            .iter()
            .position(|d| d.namespace.as_deref() == Some(namespace.as_str()));
        let body = bodies
            .entry(scoped)
            .or_insert_with(|| {
                let scoped = scoped.map(|i| &catalog.defaults[i]);
                Arc::new(intent_body(cluster, scoped, object, common, &payload))
            })
            .clone();
        let key = (namespace.clone(), object.name.clone());
        let intent = SecretIntent { namespace, body };
        if let Some(first) = desired.secrets.get(&key) {
            let diagnostic = Diagnostic::error(
                object.origin.at("metadata.name"),
                format!(
                    "Secret `{}` in namespace `{}` is also produced by {}",
                    key.1, key.0, first.spec_ref
                ),
            )
            .object(object.id())
            .help("give one of them another name: one namespace holds one Secret of a name")
            .related(first.origin.clone(), "the other spec");
            desired.collisions.push((intent, diagnostic));
            continue;
        }
        desired.secrets.insert(key, intent);
    }
}

/// The layered body of one object's Secret for one choice of namespace `Defaults`.
fn intent_body<S>(
    cluster: Option<&Object<DefaultsSpec>>,
    scoped: Option<&Object<DefaultsSpec>>,
    object: &Object<S>,
    common: &Common<'_>,
    payload: &Payload,
) -> IntentBody {
    let mut layers: Vec<LayerInput<'_>> = Vec::new();
    for (defaults, is_cluster) in [(cluster, true), (scoped, false)] {
        if let Some(d) = defaults {
            let (defaults, at) = (d.name.clone(), d.origin.start());
            layers.push(LayerInput {
                layer: if is_cluster {
                    Layer::Cluster { defaults, at }
                } else {
                    Layer::Namespace { defaults, at }
                },
                origin: &d.origin,
                labels: &d.spec.labels,
                annotations: &d.spec.annotations,
                rotation: d.spec.rotation.as_ref(),
                argocd: d.spec.argocd_ignore_extraneous,
            });
        }
    }
    layers.push(LayerInput {
        layer: Layer::Object {
            at: object.origin.start(),
        },
        origin: &object.origin,
        labels: common.labels,
        annotations: common.annotations,
        rotation: common.rotation,
        argocd: common.argocd,
    });

    let mut labels = VecMap::new();
    let mut annotations = VecMap::new();
    let mut rotation = VecMap::new();
    let mut argocd = Layered {
        value: "true".into(),
        from: Layer::Builtin,
    };
    for input in &layers {
        let (layer, origin) = (&input.layer, input.origin);
        merge(&mut labels, input.labels, layer, origin, "spec.labels");
        merge(
            &mut annotations,
            input.annotations,
            layer,
            origin,
            "spec.annotations",
        );
        if let Some(r) = input.rotation {
            for (key, value) in [
                ("renewBefore", &r.renew_before),
                ("refreshInterval", &r.refresh_interval),
                ("schedule", &r.schedule),
            ] {
                if let Some(value) = value {
                    let from = layer.at(origin.at(&format!("spec.rotation.{key}")));
                    rotation.insert(
                        key.to_string(),
                        Layered {
                            value: value.clone(),
                            from,
                        },
                    );
                }
            }
        }
        if let Some(flag) = input.argocd {
            let from = layer.at(origin.at("spec.argocdIgnoreExtraneous"));
            argocd = Layered {
                value: flag.to_string(),
                from,
            };
        }
    }
    for key in ARGOCD_TRACKING_KEYS {
        labels.remove(key);
        annotations.remove(key);
    }
    if argocd.value == "true" && !annotations.contains_key(ARGOCD_COMPARE_OPTIONS) {
        annotations.insert(
            ARGOCD_COMPARE_OPTIONS.to_string(),
            Layered {
                value: ARGOCD_IGNORE_EXTRANEOUS.into(),
                from: argocd.from.clone(),
            },
        );
    }
    IntentBody {
        name: object.name.clone(),
        spec_ref: object.origin.annotation(object.kind, &object.name),
        origin: object.origin.start(),
        payload: payload.clone(),
        labels,
        annotations,
        rotation,
        adopt: common.adopt,
        verify: common.verify,
        service_accounts: common.service_accounts.to_vec(),
        rollout_restart: common.rollout_restart.to_vec(),
        delivery: common.delivery,
    }
}

fn merge(
    into: &mut VecMap<String, Layered>,
    from: &BTreeMap<String, String>,
    layer: &Layer,
    origin: &Origin,
    path: &str,
) {
    for (key, value) in from {
        let from = layer.at(origin.key_at(&format!("{path}.{key}")));
        into.insert(
            key.clone(),
            Layered {
                value: value.clone(),
                from,
            },
        );
    }
}

impl Layer {
    /// The same layer, pointing at the exact line that set a value.
    fn at(&self, position: Position) -> Layer {
        match self {
            Layer::Builtin => Layer::Builtin,
            Layer::Cluster { defaults, .. } => Layer::Cluster {
                defaults: defaults.clone(),
                at: position,
            },
            Layer::Namespace { defaults, .. } => Layer::Namespace {
                defaults: defaults.clone(),
                at: position,
            },
            Layer::Object { .. } => Layer::Object { at: position },
        }
    }
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
