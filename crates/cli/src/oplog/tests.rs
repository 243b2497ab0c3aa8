//! Snapshot tests of the `resource log` table: successful and failed operations, nodes
//! without names, and a stop whose instance a watchdog had already ended.

use expect_test::{Expect, expect};

use super::render_operations;

fn record(
    node: u64,
    operation: &str,
    ok: bool,
    started: u64,
    finished: u64,
) -> api::OperationRecord {
    api::OperationRecord {
        node,
        node_name: if node == 3 {
            String::new()
        } else {
            format!("node{node}")
        },
        resource: "web".to_string(),
        operation: operation.to_string(),
        fencing_token: node + 10,
        ok,
        state_after: match (ok, operation) {
            (false, _) => "failed",
            (true, "start") => "running",
            (true, _) => "stopped",
        }
        .to_string(),
        reason: (!ok).then(|| "exit 1".to_string()),
        started_at_ms: started,
        finished_at_ms: finished,
    }
}

fn check(operations: &[api::OperationRecord], expected: Expect) {
    expected.assert_eq(&render_operations(operations));
}

#[test]
fn an_empty_log_says_so() {
    check(
        &[],
        expect![[r#"
        no operations recorded
    "#]],
    );
}

#[test]
fn operations_show_node_token_duration_and_result() {
    let start = record(1, "start", true, 1_700_000_000_000, 1_700_000_000_250);
    let failed = record(2, "monitor", false, 1_700_000_001_000, 1_700_000_001_004);
    let unnamed = record(3, "start", true, 1_700_000_002_000, 1_700_000_002_100);
    check(
        &[start, failed, unnamed],
        expect![[r#"
        STARTED       TOOK    NODE    RESOURCE  OP       TOKEN  STATE    RESULT
        22:13:20.000  250 ms  node1   web       start    11     running  ok
        22:13:21.000  4 ms    node2   web       monitor  12     failed   failed: exit 1
        22:13:22.000  100 ms  node 3  web       start    13     running  ok
    "#]],
    );
}

#[test]
fn a_stop_after_a_watchdog_fenced_the_instance_says_when_it_had_ended() {
    let fenced = record(1, "stop", true, 1_700_000_005_000, 1_700_000_003_800);
    check(
        &[fenced],
        expect![[r#"
        STARTED       TOOK                  NODE   RESOURCE  OP    TOKEN  STATE    RESULT
        22:13:25.000  ended 1200 ms before  node1  web       stop  11     stopped  ok
    "#]],
    );
}
