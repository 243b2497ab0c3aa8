//! The replicated cluster database (cmdb) on openraft.
//!
//! It holds the cluster's nodes, tokens, key/value data and bounded event log as one
//! in-memory [`ClusterDb`] replicated by Raft: every change is a [`Command`] in the log,
//! the log lives in redb ([`LogStore`]), and the state is persisted through versioned
//! snapshots ([`StateMachine`]). The Raft leader is the cluster's master.
//!
//! This crate must never do network IO or read a clock: the transport is the caller's
//! `RaftNetworkFactory`, and every timestamp arrives inside a command. `ClusterDb::apply`
//! must accept every committed command and never panic, because a panicking entry would
//! crash every replica that replays it.

mod certs;
mod checkpoints;
mod codec;
// --- openapi --- The fuzz targets' entry points (issue 15).
mod command;
mod db;
mod fencing;
mod format;
#[doc(hidden)]
pub mod fuzzing;
mod incidents;
pub mod latency;
mod limits;
mod log_store;
mod monitoring;
mod raft;
mod recovery;
mod resources;
mod sessions;
mod state_machine;
mod type_roles;
mod types;
mod users;

pub use certs::{CertDb, NextCa, NodeCert, RevokedToken, short};
pub use checkpoints::{Checkpoint, Checkpoints};
pub use command::{Command, CommandResult};
pub use db::{ClusterDb, ClusterMeta, KvTable, NodeRecord, TokenKind, TokenRecord};
pub use fencing::{FENCE_HISTORY_MAX, FenceDb, FenceRecord};
pub use format::{FORMAT_CLUSTER_FORMAT, FORMAT_CURRENT, FORMAT_OLDEST, FORMAT_TYPE_ROLES};
pub use incidents::{Incident, IncidentCause, IncidentResource, Incidents};
pub use limits::{
    ACTOR_BYTES_MAX, CHECKPOINT_BYTES_MAX, CHECKPOINT_NAME_BYTES_MAX, CHECKPOINT_TOTAL_BYTES_MAX,
    EVENTS_MAX, EVENTS_PER_COMMAND_MAX, KEY_BYTES_MAX, SESSION_RESULTS_MAX, SESSIONS_MAX,
    VALUE_BYTES_MAX,
};
pub use log_store::LogStore;
pub use monitoring::{AlertConfig, AlertRecord, AlertTarget, MonitorDb};
pub use raft::{RaftTimeouts, open, raft_config};
pub use recovery::{
    ForceReport, force_single_voter, force_single_voter_granted, forced_entry, forced_history,
    membership_epoch, record_forced_history,
};
pub use resources::{
    AssignmentChange, OperationEntry, OperationReport, ResourceDb, StoredConstraint,
};
pub use sessions::{Admission, SessionRecord, Sessions};
pub use state_machine::{SharedDb, StateMachine};
pub use types::*;
pub use users::{LoginRecord, UserDb, UserRecord};

#[cfg(test)]
mod tests;

/// A copy of the Raft metrics; never holds the watch borrow (openraft#1238).
pub fn metrics(raft: &Raft) -> RaftMetrics {
    use openraft::async_runtime::WatchReceiver;
    raft.metrics().borrow_watched().clone()
}

/// Reads the Raft metrics in place, for paths taken many times a second per node (a
/// heartbeat sent or answered): a copy clones the membership and, on the leader, the
/// per-follower maps, which made every heartbeat cost the master time in proportion to
/// the cluster's size (issue 18). `read` holds the watch's read lock, so it must not block
/// or await (openraft#1238).
pub fn read_metrics<T>(raft: &Raft, read: impl FnOnce(&RaftMetrics) -> T) -> T {
    use openraft::async_runtime::WatchReceiver;
    read(&raft.metrics().borrow_watched())
}
