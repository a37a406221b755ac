//! No Secret at all: the same PullSecret specs served to the kubelet as an image credential
//! provider (`credentialprovider.kubelet.k8s.io/v1`, with the pod's service-account token,
//! KEP-4412). `index` is what the leader's sync leaves in memory, `answer` decides (pure),
//! `token_review` asks the API server whose token it is, `server` is the daemon's endpoint and
//! `plugin` the exec plugin the kubelet runs.

pub mod answer;
pub mod index;
pub mod plugin;
pub mod server;
pub mod token_review;
