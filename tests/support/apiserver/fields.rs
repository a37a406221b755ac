//! Managed fields and server-side apply. Followed: the Kubernetes docs "Server-Side Apply"
//! (field management, conflicts, `force`, "fields removed from the applied config are removed
//! from the object when no other manager owns them") and structured-merge-diff's behaviour
//! for maps and atomic lists. Simplification: every list is atomic (the types the tests apply
//! have none that are associative), and ownership is recorded on leaf fields only.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

pub type Path = Vec<String>;

/// Metadata the server owns; never part of a manager's field set.
const SERVER_FIELDS: [&str; 8] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "generation",
    "deletionTimestamp",
];

#[derive(Debug, Clone)]
pub struct Entry {
    pub manager: String,
    pub operation: String,
    pub fields: BTreeSet<Path>,
}

fn collect(v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                if prefix.len() == 1 && prefix[0] == "metadata" && SERVER_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                if prefix.is_empty() && (k == "apiVersion" || k == "kind") {
                    continue;
                }
                prefix.push(k.clone());
                collect(child, prefix, out);
                prefix.pop();
            }
        }
        _ if !prefix.is_empty() => {
            out.insert(prefix.clone());
        }
        _ => {}
    }
}

/// Every leaf field of an object (atomic lists and empty maps count as leaves).
pub fn leaves(v: &Value) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    collect(v, &mut Vec::new(), &mut out);
    out
}

pub fn get<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.get(k))
}

fn remove(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for k in parents {
        match cur.get_mut(k) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Value::Object(m) = cur {
        m.remove(last);
    }
}

/// Maps merge key by key; everything else is replaced.
pub fn deep_merge(target: &mut Value, from: &Value) {
    match (target, from) {
        (Value::Object(t), Value::Object(f)) => {
            for (k, v) in f {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => deep_merge(existing, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, f) => *t = f.clone(),
    }
}

fn to_fields_v1(fields: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for path in fields {
        let mut cur = &mut root;
        for k in path {
            cur = cur
                .entry(format!("f:{k}"))
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .unwrap();
        }
    }
    Value::Object(root)
}

fn from_fields_v1(v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
    let Some(m) = v.as_object() else { return };
    let children: Vec<_> = m.iter().filter(|(k, _)| k.starts_with("f:")).collect();
    if children.is_empty() {
        if !prefix.is_empty() {
            out.insert(prefix.clone());
        }
        return;
    }
    for (k, child) in children {
        prefix.push(k[2..].to_string());
        from_fields_v1(child, prefix, out);
        prefix.pop();
    }
}

pub fn read(object: &Value) -> Vec<Entry> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    let mut fields = BTreeSet::new();
                    from_fields_v1(&e["fieldsV1"], &mut Vec::new(), &mut fields);
                    Entry {
                        manager: e["manager"].as_str().unwrap_or_default().to_string(),
                        operation: e["operation"].as_str().unwrap_or_default().to_string(),
                        fields,
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn write(object: &mut Value, entries: &[Entry], api_version: &str, now: &str) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            json!({
                "manager": e.manager, "operation": e.operation, "apiVersion": api_version,
                "time": now, "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(&e.fields)
            })
        })
        .collect();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("managedFields".into(), Value::Array(list));
    }
}

/// A conflict: another manager owns a field the applier sets to a different value.
pub struct Conflict {
    pub manager: String,
    pub field: String,
}

/// Server-side apply of `applied` by `manager` onto `live` (or onto an empty object).
pub fn apply(
    live: &Value,
    applied: &Value,
    manager: &str,
    force: bool,
) -> Result<(Value, Vec<Entry>), Vec<Conflict>> {
    let mut entries = read(live);
    let new_fields = leaves(applied);
    let is_me = |e: &Entry| e.manager == manager && e.operation == "Apply";
    let mut conflicts = Vec::new();
    let mut taken: BTreeSet<Path> = BTreeSet::new();
    for e in entries.iter().filter(|e| !is_me(e)) {
        for p in e.fields.intersection(&new_fields) {
            if get(live, p) != get(applied, p) {
                conflicts.push(Conflict {
                    manager: e.manager.clone(),
                    field: format!(".{}", p.join(".")),
                });
                taken.insert(p.clone());
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    for e in entries.iter_mut().filter(|e| !is_me(e)) {
        e.fields.retain(|p| !taken.contains(p));
    }
    let previous: BTreeSet<Path> = entries
        .iter()
        .filter(|e| is_me(e))
        .flat_map(|e| e.fields.clone())
        .collect();
    let others: BTreeSet<Path> = entries
        .iter()
        .filter(|e| !is_me(e))
        .flat_map(|e| e.fields.clone())
        .collect();
    let mut result = live.clone();
    for p in previous.difference(&new_fields) {
        if !others.contains(p) {
            remove(&mut result, p);
        }
    }
    deep_merge(&mut result, applied);
    entries.retain(|e| !is_me(e));
    entries.push(Entry {
        manager: manager.to_string(),
        operation: "Apply".into(),
        fields: new_fields,
    });
    entries.retain(|e| !e.fields.is_empty());
    Ok((result, entries))
}

/// Ownership after a non-apply write (create, update, patch) by `manager`: it takes every field
/// it changed; fields that disappeared are owned by nobody.
pub fn update(old: Option<&Value>, new: &Value, manager: &str) -> Vec<Entry> {
    let mut entries = old.map(read).unwrap_or_default();
    let new_leaves = leaves(new);
    let changed: BTreeSet<Path> = new_leaves
        .iter()
        .filter(|p| old.and_then(|o| get(o, p)) != get(new, p))
        .cloned()
        .collect();
    for e in &mut entries {
        e.fields
            .retain(|p| new_leaves.contains(p) && !changed.contains(p));
    }
    match entries
        .iter_mut()
        .find(|e| e.manager == manager && e.operation == "Update")
    {
        Some(e) => e.fields.extend(changed),
        None => entries.push(Entry {
            manager: manager.to_string(),
            operation: "Update".into(),
            fields: changed,
        }),
    }
    entries.retain(|e| !e.fields.is_empty());
    entries
}
