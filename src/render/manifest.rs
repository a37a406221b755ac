//! A rendered Secret as a Kubernetes manifest (pure): the real thing for files a user asked
//! for, or a redacted view for `render` output.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use super::Rendered;
use crate::value::secret::REDACTED;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata<'a>,
    #[serde(rename = "type")]
    secret_type: &'a str,
    data: BTreeMap<&'a str, String>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    name: &'a str,
    namespace: &'a str,
    labels: &'a crate::value::vec_map::VecMap<String, String>,
    annotations: &'a crate::value::vec_map::VecMap<String, String>,
}

/// With `reveal`, `data` holds the base64 values; without, each value reads `[redacted]`.
pub fn manifest(rendered: &Rendered, reveal: bool) -> Manifest<'_> {
    let data = rendered
        .data
        .iter()
        .map(|(k, v)| {
            let shown = if reveal {
                STANDARD.encode(v.expose())
            } else {
                REDACTED.to_string()
            };
            (k.as_str(), shown)
        })
        .collect();
    Manifest {
        api_version: "v1",
        kind: "Secret",
        metadata: Metadata {
            name: &rendered.name,
            namespace: &rendered.namespace,
            labels: &rendered.labels,
            annotations: &rendered.annotations,
        },
        secret_type: &rendered.secret_type,
        data,
    }
}

/// The manifest as YAML text.
pub fn to_yaml(rendered: &Rendered, reveal: bool) -> String {
    // Plain scalars only: a folded `>-` block around base64 is legal but surprises readers.
    let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
    serde_saphyr::to_string_with_options(&manifest(rendered, reveal), options).unwrap_or_default()
}
