//! In-place edits of groups and constraints: what an edit changes, and what it refuses.
//!
//! Method: apply `UpdateGroup` and `UpdateConstraint` to a cluster database with running
//! resources, as the log would, and check the configuration, the grants and the observed
//! states afterwards. A refused edit must name the field at fault and the fix, and leave
//! the resource database exactly as it was; an edit must accept and refuse exactly what
//! deleting and creating the same group (or constraint) would.

use model::{
    ColocationConstraint, EventKind, Group, GroupId, LocationConstraint, NodeId, OrderConstraint,
    OrderKind, Resource, ResourceId, ResourceState,
};

use crate::command::{Command, CommandResult};
use crate::db::ClusterDb;
use crate::resources::{AssignmentChange, OperationReport, StoredConstraint};

const NODE: NodeId = NodeId(1);

fn id(name: &str) -> ResourceId {
    ResourceId(name.into())
}

fn group(name: &str, members: &[&str]) -> Group {
    Group {
        id: GroupId(name.into()),
        members: members.iter().map(|m| id(m)).collect(),
    }
}

fn order(first: &str, then: &str) -> StoredConstraint {
    StoredConstraint::Order(OrderConstraint {
        first: id(first),
        then: id(then),
        kind: OrderKind::Mandatory,
    })
}

fn colocation(resource: &str, with: &str) -> StoredConstraint {
    StoredConstraint::Colocation(ColocationConstraint {
        resource: id(resource),
        with: id(with),
        score: model::SCORE_INFINITY,
    })
}

fn location(resource: &str, score: i64) -> StoredConstraint {
    StoredConstraint::Location(LocationConstraint {
        resource: id(resource),
        node: NODE,
        score,
        expires_at: None,
    })
}

fn ok(db: &mut ClusterDb, command: Command) {
    let what = command.to_string();
    assert_eq!(db.apply(command), CommandResult::Ok, "{what}");
}

/// Resources `a`, `b` (grouped as `web`, running on node 1), `c` and `d` (grouped as
/// `other`), `e`, and the clone `many`; `c` follows `a` by a colocation, `e` starts after
/// `a`.
fn cluster() -> ClusterDb {
    let mut db = ClusterDb::at_current_format();
    for name in ["a", "b", "c", "d", "e", "many"] {
        let resource = Resource {
            id: id(name),
            type_name: "process".into(),
            params: Default::default(),
            options: Default::default(),
            unique: false,
            clone: (name == "many").then(model::CloneOptions::default),
            utilization: Default::default(),
        };
        ok(
            &mut db,
            Command::PutResource {
                resource,
                create: true,
            },
        );
    }
    ok(&mut db, put_group("web", &["a", "b"]));
    ok(&mut db, put_group("other", &["d"]));
    for constraint in [colocation("c", "a"), order("a", "e")] {
        ok(&mut db, Command::AddConstraint { constraint });
    }
    for name in ["a", "b"] {
        run(&mut db, name);
    }
    db
}

/// Grant `name` on node 1 and record its start there.
fn run(db: &mut ClusterDb, name: &str) {
    let assign = AssignmentChange::Assign {
        node: NODE,
        resource: id(name),
    };
    let granted = db.apply(Command::ChangeAssignments {
        changes: vec![assign],
    });
    let CommandResult::Tokens(tokens) = granted else {
        panic!("a grant answers its token: {granted:?}");
    };
    let report = OperationReport {
        resource: id(name),
        operation: "start".into(),
        fencing_token: tokens[0],
        ok: true,
        state_after: ResourceState::Running,
        reason: None,
        started_at: 1,
        finished_at: 2,
    };
    ok(
        db,
        Command::RecordOperation {
            node: NODE,
            report,
            at_ms: 2,
        },
    );
}

fn put_group(name: &str, members: &[&str]) -> Command {
    Command::PutGroup {
        group: group(name, members),
    }
}

fn update_group(name: &str, members: &[&str]) -> Command {
    Command::UpdateGroup {
        group: group(name, members),
    }
}

fn update_constraint(old: StoredConstraint, new: StoredConstraint) -> Command {
    Command::UpdateConstraint { old, new }
}

/// `command` is refused with exactly `expected`, and the resources are as they were.
fn check_refused(command: Command, expected: &str) {
    let mut db = cluster();
    let before = db.resources.clone();
    match db.apply(command) {
        CommandResult::Rejected(reason) => {
            assert_eq!(reason, expected);
            // `; ` separates problems in the API's answers: one refusal is one problem.
            assert!(!reason.contains("; "), "{reason}");
        }
        other => panic!("expected the refusal {expected:?}, got {other:?}"),
    }
    assert_eq!(db.resources, before, "a refused edit changed something");
}

#[test]
fn a_group_gains_a_member_and_a_new_order_and_its_running_members_keep_their_grants() {
    let mut db = cluster();
    let grants = db.resources.assignments.clone();
    let status = db.resources.status.clone();
    let audited = Command::Audited {
        actor: "ada".into(),
        at_ms: 10,
        command: Box::new(update_group("web", &["b", "a", "e"])),
    };
    ok(&mut db, audited);
    let web = &db.resources.groups[&GroupId("web".into())];
    assert_eq!(web.members, vec![id("b"), id("a"), id("e")]);
    assert_eq!(db.resources.assignments, grants, "no grant changed");
    assert_eq!(db.resources.status, status, "no observed state changed");
    let event = db.events.back().expect("the edit is audited");
    assert_eq!(
        event.kind,
        EventKind::OperatorAction {
            actor: "ada".into(),
            action: "update group web to [b, a, e]".into(),
        }
    );
}

#[test]
fn a_removed_member_is_ungrouped_and_nothing_else_changes() {
    let mut db = cluster();
    let constraints = db.resources.constraints.clone();
    ok(&mut db, update_group("web", &["a"]));
    assert_eq!(
        db.resources.groups[&GroupId("web".into())].members,
        vec![id("a")]
    );
    assert!(db.resources.resources.contains_key(&id("b")));
    assert_eq!(db.resources.constraints, constraints);
}

#[test]
fn an_edit_that_changes_nothing_is_accepted_as_is() {
    let mut db = cluster();
    let before = db.resources.clone();
    ok(&mut db, update_group("web", &["a", "b"]));
    assert_eq!(db.resources, before);
}

#[test]
fn an_edit_of_a_missing_group_is_refused_pointing_at_create() {
    check_refused(
        update_group("nope", &["a"]),
        "group nope does not exist: create it with `encluster group create nope MEMBER...`",
    );
}

#[test]
fn an_unknown_member_is_refused_under_members() {
    check_refused(
        update_group("web", &["a", "b", "ghost"]),
        "members: ghost does not exist: create the resource first, or leave it out of group \
         web",
    );
}

#[test]
fn a_member_of_another_group_is_refused_naming_that_group() {
    check_refused(
        update_group("web", &["a", "b", "d"]),
        "members: d is already in group other: take it out of that group first (`encluster \
         group update other ...`), or leave it out of group web",
    );
}

#[test]
fn a_member_listed_twice_is_refused() {
    check_refused(
        update_group("web", &["a", "b", "a"]),
        "members: a is listed twice: list each member once",
    );
}

#[test]
fn a_clone_is_refused_as_a_member() {
    check_refused(
        update_group("web", &["a", "many"]),
        "members: many is a clone, and clones cannot be grouped: leave it out, or tie it to \
         the group with a colocation constraint",
    );
}

#[test]
fn an_empty_member_list_is_refused_pointing_at_delete() {
    check_refused(
        update_group("web", &[]),
        "members: group web needs at least one member: to ungroup them all, delete the group \
         (`encluster group delete web`)",
    );
}

#[test]
fn a_member_colocated_by_a_constraint_is_refused_pointing_at_the_constraint() {
    check_refused(
        update_group("web", &["a", "b", "c"]),
        "members: a colocation constraint already ties c to a, and one group cannot hold \
         both: remove that constraint first (`encluster constraint list` shows its id), or \
         leave one of them out",
    );
}

#[test]
fn a_constraint_is_replaced_in_its_place() {
    let mut db = cluster();
    ok(
        &mut db,
        Command::AddConstraint {
            constraint: location("e", 50),
        },
    );
    ok(&mut db, update_constraint(order("a", "e"), order("e", "a")));
    assert_eq!(
        db.resources.constraints,
        vec![colocation("c", "a"), order("e", "a"), location("e", 50)]
    );
    ok(
        &mut db,
        update_constraint(location("e", 50), location("web", -50)),
    );
    assert_eq!(db.resources.constraints[2], location("web", -50));
}

#[test]
fn an_edit_of_a_constraint_no_longer_declared_is_refused_pointing_at_the_list() {
    check_refused(
        update_constraint(order("b", "e"), order("e", "b")),
        "no constraint order b then e is declared (it was changed or removed meanwhile): \
         `encluster constraint list` shows the current ones",
    );
}

#[test]
fn a_constraint_naming_nothing_is_refused_under_the_field_that_names_it() {
    check_refused(
        update_constraint(order("a", "e"), order("a", "ghost")),
        "then: ghost is neither a resource nor a group: create it first, or name another",
    );
    check_refused(
        update_constraint(colocation("c", "a"), colocation("ghost", "a")),
        "resource: ghost is neither a resource nor a group: create it first, or name another",
    );
}

#[test]
fn a_constraint_relating_a_resource_to_itself_is_refused() {
    check_refused(
        update_constraint(order("a", "e"), order("e", "e")),
        "then: the constraint would relate e to itself (a group stands for its first or last \
         member): name another resource",
    );
    // The group `web` stands for its first member, `a`, as an order's `then`.
    check_refused(
        update_constraint(order("a", "e"), order("a", "web")),
        "then: the constraint would relate a to itself (a group stands for its first or last \
         member): name another resource",
    );
}

#[test]
fn a_colocation_inside_a_group_is_refused() {
    check_refused(
        update_constraint(colocation("c", "a"), colocation("b", "a")),
        "with: b and a are both in group web, which already keeps them on one node: colocate \
         resources of different groups",
    );
}

#[test]
fn a_colocation_that_closes_a_loop_is_refused() {
    let mut db = cluster();
    ok(
        &mut db,
        Command::AddConstraint {
            constraint: colocation("e", "c"),
        },
    );
    let closes = update_constraint(colocation("c", "a"), colocation("c", "e"));
    let before = db.resources.clone();
    match db.apply(closes) {
        CommandResult::Rejected(reason) => {
            assert!(
                reason.starts_with("with: the colocations would form a loop ("),
                "{reason}"
            );
            assert!(reason.ends_with("cannot be placed: name another resource"));
            assert!(!reason.contains("; "), "one problem, one part: {reason}");
        }
        other => panic!("a loop was accepted: {other:?}"),
    }
    assert_eq!(db.resources, before);
}

/// Edits are commands of cluster format 2: a cluster where a node may still run an older
/// encluster refuses them before they are proposed, and in `apply`, naming the fix.
#[test]
fn edits_are_refused_until_the_cluster_format_is_2() {
    for edit in [
        update_group("web", &["b", "a"]),
        update_constraint(order("a", "e"), order("e", "a")),
    ] {
        let mut db = cluster();
        db.format = crate::FORMAT_OLDEST;
        let refused = db.admits(&edit).expect_err("an edit at format 1");
        assert!(refused.contains("needs cluster format 2"), "{refused}");
        assert!(refused.contains("Upgrading"), "{refused}");
        let before = db.resources.clone();
        assert!(matches!(db.apply(edit), CommandResult::Rejected(_)));
        assert_eq!(db.resources, before);
    }
}

/// An edit accepts and refuses exactly what deleting the group and creating it again
/// with the new members would, for every list of members drawn from the resources.
#[test]
fn a_group_edit_accepts_and_refuses_what_delete_and_create_would() {
    let names = ["a", "b", "c", "d", "e", "many", "ghost"];
    let mut lists: Vec<Vec<&str>> = vec![Vec::new()];
    for first in names {
        lists.push(vec![first]);
        for second in names {
            lists.push(vec![first, second]);
            lists.push(vec!["b", first, second]);
        }
    }
    for members in lists {
        let mut edited = cluster();
        let edit = edited.apply(update_group("web", &members));
        let mut recreated = cluster();
        ok(
            &mut recreated,
            Command::DeleteGroup {
                id: GroupId("web".into()),
            },
        );
        let create = recreated.apply(put_group("web", &members));
        assert_eq!(
            edit == CommandResult::Ok,
            create == CommandResult::Ok,
            "{members:?}: the edit answered {edit:?}, the create {create:?}"
        );
        if edit == CommandResult::Ok {
            assert_eq!(edited.resources.groups, recreated.resources.groups);
        }
    }
}

/// The same for a constraint: replacing it accepts and refuses what removing it and
/// adding the new one would.
#[test]
fn a_constraint_edit_accepts_and_refuses_what_remove_and_add_would() {
    let names = ["a", "b", "c", "e", "web", "ghost"];
    let mut candidates = Vec::new();
    for first in names {
        candidates.push(location(first, 10));
        for second in names {
            candidates.push(order(first, second));
            candidates.push(colocation(first, second));
        }
    }
    for new in candidates {
        let mut edited = cluster();
        let edit = edited.apply(update_constraint(order("a", "e"), new.clone()));
        let mut replaced = cluster();
        ok(
            &mut replaced,
            Command::RemoveConstraint {
                constraint: order("a", "e"),
            },
        );
        let add = replaced.apply(Command::AddConstraint {
            constraint: new.clone(),
        });
        assert_eq!(
            edit == CommandResult::Ok,
            add == CommandResult::Ok,
            "{new}: the edit answered {edit:?}, the add {add:?}"
        );
    }
}
