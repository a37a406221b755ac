//! The one context a sync runs with, for every command (`render`, `sync --once`, `plan`,
//! `run`, `validate --check-sources`, `explain`): whom to talk to (the cluster, Vault, cloud
//! token endpoints), what a long-running process keeps between syncs (sessions, caches, the
//! watch-fed cluster copy, the versions it wrote, its leadership), and what the sync in
//! progress has settled (the namespaces it resolved against, the lease book, which tenant's
//! Vault session reads which credential). A one-shot command fills in what it needs; the
//! daemon keeps one and each sync works on a clone (every shared part is behind an `Arc`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::credentials::age_file::Identities;
use crate::credentials::aws::AwsSettings;
use crate::credentials::file_policy::FilePolicy;
use crate::credentials::vault::VaultSession;
use crate::credentials::vault::dynamic::LeaseBook;
use crate::k8s::Kube;
use crate::schedule::cache::CredentialCache;
use crate::spec::resolve::Namespaces;

/// (namespace, name) → the resourceVersion pullsync's own last write of a Secret produced.
pub type Written = Arc<tokio::sync::Mutex<BTreeMap<(String, String), String>>>;

#[derive(Clone, Default)]
pub struct Context {
    // Whom to talk to.
    pub kube: Option<Kube>,
    /// pullsync's own namespace (lease book, digest key, `kubernetesSecret` sources).
    pub own_namespace: Option<String>,
    pub vault: Option<VaultSession>,
    /// Tenant role → its Vault session (its own token), kept between syncs.
    pub tenant_sessions: Arc<std::sync::Mutex<BTreeMap<String, VaultSession>>>,
    /// AWS endpoint and web-identity token (operator settings).
    pub aws: AwsSettings,
    /// Entra ID's authority host (`AZURE_AUTHORITY_HOST`; default the public cloud's).
    pub azure_authority: String,
    /// Registry hosts reached over plain HTTP (`--registry-plain-http`; tests).
    pub plain_http: Vec<String>,
    /// Where `file` sources may read.
    pub files: FilePolicy,
    pub age_identities: Option<Arc<Identities>>,
    /// Issue nothing at a source and write nothing (`plan`).
    pub read_only: bool,
    /// How long one credential's fetch may take (`--source-timeout`).
    pub source_timeout: crate::credentials::SourceTimeout,

    // What a long-running process keeps; `None` in a one-shot command.
    /// Credential values and failures between syncs.
    pub cache: Option<Arc<tokio::sync::Mutex<CredentialCache>>>,
    /// Each spec file's parse between syncs: a one-file commit re-parses one file.
    pub load_cache: Option<Arc<std::sync::Mutex<crate::spec::load::LoadCache>>>,
    /// The resourceVersion of each managed Secret as pullsync last left it, to notice edits.
    pub written: Option<Written>,
    /// The install's key for digests in metadata.
    pub digest_key: Option<crate::value::digest::DigestKey>,
    /// pullsync's own credential files (kubeconfig, Git token, webhook secret): never sources.
    pub own_files: Vec<PathBuf>,
    /// With leader election: asked before every write.
    pub leader: Option<crate::k8s::leader::LeaderGuard>,
    /// The watch-fed copy of the cluster a sync reads instead of listing.
    pub informer: Option<crate::k8s::informer::Informer>,
    /// Durations and request counts for `/metrics` (the Kubernetes client's own handle).
    pub metrics: crate::metrics::Metrics,
    /// How far the writes (or a plan's reads) of the sync in progress are.
    pub progress: crate::progress::Progress,

    // What the sync in progress has settled.
    /// The namespaces (with labels) specs resolve against; unknown without a cluster.
    pub namespaces: Namespaces,
    /// Leases of dynamic Vault credentials, carried between runs.
    pub leases: Arc<tokio::sync::Mutex<LeaseBook>>,
    /// Credential → the Vault session of the tenant that owns it.
    pub tenant_vault: BTreeMap<String, VaultSession>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("cluster", &self.kube.is_some())
            .field("own_namespace", &self.own_namespace)
            .field("vault", &self.vault.is_some())
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// pullsync's own namespace, resolved once when the context connected (`--own-namespace`,
    /// else the kubeconfig context's, in a pod its own).
    pub fn pullsync_namespace(&self) -> &str {
        self.own_namespace.as_deref().unwrap_or("default")
    }

    /// What the credential sources may reach, borrowed from this context.
    pub fn sources(&self) -> crate::credentials::Sources<'_> {
        crate::credentials::Sources {
            kube: self.kube.as_ref(),
            own_namespace: self.own_namespace.as_deref(),
            vault: self.vault.as_ref(),
            tenant_vault: &self.tenant_vault,
            aws: &self.aws,
            azure_authority: &self.azure_authority,
            plain_http: &self.plain_http,
            files: &self.files,
            age_identities: self.age_identities.as_deref(),
            read_only: self.read_only,
            leases: &self.leases,
            cache: self.cache.as_deref(),
            timeout: self.source_timeout,
            metrics: &self.metrics,
        }
    }

    /// The cluster client; an error for a command that has none.
    pub fn cluster(&self) -> Result<&Kube, crate::engine::EngineError> {
        self.kube.as_ref().ok_or(crate::engine::EngineError::NoCluster)
    }
}
