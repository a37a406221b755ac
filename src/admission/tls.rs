//! The webhook's TLS listener (effect): the API server calls webhooks over HTTPS only. The
//! certificate and key are files (a mounted Secret, e.g. cert-manager's), read again when they
//! change, so a rotated certificate is served without a restart. Handshakes run on their own
//! tasks with a deadline: a client that opens a connection and sends nothing holds up no one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the files are looked at for a rotated certificate.
const RELOAD_CHECK: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the HTTP server.
const READY_QUEUE: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum LoadCertificateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate in it")]
    NoCertificate { path: PathBuf },
    #[error("{path}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in it")]
    NoKey { path: PathBuf },
    #[error("{path}: the key cannot sign ({source})")]
    Key {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, LoadCertificateError> {
    crate::bounded::read_regular(path, crate::bounded::MAX_SMALL_FILE).map_err(|source| {
        LoadCertificateError::Read {
            path: path.to_path_buf(),
            source,
        }
    })
}

fn load(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, LoadCertificateError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert)?)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(LoadCertificateError::NoCertificate {
            path: cert.to_path_buf(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|_| LoadCertificateError::NoKey {
        path: key.to_path_buf(),
    })?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|source| LoadCertificateError::Key {
            path: key.to_path_buf(),
            source,
        })?;
    Ok(Arc::new(CertifiedKey::new(chain, signing)))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Serves the files' certificate, re-reading them when their modification time changes
/// (looked at no more than every [`RELOAD_CHECK`]); a broken new pair keeps the old one.
#[derive(Debug)]
struct Reloading {
    cert: PathBuf,
    key: PathBuf,
    state: Mutex<(Arc<CertifiedKey>, Option<SystemTime>, Instant)>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.2.elapsed() >= RELOAD_CHECK {
            state.2 = Instant::now();
            let now = modified(&self.cert).max(modified(&self.key));
            if now != state.1 {
                match load(&self.cert, &self.key) {
                    Ok(fresh) => {
                        tracing::info!(cert = %self.cert.display(), "admission certificate reloaded");
                        *state = (fresh, now, Instant::now());
                    }
                    Err(error) => {
                        tracing::warn!(%error, "admission certificate not reloaded; serving the previous one")
                    }
                }
            }
        }
        Some(state.0.clone())
    }
}

/// A TCP listener whose connections come out TLS-handshaken (an axum `Listener`).
pub struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Check the certificate pair now (a bad one fails at start), then accept on `listener`.
    pub fn new(listener: TcpListener, cert: &Path, key: &Path) -> Result<TlsListener, LoadCertificateError> {
        let first = load(cert, key)?;
        let resolver = Reloading {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            state: Mutex::new((first, modified(cert).max(modified(key)), Instant::now())),
        };
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default TLS versions")
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(resolver));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let local = listener
            .local_addr()
            .map_err(|source| LoadCertificateError::Read {
                path: cert.to_path_buf(),
                source,
            })?;
        let (tx, ready) = tokio::sync::mpsc::channel(READY_QUEUE);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::debug!(%error, "admission accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "admission TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "admission TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept task ended (it never does while the server runs): wait to be stopped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}
