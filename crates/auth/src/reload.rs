//! TLS material that can be replaced while the node runs (`encluster cert rotate`).
//!
//! [`ReloadableTls`] holds the node's certificate, its key and the CA certificates it trusts
//! (one CA, or two while the CA is being replaced). The rustls configurations it hands out
//! never change; they ask it for the current certificate and trust at every handshake, so
//! a reload takes effect for new connections at once and connections already open keep
//! the session they have.

use std::fmt;
use std::sync::{Arc, RwLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme,
};

use crate::error::AuthError;
use crate::tls::{alpn_protocols, parse_certs, parse_key, ring_provider, root_store};

/// What a node's TLS is made of, all PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsMaterial {
    /// Every CA certificate the node trusts (the cluster CA, then the new one during a
    /// change).
    pub trust_pem: String,
    /// The node's certificate.
    pub cert_pem: String,
    /// The node's private key.
    pub key_pem: String,
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("key_pem", &"<secret>")
            .finish_non_exhaustive()
    }
}

/// Everything built from one [`TlsMaterial`].
struct Loaded {
    material: TlsMaterial,
    /// The node certificate alone (peer listener, outgoing client certificate).
    leaf: Arc<CertifiedKey>,
    /// The node certificate followed by the trusted CAs (API listener, so joiners can pin).
    chain: Arc<CertifiedKey>,
    client_verifier: Arc<dyn ClientCertVerifier>,
    server_verifier: Arc<WebPkiServerVerifier>,
}

/// The node's replaceable TLS identity and trust.
pub struct ReloadableTls {
    current: RwLock<Arc<Loaded>>,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for ReloadableTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadableTls").finish_non_exhaustive()
    }
}

impl ReloadableTls {
    /// Builds it from `material`, checked as [`ReloadableTls::reload`] checks it.
    pub fn new(material: &TlsMaterial, now: UnixTime) -> Result<Arc<ReloadableTls>, AuthError> {
        let provider = ring_provider();
        let loaded = load(material, &provider, now)?;
        Ok(Arc::new(ReloadableTls {
            current: RwLock::new(Arc::new(loaded)),
            provider,
        }))
    }

    /// Replaces the material, all or nothing: the key must match the certificate, and one
    /// of the trusted CAs must have issued the certificate (valid at `now`).
    pub fn reload(&self, material: &TlsMaterial, now: UnixTime) -> Result<(), AuthError> {
        let loaded = load(material, &self.provider, now)?;
        *self.current.write().expect("TLS lock poisoned") = Arc::new(loaded);
        Ok(())
    }

    /// The material in use.
    pub fn material(&self) -> TlsMaterial {
        self.loaded().material.clone()
    }

    fn loaded(&self) -> Arc<Loaded> {
        self.current.read().expect("TLS lock poisoned").clone()
    }

    /// Peer listener: requires a client certificate from a trusted CA.
    pub fn peer_server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, AuthError> {
        let verifier = Arc::new(Trust(self.clone()));
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(Identity {
                tls: self.clone(),
                chain: false,
            }));
        config.alpn_protocols = alpn_protocols();
        Ok(Arc::new(config))
    }

    /// API listener: presents the node certificate and the trusted CAs; no client
    /// certificates (API requests authenticate with tokens).
    pub fn api_server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, AuthError> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Identity {
                tls: self.clone(),
                chain: true,
            }));
        config.alpn_protocols = alpn_protocols();
        Ok(Arc::new(config))
    }

    /// Outgoing connections: trusts the trusted CAs, presenting the node certificate when
    /// `identity` (peer connections) and none otherwise (API forwarding).
    pub fn client_config(self: &Arc<Self>, identity: bool) -> Result<Arc<ClientConfig>, AuthError> {
        let builder = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Trust(self.clone())));
        let config = if identity {
            builder.with_client_cert_resolver(Arc::new(Identity {
                tls: self.clone(),
                chain: false,
            }))
        } else {
            builder.with_no_client_auth()
        };
        Ok(Arc::new(config))
    }
}

fn load(
    material: &TlsMaterial,
    provider: &Arc<CryptoProvider>,
    now: UnixTime,
) -> Result<Loaded, AuthError> {
    let roots = root_store(&material.trust_pem)?;
    let leaf_certs = parse_certs(&material.cert_pem)?;
    let key = parse_key(&material.key_pem)?;
    let leaf = CertifiedKey::from_der(leaf_certs.clone(), key.clone_key(), provider)?;
    let mut chain_certs = leaf_certs.clone();
    chain_certs.extend(parse_certs(&material.trust_pem)?);
    let chain = CertifiedKey::from_der(chain_certs, key, provider)?;
    let client_verifier =
        WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(AuthError::ClientVerifier)?;
    let server_verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|error| AuthError::Tls(rustls::Error::General(error.to_string())))?;
    // The node's own certificate must come from a CA it trusts, or its peers would refuse it.
    client_verifier
        .verify_client_cert(&leaf_certs[0], &leaf_certs[1..], now)
        .map_err(|error| AuthError::UntrustedCertificate {
            reason: error.to_string(),
        })?;
    Ok(Loaded {
        material: material.clone(),
        leaf: Arc::new(leaf),
        chain: Arc::new(chain),
        client_verifier,
        server_verifier,
    })
}

/// Picks the current certificate at each handshake.
#[derive(Debug)]
struct Identity {
    tls: Arc<ReloadableTls>,
    /// Whether to send the trusted CAs after the node certificate.
    chain: bool,
}

impl Identity {
    fn current(&self) -> Arc<CertifiedKey> {
        let loaded = self.tls.loaded();
        if self.chain {
            loaded.chain.clone()
        } else {
            loaded.leaf.clone()
        }
    }
}

impl ResolvesServerCert for Identity {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

impl rustls::client::ResolvesClientCert for Identity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Verifies the other side against the CAs trusted at the time of the handshake.
#[derive(Debug)]
struct Trust(Arc<ReloadableTls>);

impl ClientCertVerifier for Trust {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // Hints are optional; the trusted set changes, so none are sent.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let loaded = self.0.loaded();
        loaded
            .client_verifier
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0
            .provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl ServerCertVerifier for Trust {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let loaded = self.0.loaded();
        loaded.server_verifier.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        ClientCertVerifier::verify_tls12_signature(self, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        ClientCertVerifier::verify_tls13_signature(self, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        ClientCertVerifier::supported_verify_schemes(self)
    }
}

/// Whether the CA certificate `ca_pem` issued the node certificate `cert_pem` and it is
/// valid at `now` (a node tells which CA its certificate comes from).
pub fn issued_by(cert_pem: &str, ca_pem: &str, now: UnixTime) -> bool {
    let (Ok(roots), Ok(certs)) = (root_store(ca_pem), parse_certs(cert_pem)) else {
        return false;
    };
    let Ok(verifier) = WebPkiClientVerifier::builder_with_provider(roots, ring_provider()).build()
    else {
        return false;
    };
    verifier
        .verify_client_cert(&certs[0], &certs[1..], now)
        .is_ok()
}
