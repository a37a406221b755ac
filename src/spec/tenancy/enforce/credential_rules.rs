//! What a tenant's own credentials may read (pure): file and age-file paths inside the
//! tenant's folders, Vault paths under its prefixes, cloud identities it was granted.

use std::path::{Component, Path, PathBuf};

use super::{Owner, Reach, Scope, unknown, violation};
use crate::spec::catalog::Object;
use crate::spec::diag::Diagnostic;
use crate::spec::model::{CredentialSpec, TenantSpec};

/// What a tenant's own credential may read.
pub(super) fn credential_rules(
    scope: &Scope<'_>,
    tenant: &Object<TenantSpec>,
    credential: &Object<CredentialSpec>,
    warnings: &mut Vec<Diagnostic>,
) -> Vec<Diagnostic> {
    let spec = &credential.spec;
    let at = |path: &str| credential.origin.at(path);
    let fail = |rule: &str, path: &str, why: String, help: &str| {
        violation(&tenant.name, rule, at(path), credential.id(), why, help)
    };
    let mut out = Vec::new();
    if spec.file.is_some() {
        out.push(fail(
            "sources",
            "spec.file",
            "`file` sources read the daemon's own disk and are for platform credentials".into(),
            "ask the platform to grant a shared credential in the Tenant's spec.credentials",
        ));
    }
    if spec.kubernetes_secret.is_some() {
        out.push(fail(
            "sources",
            "spec.kubernetesSecret",
            "`kubernetesSecret` reads pullsync's own namespace and is for platform credentials".into(),
            "ask the platform to grant a shared credential in the Tenant's spec.credentials",
        ));
    }
    if let Some(token) = &spec.service_account_token {
        match scope.reach(tenant, &token.namespace) {
            Reach::Allowed => {}
            Reach::Unknown => warnings.push(unknown(
                credential,
                tenant,
                &token.namespace,
                "spec.serviceAccountToken.namespace",
            )),
            Reach::Forbidden(why) => out.push(fail(
                "namespaces",
                "spec.serviceAccountToken.namespace",
                why,
                "mint tokens only for ServiceAccounts in the tenant's namespaces",
            )),
        }
    }
    if let Some(age) = &spec.age_file {
        let file = credential
            .origin
            .file
            .parent()
            .map(|dir| normalize(&dir.join(&age.path)));
        let owned = file
            .as_ref()
            .is_some_and(|f| matches!(scope.owner(f), Owner::Tenant(t) if t.name == tenant.name));
        if !owned {
            out.push(fail(
                "paths",
                "spec.ageFile.path",
                format!("age file `{}` is outside the tenant's paths", age.path),
                "keep the tenant's encrypted files under its own folder",
            ));
        }
    }
    if spec
        .ecr
        .as_ref()
        .is_some_and(|e| e.identity.web_identity.is_some())
    {
        out.push(fail(
            "sources",
            "spec.ecr.identity.webIdentity",
            "a web identity assumes a role with pullsync's own pod identity and is for platform credentials"
                .into(),
            "ask the platform to grant a shared ECR credential in the Tenant's spec.credentials",
        ));
    }
    // Exchanged from another credential (AWS keys, a GCP key, a service principal): that one
    // must be the tenant's own or granted to it.
    if let Some(keys) = spec.exchanged_from() {
        let owned = match scope.owner_of_credential(keys) {
            Some(Owner::Tenant(t)) => t.name == tenant.name,
            Some(Owner::Platform) => tenant.spec.credentials.iter().any(|c| c == keys),
            _ => false,
        };
        if !owned {
            out.push(fail(
                "credentials",
                "spec",
                format!("credential `{keys}` it is exchanged from is neither the tenant's nor granted to it"),
                "use a credential defined under the tenant's own paths, or a platform credential granted by name",
            ));
        }
    }
    if let Some(vault) = &spec.vault {
        let (path, field) = match (&vault.kv, &vault.dynamic) {
            (Some(kv), _) => (format!("{}/{}", kv.mount, kv.path), "spec.vault.kv.path"),
            (None, Some(dynamic)) => (dynamic.path.clone(), "spec.vault.dynamic.path"),
            (None, None) => (String::new(), "spec.vault"),
        };
        // A KV v2 mount's prefixes may be written as its Vault policy names them.
        let kv2_mount = vault
            .kv
            .as_ref()
            .filter(|kv| kv.engine == crate::spec::model::KvEngine::V2)
            .map(|kv| kv.mount.as_str());
        let prefixes = tenant
            .spec
            .vault
            .as_ref()
            .map(|v| v.path_prefixes.as_slice())
            .unwrap_or_default();
        let within = |p: &String| match kv2_mount {
            Some(mount) => vault_path_within(&path, &kv2_logical_prefix(p, mount)),
            None => vault_path_within(&path, p),
        };
        if !prefixes.iter().any(within) {
            out.push(fail(
                "vaultPaths",
                field,
                format!(
                    "Vault path `{path}` is outside the tenant's path prefixes ({})",
                    if prefixes.is_empty() {
                        "none".to_string()
                    } else {
                        prefixes.join(", ")
                    }
                ),
                "read only under the prefixes in the Tenant's spec.vault.pathPrefixes (a KV v2 prefix may be written as the credential names it, `secret/team/`, or as the Vault policy does, `secret/data/team/`)",
            ));
        }
    }
    out
}

/// A prefix written the way a Vault policy names KV v2 secrets — `<mount>/data/…` (what a read
/// needs) or `<mount>/metadata/…` — as the logical path a Credential names, `<mount>/…`.
/// (Vault, KV secrets engine version 2, "ACL rules": the API puts `data/` and `metadata/`
/// after the mount.) Any other prefix is returned as written.
pub(super) fn kv2_logical_prefix(prefix: &str, mount: &str) -> String {
    let mount = mount.trim_matches('/');
    let written = prefix.trim_start_matches('/');
    for api in ["data", "metadata"] {
        let policy_form = format!("{mount}/{api}");
        if written == policy_form || written == format!("{policy_form}/") {
            return format!("{mount}/");
        }
        if let Some(rest) = written.strip_prefix(&format!("{policy_form}/")) {
            return format!("{mount}/{rest}");
        }
    }
    written.to_string()
}

/// `path` lies under `prefix`, segment-wise, with no `.`/`..`/empty segment to walk out.
pub(super) fn vault_path_within(path: &str, prefix: &str) -> bool {
    let segments = |s: &str| -> Option<Vec<String>> {
        let parts: Vec<&str> = s.trim_matches('/').split('/').collect();
        if parts.iter().any(|p| p.is_empty() || *p == "." || *p == "..") {
            return None;
        }
        Some(parts.iter().map(|p| p.to_string()).collect())
    };
    match (segments(path), segments(prefix)) {
        (Some(path), Some(prefix)) => path.len() > prefix.len() && path.starts_with(&prefix),
        _ => false,
    }
}

/// `a/./b/../c` → `a/c`, without touching the disk (a spec's relative path, judged by name).
pub(super) fn normalize(path: &Path) -> PathBuf {
    let mut out: Vec<&std::ffi::OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out.iter().collect()
}
