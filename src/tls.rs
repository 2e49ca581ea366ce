//! TLS for the HTTPS listener (and STARTTLS): certificate loading, the self-signed
//! fallback, and reload on SIGHUP.
//!
//! In: PEM certificate chain and key paths (or none). Out: a rustls `ServerConfig` whose
//! certificate resolver can be swapped at run time: connections already open keep the
//! certificate they negotiated, new handshakes get the new one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: cannot read certificate: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("{path}: cannot read private key: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("certificate and key must be given together (--tls-cert and --tls-key)")]
    Incomplete,
    #[error("cannot generate a self-signed certificate: {0}")]
    SelfSigned(String),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The one crypto provider of the process (ring), installed explicitly so that rustls
/// never has to guess between providers enabled by different crates.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // Already installed (tests start several apps): the first one stays.
    let _ = CryptoProvider::install_default(rustls::crypto::ring::default_provider());
    provider
}

/// Certificate resolver whose certificate can be replaced while serving.
#[derive(Debug)]
pub struct ReloadableCert {
    current: RwLock<Arc<CertifiedKey>>,
    files: Option<(PathBuf, PathBuf)>,
    provider: Arc<CryptoProvider>,
    /// DER of the leaf certificate in use (clients of a self-signed setup pin it).
    leaf: RwLock<CertificateDer<'static>>,
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.clone())
    }
}

impl ReloadableCert {
    /// Loads the configured PEM files, or generates a self-signed certificate for
    /// `localhost` and `hostname` when none are configured.
    pub fn load(
        cert: Option<&Path>,
        key: Option<&Path>,
        hostname: &str,
    ) -> Result<Arc<ReloadableCert>, TlsError> {
        let provider = crypto_provider();
        let (chain, key, files) = match (cert, key) {
            (Some(cert), Some(key)) => {
                let (chain, key_der) = read_pem(cert, key)?;
                (chain, key_der, Some((cert.to_owned(), key.to_owned())))
            }
            (None, None) => {
                let (chain, key) = self_signed(hostname)?;
                (chain, key, None)
            }
            _ => return Err(TlsError::Incomplete),
        };
        let leaf = chain.first().cloned().ok_or(TlsError::Incomplete)?;
        let certified = CertifiedKey::from_der(chain, key, &provider)?;
        Ok(Arc::new(ReloadableCert {
            current: RwLock::new(Arc::new(certified)),
            files,
            provider,
            leaf: RwLock::new(leaf),
        }))
    }

    pub fn is_self_signed(&self) -> bool {
        self.files.is_none()
    }

    pub fn leaf_der(&self) -> Option<CertificateDer<'static>> {
        self.leaf.read().ok().map(|l| l.clone())
    }

    /// Re-reads the PEM files. On error the old certificate stays in use.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let Some((cert, key)) = &self.files else {
            return Ok(false);
        };
        let (chain, key_der) = read_pem(cert, key)?;
        let leaf = chain.first().cloned().ok_or(TlsError::Incomplete)?;
        let certified = CertifiedKey::from_der(chain, key_der, &self.provider)?;
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(certified);
        }
        if let Ok(mut l) = self.leaf.write() {
            *l = leaf;
        }
        Ok(true)
    }

    /// A server configuration using this resolver, offering HTTP/2 and HTTP/1.1.
    pub fn server_config(self: &Arc<Self>, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

fn read_pem(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| TlsError::Certificate {
            path: cert.to_owned(),
            reason: e.to_string(),
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Certificate {
            path: cert.to_owned(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Certificate {
            path: cert.to_owned(),
            reason: "no CERTIFICATE block found".to_owned(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_owned(),
        reason: e.to_string(),
    })?;
    Ok((chain, key_der))
}

fn self_signed(
    hostname: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    if !hostname.is_empty() && hostname != "localhost" {
        names.push(hostname.to_owned());
    }
    let generated = rcgen::generate_simple_self_signed(names)
        .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
    let key = PrivateKeyDer::try_from(generated.signing_key.serialize_der())
        .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
    Ok((vec![generated.cert.der().clone()], key))
}
