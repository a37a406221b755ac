//! What the admission webhook knows about pull secrets (pure data): per namespace, the pull
//! secrets the specs of the last applied sync keep there — their registry keys, the
//! ServiceAccounts that list them, the PullSecret spec they came from — and each namespace's
//! labels. Built once per sync from the resolved intents (so a Secret whose credential failed
//! this time, and keeps its last good value, is still known); never a value.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::spec::resolve::{Desired, IntentBody, Payload};

/// One pull secret's shape, shared by every namespace it fans out to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullShape {
    /// The Secret's name.
    pub name: String,
    /// The PullSecret spec it came from.
    pub spec: String,
    /// Its `auths` keys, in spec order.
    pub registries: Vec<String>,
    /// ServiceAccounts whose `imagePullSecrets` pullsync makes list it.
    pub service_accounts: Vec<String>,
}

#[derive(Debug, Default)]
pub struct PullIndex {
    /// Namespace → the pull secrets pullsync keeps there.
    pub namespaces: BTreeMap<String, Vec<Arc<PullShape>>>,
    /// Namespace → what pullsync's credential provider serves pods there (`delivery: provider`
    /// or `both`; `service_accounts` empty: every ServiceAccount).
    pub provided: BTreeMap<String, Vec<Arc<PullShape>>>,
    /// Namespace → its labels (for the per-namespace admission mode).
    pub labels: BTreeMap<String, crate::value::intern::SharedMap>,
    /// PullSecret spec → the namespaces it targets (to say where a credential does go).
    pub targets: BTreeMap<String, BTreeSet<String>>,
    /// Each distinct shape once (a fan-out to 10,000 namespaces is one entry here).
    pub shapes: Vec<Arc<PullShape>>,
    /// Whether a sync has filled this in (before the first one, nothing is judged).
    pub ready: bool,
}

/// `file#PullSecret/NAME` → `NAME`.
fn spec_name(spec_ref: &str) -> &str {
    spec_ref.rsplit('/').next().unwrap_or(spec_ref)
}

impl PullIndex {
    /// From one sync's resolved intents and the namespaces they were resolved against.
    pub fn build(
        desired: &Desired,
        labels: Option<&BTreeMap<String, crate::value::intern::SharedMap>>,
    ) -> Self {
        let mut index = PullIndex {
            labels: labels.cloned().unwrap_or_default(),
            ready: true,
            ..PullIndex::default()
        };
        // One shape per intent body: a fan-out to 10,000 namespaces is one allocation.
        let mut shapes: HashMap<*const IntentBody, Arc<PullShape>> = HashMap::new();
        for intent in desired.secrets.values() {
            let Payload::Pull(registries) = &intent.payload else {
                continue;
            };
            let shape = shapes
                .entry(Arc::as_ptr(&intent.body))
                .or_insert_with(|| {
                    Arc::new(PullShape {
                        name: intent.name.clone(),
                        spec: spec_name(&intent.spec_ref).to_string(),
                        registries: registries.iter().map(|r| r.server.clone()).collect(),
                        service_accounts: intent.service_accounts.clone(),
                    })
                })
                .clone();
            index
                .targets
                .entry(shape.spec.clone())
                .or_default()
                .insert(intent.namespace.clone());
            if intent.delivery.provided() {
                index
                    .provided
                    .entry(intent.namespace.clone())
                    .or_default()
                    .push(shape.clone());
            }
            if intent.delivery.writes_secret() {
                index
                    .namespaces
                    .entry(intent.namespace.clone())
                    .or_default()
                    .push(shape);
            }
        }
        index.shapes = shapes.into_values().collect();
        index
            .shapes
            .sort_by(|a, b| (&a.spec, &a.name).cmp(&(&b.spec, &b.name)));
        index
    }

    /// The managed pull secret `name` in `namespace`.
    pub fn secret(&self, namespace: &str, name: &str) -> Option<&Arc<PullShape>> {
        self.namespaces.get(namespace)?.iter().find(|s| s.name == name)
    }

    /// What the credential provider serves a pod running as `account` in `namespace`.
    pub fn provided_to(&self, namespace: &str, account: &str) -> Vec<&Arc<PullShape>> {
        self.provided
            .get(namespace)
            .into_iter()
            .flatten()
            .filter(|s| s.service_accounts.is_empty() || s.service_accounts.iter().any(|a| a == account))
            .collect()
    }

    /// The managed pull secrets pullsync lists on ServiceAccount `account` in `namespace`.
    pub fn of_service_account(&self, namespace: &str, account: &str) -> Vec<&Arc<PullShape>> {
        self.namespaces
            .get(namespace)
            .into_iter()
            .flatten()
            .filter(|s| s.service_accounts.iter().any(|a| a == account))
            .collect()
    }
}
