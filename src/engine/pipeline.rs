//! Specs → rendered Secrets (effect only through the credential sources): load, validate and
//! resolve (with the cluster's namespaces when there is one), fetch each credential once, and
//! render. Shared by every command and the daemon.

use std::collections::BTreeSet;
use std::path::Path;

use crate::cli::RenderArgs;
use crate::credentials::{self, SourceContext, age_file};
use crate::render::{self, RenderContext, RenderOutcome};
use crate::spec::resolve::{self, Desired, Namespaces};
use crate::spec::{self, CheckSpecsError, Checked, Diagnostic};

/// Load, validate and resolve; `Err` carries the diagnostics already sorted.
/// Specs that loaded, validated and resolved, with their warnings.
pub struct Resolved {
    pub checked: Checked,
    pub desired: Desired,
    pub diagnostics: Vec<Diagnostic>,
}

pub fn check_and_resolve(
    dir: &Path,
    namespaces: &Namespaces,
) -> anyhow::Result<Result<Resolved, Vec<Diagnostic>>> {
    let checked = match spec::check(dir) {
        Ok(checked) => checked,
        Err(CheckSpecsError::Invalid(diagnostics)) => return Ok(Err(diagnostics)),
        Err(other) => return Err(other.into()),
    };
    let desired = resolve::resolve(&checked.catalog, namespaces);
    let mut diagnostics = checked.warnings.clone();
    diagnostics.extend(desired.diagnostics.iter().cloned());
    spec::diag::sort(&mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Ok(Err(diagnostics));
    }
    Ok(Ok(Resolved {
        checked,
        desired,
        diagnostics,
    }))
}

/// Everything between the spec folder and the rendered objects.
pub struct Pipeline {
    pub outcome: RenderOutcome,
    pub revision: String,
    pub diagnostics: Vec<Diagnostic>,
    /// Credential name → the secrets that use it, to know when a replaced lease may go.
    pub users: std::collections::BTreeMap<String, Vec<(String, String)>>,
    pub context: SourceContext,
    /// The lease book as last loaded or written, so an unchanged book is not written again.
    pub persisted: std::sync::Mutex<credentials::vault::dynamic::LeaseBook>,
}

/// The Vault session the flags ask for, if any.
pub fn vault_session(args: &RenderArgs) -> anyhow::Result<Option<credentials::vault::VaultSession>> {
    match args.vault.settings().map_err(|e| anyhow::anyhow!(e))? {
        Some(settings) => Ok(Some(credentials::vault::VaultSession::new(settings)?)),
        None => Ok(None),
    }
}

/// What the pipeline knows of a cluster, when there is one.
#[derive(Default)]
pub struct ClusterView {
    pub kube: Option<crate::k8s::Kube>,
    pub own_namespace: Option<String>,
    pub namespaces: Namespaces,
    /// Leases of dynamic credentials from the last run.
    pub leases: credentials::vault::dynamic::LeaseBook,
    /// Issue nothing at a source (for `plan`).
    pub read_only: bool,
    /// A long-running process keeps its Vault session (token) and credential cache.
    pub vault: Option<credentials::vault::VaultSession>,
    pub cache: Option<std::sync::Arc<tokio::sync::Mutex<credentials::cache::CredentialCache>>>,
    /// The install's key for digests in metadata.
    pub digest_key: Option<render::digest::DigestKey>,
    /// Credential files of pullsync beyond the render flags' (kubeconfig, git token, webhook).
    pub own_files: Vec<std::path::PathBuf>,
}

pub async fn pipeline(
    dir: &Path,
    args: &RenderArgs,
    cluster: &ClusterView,
) -> anyhow::Result<Result<Pipeline, Vec<Diagnostic>>> {
    let Resolved {
        mut checked,
        desired,
        diagnostics,
    } = match check_and_resolve(dir, &cluster.namespaces)? {
        Ok(ok) => ok,
        Err(diagnostics) => return Ok(Err(diagnostics)),
    };
    // Rotation layered from Defaults reaches the credentials the secrets use.
    spec::rotation::apply(&mut checked.catalog, &desired);
    let catalog = &checked.catalog;
    let identities = match &args.age_identity {
        Some(path) => Some(age_file::Identities::load(path)?),
        None => None,
    };
    let context = SourceContext {
        age_identities: identities,
        kube: cluster.kube.clone(),
        own_namespace: cluster.own_namespace.clone(),
        vault: match &cluster.vault {
            Some(session) => Some(session.clone()),
            None => vault_session(args)?,
        },
        leases: std::sync::Arc::new(tokio::sync::Mutex::new(cluster.leases.clone())),
        read_only: cluster.read_only,
        cache: cluster.cache.clone(),
        files: args.file_policy(cluster.kube.is_some(), cluster.own_files.iter().cloned()),
    };
    let needed: BTreeSet<&str> = desired.secrets.values().flat_map(|s| s.credentials()).collect();
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
    let values = credentials::fetch_all(catalog, &needed, &context).await;
    let revision = args
        .revision
        .clone()
        .unwrap_or_else(|| format!("local-{}", &catalog.fingerprint[..12]));
    let render_context = RenderContext {
        revision: revision.clone(),
        instance: args.instance.clone(),
        // Without a kept key (`render`, a first `plan`), digests are for this run only.
        key: cluster
            .digest_key
            .clone()
            .unwrap_or_else(render::digest::DigestKey::generate),
    };
    let outcome = render::render(&desired, catalog, &values, &render_context);
    for failure in &outcome.failed {
        tracing::error!(namespace = %failure.namespace, secret = %failure.name, spec = %failure.spec_ref, reason = %failure.reason, "secret not rendered");
    }
    Ok(Ok(Pipeline {
        outcome,
        revision,
        diagnostics,
        users,
        context,
        persisted: std::sync::Mutex::new(cluster.leases.clone()),
    }))
}
