//! RBAC for the test API server, built from pullsync's own `deploy/` manifests: requests made
//! with the kubeconfig's token (pullsync's) are authorized against the Roles and ClusterRoles
//! bound to the `pullsync` ServiceAccount, as the real server's RBAC authorizer does (verbs
//! from the method, `list`/`watch` for collections, subresources as `resource/sub`,
//! resourceNames, Role rules only in their namespace). A missing permission is a 403 the
//! test sees; every grant that was used is recorded, so a test can name the unused ones.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;

use serde_json::Value;

#[derive(Debug, Clone)]
struct Rule {
    /// The role it belongs to, for reports: `ClusterRole pullsync`.
    role: String,
    /// `None`: every namespace and cluster-scoped objects (a ClusterRoleBinding).
    namespace: Option<String>,
    groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
    names: Vec<String>,
}

/// What one request asks for, in RBAC's terms.
#[derive(Debug, Clone)]
pub struct Attributes {
    pub verb: String,
    pub group: String,
    /// `secrets`, or `serviceaccounts/token`.
    pub resource: String,
    /// Empty for cluster-scoped objects and cluster-wide collections.
    pub namespace: String,
    pub name: Option<String>,
}

pub struct Rbac {
    rules: Vec<Rule>,
    /// (rule index, verb, resource) used at least once.
    used: Mutex<BTreeSet<(usize, String, String)>>,
    pub subject: String,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

impl Rbac {
    /// The grants of ServiceAccount `namespace/name` in the manifests of `files`.
    pub fn from_manifests(files: &[&Path], namespace: &str, name: &str) -> Rbac {
        let mut docs: Vec<Value> = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            for doc in text.split("\n---") {
                if doc.trim().trim_start_matches("---").trim().is_empty() {
                    continue;
                }
                let value: Value =
                    serde_saphyr::from_str(doc).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                if !value.is_null() {
                    docs.push(value);
                }
            }
        }
        let bound =
            |b: &Value| {
                b["subjects"].as_array().into_iter().flatten().any(|s| {
                    s["kind"] == "ServiceAccount" && s["name"] == name && s["namespace"] == namespace
                })
            };
        let role = |kind: &str, role: &str, ns: Option<&str>| {
            docs.iter()
                .find(|d| {
                    d["kind"] == kind
                        && d["metadata"]["name"] == role
                        && (kind == "ClusterRole" || d["metadata"]["namespace"].as_str() == ns)
                })
                .unwrap_or_else(|| panic!("{kind} {role} is bound but not defined"))
        };
        let mut rules = Vec::new();
        for binding in docs.iter().filter(|d| bound(d)) {
            let role_kind = binding["roleRef"]["kind"].as_str().unwrap_or_default();
            let role_name = binding["roleRef"]["name"].as_str().unwrap_or_default();
            let namespace = match binding["kind"].as_str() {
                Some("ClusterRoleBinding") => None,
                Some("RoleBinding") => binding["metadata"]["namespace"].as_str().map(String::from),
                _ => continue,
            };
            let role = role(role_kind, role_name, namespace.as_deref());
            for rule in role["rules"].as_array().into_iter().flatten() {
                rules.push(Rule {
                    role: format!("{role_kind} {role_name}"),
                    namespace: namespace.clone(),
                    groups: strings(&rule["apiGroups"]),
                    resources: strings(&rule["resources"]),
                    verbs: strings(&rule["verbs"]),
                    names: strings(&rule["resourceNames"]),
                });
            }
        }
        Rbac {
            rules,
            used: Mutex::new(BTreeSet::new()),
            subject: format!("system:serviceaccount:{namespace}:{name}"),
        }
    }

    /// Whether the request is allowed; records the grant that allowed it.
    pub fn allows(&self, a: &Attributes) -> bool {
        for (i, rule) in self.rules.iter().enumerate() {
            let scope_ok = match &rule.namespace {
                None => true,
                Some(ns) => !a.namespace.is_empty() && *ns == a.namespace,
            };
            let names_ok = rule.names.is_empty()
                || a.name.as_ref().is_some_and(|n| rule.names.contains(n))
                    // Kubernetes RBAC: resourceNames cannot restrict create, list, watch.
                    && !matches!(a.verb.as_str(), "create" | "list" | "watch" | "deletecollection");
            if scope_ok
                && names_ok
                && rule.groups.iter().any(|g| g == &a.group || g == "*")
                && rule.resources.iter().any(|r| r == &a.resource || r == "*")
                && rule.verbs.iter().any(|v| v == &a.verb || v == "*")
            {
                self.used
                    .lock()
                    .unwrap()
                    .insert((i, a.verb.clone(), a.resource.clone()));
                return true;
            }
        }
        false
    }

    /// Every (role, verb, resource) granted that no request has needed, in any namespace the
    /// role is bound in: surplus permissions.
    pub fn unused(&self) -> Vec<String> {
        let used = self.used.lock().unwrap();
        let used_by_role: BTreeSet<(&str, &str, &str)> = used
            .iter()
            .map(|(i, verb, resource)| (self.rules[*i].role.as_str(), verb.as_str(), resource.as_str()))
            .collect();
        let mut out = BTreeSet::new();
        for rule in &self.rules {
            for verb in &rule.verbs {
                for resource in &rule.resources {
                    if !used_by_role.contains(&(rule.role.as_str(), verb.as_str(), resource.as_str())) {
                        out.insert(format!("{}: {verb} {resource}", rule.role));
                    }
                }
            }
        }
        out.into_iter().collect()
    }
}

/// RBAC attributes of a request (`group` from the path's `/apis/GROUP/…`).
pub fn attributes(method: &str, path: &str, watch: bool) -> Option<Attributes> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return None,
    };
    let (namespace, resource, name, sub) = match rest {
        ["namespaces", ns, resource, tail @ ..] => (*ns, *resource, tail.first(), tail.get(1)),
        [resource, tail @ ..] => ("", *resource, tail.first(), tail.get(1)),
        _ => return None,
    };
    let collection = name.is_none();
    let verb = match (method, collection) {
        ("GET", true) if watch => "watch",
        ("GET", true) => "list",
        ("GET", false) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "deletecollection",
        ("DELETE", false) => "delete",
        _ => return None,
    };
    Some(Attributes {
        verb: verb.into(),
        group: group.into(),
        resource: match sub {
            Some(sub) => format!("{resource}/{sub}"),
            None => resource.to_string(),
        },
        namespace: namespace.into(),
        name: name.map(|n| n.to_string()),
    })
}
