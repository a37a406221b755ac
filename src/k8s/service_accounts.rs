//! ServiceAccount `imagePullSecrets`: add the pull secrets pullsync manages, remove only the
//! ones it added, and never touch or reorder anyone else's entries (OpenShift's own
//! `*-dockercfg-*`, Argo CD's) (pure merge; effectful reconcile).
//!
//! The list is atomic for server-side apply and has no strategic-merge key on ServiceAccount,
//! so the only safe write is read → merge → JSON patch guarded by a `test` of the
//! resourceVersion: a concurrent writer makes the patch fail (409/422) and the merge is redone
//! on fresh data. What pullsync added is remembered in an annotation on the account.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::client::{CallError, Kube, OnConflict};

/// Attempts to win a race against concurrent writers before giving up for this sync.
const MERGE_ATTEMPTS: u32 = 8;

/// The annotation recording which entries this instance added.
pub fn added_annotation(instance: &str) -> String {
    format!("pullsync.dev/image-pull-secrets-{instance}")
}

/// The new list and the new record of what pullsync added, or `None` when nothing changes.
pub fn merge(
    current: &[String],
    added_before: &BTreeSet<String>,
    wanted: &BTreeSet<String>,
) -> Option<(Vec<String>, BTreeSet<String>)> {
    let drop: BTreeSet<&String> = added_before.difference(wanted).collect();
    let mut list: Vec<String> = current.iter().filter(|n| !drop.contains(n)).cloned().collect();
    let mut added: BTreeSet<String> = added_before
        .intersection(wanted)
        .filter(|n| list.contains(n))
        .cloned()
        .collect();
    for name in wanted {
        if !list.contains(name) {
            list.push(name.clone());
            added.insert(name.clone());
        }
    }
    (list != current || &added != added_before).then_some((list, added))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaOutcome {
    Unchanged,
    Patched {
        added: Vec<String>,
        removed: Vec<String>,
    },
    Missing,
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Whether [`reconcile`] writes its patch or only says what it would be (`plan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Patch,
    DryRun,
}

/// Bring one account's list to `wanted` (this instance's secrets for it); with
/// [`Write::DryRun`], the same reads and decision, and the patch it would send is not sent.
pub async fn reconcile(
    kube: &Kube,
    namespace: &str,
    account: &str,
    instance: &str,
    wanted: &BTreeSet<String>,
    write: Write,
) -> Result<SaOutcome, CallError> {
    let path = format!("/api/v1/namespaces/{namespace}/serviceaccounts");
    let request = kube::core::request::Request::new(&path);
    let key = added_annotation(instance);
    for _ in 0..MERGE_ATTEMPTS {
        let live = match kube
            .call(OnConflict::Retry, || request.get(account, &Default::default()))
            .await
        {
            Ok(v) => v,
            Err(e) if e.is_not_found() => return Ok(SaOutcome::Missing),
            Err(e) => return Err(e),
        };
        let current: Vec<String> = live["imagePullSecrets"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let added_before: BTreeSet<String> = live
            .pointer(&format!("/metadata/annotations/{}", escape(&key)))
            .and_then(Value::as_str)
            .map(|s| s.split(',').filter(|n| !n.is_empty()).map(String::from).collect())
            .unwrap_or_default();
        let Some((list, added)) = merge(&current, &added_before, wanted) else {
            return Ok(SaOutcome::Unchanged);
        };
        let patched = SaOutcome::Patched {
            added: list.iter().filter(|n| !current.contains(n)).cloned().collect(),
            removed: current.iter().filter(|n| !list.contains(n)).cloned().collect(),
        };
        if write == Write::DryRun {
            return Ok(patched);
        }
        let rv = live
            .pointer("/metadata/resourceVersion")
            .cloned()
            .unwrap_or(Value::Null);
        let mut ops = vec![
            json!({"op": "test", "path": "/metadata/resourceVersion", "value": rv}),
            json!({"op": "add", "path": "/imagePullSecrets", "value": list.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()}),
        ];
        let record = added.iter().cloned().collect::<Vec<_>>().join(",");
        if live
            .pointer("/metadata/annotations")
            .is_some_and(Value::is_object)
        {
            let pointer = format!("/metadata/annotations/{}", escape(&key));
            if added.is_empty() {
                if !added_before.is_empty() {
                    ops.push(json!({"op": "remove", "path": pointer}));
                }
            } else {
                ops.push(json!({"op": "add", "path": pointer, "value": record}));
            }
        } else if !added.is_empty() {
            ops.push(json!({"op": "add", "path": "/metadata/annotations", "value": {key.clone(): record}}));
        }
        let body = serde_json::to_vec(&ops).unwrap_or_default();
        let uri = format!("{path}/{account}?fieldManager={}", super::FIELD_MANAGER);
        let result = kube
            .call(OnConflict::Return, || {
                http::Request::patch(&uri)
                    .header(http::header::CONTENT_TYPE, "application/json-patch+json")
                    .header(http::header::ACCEPT, "application/json")
                    .body(body.clone())
                    .map_err(kube::core::request::Error::BuildRequest)
            })
            .await;
        match result {
            Ok(_) => return Ok(patched),
            // Someone wrote in between: the `test` failed (422) or the write conflicted (409).
            Err(e) if matches!(e.code(), Some(409) | Some(422)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(CallError::Api {
        code: 409,
        reason: "Conflict".into(),
        message: format!(
            "serviceaccount {namespace}/{account} kept changing; gave up after {MERGE_ATTEMPTS} attempts"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn merges_without_touching_others() {
        let cases = [
            (
                "add to empty",
                list(&[]),
                set(&[]),
                set(&["ngc"]),
                Some((list(&["ngc"]), set(&["ngc"]))),
            ),
            (
                "append after others",
                list(&["default-dockercfg-x"]),
                set(&[]),
                set(&["ngc"]),
                Some((list(&["default-dockercfg-x", "ngc"]), set(&["ngc"]))),
            ),
            (
                "nothing to do",
                list(&["a", "ngc"]),
                set(&["ngc"]),
                set(&["ngc"]),
                None,
            ),
            (
                "remove only ours, keep order",
                list(&["a", "ngc", "b", "old"]),
                set(&["ngc", "old"]),
                set(&["ngc"]),
                Some((list(&["a", "ngc", "b"]), set(&["ngc"]))),
            ),
            (
                "already there by someone else: not claimed",
                list(&["ngc"]),
                set(&[]),
                set(&["ngc"]),
                None,
            ),
            (
                "someone else's entry survives our removal",
                list(&["ngc"]),
                set(&[]),
                set(&[]),
                None,
            ),
            (
                "our entry goes when no longer wanted",
                list(&["x"]),
                set(&["x"]),
                set(&[]),
                Some((list(&[]), set(&[]))),
            ),
        ];
        for (name, current, before, wanted, expected) in cases {
            assert_eq!(merge(&current, &before, &wanted), expected, "case {name}");
        }
    }
}
