//! Versioned encodings of what the cmdb persists: log entries, the vote, and snapshots.
//!
//! Every record starts with a format byte. A new layout gets a new byte and a decoder
//! branch; old records stay readable, which `tests.rs` checks against stored fixtures.

use std::io;

use serde::{Serialize, de::DeserializeOwned};

/// Format byte of records encoded with postcard, layout version 1.
pub(crate) const FORMAT_V1: u8 = 1;
/// Magic prefix of snapshot files, so a stray file is never mistaken for a snapshot.
pub(crate) const SNAPSHOT_MAGIC: &[u8; 8] = b"ENCSNAP\0";

pub(crate) fn encode<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    let mut out = vec![FORMAT_V1];
    let body = postcard::to_stdvec(value).map_err(io::Error::other)?;
    out.extend_from_slice(&body);
    Ok(out)
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    match bytes.split_first() {
        Some((&FORMAT_V1, body)) => postcard::from_bytes(body).map_err(invalid),
        Some((format, _)) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown record format {format}; this encluster is too old for its data"),
        )),
        None => Err(io::Error::new(io::ErrorKind::InvalidData, "empty record")),
    }
}

/// A snapshot file: magic, then one versioned record.
pub(crate) fn encode_snapshot<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    let mut out = SNAPSHOT_MAGIC.to_vec();
    out.extend_from_slice(&encode(value)?);
    Ok(out)
}

pub(crate) fn decode_snapshot<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    let body = bytes
        .strip_prefix(SNAPSHOT_MAGIC.as_slice())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "not an encluster snapshot (bad magic)",
            )
        })?;
    decode(body)
}

fn invalid(error: postcard::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}
