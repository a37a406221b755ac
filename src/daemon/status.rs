//! What the daemon reports about itself (pure data): `/status`, `/readyz`, `/metrics`.
//! Never a secret value: names, versions, times, counts and diagnostics only.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

/// Revisions remembered for `pullsync wait`.
const HISTORY: usize = 100;

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialStatus {
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

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
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
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedRevision {
    pub revision: String,
    pub namespaces: Vec<String>,
    pub complete: bool,
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

    /// Prometheus text exposition (format 0.0.4) of the counters and gauges.
    pub fn metrics(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, lines: Vec<String>| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for line in lines {
                out.push_str(&line);
                out.push('\n');
            }
        };
        family(
            "pullsync_syncs_total",
            "counter",
            "Syncs by result.",
            self.syncs
                .iter()
                .map(|(r, n)| format!("pullsync_syncs_total{{result=\"{r}\"}} {n}"))
                .collect(),
        );
        family(
            "pullsync_actions_total",
            "counter",
            "Per-object outcomes by result.",
            self.actions
                .iter()
                .map(|(r, n)| format!("pullsync_actions_total{{result=\"{r}\"}} {n}"))
                .collect(),
        );
        family(
            "pullsync_prune_refused",
            "gauge",
            "1 while prunes are refused as a mass prune.",
            vec![format!(
                "pullsync_prune_refused {}",
                u8::from(self.prune_refused.is_some())
            )],
        );
        family(
            "pullsync_credential_failures",
            "gauge",
            "Failed fetches in a row, per credential.",
            self.credentials
                .iter()
                .map(|(name, c)| {
                    format!(
                        "pullsync_credential_failures{{credential=\"{name}\"}} {}",
                        c.failures
                    )
                })
                .collect(),
        );
        family(
            "pullsync_leader",
            "gauge",
            "1 when this replica holds the lease.",
            vec![format!("pullsync_leader {}", u8::from(self.leader))],
        );
        family(
            "pullsync_invalid_commit",
            "gauge",
            "1 when the current revision was rejected.",
            vec![format!("pullsync_invalid_commit {}", u8::from(self.invalid))],
        );
        family(
            "pullsync_last_successful_sync_timestamp_seconds",
            "gauge",
            "When the last sync without failures finished.",
            self.last_sync_unix
                .map(|t| format!("pullsync_last_successful_sync_timestamp_seconds {t}"))
                .into_iter()
                .collect(),
        );
        family(
            "pullsync_credential_expiry_timestamp_seconds",
            "gauge",
            "When each credential expires.",
            self.credentials
                .iter()
                .filter_map(|(name, c)| {
                    let t = crate::time::parse(c.expires_at.as_deref()?)?;
                    Some(format!(
                        "pullsync_credential_expiry_timestamp_seconds{{credential=\"{name}\"}} {}",
                        t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs()
                    ))
                })
                .collect(),
        );
        family(
            "pullsync_current_revision_info",
            "gauge",
            "The revision seen last.",
            self.current_revision
                .iter()
                .map(|r| format!("pullsync_current_revision_info{{revision=\"{r}\"}} 1"))
                .collect(),
        );
        out
    }
}
