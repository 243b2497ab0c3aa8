//! Limits and lifetimes for certificates and tokens, in one place so they can be reviewed together.

use std::time::Duration;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// The cluster CA outlives every certificate it issues.
pub(crate) const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * DAY.as_secs());

/// Node and client certificates; rotation is a later concern, so they last long.
pub(crate) const LEAF_VALIDITY: Duration = Duration::from_secs(5 * 365 * DAY.as_secs());

/// Certificates start slightly in the past so that small clock skew between nodes does not
/// make a fresh certificate "not yet valid".
pub(crate) const NOT_BEFORE_BACKDATE: Duration = Duration::from_secs(60 * 60);

/// A node needs a handful of addresses and names; more suggests a bug in the caller.
pub(crate) const SAN_COUNT_MAX: usize = 64;

/// Random bytes in every token secret (256 bits), hex encoded to twice as many characters.
pub(crate) const TOKEN_SECRET_BYTES: usize = 32;

/// How much of the CA fingerprint (hex characters) a join token carries for pinning.
pub(crate) const JOIN_TOKEN_CA_PREFIX_LEN: usize = 16;

/// Random bytes in a certificate serial number; RFC 5280 allows at most 20 octets.
pub(crate) const SERIAL_BYTES: usize = 16;

/// Shortest password a user may set.
pub(crate) const PASSWORD_BYTES_MIN: usize = 8;
/// Longest password a user may set; argon2 would hash more, but nobody types it.
pub(crate) const PASSWORD_BYTES_MAX: usize = 1024;

const _: () = assert!(PASSWORD_BYTES_MIN < PASSWORD_BYTES_MAX);
const _: () = assert!(CA_VALIDITY.as_secs() > LEAF_VALIDITY.as_secs());
const _: () = assert!(NOT_BEFORE_BACKDATE.as_secs() < DAY.as_secs());
const _: () = assert!(JOIN_TOKEN_CA_PREFIX_LEN <= 64);
const _: () = assert!(SERIAL_BYTES <= 20);
