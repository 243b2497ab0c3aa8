//! The openraft type configuration and the aliases the rest of the crate uses.

use crate::command::{Command, CommandResult};

openraft::declare_raft_types!(
    /// Raft types of the cmdb: our commands, node ids as `u64`, node addresses as `NodeInfo`.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = u64,
        Node = model::NodeInfo,
);

/// The Raft handle of the cmdb.
pub type Raft = openraft::Raft<TypeConfig, crate::state_machine::StateMachine>;
/// A log entry.
pub type Entry = alias::EntryOf<TypeConfig>;
/// Openraft types specialised to [`TypeConfig`].
pub use openraft::alias;
/// A log id.
pub type LogId = alias::LogIdOf<TypeConfig>;
/// A vote.
pub type Vote = alias::VoteOf<TypeConfig>;
/// Snapshot metadata.
pub type SnapshotMeta = alias::SnapshotMetaOf<TypeConfig>;
/// A stored membership.
pub type StoredMembership = alias::StoredMembershipOf<TypeConfig>;
/// A membership.
pub type Membership = openraft::Membership<u64, model::NodeInfo>;
/// Raft metrics.
pub type RaftMetrics = openraft::RaftMetrics<TypeConfig>;
