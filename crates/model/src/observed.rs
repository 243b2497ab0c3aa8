//! What the cluster has observed, as opposed to what the operator declared: each node's
//! health and, per resource and node, its state and fail count.
//!
//! The executor records operation outcomes here (through the cmdb); the scheduler reads
//! them. Persisted in the Raft log: enums only ever gain variants at the end.

use crate::{Millis, NodeHealth, NodeId, ResourceId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

#[cfg(test)]
mod tests;

/// The observed state of one resource on one node. Persisted: append variants only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResourceState {
    /// The last operation or monitor found it running.
    Running,
    /// Not running here.
    #[default]
    Stopped,
    /// A start or monitor failed: it may be half-running and must be stopped before it is
    /// started again.
    Failed,
    /// Not known yet (for example before the first monitor after a restart); treated as
    /// possibly running, so it is never started twice.
    Unknown,
}

impl ResourceState {
    /// Whether an instance may be running here, so it must be stopped before the resource
    /// can be considered inactive on this node.
    pub fn is_active(self) -> bool {
        match self {
            ResourceState::Running | ResourceState::Failed | ResourceState::Unknown => true,
            ResourceState::Stopped => false,
        }
    }
}

impl fmt::Display for ResourceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResourceState::Running => "running",
            ResourceState::Stopped => "stopped",
            ResourceState::Failed => "failed",
            ResourceState::Unknown => "unknown",
        })
    }
}

/// One resource on one node: its state and failure history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ResourceStatus {
    /// The latest observed state.
    pub state: ResourceState,
    /// Failures on this node since the last cleanup.
    #[serde(default)]
    pub fail_count: u32,
    /// When the latest failure happened, in milliseconds since the Unix epoch.
    #[serde(default)]
    pub last_failure_at: Option<Millis>,
    /// The latest failure in plain words, for `status` and `explain`.
    #[serde(default)]
    pub last_failure: Option<String>,
}

impl ResourceStatus {
    /// The fail count that still counts at `now`: zero once `failure_timeout` has passed
    /// since the last failure, so old failures stop banning the node by themselves.
    pub fn effective_fail_count(&self, failure_timeout: Option<Duration>, now: Millis) -> u32 {
        let (Some(timeout), Some(last_failure_at)) = (failure_timeout, self.last_failure_at) else {
            return self.fail_count;
        };
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        if last_failure_at.saturating_add(timeout_ms) <= now {
            0
        } else {
            self.fail_count
        }
    }

    /// Until when a restart in place waits after the failures counted at `now` (see
    /// [`restart_backoff`]); `None` when it may restart at once.
    pub fn restart_not_before(
        &self,
        failure_timeout: Option<Duration>,
        now: Millis,
    ) -> Option<Millis> {
        let failures = self.effective_fail_count(failure_timeout, now);
        let backoff = restart_backoff(failures);
        let last_failure_at = self.last_failure_at?;
        let backoff_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX);
        let until = last_failure_at.saturating_add(backoff_ms);
        (!backoff.is_zero() && now < until).then_some(until)
    }
}

/// The first failure restarts at once, as in Pacemaker; from the second in a row, restarts
/// wait this long, doubling.
pub const RESTART_BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// The longest wait between restarts of a crash-looping resource (systemd's and
/// Kubernetes' crash-loop caps are of this order).
pub const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A failure this long after the previous one starts a new run of failures: the fail
/// count starts again from one, and with it the backoff.
pub const FAILURE_STREAK_RESET: Duration = Duration::from_secs(600);

const _: () = assert!(RESTART_BACKOFF_MAX.as_secs() < FAILURE_STREAK_RESET.as_secs());

/// How long a restart in place waits after the `failures`-th failure in a row: nothing
/// after the first, then 1 s, 2 s, 4 s ... up to [`RESTART_BACKOFF_MAX`].
pub fn restart_backoff(failures: u32) -> Duration {
    if failures <= 1 {
        return Duration::ZERO;
    }
    let doublings = (failures - 2).min(16);
    RESTART_BACKOFF_INITIAL
        .saturating_mul(1 << doublings)
        .min(RESTART_BACKOFF_MAX)
}

/// Everything observed that the scheduler needs: node health and resource states.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ObservedState {
    /// Each node's health; a configured node missing here counts as down.
    #[serde(default)]
    pub node_health: BTreeMap<NodeId, NodeHealth>,
    /// Per resource, what each node reported; a missing entry means stopped, no failures.
    #[serde(default)]
    pub resources: BTreeMap<ResourceId, BTreeMap<NodeId, ResourceStatus>>,
    /// Per promotable resource, the promotion score each node's instance set for itself
    /// (`crm_attribute --promotion -v`); an instance without one is never promoted.
    #[serde(default)]
    pub promotion_scores: BTreeMap<ResourceId, BTreeMap<NodeId, i64>>,
}

impl ObservedState {
    /// The observed status of `resource` on `node`, if any was recorded.
    pub fn status(&self, resource: &ResourceId, node: NodeId) -> Option<&ResourceStatus> {
        self.resources.get(resource)?.get(&node)
    }

    /// A node's health; a node never observed counts as down.
    pub fn health(&self, node: NodeId) -> NodeHealth {
        self.node_health
            .get(&node)
            .copied()
            .unwrap_or(NodeHealth::Down)
    }
}
