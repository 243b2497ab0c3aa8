//! Who hears a clone notification and what it says, from the replica: before a promotion
//! every running instance hears of it with the promoted one named; after it, the new one
//! counts as promoted although the replica may not know yet; after a stop, the stopped
//! instance no longer hears.

use std::collections::BTreeMap;

use cmdb::{ClusterDb, NodeRecord};
use model::{NodeHealth, NodeId, NodeInfo, ResourceId, ResourceState, ResourceStatus};
use resource_agents::{NotifyKind, NotifyOperation};

use super::plan;

fn status(state: ResourceState) -> ResourceStatus {
    ResourceStatus {
        state,
        fail_count: 0,
        last_failure_at: None,
        last_failure: None,
    }
}

/// Three nodes; `db` runs on nodes 1 and 2, stopped on 3; node 1 holds `db:promoted`.
fn db() -> ClusterDb {
    let mut db = ClusterDb::default();
    for n in 1..=3 {
        let info = NodeInfo {
            name: format!("n{n}"),
            peer_addr: format!("127.0.0.{n}:7001"),
            api_addr: format!("127.0.0.{n}:7000"),
        };
        let record = NodeRecord {
            info,
            health: NodeHealth::Online,
            health_since_ms: 0,
            joined_at_ms: 0,
        };
        db.nodes.insert(NodeId(n), record);
    }
    let states = [
        (1, ResourceState::Running),
        (2, ResourceState::Running),
        (3, ResourceState::Stopped),
    ];
    let instances = states.map(|(n, state)| (NodeId(n), status(state)));
    db.resources
        .status
        .insert(ResourceId("db".into()), BTreeMap::from(instances));
    let role = BTreeMap::from([(NodeId(1), status(ResourceState::Running))]);
    db.resources
        .status
        .insert(ResourceId("db:promoted".into()), role);
    db
}

fn check(acting: u64, operation: NotifyOperation, kind: NotifyKind, expected: &str) {
    let db = db();
    let (notice, targets) = plan(
        &db,
        NodeId(acting),
        &ResourceId("db".into()),
        operation,
        kind,
    );
    let names = |list: &[resource_agents::NotifyInstance]| {
        let names: Vec<&str> = list.iter().map(|i| i.node.as_str()).collect();
        names.join(",")
    };
    let to: Vec<String> = targets.iter().map(|t| t.node.to_string()).collect();
    let found = format!(
        "acting {} active {} inactive {} promoted {} unpromoted {} to {}",
        names(&notice.acting),
        names(&notice.active),
        names(&notice.inactive),
        names(&notice.promoted),
        names(&notice.unpromoted),
        to.join(",")
    );
    assert_eq!(found, expected);
}

#[test]
fn a_promotion_is_told_to_every_running_instance_before_and_after() {
    check(
        2,
        NotifyOperation::Promote,
        NotifyKind::Pre,
        "acting n2 active n1,n2 inactive n3 promoted n1 unpromoted n2 to 1,2",
    );
    check(
        2,
        NotifyOperation::Promote,
        NotifyKind::Post,
        "acting n2 active n1,n2 inactive n3 promoted n1,n2 unpromoted  to 1,2",
    );
}

#[test]
fn a_start_is_told_to_the_started_instance_only_afterwards_and_a_stop_before() {
    check(
        3,
        NotifyOperation::Start,
        NotifyKind::Pre,
        "acting n3 active n1,n2 inactive n3 promoted n1 unpromoted n2 to 1,2",
    );
    check(
        3,
        NotifyOperation::Start,
        NotifyKind::Post,
        "acting n3 active n1,n2,n3 inactive  promoted n1 unpromoted n2,n3 to 1,2,3",
    );
    check(
        1,
        NotifyOperation::Stop,
        NotifyKind::Post,
        "acting n1 active n2 inactive n1,n3 promoted  unpromoted n2 to 2",
    );
}
