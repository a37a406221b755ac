//! Container registries and image references (pure).
//!
//! `registry` checks the `auths` keys users write; later work adds the reference grammar and the
//! kubelet's credential matching here.

pub mod registry;
