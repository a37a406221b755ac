//! Vault flags: address, namespace, auth method and their checks.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VaultAuthMethod {
    Token,
    Approle,
    Kubernetes,
    Jwt,
}

/// How to reach Vault / OpenBao and log in.
#[derive(Debug, Clone, clap::Args)]
pub struct VaultArgs {
    /// Vault or OpenBao address, e.g. https://vault.example.com:8200.
    #[arg(long, env = "PULLSYNC_VAULT_ADDR")]
    pub vault_addr: Option<String>,
    /// Vault Enterprise / OpenBao namespace (X-Vault-Namespace).
    #[arg(long, env = "PULLSYNC_VAULT_NAMESPACE")]
    pub vault_namespace: Option<String>,
    /// CA bundle (PEM) for Vault's TLS certificate.
    #[arg(long, env = "PULLSYNC_VAULT_CA_CERT")]
    pub vault_ca_cert: Option<PathBuf>,
    /// Skip TLS verification. Development only.
    #[arg(long, env = "PULLSYNC_VAULT_INSECURE")]
    pub vault_insecure: bool,
    /// Auth method.
    #[arg(long, env = "PULLSYNC_VAULT_AUTH", value_enum, default_value = "kubernetes")]
    pub vault_auth: VaultAuthMethod,
    /// Mount of the auth method; default: the method's name.
    #[arg(long, env = "PULLSYNC_VAULT_AUTH_MOUNT")]
    pub vault_auth_mount: Option<String>,
    /// Role for kubernetes / jwt auth.
    #[arg(long, env = "PULLSYNC_VAULT_ROLE", default_value = "pullsync")]
    pub vault_role: String,
    /// File holding a Vault token (token auth).
    #[arg(long, env = "PULLSYNC_VAULT_TOKEN_FILE")]
    pub vault_token_file: Option<PathBuf>,
    /// File holding the AppRole role id.
    #[arg(long, env = "PULLSYNC_VAULT_ROLE_ID_FILE")]
    pub vault_role_id_file: Option<PathBuf>,
    /// File holding the AppRole secret id.
    #[arg(long, env = "PULLSYNC_VAULT_SECRET_ID_FILE")]
    pub vault_secret_id_file: Option<PathBuf>,
    /// Service-account token for kubernetes / jwt auth; re-read at every login.
    #[arg(
        long,
        env = "PULLSYNC_VAULT_JWT_FILE",
        default_value = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    )]
    pub vault_jwt_file: PathBuf,
}

impl VaultArgs {
    /// The settings, or `None` when no Vault address is given.
    pub fn settings(&self) -> Result<Option<crate::credentials::vault::VaultSettings>, String> {
        use crate::credentials::vault::{VaultAuth, VaultSettings};
        let Some(address) = &self.vault_addr else {
            return Ok(None);
        };
        let mount = |default: &str| {
            self.vault_auth_mount
                .clone()
                .unwrap_or_else(|| default.to_string())
        };
        let auth = match self.vault_auth {
            VaultAuthMethod::Token => VaultAuth::Token {
                file: self
                    .vault_token_file
                    .clone()
                    .ok_or("--vault-auth token needs --vault-token-file")?,
            },
            VaultAuthMethod::Approle => VaultAuth::AppRole {
                mount: mount("approle"),
                role_id_file: self
                    .vault_role_id_file
                    .clone()
                    .ok_or("--vault-auth approle needs --vault-role-id-file")?,
                secret_id_file: self
                    .vault_secret_id_file
                    .clone()
                    .ok_or("--vault-auth approle needs --vault-secret-id-file")?,
            },
            VaultAuthMethod::Kubernetes => VaultAuth::Kubernetes {
                mount: mount("kubernetes"),
                role: self.vault_role.clone(),
                jwt_file: self.vault_jwt_file.clone(),
            },
            VaultAuthMethod::Jwt => VaultAuth::Jwt {
                mount: mount("jwt"),
                role: self.vault_role.clone(),
                jwt_file: self.vault_jwt_file.clone(),
            },
        };
        Ok(Some(VaultSettings {
            address: address.clone(),
            namespace: self.vault_namespace.clone(),
            ca_cert: self.vault_ca_cert.clone(),
            insecure: self.vault_insecure,
            auth,
        }))
    }
}
