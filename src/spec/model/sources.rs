//! Where a Credential's material comes from: files, age files, Vault, cloud token exchanges, service-account tokens, Kubernetes Secrets (the spec types only).

use super::*;

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgeFileSource {
    /// Path relative to the spec file that names it; must stay inside the spec root.
    pub path: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    /// Absolute path outside the spec repository. A directory gives one field per file
    /// (dot-files such as a Secret volume's `..data` are skipped); a file is a YAML/JSON map.
    pub path: String,
    /// Read the whole file as the single field `key` instead of as a map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A token minted for a ServiceAccount; gives fields `token` and `password` (the same value).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceAccountTokenSource {
    pub namespace: String,
    pub service_account: String,
    /// Audiences of the token; default: the API server's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// Requested lifetime (the API server may shorten it; at least 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_seconds: Option<i64>,
}

/// Exactly one of `kv` or `dynamic`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VaultSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv: Option<VaultKv>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic: Option<VaultDynamic>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VaultKv {
    /// The KV mount, e.g. `secret`.
    pub mount: String,
    /// The secret's path under the mount, e.g. `registries/ngc`.
    pub path: String,
    /// `v2` (default) or `v1`.
    #[serde(default)]
    pub engine: KvEngine,
    /// Pin a KV v2 version; default: the latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KvEngine {
    #[default]
    V2,
    V1,
}

/// Any Vault path that answers with a lease (a secrets engine role issuing credentials).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VaultDynamic {
    /// e.g. `database/creds/registry-reader`.
    pub path: String,
    /// `read` (GET, default) or `write` (POST with `params`).
    #[serde(default)]
    pub method: DynamicMethod,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// Revoke the previous lease once every secret that used it has been replaced.
    #[serde(default)]
    pub revoke_old: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DynamicMethod {
    #[default]
    Read,
    Write,
}

/// A Secret in pullsync's own namespace, read key by key.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EcrSource {
    /// AWS region of the registry, e.g. `us-east-1` (ECR Public: always `us-east-1`).
    pub region: String,
    /// ECR Public (`public.ecr.aws`) instead of a private registry.
    #[serde(default)]
    pub public: bool,
    /// The registry's account id (12 digits); its host is `<id>.dkr.ecr.<region>.amazonaws.com`.
    /// Default: the account of the identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Who asks for the token.
    pub identity: AwsIdentity,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GcpAccessToken {
    /// The Credential holding the JSON key.
    pub service_account_key: String,
    /// Its field with the JSON key; default `key.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AcrToken {
    /// The registry, e.g. `myregistry.azurecr.io`.
    pub registry: String,
    /// The Credential with `client_id`, `client_secret` and `tenant_id` of a service principal
    /// allowed to pull (AcrPull).
    pub service_principal: String,
}

/// Exactly one of `credential` or `webIdentity`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AwsIdentity {
    /// Another Credential with fields `access_key_id`, `secret_access_key` and, for temporary
    /// (STS) credentials, `session_token` (map other names with that Credential's `fields`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// `AssumeRoleWithWebIdentity` with the pod's projected service-account token (IRSA, EKS
    /// Pod Identity's web-identity mode); the token file is the daemon's
    /// `--aws-web-identity-token-file`, never a spec's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_identity: Option<WebIdentity>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebIdentity {
    /// e.g. `arn:aws:iam::123456789012:role/pullsync-ecr`.
    pub role_arn: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSecretSource {
    pub name: String,
}
