//! TLS on listeners and towards upstreams, with rustls (ring provider).
//!
//! - Listeners present a certificate chain and key (PEM files); with a
//!   client CA file they require and verify client certificates (mutual
//!   authentication, as syslog over TLS deployments usually do).
//! - Upstreams are verified against a CA file (no system roots: a log
//!   relay talks to a known collector), by the name in the upstream URL or
//!   a configured server name, optionally presenting a client certificate.
//!   `https://` upstreams of the HTTP proxy (hosted ingestion APIs) use the
//!   system's trust store unless a CA file is given.
//! - TLS 1.3 and 1.2 with rustls' safe defaults (ECDHE with AES-GCM or
//!   ChaCha20-Poly1305). Very old senders that offer only the RFC 5425 MTI
//!   `TLS_RSA_WITH_AES_128_CBC_SHA` cannot connect: rustls does not
//!   implement it (RFC 9662 made ECDHE-GCM the MTI).
//!
//! Key files are read when the listener or upstream is built (at start and
//! on reload), never logged.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A listener's TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
    /// PEM CA certificates; when set, clients must present a certificate
    /// signed by one of them.
    pub client_ca_file: Option<PathBuf>,
}

/// An upstream's TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// PEM CA certificates the upstream's certificate must chain to.
    pub ca_file: PathBuf,
    /// PEM client certificate chain, when the upstream wants one.
    pub cert_file: Option<PathBuf>,
    /// PEM client key (with `cert_file`).
    pub key_file: Option<PathBuf>,
    /// Name to verify instead of the upstream URL's host.
    pub server_name: Option<String>,
}

/// Why TLS could not be set up. Never holds key material.
#[derive(Debug)]
pub enum TlsError {
    /// A file could not be read or parsed.
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        what: String,
    },
    /// rustls refused the configuration.
    Config(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::File { path, what } => write!(f, "{}: {what}", path.display()),
            TlsError::Config(e) => write!(f, "TLS configuration: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |what: String| TlsError::File {
        path: path.to_path_buf(),
        what,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no PEM certificate in the file".into()));
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    // The parser's error names the problem, not the key's bytes.
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        path: path.to_path_buf(),
        what: format!("no usable PEM private key ({e})"),
    })
}

fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for c in certs(path)? {
        store.add(c).map_err(|e| TlsError::File {
            path: path.to_path_buf(),
            what: format!("bad CA certificate: {e}"),
        })?;
    }
    Ok(store)
}

/// Builds a listener's acceptor.
pub fn acceptor(cfg: &ServerTls) -> Result<TlsAcceptor, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match &cfg.client_ca_file {
        Some(ca) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider())
                    .build()
                    .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(certs(&cfg.cert_file)?, key(&cfg.key_file)?)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Builds an upstream connector and the name it verifies, for an upstream
/// at `addr` (`host:port`).
pub fn connector(
    cfg: &ClientTls,
    addr: &str,
) -> Result<(TlsConnector, ServerName<'static>), TlsError> {
    let client_cert = cfg.cert_file.as_deref().zip(cfg.key_file.as_deref());
    if cfg.cert_file.is_some() != cfg.key_file.is_some() {
        return Err(TlsError::Config(
            "a client certificate needs both cert_file and key_file".into(),
        ));
    }
    let config = client_config(Some(roots(&cfg.ca_file)?), client_cert)?;
    let host = match &cfg.server_name {
        Some(n) => n.clone(),
        None => host_of(addr).to_string(),
    };
    let name = ServerName::try_from(host.clone())
        .map_err(|_| TlsError::Config(format!("{host:?} is not a valid server name")))?;
    Ok((TlsConnector::from(Arc::new(config)), name))
}

/// The client configuration for an `https://` upstream: verified against
/// `ca_file` when given, else against the system's trust store, by the
/// URL's host; presenting `client_cert` (certificate chain, key) if given.
pub fn https_client_config(
    ca_file: Option<&Path>,
    client_cert: Option<(&Path, &Path)>,
) -> Result<ClientConfig, TlsError> {
    let roots = ca_file.map(roots).transpose()?;
    client_config(roots, client_cert)
}

/// A client configuration trusting `roots` (`None`: the system's).
fn client_config(
    roots: Option<RootCertStore>,
    client_cert: Option<(&Path, &Path)>,
) -> Result<ClientConfig, TlsError> {
    use hyper_rustls::ConfigBuilderExt;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match roots {
        Some(r) => builder.with_root_certificates(r),
        None => builder
            .with_native_roots()
            .map_err(|e| TlsError::Config(format!("cannot load the system's trust store: {e}")))?,
    };
    match client_cert {
        Some((c, k)) => builder
            .with_client_auth_cert(certs(c)?, key(k)?)
            .map_err(|e| TlsError::Config(e.to_string())),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// The host part of `host:port` (`[v6]:port` too).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// A byte stream, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// A boxed [`Stream`].
pub type BoxStream = Box<dyn Stream>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(host_of("collector.example:6514"), "collector.example");
        assert_eq!(host_of("127.0.0.1:6514"), "127.0.0.1");
        assert_eq!(host_of("[::1]:6514"), "::1");
    }

    #[test]
    fn missing_files_are_named_and_keys_never_echoed() {
        let e = acceptor(&ServerTls {
            cert_file: "/nonexistent/cert.pem".into(),
            key_file: "/nonexistent/key.pem".into(),
            client_ca_file: None,
        })
        .err()
        .expect("error");
        assert!(e.to_string().contains("/nonexistent/cert.pem"), "{e}");

        let dir = std::env::temp_dir().join(format!("redactd-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bogus = dir.join("key.pem");
        std::fs::write(&bogus, "not a key but a secret-looking line s3cr3t\n").unwrap();
        let e = key(&bogus).expect_err("error");
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
