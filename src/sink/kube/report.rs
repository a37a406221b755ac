//! What a sync did, per object: outcomes, refusals and the versions its writes produced.

use super::*;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Created,
    Updated,
    Adopted,
    Pruned,
    Patched,
    Restarted,
    Unchanged,
    Kept,
    /// Never created: its first render failed (a credential that never worked).
    NotCreated,
    Conflict,
    Skipped,
    Failed,
}

/// One object's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub kind: ObjectKind,
    pub namespace: String,
    pub name: String,
    pub result: Status,
    pub detail: String,
}

#[derive(Debug, Default, Serialize)]
pub struct SyncReport {
    pub outcomes: Vec<Outcome>,
    pub prune_refused: Option<String>,
    /// Objects tenancy rejected in this revision (diagnostics: tenant, rule, file:line).
    pub tenancy_rejected: Vec<String>,
    /// Namespace → the rejected objects that asked for it.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tenancy_rejected_in: std::collections::BTreeMap<String, Vec<String>>,
    /// The resourceVersion each of pullsync's own Secret writes produced, from the responses:
    /// the daemon's drift check compares against these, never against a later read that may
    /// already hold someone else's edit.
    #[serde(skip)]
    pub written_versions: std::collections::BTreeMap<(String, String), String>,
}
