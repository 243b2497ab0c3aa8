//! The operation-log audit run after multi-host faults: no unique resource ran on two nodes
//! at once, by the agents' own records.
//!
//! Input is every host's operation log (`GET /v1/operations?consistency=stale`, read from
//! each host's own replica once the faults have healed). Per unique resource and node the
//! audit builds run intervals: an instance runs from the `started_at` of a start that did
//! not leave it stopped (a failed start may have left something half-running, so it counts
//! too) until the `finished_at` of the next stop (or probe) on that node that left it
//! stopped. An instance with no such record ends at the audit's `now`, and any instance of
//! a node the caller says ended at some time (a crashed host) ends at the first such time
//! after its start at the latest (a host may crash, reboot and crash again).
//! Then it checks that
//! (a) no two nodes' intervals of one resource overlap,
//! (b) the fencing tokens of successive holders strictly increase (one node may run the same
//! grant again after fencing itself; tokens never go back),
//! (c) every replica holds the same log, and
//! (d) no node stopped an instance whose start the log lacks (the executor does not report
//! a start it abandoned when its lease ended, so such an instance is invisible otherwise).
//! Timestamps are the operation log's: wall-clock times from the reporting nodes' clocks
//! (leases run on each node's boot clock, but the log is for people). On the namespace test
//! bed every host shares one kernel, so one wall clock (and one boot clock): they compare
//! directly, as long as nobody steps the wall clock during a test.

use std::collections::BTreeMap;
use std::fmt;

/// What the audit looks at.
pub struct AuditInput<'a> {
    /// Each host's operation log, read from that host's replica.
    pub logs: &'a [api::Operations],
    /// The unique resources to check.
    pub unique: &'a [&'a str],
    /// When a node ended without recording stops (it crashed), in ms since the epoch;
    /// every time, for a node that crashed more than once.
    pub node_ended_at_ms: &'a BTreeMap<u64, Vec<u64>>,
    /// The audit's time: instances still running end here.
    pub now_ms: u64,
}

/// One instance of a resource on one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunInterval {
    /// The node it ran on.
    pub node: u64,
    /// The grant it started under.
    pub fencing_token: u64,
    /// When its start began.
    pub from_ms: u64,
    /// When its stop finished, or when the node or the audit ended.
    pub until_ms: u64,
    /// No record ended it: it ended with its node or still runs.
    pub open: bool,
}

/// Something the audit found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Two replicas hold different logs.
    ReplicasDisagree {
        /// The node whose replica answered first.
        first: u64,
        /// The one that differs.
        other: u64,
        /// Where they differ.
        detail: String,
    },
    /// A unique resource ran on two nodes at once.
    Overlap {
        resource: String,
        earlier: RunInterval,
        later: RunInterval,
    },
    /// A node stopped an instance whose start is not in the log (an abandoned start is not
    /// reported): it may have run, and the audit cannot say when.
    StartNotRecorded {
        resource: String,
        node: u64,
        fencing_token: u64,
    },
    /// A later holder did not have a larger fencing token than the one before it, or a
    /// node's later instance a smaller one.
    TokenNotIncreasing {
        resource: String,
        earlier: RunInterval,
        later: RunInterval,
    },
}

impl fmt::Display for RunInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = if self.open { " (no stop recorded)" } else { "" };
        write!(
            f,
            "node {} token {} from {} until {}{end}",
            self.node, self.fencing_token, self.from_ms, self.until_ms
        )
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::ReplicasDisagree {
                first,
                other,
                detail,
            } => write!(f, "replicas of node {first} and {other} disagree: {detail}"),
            Violation::Overlap {
                resource,
                earlier,
                later,
            } => write!(f, "{resource} ran twice at once: [{earlier}] and [{later}]"),
            Violation::StartNotRecorded {
                resource,
                node,
                fencing_token,
            } => write!(
                f,
                "{resource}: node {node} stopped an instance under token {fencing_token} \
                 whose start is not in the log"
            ),
            Violation::TokenNotIncreasing {
                resource,
                earlier,
                later,
            } => write!(
                f,
                "{resource}: token did not increase from [{earlier}] to [{later}]"
            ),
        }
    }
}

/// Every violation found; empty means the audit passed.
pub fn check(input: &AuditInput<'_>) -> Vec<Violation> {
    let mut violations = replicas_disagree(input.logs);
    let Some(log) = input.logs.first() else {
        return violations;
    };
    for resource in input.unique {
        let intervals = run_intervals(&log.operations, resource, input);
        violations.extend(overlaps(resource, &intervals));
        violations.extend(starts_not_recorded(&log.operations, resource));
    }
    violations
}

/// Stops of instances under a token the node never reported a start for.
fn starts_not_recorded(operations: &[api::OperationRecord], resource: &str) -> Vec<Violation> {
    let mut started: BTreeMap<u64, u64> = BTreeMap::new();
    let mut violations = Vec::new();
    for record in operations.iter().filter(|r| r.resource == resource) {
        let newest = started.entry(record.node).or_default();
        match record.operation.as_str() {
            "start" => *newest = (*newest).max(record.fencing_token),
            "stop" if record.fencing_token > *newest => {
                violations.push(Violation::StartNotRecorded {
                    resource: resource.to_string(),
                    node: record.node,
                    fencing_token: record.fencing_token,
                });
            }
            _ => {}
        }
    }
    violations
}

/// The instances of `resource` in `operations`, ordered by start.
pub fn run_intervals(
    operations: &[api::OperationRecord],
    resource: &str,
    input: &AuditInput<'_>,
) -> Vec<RunInterval> {
    let mut open: BTreeMap<u64, RunInterval> = BTreeMap::new();
    let mut closed = Vec::new();
    for record in operations.iter().filter(|r| r.resource == resource) {
        let stopped = record.state_after == "stopped";
        match record.operation.as_str() {
            "start" if !stopped => {
                // A second start without a stop in between continues the same run; the
                // first start's time and the newest token describe it.
                let interval = open.entry(record.node).or_insert(RunInterval {
                    node: record.node,
                    fencing_token: record.fencing_token,
                    from_ms: record.started_at_ms,
                    until_ms: record.started_at_ms,
                    open: true,
                });
                interval.fencing_token = record.fencing_token;
            }
            "stop" | "monitor" if stopped => {
                if let Some(mut interval) = open.remove(&record.node) {
                    interval.until_ms = record.finished_at_ms;
                    interval.open = false;
                    closed.push(interval);
                }
            }
            _ => {}
        }
    }
    for (_, mut interval) in open {
        interval.until_ms = input.now_ms;
        closed.push(interval);
    }
    // Whatever ran on a node when it ended (crashed) ended with it, whatever a later
    // record (a probe after a restart) says.
    for interval in &mut closed {
        let ends = input.node_ended_at_ms.get(&interval.node);
        let first_end = ends
            .into_iter()
            .flatten()
            .filter(|ended_at_ms| interval.from_ms < **ended_at_ms)
            .min();
        if let Some(ended_at_ms) = first_end
            && interval.until_ms > *ended_at_ms
        {
            interval.until_ms = *ended_at_ms;
        }
    }
    closed.sort_by_key(|interval| (interval.from_ms, interval.node));
    closed
}

/// Overlaps between instances on different nodes, and tokens that fail to increase from
/// one instance to the next.
fn overlaps(resource: &str, intervals: &[RunInterval]) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (index, later) in intervals.iter().enumerate() {
        for earlier in &intervals[..index] {
            if earlier.node != later.node && later.from_ms < earlier.until_ms {
                violations.push(Violation::Overlap {
                    resource: resource.to_string(),
                    earlier: earlier.clone(),
                    later: later.clone(),
                });
            }
        }
        // A node may run one grant again after fencing itself (its lease came back before
        // the master moved the resource); a new holder needs a newer grant.
        if let Some(earlier) = index.checked_sub(1).map(|i| &intervals[i])
            && (later.fencing_token < earlier.fencing_token
                || (later.node != earlier.node && later.fencing_token == earlier.fencing_token))
        {
            violations.push(Violation::TokenNotIncreasing {
                resource: resource.to_string(),
                earlier: earlier.clone(),
                later: later.clone(),
            });
        }
    }
    violations
}

fn replicas_disagree(logs: &[api::Operations]) -> Vec<Violation> {
    let Some(first) = logs.first() else {
        return Vec::new();
    };
    let mut violations = Vec::new();
    for other in &logs[1..] {
        if other.operations == first.operations {
            continue;
        }
        let index = first
            .operations
            .iter()
            .zip(&other.operations)
            .position(|(a, b)| a != b)
            .unwrap_or(first.operations.len().min(other.operations.len()));
        let detail = format!(
            "{} and {} entries, first difference at entry {index}",
            first.operations.len(),
            other.operations.len()
        );
        violations.push(Violation::ReplicasDisagree {
            first: first.answered_by,
            other: other.answered_by,
            detail,
        });
    }
    violations
}

#[cfg(test)]
mod tests;
