//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), and strategic merge patch
//! for the fields the tests touch. Followed: apiserver `endpoints/handlers/patch.go` (a failed
//! JSON patch `test` is 422), apimachinery `strategicpatch` (maps merge, `null` deletes, lists
//! with a patchMergeKey merge by key, `$patch: delete|replace`, other lists replace).

use serde_json::{Map, Value};

pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid path {path}"))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn parent_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for t in &tokens[..tokens.len().saturating_sub(1)] {
        cur = match cur {
            Value::Object(m) => m.get_mut(t).ok_or_else(|| format!("doc is missing path: {t}"))?,
            Value::Array(a) => a
                .get_mut(t.parse::<usize>().map_err(|_| "bad index")?)
                .ok_or("index out of range")?,
            _ => return Err(format!("doc is missing path: {t}")),
        };
    }
    Ok(cur)
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let toks = tokens(path)?;
    let Some(last) = toks.last() else {
        *doc = value;
        return Ok(());
    };
    match parent_mut(doc, &toks)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>().map_err(|_| "bad index")?
            };
            if i > a.len() {
                return Err("index out of range".into());
            }
            a.insert(i, value);
        }
        _ => return Err(format!("doc is missing path: {path}")),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let toks = tokens(path)?;
    let last = toks.last().ok_or("cannot remove root")?;
    match parent_mut(doc, &toks)? {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| format!("doc is missing path: {path}")),
        Value::Array(a) => {
            let i = last.parse::<usize>().map_err(|_| "bad index")?;
            if i >= a.len() {
                return Err("index out of range".into());
            }
            Ok(a.remove(i))
        }
        _ => Err(format!("doc is missing path: {path}")),
    }
}

/// `Err((code, message))`: 422 for a failed `test` or a missing path, as the apiserver answers.
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), (u16, String)> {
    let ops = ops
        .as_array()
        .ok_or((400, "json patch must be an array".to_string()))?;
    for op in ops {
        let kind = op["op"].as_str().unwrap_or_default();
        let path = op["path"].as_str().unwrap_or_default();
        let result = match kind {
            "add" => add(doc, path, op["value"].clone()),
            "remove" => remove(doc, path).map(|_| ()),
            "replace" => remove(doc, path).and_then(|_| add(doc, path, op["value"].clone())),
            "move" | "copy" => {
                let from = op["from"].as_str().unwrap_or_default();
                let value = if kind == "move" {
                    remove(doc, from)
                } else {
                    doc.pointer(from)
                        .cloned()
                        .ok_or_else(|| format!("doc is missing path: {from}"))
                };
                value.and_then(|v| add(doc, path, v))
            }
            "test" => {
                if doc.pointer(path) == Some(&op["value"]) {
                    Ok(())
                } else {
                    Err(format!("testing value {path} failed"))
                }
            }
            other => return Err((400, format!("unexpected kind: {other}"))),
        };
        result.map_err(|e| (422, e))?;
    }
    Ok(())
}

/// The merge key of list fields that strategic merge patch merges (core/v1 `patchMergeKey`).
fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "secrets" | "ownerReferences" => Some(if field == "ownerReferences" { "uid" } else { "name" }),
        _ => None,
    }
}

pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    let (Value::Object(t), Value::Object(p)) = (&mut *target, patch) else {
        *target = patch.clone();
        return;
    };
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Array(items) if merge_key(k).is_some() => {
                let key = merge_key(k).unwrap();
                let list = t.entry(k.clone()).or_insert(Value::Array(Vec::new()));
                let Value::Array(existing) = list else { continue };
                for item in items {
                    let id = item.get(key).cloned();
                    let pos = existing.iter().position(|e| e.get(key) == id.as_ref());
                    if item.get("$patch").and_then(Value::as_str) == Some("delete") {
                        if let Some(i) = pos {
                            existing.remove(i);
                        }
                    } else if let Some(i) = pos {
                        strategic_merge_patch(&mut existing[i], item);
                    } else {
                        existing.push(item.clone());
                    }
                }
            }
            Value::Object(_) if t.get(k).is_some_and(Value::is_object) => {
                strategic_merge_patch(t.get_mut(k).unwrap(), v);
            }
            other => {
                t.insert(k.clone(), other.clone());
            }
        }
    }
}
