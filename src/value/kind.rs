//! The kinds of Kubernetes object pullsync writes or reports on, and what a write changes:
//! named, so a status filter or a plan test cannot misspell one (`"Secret"`, `"data"`).

use std::fmt;

use serde::Serialize;

/// An object kind in outcomes, `/status` and Events, spelt as the Kubernetes API spells it.
/// Declared in alphabetical order: reports sort by it as they sorted by the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ObjectKind {
    DaemonSet,
    Deployment,
    Namespace,
    Secret,
    ServiceAccount,
    StatefulSet,
}

impl ObjectKind {
    /// The group/version an Event's `involvedObject` names (workloads are `apps/v1`).
    pub fn api_version(self) -> &'static str {
        match self {
            ObjectKind::DaemonSet | ObjectKind::Deployment | ObjectKind::StatefulSet => "apps/v1",
            ObjectKind::Namespace | ObjectKind::Secret | ObjectKind::ServiceAccount => "v1",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::DaemonSet => "DaemonSet",
            ObjectKind::Deployment => "Deployment",
            ObjectKind::Namespace => "Namespace",
            ObjectKind::Secret => "Secret",
            ObjectKind::ServiceAccount => "ServiceAccount",
            ObjectKind::StatefulSet => "StatefulSet",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What differs between a rendered Secret and the one in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Data,
    Labels,
    Annotations,
    /// Someone else edited what pullsync owns (the informer saw it).
    Drift,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Data => "data",
            Change::Labels => "labels",
            Change::Annotations => "annotations",
            Change::Drift => "drift",
        }
    }

    /// The part of a Secret a `labels/K`, `annotations/K` or `data/K` key names.
    pub fn of_key(key: &str) -> Option<Change> {
        match key.split_once('/')?.0 {
            "data" => Some(Change::Data),
            "labels" => Some(Change::Labels),
            "annotations" => Some(Change::Annotations),
            _ => None,
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_sort_as_their_names_and_keys_name_their_part() {
        let kinds = [
            ObjectKind::DaemonSet,
            ObjectKind::Deployment,
            ObjectKind::Namespace,
            ObjectKind::Secret,
            ObjectKind::ServiceAccount,
            ObjectKind::StatefulSet,
        ];
        assert!(
            kinds
                .windows(2)
                .all(|w| w[0] < w[1] && w[0].as_str() < w[1].as_str())
        );
        assert_eq!(
            serde_json::to_string(&ObjectKind::ServiceAccount).unwrap(),
            "\"ServiceAccount\""
        );
        assert_eq!(Change::of_key("labels/team"), Some(Change::Labels));
        assert_eq!(Change::of_key("data/.dockerconfigjson"), Some(Change::Data));
        assert_eq!(Change::of_key("status/x"), None);
        assert_eq!(serde_json::to_string(&Change::Drift).unwrap(), "\"drift\"");
    }
}
