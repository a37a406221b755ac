//! The command line (pure): clap definitions, every flag also readable from a `PULLSYNC_*`
//! environment variable.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::telemetry::LogFormat;

mod vault;
pub use vault::{VaultArgs, VaultAuthMethod};

#[derive(Debug, Parser)]
#[command(
    name = "pullsync",
    version,
    about = "Materialise image pull secrets and credential secrets from declarative specs",
    // A flag given twice takes its last value, as in most CLIs (a default in a manifest, an
    // override appended by an overlay).
    args_override_self = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        env = "PULLSYNC_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// Log level or filter directives (e.g. `debug`, `pullsync=trace`).
    #[arg(long, global = true, env = "PULLSYNC_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

impl Cli {
    /// `run --git-timeout`: libgit2 keeps it process-wide, so `main` sets it before any thread.
    pub fn git_timeout(&self) -> Option<Duration> {
        match &self.command {
            Command::Run {
                git_url: Some(_),
                git_timeout,
                ..
            } => Some(*git_timeout),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderOutput {
    Yaml,
    Json,
}

/// Settings shared by commands that render secrets.
#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    /// age identity file used to decrypt `ageFile` credentials (never kept in the spec repo).
    #[arg(long, env = "PULLSYNC_AGE_IDENTITY")]
    pub age_identity: Option<PathBuf>,
    /// Revision stamped on every secret; default: a digest of the spec folder (`local-…`).
    #[arg(long, env = "PULLSYNC_REVISION")]
    pub revision: Option<String>,
    /// Instance id in the ownership label; two installs with different ids never touch each
    /// other's secrets.
    #[arg(long, env = "PULLSYNC_INSTANCE", default_value = "default")]
    pub instance: String,
    /// Folder `file` credential sources may read from (repeatable; env: comma-separated).
    /// Against a cluster there is none by default: file sources are refused until one is named.
    #[arg(
        long = "file-source-root",
        env = "PULLSYNC_FILE_SOURCE_ROOT",
        value_delimiter = ','
    )]
    pub file_source_roots: Vec<PathBuf>,
    #[command(flatten)]
    pub vault: VaultArgs,
    #[command(flatten)]
    pub tenancy: TenancyArgs,
    /// This cluster's name in a fleet: specs with `clusters: {names: [...]}` apply here when
    /// they list it.
    #[arg(long, env = "PULLSYNC_CLUSTER_NAME")]
    pub cluster_name: Option<String>,
    /// This cluster's labels (KEY=VALUE, repeatable; env: comma-separated), matched by
    /// `clusters: {selector: ...}`.
    #[arg(
        long = "cluster-label",
        env = "PULLSYNC_CLUSTER_LABELS",
        value_delimiter = ','
    )]
    pub cluster_labels: Vec<String>,
    /// One endpoint for every AWS service pullsync calls (ECR, STS): a VPC endpoint or a local
    /// emulator. Never taken from a spec.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
    /// Entra ID authority for `acrToken` (sovereign clouds, tests).
    #[arg(
        long,
        env = "AZURE_AUTHORITY_HOST",
        default_value = "https://login.microsoftonline.com"
    )]
    pub azure_authority_host: String,
    /// The projected service-account token for `ecr.identity.webIdentity` (IRSA's variable).
    #[arg(
        long,
        env = "AWS_WEB_IDENTITY_TOKEN_FILE",
        default_value = crate::credentials::aws::DEFAULT_WEB_IDENTITY_TOKEN_FILE
    )]
    pub aws_web_identity_token_file: PathBuf,
    /// How long one credential's fetch (a Vault read, a token exchange) may take before it
    /// counts as failed; the others are fetched meanwhile (Go duration).
    #[arg(long, env = "PULLSYNC_SOURCE_TIMEOUT", default_value = "25s", value_parser = duration)]
    pub source_timeout: Duration,
}

/// Tenant isolation: who may put what where.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TenancyArgs {
    /// The platform's Tenants: a folder outside the spec repository, or `repo:PATH` for a
    /// folder inside it that only the platform may change (branch protection, CODEOWNERS).
    /// Tenant objects anywhere else are rejected.
    #[arg(long, env = "PULLSYNC_TENANTS")]
    pub tenants: Option<String>,
    /// With --tenants: specs outside every tenant's paths are the platform's (unrestricted).
    #[arg(long, env = "PULLSYNC_ALLOW_PLATFORM_SPECS")]
    pub allow_platform_specs: bool,
    /// With --tenants: a path glob the platform owns (repeatable; env: comma-separated).
    #[arg(
        long = "platform-path",
        env = "PULLSYNC_PLATFORM_PATHS",
        value_delimiter = ','
    )]
    pub platform_paths: Vec<String>,
    /// With --tenants: one violation rejects the whole revision, not just the object.
    #[arg(long, env = "PULLSYNC_STRICT_TENANCY")]
    pub strict_tenancy: bool,
}

impl ClusterArgs {
    pub fn config(&self) -> crate::engine::config::ClusterConfig {
        crate::engine::config::ClusterConfig {
            kubeconfig: self.kubeconfig.clone(),
            own_namespace: self.own_namespace.clone(),
            registry_plain_http: self.registry_plain_http.clone(),
            namespaces: self.namespaces.clone(),
            max_prune_ratio: self.max_prune_ratio,
            allow_mass_prune: self.allow_mass_prune,
            qps: self.qps,
            burst: self.burst,
            concurrency: self.concurrency,
            max_attempts: self.max_attempts,
            progress_interval: self.progress_interval,
        }
    }
}

impl TenancyArgs {
    pub fn settings(&self) -> Result<crate::spec::tenancy::TenancySettings, String> {
        Ok(crate::spec::tenancy::TenancySettings {
            source: self
                .tenants
                .as_deref()
                .map(crate::spec::tenancy::TenantsSource::parse)
                .transpose()?,
            allow_platform_specs: self.allow_platform_specs,
            platform_paths: self.platform_paths.clone(),
            strict: self.strict_tenancy,
        })
    }
}

impl RenderArgs {
    /// The engine's view of these flags, checked once.
    pub fn config(&self) -> anyhow::Result<crate::engine::config::RenderConfig> {
        Ok(crate::engine::config::RenderConfig {
            age_identity: self.age_identity.clone(),
            revision: self.revision.clone(),
            instance: self.instance.clone(),
            vault: self.vault.settings(),
            tenancy: self.tenancy.settings().map_err(|e| anyhow::anyhow!(e))?,
            cluster: self.cluster_identity().map_err(|e| anyhow::anyhow!(e))?,
            aws: self.aws_settings(),
            azure_authority: self.azure_authority_host.clone(),
            source_timeout: self.source_timeout,
            file_source_roots: self.file_source_roots.clone(),
            own_files: self.own_credential_files(),
        })
    }

    pub fn cluster_identity(&self) -> Result<crate::spec::fleet::ClusterIdentity, String> {
        crate::spec::fleet::ClusterIdentity::parse(self.cluster_name.as_deref(), &self.cluster_labels)
    }

    pub fn aws_settings(&self) -> crate::credentials::aws::AwsSettings {
        crate::credentials::aws::AwsSettings {
            endpoint_url: self.aws_endpoint_url.clone(),
            web_identity_token_file: self.aws_web_identity_token_file.clone(),
        }
    }

    /// The files that hold pullsync's own credentials: never a `file` source.
    pub fn own_credential_files(&self) -> Vec<PathBuf> {
        let v = &self.vault;
        [
            self.age_identity.clone(),
            v.vault_token_file.clone(),
            v.vault_role_id_file.clone(),
            v.vault_secret_id_file.clone(),
            Some(v.vault_jwt_file.clone()),
            Some(self.aws_web_identity_token_file.clone()),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// How to reach and treat a cluster.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// Kubeconfig file; default: in-cluster config, then KUBECONFIG, then ~/.kube/config.
    #[arg(long, env = "PULLSYNC_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// pullsync's own namespace, where `kubernetesSecret` credentials live; default: the
    /// kubeconfig context's namespace, or the pod's namespace in a cluster.
    #[arg(long, env = "PULLSYNC_OWN_NAMESPACE")]
    pub own_namespace: Option<String>,
    /// Registry hosts `verify: true` reaches over plain HTTP (like containerd's insecure
    /// registries; repeatable). Everything else is HTTPS.
    #[arg(
        long = "registry-plain-http",
        env = "PULLSYNC_REGISTRY_PLAIN_HTTP",
        value_delimiter = ','
    )]
    pub registry_plain_http: Vec<String>,
    /// Work in these namespaces only (repeatable; env: comma-separated), with namespaced RBAC
    /// (deploy/overlays/namespaced/rbac.yaml): no cluster-wide list or watch, and no Namespace objects
    /// read, so namespaceSelectors match nothing. Default: the whole cluster.
    #[arg(long = "namespaces", env = "PULLSYNC_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Refuse a plan that prunes more than this share of managed secrets at once.
    #[arg(long, env = "PULLSYNC_MAX_PRUNE_RATIO", default_value_t = 0.5)]
    pub max_prune_ratio: f64,
    /// Prune even above --max-prune-ratio.
    #[arg(long, env = "PULLSYNC_ALLOW_MASS_PRUNE")]
    pub allow_mass_prune: bool,
    /// Client-side rate limit: requests per second.
    #[arg(long, env = "PULLSYNC_QPS", default_value_t = 20.0)]
    pub qps: f64,
    /// Client-side rate limit: burst above --qps.
    #[arg(long, env = "PULLSYNC_BURST", default_value_t = 40)]
    pub burst: u32,
    /// Requests in flight at once.
    #[arg(long, env = "PULLSYNC_CONCURRENCY", default_value_t = 8)]
    pub concurrency: usize,
    /// Attempts per API call on 409/429/5xx (the first included).
    #[arg(long, env = "PULLSYNC_MAX_ATTEMPTS", default_value_t = 5)]
    pub max_attempts: u32,
    /// How often long work (a first sync of thousands of namespaces, a `plan`) logs how far it
    /// is; `sync --once` and `plan` draw a progress bar instead on an interactive terminal.
    #[arg(long, env = "PULLSYNC_PROGRESS_INTERVAL", default_value = "5s", value_parser = duration)]
    pub progress_interval: Duration,
}

// Parsed once at start-up: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a spec folder: exit 0 when clean, 1 with diagnostics.
    Validate {
        /// Spec folder.
        #[arg(env = "PULLSYNC_REPO")]
        dir: PathBuf,
        #[arg(long, env = "PULLSYNC_OUTPUT", value_enum, default_value = "text")]
        output: Output,
        /// Also fetch every credential once (needs network) and report the unreadable ones;
        /// values are never printed.
        #[arg(long, env = "PULLSYNC_CHECK_SOURCES")]
        check_sources: bool,
        #[command(flatten)]
        render: RenderArgs,
    },
    /// Show the Secrets a sync would write (values redacted unless --show-secrets).
    Render {
        #[arg(env = "PULLSYNC_REPO")]
        dir: PathBuf,
        #[arg(long, env = "PULLSYNC_OUTPUT", value_enum, default_value = "yaml")]
        output: RenderOutput,
        /// Print secret values. Never use this where output is logged.
        #[arg(long, env = "PULLSYNC_SHOW_SECRETS")]
        show_secrets: bool,
        #[command(flatten)]
        render: RenderArgs,
    },
    /// Resolve every spec and write the Secrets.
    Sync {
        /// Run one sync and exit (the long-running daemon comes later).
        #[arg(long, env = "PULLSYNC_ONCE")]
        once: bool,
        /// Spec folder.
        #[arg(long, env = "PULLSYNC_REPO")]
        repo: PathBuf,
        /// Write `OUT/<namespace>/<name>.yaml` files instead of applying to a cluster.
        #[arg(long, env = "PULLSYNC_OUT")]
        out: Option<PathBuf>,
        /// Also write `OUT/<namespace>/auth.json` for podman, skopeo and docker.
        #[arg(long, env = "PULLSYNC_AUTH_JSON")]
        auth_json: bool,
        #[command(flatten)]
        render: RenderArgs,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// Report format (cluster sync).
        #[arg(long, env = "PULLSYNC_OUTPUT", value_enum, default_value = "text")]
        output: Output,
    },
    /// Show what a cluster sync would do (create / update / prune / patch-sa / conflict),
    /// values redacted. Exit 0: nothing to do; 2: changes; 1: errors.
    Plan {
        /// Spec folder.
        #[arg(long, env = "PULLSYNC_REPO")]
        repo: PathBuf,
        #[command(flatten)]
        render: RenderArgs,
        #[command(flatten)]
        cluster: ClusterArgs,
        #[arg(long, env = "PULLSYNC_OUTPUT", value_enum, default_value = "text")]
        output: Output,
    },
    /// Which credential the kubelet will use for IMAGE: from pull secret files (in the order a
    /// pod lists them), or from the pull secrets the specs put into a namespace.
    #[command(group(clap::ArgGroup::new("candidates").required(true).args(["dockerconfig", "repo"])))]
    Explain {
        /// Image reference, e.g. `nvcr.io/nvidia/tritonserver:24.05-py3`.
        image: String,
        /// A docker config (`{"auths": ...}`) or a dockerconfigjson Secret manifest; repeatable.
        #[arg(long, conflicts_with = "repo")]
        dockerconfig: Vec<PathBuf>,
        /// Spec folder; with --namespace.
        #[arg(long, requires = "namespace")]
        repo: Option<PathBuf>,
        /// Namespace whose pull secrets (from the specs) are the candidates.
        #[arg(long, env = "PULLSYNC_NAMESPACE")]
        namespace: Option<String>,
        /// With --repo: decrypt ageFile credentials to show their usernames.
        #[arg(long, env = "PULLSYNC_AGE_IDENTITY")]
        age_identity: Option<PathBuf>,
        #[arg(long, env = "PULLSYNC_OUTPUT", value_enum, default_value = "text")]
        output: Output,
    },
    /// Run as a daemon: keep the cluster in line with the specs, rotate credentials before
    /// they expire, correct drift, and serve /healthz /readyz /status /metrics.
    Run {
        /// Spec folder (a checkout kept current by git-sync, or any folder); or --git-url.
        #[arg(long, env = "PULLSYNC_REPO", required_unless_present = "git_url")]
        repo: Option<PathBuf>,
        /// Address for /healthz, /readyz, /status and /metrics.
        #[arg(long, env = "PULLSYNC_LISTEN", default_value = "0.0.0.0:8080")]
        listen: std::net::SocketAddr,
        /// Full resync at least this often (Go duration).
        #[arg(long, env = "PULLSYNC_RESYNC_INTERVAL", default_value = "5m", value_parser = duration)]
        resync_interval: Duration,
        /// How often to fetch the Git remote; for a local folder (watched with inotify), how
        /// often to look anyway, as a fallback.
        #[arg(long, env = "PULLSYNC_POLL_INTERVAL", default_value = "10s", value_parser = duration)]
        poll_interval: Duration,
        /// Elect one writer among replicas with a coordination.k8s.io Lease.
        #[arg(long, env = "PULLSYNC_LEADER_ELECTION")]
        leader_election: bool,
        /// Lease duration; a new leader takes over within it.
        #[arg(long, env = "PULLSYNC_LEASE_DURATION", default_value = "15s", value_parser = duration)]
        lease_duration: Duration,
        /// The leader stops writing when it has not renewed for this long (shorter than the
        /// lease duration); default: two thirds of it.
        #[arg(long, env = "PULLSYNC_RENEW_DEADLINE", value_parser = duration)]
        renew_deadline: Option<Duration>,
        /// How often to try to renew or acquire the lease; default: 2/15 of the lease duration.
        #[arg(long, env = "PULLSYNC_RETRY_PERIOD", value_parser = duration)]
        retry_period: Option<Duration>,
        /// This replica's identity in the Lease; default: the host name.
        #[arg(long, env = "PULLSYNC_IDENTITY")]
        identity: Option<String>,
        /// Fetch the specs from this Git remote (https://, ssh://, file://) instead of --repo.
        #[arg(long, env = "PULLSYNC_GIT_URL")]
        git_url: Option<String>,
        /// Branch, `refs/tags/TAG`, or a commit id.
        #[arg(long, env = "PULLSYNC_GIT_REF", default_value = "main")]
        git_ref: String,
        /// Spec root inside the repository; default: its top.
        #[arg(long, env = "PULLSYNC_GIT_PATH")]
        git_path: Option<PathBuf>,
        /// Where the clone is kept between restarts.
        #[arg(long, env = "PULLSYNC_GIT_CACHE", default_value = "/tmp/pullsync-git")]
        git_cache: PathBuf,
        /// A Git connection that opens, or a remote that sends nothing, for this long fails
        /// the fetch (HTTPS and SSH); the last checkout keeps running and the next poll
        /// tries again (Go duration).
        #[arg(long, env = "PULLSYNC_GIT_TIMEOUT", default_value = "60s", value_parser = duration)]
        git_timeout: Duration,
        /// HTTPS token (sent as the password) read from this file.
        #[arg(long, env = "PULLSYNC_GIT_TOKEN_FILE")]
        git_token_file: Option<PathBuf>,
        /// SSH deploy key.
        #[arg(long, env = "PULLSYNC_GIT_SSH_KEY")]
        git_ssh_key: Option<PathBuf>,
        /// known_hosts for SSH.
        #[arg(long, env = "PULLSYNC_GIT_KNOWN_HOSTS")]
        git_known_hosts: Option<PathBuf>,
        /// Apply only commits (or tags) signed by a key in --allowed-signers: `head` the commit,
        /// `tag` the annotated tag of --git-ref refs/tags/…, `both`. SSH signatures (ed25519).
        #[arg(
            long,
            env = "PULLSYNC_VERIFY_COMMITS",
            value_enum,
            requires = "allowed_signers"
        )]
        verify_commits: Option<crate::signing::VerifyMode>,
        /// Allowed signers (ssh-keygen's ALLOWED SIGNERS format, as git's
        /// gpg.ssh.allowedSignersFile); never read from the repository it protects.
        #[arg(long, env = "PULLSYNC_ALLOWED_SIGNERS", requires = "verify_commits")]
        allowed_signers: Option<PathBuf>,
        /// File holding the secret of `POST /hooks/git` (GitHub/Gitea HMAC, GitLab token).
        #[arg(long, env = "PULLSYNC_WEBHOOK_SECRET_FILE")]
        webhook_secret_file: Option<PathBuf>,
        /// Serve the pod admission webhook (HTTPS, `POST /admission/pods`) on this address:
        /// warns when a pod's image will find no pull secret, before ImagePullBackOff.
        #[arg(long, env = "PULLSYNC_ADMISSION_LISTEN", requires_all = ["admission_tls_cert", "admission_tls_key"])]
        admission_listen: Option<std::net::SocketAddr>,
        /// The webhook's TLS certificate (PEM chain), e.g. from a cert-manager Secret; re-read
        /// when it changes.
        #[arg(long, env = "PULLSYNC_ADMISSION_TLS_CERT", requires = "admission_listen")]
        admission_tls_cert: Option<PathBuf>,
        /// The webhook's TLS private key (PEM).
        #[arg(long, env = "PULLSYNC_ADMISSION_TLS_KEY", requires = "admission_listen")]
        admission_tls_key: Option<PathBuf>,
        /// `warn` admits with warnings; `deny` refuses the pod. A namespace's label
        /// `pullsync.dev/admission: warn|deny` overrides this for that namespace.
        #[arg(long, env = "PULLSYNC_ADMISSION_MODE", value_enum, default_value = "warn")]
        admission_mode: crate::admission::review::Mode,
        /// Registry hosts pulled anonymously by design, never warned about (repeatable).
        #[arg(
            long = "admission-anonymous-registry",
            env = "PULLSYNC_ADMISSION_ANONYMOUS_REGISTRIES",
            value_delimiter = ','
        )]
        admission_anonymous: Vec<String>,
        /// Also judge pull secrets pullsync does not manage, reading their `auths` keys (never
        /// kept, never their values). Only where the webhook port is reachable by the API server
        /// alone: anyone else reaching it could learn a Secret's registry keys by its name.
        #[arg(
            long,
            env = "PULLSYNC_ADMISSION_READ_UNMANAGED",
            requires = "admission_listen"
        )]
        admission_read_unmanaged: bool,
        /// Serve the credential endpoint of `pullsync credential-provider` (HTTPS, `POST
        /// /credential-provider/v1`) on this address: the kubelet's plugin asks it for a pod's
        /// image credential with the pod's service-account token.
        #[arg(long, env = "PULLSYNC_PROVIDER_LISTEN", requires_all = ["provider_tls_cert", "provider_tls_key"])]
        provider_listen: Option<std::net::SocketAddr>,
        /// The endpoint's TLS certificate (PEM chain); re-read when it changes.
        #[arg(long, env = "PULLSYNC_PROVIDER_TLS_CERT", requires = "provider_listen")]
        provider_tls_cert: Option<PathBuf>,
        /// The endpoint's TLS private key (PEM).
        #[arg(long, env = "PULLSYNC_PROVIDER_TLS_KEY", requires = "provider_listen")]
        provider_tls_key: Option<PathBuf>,
        /// The audience pod tokens must be minted for: the kubelet's
        /// `tokenAttributes.serviceAccountTokenAudience`.
        #[arg(long, env = "PULLSYNC_PROVIDER_AUDIENCE", default_value = "pullsync")]
        provider_audience: String,
        /// The longest the kubelet may cache an answer; shorter when a credential renews or
        /// expires sooner.
        #[arg(long, env = "PULLSYNC_PROVIDER_MAX_CACHE", default_value = "10m", value_parser = duration)]
        provider_max_cache: Duration,
        #[command(flatten)]
        render: RenderArgs,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Wait until the daemon has applied a revision (for an Argo CD PreSync hook). Exit 0 when
    /// applied, 1 when it was rejected as invalid or the timeout passed.
    Wait {
        /// The revision (Git commit) to wait for.
        #[arg(long, env = "PULLSYNC_REVISION")]
        revision: String,
        /// Only these namespaces must have it (repeatable); default: all.
        #[arg(long = "namespace", env = "PULLSYNC_WAIT_NAMESPACES", value_delimiter = ',')]
        namespaces: Vec<String>,
        /// The daemon's /status URL.
        #[arg(
            long,
            env = "PULLSYNC_STATUS_URL",
            default_value = "http://pullsync.pullsync-system.svc:8080/status"
        )]
        status_url: String,
        #[arg(long, env = "PULLSYNC_WAIT_TIMEOUT", default_value = "5m", value_parser = duration)]
        timeout: Duration,
    },
    /// The daemon's state for a human: revisions, each credential's source, version, expiry,
    /// next renewal and failures, each namespace's secrets, and what was refused. Reads the
    /// daemon's /status (directly, or through the API server's service proxy).
    Status {
        /// The daemon's /status URL (e.g. through `kubectl port-forward`).
        #[arg(long, env = "PULLSYNC_STATUS_URL", conflicts_with = "kubeconfig")]
        status_url: Option<String>,
        /// Read /status through the API server's service proxy with this kubeconfig: no
        /// port-forward, needs `get` on `services/proxy` for the daemon's Service.
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// The daemon's Service, as NAMESPACE/NAME:PORT (the chart's is pullsync-system/pullsync:http).
        #[arg(
            long,
            env = "PULLSYNC_SERVICE",
            default_value = "pullsync-system/pullsync:http"
        )]
        service: String,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// The kubelet's image credential provider plugin (`credentialprovider.kubelet.k8s.io/v1`):
    /// reads a CredentialProviderRequest on stdin, asks the daemon (`run --provider-listen`)
    /// with the pod's service-account token, writes the CredentialProviderResponse on stdout.
    /// Holds no secret and no spec. Set it up with the kubelet's
    /// `--image-credential-provider-config` and `--image-credential-provider-bin-dir`.
    CredentialProvider {
        /// The daemon's credential endpoint, e.g. https://pullsync-provider.pullsync-system.svc:8444.
        #[arg(long, env = "PULLSYNC_PROVIDER_URL")]
        url: String,
        /// PEM CA bundle that signed the endpoint's certificate (default: the system roots).
        #[arg(long, env = "PULLSYNC_PROVIDER_CA_FILE")]
        ca_file: Option<PathBuf>,
        /// Connect to this IP instead of resolving the URL's host (a node's resolver does not
        /// know cluster DNS names: the Service's ClusterIP); the certificate is checked against
        /// the URL's host.
        #[arg(long)]
        resolve: Option<std::net::IpAddr>,
        /// Per attempt.
        #[arg(long, default_value = "10s", value_parser = duration)]
        timeout: Duration,
        /// Attempts before giving up (connection failures and 5xx only: a replica that is not
        /// the leader answers 503, and the Service routes the next attempt anew).
        #[arg(long, default_value_t = 5)]
        attempts: u32,
    },
    /// Put `pullsync credential-provider` on a node (what the chart's DaemonSet runs): copy this
    /// binary into the kubelet's plugin folder and write a CredentialProviderConfig for it, each
    /// atomically. The kubelet's own flags stay the operator's to set.
    InstallCredentialProvider {
        /// The kubelet's --image-credential-provider-bin-dir, as mounted here.
        #[arg(long)]
        bin_dir: PathBuf,
        /// The CredentialProviderConfig file to write, as mounted here.
        #[arg(long)]
        config: PathBuf,
        /// The config's folder as the node sees it (the config names the CA file there).
        #[arg(long)]
        node_config_dir: PathBuf,
        /// The daemon's credential endpoint, e.g. https://pullsync.pullsync-system.svc:8444.
        #[arg(long)]
        url: String,
        /// The IP the plugin connects to for the URL's host (the Service's ClusterIP).
        #[arg(long)]
        resolve: Option<String>,
        /// The CA bundle that signed the endpoint's certificate (copied beside the config).
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Images the kubelet asks pullsync about (`matchImages` globs, e.g. `nvcr.io`,
        /// `*.dkr.ecr.*.amazonaws.com`); repeatable.
        #[arg(long = "match-image", value_delimiter = ',')]
        match_images: Vec<String>,
        /// tokenAttributes.serviceAccountTokenAudience: the daemon's --provider-audience.
        #[arg(long, default_value = "pullsync")]
        audience: String,
        #[arg(long, default_value = "1m", value_parser = duration)]
        default_cache_duration: Duration,
        /// Stay up until SIGTERM (a DaemonSet's pod must keep running).
        #[arg(long)]
        wait: bool,
    },
    /// Print the JSON Schema of the spec kinds, for editors.
    Schema {
        /// One kind only (e.g. PullSecret); default: all kinds, keyed by kind.
        #[arg(long)]
        kind: Option<String>,
    },
    /// Encrypt a credential file for age recipients. Reads the values (a YAML/JSON map) from
    /// stdin, never from arguments.
    Encrypt {
        /// age public key (age1...); repeatable.
        #[arg(
            long = "recipient",
            short = 'r',
            env = "PULLSYNC_RECIPIENTS",
            value_delimiter = ','
        )]
        recipients: Vec<String>,
        /// File of age public keys, one per line; repeatable.
        #[arg(long = "recipients-file", short = 'R')]
        recipients_files: Vec<PathBuf>,
        /// Write ASCII armor instead of binary.
        #[arg(long, short = 'a')]
        armor: bool,
        /// Where to write the encrypted file.
        #[arg(long, short = 'o')]
        output: PathBuf,
    },
    /// Print the version.
    Version,
}

/// Go-style durations (`90s`, `20m`, `1h30m`) for flags, parsed by clap so a bad value is
/// refused with the flag's name before anything starts.
fn duration(text: &str) -> Result<Duration, String> {
    crate::spec::duration::parse(text)
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
