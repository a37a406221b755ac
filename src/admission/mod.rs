//! Warn before ImagePullBackOff: a validating admission webhook that tells, when a pod is
//! created, whether the kubelet will find a credential for each of its images — with the same
//! keyring rules as `pullsync explain` and the pull secrets pullsync keeps — and what to write
//! instead when it will not. `index` is what a sync leaves for it, `review` decides (pure),
//! `external` reads the keys of pull secrets pullsync does not manage, `server` and `tls` answer the
//! API server.

pub mod external;
pub mod index;
pub mod review;
pub mod server;
pub mod tls;
