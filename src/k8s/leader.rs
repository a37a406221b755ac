//! Leader election with a `coordination.k8s.io/v1` Lease (effect), with the semantics of
//! client-go's `tools/leaderelection`:
//!
//! - lease duration > renew deadline > retry period (validated);
//! - another replica's lease is expired when *this* replica has seen its record unchanged for
//!   the lease duration on its own monotonic clock — never by comparing the other replica's
//!   `renewTime` with the local wall clock (clocks skew);
//! - the leader tries to renew every retry period; when no renewal has succeeded for the renew
//!   deadline it stops being leader at once, before anyone else may take over (the lease
//!   duration is longer), and every round is bounded by the renew deadline so a stalled API
//!   server cannot keep a stale leader believing it leads;
//! - writers ask [`LeaderGuard::holds`] before each write, not once per loop.
//!
//! Every change to the Lease is guarded by its resourceVersion, so two replicas never both win a
//! round; the lease is released on shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio_util::sync::CancellationToken;

use serde_json::{Value, json};

use crate::k8s::{CallError, Kube, OnConflict};

/// The three durations of client-go's LeaderElectionConfig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    pub duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl LeaseTiming {
    /// client-go's defaults scaled to `duration` (15 s / 10 s / 2 s), checked like
    /// `NewLeaderElector`: duration > deadline > retry × 1.2 (its JitterFactor).
    pub fn new(
        duration: Duration,
        renew_deadline: Option<Duration>,
        retry: Option<Duration>,
    ) -> Result<Self, String> {
        let renew_deadline = renew_deadline.unwrap_or(duration * 2 / 3);
        let retry_period = retry.unwrap_or(duration * 2 / 15);
        if duration <= renew_deadline {
            return Err(format!(
                "--lease-duration ({duration:?}) must be longer than --renew-deadline ({renew_deadline:?})"
            ));
        }
        if renew_deadline <= retry_period.mul_f64(1.2) {
            return Err(format!(
                "--renew-deadline ({renew_deadline:?}) must be longer than 1.2 × --retry-period ({retry_period:?})"
            ));
        }
        Ok(LeaseTiming {
            duration,
            renew_deadline,
            retry_period,
        })
    }
}

/// "Am I the leader right now?", answered from the time of the last successful renewal on the
/// monotonic clock. Cloned into every writer.
#[derive(Debug, Clone)]
pub struct LeaderGuard {
    epoch: Instant,
    /// Milliseconds after `epoch` until which leadership is valid; 0: not leader.
    until_ms: Arc<AtomicU64>,
}

impl LeaderGuard {
    pub fn new() -> Self {
        LeaderGuard {
            epoch: Instant::now(),
            until_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Leadership with no election (a single replica): always held.
    pub fn always() -> Self {
        let guard = Self::new();
        guard.until_ms.store(u64::MAX, Ordering::Relaxed);
        guard
    }

    fn millis(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_millis() as u64
    }

    pub fn holds(&self) -> bool {
        self.millis(Instant::now()) < self.until_ms.load(Ordering::Relaxed)
    }

    /// Leader until `until` (a renewal that started at `until - renew_deadline` succeeded).
    fn extend(&self, until: Instant) {
        self.until_ms.store(self.millis(until), Ordering::Relaxed);
    }

    fn lose(&self) {
        self.until_ms.store(0, Ordering::Relaxed);
    }
}

impl Default for LeaderGuard {
    fn default() -> Self {
        Self::new()
    }
}

/// What this replica last saw of the Lease record, and when (its own monotonic clock).
#[derive(Debug, Default)]
struct Observed {
    record: String,
    at: Option<Instant>,
}

impl Observed {
    /// Note the record; the clock restarts only when the record changed.
    fn see(&mut self, record: String, now: Instant) {
        if self.record != record || self.at.is_none() {
            self.record = record;
            self.at = Some(now);
        }
    }

    /// Whether the holder has let it lapse: unchanged for `duration` as this replica saw it.
    fn expired(&self, duration: Duration, now: Instant) -> bool {
        self.at
            .is_none_or(|at| now.saturating_duration_since(at) >= duration)
    }
}

pub struct Elector {
    pub kube: Kube,
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub timing: LeaseTiming,
    pub guard: LeaderGuard,
    observed: tokio::sync::Mutex<Observed>,
}

fn path(namespace: &str) -> kube::core::request::Request {
    kube::core::request::Request::new(format!(
        "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    ))
}

impl Elector {
    pub fn new(kube: Kube, namespace: String, name: String, identity: String, timing: LeaseTiming) -> Self {
        Elector {
            kube,
            namespace,
            name,
            identity,
            timing,
            guard: LeaderGuard::new(),
            observed: Default::default(),
        }
    }

    /// One round: try to hold the lease. Returns whether we hold it now.
    pub async fn round(&self) -> Result<bool, CallError> {
        let now = SystemTime::now();
        let request = path(&self.namespace);
        let spec = |transitions: u64, acquired: Value| {
            json!({
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.timing.duration.as_secs(),
                "acquireTime": acquired,
                "renewTime": crate::time::format_micro(now),
                "leaseTransitions": transitions
            })
        };
        let live = match self
            .kube
            .call(OnConflict::Return, || {
                request.get(&self.name, &Default::default())
            })
            .await
        {
            Ok(v) => Some(v),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        let Some(live) = live else {
            let body = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec(0, json!(crate::time::format_micro(now)))});
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            return match self
                .kube
                .call(OnConflict::Return, || {
                    request.create(&Default::default(), bytes.clone())
                })
                .await
            {
                Ok(_) => Ok(true),
                Err(e) if e.code() == Some(409) => Ok(false),
                Err(e) => Err(e),
            };
        };
        let holder = live
            .pointer("/spec/holderIdentity")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let seconds = live
            .pointer("/spec/leaseDurationSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(self.timing.duration.as_secs());
        // The record as a whole: any renewal by the holder changes it and restarts our clock.
        let record = live["spec"].to_string();
        let expired = {
            let mut observed = self.observed.lock().await;
            observed.see(record, Instant::now());
            observed.expired(Duration::from_secs(seconds), Instant::now())
        };
        let transitions = live
            .pointer("/spec/leaseTransitions")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let ours = holder == self.identity;
        if !ours && !holder.is_empty() && !expired {
            return Ok(false);
        }
        let (transitions, acquired) = if ours {
            (transitions, live["spec"]["acquireTime"].clone())
        } else {
            (transitions + 1, json!(crate::time::format_micro(now)))
        };
        let mut body = live.clone();
        body["spec"] = spec(transitions, acquired);
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        match self
            .kube
            .call(OnConflict::Return, || {
                request.replace(&self.name, &Default::default(), bytes.clone())
            })
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(409) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Keep electing until `stop` flips; then give the lease up if we hold it.
    /// Until `stop` is cancelled; then the lease is released (when held) so a successor takes
    /// over at once instead of after the lease duration.
    pub async fn run(self, stop: CancellationToken) {
        let timing = self.timing;
        let mut was_leader = false;
        while !stop.is_cancelled() {
            let started = Instant::now();
            // A round that outlasts the renew deadline is a failed round.
            let held = match tokio::time::timeout(timing.renew_deadline, self.round()).await {
                Ok(Ok(held)) => Some(held),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "leader election round failed");
                    None
                }
                Err(_) => {
                    tracing::warn!(deadline = ?timing.renew_deadline, "leader election round timed out");
                    None
                }
            };
            match held {
                // Valid until the deadline counted from when the round *started*.
                Some(true) => self.guard.extend(started + timing.renew_deadline),
                Some(false) => self.guard.lose(),
                // A failed round: keep what the last success gave, which runs out on its own.
                None => {}
            }
            let leader = self.guard.holds();
            if leader != was_leader {
                tracing::info!(leader, identity = %self.identity, "leadership changed");
                was_leader = leader;
            }
            tokio::select! {
                () = tokio::time::sleep(timing.retry_period) => {}
                () = stop.cancelled() => {}
            }
        }
        if self.guard.holds() {
            self.release().await;
        }
    }

    async fn release(&self) {
        let request = path(&self.namespace);
        if let Ok(mut live) = self
            .kube
            .call(OnConflict::Return, || {
                request.get(&self.name, &Default::default())
            })
            .await
            && live.pointer("/spec/holderIdentity").and_then(Value::as_str) == Some(self.identity.as_str())
        {
            live["spec"]["holderIdentity"] = json!("");
            live["spec"]["leaseDurationSeconds"] = json!(1);
            let bytes = serde_json::to_vec(&live).unwrap_or_default();
            let _ = self
                .kube
                .call(OnConflict::Return, || {
                    request.replace(&self.name, &Default::default(), bytes.clone())
                })
                .await;
            self.guard.lose();
            tracing::info!("released the lease");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_follows_client_go() {
        let t = LeaseTiming::new(Duration::from_secs(15), None, None).unwrap();
        assert_eq!(
            (t.renew_deadline, t.retry_period),
            (Duration::from_secs(10), Duration::from_secs(2))
        );
        assert!(LeaseTiming::new(Duration::from_secs(10), Some(Duration::from_secs(10)), None).is_err());
        assert!(
            LeaseTiming::new(
                Duration::from_secs(15),
                Some(Duration::from_secs(2)),
                Some(Duration::from_secs(2))
            )
            .is_err()
        );
    }

    #[test]
    fn expiry_is_judged_on_this_replicas_clock() {
        let mut seen = Observed::default();
        let t0 = Instant::now();
        let lease = Duration::from_secs(15);
        assert!(seen.expired(lease, t0), "never seen: free to try");
        seen.see("renew-1".into(), t0);
        assert!(!seen.expired(lease, t0 + Duration::from_secs(14)));
        // Unchanged for the whole duration: expired, whatever renewTime says.
        seen.see("renew-1".into(), t0 + Duration::from_secs(10));
        assert!(seen.expired(lease, t0 + Duration::from_secs(15)));
        // A renewal restarts the clock.
        seen.see("renew-2".into(), t0 + Duration::from_secs(15));
        assert!(!seen.expired(lease, t0 + Duration::from_secs(20)));
    }

    #[test]
    fn the_guard_runs_out_by_itself() {
        let guard = LeaderGuard::new();
        assert!(!guard.holds());
        guard.extend(Instant::now() + Duration::from_secs(60));
        assert!(guard.holds());
        guard.extend(Instant::now());
        assert!(!guard.holds(), "past the renew deadline: not leader");
        assert!(LeaderGuard::always().holds());
    }
}
