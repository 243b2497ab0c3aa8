//! The master's translation of plans into assignments: moves stop before they start,
//! groups start in order, and a down node loses its grants.

use std::collections::BTreeMap;

use cmdb::{AssignmentChange, ResourceDb};
use model::{
    Group, GroupId, NodeHealth, NodeId, Resource, ResourceId, ResourceState, ResourceStatus,
};

use super::round;

fn resource(name: &str) -> Resource {
    Resource {
        id: ResourceId(name.into()),
        type_name: "process".into(),
        params: BTreeMap::new(),
        options: Default::default(),
        unique: true,
        clone: None,
        utilization: BTreeMap::new(),
    }
}

fn healthy(nodes: &[u64]) -> BTreeMap<NodeId, NodeHealth> {
    nodes
        .iter()
        .map(|n| (NodeId(*n), NodeHealth::Online))
        .collect()
}

fn with_group() -> ResourceDb {
    let mut db = ResourceDb::default();
    for name in ["vip", "web"] {
        db.resources.insert(ResourceId(name.into()), resource(name));
    }
    let members = vec![ResourceId("vip".into()), ResourceId("web".into())];
    db.groups.insert(
        GroupId("site".into()),
        Group {
            id: GroupId("site".into()),
            members,
        },
    );
    db
}

fn running(db: &mut ResourceDb, name: &str, node: u64) {
    let status = ResourceStatus {
        state: ResourceState::Running,
        ..Default::default()
    };
    db.status
        .entry(ResourceId(name.into()))
        .or_default()
        .insert(NodeId(node), status);
}

fn standby(db: &mut ResourceDb, node: NodeId) {
    let config = model::NodeConfig {
        id: node,
        standby: true,
        maintenance: false,
        capacity: BTreeMap::new(),
    };
    db.node_config.insert(node, config);
}

#[test]
fn group_members_are_granted_one_after_another() {
    let mut db = with_group();
    let first = round(&db, &healthy(&[1, 2]), 0).changes;
    let node = match &first[..] {
        [AssignmentChange::Assign { node, resource }] if resource.0 == "vip" => *node,
        other => panic!("expected only vip to be granted first, got {other:?}"),
    };
    db.change_assignments(first);
    assert!(
        round(&db, &healthy(&[1, 2]), 0).changes.is_empty(),
        "web must wait for vip"
    );
    running(&mut db, "vip", node.0);
    let second = round(&db, &healthy(&[1, 2]), 0).changes;
    assert_eq!(
        second,
        vec![AssignmentChange::Assign {
            node,
            resource: ResourceId("web".into())
        }]
    );
}

#[test]
fn a_move_withdraws_the_old_grant_before_granting_the_new_one() {
    let mut db = ResourceDb::default();
    db.resources
        .insert(ResourceId("vip".into()), resource("vip"));
    db.change_assignments(vec![AssignmentChange::Assign {
        node: NodeId(1),
        resource: ResourceId("vip".into()),
    }]);
    running(&mut db, "vip", 1);
    let mut health = healthy(&[1, 2]);
    health.insert(NodeId(1), NodeHealth::Online);
    standby(&mut db, NodeId(1));
    let changes = round(&db, &health, 0).changes;
    assert_eq!(
        changes,
        vec![AssignmentChange::Unassign {
            node: NodeId(1),
            resource: ResourceId("vip".into())
        }]
    );
}

#[test]
fn a_down_node_loses_its_grants_and_the_resource_starts_elsewhere() {
    let mut db = ResourceDb::default();
    db.resources
        .insert(ResourceId("vip".into()), resource("vip"));
    db.change_assignments(vec![AssignmentChange::Assign {
        node: NodeId(1),
        resource: ResourceId("vip".into()),
    }]);
    running(&mut db, "vip", 1);
    let mut health = healthy(&[1, 2]);
    health.insert(NodeId(1), NodeHealth::Down);
    let changes = round(&db, &health, 0).changes;
    assert_eq!(
        changes,
        vec![
            AssignmentChange::Lost {
                node: NodeId(1),
                resource: ResourceId("vip".into())
            },
            AssignmentChange::Assign {
                node: NodeId(2),
                resource: ResourceId("vip".into())
            },
        ]
    );
}

/// What a node's report under its current grant does to the cmdb.
fn report(db: &mut ResourceDb, name: &str, node: NodeId, state: ResourceState) {
    let resource = ResourceId(name.into());
    let token = db
        .assignments
        .get(&node)
        .and_then(|m| m.get(&resource))
        .copied();
    let token = token.or_else(|| db.reported_tokens.get(&resource)?.get(&node).copied());
    let status = ResourceStatus {
        state,
        ..Default::default()
    };
    db.status
        .entry(resource.clone())
        .or_default()
        .insert(node, status);
    let reported = db.reported_tokens.entry(resource).or_default();
    reported.insert(node, token.expect("a grant to report under"));
}

#[test]
fn a_start_in_flight_finishes_and_stops_before_the_resource_starts_elsewhere() {
    let mut db = ResourceDb::default();
    db.resources
        .insert(ResourceId("web".into()), resource("web"));
    let nodes = healthy(&[1, 2]);
    let first = round(&db, &nodes, 0).changes;
    let node = match &first[..] {
        [AssignmentChange::Assign { node, .. }] => *node,
        other => panic!("expected one grant, got {other:?}"),
    };
    db.change_assignments(first);
    // Before any report, the granted node goes into standby: the plan now wants web on the
    // other node, but the start may already be under way here.
    standby(&mut db, node);
    assert_eq!(
        round(&db, &nodes, 0).changes,
        vec![],
        "nothing may start elsewhere, nor the grant be withdrawn, while its start is in flight"
    );
    report(&mut db, "web", node, ResourceState::Running);
    let web = ResourceId("web".into());
    let stop = vec![AssignmentChange::Unassign {
        node,
        resource: web.clone(),
    }];
    assert_eq!(round(&db, &nodes, 0).changes, stop, "then it is stopped");
    db.change_assignments(stop);
    assert_eq!(
        round(&db, &nodes, 0).changes,
        vec![],
        "and confirmed stopped"
    );
    report(&mut db, "web", node, ResourceState::Stopped);
    let other = NodeId(if node.0 == 1 { 2 } else { 1 });
    assert_eq!(
        round(&db, &nodes, 0).changes,
        vec![AssignmentChange::Assign {
            node: other,
            resource: web
        }],
        "before it starts elsewhere"
    );
}

#[test]
fn a_grant_spent_by_self_fencing_is_withdrawn_when_the_resource_runs_elsewhere() {
    let mut db = ResourceDb::default();
    db.resources
        .insert(ResourceId("vip".into()), resource("vip"));
    db.change_assignments(vec![AssignmentChange::Assign {
        node: NodeId(1),
        resource: ResourceId("vip".into()),
    }]);
    // Node 1's lease ran out: it stopped vip by itself and reported that under its grant.
    report(&mut db, "vip", NodeId(1), ResourceState::Stopped);
    standby(&mut db, NodeId(1));
    let vip = ResourceId("vip".into());
    assert_eq!(
        round(&db, &healthy(&[1, 2]), 0).changes,
        vec![
            AssignmentChange::Unassign {
                node: NodeId(1),
                resource: vip.clone(),
            },
            AssignmentChange::Assign {
                node: NodeId(2),
                resource: vip,
            },
        ]
    );
}

/// A grant withdrawn just before its node went down leaves an instance whose stop was never
/// reported: once the node is down it is lost too, not shown running on a dead node forever.
#[test]
fn a_down_node_loses_an_instance_whose_withdrawn_stop_it_never_reported() {
    let mut db = ResourceDb::default();
    db.resources
        .insert(ResourceId("web".into()), resource("web"));
    db.change_assignments(vec![AssignmentChange::Assign {
        node: NodeId(1),
        resource: ResourceId("web".into()),
    }]);
    running(&mut db, "web", 1);
    db.change_assignments(vec![AssignmentChange::Unassign {
        node: NodeId(1),
        resource: ResourceId("web".into()),
    }]);
    let mut health = healthy(&[1, 2]);
    health.insert(NodeId(1), NodeHealth::Down);
    let changes = round(&db, &health, 0).changes;
    assert_eq!(
        changes,
        vec![
            AssignmentChange::Lost {
                node: NodeId(1),
                resource: ResourceId("web".into())
            },
            AssignmentChange::Assign {
                node: NodeId(2),
                resource: ResourceId("web".into())
            },
        ]
    );
    db.change_assignments(changes);
    let state = db.status[&ResourceId("web".into())][&NodeId(1)].state;
    assert_eq!(state, ResourceState::Stopped);
    // Nothing more to lose in the next round.
    let again = round(&db, &health, 0).changes;
    assert!(
        !again
            .iter()
            .any(|c| matches!(c, AssignmentChange::Lost { .. })),
        "{again:?}"
    );
}
