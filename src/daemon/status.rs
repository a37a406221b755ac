//! What the daemon reports about itself (pure data): `/status`, `/readyz`, `/metrics`.
//! Never a secret value: names, versions, times, counts and diagnostics only.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

/// Revisions remembered for `pullsync wait`.
const HISTORY: usize = 100;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CredentialStatus {
    /// Its source kind as the spec names it (`vault`, `ecr`, `ageFile`, …).
    pub source: String,
    pub version: String,
    pub expires_at: Option<String>,
    /// When it will be fetched again.
    pub renew_at: Option<String>,
    /// Why the renew point is not where the spec asked (a token issued shorter than asked).
    pub renew_adjusted: Option<String>,
    pub last_error: Option<String>,
    /// Failed attempts in a row, while the source is failing.
    pub failures: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Status {
    pub leader: bool,
    /// The revision of the specs seen last (valid or not).
    pub current_revision: Option<String>,
    /// The last revision that was valid and applied.
    pub last_good_revision: Option<String>,
    /// Whether the current revision was rejected as invalid.
    pub invalid: bool,
    pub diagnostics: Vec<String>,
    /// Applied revisions, newest last, with the namespaces each reached.
    pub applied: VecDeque<AppliedRevision>,
    pub rejected: VecDeque<String>,
    pub last_sync: Option<String>,
    pub last_successful_sync: Option<String>,
    pub last_sync_unix: Option<u64>,
    pub syncs: BTreeMap<String, u64>,
    pub actions: BTreeMap<String, u64>,
    pub credentials: BTreeMap<String, CredentialStatus>,
    /// Secret `namespace/name` → last outcome.
    pub secrets: BTreeMap<String, String>,
    /// Why the last sync refused to prune, when it did (`--max-prune-ratio`).
    pub prune_refused: Option<String>,
    /// Whether the newest commit was refused for its signature (`--verify-commits`).
    pub signature_rejected: bool,
    /// Objects of the applied revision that tenancy rejected (the rest applied).
    pub tenancy_rejected: Vec<String>,
    /// The image credential provider, when served (`--provider-listen`).
    pub provider: Option<ProviderStatus>,
}

/// What the credential provider answers from, and how often it has answered.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProviderStatus {
    /// The revision its logins come from (empty until this replica applied one as the leader).
    pub revision: String,
    /// Namespaces it serves, and distinct pull credentials it serves them.
    pub namespaces: usize,
    pub credentials: usize,
    /// Requests answered, by result (`served`, `empty`, `refused`, `unavailable`).
    pub requests: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedRevision {
    pub revision: String,
    pub namespaces: Vec<String>,
    pub complete: bool,
    /// Namespace → the objects tenancy rejected that asked for it: there, this revision is
    /// not what the specs said.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rejected: BTreeMap<String, Vec<String>>,
}

impl Status {
    pub fn ready(&self) -> bool {
        !self.invalid
            && self.last_good_revision.is_some()
            && self.last_good_revision == self.current_revision
            && self.applied.back().is_some_and(|a| a.complete)
    }

    pub fn remember_applied(&mut self, applied: AppliedRevision) {
        self.applied.retain(|a| a.revision != applied.revision);
        self.applied.push_back(applied);
        while self.applied.len() > HISTORY {
            self.applied.pop_front();
        }
    }

    pub fn remember_rejected(&mut self, revision: String) {
        if !self.rejected.contains(&revision) {
            self.rejected.push_back(revision);
        }
        while self.rejected.len() > HISTORY {
            self.rejected.pop_front();
        }
    }

    /// The counters and gauges in the OpenMetrics text format, through the official
    /// `prometheus-client` (names, escaping and `_total` suffixes are its business). Built from
    /// the status on each scrape: the status is the one source of truth for what it says;
    /// `observed` adds the durations and request counts the process measured.
    pub fn metrics(&self, observed: &crate::metrics::Metrics) -> String {
        use prometheus_client::encoding::text::encode;
        use prometheus_client::metrics::counter::Counter;
        use prometheus_client::metrics::family::Family;
        use prometheus_client::metrics::gauge::Gauge;
        use prometheus_client::registry::Registry;
        type Labels = Vec<(String, String)>;
        let label = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let mut registry = Registry::default();

        let syncs = Family::<Labels, Counter>::default();
        for (result, n) in &self.syncs {
            syncs.get_or_create(&label("result", result)).inc_by(*n);
        }
        registry.register("pullsync_syncs", "Syncs by result", syncs);
        let actions = Family::<Labels, Counter>::default();
        for (result, n) in &self.actions {
            actions.get_or_create(&label("result", result)).inc_by(*n);
        }
        registry.register("pullsync_actions", "Per-object outcomes by result", actions);

        let gauge = |value: i64| {
            let g = Gauge::<i64>::default();
            g.set(value);
            g
        };
        registry.register(
            "pullsync_leader",
            "1 when this replica holds the lease",
            gauge(i64::from(self.leader)),
        );
        registry.register(
            "pullsync_invalid_commit",
            "1 when the current revision was rejected",
            gauge(i64::from(self.invalid)),
        );
        registry.register(
            "pullsync_prune_refused",
            "1 while prunes are refused as a mass prune",
            gauge(i64::from(self.prune_refused.is_some())),
        );
        registry.register(
            "pullsync_commit_signature_rejected",
            "1 when the newest commit was refused for its signature",
            gauge(i64::from(self.signature_rejected)),
        );
        registry.register(
            "pullsync_tenancy_rejected_objects",
            "Objects of the applied revision rejected by tenancy",
            gauge(self.tenancy_rejected.len() as i64),
        );
        if let Some(t) = self.last_sync_unix {
            registry.register(
                "pullsync_last_successful_sync_timestamp_seconds",
                "When the last sync without failures finished",
                gauge(t as i64),
            );
        }
        let failures = Family::<Labels, Gauge<i64>>::default();
        let expiry = Family::<Labels, Gauge<i64>>::default();
        let renew = Family::<Labels, Gauge<i64>>::default();
        let unix = |at: Option<&str>| {
            at.and_then(crate::time::parse)
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as i64)
        };
        for (name, c) in &self.credentials {
            failures
                .get_or_create(&label("credential", name))
                .set(i64::from(c.failures));
            if let Some(t) = unix(c.expires_at.as_deref()) {
                expiry.get_or_create(&label("credential", name)).set(t);
            }
            if let Some(t) = unix(c.renew_at.as_deref()) {
                renew.get_or_create(&label("credential", name)).set(t);
            }
        }
        registry.register(
            "pullsync_credential_failures",
            "Failed fetches in a row, per credential",
            failures,
        );
        registry.register(
            "pullsync_credential_expiry_timestamp_seconds",
            "When each credential expires",
            expiry,
        );
        registry.register(
            "pullsync_credential_renew_timestamp_seconds",
            "When each credential is fetched again (its renewal, or the retry of a failing source)",
            renew,
        );
        let revision = Family::<Labels, Gauge<i64>>::default();
        if let Some(r) = &self.current_revision {
            revision.get_or_create(&label("revision", r)).set(1);
        }
        registry.register(
            "pullsync_current_revision_info",
            "The revision seen last",
            revision,
        );
        observed.register(&mut registry);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_openmetrics_without_values() {
        let mut status = Status {
            invalid: true,
            current_revision: Some("abc".into()),
            ..Status::default()
        };
        status.syncs.insert("success".into(), 3);
        status.credentials.insert(
            "ngc".into(),
            CredentialStatus {
                failures: 2,
                expires_at: Some("2030-01-01T00:00:00Z".into()),
                ..CredentialStatus::default()
            },
        );
        let text = status.metrics(&crate::metrics::Metrics::default());
        for line in [
            "pullsync_syncs_total{result=\"success\"} 3",
            "pullsync_invalid_commit 1",
            "pullsync_credential_failures{credential=\"ngc\"} 2",
            "pullsync_credential_expiry_timestamp_seconds{credential=\"ngc\"} 1893456000",
            "pullsync_current_revision_info{revision=\"abc\"} 1",
            "# EOF",
        ] {
            assert!(text.contains(line), "{line} in:\n{text}");
        }
    }
}
