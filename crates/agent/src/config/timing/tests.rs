//! Each timing relation, broken on its own from the defaults, is refused with its name, the
//! values and the fix; the defaults (what `encluster init` writes) pass.

use std::time::Duration;

use super::check;
use crate::config::{FailureConfig, RaftConfig};

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// The defaults with `change` applied must be refused with an error containing each of
/// `expected`.
fn refused(change: impl FnOnce(&mut FailureConfig, &mut RaftConfig), expected: &[&str]) {
    let (mut failure, mut raft) = (FailureConfig::default(), RaftConfig::default());
    change(&mut failure, &mut raft);
    let error = check(&failure, &raft).expect_err("the relation is broken");
    for part in expected {
        assert!(error.contains(part), "{part:?} not in: {error}");
    }
}

#[test]
fn the_defaults_keep_every_relation() {
    assert_eq!(
        check(&FailureConfig::default(), &RaftConfig::default()),
        Ok(())
    );
}

#[test]
fn heartbeat_at_or_above_suspect_after_is_refused() {
    refused(
        |failure, _| failure.heartbeat_interval = ms(300),
        &[
            "failure.heartbeat_interval (300ms)",
            "below failure.suspect_after (300ms)",
            "lower heartbeat_interval or raise suspect_after",
        ],
    );
    refused(
        |failure, _| failure.heartbeat_interval = Duration::ZERO,
        &["failure.heartbeat_interval (0s) must be above 0"],
    );
}

#[test]
fn suspect_after_at_or_above_down_after_is_refused() {
    refused(
        |failure, _| failure.down_after = ms(100),
        &["failure.suspect_after (300ms) must be below failure.down_after (100ms)"],
    );
}

#[test]
fn heartbeat_longer_than_the_grace_of_a_new_master_is_refused() {
    refused(
        |failure, _| {
            failure.heartbeat_interval = ms(250);
            failure.suspect_after = ms(600);
            failure.down_after = ms(900);
        },
        &["failure.heartbeat_interval (250ms)", "UNHEARD_GRACE"],
    );
}

#[test]
fn raft_heartbeat_too_slow_for_fresh_quorum_acknowledgements_is_refused() {
    refused(
        |_, raft| raft.heartbeat_interval = ms(100),
        &["raft.heartbeat_interval (100ms)", "QUORUM_FRESH"],
    );
}

#[test]
fn raft_heartbeat_at_or_above_the_election_timeout_is_refused() {
    // Only reachable with QUORUM_FRESH above the election timeout: a zero heartbeat is
    // refused first by the freshness relation, so check the ordering relation directly.
    let raft = RaftConfig {
        heartbeat_interval: ms(50),
        election_timeout_min: ms(50),
        ..RaftConfig::default()
    };
    let error = check(&FailureConfig::default(), &raft).expect_err("broken");
    assert!(
        error.contains(
            "raft.heartbeat_interval (50ms) must be below raft.election_timeout_min (50ms)"
        ),
        "{error}"
    );
}

#[test]
fn election_timeout_min_at_or_above_max_is_refused() {
    refused(
        |_, raft| raft.election_timeout_min = ms(300),
        &["raft.election_timeout_min (300ms) must be below raft.election_timeout_max (300ms)"],
    );
}

/// Issue 10: `election_timeout_min = 80ms` silently broke the lease argument.
#[test]
fn r10_election_timeout_below_quorum_freshness_is_refused() {
    refused(
        |_, raft| raft.election_timeout_min = ms(80),
        &[
            "raft.election_timeout_min (80ms)",
            "QUORUM_FRESH",
            "a deposed master must stop granting before a new master can be elected",
            "raise election_timeout_min above 100ms",
        ],
    );
}

#[test]
fn a_lease_shorter_than_an_election_a_heartbeat_and_the_fence_margin_is_refused() {
    refused(
        |_, raft| raft.election_timeout_max = ms(400),
        &[
            "NODE_LEASE",
            "2 x raft.election_timeout_max = 800ms",
            "failure.heartbeat_interval (100ms)",
            "fence margin (150ms)",
            "lower raft.election_timeout_max or failure.heartbeat_interval",
        ],
    );
}
