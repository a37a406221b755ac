//! Which namespaces an object reaches: its list and its selector, against what is known (pure).

use super::*;

pub(super) fn targets<S>(
    object: &Object<S>,
    common: &Common<'_>,
    namespaces: &Namespaces,
    diags: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let mut out: BTreeSet<String> = BTreeSet::new();
    match &namespaces.known {
        None => {
            out.extend(common.namespaces.iter().cloned());
            if common.selector.is_some() {
                diags.push(
                    Diagnostic::warning(
                        object.origin.key_at("spec.namespaceSelector"),
                        "namespaceSelector needs a cluster; without one only spec.namespaces are used",
                    )
                    .object(object.id())
                    .help("list the namespaces under spec.namespaces to see them in local mode"),
                );
            }
        }
        Some(known) => {
            for ns in common.namespaces {
                if known.contains_key(ns) {
                    out.insert(ns.clone());
                } else {
                    diags.push(
                        Diagnostic::warning(
                            position_of(&object.origin, common.namespaces, ns),
                            format!("namespace `{ns}` does not exist; skipped"),
                        )
                        .object(object.id())
                        .help("create the namespace, or remove it from spec.namespaces"),
                    );
                }
            }
            if let Some(selector) = common.selector {
                out.extend(
                    known
                        .iter()
                        .filter(|(_, labels)| matches(selector, labels))
                        .map(|(ns, _)| ns.clone()),
                );
            }
        }
    }
    out.into_iter().collect()
}

pub(super) fn position_of(origin: &Origin, list: &[String], ns: &str) -> Position {
    let i = list.iter().position(|n| n == ns).unwrap_or(0);
    origin.at(&format!("spec.namespaces[{i}]"))
}

/// Kubernetes label selector semantics (apimachinery `labels.Selector`): all requirements ANDed.
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    use crate::spec::model::SelectorOperator::*;
    selector
        .match_labels
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
        && selector.match_expressions.iter().all(|req| {
            let value = labels.get(&req.key);
            match req.operator {
                In => value.is_some_and(|v| req.values.contains(v)),
                NotIn => value.is_none_or(|v| !req.values.contains(v)),
                Exists => value.is_some(),
                DoesNotExist => value.is_none(),
            }
        })
}
