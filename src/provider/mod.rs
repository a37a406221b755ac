//! No Secret at all: the same PullSecret specs served to the kubelet as an image credential
//! provider (`credentialprovider.kubelet.k8s.io/v1`, with the pod's service-account token,
//! KEP-4412). `index` is what the leader's sync leaves in memory, `answer` decides (pure),
//! `token_review` asks the API server whose token it is, `server` is the daemon's endpoint,
//! `plugin` the exec plugin the kubelet runs and `install` puts it on a node.

pub mod answer;
pub mod index;
pub mod install;
pub mod plugin;
pub mod server;
pub mod token_review;
