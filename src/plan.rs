//! Desired × observed → the actions a sync takes (pure).
//!
//! Only objects carrying this instance's ownership label are ever updated or pruned; a Secret
//! whose render failed keeps whatever exists; an unchanged Secret costs nothing; a plan that
//! would prune more than the configured share of managed Secrets has its prunes refused.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::render::{RenderOutcome, Rendered};
use crate::value::kind::Change;
use crate::value::labels::{
    ANNOTATION_CONTENT_HASH, ANNOTATION_REVISION, ANNOTATION_SERVICE_ACCOUNTS, ANNOTATION_SPEC,
};
use crate::value::observed::{ManagedSecret, Observed};

#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Refuse prunes above this share of managed secrets (0.0–1.0).
    pub max_prune_ratio: f64,
    /// Prune anyway.
    pub allow_mass_prune: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            max_prune_ratio: 0.5,
            allow_mass_prune: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Create a Secret (index into `RenderOutcome::rendered`).
    Create {
        namespace: String,
        name: String,
        #[serde(skip)]
        index: usize,
    },
    /// Apply a changed managed Secret; `changes` says what differs.
    Update {
        namespace: String,
        name: String,
        changes: Vec<Change>,
        /// Keys (`labels/K`, `annotations/K`, `data/K`) pullsync's create wrote that are no
        /// longer rendered: an apply leaves them (its create still owns them); removed after it.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        remove: Vec<String>,
        #[serde(skip)]
        index: usize,
    },
    /// Delete a managed Secret the specs no longer ask for.
    Prune {
        namespace: String,
        name: String,
        #[serde(skip)]
        resource_version: String,
    },
    /// Bring a ServiceAccount's `imagePullSecrets` to these of our secrets.
    PatchServiceAccount {
        namespace: String,
        name: String,
        wanted: BTreeSet<String>,
    },
    /// Restart a workload whose Secret's data changed (only once that write succeeded).
    RolloutRestart {
        namespace: String,
        name: String,
        kind: crate::spec::model::WorkloadKind,
        /// The Secret whose change this follows.
        secret: String,
    },
}

impl Action {
    /// The action's name as `plan --output json` spells it (`create`, `update`, `prune`,
    /// `patch-service-account`, `rollout-restart`).
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Create { .. } => "create",
            Action::Update { .. } => "update",
            Action::Prune { .. } => "prune",
            Action::PatchServiceAccount { .. } => "patch-service-account",
            Action::RolloutRestart { .. } => "rollout-restart",
        }
    }

    pub fn target(&self) -> (&str, &str) {
        match self {
            Action::Create { namespace, name, .. }
            | Action::Update { namespace, name, .. }
            | Action::Prune { namespace, name, .. }
            | Action::PatchServiceAccount { namespace, name, .. }
            | Action::RolloutRestart { namespace, name, .. } => (namespace, name),
        }
    }
}

/// A Secret this plan does not touch although a spec names it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub namespace: String,
    pub name: String,
    pub reason: String,
    /// Whether a managed Secret of that name is there (kept as it is), or none was ever
    /// created (its first render failed): a user must not read "kept" for a missing Secret.
    pub exists: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub unchanged: Vec<(String, String)>,
    /// Secrets left as they are because they failed to render or their spec was rejected.
    pub kept: Vec<Held>,
    /// Why prunes were refused, when they were.
    pub prune_refused: Option<String>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        !self.actions.is_empty()
    }
}

/// What differs between a rendered Secret and its managed copy; empty when nothing does. The
/// revision annotation is not a difference: it records the commit that last *changed* the
/// Secret, so a commit that changes nothing rendered costs no write (at 10,000 namespaces,
/// stamping every commit on every Secret was 20,000 writes per commit).
fn differences(rendered: &Rendered, live: &ManagedSecret) -> Vec<Change> {
    let mut changes = Vec::new();
    if rendered.annotations.get(ANNOTATION_CONTENT_HASH) != live.annotations.get(ANNOTATION_CONTENT_HASH) {
        changes.push(Change::Data);
    }
    if rendered.labels.iter().any(|(k, v)| live.labels.get(k) != Some(v)) {
        changes.push(Change::Labels);
    }
    if rendered.annotations.iter().any(|(k, v)| {
        k != ANNOTATION_CONTENT_HASH && k != ANNOTATION_REVISION && live.annotations.get(k) != Some(v)
    }) {
        changes.push(Change::Annotations);
    }
    // A key pullsync applied or created before and renders no more must go.
    for key in live.applied_keys.iter().chain(&live.created_keys) {
        if let Some(change) = Change::of_key(key)
            && !still_rendered(rendered, key)
            && !changes.contains(&change)
        {
            changes.push(change);
        }
    }
    changes
}

/// `labels/K`, `annotations/K` or `data/K` is among what `rendered` holds.
fn still_rendered(rendered: &Rendered, key: &str) -> bool {
    let name = key.split_once('/').map_or("", |(_, name)| name);
    match Change::of_key(key) {
        Some(Change::Labels) => rendered.labels.contains_key(name),
        Some(Change::Annotations) => rendered.annotations.contains_key(name),
        Some(Change::Data) => rendered.data.contains_key(name),
        Some(Change::Drift) | None => true,
    }
}

/// Keys only a patch removes: written by pullsync's create, no longer rendered.
fn to_remove(rendered: &Rendered, live: &ManagedSecret) -> Vec<String> {
    live.created_keys
        .iter()
        .filter(|key| !still_rendered(rendered, key))
        .cloned()
        .collect()
}

pub fn plan(outcome: &RenderOutcome, observed: &Observed, options: &PlanOptions) -> Plan {
    let mut plan = Plan::default();
    let mut desired: BTreeSet<(String, String)> = BTreeSet::new();
    let mut accounts: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut restarts: Vec<Action> = Vec::new();
    for (index, r) in outcome.rendered.iter().enumerate() {
        let key = (r.namespace.clone(), r.name.clone());
        desired.insert(key.clone());
        for sa in &r.service_accounts {
            accounts
                .entry((r.namespace.clone(), sa.clone()))
                .or_default()
                .insert(r.name.clone());
        }
        match observed.managed.get(&key) {
            None => plan.actions.push(Action::Create {
                namespace: key.0,
                name: key.1,
                index,
            }),
            Some(live) => {
                let mut changes = differences(r, live);
                if changes.is_empty() && observed.drifted.contains(&key) {
                    changes.push(Change::Drift);
                }
                if changes.is_empty() {
                    plan.unchanged.push(key);
                } else {
                    // Data that changed reaches env-var consumers only through a restart.
                    if changes.contains(&Change::Data) {
                        restarts.extend(r.rollout_restart.iter().map(|t| Action::RolloutRestart {
                            namespace: key.0.clone(),
                            name: t.name.clone(),
                            kind: t.kind,
                            secret: key.1.clone(),
                        }));
                    }
                    plan.actions.push(Action::Update {
                        namespace: key.0,
                        name: key.1,
                        changes,
                        remove: to_remove(r, live),
                        index,
                    });
                }
            }
        }
    }
    for f in &outcome.failed {
        let key = (f.namespace.clone(), f.name.clone());
        desired.insert(key.clone());
        for sa in &f.service_accounts {
            accounts
                .entry((f.namespace.clone(), sa.clone()))
                .or_default()
                .insert(f.name.clone());
        }
        plan.kept.push(Held {
            exists: observed.managed.contains_key(&key),
            namespace: key.0,
            name: key.1,
            reason: f.reason.clone(),
        });
    }
    // Accounts a managed secret was added to before: visit them too, so stale entries go.
    for ((ns, _), live) in observed.managed.iter() {
        if let Some(list) = live.annotations.get(ANNOTATION_SERVICE_ACCOUNTS) {
            for sa in list.split(',').filter(|s| !s.is_empty()) {
                accounts.entry((ns.clone(), sa.to_string())).or_default();
            }
        }
    }
    // A Secret whose spec tenancy rejected stays as it is: a rejected spec changes nothing.
    for (key, live) in observed.managed.iter() {
        if desired.contains(key) {
            continue;
        }
        // The object itself, or its whole file (`file#`) when the file could not be read.
        let held = live.annotations.get(ANNOTATION_SPEC).and_then(|s| {
            let file = s.split_once('#').map(|(f, _)| format!("{f}#"));
            outcome
                .held
                .get(s)
                .or_else(|| file.and_then(|f| outcome.held.get(&f)))
        });
        if let Some(reason) = held {
            desired.insert(key.clone());
            plan.kept.push(Held {
                namespace: key.0.clone(),
                name: key.1.clone(),
                reason: reason.clone(),
                exists: true,
            });
        }
    }
    let usable = |ns: &str| observed.namespaces.get(ns).is_some_and(|n| !n.terminating);
    let prunes: Vec<Action> = observed
        .managed
        .iter()
        .filter(|(key, _)| !desired.contains(*key) && usable(&key.0))
        .map(|((ns, name), live)| Action::Prune {
            namespace: ns.clone(),
            name: name.clone(),
            resource_version: live.resource_version.clone(),
        })
        .collect();
    let managed = observed.managed.len();
    let share = if managed == 0 {
        0.0
    } else {
        prunes.len() as f64 / managed as f64
    };
    if !prunes.is_empty() && share > options.max_prune_ratio && !options.allow_mass_prune {
        plan.prune_refused = Some(format!(
            "refusing to prune {} of {managed} managed secrets ({:.0}% > the {:.0}% limit); if this is intended, pass --allow-mass-prune",
            prunes.len(),
            share * 100.0,
            options.max_prune_ratio * 100.0
        ));
    } else {
        plan.actions.extend(prunes);
    }
    for ((namespace, name), wanted) in accounts {
        if usable(&namespace) {
            plan.actions.push(Action::PatchServiceAccount {
                namespace,
                name,
                wanted,
            });
        }
    }
    plan.actions.extend(restarts);
    plan
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
