//! Tenancy: which spec paths belong to which team, and what each team may reach.
//!
//! The Tenants come from a place the platform owns (`--tenants`), never from the specs they
//! constrain: a folder outside the spec repository, or a folder inside it (`repo:PATH`) that
//! branch protection and CODEOWNERS reserve for the platform; Tenant objects anywhere else are
//! an error. Loading them is an effect (`load`); checking a catalog against them is pure
//! (`enforce`).

pub mod enforce;
pub mod paths;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::catalog::Object;
use super::diag::Diagnostic;
use super::model::TenantSpec;

/// Where the Tenants live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantsSource {
    /// A folder outside the spec repository (a ConfigMap volume, a platform checkout).
    Outside(PathBuf),
    /// A folder inside the spec repository, relative to its root; excluded from the specs.
    InRepo(PathBuf),
}

impl TenantsSource {
    /// `repo:PATH` names a folder inside the spec root; anything else is a path on disk.
    pub fn parse(value: &str) -> Result<TenantsSource, String> {
        match value.strip_prefix("repo:") {
            Some(relative) => {
                paths::check_pattern(relative).map_err(|why| format!("--tenants repo:{relative} {why}"))?;
                Ok(TenantsSource::InRepo(PathBuf::from(
                    relative.trim_end_matches('/'),
                )))
            }
            None => Ok(TenantsSource::Outside(PathBuf::from(value))),
        }
    }

    /// The folder inside `spec_root` to leave out of the specs, if any: `InRepo`, or an
    /// outside path that turns out to lie within the spec folder.
    pub fn inside(&self, spec_root: &Path) -> Option<PathBuf> {
        match self {
            TenantsSource::InRepo(relative) => Some(relative.clone()),
            TenantsSource::Outside(path) => {
                let path = std::fs::canonicalize(path).ok()?;
                let root = std::fs::canonicalize(spec_root).ok()?;
                path.strip_prefix(&root).ok().map(Path::to_path_buf)
            }
        }
    }

    fn folder(&self, spec_root: &Path) -> PathBuf {
        match self {
            TenantsSource::InRepo(relative) => spec_root.join(relative),
            TenantsSource::Outside(path) => path.clone(),
        }
    }
}

/// How tenancy is enforced; built from the command line.
#[derive(Debug, Clone, Default)]
pub struct TenancySettings {
    pub source: Option<TenantsSource>,
    /// Specs outside every tenant's paths are the platform's own and unrestricted.
    pub allow_platform_specs: bool,
    /// Paths (globs) the platform owns; specs there are unrestricted.
    pub platform_paths: Vec<String>,
    /// Any violation rejects the whole revision instead of the offending object.
    pub strict: bool,
}

/// The Tenants in force for one sync, with the operator's settings.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub tenants: Vec<Object<TenantSpec>>,
    pub allow_platform_specs: bool,
    pub platform_paths: Vec<String>,
    pub strict: bool,
}

impl Policy {
    pub fn tenant(&self, name: &str) -> Option<&Object<TenantSpec>> {
        self.tenants.iter().find(|t| t.name == name)
    }
}

/// Read the Tenants for a spec folder. `Ok(None)`: tenancy is off. `Err`: the Tenants folder
/// itself is wrong (nothing may be applied then: a broken boundary is not an open one).
pub fn load(settings: &TenancySettings, spec_root: &Path) -> Result<Option<Policy>, LoadTenantsError> {
    let Some(source) = &settings.source else {
        return Ok(None);
    };
    let folder = source.folder(spec_root);
    let (catalog, mut diagnostics) = super::load::load(&folder).map_err(|e| LoadTenantsError::Read {
        path: folder.clone(),
        reason: e.to_string(),
    })?;
    let shown = match source {
        TenantsSource::InRepo(relative) => relative.clone(),
        TenantsSource::Outside(path) => path.clone(),
    };
    let other = catalog.credentials.iter().map(|o| (o.origin.start(), o.id()));
    let other = other
        .chain(catalog.pull_secrets.iter().map(|o| (o.origin.start(), o.id())))
        .chain(catalog.secrets.iter().map(|o| (o.origin.start(), o.id())))
        .chain(catalog.defaults.iter().map(|o| (o.origin.start(), o.id())));
    for (at, id) in other {
        diagnostics.push(
            Diagnostic::error(at, "only Tenant objects belong in the tenants folder")
                .object(id)
                .help("move it into the spec repository"),
        );
    }
    diagnostics.extend(check_tenants(&catalog.tenants));
    for d in &mut diagnostics {
        d.position.file = shown.join(&d.position.file);
    }
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(LoadTenantsError::Invalid(diagnostics));
    }
    Ok(Some(Policy {
        tenants: catalog.tenants,
        allow_platform_specs: settings.allow_platform_specs,
        platform_paths: settings.platform_paths.clone(),
        strict: settings.strict,
    }))
}

/// What must hold among the Tenants themselves: usable path globs, unique names, and no
/// namespace named by two tenants.
fn check_tenants(tenants: &[Object<TenantSpec>]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut claimed: BTreeMap<&str, &Object<TenantSpec>> = BTreeMap::new();
    let mut names: BTreeMap<&str, &Object<TenantSpec>> = BTreeMap::new();
    for tenant in tenants {
        if let Some(first) = names.insert(tenant.name.as_str(), tenant) {
            out.push(
                Diagnostic::error(
                    tenant.origin.start(),
                    format!("Tenant `{}` is defined twice", tenant.name),
                )
                .object(tenant.id())
                .related(first.origin.start(), "first defined here"),
            );
        }
        if tenant.spec.paths.is_empty() {
            out.push(
                Diagnostic::error(tenant.origin.key_at("spec"), "a Tenant needs spec.paths")
                    .object(tenant.id())
                    .help("list the spec folders this team owns, e.g. `paths: [teams/ml/**]`"),
            );
        }
        for (i, pattern) in tenant.spec.paths.iter().enumerate() {
            if let Err(why) = paths::check_pattern(pattern) {
                out.push(
                    Diagnostic::error(
                        tenant.origin.at(&format!("spec.paths[{i}]")),
                        format!("path `{pattern}` {why}"),
                    )
                    .object(tenant.id()),
                );
            }
        }
        for (i, ns) in tenant.spec.namespaces.iter().enumerate() {
            if let Some(first) = claimed.insert(ns.as_str(), tenant)
                && first.name != tenant.name
            {
                out.push(
                    Diagnostic::error(
                        tenant.origin.at(&format!("spec.namespaces[{i}]")),
                        format!(
                            "namespace `{ns}` is claimed by tenants `{}` and `{}`",
                            first.name, tenant.name
                        ),
                    )
                    .object(tenant.id())
                    .related(first.origin.start(), "also claimed here")
                    .help("a namespace belongs to one tenant; remove it from one of them"),
                );
            }
        }
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum LoadTenantsError {
    #[error("cannot read the tenants folder {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("the tenants folder has {} error(s)", .0.iter().filter(|d| d.is_error()).count())]
    Invalid(Vec<Diagnostic>),
}
