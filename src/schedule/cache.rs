//! The credential broker's memory for a long-running process (held state; the timing rules
//! are in [`crate::schedule`]): one entry per credential whatever its fan-out; refreshed when it
//! is due or when its spec changed; on a failed refresh the last good value is used until it
//! expires, and the source is retried with a capped, jittered backoff. Entries no spec needs
//! any more are evicted, so they never wake the daemon.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use crate::spec::model::CredentialSpec;
use crate::value::credential::CredentialValue;

#[derive(Debug, Clone)]
pub struct Cached {
    pub value: CredentialValue,
    pub fetched_at: SystemTime,
    /// The spec this value was fetched for; a changed spec means a new fetch.
    pub spec: String,
    /// Its rotation settings, so the scheduler needs no spec to know when it is due.
    pub rotation: crate::spec::model::Rotation,
    pub last_error: Option<String>,
}

/// Longest wait between two attempts at a failing source.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// A source that keeps failing is retried with exponential backoff (and jitter), not on
/// every trigger.
#[derive(Debug, Clone)]
pub struct Failing {
    pub failures: u32,
    pub retry_at: SystemTime,
    pub error: String,
}

#[derive(Debug, Default)]
pub struct CredentialCache {
    pub entries: BTreeMap<String, Cached>,
    pub failing: BTreeMap<String, Failing>,
    /// Each credential's source kind (`vault`, `ecr`, …), for `/status`.
    pub sources: BTreeMap<String, &'static str>,
}

fn fingerprint(spec: &CredentialSpec) -> String {
    serde_json::to_string(spec).unwrap_or_default()
}

/// Local sources are cheap and may change under us (a rotated mounted Secret): always read.
fn is_local(spec: &CredentialSpec) -> bool {
    spec.age_file.is_some() || spec.file.is_some() || spec.vault.as_ref().is_some_and(|v| v.dynamic.is_some())
}

impl CredentialCache {
    /// The cached value if it is still good for `spec` at `now`.
    pub fn fresh(&self, name: &str, spec: &CredentialSpec, now: SystemTime) -> Option<&CredentialValue> {
        if is_local(spec) {
            return None;
        }
        let cached = self.entries.get(name)?;
        if cached.spec != fingerprint(spec) {
            return None;
        }
        (now < crate::schedule::due_of(cached).at).then_some(&cached.value)
    }

    /// The last good value while it has not expired (used when a refresh fails).
    pub fn last_good(&self, name: &str, now: SystemTime) -> Option<&CredentialValue> {
        let cached = self.entries.get(name)?;
        cached
            .value
            .expires_at
            .is_none_or(|e| e > now)
            .then_some(&cached.value)
    }

    pub fn store(&mut self, name: &str, spec: &CredentialSpec, value: CredentialValue, now: SystemTime) {
        self.failing.remove(name);
        self.sources.insert(name.to_string(), spec.source_kind());
        let cached = Cached {
            value,
            fetched_at: now,
            spec: fingerprint(spec),
            rotation: spec.rotation.clone().unwrap_or_default(),
            last_error: None,
        };
        let due = crate::schedule::due_of(&cached);
        // Said when it starts or changes, not at every fetch (local sources are read each sync).
        let before = self
            .entries
            .get(name)
            .and_then(|c| crate::schedule::due_of(c).clamp);
        if let Some(clamp) = &due.clamp
            && before.as_ref() != Some(clamp)
        {
            tracing::warn!(credential = %name, %clamp, "renewal time adjusted");
        }
        self.entries.insert(name.to_string(), cached);
    }

    /// Forget credentials no current spec needs: they must not wake the daemon or be renewed.
    pub fn retain(&mut self, needed: &BTreeSet<&str>) {
        self.entries.retain(|name, _| needed.contains(name.as_str()));
        self.failing.retain(|name, _| needed.contains(name.as_str()));
        self.sources.retain(|name, _| needed.contains(name.as_str()));
    }

    pub fn note_error(&mut self, name: &str, spec: &CredentialSpec, error: String, now: SystemTime) {
        self.sources.insert(name.to_string(), spec.source_kind());
        if let Some(cached) = self.entries.get_mut(name) {
            cached.last_error = Some(error.clone());
        }
        let failures = self.failing.get(name).map_or(1, |f| f.failures + 1);
        let base = Duration::from_secs(1u64 << failures.min(9)).min(MAX_BACKOFF);
        let nanos = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let jitter = base.mul_f64(f64::from(nanos % 1000) / 4000.0);
        self.failing.insert(
            name.to_string(),
            Failing {
                failures,
                retry_at: now + base + jitter,
                error,
            },
        );
    }

    /// While a failing source waits for its next attempt: the error to report.
    pub fn backing_off(&self, name: &str, now: SystemTime) -> Option<&Failing> {
        self.failing.get(name).filter(|f| f.retry_at > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::model::{KubernetesSecretSource, Rotation, ServiceAccountTokenSource};

    fn value(expires_in: Option<u64>, now: SystemTime) -> CredentialValue {
        CredentialValue {
            fields: BTreeMap::new(),
            version: "1".into(),
            expires_at: expires_in.map(|s| now + Duration::from_secs(s)),
            origin: "t".into(),
        }
    }

    #[test]
    fn refresh_rules() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let token = CredentialSpec {
            service_account_token: Some(ServiceAccountTokenSource {
                namespace: "a".into(),
                service_account: "b".into(),
                audiences: vec![],
                expiration_seconds: Some(600),
            }),
            rotation: Some(Rotation {
                renew_before: Some("590s".into()),
                ..Rotation::default()
            }),
            ..CredentialSpec::default()
        };
        let mut cache = CredentialCache::default();
        cache.store("t", &token, value(Some(600), now), now);
        // renewBefore 590s of a 600 s token: clamped to half the lifetime.
        assert!(
            cache.fresh("t", &token, now + Duration::from_secs(299)).is_some(),
            "before half the lifetime"
        );
        assert!(
            cache.fresh("t", &token, now + Duration::from_secs(300)).is_none(),
            "at half the lifetime"
        );

        let kv = CredentialSpec {
            kubernetes_secret: Some(KubernetesSecretSource { name: "s".into() }),
            ..CredentialSpec::default()
        };
        cache.store("k", &kv, value(None, now), now);
        assert!(cache.fresh("k", &kv, now + Duration::from_secs(299)).is_some());
        assert!(
            cache.fresh("k", &kv, now + Duration::from_secs(301)).is_none(),
            "default refresh interval"
        );
        let changed = CredentialSpec {
            kubernetes_secret: Some(KubernetesSecretSource { name: "other".into() }),
            ..CredentialSpec::default()
        };
        assert!(
            cache.fresh("k", &changed, now).is_none(),
            "a changed spec refetches"
        );
        assert!(cache.last_good("t", now + Duration::from_secs(599)).is_some());
        cache.note_error("k", &CredentialSpec::default(), "down".into(), now);
        assert!(
            cache.backing_off("k", now + Duration::from_millis(500)).is_some(),
            "waits after a failure"
        );
        assert!(cache.backing_off("k", now + Duration::from_secs(3)).is_none());
        cache.note_error("k", &CredentialSpec::default(), "down".into(), now);
        cache.note_error("k", &CredentialSpec::default(), "down".into(), now);
        assert!(
            cache.backing_off("k", now + Duration::from_secs(7)).is_some(),
            "the wait doubles"
        );
        assert!(
            cache.last_good("t", now + Duration::from_secs(601)).is_none(),
            "stale after expiry"
        );
        cache.retain(&BTreeSet::from(["t"]));
        assert!(
            !cache.entries.contains_key("k") && !cache.failing.contains_key("k"),
            "evicted"
        );
        assert!(cache.entries.contains_key("t"));
    }
}
