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

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub use crate::config::{ClientTls, ServerTls};

/// Why TLS could not be set up. Never holds key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or parsed.
    #[error("{}: {what}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        what: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
}

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

/// Builds an upstream connector and the name it verifies.
pub fn connector(cfg: &ClientTls) -> Result<(TlsConnector, ServerName<'static>), TlsError> {
    let config = https_client_config(Some(cfg))?;
    let host = cfg.server_name.clone();
    let name = ServerName::try_from(host.clone())
        .map_err(|_| TlsError::Config(format!("{host:?} is not a valid server name")))?;
    Ok((TlsConnector::from(Arc::new(config)), name))
}

/// The client configuration for an upstream: verified against `cfg`'s CA
/// file, presenting its client certificate if it has one; without `cfg`
/// (an `https://` upstream with no `upstream_tls`), against the system's
/// trust store.
pub fn https_client_config(cfg: Option<&ClientTls>) -> Result<ClientConfig, TlsError> {
    let roots = cfg.map(|c| roots(&c.ca_file)).transpose()?;
    let client_cert = cfg
        .and_then(|c| c.client_cert.as_ref())
        .map(|(c, k)| (c.as_path(), k.as_path()));
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

/// A byte stream, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// A boxed [`Stream`].
pub type BoxStream = Box<dyn Stream>;

#[cfg(test)]
mod tests {
    use super::*;

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
