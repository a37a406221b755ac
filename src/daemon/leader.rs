//! Leader election with a `coordination.k8s.io/v1` Lease (effect), as client-go's
//! leaderelection does: take the lease when it is free or expired, renew it every third of its
//! duration, and write only while holding it; release it on shutdown. Every change is a write
//! guarded by the resourceVersion, so two replicas can never both win.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::k8s::{CallError, Kube, OnConflict};

pub struct Elector {
    pub kube: Kube,
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub duration: Duration,
    pub leader: Arc<AtomicBool>,
}

fn path(namespace: &str) -> kube::core::request::Request {
    kube::core::request::Request::new(format!(
        "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    ))
}

impl Elector {
    /// One round: try to hold the lease. Returns whether we hold it now.
    pub async fn round(&self) -> Result<bool, CallError> {
        let now = SystemTime::now();
        let request = path(&self.namespace);
        let spec = |transitions: u64, acquired: Value| {
            json!({
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.duration.as_secs(),
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
        let renewed = live
            .pointer("/spec/renewTime")
            .and_then(Value::as_str)
            .and_then(crate::time::parse);
        let seconds = live
            .pointer("/spec/leaseDurationSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(self.duration.as_secs());
        let expired = renewed.is_none_or(|t| t + Duration::from_secs(seconds) < now);
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
    pub async fn run(self, stop: Arc<AtomicBool>) {
        let period = self.duration / 3;
        while !stop.load(Ordering::Relaxed) {
            let held = match self.round().await {
                Ok(held) => held,
                Err(error) => {
                    tracing::warn!(%error, "leader election round failed");
                    false
                }
            };
            if held != self.leader.swap(held, Ordering::Relaxed) {
                tracing::info!(leader = held, identity = %self.identity, "leadership changed");
            }
            tokio::time::sleep(period).await;
        }
        if self.leader.load(Ordering::Relaxed) {
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
            self.leader.store(false, Ordering::Relaxed);
            tracing::info!("released the lease");
        }
    }
}
