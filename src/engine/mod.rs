//! The one sync engine (effect), shared by `render`, `sync --once`, `plan` and `run`:
//!
//! ```text
//! specs ─ pipeline: load → validate → resolve → fetch credentials → render ─┐
//! cluster ─ observe ───────────────────────────────────────────────────────┴─ plan → execute → record
//! ```
//!
//! `app/` is command glue around it; the daemon calls it and never imports `app`.

pub mod cluster;
pub mod config;
pub mod pipeline;

pub use cluster::{connect, sync};
