//! Resource bookkeeping in the cmdb: what reports, withdrawals and deletions leave behind.
//!
//! Method: apply the master's assignment changes and the executors' reports to a
//! `ResourceDb` in the order the log would, and check the status, grants and reported
//! tokens the master plans from. Issue 10's stall came from a deleted resource's grant that
//! stayed "not yet reported on" for ever.

use model::{NodeId, Resource, ResourceId, ResourceState};

use super::{AssignmentChange, OperationReport, ResourceDb, StoredConstraint};
use crate::command::CommandResult;

const NODE: NodeId = NodeId(1);

fn db_with(name: &str) -> ResourceDb {
    let mut db = ResourceDb::default();
    let resource = Resource {
        id: ResourceId(name.into()),
        type_name: "process".into(),
        params: Default::default(),
        options: Default::default(),
        unique: false,
        clone: None,
        utilization: Default::default(),
    };
    db.resources.insert(resource.id.clone(), resource);
    db
}

fn id(name: &str) -> ResourceId {
    ResourceId(name.into())
}

fn grant(db: &mut ResourceDb, name: &str) -> u64 {
    let tokens = db.change_assignments(vec![AssignmentChange::Assign {
        node: NODE,
        resource: id(name),
    }]);
    tokens[0]
}

fn withdraw(db: &mut ResourceDb, name: &str) {
    db.change_assignments(vec![AssignmentChange::Unassign {
        node: NODE,
        resource: id(name),
    }]);
}

fn report(db: &mut ResourceDb, name: &str, operation: &str, token: u64, state: ResourceState) {
    let ok = matches!(state, ResourceState::Running | ResourceState::Stopped);
    let report = OperationReport {
        resource: id(name),
        operation: operation.into(),
        fencing_token: token,
        ok,
        state_after: state,
        reason: (!ok).then(|| "abandoned: grant withdrawn".to_owned()),
        started_at: 0,
        finished_at: 1,
    };
    db.record(NODE, report, 1);
}

fn state(db: &ResourceDb, name: &str) -> Option<ResourceState> {
    Some(db.status.get(&id(name))?.get(&NODE)?.state)
}

fn reported(db: &ResourceDb, name: &str) -> Option<u64> {
    db.reported_tokens.get(&id(name))?.get(&NODE).copied()
}

#[test]
fn r10_reports_about_a_deleted_resource_are_recorded_until_it_is_stopped() {
    let mut db = db_with("slow");
    let token = grant(&mut db, "slow");
    assert_eq!(db.delete_resource(&id("slow")), crate::CommandResult::Ok);
    // The executor abandons the start it was running and reports it.
    report(&mut db, "slow", "start", token, ResourceState::Unknown);
    assert_eq!(state(&db, "slow"), Some(ResourceState::Unknown));
    assert_eq!(
        reported(&db, "slow"),
        Some(token),
        "the grant was reported on"
    );
    report(&mut db, "slow", "stop", token, ResourceState::Stopped);
    assert_eq!(
        (state(&db, "slow"), reported(&db, "slow")),
        (Some(ResourceState::Stopped), Some(token)),
        "stopped under the grant, which the master then withdraws"
    );
    withdraw(&mut db, "slow");
    assert_eq!(db.assignments, Default::default());
    assert_eq!(db.status, Default::default());
    assert_eq!(db.reported_tokens, Default::default(), "nothing is left");
}

#[test]
fn r10_a_grant_withdrawn_before_any_report_is_unknown_until_the_node_confirms() {
    let mut db = db_with("web");
    grant(&mut db, "web");
    withdraw(&mut db, "web");
    assert_eq!(
        state(&db, "web"),
        Some(ResourceState::Unknown),
        "its start may be under way"
    );
    // The node never saw the grant and confirms that nothing runs, under no newer token.
    report(&mut db, "web", "stop", 0, ResourceState::Stopped);
    assert_eq!(state(&db, "web"), Some(ResourceState::Stopped));
}

#[test]
fn a_grant_withdrawn_after_its_report_keeps_the_reported_state() {
    let mut db = db_with("web");
    let token = grant(&mut db, "web");
    report(&mut db, "web", "start", token, ResourceState::Running);
    withdraw(&mut db, "web");
    assert_eq!(state(&db, "web"), Some(ResourceState::Running));
    report(&mut db, "web", "stop", token, ResourceState::Stopped);
    grant(&mut db, "web");
    withdraw(&mut db, "web");
    assert_eq!(
        state(&db, "web"),
        Some(ResourceState::Unknown),
        "a newer grant not reported on is in doubt again"
    );
}

#[test]
fn an_abandoned_start_is_not_counted_as_a_failure() {
    let mut db = db_with("web");
    let token = grant(&mut db, "web");
    report(&mut db, "web", "start", token, ResourceState::Unknown);
    let status = &db.status[&id("web")][&NODE];
    assert_eq!(status.fail_count, 0);
    assert_eq!(status.last_failure, None);
    report(&mut db, "web", "start", token, ResourceState::Failed);
    assert_eq!(
        db.status[&id("web")][&NODE].fail_count,
        1,
        "a failed start is"
    );
}

#[test]
fn deleting_a_stopped_resource_forgets_its_status() {
    let mut db = db_with("web");
    let token = grant(&mut db, "web");
    report(&mut db, "web", "start", token, ResourceState::Running);
    withdraw(&mut db, "web");
    report(&mut db, "web", "stop", token, ResourceState::Stopped);
    db.delete_resource(&id("web"));
    assert_eq!(db.status, Default::default());
    assert_eq!(db.reported_tokens, Default::default());
}

fn location(name: &str, node: u64, score: i64) -> model::LocationConstraint {
    model::LocationConstraint {
        resource: id(name),
        node: NodeId(node),
        score,
        expires_at: None,
    }
}

#[test]
fn bans_reach_the_scheduler_and_clearing_them_lifts_them() {
    let mut db = db_with("web");
    let ban = location("web", 2, -model::SCORE_INFINITY);
    assert_eq!(db.set_bans(id("web"), vec![ban.clone()]), CommandResult::Ok);
    let config = db.cluster_config(std::iter::empty());
    assert!(
        config
            .constraints
            .contains(&model::Constraint::Location(ban))
    );
    assert_eq!(db.set_bans(id("web"), Vec::new()), CommandResult::Ok);
    assert!(db.bans.is_empty());
    assert!(db.cluster_config(std::iter::empty()).constraints.is_empty());
}

#[test]
fn ban_of_an_unknown_resource_is_refused_and_changes_nothing() {
    let mut db = db_with("web");
    let result = db.set_bans(
        id("nope"),
        vec![location("nope", 2, -model::SCORE_INFINITY)],
    );
    assert!(matches!(result, CommandResult::Rejected(_)), "{result:?}");
    assert!(db.bans.is_empty());
}

#[test]
fn unmanaged_set_reaches_the_scheduler_and_goes_with_the_resource() {
    let mut db = db_with("web");
    assert_eq!(db.set_managed(id("web"), false), CommandResult::Ok);
    assert!(
        db.cluster_config(std::iter::empty())
            .unmanaged
            .contains(&id("web"))
    );
    db.delete_resource(&id("web"));
    assert!(db.unmanaged.is_empty());
}

#[test]
fn removing_a_constraint_removes_one_equal_copy() {
    let mut db = db_with("web");
    let constraint = StoredConstraint::Location(location("web", 1, 10));
    db.constraints = vec![constraint.clone(), constraint.clone()];
    assert_eq!(db.remove_constraint(&constraint), CommandResult::Ok);
    assert_eq!(db.constraints, vec![constraint.clone()]);
    db.constraints.clear();
    assert!(matches!(
        db.remove_constraint(&constraint),
        CommandResult::Rejected(_)
    ));
}

#[test]
fn deleting_a_group_drops_the_constraints_and_moves_naming_it() {
    let mut db = db_with("web");
    db.groups.insert(
        model::GroupId("g".into()),
        model::Group {
            id: model::GroupId("g".into()),
            members: vec![id("web")],
        },
    );
    db.constraints = vec![StoredConstraint::Location(location("g", 1, 10))];
    db.moves
        .insert(id("g"), vec![location("g", 2, model::SCORE_INFINITY)]);
    assert_eq!(
        db.delete_group(&model::GroupId("g".into())),
        CommandResult::Ok
    );
    assert!(db.constraints.is_empty() && db.moves.is_empty());
    // What is left is still a valid configuration.
    assert_eq!(db.set_managed(id("web"), true), CommandResult::Ok);
    assert!(db.cluster_config(std::iter::empty()).validate().is_ok());
}

fn monitor_failure(name: &str, token: u64) -> OperationReport {
    OperationReport {
        resource: id(name),
        operation: "monitor".into(),
        fencing_token: token,
        ok: false,
        state_after: ResourceState::Failed,
        reason: Some("monitor found it not running".to_owned()),
        started_at: 0,
        finished_at: 1,
    }
}

/// Issue 11: a crash-looping process produced no failure event. Every counted failure is
/// now an event, with its count and how long the next restart in place waits.
#[test]
fn r11_every_counted_failure_is_an_event_with_its_backoff() {
    let mut db = db_with("web");
    let mut events = Vec::new();
    for at in [1_000, 2_000, 5_000] {
        let token = grant(&mut db, "web");
        events.extend(db.record(NODE, monitor_failure("web", token), at));
    }
    let texts: Vec<String> = events
        .iter()
        .map(|event| match event {
            model::EventKind::ResourceAction { action, reason, .. } => {
                format!("{action}: {reason}")
            }
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        texts,
        [
            "failed: monitor found it not running (failure 1)",
            "failed: monitor found it not running (failure 2; a restart here waits 1 s)",
            "failed: monitor found it not running (failure 3; a restart here waits 2 s)",
        ]
    );
    // A stop that fails is not counted (the executor retries it), and makes no event.
    let token = grant(&mut db, "web");
    report(&mut db, "web", "stop", token, ResourceState::Stopped);
    assert_eq!(db.status[&id("web")][&NODE].fail_count, 3);
}

#[test]
fn a_failure_ten_minutes_after_the_previous_starts_a_new_run_of_failures() {
    let mut db = db_with("web");
    for at in [1_000, 2_000, 3_000] {
        let token = grant(&mut db, "web");
        db.record(NODE, monitor_failure("web", token), at);
    }
    assert_eq!(db.status[&id("web")][&NODE].fail_count, 3);
    let token = grant(&mut db, "web");
    db.record(NODE, monitor_failure("web", token), 3_000 + 599_999);
    assert_eq!(
        db.status[&id("web")][&NODE].fail_count,
        4,
        "within the period"
    );
    let token = grant(&mut db, "web");
    db.record(
        NODE,
        monitor_failure("web", token),
        3_000 + 599_999 + 600_000,
    );
    assert_eq!(db.status[&id("web")][&NODE].fail_count, 1, "a new run");
}

// --- promo ---
/// `db` as a clone, or not.
fn clone_db(clone: bool) -> Resource {
    let mut resource = db_with("db").resources.remove(&id("db")).expect("db");
    resource.clone = clone.then_some(model::CloneOptions { max: None });
    resource
}

#[test]
fn only_a_clone_can_be_promotable_and_only_it_has_scores() {
    let mut db = ResourceDb::default();
    let refused = db.put_resource(clone_db(false), true, Some(1));
    assert_eq!(
        refused,
        CommandResult::Rejected(
            "resource db cannot be promotable: only a clone can be promotable: add --clone".into()
        )
    );
    assert!(db.resources.is_empty(), "nothing half-written");
    let too_many = db.put_resource(clone_db(true), true, Some(17));
    assert!(matches!(too_many, CommandResult::Rejected(ref m) if m.contains("from 1 to 16")));
    let score = db.set_promotion_score(NODE, id("db"), Some(5));
    assert!(matches!(score, CommandResult::Rejected(ref m) if m.contains("not promotable")));

    assert_eq!(
        db.put_resource(clone_db(true), true, Some(1)),
        CommandResult::Ok
    );
    assert_eq!(
        db.set_promotion_score(NODE, id("db"), Some(5)),
        CommandResult::Ok
    );
    assert_eq!(db.promotion_scores[&id("db")][&NODE], 5);
    assert_eq!(
        db.set_promotion_score(NODE, id("db"), None),
        CommandResult::Ok
    );
    assert!(db.promotion_scores.is_empty());
}

#[test]
fn a_promoted_role_counts_as_configured_while_its_resource_is_promotable() {
    let mut db = ResourceDb::default();
    assert_eq!(
        db.put_resource(clone_db(true), true, Some(1)),
        CommandResult::Ok
    );
    let role = db.resource(&id("db:promoted")).expect("the role");
    assert!(role.unique);
    assert_eq!(role.type_name, "promoted:process");
    assert!(db.resource(&id("db:promoted:1")).is_none(), "one role only");
    // An update by PutResource keeps it promotable; made a singleton, it is not.
    assert_eq!(
        db.put_resource(clone_db(true), false, None),
        CommandResult::Ok
    );
    assert!(db.configured(&id("db:promoted")));
    assert_eq!(
        db.set_promotion_score(NODE, id("db"), Some(5)),
        CommandResult::Ok
    );
    assert_eq!(db.delete_resource(&id("db")), CommandResult::Ok);
    assert!(!db.configured(&id("db:promoted")));
    assert!(db.promotable.is_empty() && db.promotion_scores.is_empty());
}
