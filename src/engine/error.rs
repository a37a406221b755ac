//! What a sync can end in: [`SyncOutcome`] (invalid specs, applied, or failed) and the
//! operations of the engine that can fail ([`EngineError`]), each with its cause as `source`.
//! Invalid specs are not an error of the engine: they are an answer (the revision is refused,
//! nothing changes), and the daemon, `sync --once` and `plan` each say so in their own way.

use crate::credentials::age_file::LoadIdentityError;
use crate::credentials::vault::VaultCallError;
use crate::credentials::vault::lease_state::LoadLeaseBookError;
use crate::k8s::client::{CallError, ConnectKubeError};
use crate::sink::kube::SyncReport;
use crate::spec::Diagnostic;
use crate::spec::load::LoadSpecsError;
use crate::spec::tenancy::LoadTenantsError;

/// One sync's end.
#[derive(Debug)]
pub enum SyncOutcome {
    /// The specs (or the tenants folder, or a strict tenancy verdict) refused the revision;
    /// nothing was changed. Sorted diagnostics, errors among them.
    Invalid(Vec<Diagnostic>),
    /// The revision ran: what each object became (failures of single objects included).
    Applied(Applied),
    /// The sync could not tell: the API server, the lease book, Vault set-up.
    Failed(EngineError),
}

/// A revision that ran.
#[derive(Debug)]
pub struct Applied {
    pub revision: String,
    pub report: SyncReport,
    /// The pull secrets this revision keeps in each namespace (keys, no values), for the
    /// admission webhook.
    pub pulls: std::sync::Arc<crate::admission::index::PullIndex>,
    /// What the image credential provider may answer (values, in memory only).
    pub provided: std::sync::Arc<crate::provider::index::ProviderIndex>,
    /// Warnings of the revision and tenancy's rejections (they did not stop it).
    pub diagnostics: Vec<Diagnostic>,
}

/// Why the engine stopped before the end of a sync: the revision is refused, or an operation
/// failed. Internal plumbing of `?`; callers see a [`SyncOutcome`].
#[derive(Debug)]
pub enum Stop {
    Invalid(Vec<Diagnostic>),
    Failed(EngineError),
}

impl<E: Into<EngineError>> From<E> for Stop {
    fn from(error: E) -> Self {
        Stop::Failed(error.into())
    }
}

impl From<Result<Applied, Stop>> for SyncOutcome {
    fn from(result: Result<Applied, Stop>) -> Self {
        match result {
            Ok(applied) => SyncOutcome::Applied(applied),
            Err(Stop::Invalid(diagnostics)) => SyncOutcome::Invalid(diagnostics),
            Err(Stop::Failed(error)) => SyncOutcome::Failed(error),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("this needs a Kubernetes cluster (--kubeconfig)")]
    NoCluster,
    #[error(transparent)]
    Connect(#[from] ConnectKubeError),
    #[error("cannot list the namespaces and managed Secrets: {0}")]
    ObserveCluster(#[source] CallError),
    #[error("cannot check the Secrets written before this replica was watching: {0}")]
    CheckEdited(#[source] CallError),
    #[error(transparent)]
    LoadLeaseBook(#[from] LoadLeaseBookError),
    #[error("cannot save the Vault lease book: {0}")]
    SaveLeaseBook(#[source] CallError),
    #[error("cannot read the digest key Secret: {0}")]
    LoadDigestKey(#[source] CallError),
    #[error(transparent)]
    LoadSpecs(#[from] LoadSpecsError),
    #[error(transparent)]
    LoadTenants(LoadTenantsError),
    /// The Vault flags are incomplete (said when something needs Vault).
    #[error("{0}")]
    VaultFlags(String),
    #[error(transparent)]
    OpenVault(#[from] VaultCallError),
    #[error(transparent)]
    LoadAgeIdentities(#[from] LoadIdentityError),
    /// A blocking step (spec loading, age identities) panicked on its thread.
    #[error("a blocking step of the sync stopped: {0}")]
    Blocking(#[source] tokio::task::JoinError),
}

impl EngineError {
    /// A short label for metrics and `/status` (no value, no path).
    pub fn label(&self) -> &'static str {
        match self {
            EngineError::NoCluster | EngineError::Connect(_) => "connect",
            EngineError::ObserveCluster(_) | EngineError::CheckEdited(_) => "observe",
            EngineError::LoadLeaseBook(_) | EngineError::SaveLeaseBook(_) => "lease-book",
            EngineError::LoadDigestKey(_) => "digest-key",
            EngineError::LoadSpecs(_) | EngineError::LoadTenants(_) | EngineError::Blocking(_) => "specs",
            EngineError::VaultFlags(_) | EngineError::OpenVault(_) => "vault",
            EngineError::LoadAgeIdentities(_) => "age-identities",
        }
    }
}
