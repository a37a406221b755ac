//! Semantic checks on a loaded catalog (pure): names, references, registry keys, labels,
//! field mappings. Every finding points at the node to fix and says what to write instead.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

mod credential;
mod references;

use super::catalog::{Catalog, Origin};
use super::diag::Diagnostic;
use super::duration;
use super::model::{LabelSelector, Rotation, SelectorOperator};
use super::names;

/// Label and annotation prefix reserved for what pullsync itself writes.
pub const RESERVED_PREFIX: &str = "pullsync.dev/";

/// Argo CD's tracking keys: copied onto a generated Secret, they make Argo CD think it owns
/// (and may prune) the Secret. Argo CD docs, "Resource Tracking".
pub const ARGOCD_TRACKING_KEYS: [&str; 3] = [
    "app.kubernetes.io/instance",
    "argocd.argoproj.io/instance",
    "argocd.argoproj.io/tracking-id",
];

/// Secret types that must be produced by `PullSecret`, not by `Secret`.
const PULL_SECRET_TYPES: [&str; 2] = ["kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"];

pub fn validate(catalog: &Catalog) -> Vec<Diagnostic> {
    let mut v = Validator {
        catalog,
        out: Vec::new(),
    };
    v.names_and_duplicates();
    for object in &catalog.credentials {
        v.credential(object);
    }
    for object in &catalog.pull_secrets {
        let id = object.id();
        let spec = &object.spec;
        let common = Common {
            namespaces: &spec.namespaces,
            selector: spec.namespace_selector.as_ref(),
            labels: &spec.labels,
            annotations: &spec.annotations,
            rotation: spec.rotation.as_ref(),
        };
        v.common(&id, &object.origin, &common);
        v.registries(object);
        for (i, account) in spec.service_accounts.iter().enumerate() {
            if let Err(why) = names::dns1123_subdomain(account) {
                v.error(
                    &id,
                    object.origin.at(&format!("spec.serviceAccounts[{i}]")),
                    format!("service account name `{account}` is not valid: it {why}"),
                    "write the name of a ServiceAccount in each target namespace",
                );
            }
        }
    }
    for object in &catalog.secrets {
        let spec = &object.spec;
        let common = Common {
            namespaces: &spec.namespaces,
            selector: spec.namespace_selector.as_ref(),
            labels: &spec.labels,
            annotations: &spec.annotations,
            rotation: spec.rotation.as_ref(),
        };
        v.common(&object.id(), &object.origin, &common);
        v.opaque_data(object);
    }
    for object in &catalog.defaults {
        let id = object.id();
        v.key_values(&id, &object.origin, "spec.labels", &object.spec.labels, true);
        v.key_values(
            &id,
            &object.origin,
            "spec.annotations",
            &object.spec.annotations,
            false,
        );
        v.rotation(
            &id,
            &object.origin,
            "spec.rotation",
            object.spec.rotation.as_ref(),
        );
    }
    for object in &catalog.tenants {
        let id = object.id();
        let spec = &object.spec;
        v.namespace_list(&id, &object.origin, &spec.namespaces);
        if let Some(selector) = &spec.namespace_selector {
            v.selector(&id, &object.origin, "spec.namespaceSelector", selector);
        }
        for (i, name) in spec.credentials.iter().enumerate() {
            v.credential_ref(&id, &object.origin, &format!("spec.credentials[{i}]"), name);
        }
    }
    v.out
}

/// What `PullSecret` and `Secret` share, checked the same way for both.
struct Common<'a> {
    namespaces: &'a [String],
    selector: Option<&'a LabelSelector>,
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    rotation: Option<&'a Rotation>,
}

struct Validator<'a> {
    catalog: &'a Catalog,
    out: Vec<Diagnostic>,
}

impl Validator<'_> {
    fn error(
        &mut self,
        object: &str,
        at: super::diag::Position,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.out
            .push(Diagnostic::error(at, message).object(object).help(help));
    }

    fn warning(
        &mut self,
        object: &str,
        at: super::diag::Position,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.out
            .push(Diagnostic::warning(at, message).object(object).help(help));
    }

    /// DNS-1123 names, namespace only on Defaults, no kind/name (or Defaults scope) twice.
    fn names_and_duplicates(&mut self) {
        let c = self.catalog;
        let all: Vec<(&'static str, &String, &Option<String>, &Origin)> = c
            .credentials
            .iter()
            .map(|o| (o.kind, &o.name, &o.namespace, &o.origin))
            .chain(
                c.pull_secrets
                    .iter()
                    .map(|o| (o.kind, &o.name, &o.namespace, &o.origin)),
            )
            .chain(
                c.secrets
                    .iter()
                    .map(|o| (o.kind, &o.name, &o.namespace, &o.origin)),
            )
            .chain(
                c.defaults
                    .iter()
                    .map(|o| (o.kind, &o.name, &o.namespace, &o.origin)),
            )
            .chain(
                c.tenants
                    .iter()
                    .map(|o| (o.kind, &o.name, &o.namespace, &o.origin)),
            )
            .collect();
        // Credentials (referenced by name) and Tenants are unique in the repo. A PullSecret or
        // Secret only within its file (its spec annotation is `file#Kind/name`): two teams may
        // both call theirs `ngc-pull`; two specs writing one Secret in one namespace is
        // resolve's error.
        let mut seen: HashMap<(&str, &str, Option<&std::path::Path>), &Origin> = HashMap::new();
        let mut scopes: HashMap<Option<&str>, (&str, &Origin)> = HashMap::new();
        for (kind, name, namespace, origin) in all {
            let id = format!("{kind}/{name}");
            if let Err(why) = names::dns1123_subdomain(name) {
                self.error(
                    &id,
                    origin.at("metadata.name"),
                    format!("name `{name}` is not valid: it {why}"),
                    "write a lower-case DNS name such as `ngc-pull-secret`",
                );
            }
            match (kind, namespace) {
                ("Defaults", Some(ns)) => {
                    if let Err(why) = names::dns1123_label(ns) {
                        self.error(
                            &id,
                            origin.at("metadata.namespace"),
                            format!("namespace `{ns}` is not valid: it {why}"),
                            "write the name of an existing namespace, e.g. `ml-team`",
                        );
                    }
                }
                ("Defaults", None) => {}
                (_, Some(_)) => self.error(
                    &id,
                    origin.key_at("metadata.namespace"),
                    format!("{kind} is not namespaced: metadata.namespace is only for Defaults"),
                    if matches!(kind, "PullSecret" | "Secret") {
                        "remove metadata.namespace and list target namespaces under spec.namespaces"
                    } else {
                        "remove metadata.namespace"
                    },
                ),
                _ => {}
            }
            let file = matches!(kind, "PullSecret" | "Secret").then_some(origin.file.as_path());
            if let Some(first) = seen.get(&(kind, name.as_str(), file)) {
                self.out.push(
                    Diagnostic::error(
                        origin.at("metadata.name"),
                        format!("{kind} `{name}` is defined twice"),
                    )
                    .object(&id)
                    .help("rename one of them or delete the duplicate")
                    .related(first.at("metadata.name"), "first defined here"),
                );
            } else {
                seen.insert((kind, name.as_str(), file), origin);
            }
            if kind == "Defaults" {
                let scope = namespace.as_deref();
                if let Some((first_name, first)) = scopes.get(&scope) {
                    let what = match scope {
                        Some(ns) => format!("namespace `{ns}`"),
                        None => "the cluster".to_string(),
                    };
                    self.out.push(
                        Diagnostic::error(
                            origin.at("metadata.name"),
                            format!("a second Defaults for {what} (the first is `{first_name}`)"),
                        )
                        .object(&id)
                        .help("merge them into one Defaults object: each scope has one")
                        .related(first.at("metadata.name"), "first Defaults for this scope"),
                    );
                } else {
                    scopes.insert(scope, (name.as_str(), origin));
                }
            }
        }
    }

    fn common(&mut self, id: &str, origin: &Origin, c: &Common<'_>) {
        self.targets(id, origin, c.namespaces, c.selector);
        self.key_values(id, origin, "spec.labels", c.labels, true);
        self.key_values(id, origin, "spec.annotations", c.annotations, false);
        self.rotation(id, origin, "spec.rotation", c.rotation);
    }

    fn targets(
        &mut self,
        id: &str,
        origin: &Origin,
        namespaces: &[String],
        selector: Option<&LabelSelector>,
    ) {
        if namespaces.is_empty() && selector.is_none() {
            self.error(
                id,
                origin.key_at("spec"),
                "no target namespaces",
                "add `namespaces: [ml-team]` or a `namespaceSelector`",
            );
        }
        self.namespace_list(id, origin, namespaces);
        if let Some(selector) = selector {
            self.selector(id, origin, "spec.namespaceSelector", selector);
        }
    }

    fn namespace_list(&mut self, id: &str, origin: &Origin, namespaces: &[String]) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, ns) in namespaces.iter().enumerate() {
            let at = || origin.at(&format!("spec.namespaces[{i}]"));
            if let Err(why) = names::dns1123_label(ns) {
                self.error(
                    id,
                    at(),
                    format!("namespace `{ns}` is not valid: it {why}"),
                    "write a namespace name such as `ml-team`",
                );
            }
            if seen.insert(ns, i).is_some() {
                self.warning(
                    id,
                    at(),
                    format!("namespace `{ns}` is listed twice"),
                    "remove the duplicate",
                );
            }
        }
    }

    fn selector(&mut self, id: &str, origin: &Origin, path: &str, selector: &LabelSelector) {
        self.key_values(
            id,
            origin,
            &format!("{path}.matchLabels"),
            &selector.match_labels,
            true,
        );
        for (i, req) in selector.match_expressions.iter().enumerate() {
            let base = format!("{path}.matchExpressions[{i}]");
            if let Err(why) = names::qualified_key(&req.key) {
                self.error(
                    id,
                    origin.at(&format!("{base}.key")),
                    format!("label key `{}` is not valid: it {why}", req.key),
                    "write a label key such as `team` or `example.com/team`",
                );
            }
            let needs_values = matches!(req.operator, SelectorOperator::In | SelectorOperator::NotIn);
            if needs_values && req.values.is_empty() {
                self.error(
                    id,
                    origin.at(&base),
                    format!("operator {:?} needs values", req.operator),
                    "add `values: [...]`",
                );
            } else if !needs_values && !req.values.is_empty() {
                self.error(
                    id,
                    origin.at(&format!("{base}.values")),
                    format!("operator {:?} takes no values", req.operator),
                    "remove `values`",
                );
            }
        }
    }

    fn key_values(
        &mut self,
        id: &str,
        origin: &Origin,
        path: &str,
        map: &BTreeMap<String, String>,
        labels: bool,
    ) {
        let what = if labels { "label" } else { "annotation" };
        let mut total = 0;
        for (key, value) in map {
            let at = || origin.key_at(&format!("{path}.{key}"));
            total += key.len() + value.len();
            if let Err(why) = names::qualified_key(key) {
                self.error(
                    id,
                    at(),
                    format!("{what} key `{key}` is not valid: it {why}"),
                    "write `name` or `prefix.example.com/name`, e.g. `opendatahub.io/dashboard`",
                );
            } else if key.starts_with(RESERVED_PREFIX) {
                self.error(
                    id,
                    at(),
                    format!("{what} key `{key}` uses the prefix reserved for pullsync"),
                    format!("choose a key outside `{RESERVED_PREFIX}`"),
                );
            } else if ARGOCD_TRACKING_KEYS.contains(&key.as_str()) {
                self.warning(
                    id,
                    at(),
                    format!(
                        "{what} `{key}` is Argo CD's tracking key and is never copied onto generated secrets"
                    ),
                    "remove it: with it, Argo CD would treat the secret as its own and could prune it",
                );
            }
            if labels && let Err(why) = names::label_value(value) {
                self.error(id, origin.at(&format!("{path}.{key}")), format!("label `{key}` has a value that {why}"),
                    "label values are at most 63 characters of [A-Za-z0-9-_.]; put free text in an annotation");
            }
        }
        if !labels && total > names::TOTAL_ANNOTATION_SIZE_MAX {
            self.error(
                id,
                origin.at(path),
                format!(
                    "annotations total {total} bytes, over Kubernetes' limit of {}",
                    names::TOTAL_ANNOTATION_SIZE_MAX
                ),
                "shorten or remove annotations",
            );
        }
    }

    fn rotation(&mut self, id: &str, origin: &Origin, path: &str, rotation: Option<&Rotation>) {
        let Some(rotation) = rotation else { return };
        for (field, value) in [
            ("renewBefore", &rotation.renew_before),
            ("refreshInterval", &rotation.refresh_interval),
        ] {
            if let Some(text) = value
                && let Err(why) = duration::parse(text)
            {
                self.error(
                    id,
                    origin.at(&format!("{path}.{field}")),
                    format!("{field}: {why}"),
                    "durations use s, m, h, d units",
                );
            }
        }
        if let Some(schedule) = &rotation.schedule
            && let Err(why) = super::cron::Schedule::parse(schedule)
        {
            self.error(
                id,
                origin.at(&format!("{path}.schedule")),
                format!("schedule is not a valid cron expression: {why}"),
                "write e.g. `0 3 * * *` (minute hour day-of-month month day-of-week, UTC)",
            );
        }
    }
}

/// Resolve `.` and `..` without touching the file system; `None` if it climbs above the root.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Where an `ageFile` path points, relative to the spec root.
pub fn age_file_path(origin: &Origin, path: &str) -> Option<PathBuf> {
    let base = origin.file.parent().unwrap_or(Path::new(""));
    normalize(&base.join(path))
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
