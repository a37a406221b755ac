//! Checking specs against the Tenants (pure).
//!
//! Every object is owned by the tenant whose `paths` hold its file (or by the platform, when
//! the operator allows platform specs). A violation rejects that object only: its diagnostic
//! names the tenant, the rule and the place; nothing of it is rendered, and the Secrets it
//! wrote before are kept rather than pruned (a rejected spec changes nothing). The rest of the
//! revision applies. Namespaces are judged on the cluster's live labels, never on a spec.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::Policy;
use super::paths::path_matches;
use crate::image::glob::glob_match;
use crate::spec::catalog::{Catalog, Object};
use crate::spec::diag::{Diagnostic, Position};
use crate::spec::model::TenantSpec;
use crate::spec::resolve::{Desired, Namespaces, matches};

mod credential_rules;
use credential_rules::credential_rules;
#[cfg(test)]
use credential_rules::{kv2_logical_prefix, normalize, vault_path_within};

mod broken_files;
pub use broken_files::isolate_broken_files;

/// What enforcement decided for one revision.
#[derive(Debug, Default, Clone)]
pub struct Verdict {
    /// Violations (errors) and what can only be judged against a cluster (warnings).
    pub diagnostics: Vec<Diagnostic>,
    /// `file#Kind/name` of each rejected object → why: its earlier Secrets are kept.
    pub held: BTreeMap<String, String>,
    /// `file#Kind/name` of each rejected Secret or PullSecret → the namespaces it asked for
    /// (what `pullsync wait --namespace` must not call applied).
    pub held_namespaces: BTreeMap<String, std::collections::BTreeSet<String>>,
    /// Credential → the Vault role of the tenant that owns it.
    pub vault_roles: BTreeMap<String, String>,
}

impl Verdict {
    pub fn rejected(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
}

#[derive(Debug, Clone, Copy)]
enum Owner<'a> {
    Tenant(&'a Object<TenantSpec>),
    Platform,
    /// Outside every tenant's paths, and platform specs are not allowed there.
    Nobody,
    /// Matched by two tenants' paths.
    Ambiguous(&'a str, &'a str),
}

enum Reach {
    Allowed,
    Forbidden(String),
    /// Decided by live labels, and there is no cluster to ask (offline `validate`).
    Unknown,
}

/// Who owns what, for one revision and one view of the namespaces.
struct Scope<'a> {
    policy: &'a Policy,
    /// The specs being judged (for rules that follow a reference to another credential).
    catalog: Option<&'a Catalog>,
    namespaces: &'a Namespaces,
    /// Namespace → the tenants claiming it (by name, or by live labels).
    claims: BTreeMap<String, Vec<&'a str>>,
}

impl<'a> Scope<'a> {
    fn new(policy: &'a Policy, namespaces: &'a Namespaces) -> Self {
        let mut claims: BTreeMap<String, Vec<&'a str>> = BTreeMap::new();
        for tenant in &policy.tenants {
            let mut mine: BTreeSet<&str> = tenant.spec.namespaces.iter().map(String::as_str).collect();
            if let (Some(selector), Some(known)) = (&tenant.spec.namespace_selector, &namespaces.known) {
                mine.extend(
                    known
                        .iter()
                        .filter(|(_, labels)| matches(selector, labels))
                        .map(|(ns, _)| ns.as_str()),
                );
            }
            for ns in mine {
                claims.entry(ns.to_string()).or_default().push(&tenant.name);
            }
        }
        Scope {
            policy,
            catalog: None,
            namespaces,
            claims,
        }
    }

    fn owner(&self, file: &Path) -> Owner<'a> {
        let mut owners = tenants_of(self.policy, file);
        match (owners.next(), owners.next()) {
            (Some(a), Some(b)) => Owner::Ambiguous(&a.name, &b.name),
            (Some(tenant), None) => Owner::Tenant(tenant),
            (None, _)
                if self.policy.allow_platform_specs
                    || self.policy.platform_paths.iter().any(|p| path_matches(p, file)) =>
            {
                Owner::Platform
            }
            (None, _) => Owner::Nobody,
        }
    }

    fn owner_of_credential(&self, name: &str) -> Option<Owner<'a>> {
        self.catalog
            .and_then(|c| c.credential(name))
            .map(|c| self.owner(&c.origin.file))
    }

    fn reach(&self, tenant: &Object<TenantSpec>, ns: &str) -> Reach {
        let claimants = self.claims.get(ns).map(Vec::as_slice).unwrap_or_default();
        if claimants.len() > 1 {
            return Reach::Forbidden(format!(
                "namespace `{ns}` is claimed by tenants {} (a configuration error: it belongs to neither until one lets go)",
                claimants
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ));
        }
        match claimants.first() {
            Some(owner) if *owner == tenant.name => Reach::Allowed,
            Some(owner) => Reach::Forbidden(format!("namespace `{ns}` belongs to tenant `{owner}`")),
            None if self.namespaces.known.is_none() && tenant.spec.namespace_selector.is_some() => {
                Reach::Unknown
            }
            None => Reach::Forbidden(format!(
                "namespace `{ns}` is not one of tenant `{}`'s namespaces",
                tenant.name
            )),
        }
    }
}

/// The tenants whose `paths` hold `file` (more than one is a configuration error).
fn tenants_of<'a>(policy: &'a Policy, file: &Path) -> std::vec::IntoIter<&'a Object<TenantSpec>> {
    let owners: Vec<&'a Object<TenantSpec>> = policy
        .tenants
        .iter()
        .filter(|t| t.spec.paths.iter().any(|p| path_matches(p, file)))
        .collect();
    owners.into_iter()
}

/// The tenant owning `file`, if exactly one does.
pub fn tenant_of<'a>(policy: &'a Policy, file: &Path) -> Option<&'a str> {
    let mut owners = tenants_of(policy, file);
    match (owners.next(), owners.next()) {
        (Some(one), None) => Some(&one.name),
        _ => None,
    }
}

/// One violation of one rule.
fn violation(
    tenant: &str,
    rule: &str,
    at: Position,
    object: String,
    message: String,
    help: &str,
) -> Diagnostic {
    Diagnostic::error(
        at,
        format!("tenant `{tenant}`, rule `{rule}`: {message}; rejected"),
    )
    .object(object)
    .help(help)
}

/// Why an object with this owner may not exist at all, if so.
fn unowned(owner: Owner<'_>, at: Position, object: String) -> Option<Diagnostic> {
    match owner {
        Owner::Nobody => Some(
            Diagnostic::error(
                at,
                "rule `paths`: this file is outside every tenant's paths, and platform specs are not allowed here; rejected",
            )
            .object(object)
            .help("move it under a tenant's folder, or (platform only) pass --platform-path GLOB or --allow-platform-specs"),
        ),
        Owner::Ambiguous(a, b) => Some(
            Diagnostic::error(
                at,
                format!("rule `paths`: this file is matched by the paths of tenants `{a}` and `{b}`; rejected"),
            )
            .object(object)
            .help("make the tenants' spec.paths disjoint"),
        ),
        Owner::Tenant(_) | Owner::Platform => None,
    }
}

/// Before resolving: Tenant objects in the specs, and Defaults reaching other tenants'
/// namespaces, are removed from the catalog (they would otherwise layer into others' Secrets).
pub fn before_resolve(policy: Option<&Policy>, catalog: &mut Catalog, namespaces: &Namespaces) -> Verdict {
    let mut verdict = Verdict::default();
    for tenant in catalog.tenants.drain(..) {
        verdict.diagnostics.push(
            Diagnostic::error(
                tenant.origin.start(),
                "rule `tenants`: Tenant objects are read only from the platform's tenants folder (--tenants), never from the specs they constrain; ignored",
            )
            .object(tenant.id())
            .help("ask the platform team to change the Tenant in its tenants folder"),
        );
    }
    let Some(policy) = policy else {
        return verdict;
    };
    let scope = Scope::new(policy, namespaces);
    let mut kept = Vec::new();
    for defaults in std::mem::take(&mut catalog.defaults) {
        let owner = scope.owner(&defaults.origin.file);
        let mut problems = unowned(owner, defaults.origin.start(), defaults.id())
            .into_iter()
            .collect::<Vec<_>>();
        if let Owner::Tenant(tenant) = owner {
            match &defaults.namespace {
                None => problems.push(violation(
                    &tenant.name,
                    "namespaces",
                    defaults.origin.start(),
                    defaults.id(),
                    "cluster-wide Defaults belong to the platform".into(),
                    "give the Defaults a metadata.namespace of your own",
                )),
                Some(ns) => match scope.reach(tenant, ns) {
                    Reach::Allowed => {}
                    Reach::Unknown => {
                        verdict
                            .diagnostics
                            .push(unknown(&defaults, tenant, ns, "metadata.namespace"))
                    }
                    Reach::Forbidden(why) => problems.push(violation(
                        &tenant.name,
                        "namespaces",
                        defaults.origin.at("metadata.namespace"),
                        defaults.id(),
                        why,
                        "Defaults may only name the tenant's own namespaces",
                    )),
                },
            }
        }
        if problems.is_empty() {
            kept.push(defaults);
        } else {
            verdict.diagnostics.extend(problems);
        }
    }
    catalog.defaults = kept;
    verdict
}

fn unknown<S>(object: &Object<S>, tenant: &Object<TenantSpec>, ns: &str, path: &str) -> Diagnostic {
    Diagnostic::warning(
        object.origin.at(path),
        format!(
            "tenant `{}`: namespace `{ns}` is not in its spec.namespaces; whether its live labels match the tenant's namespaceSelector is checked at sync time",
            tenant.name
        ),
    )
    .object(object.id())
}

/// After resolving: reject objects that break a rule, removing what they would render.
pub fn after_resolve(
    policy: &Policy,
    catalog: &Catalog,
    desired: &mut Desired,
    namespaces: &Namespaces,
    verdict: &mut Verdict,
) {
    let scope = Scope::new(policy, namespaces);
    // Credentials first: a credential that breaks a rule takes its users with it.
    let mut bad_credentials: BTreeMap<&str, String> = BTreeMap::new();
    let mut owners: BTreeMap<&str, Owner<'_>> = BTreeMap::new();
    for credential in &catalog.credentials {
        let owner = scope.owner(&credential.origin.file);
        owners.insert(&credential.name, owner);
        let mut problems: Vec<Diagnostic> = unowned(owner, credential.origin.start(), credential.id())
            .into_iter()
            .collect();
        if let Owner::Tenant(tenant) = owner {
            problems.extend(credential_rules(
                &scope,
                tenant,
                credential,
                &mut verdict.diagnostics,
            ));
            if let Some(role) = tenant.spec.vault.as_ref().and_then(|v| v.role.clone())
                && credential.spec.vault.is_some()
            {
                verdict.vault_roles.insert(credential.name.clone(), role);
            }
        }
        if let Some(first) = problems.first() {
            bad_credentials.insert(&credential.name, format!("see {}", first.position));
        }
        verdict.diagnostics.extend(problems);
    }

    // Each object's targets, from what resolve made of it.
    let mut targets: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let colliding = desired.collisions.iter().map(|(intent, _)| intent);
    for intent in desired.secrets.values().chain(colliding) {
        targets
            .entry(&intent.spec_ref)
            .or_default()
            .push(&intent.namespace);
    }
    let mut rejected: BTreeSet<String> = BTreeSet::new();
    let objects = catalog
        .pull_secrets
        .iter()
        .map(|o| {
            let credentials: Vec<(String, &str)> = o
                .spec
                .registries
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("spec.registries[{i}].credential"), r.credential.as_str()))
                .collect();
            (
                o.kind,
                &o.name,
                &o.origin,
                o.id(),
                credentials,
                o.spec.service_accounts.as_slice(),
            )
        })
        .chain(catalog.secrets.iter().map(|o| {
            let credentials: Vec<(String, &str)> = o
                .spec
                .data
                .iter()
                .filter_map(|(key, d)| {
                    Some((format!("spec.data.{key}.credential"), d.credential.as_deref()?))
                })
                .collect();
            (o.kind, &o.name, &o.origin, o.id(), credentials, &[][..])
        }));
    for (kind, name, origin, id, credentials, accounts) in objects {
        let spec_ref = origin.annotation(kind, name);
        let owner = scope.owner(&origin.file);
        let mut problems: Vec<Diagnostic> = unowned(owner, origin.start(), id.clone()).into_iter().collect();
        if let Owner::Tenant(tenant) = owner {
            for ns in targets.get(spec_ref.as_str()).into_iter().flatten() {
                match scope.reach(tenant, ns) {
                    Reach::Allowed => {}
                    Reach::Unknown => verdict.diagnostics.push(
                        Diagnostic::warning(
                            origin.key_at("spec.namespaces"),
                            format!("tenant `{}`: namespace `{ns}` is checked against the tenant's namespaceSelector at sync time", tenant.name),
                        )
                        .object(id.clone()),
                    ),
                    Reach::Forbidden(why) => problems.push(violation(
                        &tenant.name,
                        "namespaces",
                        origin.key_at(if origin.index().key("spec.namespaceSelector").is_some() {
                            "spec.namespaceSelector"
                        } else {
                            "spec.namespaces"
                        }),
                        id.clone(),
                        why,
                        "target only the tenant's namespaces (its spec.namespaces, or live namespaces matching its namespaceSelector)",
                    )),
                }
            }
            for (path, credential) in &credentials {
                let why = match owners.get(credential) {
                    Some(Owner::Tenant(t)) if t.name == tenant.name => None,
                    Some(Owner::Tenant(t)) => Some(format!(
                        "credential `{credential}` belongs to tenant `{}`",
                        t.name
                    )),
                    Some(Owner::Platform) if tenant.spec.credentials.iter().any(|c| c == credential) => None,
                    Some(Owner::Platform) => Some(format!(
                        "credential `{credential}` is the platform's and not granted to tenant `{}`",
                        tenant.name
                    )),
                    Some(Owner::Nobody | Owner::Ambiguous(..)) | None => None,
                };
                if let Some(why) = why {
                    problems.push(violation(
                        &tenant.name,
                        "credentials",
                        origin.at(path),
                        id.clone(),
                        why,
                        "use a credential defined under the tenant's own paths, or ask the platform to grant a shared one in the Tenant's spec.credentials",
                    ));
                } else if let Some(reason) = bad_credentials.get(credential) {
                    problems.push(violation(
                        &tenant.name,
                        "credentials",
                        origin.at(path),
                        id.clone(),
                        format!("credential `{credential}` was rejected ({reason})"),
                        "fix the credential first",
                    ));
                }
            }
            for (i, account) in accounts.iter().enumerate() {
                if !tenant
                    .spec
                    .service_accounts
                    .iter()
                    .any(|p| glob_match(p, account))
                {
                    problems.push(violation(
                        &tenant.name,
                        "serviceAccounts",
                        origin.at(&format!("spec.serviceAccounts[{i}]")),
                        id.clone(),
                        format!("ServiceAccount `{account}` is not in the tenant's spec.serviceAccounts"),
                        "ask the platform to add it to the Tenant's spec.serviceAccounts",
                    ));
                }
            }
        } else if matches!(owner, Owner::Platform) {
            // The platform's objects may use any credential, but not one that broke a rule.
            for (path, credential) in &credentials {
                if let Some(reason) = bad_credentials.get(credential) {
                    problems.push(
                        Diagnostic::error(
                            origin.at(path),
                            format!("credential `{credential}` was rejected ({reason}); rejected"),
                        )
                        .object(id.clone()),
                    );
                }
            }
        }
        if let Some(first) = problems.first() {
            verdict.held.insert(spec_ref.clone(), first.message.clone());
            rejected.insert(spec_ref);
        }
        verdict.diagnostics.extend(problems);
    }
    for intent in desired
        .secrets
        .values()
        .filter(|i| rejected.contains(&i.spec_ref))
    {
        verdict
            .held_namespaces
            .entry(intent.spec_ref.clone())
            .or_default()
            .insert(intent.namespace.clone());
    }
    desired
        .secrets
        .retain(|_, intent| !rejected.contains(&intent.spec_ref));
}

#[cfg(test)]
#[path = "enforce_tests.rs"]
mod tests;
