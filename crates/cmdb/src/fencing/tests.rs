//! Fencing devices through `ClusterDb::apply`, and the history derived from events.

use std::collections::BTreeMap;

use model::fence::{FenceAction, FenceOutcome, parse_host_map};
use model::{EventKind, FenceDevice, NodeHealth, NodeId};

use crate::{ClusterDb, Command, CommandResult};

fn device(name: &str) -> FenceDevice {
    FenceDevice {
        name: name.to_string(),
        agent: "fence_dummy".to_string(),
        params: BTreeMap::new(),
        hosts: parse_host_map("n1,n2").expect("valid"),
        level: 1,
        timeout: std::time::Duration::from_secs(5),
        action: FenceAction::Off,
    }
}

#[test]
fn devices_are_put_replaced_and_removed() {
    let mut db = ClusterDb::at_current_format();
    let put = Command::PutFenceDevice {
        device: device("d1"),
    };
    assert_eq!(db.apply(put), CommandResult::Ok);
    let mut bad = device("d2");
    bad.hosts.clear();
    let refused = db.apply(Command::PutFenceDevice { device: bad });
    assert!(matches!(refused, CommandResult::Rejected(m) if m.contains("covers no node")));
    let replace = Command::ReplaceFenceDevices {
        devices: vec![device("d3"), device("d3")],
    };
    assert!(matches!(db.apply(replace), CommandResult::Rejected(m) if m.contains("twice")));
    assert_eq!(db.fencing.devices.keys().collect::<Vec<_>>(), ["d1"]);
    let remove = Command::RemoveFenceDevice { name: "d1".into() };
    assert_eq!(db.apply(remove), CommandResult::Ok);
    let again = Command::RemoveFenceDevice { name: "d1".into() };
    assert!(matches!(db.apply(again), CommandResult::Rejected(_)));
}

#[test]
fn history_follows_fencing_events_and_names_the_incident() {
    let mut db = ClusterDb::at_current_format();
    let node = NodeId(2);
    let lost = EventKind::NodeHealth {
        node,
        from: NodeHealth::Online,
        to: NodeHealth::Suspect,
        silence_ms: 300,
    };
    let events = vec![lost];
    db.apply(Command::RecordEvents { at_ms: 10, events });
    let fencing = |outcome, detail: &str| EventKind::Fencing {
        node,
        outcome,
        reason: "lost".into(),
        detail: detail.into(),
    };
    let events = vec![fencing(FenceOutcome::Started, "d1")];
    db.apply(Command::RecordEvents { at_ms: 20, events });
    let events = vec![fencing(FenceOutcome::Confirmed, "d1: off")];
    db.apply(Command::RecordEvents { at_ms: 30, events });
    let record = db.fencing.history.back().expect("one attempt");
    assert_eq!(record.outcome, FenceOutcome::Confirmed);
    assert_eq!((record.started_at, record.finished_at), (20, Some(30)));
    let incident = db
        .monitoring
        .incidents
        .list
        .back()
        .expect("node-loss incident");
    assert_eq!(record.incident, Some(incident.id));
}
