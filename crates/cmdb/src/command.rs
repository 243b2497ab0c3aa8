//! Commands: every change to the cluster database is one of these, through the Raft log.
//!
//! Persisted format: variants are only ever appended, never reordered or removed, because
//! postcard encodes the variant index (see `codec` for the version header).

use model::{EventKind, Millis, NodeId, NodeInfo};
use serde::{Deserialize, Serialize};

use crate::db::TokenKind;

/// A change to the cluster database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Set a key of the key/value table.
    Put { key: String, value: String },
    /// Remove a key of the key/value table.
    Delete { key: String },
    /// Set the cluster's identity once, at bootstrap. Later attempts are rejected.
    InitCluster {
        name: String,
        ca_cert_pem: String,
        ca_key_pem: String,
        at_ms: Millis,
    },
    /// Store the hash of an API or join token.
    AddToken {
        hash: String,
        kind: TokenKind,
        label: String,
        at_ms: Millis,
    },
    /// Reserve the next node id (ids are never reused).
    AllocateNodeId,
    /// Add or update a node's address record.
    UpsertNode {
        id: NodeId,
        info: NodeInfo,
        at_ms: Millis,
    },
    /// Forget a node.
    RemoveNode { id: NodeId },
    /// Append events to the bounded event log; `at_ms` is the master's clock.
    RecordEvents {
        at_ms: Millis,
        events: Vec<EventKind>,
    },
    /// Record health transitions decided by the master's failure detector, with their events.
    SetNodeHealth {
        at_ms: Millis,
        changes: Vec<(NodeId, model::NodeHealth, u64)>,
    },
}

/// The result of applying a command. Invalid commands get `Rejected`, never a panic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum CommandResult {
    /// Applied; nothing to report.
    #[default]
    Ok,
    /// A key/value write took effect at this revision.
    Revision(u64),
    /// The node id reserved by `AllocateNodeId`.
    NodeId(NodeId),
    /// The command was deterministic-ly refused; the reason is for the operator.
    Rejected(String),
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Put { key, .. } => write!(f, "put {key}"),
            Command::Delete { key } => write!(f, "delete {key}"),
            Command::InitCluster { name, .. } => write!(f, "init cluster {name}"),
            Command::AddToken { kind, label, .. } => write!(f, "add {kind:?} token {label}"),
            Command::AllocateNodeId => f.write_str("allocate node id"),
            Command::UpsertNode { id, .. } => write!(f, "upsert node {id}"),
            Command::RemoveNode { id } => write!(f, "remove node {id}"),
            Command::RecordEvents { events, .. } => write!(f, "record {} events", events.len()),
            Command::SetNodeHealth { changes, .. } => {
                write!(f, "set health of {} nodes", changes.len())
            }
        }
    }
}

impl std::fmt::Display for CommandResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}
