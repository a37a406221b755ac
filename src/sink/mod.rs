//! Where rendered secrets go (effect). `dir` writes files for local mode; the cluster sink
//! comes with the Kubernetes work.

pub mod dir;
pub mod kube;
pub mod login;
pub mod preview;
