//! Container registries and image references (pure): the reference grammar, the kubelet's
//! credential matching, `auths` key rules, and `explain`.

pub mod explain;
pub mod glob;
pub mod keyring;
pub mod reference;
pub mod registry;
