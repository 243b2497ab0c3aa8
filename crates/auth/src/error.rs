//! The one error type of this crate; every message names the problem and how to fix it.

/// What went wrong while handling certificates, keys, tokens or TLS configuration.
///
/// Messages never contain key material or token secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    #[error("{what} is not valid PEM: {reason}; pass the file written by `encluster init`")]
    InvalidPem { what: &'static str, reason: String },
    #[error(
        "the CA key does not match the CA certificate; \
        pass the key written with this certificate"
    )]
    CaKeyMismatch,
    #[error(
        "the certificate given as cluster CA is not a CA certificate; \
        pass ca.crt, not a node certificate"
    )]
    NotACa,
    #[error(
        "certificate signing request is invalid: {reason}; \
        create a new one with new_key_and_csr"
    )]
    InvalidCsr { reason: String },
    #[error(
        "subject alternative name {san:?} is neither an IP address nor an ASCII DNS name; \
        fix the node's addresses"
    )]
    InvalidSan { san: String },
    #[error(
        "{count} subject alternative names given, at most {max} are allowed; \
        pass only the node's own addresses"
    )]
    TooManySans { count: usize, max: usize },
    #[error(
        "client name {name:?} is not usable in a certificate; \
        use printable ASCII without control characters"
    )]
    InvalidClientName { name: String },
    #[error("could not create a certificate: {0}")]
    Certificate(#[source] rcgen::Error),
    #[error(
        "join token is malformed ({reason}): expected enc_join_<16 hex>_<64 hex>; \
        copy it again from `encluster init` output"
    )]
    MalformedJoinToken { reason: &'static str },
    #[error(
        "could not build the TLS configuration: {0}; \
        check that the certificate and key belong together"
    )]
    Tls(#[source] rustls::Error),
    #[error(
        "could not build the client certificate verifier: {0}; \
        check the cluster CA certificate"
    )]
    ClientVerifier(#[source] rustls::server::VerifierBuilderError),
    // --- rotate ---
    #[error(
        "the node certificate is not from a trusted CA or not valid now ({reason}); \
        issue it from the cluster CA (`encluster cert rotate`)"
    )]
    UntrustedCertificate { reason: String },
}

impl From<rcgen::Error> for AuthError {
    fn from(error: rcgen::Error) -> Self {
        AuthError::Certificate(error)
    }
}

impl From<rustls::Error> for AuthError {
    fn from(error: rustls::Error) -> Self {
        AuthError::Tls(error)
    }
}
