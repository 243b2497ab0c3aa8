//! The timing relations the lease argument rests on (ARCHITECTURE.md, "Leases and fencing
//! tokens" and "When a lost node's resources may start elsewhere"), checked when a config
//! is loaded: a config that breaks one is refused with the relation, the values and the
//! fix, since it would not fail at once but quietly void the safety or liveness argument.
//!
//! The constants they involve (`limits::NODE_LEASE`, `limits::QUORUM_FRESH`,
//! `limits::UNHEARD_GRACE`, the executor's fence margin) relate to each other by `const`
//! assertions in `limits.rs`; here only relations with config values are checked.

use std::time::Duration;

use super::{FailureConfig, RaftConfig};
use crate::limits::{NODE_LEASE, QUORUM_FRESH, UNHEARD_GRACE};

/// The margin before its lease ends at which a node's executor stops unique resources.
const FENCE_MARGIN: Duration = executor::FENCE_MARGIN_DEFAULT;

/// The first relation `failure` and `raft` break, in words: which one, the values, why it
/// matters and how to fix it.
pub(crate) fn check(failure: &FailureConfig, raft: &RaftConfig) -> Result<(), String> {
    let relations = failure_relations(failure)
        .into_iter()
        .chain(raft_relations(raft))
        .chain(lease_relations(failure, raft));
    match relations.into_iter().find(|(holds, _)| !holds) {
        Some((_, broken)) => Err(broken),
        None => Ok(()),
    }
}

/// The failure detector's own relations, and the grace a new master gives a node.
fn failure_relations(failure: &FailureConfig) -> [(bool, String); 3] {
    let beat = failure.heartbeat_interval;
    [
        (
            !beat.is_zero() && beat < failure.suspect_after,
            format!(
                "failure.heartbeat_interval ({}) must be above 0 and below \
                 failure.suspect_after ({}): a live node would look suspect between two \
                 heartbeats; lower heartbeat_interval or raise suspect_after",
                show(beat),
                show(failure.suspect_after)
            ),
        ),
        (
            failure.suspect_after < failure.down_after,
            format!(
                "failure.suspect_after ({}) must be below failure.down_after ({}); raise \
                 down_after or lower suspect_after",
                show(failure.suspect_after),
                show(failure.down_after)
            ),
        ),
        (
            beat < UNHEARD_GRACE,
            format!(
                "failure.heartbeat_interval ({}) must be below the {} a new master gives a \
                 node to check in (UNHEARD_GRACE), or live nodes are taken for lost after \
                 every election; lower heartbeat_interval",
                show(beat),
                show(UNHEARD_GRACE)
            ),
        ),
    ]
}

/// Raft's timing among itself and with the freshness a lease grant needs.
fn raft_relations(raft: &RaftConfig) -> [(bool, String); 3] {
    let raft_beat = raft.heartbeat_interval;
    let (election_min, election_max) = (raft.election_timeout_min, raft.election_timeout_max);
    [
        (
            !raft_beat.is_zero() && raft_beat < QUORUM_FRESH,
            format!(
                "raft.heartbeat_interval ({}) must be above 0 and below the {} within which \
                 the master needs a quorum's acknowledgement to grant leases (QUORUM_FRESH), \
                 or leases lapse between Raft heartbeats; lower raft.heartbeat_interval",
                show(raft_beat),
                show(QUORUM_FRESH)
            ),
        ),
        (
            raft_beat < election_min,
            format!(
                "raft.heartbeat_interval ({}) must be below raft.election_timeout_min ({}), \
                 or followers start elections against a live master; lower \
                 heartbeat_interval or raise election_timeout_min",
                show(raft_beat),
                show(election_min)
            ),
        ),
        (
            election_min < election_max,
            format!(
                "raft.election_timeout_min ({}) must be below raft.election_timeout_max ({}); \
                 raise election_timeout_max",
                show(election_min),
                show(election_max)
            ),
        ),
    ]
}

/// What the lease argument needs of the election timeouts.
fn lease_relations(failure: &FailureConfig, raft: &RaftConfig) -> [(bool, String); 2] {
    let election_min = raft.election_timeout_min;
    let election = raft.election_timeout_max.saturating_mul(2);
    let beat = failure.heartbeat_interval;
    let failover = election + beat + FENCE_MARGIN;
    [
        (
            QUORUM_FRESH < election_min,
            format!(
                "raft.election_timeout_min ({}) must be above the {} for which a master \
                 grants leases on one quorum acknowledgement (QUORUM_FRESH): a deposed \
                 master must stop granting before a new master can be elected; raise \
                 election_timeout_min above {}",
                show(election_min),
                show(QUORUM_FRESH),
                show(QUORUM_FRESH)
            ),
        ),
        (
            failover < NODE_LEASE,
            format!(
                "the node lease (NODE_LEASE, {}) must outlast an election (2 x \
                 raft.election_timeout_max = {}: a candidate's timeout plus the time voters \
                 refuse votes after hearing the old master) plus failure.heartbeat_interval \
                 ({}) plus the fence margin ({}), {} in all, or every master failover makes \
                 the nodes stop their unique resources; lower raft.election_timeout_max or \
                 failure.heartbeat_interval",
                show(NODE_LEASE),
                show(election),
                show(beat),
                show(FENCE_MARGIN),
                show(failover)
            ),
        ),
    ]
}

/// A duration as the config file writes it.
fn show(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

#[cfg(test)]
mod tests;
