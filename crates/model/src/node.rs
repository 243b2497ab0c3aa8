//! What the cluster knows about a node: where to reach it, its vote, and its health.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How to reach a node. Stored in the Raft membership and in the cmdb.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NodeInfo {
    /// Human-readable name, unique in the cluster (defaults to `node<id>`).
    pub name: String,
    /// `host:port` of the mutually authenticated peer listener (Raft and heartbeats).
    pub peer_addr: String,
    /// `host:port` of the HTTP API listener.
    pub api_addr: String,
}

/// A node's health as decided by the master's failure detector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum NodeHealth {
    /// Heartbeats arrive on time.
    Online,
    /// Heartbeats are late, but not yet for long enough to declare the node down.
    Suspect,
    /// Silent for longer than the down timeout: its work may be taken over.
    Down,
}

impl fmt::Display for NodeHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeHealth::Online => "online",
            NodeHealth::Suspect => "suspect",
            NodeHealth::Down => "down",
        })
    }
}

/// A node's part in the Raft membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    /// Votes in elections and counts towards the quorum.
    Voter,
    /// Receives the replicated log but does not vote.
    Learner,
}

impl fmt::Display for NodeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeRole::Voter => "voter",
            NodeRole::Learner => "learner",
        })
    }
}

impl fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (peer {}, api {})",
            self.name, self.peer_addr, self.api_addr
        )
    }
}
