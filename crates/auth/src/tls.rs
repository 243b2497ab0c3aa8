//! rustls configurations for mutually authenticated TLS inside the cluster.
//!
//! Every config is built with an explicit ring provider, so nothing depends on a process-wide
//! default provider being installed. Certificate PEM inputs may hold a chain (leaf first).

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::AuthError;

/// Server config for the peer listener: requires a client certificate signed by the CA.
///
/// The handler must still map the verified certificate to a node with
/// [`crate::node_id_from_cert_der`] and refuse client-tool certificates (`None`).
pub fn peer_server_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<ServerConfig>, AuthError> {
    let provider = ring_provider();
    let verifier =
        WebPkiClientVerifier::builder_with_provider(root_store(ca_pem)?, provider.clone())
            .build()
            .map_err(AuthError::ClientVerifier)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(parse_certs(cert_pem)?, parse_key(key_pem)?)?;
    config.alpn_protocols = alpn_protocols();
    Ok(Arc::new(config))
}

/// Server config for the API listener: a server certificate from the CA and no client
/// certificates; API requests authenticate with tokens.
pub fn api_server_config(cert_pem: &str, key_pem: &str) -> Result<Arc<ServerConfig>, AuthError> {
    let mut config = ServerConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(parse_certs(cert_pem)?, parse_key(key_pem)?)?;
    config.alpn_protocols = alpn_protocols();
    Ok(Arc::new(config))
}

/// Like [`api_server_config`], but accepts an optional client certificate, which must then be
/// signed by the CA; clients without one fall back to token authentication.
pub fn api_server_config_with_client_ca(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<ServerConfig>, AuthError> {
    let provider = ring_provider();
    let verifier =
        WebPkiClientVerifier::builder_with_provider(root_store(ca_pem)?, provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(AuthError::ClientVerifier)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(parse_certs(cert_pem)?, parse_key(key_pem)?)?;
    config.alpn_protocols = alpn_protocols();
    Ok(Arc::new(config))
}

/// Client config that trusts only the cluster CA, optionally presenting a client certificate
/// given as `(cert_pem, key_pem)`.
///
/// ALPN is left empty: the HTTP client that uses this config chooses its protocols.
pub fn client_config(
    ca_pem: &str,
    identity: Option<(&str, &str)>,
) -> Result<Arc<ClientConfig>, AuthError> {
    let builder = ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(root_store(ca_pem)?);
    let config = match identity {
        Some((cert_pem, key_pem)) => {
            builder.with_client_auth_cert(parse_certs(cert_pem)?, parse_key(key_pem)?)?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

pub(crate) fn ring_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub(crate) fn alpn_protocols() -> Vec<Vec<u8>> {
    vec![b"h2".to_vec(), b"http/1.1".to_vec()]
}

pub(crate) fn root_store(ca_pem: &str) -> Result<Arc<RootCertStore>, AuthError> {
    let mut roots = RootCertStore::empty();
    for certificate in parse_certs_named("CA certificate", ca_pem)? {
        roots.add(certificate)?;
    }
    Ok(Arc::new(roots))
}

pub(crate) fn parse_certs(cert_pem: &str) -> Result<Vec<CertificateDer<'static>>, AuthError> {
    parse_certs_named("certificate", cert_pem)
}

fn parse_certs_named(
    what: &'static str,
    pem: &str,
) -> Result<Vec<CertificateDer<'static>>, AuthError> {
    let invalid = |reason: String| AuthError::InvalidPem { what, reason };
    let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(error.to_string()))?;
    if certificates.is_empty() {
        return Err(invalid("no CERTIFICATE block found".to_owned()));
    }
    Ok(certificates)
}

pub(crate) fn parse_key(key_pem: &str) -> Result<PrivateKeyDer<'static>, AuthError> {
    // The parser's own error could quote parts of the input, which is secret here.
    PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|_| AuthError::InvalidPem {
        what: "private key",
        reason: "no readable PRIVATE KEY block found".to_owned(),
    })
}
