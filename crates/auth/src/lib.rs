//! The cluster's security material: the cluster CA, node and client certificates, join and
//! API tokens, users' password hashes and login sessions, and the rustls configurations for
//! mutually authenticated TLS.
//!
//! This crate must never do network IO, read files or configuration, or log: callers pass PEM
//! strings in and store what comes out. Secrets (private keys, token secrets) never appear in
//! `Debug` output or error messages. Only SHA-256 hashes of tokens are meant to be stored.

mod ca;
mod error;
mod identity;
mod join;
mod limits;
mod password;
mod reload;
mod tls;
mod token;

#[cfg(test)]
mod tests;

pub use ca::{
    CertifiedKey, ClusterCa, bundle_fingerprints, ca_validity_default, cert_validity,
    fingerprint_der, fingerprint_pem, leaf_validity_default, new_key_and_csr,
};
pub use error::AuthError;
pub use identity::node_id_from_cert_der;
pub use join::join_client_config;
pub use password::{
    WeakPassword, check_new_password, csrf_matches, csrf_token, generate_login_secret,
    hash_password, is_login_secret, is_password_hash, verify_password,
};
pub use reload::{ReloadableTls, TlsMaterial, issued_by};
pub use tls::{
    api_server_config, api_server_config_with_client_ca, client_config, peer_server_config,
};
pub use token::{
    JoinToken, generate_api_token, generate_join_token, parse_join_token, token_hash, token_matches,
};
