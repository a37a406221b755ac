//! The value layer (pure; imports nothing else of the crate): what every stage speaks about —
//! fetched credential values and their fields, the ownership labels and annotation keys, the
//! keyed content hash, the observed-Secret types, the ECR registry-host grammar, redacted
//! secret strings and interned maps. `spec`, `render`, `plan` and `schedule` build on it and on
//! nothing with a client; `tests/layers.rs` fails when a module here reaches outside it.

pub mod credential;
pub mod digest;
pub mod ecr_host;
pub mod hex;
pub mod intern;
pub mod kind;
pub mod labels;
pub mod observed;
pub mod secret;
pub mod vec_map;
