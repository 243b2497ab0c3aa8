//! The operation log end to end on a loopback cluster: `GET /v1/operations` through the
//! typed client (linearizable, filtered by resource, and stale from every node's own
//! replica), `resource log` in the CLI, and the audit over the three replicas.

use std::collections::BTreeMap;
use std::time::Duration;

use e2e::audit::{self, AuditInput};
use e2e::specs::sleeper;
use e2e::{Cluster, wait_until};

const SETTLE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operation_log_records_start_and_stop_on_every_replica() {
    let cluster = Cluster::start(3, 3, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let client = cluster.client(1);
    // Created together: the master must not start either twice while the first start is
    // still in flight (the audit below would find that).
    for name in ["worker", "other"] {
        client
            .create_resource(&sleeper(name))
            .await
            .expect("create");
    }
    for name in ["worker", "other"] {
        wait_until(&format!("{name} started in the log"), SETTLE, || async {
            let log = client.operations(Some(name), false).await.ok()?;
            log.operations
                .iter()
                .any(|op| op.operation == "start" && op.ok)
                .then_some(())
        })
        .await;
    }
    client.stop_resource("worker").await.expect("stop");
    let log = wait_until("worker stopped in the log", SETTLE, || async {
        let log = client.operations(Some("worker"), false).await.ok()?;
        log.operations
            .iter()
            .any(|op| op.operation == "stop" && op.ok)
            .then_some(log)
    })
    .await;
    let [start, stop] = &log.operations[..] else {
        panic!("expected a start and a stop: {:?}", log.operations);
    };
    assert!(log.operations.iter().all(|op| op.resource == "worker"));
    assert_eq!(
        (start.operation.as_str(), start.state_after.as_str()),
        ("start", "running")
    );
    assert_eq!(
        (stop.operation.as_str(), stop.state_after.as_str()),
        ("stop", "stopped")
    );
    assert_eq!(start.node, stop.node);
    assert_eq!(start.node_name, format!("node{}", start.node));
    assert_eq!(start.fencing_token, stop.fencing_token);
    assert!(start.started_at_ms <= start.finished_at_ms);
    assert!(start.finished_at_ms <= stop.started_at_ms);
    assert!(stop.started_at_ms <= stop.finished_at_ms);
    let none = client.operations(Some("nosuch"), false).await.expect("log");
    assert!(none.operations.is_empty());

    // Every replica, read locally, ends up with the same log, and the audit passes on it.
    let logs = wait_until("every replica's log to agree", SETTLE, || async {
        let mut logs = Vec::new();
        for id in 1..=3 {
            let log = cluster.client(id).operations(None, true).await.ok()?;
            assert_eq!(log.answered_by, id, "a stale read is answered locally");
            logs.push(log);
        }
        let agree = logs.iter().all(|log| log.operations == logs[0].operations);
        let both = logs[0].operations.iter().any(|op| op.resource == "other");
        (agree && both).then_some(logs)
    })
    .await;
    let violations = audit::check(&AuditInput {
        logs: &logs,
        unique: &["worker", "other"],
        node_ended_at_ms: &BTreeMap::new(),
        now_ms: stop.finished_at_ms + 1_000,
    });
    assert_eq!(violations, vec![]);

    let table = cluster.cli(2, &["resource", "log", "worker"]);
    assert!(
        table.status.success(),
        "{}",
        String::from_utf8_lossy(&table.stderr)
    );
    let table = String::from_utf8_lossy(&table.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "a header, a start and a stop:\n{table}");
    assert!(lines[0].starts_with("STARTED"), "{table}");
    assert!(
        lines[1].contains(" start ") && lines[2].contains(" stop "),
        "{table}"
    );
    let json = cluster.cli(3, &["resource", "log", "--json", "--stale"]);
    let json: api::Operations = serde_json::from_slice(&json.stdout).expect("log JSON");
    assert_eq!(json.answered_by, 3);
}
