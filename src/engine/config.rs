//! What the engine and the daemon are told, built once from the command line: every flag is
//! parsed and checked at start (a bad `--cluster-label` or Vault flag fails before anything
//! connects, not at each sync), and neither the engine nor the daemon depends on `cli`.

use std::path::PathBuf;

use crate::credentials::aws::AwsSettings;
use crate::credentials::file_policy::FilePolicy;
use crate::credentials::vault::VaultSettings;
use crate::spec::fleet::ClusterIdentity;
use crate::spec::tenancy::TenancySettings;

/// How specs become Secrets: sources, identity, tenancy, fleet.
#[derive(Debug, Clone)]
pub struct RenderConfig {
    pub age_identity: Option<PathBuf>,
    /// Stamped on changed Secrets; default: a digest of the spec folder.
    pub revision: Option<String>,
    pub instance: String,
    /// `Err`: the Vault flags are incomplete — an error only for what needs Vault (`validate`
    /// of specs without Vault sources must not fail on it).
    pub vault: Result<Option<VaultSettings>, String>,
    pub tenancy: TenancySettings,
    pub cluster: ClusterIdentity,
    pub aws: AwsSettings,
    pub azure_authority: String,
    /// How long one credential's fetch may take before it fails.
    pub source_timeout: std::time::Duration,
    pub file_source_roots: Vec<PathBuf>,
    /// pullsync's own credential files: never a `file` source.
    pub own_files: Vec<PathBuf>,
}

impl RenderConfig {
    /// Where `file` sources may read; `cluster`: roots are required.
    pub fn file_policy(&self, cluster: bool, more: impl IntoIterator<Item = PathBuf>) -> FilePolicy {
        let own = self.own_files.iter().cloned().chain(more);
        FilePolicy::new(&self.file_source_roots, cluster, own)
    }
}

/// How to reach and treat a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub kubeconfig: Option<PathBuf>,
    pub own_namespace: Option<String>,
    pub registry_plain_http: Vec<String>,
    pub namespaces: Vec<String>,
    pub max_prune_ratio: f64,
    pub allow_mass_prune: bool,
    pub qps: f64,
    pub burst: u32,
    pub concurrency: usize,
    pub max_attempts: u32,
    /// Between two progress lines of long work.
    pub progress_interval: std::time::Duration,
}
