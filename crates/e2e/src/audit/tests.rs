//! The audit on hand-made logs: a clean failover passes; two nodes running one resource at
//! once, a token that does not increase and replicas that differ are each found; a crashed
//! node's open instance ends when the caller says; a stop without its start is found.

use std::collections::BTreeMap;

use super::{AuditInput, RunInterval, Violation, check};

fn op(
    node: u64,
    operation: &str,
    token: u64,
    at: (u64, u64),
    state_after: &str,
) -> api::OperationRecord {
    api::OperationRecord {
        node,
        node_name: format!("node{node}"),
        resource: "web".to_string(),
        operation: operation.to_string(),
        fencing_token: token,
        ok: state_after != "failed",
        state_after: state_after.to_string(),
        reason: None,
        started_at_ms: at.0,
        finished_at_ms: at.1,
    }
}

fn log(answered_by: u64, operations: &[api::OperationRecord]) -> api::Operations {
    api::Operations {
        answered_by,
        operations: operations.to_vec(),
    }
}

fn audit(logs: &[api::Operations], ended: &[(u64, u64)]) -> Vec<Violation> {
    let mut node_ended_at_ms: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (node, at) in ended {
        node_ended_at_ms.entry(*node).or_default().push(*at);
    }
    check(&AuditInput {
        logs,
        unique: &["web"],
        node_ended_at_ms: &node_ended_at_ms,
        now_ms: 10_000,
    })
}

fn interval(node: u64, token: u64, from_ms: u64, until_ms: u64, open: bool) -> RunInterval {
    RunInterval {
        node,
        fencing_token: token,
        from_ms,
        until_ms,
        open,
    }
}

#[test]
fn a_stop_before_the_next_start_passes() {
    let operations = [
        op(1, "start", 1, (100, 200), "running"),
        op(1, "stop", 1, (1_000, 1_100), "stopped"),
        op(2, "start", 2, (1_200, 1_300), "running"),
    ];
    let logs = [
        log(1, &operations),
        log(2, &operations),
        log(3, &operations),
    ];
    assert_eq!(audit(&logs, &[]), vec![]);
}

#[test]
fn a_start_elsewhere_before_the_stop_finished_is_an_overlap() {
    let operations = [
        op(1, "start", 1, (100, 200), "running"),
        op(2, "start", 2, (1_000, 1_050), "running"),
        op(1, "stop", 1, (1_000, 1_100), "stopped"),
    ];
    assert_eq!(
        audit(&[log(1, &operations)], &[]),
        vec![Violation::Overlap {
            resource: "web".to_string(),
            earlier: interval(1, 1, 100, 1_100, false),
            later: interval(2, 2, 1_000, 10_000, true),
        }]
    );
}

#[test]
fn a_crashed_node_without_a_stop_ends_when_it_crashed() {
    let operations = [
        op(1, "start", 1, (100, 200), "running"),
        op(2, "start", 2, (2_000, 2_050), "running"),
    ];
    assert_eq!(audit(&[log(1, &operations)], &[(1, 1_500)]), vec![]);
    // Without the crash time the first instance still runs when the second starts.
    assert_eq!(audit(&[log(1, &operations)], &[]).len(), 1);
    // A probe after the crashed node came back finds the instance gone, long after the
    // crash: the crash time still ends the instance.
    let mut restarted = operations.to_vec();
    restarted.push(op(1, "monitor", 1, (5_000, 5_010), "stopped"));
    assert_eq!(audit(&[log(1, &restarted)], &[(1, 1_500)]), vec![]);
}

#[test]
fn a_hung_node_whose_stop_is_recorded_late_is_an_overlap() {
    // The hung node's stop ran after it resumed, long after the new start: unless the stop
    // says the instance had ended earlier, the records show two holders.
    let late = [
        op(1, "start", 1, (100, 200), "running"),
        op(2, "start", 2, (1_500, 1_600), "running"),
        op(1, "stop", 1, (3_000, 3_010), "stopped"),
    ];
    assert_eq!(audit(&[log(1, &late)], &[]).len(), 1);
    let fenced = [
        op(1, "start", 1, (100, 200), "running"),
        op(2, "start", 2, (1_500, 1_600), "running"),
        op(1, "stop", 1, (3_000, 1_200), "stopped"),
    ];
    assert_eq!(audit(&[log(1, &fenced)], &[]), vec![]);
}

#[test]
fn a_failed_start_counts_as_running_until_its_stop() {
    let operations = [
        op(1, "start", 1, (100, 200), "failed"),
        op(2, "start", 2, (300, 400), "running"),
        op(1, "stop", 1, (500, 600), "stopped"),
    ];
    assert_eq!(audit(&[log(1, &operations)], &[]).len(), 1);
}

#[test]
fn a_later_instance_under_an_older_token_is_found() {
    let operations = [
        op(1, "start", 5, (100, 200), "running"),
        op(1, "stop", 5, (300, 400), "stopped"),
        op(2, "start", 4, (500, 600), "running"),
    ];
    assert_eq!(
        audit(&[log(1, &operations)], &[]),
        vec![Violation::TokenNotIncreasing {
            resource: "web".to_string(),
            earlier: interval(1, 5, 100, 400, false),
            later: interval(2, 4, 500, 10_000, true),
        }]
    );
}

#[test]
fn replicas_with_different_logs_are_found() {
    let operations = [
        op(1, "start", 1, (100, 200), "running"),
        op(1, "stop", 1, (300, 400), "stopped"),
    ];
    let violations = audit(&[log(1, &operations), log(2, &operations[..1])], &[]);
    assert_eq!(
        violations,
        vec![Violation::ReplicasDisagree {
            first: 1,
            other: 2,
            detail: "2 and 1 entries, first difference at entry 1".to_string(),
        }]
    );
}

#[test]
fn monitors_and_other_resources_do_not_open_instances() {
    let mut other = op(2, "start", 9, (150, 160), "running");
    other.resource = "db".to_string();
    let operations = [
        op(1, "start", 1, (100, 200), "running"),
        op(1, "monitor", 1, (250, 260), "failed"),
        other,
        op(1, "stop", 1, (300, 400), "stopped"),
        op(2, "start", 2, (500, 600), "running"),
    ];
    assert_eq!(audit(&[log(1, &operations)], &[]), vec![]);
}

#[test]
fn a_stop_of_an_instance_whose_start_is_missing_is_found() {
    let operations = [
        op(1, "start", 1, (100, 200), "running"),
        op(1, "stop", 1, (300, 400), "stopped"),
        op(1, "stop", 3, (500, 600), "stopped"),
    ];
    assert_eq!(
        audit(&[log(1, &operations)], &[]),
        vec![Violation::StartNotRecorded {
            resource: "web".to_string(),
            node: 1,
            fencing_token: 3,
        }]
    );
}

#[test]
fn one_node_may_run_its_grant_again_after_fencing_itself_but_never_an_older_one() {
    let operations = [
        op(1, "start", 2, (100, 200), "running"),
        op(1, "stop", 2, (300, 400), "stopped"),
        op(1, "start", 2, (500, 600), "running"),
        op(1, "stop", 2, (700, 800), "stopped"),
        op(2, "start", 3, (900, 1_000), "running"),
        op(2, "stop", 3, (1_100, 1_200), "stopped"),
    ];
    assert_eq!(audit(&[log(1, &operations)], &[]), vec![]);
    let mut older = operations.to_vec();
    older.push(op(2, "start", 2, (1_300, 1_400), "running"));
    assert_eq!(audit(&[log(1, &older)], &[]).len(), 1);
    let mut same_on_another = operations[..4].to_vec();
    same_on_another.push(op(2, "start", 2, (900, 1_000), "running"));
    assert_eq!(audit(&[log(1, &same_on_another)], &[]).len(), 1);
}

#[test]
fn a_node_that_crashed_twice_ends_each_instance_at_its_next_crash() {
    let operations = [
        op(1, "start", 1, (100, 200), "running"),
        op(2, "start", 2, (1_500, 1_600), "running"),
        op(1, "monitor", 1, (1_700, 1_710), "stopped"),
        op(2, "stop", 2, (2_500, 2_600), "stopped"),
        op(1, "start", 3, (3_000, 3_100), "running"),
        op(2, "start", 4, (4_500, 4_600), "running"),
        op(1, "monitor", 3, (5_000, 5_010), "stopped"),
    ];
    let both = [(1, 1_000), (1, 4_000)];
    assert_eq!(audit(&[log(1, &operations)], &both), vec![]);
    // Either crash alone leaves one instance running into the next holder's.
    assert_eq!(audit(&[log(1, &operations)], &both[..1]).len(), 1);
    assert_eq!(audit(&[log(1, &operations)], &both[1..]).len(), 1);
}
