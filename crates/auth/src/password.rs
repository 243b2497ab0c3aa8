//! Users' passwords and login sessions (issue 14).
//!
//! Passwords are stored only as argon2id hashes in PHC strings (`$argon2id$v=19$...`, the
//! OWASP parameters argon2's defaults give: 19 MiB, 2 passes). A login session is a random
//! secret that travels only in the `encluster_session` cookie; the cmdb keeps its SHA-256
//! ([`crate::token_hash`]). Its CSRF token is derived from the secret, so the server keeps
//! nothing more and a reader of the cmdb cannot forge one.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::limits::{PASSWORD_BYTES_MAX, PASSWORD_BYTES_MIN, TOKEN_SECRET_BYTES};
use crate::token::is_lower_hex;

/// A password that may not be set, with what is wrong and what is allowed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "password {why}: use {PASSWORD_BYTES_MIN} to {PASSWORD_BYTES_MAX} bytes \
     (a passphrase of a few words is best)"
)]
pub struct WeakPassword {
    /// What is wrong with it.
    pub why: &'static str,
}

/// Checks a new password: long enough to resist guessing, short enough to hash cheaply.
pub fn check_new_password(password: &str) -> Result<(), WeakPassword> {
    if password.len() < PASSWORD_BYTES_MIN {
        return Err(WeakPassword {
            why: "is too short",
        });
    }
    if password.len() > PASSWORD_BYTES_MAX {
        return Err(WeakPassword { why: "is too long" });
    }
    if password.trim().len() != password.len() {
        return Err(WeakPassword {
            why: "starts or ends with white space (often a stray newline)",
        });
    }
    Ok(())
}

/// The argon2id hash of `password` with a fresh random salt, as a PHC string. Takes tens
/// of milliseconds and 19 MiB on purpose: run it off the async runtime.
///
/// Panics only if the operating system cannot give randomness, which is fatal anyway.
pub fn hash_password(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2 with default parameters hashes any password given an OS RNG")
        .to_string()
}

/// Whether `password` matches the stored PHC string `hash`. A hash that does not parse
/// matches nothing. As slow as [`hash_password`].
pub fn verify_password(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Whether `hash` is an argon2id PHC string (what the cmdb accepts as a stored password).
pub fn is_password_hash(hash: &str) -> bool {
    hash.starts_with("$argon2id$") && PasswordHash::new(hash).is_ok()
}

/// A fresh login-session secret: 64 lower-case hex characters (256 bits).
pub fn generate_login_secret() -> String {
    let mut secret = [0u8; TOKEN_SECRET_BYTES];
    rand::fill(&mut secret[..]);
    hex::encode(secret)
}

/// Whether `text` has the shape of a login secret (checked before anything is hashed).
pub fn is_login_secret(text: &str) -> bool {
    text.len() == 2 * TOKEN_SECRET_BYTES && is_lower_hex(text)
}

/// The CSRF token of the login session with this secret.
pub fn csrf_token(login_secret: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"encluster csrf\0");
    digest.update(login_secret.as_bytes());
    hex::encode(digest.finalize())
}

/// Whether `given` is the CSRF token of the login session with this secret, compared in
/// constant time.
pub fn csrf_matches(login_secret: &str, given: &str) -> bool {
    csrf_token(login_secret)
        .as_bytes()
        .ct_eq(given.as_bytes())
        .into()
}
