//! Kubernetes (effect): the client with its rate limit, concurrency bound and retries, and
//! the handful of API calls pullsync makes. Named `k8s` so paths never confuse it with the
//! `kube` crate.

pub mod client;
pub mod digest_key;
pub mod events;
pub mod informer;
pub mod leader;
pub mod observe;
pub mod rollout;
pub mod service_accounts;

pub use client::{CallError, Kube, KubeSettings, OnConflict};

/// The one field manager pullsync applies with.
pub const FIELD_MANAGER: &str = "pullsync";
