//! The credential broker's memory for a long-running process (pure decisions, held state):
//! one entry per credential whatever its fan-out; refreshed when it is about to expire
//! (`renewBefore`, default a third of its lifetime), when `refreshInterval` has passed, or when
//! its spec changed; on a failed refresh the last good value is used until it expires.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::CredentialValue;
use crate::spec::duration;
use crate::spec::model::CredentialSpec;

/// How often a remote source without its own schedule is read again.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);

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
}

/// The next cron time after `fetched_at`, if the rotation has a schedule.
fn scheduled(rotation: &crate::spec::model::Rotation, fetched_at: SystemTime) -> Option<SystemTime> {
    crate::spec::cron::Schedule::parse(rotation.schedule.as_deref()?)
        .ok()?
        .next_after(fetched_at)
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
        let rotation = spec.rotation.clone().unwrap_or_default();
        if let Some(expires) = cached.value.expires_at {
            let lifetime = expires.duration_since(cached.fetched_at).unwrap_or_default();
            let renew_before = rotation
                .renew_before
                .as_deref()
                .and_then(|d| duration::parse(d).ok())
                .unwrap_or(lifetime / 3);
            if now + renew_before >= expires {
                return None;
            }
        }
        let refresh = rotation
            .refresh_interval
            .as_deref()
            .and_then(|d| duration::parse(d).ok())
            .unwrap_or(DEFAULT_REFRESH);
        (now < cached.fetched_at + refresh).then_some(&cached.value)
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
        self.entries.insert(
            name.to_string(),
            Cached {
                value,
                fetched_at: now,
                spec: fingerprint(spec),
                rotation: spec.rotation.clone().unwrap_or_default(),
                last_error: None,
            },
        );
    }

    pub fn note_error(&mut self, name: &str, error: String, now: SystemTime) {
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

    /// When the next credential becomes due, for the scheduler.
    pub fn next_due(&self) -> Option<SystemTime> {
        self.entries
            .values()
            .map(|cached| {
                let rotation = &cached.rotation;
                let refresh = rotation
                    .refresh_interval
                    .as_deref()
                    .and_then(|d| duration::parse(d).ok())
                    .unwrap_or(DEFAULT_REFRESH);
                let mut due = cached.fetched_at + refresh;
                if let Some(next) = scheduled(rotation, cached.fetched_at) {
                    due = due.min(next);
                }
                if let Some(expires) = cached.value.expires_at {
                    let lifetime = expires.duration_since(cached.fetched_at).unwrap_or_default();
                    let renew_before = rotation
                        .renew_before
                        .as_deref()
                        .and_then(|d| duration::parse(d).ok())
                        .unwrap_or(lifetime / 3);
                    due = due.min(expires.checked_sub(renew_before).unwrap_or(expires));
                }
                due
            })
            .min()
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
        assert!(
            cache.fresh("t", &token, now + Duration::from_secs(5)).is_some(),
            "before renewBefore"
        );
        assert!(
            cache.fresh("t", &token, now + Duration::from_secs(11)).is_none(),
            "within renewBefore of expiry"
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
        cache.note_error("k", "down".into(), now);
        assert!(
            cache.backing_off("k", now + Duration::from_millis(500)).is_some(),
            "waits after a failure"
        );
        assert!(cache.backing_off("k", now + Duration::from_secs(3)).is_none());
        cache.note_error("k", "down".into(), now);
        cache.note_error("k", "down".into(), now);
        assert!(
            cache.backing_off("k", now + Duration::from_secs(7)).is_some(),
            "the wait doubles"
        );
        assert!(
            cache.last_good("t", now + Duration::from_secs(601)).is_none(),
            "stale after expiry"
        );
    }
}
