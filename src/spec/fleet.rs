//! Fleets (pure): one spec repository, many clusters. Each pullsync is told who it is
//! (`--cluster-name`, `--cluster-label k=v`); an object with `clusters:` applies where one of
//! its names is this cluster's, or its selector matches this cluster's labels. Objects
//! without it apply everywhere. No central controller: every cluster runs its own pullsync.

use std::collections::BTreeMap;

use super::catalog::Catalog;
use super::model::Clusters;
use super::resolve::matches;

/// Who this pullsync is, in the fleet.
#[derive(Debug, Clone, Default)]
pub struct ClusterIdentity {
    pub name: Option<String>,
    pub labels: BTreeMap<String, String>,
}

impl ClusterIdentity {
    /// From `--cluster-name` and `--cluster-label k=v` values.
    pub fn parse(name: Option<&str>, labels: &[String]) -> Result<ClusterIdentity, String> {
        let mut out = ClusterIdentity {
            name: name.map(String::from),
            labels: BTreeMap::new(),
        };
        for label in labels {
            let (k, v) = label.split_once('=').ok_or_else(|| {
                format!("--cluster-label `{label}`: write KEY=VALUE, e.g. `region=eu-west`")
            })?;
            out.labels.insert(k.trim().to_string(), v.trim().to_string());
        }
        Ok(out)
    }

    pub fn applies(&self, clusters: Option<&Clusters>) -> bool {
        let Some(clusters) = clusters else {
            return true;
        };
        let by_name = self.name.as_ref().is_some_and(|n| clusters.names.contains(n));
        let by_labels = clusters
            .selector
            .as_ref()
            .is_some_and(|s| (self.name.is_some() || !self.labels.is_empty()) && matches(s, &self.labels));
        by_name || by_labels
    }

    /// Leave out what does not apply to this cluster (before resolving: a Defaults for
    /// another cluster must not layer into this one's Secrets).
    pub fn retain(&self, catalog: &mut Catalog) {
        catalog
            .pull_secrets
            .retain(|o| self.applies(o.spec.clusters.as_ref()));
        catalog.secrets.retain(|o| self.applies(o.spec.clusters.as_ref()));
        catalog
            .defaults
            .retain(|o| self.applies(o.spec.clusters.as_ref()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::model::LabelSelector;

    #[test]
    fn which_objects_apply_where() {
        let east =
            ClusterIdentity::parse(Some("gpu-east"), &["region=us-east".into(), "tier=prod".into()]).unwrap();
        let west = ClusterIdentity::parse(Some("gpu-west"), &["region=us-west".into()]).unwrap();
        let nowhere = ClusterIdentity::default();
        let by_name = Clusters {
            names: vec!["gpu-east".into()],
            selector: None,
        };
        let by_label = Clusters {
            names: vec![],
            selector: Some(LabelSelector {
                match_labels: [("tier".to_string(), "prod".to_string())].into(),
                match_expressions: vec![],
            }),
        };
        assert!(east.applies(None) && west.applies(None) && nowhere.applies(None));
        assert!(east.applies(Some(&by_name)) && !west.applies(Some(&by_name)));
        assert!(east.applies(Some(&by_label)) && !west.applies(Some(&by_label)));
        assert!(!nowhere.applies(Some(&by_name)) && !nowhere.applies(Some(&by_label)));
        assert!(ClusterIdentity::parse(None, &["oops".into()]).is_err());
    }
}
