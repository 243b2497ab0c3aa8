//! API tokens and join tokens: opaque random secrets of which only SHA-256 hashes are stored.
//!
//! API tokens look like `enc_api_<64 hex>`. Join tokens look like
//! `enc_join_<first 16 hex of the CA fingerprint>_<64 hex>`, so a joining node can pin the
//! cluster CA before it sends the secret (like kubeadm's discovery token CA hash).
//! The replicated database stores `token_hash(token)` of the whole token string.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::AuthError;
use crate::limits::{JOIN_TOKEN_CA_PREFIX_LEN, TOKEN_SECRET_BYTES};

const API_TOKEN_PREFIX: &str = "enc_api_";
const JOIN_TOKEN_PREFIX: &str = "enc_join_";

/// A parsed join token.
///
/// `Debug` hides the secret so that logging a parsed token leaks nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// The first 16 lower-case hex characters of the cluster CA's fingerprint.
    pub ca_fingerprint_prefix: String,
    /// 64 lower-case hex characters of randomness.
    pub secret: String,
}

impl std::fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinToken")
            .field("ca_fingerprint_prefix", &self.ca_fingerprint_prefix)
            .field("secret", &"<secret>")
            .finish()
    }
}

impl JoinToken {
    /// Whether `ca_fingerprint` (as from [`crate::ClusterCa::fingerprint`]) is the CA this
    /// token pins. A joining node must check this before it sends the token anywhere.
    pub fn pins_ca(&self, ca_fingerprint: &str) -> bool {
        ca_fingerprint.len() == 64 && ca_fingerprint.starts_with(&self.ca_fingerprint_prefix)
    }
}

/// A fresh API token, `enc_api_<64 hex>`.
pub fn generate_api_token() -> String {
    format!("{API_TOKEN_PREFIX}{}", random_secret_hex())
}

/// A fresh join token that pins the CA with this fingerprint (64 lower-case hex characters).
///
/// Panics if `ca_fingerprint` is not a fingerprint: that is a programmer error.
pub fn generate_join_token(ca_fingerprint: &str) -> String {
    assert_eq!(
        ca_fingerprint.len(),
        64,
        "a CA fingerprint is 64 hex characters"
    );
    assert!(
        is_lower_hex(ca_fingerprint),
        "a CA fingerprint is lower-case hex"
    );
    let prefix = &ca_fingerprint[..JOIN_TOKEN_CA_PREFIX_LEN];
    format!("{JOIN_TOKEN_PREFIX}{prefix}_{}", random_secret_hex())
}

/// SHA-256 of the token, lower-case hex; this is what gets stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` hashes to `hash`, compared in constant time.
pub fn token_matches(token: &str, hash: &str) -> bool {
    let token_hash = token_hash(token);
    // Only the length (public: always 64) can short-circuit; the bytes compare in constant time.
    token_hash.as_bytes().ct_eq(hash.as_bytes()).into()
}

/// Splits a join token into its CA pin and secret, with a clear error if it is malformed.
///
/// Surrounding whitespace (from copy and paste) is ignored.
pub fn parse_join_token(token: &str) -> Result<JoinToken, AuthError> {
    let malformed = |reason| AuthError::MalformedJoinToken { reason };
    let token = token.trim();
    let rest = token.strip_prefix(JOIN_TOKEN_PREFIX).ok_or_else(|| {
        if token.starts_with(API_TOKEN_PREFIX) {
            malformed("this is an API token, not a join token")
        } else {
            malformed("it does not start with enc_join_")
        }
    })?;
    let (prefix, secret) = rest.split_once('_').ok_or(malformed(
        "the separator after the CA fingerprint is missing",
    ))?;
    if prefix.len() != JOIN_TOKEN_CA_PREFIX_LEN || !is_lower_hex(prefix) {
        return Err(malformed(
            "the CA fingerprint part is not 16 lower-case hex characters",
        ));
    }
    if secret.len() != 2 * TOKEN_SECRET_BYTES || !is_lower_hex(secret) {
        return Err(malformed(
            "the secret part is not 64 lower-case hex characters",
        ));
    }
    Ok(JoinToken {
        ca_fingerprint_prefix: prefix.to_owned(),
        secret: secret.to_owned(),
    })
}

fn random_secret_hex() -> String {
    let mut secret = [0u8; TOKEN_SECRET_BYTES];
    // The thread RNG is a CSPRNG seeded from the operating system.
    rand::fill(&mut secret[..]);
    hex::encode(secret)
}

pub(crate) fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}
