//! Versioned encodings of what the cmdb persists: log entries, the vote, and snapshots.
//!
//! Every record starts with a format byte. A new layout gets a new byte and a decoder
//! branch; old records stay readable, which `tests.rs` checks against stored fixtures.

use std::io;

use std::collections::{BTreeMap, VecDeque};

use model::{Event, NodeId};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::db::{ClusterDb, ClusterMeta, NodeRecord, TokenRecord};
use crate::resources::ResourceDb;
use crate::sessions::Sessions;

/// Format byte of records encoded with postcard, layout version 1.
pub(crate) const FORMAT_V1: u8 = 1;
/// Format byte of the cluster database in a snapshot since it gained client sessions.
pub(crate) const FORMAT_DB_V2: u8 = 2;
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

/// The cluster database in a snapshot: magic, `FORMAT_DB_V2`, postcard. Version 1 (before
/// client sessions) stays readable.
pub(crate) fn encode_db(db: &ClusterDb) -> io::Result<Vec<u8>> {
    let mut out = SNAPSHOT_MAGIC.to_vec();
    out.push(FORMAT_DB_V2);
    out.extend_from_slice(&postcard::to_stdvec(db).map_err(io::Error::other)?);
    Ok(out)
}

pub(crate) fn decode_db(bytes: &[u8]) -> io::Result<ClusterDb> {
    let body = bytes
        .strip_prefix(SNAPSHOT_MAGIC.as_slice())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an encluster snapshot"))?;
    match body.split_first() {
        Some((&FORMAT_DB_V2, rest)) => postcard::from_bytes(rest).map_err(invalid),
        Some((&FORMAT_V1, rest)) => {
            let v1: ClusterDbV1 = postcard::from_bytes(rest).map_err(invalid)?;
            Ok(v1.into())
        }
        _ => decode::<ClusterDb>(body),
    }
}

/// The cluster database's layout 1, before client sessions.
#[derive(Deserialize)]
struct ClusterDbV1 {
    meta: ClusterMeta,
    kv: BTreeMap<String, (String, u64)>,
    kv_revision: u64,
    nodes: BTreeMap<NodeId, NodeRecord>,
    next_node_id: u64,
    tokens: BTreeMap<String, TokenRecord>,
    events: VecDeque<Event>,
    next_event_seq: u64,
    resources: ResourceDb,
}

impl From<ClusterDbV1> for ClusterDb {
    fn from(v1: ClusterDbV1) -> ClusterDb {
        ClusterDb {
            meta: v1.meta,
            kv: v1.kv,
            kv_revision: v1.kv_revision,
            nodes: v1.nodes,
            next_node_id: v1.next_node_id,
            tokens: v1.tokens,
            events: v1.events,
            next_event_seq: v1.next_event_seq,
            resources: v1.resources,
            sessions: Sessions::default(),
        }
    }
}
