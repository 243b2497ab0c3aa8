//! TLS for a node that joins: before it has the cluster CA, it trusts the CA pinned by its
//! join token, so the token's secret is only ever sent to the real cluster.
//!
//! The server must present its chain with the CA certificate after its own (pass
//! `cert_pem + ca_pem` as the server's `cert_pem`). The client finds the chain certificate
//! whose fingerprint starts with the token's prefix and verifies the server against it as the
//! only trust anchor, with the usual name, expiry and signature checks.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::ca::fingerprint_der;
use crate::error::AuthError;
use crate::limits::JOIN_TOKEN_CA_PREFIX_LEN;
use crate::tls::ring_provider;
use crate::token::{JoinToken, is_lower_hex};

/// Client config for a joining node: trusts only a server whose chain contains the CA pinned
/// by `join_token`, and presents no client certificate.
///
/// The connection is then authenticated, so the CA PEM the server returns can be stored after
/// checking `join_token.pins_ca(&fingerprint_pem(&ca_pem)?)`.
pub fn join_client_config(join_token: &JoinToken) -> Result<Arc<ClientConfig>, AuthError> {
    // The fields are public, so a hand-built token could carry a short prefix that pins nothing.
    let prefix = &join_token.ca_fingerprint_prefix;
    if prefix.len() != JOIN_TOKEN_CA_PREFIX_LEN || !is_lower_hex(prefix) {
        return Err(AuthError::MalformedJoinToken {
            reason: "the CA fingerprint part is not 16 lower-case hex characters",
        });
    }
    let provider = ring_provider();
    let verifier = PinnedCaVerifier {
        ca_fingerprint_prefix: join_token.ca_fingerprint_prefix.clone(),
        provider: provider.clone(),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct PinnedCaVerifier {
    ca_fingerprint_prefix: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // join_client_config checked the prefix; a shorter one would pin nothing.
        assert_eq!(self.ca_fingerprint_prefix.len(), JOIN_TOKEN_CA_PREFIX_LEN);
        let pinned_ca = intermediates
            .iter()
            .find(|der| fingerprint_der(der).starts_with(&self.ca_fingerprint_prefix))
            .ok_or(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ))?;
        let mut roots = RootCertStore::empty();
        roots.add(pinned_ca.clone().into_owned())?;
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|error| rustls::Error::General(error.to_string()))?;
        verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
