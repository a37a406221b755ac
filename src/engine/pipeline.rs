//! Specs → rendered Secrets (effect only through the credential sources): load, validate and
//! resolve (with the cluster's namespaces when there is one), fetch each credential once, and
//! render. Shared by every command and the daemon.

use std::collections::BTreeSet;
use std::path::Path;

use super::error::{EngineError, Stop};
use crate::credentials::{self, age_file};
use crate::engine::config::RenderConfig;
use crate::engine::context::Context;
use crate::render::{self, RenderContext, RenderOutcome};
use crate::spec::fleet::ClusterIdentity;
use crate::spec::resolve::{self, Desired, Namespaces};
use crate::spec::tenancy::enforce::{self, Verdict};
use crate::spec::tenancy::{self, LoadTenantsError, TenancySettings};
use crate::spec::{self, CheckSpecsError, Checked, Diagnostic};

/// Specs that loaded, validated and resolved, with their warnings and what tenancy rejected.
pub struct Resolved {
    pub checked: Checked,
    pub desired: Desired,
    pub diagnostics: Vec<Diagnostic>,
    /// Objects rejected by tenancy (already removed from `desired`), with the Vault role of
    /// each tenant-owned credential.
    pub tenancy: Verdict,
}

/// Load, validate, enforce tenancy and resolve (reads the spec folder: call it off the
/// runtime). `Stop::Invalid` carries the diagnostics (sorted) that stop the whole revision:
/// invalid specs, an invalid tenants folder, or any tenancy violation under
/// `--strict-tenancy`.
pub fn check_and_resolve(
    dir: &Path,
    namespaces: &Namespaces,
    tenancy: &TenancySettings,
    cluster: &ClusterIdentity,
) -> Result<Resolved, Stop> {
    check_and_resolve_cached(dir, namespaces, tenancy, cluster, None)
}

/// [`check_and_resolve`], parsing only the spec files that changed since `cache` last saw them.
pub fn check_and_resolve_cached(
    dir: &Path,
    namespaces: &Namespaces,
    tenancy: &TenancySettings,
    cluster: &ClusterIdentity,
    cache: Option<&std::sync::Mutex<spec::load::LoadCache>>,
) -> Result<Resolved, Stop> {
    let mut guard = cache.map(|c| c.lock().unwrap_or_else(|e| e.into_inner()));
    let policy = match tenancy::load(tenancy, dir) {
        Ok(policy) => policy,
        Err(LoadTenantsError::Invalid(diagnostics)) => return Err(Stop::Invalid(diagnostics)),
        Err(other) => return Err(EngineError::LoadTenants(other).into()),
    };
    let except = tenancy.source.as_ref().and_then(|s| s.inside(dir));
    let mut verdict = Verdict::default();
    let mut checked = match &policy {
        None => match spec::check_cached(dir, except.as_deref(), guard.as_deref_mut()) {
            Ok(checked) => checked,
            Err(CheckSpecsError::Invalid(diagnostics)) => return Err(Stop::Invalid(diagnostics)),
            Err(CheckSpecsError::Load(error)) => return Err(error.into()),
        },
        // Under tenancy one team's broken file is that team's problem only.
        Some(policy) => {
            let (mut catalog, mut diagnostics) =
                spec::load::load_cached(dir, except.as_deref(), guard.as_deref_mut())?;
            diagnostics.extend(spec::validate::validate(&catalog));
            spec::diag::sort(&mut diagnostics);
            enforce::isolate_broken_files(policy, &mut catalog, &mut diagnostics, &mut verdict);
            if diagnostics.iter().any(Diagnostic::is_error) {
                diagnostics.extend(verdict.diagnostics);
                spec::diag::sort(&mut diagnostics);
                return Err(Stop::Invalid(diagnostics));
            }
            Checked {
                catalog,
                warnings: diagnostics,
            }
        }
    };
    drop(guard);
    // Fleets: what is for other clusters is not this one's business (not even its tenancy).
    cluster.retain(&mut checked.catalog);
    let before = enforce::before_resolve(policy.as_ref(), &mut checked.catalog, namespaces);
    verdict.diagnostics.extend(before.diagnostics);
    let mut desired = resolve::resolve_unsettled(&checked.catalog, namespaces);
    if let Some(policy) = &policy {
        enforce::after_resolve(policy, &checked.catalog, &mut desired, namespaces, &mut verdict);
    }
    let rejected: std::collections::BTreeSet<&str> = verdict.held.keys().map(String::as_str).collect();
    // (file-level holds, `file#`, name no intent: their files' objects were never resolved)
    resolve::settle_collisions(&mut desired, &rejected);
    let mut diagnostics = checked.warnings.clone();
    diagnostics.extend(desired.diagnostics.iter().cloned());
    spec::diag::sort(&mut diagnostics);
    let strict = policy.as_ref().is_some_and(|p| p.strict);
    if diagnostics.iter().any(Diagnostic::is_error) || (strict && verdict.rejected() > 0) {
        diagnostics.extend(verdict.diagnostics);
        spec::diag::sort(&mut diagnostics);
        return Err(Stop::Invalid(diagnostics));
    }
    spec::diag::sort(&mut verdict.diagnostics);
    Ok(Resolved {
        checked,
        desired,
        diagnostics,
        tenancy: verdict,
    })
}

/// [`check_and_resolve`] on a blocking thread: the spec folder is read with `std::fs`, and a
/// large repository must not hold a runtime worker (the daemon's `/readyz` shares them).
pub async fn check_and_resolve_blocking(
    dir: &Path,
    namespaces: &Namespaces,
    tenancy: &TenancySettings,
    cluster: &ClusterIdentity,
    cache: Option<std::sync::Arc<std::sync::Mutex<spec::load::LoadCache>>>,
) -> Result<Resolved, Stop> {
    let (dir, namespaces, tenancy, cluster) = (
        dir.to_path_buf(),
        namespaces.clone(),
        tenancy.clone(),
        cluster.clone(),
    );
    tokio::task::spawn_blocking(move || {
        check_and_resolve_cached(&dir, &namespaces, &tenancy, &cluster, cache.as_deref())
    })
    .await
    .map_err(EngineError::Blocking)?
}

/// Everything between the spec folder and the rendered objects.
pub struct Pipeline {
    pub outcome: RenderOutcome,
    pub revision: String,
    pub diagnostics: Vec<Diagnostic>,
    /// What tenancy rejected in this revision (the rest applies).
    pub tenancy: Verdict,
    /// Credential name → the secrets that use it, to know when a replaced lease may go.
    pub users: std::collections::BTreeMap<String, Vec<(String, String)>>,
    /// The context this sync ran with (its lease book, tenant sessions, age identities).
    pub context: Context,
    /// The lease book as last loaded or written, so an unchanged book is not written again.
    pub persisted: std::sync::Mutex<credentials::vault::dynamic::LeaseBook>,
    /// The pull secrets of this revision per namespace (keys, no values), for admission.
    pub pulls: std::sync::Arc<crate::admission::index::PullIndex>,
    /// The logins of `delivery: provider|both` pull secrets, for the credential provider.
    pub provided: std::sync::Arc<crate::provider::index::ProviderIndex>,
}

/// The Vault session the flags ask for, if any.
pub fn vault_session(args: &RenderConfig) -> Result<Option<credentials::vault::VaultSession>, EngineError> {
    match &args.vault {
        Ok(Some(settings)) => Ok(Some(credentials::vault::VaultSession::new(settings.clone())?)),
        Ok(None) => Ok(None),
        Err(e) => Err(EngineError::VaultFlags(e.clone())),
    }
}

impl Pipeline {
    /// Tenancy's rejections of this revision: one line per rejected object (its first
    /// violation).
    pub fn tenancy_rejected(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.tenancy
            .diagnostics
            .iter()
            .filter(|d| d.is_error() && seen.insert((d.position.file.clone(), d.object.clone())))
            .map(ToString::to_string)
            .collect()
    }

    /// Namespace → the objects tenancy rejected that asked for it (`Kind/name in file`), for
    /// `pullsync wait`: a namespace waiting for a rejected pull secret must not see "applied".
    pub fn tenancy_rejected_in(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (spec_ref, namespaces) in &self.tenancy.held_namespaces {
            let (file, object) = spec_ref.split_once('#').unwrap_or(("", spec_ref));
            let why = self
                .tenancy
                .held
                .get(spec_ref)
                .map(String::as_str)
                .unwrap_or_default();
            for namespace in namespaces {
                out.entry(namespace.clone())
                    .or_default()
                    .push(format!("{object} ({file}): {why}"));
            }
        }
        out
    }
}

/// The Vault session of each tenant-owned credential whose tenant names a role: one session
/// per role, kept in the context so a daemon logs in once per role, not once per sync.
fn tenant_sessions(
    vault: Option<&credentials::vault::VaultSession>,
    verdict: &Verdict,
    context: &Context,
) -> Result<std::collections::BTreeMap<String, credentials::vault::VaultSession>, EngineError> {
    let mut out = std::collections::BTreeMap::new();
    let Some(vault) = vault else {
        return Ok(out);
    };
    let mut sessions = context.tenant_sessions.lock().unwrap_or_else(|e| e.into_inner());
    for (credential, role) in &verdict.vault_roles {
        let session = match sessions.get(role) {
            Some(session) => session.clone(),
            None => {
                let session = vault.for_role(role)?;
                sessions.insert(role.clone(), session.clone());
                session
            }
        };
        out.insert(credential.clone(), session);
    }
    Ok(out)
}

/// Run the pipeline in `context` (a cluster's namespaces, sessions and caches, or none); the
/// returned [`Pipeline`] holds this sync's own copy of the context.
pub async fn pipeline(dir: &Path, args: &RenderConfig, context: &Context) -> Result<Pipeline, Stop> {
    let Resolved {
        mut checked,
        desired,
        diagnostics,
        tenancy,
    } = check_and_resolve_blocking(
        dir,
        &context.namespaces,
        &args.tenancy,
        &args.cluster,
        context.load_cache.clone(),
    )
    .await?;
    // Rotation layered from Defaults reaches the credentials the secrets use.
    spec::rotation::apply(&mut checked.catalog, &desired);
    let catalog = &checked.catalog;
    for rejected in tenancy.diagnostics.iter().filter(|d| d.is_error()) {
        tracing::warn!(object = rejected.object.as_deref().unwrap_or(""), at = %rejected.position, reason = %rejected.message, "rejected by tenancy");
    }
    let vault = match &context.vault {
        Some(session) => Some(session.clone()),
        None => vault_session(args)?,
    };
    // This sync's own context: the lease book as loaded, the sessions of this revision's
    // tenants, the render flags' sources; everything kept between syncs is shared.
    let book = context.leases.lock().await.clone();
    let mut context = context.clone();
    // Read each sync (a mounted Secret may have been rotated), on a blocking thread.
    context.age_identities = match args.age_identity.clone() {
        Some(path) => Some(std::sync::Arc::new(
            tokio::task::spawn_blocking(move || age_file::Identities::load(&path))
                .await
                .map_err(EngineError::Blocking)??,
        )),
        None => None,
    };
    context.tenant_vault = tenant_sessions(vault.as_ref(), &tenancy, &context)?;
    context.vault = vault;
    context.aws = args.aws.clone();
    context.azure_authority = args.azure_authority.clone();
    context.source_timeout = crate::credentials::SourceTimeout(args.source_timeout);
    context.files = args.file_policy(context.kube.is_some(), context.own_files.iter().cloned());
    context.leases = std::sync::Arc::new(tokio::sync::Mutex::new(book.clone()));
    let needed: BTreeSet<&str> = desired.secrets.values().flat_map(|s| s.credentials()).collect();
    let needed = catalog.with_dependencies(&needed);
    let mut users: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
    for intent in desired.secrets.values() {
        for credential in intent.credentials() {
            users
                .entry(credential.to_string())
                .or_default()
                .push((intent.namespace.clone(), intent.name.clone()));
        }
    }
    if let Some(cache) = &context.cache {
        cache.lock().await.retain(&needed);
    }
    let values = credentials::fetch_all(catalog, &needed, &context.sources()).await;
    let revision = args
        .revision
        .clone()
        .unwrap_or_else(|| format!("local-{}", &catalog.fingerprint[..12]));
    let render_context = RenderContext {
        revision: revision.clone(),
        instance: args.instance.clone(),
        // Without a kept key (`render`, a first `plan`), digests are for this run only.
        key: context
            .digest_key
            .clone()
            .unwrap_or_else(crate::value::digest::DigestKey::generate),
    };
    // Shown with the other diagnostics (`sync`, `/status`); they do not stop the revision.
    let mut diagnostics = diagnostics;
    diagnostics.extend(tenancy.diagnostics.iter().cloned());
    spec::diag::sort(&mut diagnostics);
    let pulls = std::sync::Arc::new(crate::admission::index::PullIndex::build(
        &desired,
        context.namespaces.known.as_ref(),
    ));
    let mut outcome = render::render(&desired, catalog, &values, &render_context);
    outcome.held = tenancy.held.clone();
    // The credential provider's logins come from the same values; `delivery: provider` is never
    // written (and a Secret pullsync wrote for it before is pruned like any other it no longer
    // wants).
    let renews = match &context.cache {
        Some(cache) => {
            let cache = cache.lock().await;
            cache
                .entries
                .iter()
                .map(|(name, cached)| (name.clone(), crate::schedule::due_of(cached).at))
                .collect()
        }
        None => std::collections::BTreeMap::new(),
    };
    let provided = std::sync::Arc::new(crate::provider::index::ProviderIndex::build(
        &desired,
        catalog,
        &values,
        &|c: &str| renews.get(c).copied(),
        &revision,
    ));
    let writes = |namespace: &str, name: &str| {
        desired
            .secrets
            .get(&(namespace.to_string(), name.to_string()))
            .is_none_or(|i| i.delivery.writes_secret())
    };
    outcome.rendered.retain(|r| writes(&r.namespace, &r.name));
    outcome.failed.retain(|f| writes(&f.namespace, &f.name));
    for failure in &outcome.failed {
        tracing::error!(namespace = %failure.namespace, secret = %failure.name, spec = %failure.spec_ref, reason = %failure.reason, "secret not rendered");
    }
    Ok(Pipeline {
        outcome,
        revision,
        diagnostics,
        tenancy,
        users,
        context,
        persisted: std::sync::Mutex::new(book),
        pulls,
        provided,
    })
}
