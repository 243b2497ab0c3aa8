//! Versioned encodings of what the cmdb persists: log entries, the vote, and snapshots.
//!
//! Every record starts with a format byte. A new layout gets a new byte and a decoder
//! branch; old records stay readable, which `tests.rs` checks against stored fixtures.

use std::io;

use std::collections::{BTreeMap, VecDeque};

use model::{
    Event, Group, GroupId, LocationConstraint, NodeConfig, NodeId, Resource, ResourceId,
    ResourceStatus,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::db::{ClusterDb, ClusterMeta, KvTable, NodeRecord, TokenRecord};
use crate::resources::{OperationEntry, ResourceDb, StoredConstraint};
use crate::sessions::Sessions;

/// Format byte of records encoded with postcard, layout version 1.
pub(crate) const FORMAT_V1: u8 = 1;
/// Format byte of the cluster database in a snapshot since it gained client sessions.
pub(crate) const FORMAT_DB_V2: u8 = 2;
/// Format byte of the cluster database since resources gained bans and the unmanaged set.
pub(crate) const FORMAT_DB_V3: u8 = 3;
// --- types ---
/// Format byte of the cluster database since resources gained user-defined types.
pub(crate) const FORMAT_DB_V4: u8 = 4;
// --- app ---
/// Format byte of the cluster database since it gained application checkpoints.
pub(crate) const FORMAT_DB_V5: u8 = 5;
// --- mon ---
/// Format byte of the cluster database since it gained alert recipients and incidents.
pub(crate) const FORMAT_DB_V6: u8 = 6;
// --- promo ---
/// Format byte of the cluster database since resources gained promotable clones and
/// promotion scores.
pub(crate) const FORMAT_DB_V7: u8 = 7;
// --- users ---
/// Format byte of the cluster database since it gained users, login sessions and token
/// roles.
pub(crate) const FORMAT_DB_V8: u8 = 8;
/// Format byte of the cluster database since it gained fencing devices and history, the
/// cluster format, certificate records and token revocations; written only once the
/// cluster format allows it (`format::snapshot_layout`).
pub(crate) const FORMAT_DB_V9: u8 = 9;
/// Format byte of the cluster database since it gained the role programs of user types;
/// written only once the cluster format allows it (cluster format 3).
pub(crate) const FORMAT_DB_V10: u8 = 10;
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

/// The cluster database in a snapshot: magic, the layout byte the cluster format allows
/// (`format::snapshot_layout`: 10 from cluster format 3, 9 at format 2, else 8), postcard.
/// Versions 1 (before client sessions), 2 (before bans and unmanaged resources), 3 (before
/// user types), 4 (before checkpoints), 5 (before alerts and incidents), 6 (before
/// promotable resources), 7 (before users), 8 (before fencing devices, the cluster format
/// and certificate records) and 9 (before the role programs of user types) stay readable.
pub(crate) fn encode_db(db: &ClusterDb) -> io::Result<Vec<u8>> {
    let layout = crate::format::snapshot_layout(db.cluster_format());
    let mut body = postcard::to_stdvec(db).map_err(io::Error::other)?;
    // Layouts 8 and 9 are today's without the fields appended since (postcard writes a
    // struct's fields in place, in order): a node of 0.11.0, or of format 2, reads them.
    // Those fields are written only by commands of the newer formats, so nothing is lost.
    let tail = match layout {
        FORMAT_DB_V8 => Some(fields_since_layout_8(db)?),
        FORMAT_DB_V9 => Some(fields_since_layout_9(db)?),
        _ => None,
    };
    if let Some(tail) = tail {
        if !db.type_roles.is_empty() {
            return Err(io::Error::other(
                "role programs of user types exist below cluster format 3",
            ));
        }
        if !body.ends_with(&tail) {
            return Err(io::Error::other(
                "an older layout is not a prefix of today's",
            ));
        }
        body.truncate(body.len() - tail.len());
    }
    let mut out = SNAPSHOT_MAGIC.to_vec();
    out.push(layout);
    out.extend_from_slice(&body);
    Ok(out)
}

/// The encoding of the fields `ClusterDb` gained after layout 8, in order.
fn fields_since_layout_8(db: &ClusterDb) -> io::Result<Vec<u8>> {
    postcard::to_stdvec(&(&db.fencing, db.format, &db.certs, &db.type_roles))
        .map_err(io::Error::other)
}

/// The encoding of the fields `ClusterDb` gained after layout 9, in order.
fn fields_since_layout_9(db: &ClusterDb) -> io::Result<Vec<u8>> {
    postcard::to_stdvec(&db.type_roles).map_err(io::Error::other)
}

pub(crate) fn decode_db(bytes: &[u8]) -> io::Result<ClusterDb> {
    let body = bytes
        .strip_prefix(SNAPSHOT_MAGIC.as_slice())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an encluster snapshot"))?;
    match body.split_first() {
        Some((&FORMAT_DB_V10, rest)) => postcard::from_bytes(rest).map_err(invalid),
        Some((&FORMAT_DB_V9, rest)) => {
            let v9: ClusterDbV9 = postcard::from_bytes(rest).map_err(invalid)?;
            Ok(v9.into())
        }
        Some((&FORMAT_DB_V8, rest)) => {
            let v8: ClusterDbV8 = postcard::from_bytes(rest).map_err(invalid)?;
            Ok(v8.into())
        }
        Some((&FORMAT_DB_V7, rest)) => {
            let v7: ClusterDbV7 = postcard::from_bytes(rest).map_err(invalid)?;
            Ok(v7.into())
        }
        Some((&FORMAT_DB_V6, rest)) => {
            let v6: ClusterDbV6 = postcard::from_bytes(rest).map_err(invalid)?;
            Ok(v6.shared.into_db(v6.checkpoints, v6.monitoring))
        }
        Some((&FORMAT_DB_V5, rest)) => {
            let v5: ClusterDbV5 = postcard::from_bytes(rest).map_err(invalid)?;
            Ok(v5.shared.into_db(v5.checkpoints, Default::default()))
        }
        Some((&FORMAT_DB_V4, rest)) => {
            let v4: SharedV4 = postcard::from_bytes(rest).map_err(invalid)?;
            Ok(v4.into_db(Default::default(), Default::default()))
        }
        Some((&FORMAT_DB_V3, rest)) => {
            let v3: ClusterDbV3 = postcard::from_bytes(rest).map_err(invalid)?;
            Ok(v3.into())
        }
        Some((&FORMAT_DB_V2, rest)) => {
            let v2: ClusterDbV2 = postcard::from_bytes(rest).map_err(invalid)?;
            Ok(v2.into())
        }
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
    kv: KvTable,
    kv_revision: u64,
    nodes: BTreeMap<NodeId, NodeRecord>,
    next_node_id: u64,
    tokens: BTreeMap<String, TokenRecord>,
    events: VecDeque<Event>,
    next_event_seq: u64,
    resources: ResourceDbV2,
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
            resources: v1.resources.into(),
            sessions: Sessions::default(),
            checkpoints: Default::default(),
            monitoring: Default::default(),
            users: Default::default(),
            fencing: Default::default(),
            format: 0,
            certs: Default::default(),
            type_roles: Default::default(),
        }
    }
}

/// The cluster database's layout 2, before bans and unmanaged resources.
#[derive(Deserialize)]
struct ClusterDbV2 {
    meta: ClusterMeta,
    kv: KvTable,
    kv_revision: u64,
    nodes: BTreeMap<NodeId, NodeRecord>,
    next_node_id: u64,
    tokens: BTreeMap<String, TokenRecord>,
    events: VecDeque<Event>,
    next_event_seq: u64,
    resources: ResourceDbV2,
    sessions: Sessions,
}

impl From<ClusterDbV2> for ClusterDb {
    fn from(v2: ClusterDbV2) -> ClusterDb {
        ClusterDb {
            meta: v2.meta,
            kv: v2.kv,
            kv_revision: v2.kv_revision,
            nodes: v2.nodes,
            next_node_id: v2.next_node_id,
            tokens: v2.tokens,
            events: v2.events,
            next_event_seq: v2.next_event_seq,
            resources: v2.resources.into(),
            sessions: v2.sessions,
            checkpoints: Default::default(),
            monitoring: Default::default(),
            users: Default::default(),
            fencing: Default::default(),
            format: 0,
            certs: Default::default(),
            type_roles: Default::default(),
        }
    }
}

/// `ResourceDb` in database layouts 1 and 2, before `bans` and `unmanaged`.
#[derive(Deserialize)]
struct ResourceDbV2 {
    resources: BTreeMap<ResourceId, Resource>,
    groups: BTreeMap<GroupId, Group>,
    constraints: Vec<StoredConstraint>,
    moves: BTreeMap<ResourceId, Vec<LocationConstraint>>,
    node_config: BTreeMap<NodeId, NodeConfig>,
    status: BTreeMap<ResourceId, BTreeMap<NodeId, ResourceStatus>>,
    assignments: BTreeMap<NodeId, BTreeMap<ResourceId, u64>>,
    next_fencing_token: u64,
    operations: VecDeque<OperationEntry>,
    reported_tokens: BTreeMap<ResourceId, BTreeMap<NodeId, u64>>,
}

impl From<ResourceDbV2> for ResourceDb {
    fn from(v2: ResourceDbV2) -> ResourceDb {
        ResourceDb {
            resources: v2.resources,
            groups: v2.groups,
            constraints: v2.constraints,
            moves: v2.moves,
            node_config: v2.node_config,
            status: v2.status,
            assignments: v2.assignments,
            next_fencing_token: v2.next_fencing_token,
            operations: v2.operations,
            reported_tokens: v2.reported_tokens,
            bans: BTreeMap::new(),
            unmanaged: Default::default(),
            types: BTreeMap::new(),
            promotion_scores: BTreeMap::new(),
            promotable: BTreeMap::new(),
        }
    }
}

// --- types ---
/// The cluster database's layout 3, before user-defined types.
#[derive(Deserialize)]
struct ClusterDbV3 {
    meta: ClusterMeta,
    kv: KvTable,
    kv_revision: u64,
    nodes: BTreeMap<NodeId, NodeRecord>,
    next_node_id: u64,
    tokens: BTreeMap<String, TokenRecord>,
    events: VecDeque<Event>,
    next_event_seq: u64,
    resources: ResourceDbV3,
    sessions: Sessions,
}

/// `ResourceDb` in database layout 3, before `types`.
#[derive(Deserialize)]
struct ResourceDbV3 {
    resources: BTreeMap<ResourceId, Resource>,
    groups: BTreeMap<GroupId, Group>,
    constraints: Vec<StoredConstraint>,
    moves: BTreeMap<ResourceId, Vec<LocationConstraint>>,
    node_config: BTreeMap<NodeId, NodeConfig>,
    status: BTreeMap<ResourceId, BTreeMap<NodeId, ResourceStatus>>,
    assignments: BTreeMap<NodeId, BTreeMap<ResourceId, u64>>,
    next_fencing_token: u64,
    operations: VecDeque<OperationEntry>,
    reported_tokens: BTreeMap<ResourceId, BTreeMap<NodeId, u64>>,
    bans: BTreeMap<ResourceId, Vec<LocationConstraint>>,
    unmanaged: std::collections::BTreeSet<ResourceId>,
}

impl From<ClusterDbV3> for ClusterDb {
    fn from(v3: ClusterDbV3) -> ClusterDb {
        let resources = v3.resources;
        ClusterDb {
            meta: v3.meta,
            kv: v3.kv,
            kv_revision: v3.kv_revision,
            nodes: v3.nodes,
            next_node_id: v3.next_node_id,
            tokens: v3.tokens,
            events: v3.events,
            next_event_seq: v3.next_event_seq,
            resources: ResourceDb {
                resources: resources.resources,
                groups: resources.groups,
                constraints: resources.constraints,
                moves: resources.moves,
                node_config: resources.node_config,
                status: resources.status,
                assignments: resources.assignments,
                next_fencing_token: resources.next_fencing_token,
                operations: resources.operations,
                reported_tokens: resources.reported_tokens,
                bans: resources.bans,
                unmanaged: resources.unmanaged,
                types: BTreeMap::new(),
                promotion_scores: BTreeMap::new(),
                promotable: BTreeMap::new(),
            },
            sessions: v3.sessions,
            checkpoints: Default::default(),
            monitoring: Default::default(),
            users: Default::default(),
            fencing: Default::default(),
            format: 0,
            certs: Default::default(),
            type_roles: Default::default(),
        }
    }
}

// --- promo ---
/// `ResourceDb` in database layouts 4 to 6, before `promotion_scores` and `promotable`.
#[derive(Deserialize)]
struct ResourceDbV6 {
    resources: BTreeMap<ResourceId, Resource>,
    groups: BTreeMap<GroupId, Group>,
    constraints: Vec<StoredConstraint>,
    moves: BTreeMap<ResourceId, Vec<LocationConstraint>>,
    node_config: BTreeMap<NodeId, NodeConfig>,
    status: BTreeMap<ResourceId, BTreeMap<NodeId, ResourceStatus>>,
    assignments: BTreeMap<NodeId, BTreeMap<ResourceId, u64>>,
    next_fencing_token: u64,
    operations: VecDeque<OperationEntry>,
    reported_tokens: BTreeMap<ResourceId, BTreeMap<NodeId, u64>>,
    bans: BTreeMap<ResourceId, Vec<LocationConstraint>>,
    unmanaged: std::collections::BTreeSet<ResourceId>,
    types: BTreeMap<String, model::UserType>,
}

impl From<ResourceDbV6> for ResourceDb {
    fn from(resources: ResourceDbV6) -> ResourceDb {
        ResourceDb {
            resources: resources.resources,
            groups: resources.groups,
            constraints: resources.constraints,
            moves: resources.moves,
            node_config: resources.node_config,
            status: resources.status,
            assignments: resources.assignments,
            next_fencing_token: resources.next_fencing_token,
            operations: resources.operations,
            reported_tokens: resources.reported_tokens,
            bans: resources.bans,
            unmanaged: resources.unmanaged,
            types: resources.types,
            promotion_scores: BTreeMap::new(),
            promotable: BTreeMap::new(),
        }
    }
}

/// The fields layouts 4 to 6 share, in order: layout 4 is exactly these, 5 adds
/// `checkpoints` and 6 `monitoring` (postcard writes a nested struct's fields in place,
/// so a layout reads as this struct followed by what it added).
#[derive(Deserialize)]
struct SharedV4 {
    meta: ClusterMeta,
    kv: KvTable,
    kv_revision: u64,
    nodes: BTreeMap<NodeId, NodeRecord>,
    next_node_id: u64,
    tokens: BTreeMap<String, TokenRecord>,
    events: VecDeque<Event>,
    next_event_seq: u64,
    resources: ResourceDbV6,
    sessions: Sessions,
}

impl SharedV4 {
    fn into_db(
        self,
        checkpoints: crate::checkpoints::Checkpoints,
        monitoring: crate::MonitorDb,
    ) -> ClusterDb {
        ClusterDb {
            meta: self.meta,
            kv: self.kv,
            kv_revision: self.kv_revision,
            nodes: self.nodes,
            next_node_id: self.next_node_id,
            tokens: self.tokens,
            events: self.events,
            next_event_seq: self.next_event_seq,
            resources: self.resources.into(),
            sessions: self.sessions,
            checkpoints,
            monitoring,
            users: Default::default(),
            fencing: Default::default(),
            format: 0,
            certs: Default::default(),
            type_roles: Default::default(),
        }
    }
}

// --- mon ---
/// The cluster database's layout 5, before alert recipients and incidents.
#[derive(Deserialize)]
struct ClusterDbV5 {
    shared: SharedV4,
    checkpoints: crate::checkpoints::Checkpoints,
}

/// The cluster database's layout 6, before promotable resources.
#[derive(Deserialize)]
struct ClusterDbV6 {
    shared: SharedV4,
    checkpoints: crate::checkpoints::Checkpoints,
    monitoring: crate::MonitorDb,
}

// --- users ---
/// The cluster database's layout 7, before users, login sessions and token roles.
#[derive(Deserialize)]
struct ClusterDbV7 {
    meta: ClusterMeta,
    kv: KvTable,
    kv_revision: u64,
    nodes: BTreeMap<NodeId, NodeRecord>,
    next_node_id: u64,
    tokens: BTreeMap<String, TokenRecord>,
    events: VecDeque<Event>,
    next_event_seq: u64,
    resources: ResourceDb,
    sessions: Sessions,
    checkpoints: crate::checkpoints::Checkpoints,
    monitoring: crate::MonitorDb,
}

impl From<ClusterDbV7> for ClusterDb {
    fn from(v7: ClusterDbV7) -> ClusterDb {
        ClusterDb {
            meta: v7.meta,
            kv: v7.kv,
            kv_revision: v7.kv_revision,
            nodes: v7.nodes,
            next_node_id: v7.next_node_id,
            tokens: v7.tokens,
            events: v7.events,
            next_event_seq: v7.next_event_seq,
            resources: v7.resources,
            sessions: v7.sessions,
            checkpoints: v7.checkpoints,
            monitoring: v7.monitoring,
            users: Default::default(),
            fencing: Default::default(),
            format: 0,
            certs: Default::default(),
            type_roles: Default::default(),
        }
    }
}

// --- fence ---
/// The cluster database's layout 8, before fencing devices: today's fields but the last.
#[derive(Deserialize)]
struct ClusterDbV8 {
    v7: ClusterDbV7,
    users: crate::users::UserDb,
}

impl From<ClusterDbV8> for ClusterDb {
    fn from(v8: ClusterDbV8) -> ClusterDb {
        ClusterDb {
            users: v8.users,
            ..v8.v7.into()
        }
    }
}

// --- roles ---
/// The cluster database's layout 9, before the role programs of user types.
#[derive(Deserialize)]
struct ClusterDbV9 {
    v8: ClusterDbV8,
    fencing: crate::fencing::FenceDb,
    format: u32,
    certs: crate::certs::CertDb,
}

impl From<ClusterDbV9> for ClusterDb {
    fn from(v9: ClusterDbV9) -> ClusterDb {
        ClusterDb {
            fencing: v9.fencing,
            format: v9.format,
            certs: v9.certs,
            ..v9.v8.into()
        }
    }
}
