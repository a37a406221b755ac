//! `pullsync install-credential-provider` (effect): what the chart's node DaemonSet runs (the
//! image has no shell). It copies this very binary into the kubelet's plugin folder and
//! writes a `CredentialProviderConfig` for it, each atomically (a temporary file renamed in
//! place: a kubelet starting meanwhile sees the old file or the new one, never half of one),
//! and, with `--wait`, stays up until it is told to stop so the DaemonSet's pod keeps running.
//! The kubelet's own flags (`--image-credential-provider-config`,
//! `--image-credential-provider-bin-dir`) are the operator's to set.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use super::server::API_VERSION;

#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The kubelet's `--image-credential-provider-bin-dir` (as mounted in the installer).
    pub bin_dir: PathBuf,
    /// Where the config is written (as mounted in the installer).
    pub config: PathBuf,
    /// The config's folder as the kubelet on the node sees it (where the config names the CA).
    pub node_config_dir: PathBuf,
    /// The daemon's credential endpoint (its Service name, which its certificate names).
    pub url: String,
    /// The address to connect to instead of resolving the URL's host: the node's resolver does
    /// not know cluster DNS names (the Service's ClusterIP, e.g. `$(PULLSYNC_SERVICE_HOST)`).
    pub resolve: Option<String>,
    /// The CA bundle that signed the endpoint's certificate, copied next to the config.
    pub ca_file: Option<PathBuf>,
    pub match_images: Vec<String>,
    pub audience: String,
    /// When the daemon's answer has no cacheDuration (it always has one).
    pub default_cache: Duration,
    pub wait: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallProviderError {
    #[error("--match-image: give at least one (the registries the kubelet asks pullsync about)")]
    NoMatchImages,
    #[error("--resolve {0}: not an IP address (is the Service's environment variable defined in this pod?)")]
    Resolve(String),
    #[error("cannot find this executable: {0}")]
    CurrentExe(#[source] std::io::Error),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Write `bytes` to `path` through a temporary file beside it, renamed in place.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), InstallProviderError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let err = |source| InstallProviderError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = dir.join(format!(
        ".{}.pullsync-tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// The `CredentialProviderConfig` for the pullsync plugin (pure).
pub fn config(options: &InstallOptions, ca_on_node: Option<&Path>) -> serde_json::Value {
    let mut args = vec![
        "credential-provider".to_string(),
        "--url".into(),
        options.url.clone(),
    ];
    if let Some(address) = &options.resolve {
        args.extend(["--resolve".into(), address.clone()]);
    }
    if let Some(ca) = ca_on_node {
        args.extend(["--ca-file".into(), ca.display().to_string()]);
    }
    // kubelet.config.k8s.io/v1 CredentialProviderConfig; tokenAttributes as KEP-4412 names them.
    json!({
        "apiVersion": "kubelet.config.k8s.io/v1",
        "kind": "CredentialProviderConfig",
        "providers": [{
            "name": "pullsync",
            "apiVersion": API_VERSION,
            "matchImages": options.match_images,
            "defaultCacheDuration": format!("{}s", options.default_cache.as_secs()),
            "args": args,
            "tokenAttributes": {
                "serviceAccountTokenAudience": options.audience,
                "requireServiceAccount": true,
                // The answer depends on the pod's ServiceAccount: cache per ServiceAccount.
                "cacheType": "ServiceAccount"
            }
        }]
    })
}

pub async fn run(options: &InstallOptions) -> Result<(), InstallProviderError> {
    if options.match_images.is_empty() {
        return Err(InstallProviderError::NoMatchImages);
    }
    if let Some(address) = &options.resolve
        && address.parse::<std::net::IpAddr>().is_err()
    {
        return Err(InstallProviderError::Resolve(address.clone()));
    }
    let exe = std::env::current_exe().map_err(InstallProviderError::CurrentExe)?;
    let binary = std::fs::read(&exe).map_err(|source| InstallProviderError::Read { path: exe, source })?;
    let target = options.bin_dir.join("pullsync");
    write_atomic(&target, &binary, 0o755)?;
    let ca_on_node = match &options.ca_file {
        Some(path) => {
            let pem =
                crate::bounded::read_regular(path, crate::bounded::MAX_SMALL_FILE).map_err(|source| {
                    InstallProviderError::Read {
                        path: path.clone(),
                        source,
                    }
                })?;
            let dir = options.config.parent().unwrap_or(Path::new("."));
            write_atomic(&dir.join("pullsync-ca.crt"), &pem, 0o644)?;
            Some(options.node_config_dir.join("pullsync-ca.crt"))
        }
        None => None,
    };
    let text = serde_json::to_vec_pretty(&config(options, ca_on_node.as_deref())).unwrap_or_default();
    write_atomic(&options.config, &text, 0o644)?;
    tracing::info!(binary = %target.display(), config = %options.config.display(), "installed the image credential provider; the kubelet needs --image-credential-provider-config and --image-credential-provider-bin-dir pointing at them");
    if options.wait {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    Ok(())
}
