//! What a sync knows of the cluster it writes to: namespaces with their labels and phase, and
//! the Secrets this instance manages, as the metadata a sync compares (never their data).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::value::intern::SharedMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceInfo {
    pub labels: SharedMap,
    pub terminating: bool,
}

/// A Secret carrying this instance's ownership label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagedSecret {
    pub resource_version: String,
    /// Shared with every other Secret whose metadata is the same (a fan-out's are).
    pub meta: Arc<SecretMeta>,
}

/// What a sync compares of a managed Secret, besides its version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SecretMeta {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `labels/KEY` and `annotations/KEY` pullsync's server-side apply owns (from
    /// `managedFields`): a key the specs no longer render must be applied away.
    pub applied_keys: std::collections::BTreeSet<String>,
    /// `labels/KEY`, `annotations/KEY` and `data/KEY` pullsync's create (POST, an `Update`
    /// entry) wrote and still owns: an apply without them leaves them in place (the same
    /// manager's Update entry keeps owning them), so one no longer rendered is removed by a
    /// patch.
    pub created_keys: std::collections::BTreeSet<String>,
}

impl std::ops::Deref for ManagedSecret {
    type Target = SecretMeta;

    fn deref(&self) -> &SecretMeta {
        &self.meta
    }
}

/// Shared, not copied: the daemon's watch-fed copy hands the same maps to every sync.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub namespaces: Arc<BTreeMap<String, NamespaceInfo>>,
    pub managed: Arc<BTreeMap<(String, String), ManagedSecret>>,
    /// Managed Secrets someone else wrote since pullsync last did (their resourceVersion
    /// moved): applied again even when their content-hash annotation still matches.
    pub drifted: std::collections::BTreeSet<(String, String)>,
}
