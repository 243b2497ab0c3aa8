//! Cluster events: node transitions, membership changes and operator actions, kept in a
//! bounded log in the cmdb (newest kept).

use crate::{Millis, NodeHealth, NodeId, NodeRole};
use serde::{Deserialize, Serialize};

/// One entry of the cluster's event log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the event log; increases by one per event and is never reused.
    pub seq: u64,
    /// When the master observed the event, in milliseconds since the Unix epoch.
    pub at_ms: Millis,
    /// What happened.
    pub kind: EventKind,
}

/// What an event records. Persisted in the Raft log: append variants, never reorder.
/// Externally tagged on purpose: the compact log encoding cannot read internally tagged enums.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The failure detector changed a node's health.
    NodeHealth {
        node: NodeId,
        from: NodeHealth,
        to: NodeHealth,
        silence_ms: u64,
    },
    /// A node joined the cluster.
    NodeJoined { node: NodeId, name: String },
    /// A node was removed from the cluster.
    NodeRemoved { node: NodeId, reason: String },
    /// A node's Raft role changed (dynamic quorum promotes learners and shrinks voters).
    NodeRole {
        node: NodeId,
        role: NodeRole,
        reason: String,
    },
    /// A new master took over.
    MasterElected { node: NodeId, term: u64 },
    /// The operator forced quorum on a surviving minority.
    QuorumForced { node: NodeId, voters: Vec<NodeId> },
    /// The master granted (`start`), withdrew (`stop`) or wrote off (`lost`) a resource on a
    /// node, with the scheduler's reason.
    ResourceAction {
        resource: crate::ResourceId,
        node: NodeId,
        action: String,
        reason: String,
    },
}

impl EventKind {
    /// A one-line description for humans (CLI and UI).
    pub fn describe(&self) -> String {
        match self {
            EventKind::NodeHealth {
                node,
                from,
                to,
                silence_ms,
            } => {
                format!("node {node} {from} -> {to} (silent {silence_ms} ms)")
            }
            EventKind::NodeJoined { node, name } => format!("node {node} ({name}) joined"),
            EventKind::NodeRemoved { node, reason } => format!("node {node} removed: {reason}"),
            EventKind::NodeRole { node, role, reason } => {
                format!("node {node} is now a {role}: {reason}")
            }
            EventKind::MasterElected { node, term } => {
                format!("node {node} is master (term {term})")
            }
            EventKind::QuorumForced { node, voters } => {
                format!("quorum forced by node {node}; voters now {voters:?}")
            }
            EventKind::ResourceAction {
                resource,
                node,
                action,
                reason,
            } => {
                format!("{action} {resource} on node {node}: {reason}")
            }
        }
    }
}
