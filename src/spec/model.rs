//! The spec kinds of `pullsync.dev/v1alpha1`, as serde types (pure).
//!
//! These are what users write in Git. They hold no secret values: a `Credential` says where
//! secret material comes from, `PullSecret` and `Secret` say what to build from it and where.
//! Unknown fields are rejected everywhere so a typo never silently does nothing.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::value::credential::{CredentialValue, MissingField, field_of};
use crate::value::secret::SecretValue;

mod sources;
pub use sources::{
    AcrToken, AgeFileSource, AwsIdentity, DynamicMethod, EcrSource, FileSource, GcpAccessToken,
    KubernetesSecretSource, KvEngine, ServiceAccountTokenSource, VaultDynamic, VaultKv, VaultSource,
    WebIdentity,
};

pub const API_VERSION: &str = "pullsync.dev/v1alpha1";

/// The kinds a spec file may contain, in the order `schema` prints them.
pub const KINDS: [&str; 5] = ["Credential", "PullSecret", "Secret", "Defaults", "Tenant"];

/// Every document starts with this; the `spec` is read once the kind is known.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Header {
    pub api_version: String,
    pub kind: String,
    pub metadata: serde::de::IgnoredAny,
    pub spec: serde::de::IgnoredAny,
}

/// A whole document of one kind.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Document<S> {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: S,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// DNS-1123 subdomain. For `PullSecret` and `Secret`, the name of the generated Secret.
    pub name: String,
    /// Only for `Defaults`: the namespace these defaults apply to. Absent means cluster-wide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Where secret material comes from. Fetched once, however many secrets use it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialSpec {
    /// An age-encrypted YAML/JSON map in this repository (exactly one source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_file: Option<AgeFileSource>,
    /// A file or directory outside the repository, e.g. a mounted Secret volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileSource>,
    /// A service-account token from the TokenRequest API (e.g. for the OpenShift registry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_token: Option<ServiceAccountTokenSource>,
    /// Vault / OpenBao: a KV v1/v2 secret or a dynamic secret with a lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<VaultSource>,
    /// Keys of an existing Secret in pullsync's own namespace (bootstrap credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_secret: Option<KubernetesSecretSource>,
    /// AWS ECR (private or public): a 12-hour registry token exchanged for an AWS identity.
    /// Gives `username` (`AWS`), `password` (the token) and `registry` (the account's host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecr: Option<EcrSource>,
    /// GCP Artifact Registry / GCR: an OAuth access token (1 hour) from a service-account
    /// JSON key held by another Credential. Gives `username` (`oauth2accesstoken`) and
    /// `password`. (For the static `_json_key` login, use the key's Credential directly with
    /// `username: _json_key`.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp_access_token: Option<GcpAccessToken>,
    /// Azure Container Registry: a refresh token exchanged (`/oauth2/exchange`) for an Entra ID
    /// token of a service principal held by another Credential. Gives `username`
    /// (`00000000-0000-0000-0000-000000000000`) and `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr_token: Option<AcrToken>,
    /// A literal, non-secret registry username (e.g. `AWS`). Conflicts with `usernamePreset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// A well-known registry username convention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_preset: Option<UsernamePreset>,
    /// Logical field → key in the source, e.g. `{password: api_key}`. Unmapped fields are read
    /// under their own name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
}

impl CredentialSpec {
    /// The kind of its source, as the spec spells the field (`ageFile`, `vault`, `ecr`, …): a
    /// metric label and a `/status` column.
    pub fn source_kind(&self) -> &'static str {
        match self {
            CredentialSpec {
                age_file: Some(_), ..
            } => "ageFile",
            CredentialSpec { file: Some(_), .. } => "file",
            CredentialSpec {
                service_account_token: Some(_),
                ..
            } => "serviceAccountToken",
            CredentialSpec { vault: Some(_), .. } => "vault",
            CredentialSpec {
                kubernetes_secret: Some(_),
                ..
            } => "kubernetesSecret",
            CredentialSpec { ecr: Some(_), .. } => "ecr",
            CredentialSpec {
                gcp_access_token: Some(_),
                ..
            } => "gcpAccessToken",
            CredentialSpec {
                acr_token: Some(_), ..
            } => "acrToken",
            _ => "none",
        }
    }

    /// The credential this one is exchanged from (an ECR identity's keys, a GCP service-account
    /// key, an Entra ID service principal).
    pub fn exchanged_from(&self) -> Option<&str> {
        self.ecr
            .as_ref()
            .and_then(|e| e.identity.credential.as_deref())
            .or(self
                .gcp_access_token
                .as_ref()
                .map(|g| g.service_account_key.as_str()))
            .or(self.acr_token.as_ref().map(|a| a.service_principal.as_str()))
    }

    /// The value of a logical field (`username`, `password`, `token`…) after this spec's
    /// literal username, preset and `fields` mapping.
    pub fn field(&self, value: &CredentialValue, logical: &str) -> Result<SecretValue, MissingField> {
        if logical == "username" {
            if let Some(username) = &self.username {
                return Ok(SecretValue::new(username.clone()));
            }
            if let Some(preset) = self.username_preset {
                return Ok(SecretValue::new(preset.username()));
            }
        }
        let key = self.fields.get(logical).map(String::as_str).unwrap_or(logical);
        field_of(value, logical, key)
    }

    /// Whether each fetch mints a new value that carries its own expiry (a token exchange or a
    /// TokenRequest): such a value is renewed by that expiry, not every `refreshInterval`, since
    /// every fetch returns a new token and so rewrites every Secret that carries it.
    pub fn is_minted(&self) -> bool {
        self.ecr.is_some()
            || self.gcp_access_token.is_some()
            || self.acr_token.is_some()
            || self.service_account_token.is_some()
    }
}

/// Registry username conventions, so nobody has to type `$oauthtoken` through a shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum UsernamePreset {
    /// NVIDIA NGC (nvcr.io): `$oauthtoken` with the API key as password.
    Ngc,
    /// Amazon ECR: `AWS` with the GetAuthorizationToken password.
    Ecr,
    /// Google Artifact/Container Registry with a service-account JSON key: `_json_key`.
    GcpJsonKey,
    /// Google registries with an OAuth access token: `oauth2accesstoken`.
    GcpAccessToken,
    /// Azure ACR with an AAD refresh token: the all-zero GUID.
    AcrToken,
    /// OpenShift internal registry with a bearer token: `<token>`.
    OpenshiftToken,
    /// OpenShift internal registry with a service-account token: `serviceaccount`.
    OpenshiftServiceAccount,
}

impl UsernamePreset {
    pub fn username(self) -> &'static str {
        match self {
            UsernamePreset::Ngc => "$oauthtoken",
            UsernamePreset::Ecr => "AWS",
            UsernamePreset::GcpJsonKey => "_json_key",
            UsernamePreset::GcpAccessToken => "oauth2accesstoken",
            UsernamePreset::AcrToken => "00000000-0000-0000-0000-000000000000",
            UsernamePreset::OpenshiftToken => "<token>",
            UsernamePreset::OpenshiftServiceAccount => "serviceaccount",
        }
    }
}

/// When a credential is refreshed. Durations are Go-style: `90s`, `20m`, `1h30m`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Rotation {
    /// Refresh this long before the credential expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_before: Option<String>,
    /// Refresh at least this often.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<String>,
    /// Refresh on a cron schedule (5 fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

/// Which namespaces a secret goes to: a list, a label selector, or both (union).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<SelectorRequirement>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectorRequirement {
    pub key: String,
    pub operator: SelectorOperator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// A `kubernetes.io/dockerconfigjson` Secret.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PullSecretSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// One `auths` entry per registry, in this order.
    pub registries: Vec<RegistryEntry>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// ServiceAccounts whose `imagePullSecrets` get this secret (merged, never replaced).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_accounts: Vec<String>,
    /// Take over an existing Secret of the same name that pullsync did not create.
    #[serde(default)]
    pub adopt: bool,
    /// Before writing changed data, prove each registry accepts the credential (`GET /v2/`,
    /// basic or token auth); a credential that fails keeps the old Secret and is reported.
    #[serde(default)]
    pub verify: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
    /// Add `argocd.argoproj.io/compare-options: IgnoreExtraneous` (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argocd_ignore_extraneous: Option<bool>,
    /// Fleets: the clusters this applies to (by `--cluster-name`, or `--cluster-label`s);
    /// absent: every cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<Clusters>,
    /// How the kubelet gets the credential: a Secret in each namespace (`secret`, the
    /// default), only the image credential provider (`provider`: no Secret is written), or
    /// both.
    #[serde(default, skip_serializing_if = "Delivery::is_default")]
    pub delivery: Delivery,
}

/// Where a pull credential is delivered (`PullSecret.spec.delivery`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// A `kubernetes.io/dockerconfigjson` Secret in each target namespace.
    #[default]
    Secret,
    /// Served to the kubelet by `pullsync credential-provider`, per pod service-account
    /// token; never written as a Secret.
    Provider,
    /// Both: a Secret, and the provider.
    Both,
}

impl Delivery {
    fn is_default(&self) -> bool {
        *self == Delivery::Secret
    }

    /// Whether a Secret is written.
    pub fn writes_secret(self) -> bool {
        matches!(self, Delivery::Secret | Delivery::Both)
    }

    /// Whether the credential provider serves it.
    pub fn provided(self) -> bool {
        matches!(self, Delivery::Provider | Delivery::Both)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryEntry {
    /// The `auths` key: `host[:port]`, or `https://index.docker.io/v1/` for Docker Hub.
    pub server: String,
    /// Name of a `Credential` giving `username` and `password`.
    pub credential: String,
    /// Optional e-mail, written as `kubectl create secret docker-registry --docker-email` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// An Opaque Secret, e.g. a HuggingFace token or S3 keys.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Secret key → where its value comes from.
    pub data: crate::value::vec_map::VecMap<String, DataSource>,
    /// Workloads (in each target namespace) to restart when this Secret's data changes —
    /// what consumes it as environment variables reads it only at pod start. The same
    /// template annotation `kubectl rollout restart` sets; never on a sync that changed nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollout_restart: Vec<RolloutTarget>,
    /// Secret type; default `Opaque`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub adopt: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argocd_ignore_extraneous: Option<bool>,
    /// Fleets: the clusters this applies to (by `--cluster-name`, or `--cluster-label`s);
    /// absent: every cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<Clusters>,
}

/// Which clusters of a fleet an object applies to: one of the names, or labels matching.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Clusters {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// A workload to restart.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutTarget {
    pub kind: WorkloadKind,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

impl WorkloadKind {
    /// The apps/v1 resource.
    pub fn resource(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployments",
            WorkloadKind::StatefulSet => "statefulsets",
            WorkloadKind::DaemonSet => "daemonsets",
        }
    }
}

/// Either a credential field, or a literal non-secret value (e.g. an S3 endpoint).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Labels, annotations and rotation shared by every secret in a scope.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DefaultsSpec {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argocd_ignore_extraneous: Option<bool>,
    /// Fleets: the clusters this applies to (by `--cluster-name`, or `--cluster-label`s);
    /// absent: every cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<Clusters>,
}

/// What a tenant may do. Read only from the platform's tenants folder (`--tenants`), never
/// from the spec repository it constrains.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TenantSpec {
    /// Spec paths this tenant owns: globs relative to the spec root (`teams/ml/**`), or a
    /// folder (`teams/ml`, everything under it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Namespaces its objects may target, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// More namespaces it may target: those whose *live* labels match (evaluated on the
    /// cluster's Namespace objects, never on anything a spec says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Platform credentials (defined outside every tenant's paths) granted to this tenant by
    /// name. Credentials under its own paths need no grant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<String>,
    /// ServiceAccounts (names or globs) its PullSecrets may add themselves to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_accounts: Vec<String>,
    /// Vault: the role its credentials log in with and the paths they may read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<TenantVault>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TenantVault {
    /// Role for `--vault-auth kubernetes|jwt` logins of this tenant's credentials (its own
    /// Vault session, so Vault's policy for the role enforces the same boundary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// `mount/path` prefixes its Vault credentials may read, e.g. `secret/teams/ml/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path_prefixes: Vec<String>,
}
