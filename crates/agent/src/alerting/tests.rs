//! From cmdb events to alerts: the filters, Pacemaker's fields of a resource failure (from
//! the operation log), and recipients that fell behind the bounded event log. The cmdb is
//! driven with the commands the cluster would commit.

use cmdb::{AlertConfig, AlertTarget, ClusterDb, Command, OperationReport};
use model::{EventKind, NodeHealth, NodeId, NodeInfo, ResourceId, ResourceState, Severity};

use super::*;

fn recipient(name: &str, kinds: &[&str], severity_min: Severity) -> AlertConfig {
    AlertConfig {
        name: name.into(),
        target: AlertTarget::Webhook {
            url: "http://127.0.0.1:9/".into(),
        },
        kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
        severity_min,
        timeout_ms: 1_000,
    }
}

fn db_with_node() -> ClusterDb {
    let mut db = ClusterDb::default();
    let info = NodeInfo {
        name: "node2".into(),
        peer_addr: "127.0.0.2:1".into(),
        api_addr: "127.0.0.2:2".into(),
    };
    db.apply(Command::UpsertNode {
        id: NodeId(2),
        info,
        at_ms: 1,
    });
    db
}

fn record(db: &mut ClusterDb, events: Vec<EventKind>) {
    let result = db.apply(Command::RecordEvents { at_ms: 5, events });
    assert_eq!(result, cmdb::CommandResult::Ok);
}

#[test]
fn filters_pass_kinds_and_severities_and_keep_a_recipients_own_failures_away() {
    let mut db = db_with_node();
    record(
        &mut db,
        vec![
            EventKind::NodeHealth {
                node: NodeId(2),
                from: NodeHealth::Online,
                to: NodeHealth::Suspect,
                silence_ms: 300,
            },
            EventKind::OperatorAction {
                actor: "alice".into(),
                action: "put k".into(),
            },
            EventKind::AlertFailed {
                recipient: "pager".into(),
                event: 1,
                attempts: 5,
                error: "refused".into(),
            },
        ],
    );
    let wanted = |config: &AlertConfig| -> Vec<u64> {
        db.events
            .iter()
            .filter(|e| wants(config, e))
            .map(|e| e.seq)
            .collect()
    };
    // Event 0 is node2 joining (info).
    assert_eq!(wanted(&recipient("all", &[], Severity::Info)), [0, 1, 2, 3]);
    assert_eq!(
        wanted(&recipient("nodes", &["node"], Severity::Info)),
        [0, 1]
    );
    assert_eq!(wanted(&recipient("warn", &[], Severity::Warning)), [1, 3]);
    assert_eq!(wanted(&recipient("pager", &[], Severity::Info)), [0, 1, 2]);
    let suspect = alert_of(&db, &db.events[1]);
    assert_eq!(suspect.kind, AlertKind::Node);
    assert_eq!((suspect.node.as_str(), suspect.node_id), ("node2", 2));
    assert_eq!(suspect.desc, "suspect");
    assert_eq!(suspect.id, 1, "the alert id is the event's sequence number");
}

#[test]
fn a_resource_failure_carries_the_failed_operation_and_its_ocf_code() {
    let mut db = db_with_node();
    let report = OperationReport {
        resource: ResourceId("db".into()),
        operation: "monitor".into(),
        fencing_token: 1,
        ok: false,
        state_after: ResourceState::Stopped,
        reason: Some("not running".into()),
        started_at: 9,
        finished_at: 10,
    };
    db.apply(Command::RecordOperation {
        node: NodeId(2),
        report,
        at_ms: 10,
    });
    let failed = db
        .events
        .iter()
        .find(|e| matches!(&e.kind, EventKind::ResourceAction { action, .. } if action == "failed"))
        .expect("the failure is an event");
    let alert = alert_of(&db, failed);
    assert_eq!(alert.kind, AlertKind::Resource);
    assert_eq!(alert.resource.as_deref(), Some("db"));
    assert_eq!(alert.task.as_deref(), Some("monitor"));
    assert_eq!(alert.desc, "not running");
    assert_eq!(alert.rc, 7, "OCF_NOT_RUNNING");
    assert_eq!(alert.node, "node2");
}

#[test]
fn a_recipient_behind_the_event_log_gets_its_gap_recorded_once() {
    let mut db = db_with_node();
    db.apply(Command::PutAlert {
        alert: recipient("slow", &[], Severity::Info),
    });
    for _ in 0..(cmdb::EVENTS_MAX / 50 + 1) {
        let events = (0..50)
            .map(|i| EventKind::MasterElected {
                node: NodeId(1),
                term: i,
            })
            .collect();
        record(&mut db, events);
    }
    let oldest = db.events.front().expect("events").seq;
    let steps = missed(&db);
    let [
        Step::GiveUp {
            recipient,
            seq,
            attempts,
            error,
        },
        Step::Record { next_seq, .. },
    ] = steps.as_slice()
    else {
        panic!("a gap and its record: {steps:?}");
    };
    assert_eq!((recipient.as_str(), *seq, *attempts), ("slow", 1, 0));
    assert!(error.contains("left the event log"), "{error}");
    assert_eq!(*next_seq, oldest);
    db.apply(Command::AlertDelivered {
        name: "slow".into(),
        next_seq: oldest,
    });
    assert_eq!(missed(&db), [], "recorded once");
}
