//! The master's translation of plans into assignments: moves stop before they start,
//! groups start in order, and a down node loses its grants.

use std::collections::BTreeMap;

use cmdb::{AssignmentChange, ResourceDb};
use model::{
    Constraint, Group, GroupId, NodeHealth, NodeId, OrderConstraint, OrderKind, Resource,
    ResourceId, ResourceState, ResourceStatus,
};

use super::round;

mod walk;

use walk::{Walk, process};

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

/// A group leaving a node stops in reverse order: the members after a member are stopped
/// before its grant is withdrawn. All stops used to be withdrawn in one round, so the node
/// stopped them at once and a group's VIP could go before its application had stopped
/// (seen with the chat example).
#[test]
fn a_group_leaving_a_node_stops_its_members_in_reverse_order() {
    let mut db = with_group();
    let grants = ["vip", "web"].map(|name| AssignmentChange::Assign {
        node: NodeId(1),
        resource: ResourceId(name.into()),
    });
    db.change_assignments(grants.to_vec());
    report(&mut db, "vip", NodeId(1), ResourceState::Running);
    report(&mut db, "web", NodeId(1), ResourceState::Running);
    standby(&mut db, NodeId(1));
    let health = healthy(&[1, 2]);
    let withdraw = |name: &str| AssignmentChange::Unassign {
        node: NodeId(1),
        resource: ResourceId(name.into()),
    };
    let first = round(&db, &health, 0).changes;
    assert_eq!(first, vec![withdraw("web")], "web must stop before vip");
    db.change_assignments(first);
    assert!(
        round(&db, &health, 0).changes.is_empty(),
        "vip waits for web"
    );
    report(&mut db, "web", NodeId(1), ResourceState::Stopped);
    assert_eq!(round(&db, &health, 0).changes, vec![withdraw("vip")]);
}

/// Two resources running on node 1 with orders among them; node 1 goes to standby.
fn ordered(orders: &[(&str, &str)]) -> ResourceDb {
    let mut db = ResourceDb::default();
    for name in ["db", "app"] {
        db.resources.insert(ResourceId(name.into()), resource(name));
        let grant = AssignmentChange::Assign {
            node: NodeId(1),
            resource: ResourceId(name.into()),
        };
        db.change_assignments(vec![grant]);
        report(&mut db, name, NodeId(1), ResourceState::Running);
    }
    for (first, then) in orders {
        let order = OrderConstraint {
            first: ResourceId((*first).into()),
            then: ResourceId((*then).into()),
            kind: OrderKind::Optional,
        };
        db.constraints.push(Constraint::Order(order).into());
    }
    standby(&mut db, NodeId(1));
    db
}

fn withdraw(name: &str) -> AssignmentChange {
    AssignmentChange::Unassign {
        node: NodeId(1),
        resource: ResourceId(name.into()),
    }
}

#[test]
fn an_order_stops_then_before_first() {
    let mut db = ordered(&[("db", "app")]);
    let health = healthy(&[1, 2]);
    let first = round(&db, &health, 0).changes;
    assert_eq!(first, vec![withdraw("app")], "app must stop before db");
    db.change_assignments(first);
    assert!(
        round(&db, &health, 0).changes.is_empty(),
        "db waits for app"
    );
    report(&mut db, "app", NodeId(1), ResourceState::Stopped);
    assert_eq!(round(&db, &health, 0).changes, vec![withdraw("db")]);
}

#[test]
fn inside_an_order_loop_nothing_waits_to_stop() {
    let db = ordered(&[("db", "app"), ("app", "db")]);
    let mut changes = round(&db, &healthy(&[1, 2]), 0).changes;
    changes.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(changes, vec![withdraw("app"), withdraw("db")]);
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

/// Issue 10: the grant of a start in flight used to be kept until the start ended, which
/// held every other start back meanwhile (for ever when the node never reported under it).
/// It is withdrawn at once; the instance stays unknown, so nothing starts elsewhere until
/// the node confirms the stop.
#[test]
fn r10_a_start_in_flight_is_withdrawn_at_once_and_confirmed_stopped_before_it_starts_elsewhere() {
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
    let web = ResourceId("web".into());
    let withdraw = vec![AssignmentChange::Unassign {
        node,
        resource: web.clone(),
    }];
    assert_eq!(round(&db, &nodes, 0).changes, withdraw, "withdrawn at once");
    db.change_assignments(withdraw);
    assert_eq!(
        round(&db, &nodes, 0).changes,
        vec![],
        "nothing may start elsewhere while the start may still run here"
    );
    let status = db.status.entry(web.clone()).or_default();
    status.entry(node).or_default().state = ResourceState::Stopped;
    let other = NodeId(if node.0 == 1 { 2 } else { 1 });
    assert_eq!(
        round(&db, &nodes, 0).changes,
        vec![AssignmentChange::Assign {
            node: other,
            resource: web
        }],
        "once confirmed stopped, it starts elsewhere"
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

/// A resource whose start waits for ever on nodes 1 and 2 (a probe nobody answers).
fn slow() -> Resource {
    process("slow", &[("command", "sleep"), ("hang_on", "1,2")])
}

fn quick(name: &str) -> Resource {
    process(name, &[("command", "sleep")])
}

/// Create `resource` and walk until its start is under way; returns the node.
fn start_under_way(walk: &mut Walk, resource: Resource) -> u64 {
    let name = resource.id.0.clone();
    walk.create(resource);
    walk.until("its start is under way", |w| !w.starting(&name).is_empty());
    let node = walk.starting(&name)[0];
    // As in the issue, the start has been running for a while (5 s).
    for _ in 0..50 {
        walk.step();
    }
    assert_eq!(walk.starting(&name), [node], "still starting");
    node
}

/// Then a resource created afterwards must start: nothing is left blocking the cluster.
fn another_resource_starts(walk: &mut Walk) {
    walk.create(quick("after"));
    walk.until("a resource created afterwards runs", |w| {
        w.running_on("after").is_some()
    });
}

/// Issue 10, as reported: `resource delete` while the start waits on its probe stalled
/// every later start for ever. The start is abandoned, its process stopped, every record
/// of the resource dropped, and the next resource starts.
#[test]
fn r10_delete_during_start_stops_it_and_blocks_nothing() {
    let mut walk = Walk::new(&[1, 2]);
    start_under_way(&mut walk, slow());
    walk.delete("slow");
    another_resource_starts(&mut walk);
    walk.until("nothing of slow is left anywhere", |w| w.gone("slow"));
}

/// Issue 10, the same when the node never saw the grant (its replica lagged behind both the
/// grant and the deletion): nobody would ever report under that grant.
#[test]
fn r10_delete_before_the_node_saw_the_grant_blocks_nothing() {
    let mut walk = Walk::new(&[1, 2]);
    walk.pause_feeds(true);
    walk.create(slow());
    walk.until("slow is granted", |w| !w.resources().assignments.is_empty());
    walk.delete("slow");
    walk.step();
    walk.pause_feeds(false);
    another_resource_starts(&mut walk);
    walk.until("nothing of slow is left anywhere", |w| w.gone("slow"));
}

/// Issue 10: a cluster already stalled by the old code (the deleted resource's grant, never
/// reported on, in the cmdb) is cleared by a master running this code.
#[test]
fn r10_a_new_master_clears_the_grant_the_stall_left_behind() {
    let mut walk = Walk::new(&[1, 2]);
    walk.apply(cmdb::Command::ChangeAssignments {
        changes: vec![AssignmentChange::Assign {
            node: NodeId(1),
            resource: ResourceId("slow".into()),
        }],
    });
    another_resource_starts(&mut walk);
    walk.until("nothing of slow is left anywhere", |w| w.gone("slow"));
}

/// Issue 10, update while starting: the start with the old parameters is abandoned and the
/// resource runs with the new ones, under a new grant.
#[test]
fn r10_update_during_start_runs_the_new_parameters() {
    let mut walk = Walk::new(&[1, 2]);
    start_under_way(&mut walk, slow());
    let fixed = quick("slow");
    walk.update(fixed.clone());
    walk.until("slow runs with its new parameters", |w| {
        w.running_on("slow").is_some() && w.processes("slow")[0].1 == fixed
    });
    another_resource_starts(&mut walk);
}

/// Issue 10, move while starting: the start is abandoned and stopped, and only then does the
/// resource start on its new node.
#[test]
fn r10_move_during_start_runs_it_on_the_new_node() {
    let mut walk = Walk::new(&[1, 2]);
    let hangs_on_one = process("slow", &[("command", "sleep"), ("hang_on", "1")]);
    let node = start_under_way(&mut walk, hangs_on_one);
    assert_eq!(node, 1, "an empty cluster places it on node 1 first");
    walk.move_to("slow", 2);
    walk.until("slow runs on node 2", |w| w.running_on("slow") == Some(2));
    another_resource_starts(&mut walk);
}

/// Issue 10, stop while starting: the start is abandoned and the instance stopped.
#[test]
fn r10_stop_during_start_stops_it_and_blocks_nothing() {
    let mut walk = Walk::new(&[1, 2]);
    let node = start_under_way(&mut walk, slow());
    walk.stop("slow");
    another_resource_starts(&mut walk);
    walk.until("slow is stopped and recorded so", |w| {
        let state = w.resources().status[&ResourceId("slow".into())][&NodeId(node)].state;
        w.processes("slow").is_empty()
            && w.starting("slow").is_empty()
            && state == ResourceState::Stopped
            && w.resources().assignments.values().all(|m| m.len() <= 1)
    });
}

/// Issue 10, delete while stopping: the stop finishes, and nothing of the resource is left.
#[test]
fn r10_delete_during_stop_leaves_nothing_and_blocks_nothing() {
    let mut walk = Walk::new(&[1, 2]);
    walk.create(process(
        "web",
        &[("command", "sleep"), ("stop_steps", "30")],
    ));
    walk.until("web runs", |w| w.running_on("web").is_some());
    walk.stop("web");
    walk.until("web's stop is under way", |w| !w.stopping("web").is_empty());
    walk.step();
    walk.delete("web");
    another_resource_starts(&mut walk);
    walk.until("nothing of web is left anywhere", |w| w.gone("web"));
}

/// Issue 11: a crash-looping process was granted anew at once after every failure (53
/// restarts in 3 s). From the second failure in a row, the restart in place waits: 1 s,
/// doubling; the new grant is then a `restart` event.
#[test]
fn r11_a_restart_in_place_backs_off_after_repeated_failures() {
    let mut db = ResourceDb::default();
    db.resources.insert(ResourceId("p1".into()), resource("p1"));
    let node = NodeId(1);
    db.change_assignments(vec![AssignmentChange::Assign {
        node,
        resource: ResourceId("p1".into()),
    }]);
    report(&mut db, "p1", node, ResourceState::Stopped);
    let status = db
        .status
        .get_mut(&ResourceId("p1".into()))
        .and_then(|m| m.get_mut(&node))
        .expect("reported");
    status.fail_count = 3;
    status.last_failure_at = Some(10_000);
    let health = healthy(&[1]);
    assert_eq!(
        round(&db, &health, 10_500).changes,
        [],
        "waits 2 s after failure 3"
    );
    assert_eq!(round(&db, &health, 11_999).changes, []);
    let restart = round(&db, &health, 12_000);
    assert_eq!(
        restart.changes,
        [AssignmentChange::Assign {
            node,
            resource: ResourceId("p1".into()),
        }]
    );
    let events = super::describe(&restart, &db);
    let actions: Vec<&str> = events
        .iter()
        .map(|event| match event {
            model::EventKind::ResourceAction { action, .. } => action.as_str(),
            _ => "other",
        })
        .collect();
    assert_eq!(actions, ["restart"]);
}

/// Issue 11: a group member restarted for a parameter change restarts the members after it,
/// in order: they stop first, then it starts again, then they do.
#[test]
fn r11_a_restarted_group_member_restarts_the_members_after_it_in_order() {
    let mut db = with_group();
    let node = NodeId(1);
    for name in ["vip", "web"] {
        db.change_assignments(vec![AssignmentChange::Assign {
            node,
            resource: ResourceId(name.into()),
        }]);
        report(&mut db, name, node, ResourceState::Running);
    }
    let health = healthy(&[1]);
    assert_eq!(round(&db, &health, 0).changes, [], "settled");
    // The executor stopped vip under its grant: its parameters changed.
    report(&mut db, "vip", node, ResourceState::Stopped);
    let web = ResourceId("web".into());
    let vip = ResourceId("vip".into());
    let changes = round(&db, &health, 0).changes;
    assert_eq!(
        changes,
        [AssignmentChange::Unassign {
            node,
            resource: web.clone()
        }],
        "web stops before vip starts again"
    );
    db.change_assignments(changes);
    assert_eq!(
        round(&db, &health, 0).changes,
        [],
        "vip waits for web's stop"
    );
    report(&mut db, "web", node, ResourceState::Stopped);
    let changes = round(&db, &health, 0).changes;
    assert_eq!(
        changes,
        [AssignmentChange::Assign {
            node,
            resource: vip.clone()
        }]
    );
}

// --- promo ---
/// `db` promotable on three nodes, running everywhere with the given scores, its role
/// granted and running on node 1.
fn promoted_on_1(scores: &[(u64, i64)]) -> ResourceDb {
    let mut db = ResourceDb::default();
    let mut resource = resource("db");
    resource.unique = false;
    resource.clone = Some(model::CloneOptions { max: None });
    db.resources.insert(resource.id.clone(), resource);
    db.promotable.insert(ResourceId("db".into()), 1);
    for node in 1..=3 {
        running(&mut db, "db", node);
        db.change_assignments(vec![AssignmentChange::Assign {
            node: NodeId(node),
            resource: ResourceId("db".into()),
        }]);
    }
    let scores = scores.iter().map(|(n, s)| (NodeId(*n), *s)).collect();
    db.promotion_scores.insert(ResourceId("db".into()), scores);
    db.change_assignments(vec![AssignmentChange::Assign {
        node: NodeId(1),
        resource: ResourceId("db:promoted".into()),
    }]);
    running(&mut db, "db:promoted", 1);
    db
}

#[test]
fn a_promoted_role_moves_only_after_its_demotion_is_confirmed() {
    let mut db = promoted_on_1(&[(1, 10), (2, 5), (3, 5)]);
    let role = ResourceId("db:promoted".into());
    assert_eq!(round(&db, &healthy(&[1, 2, 3]), 0).changes, vec![]);
    // Node 1's instance fails: its role is withdrawn, and granted nowhere else yet.
    db.status
        .get_mut(&ResourceId("db".into()))
        .expect("db")
        .get_mut(&NodeId(1))
        .expect("node 1")
        .state = ResourceState::Failed;
    let changes = round(&db, &healthy(&[1, 2, 3]), 0).changes;
    assert!(
        changes.contains(&AssignmentChange::Unassign {
            node: NodeId(1),
            resource: role.clone()
        }),
        "{changes:?}"
    );
    let granted_elsewhere = changes
        .iter()
        .any(|c| matches!(c, AssignmentChange::Assign { resource, .. } if *resource == role));
    assert!(
        !granted_elsewhere,
        "promoted before the demotion: {changes:?}"
    );
    db.change_assignments(changes);
    assert!(
        !round(&db, &healthy(&[1, 2, 3]), 0).changes.iter().any(|c| {
            matches!(c, AssignmentChange::Assign { resource, .. } if *resource == role)
        }),
        "still unconfirmed"
    );
    // Node 1 reports the role stopped (demoted) and its failed instance stopped: now
    // another node is promoted.
    for name in ["db:promoted", "db"] {
        let instances = db.status.get_mut(&ResourceId(name.into())).expect(name);
        instances.get_mut(&NodeId(1)).expect("node 1").state = ResourceState::Stopped;
    }
    let changes = round(&db, &healthy(&[1, 2, 3]), 0).changes;
    let promoted: Vec<u64> = changes
        .iter()
        .filter_map(|c| match c {
            AssignmentChange::Assign { node, resource } if *resource == role => Some(node.0),
            _ => None,
        })
        .collect();
    assert_eq!(promoted.len(), 1, "{changes:?}");
    assert_ne!(promoted[0], 1);
}
