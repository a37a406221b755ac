//! pullsync: a GitOps secret-sync daemon for Kubernetes.
//!
//! Data flows one way (see `README.md` and each module's docs):
//!
//! ```text
//! spec::load (files → Catalog, diagnostics)          effect: reads the spec folder
//! spec::validate / spec::resolve (Catalog → Desired)  pure
//! credentials (Desired → Values)                      effect: one fetch per credential
//! render (Desired × Values → Rendered)                pure
//! sink (Rendered → files or a cluster)                effect
//! ```
#![forbid(unsafe_code)]

pub mod admission;
pub mod app;
pub mod bounded;
pub mod cli;
pub mod credentials;
pub mod daemon;
pub mod engine;
pub mod image;
pub mod k8s;
pub mod memory;
pub mod metrics;
pub mod plan;
pub mod progress;
pub mod provider;
pub mod render;
pub mod repo;
pub mod schedule;
pub mod signing;
pub mod sink;
pub mod spec;
pub mod telemetry;
pub mod time;
pub mod value;

// The value layer's leaves under their older, shorter paths.
pub use value::{intern, secret};
