//! Tests of the configuration types: serde defaults and stability, score arithmetic, fail
//! count expiry, expiring constraints, and every consistency check of `validate`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::{
    ClusterConfig, ColocationConstraint, ConfigError, Constraint, Group, GroupId,
    LocationConstraint, NodeId, OrderConstraint, OrderKind, Resource, ResourceId, ResourceOptions,
    ResourceStatus, SCORE_INFINITY, TargetRole, score_add, score_display,
};

fn resource(id: &str) -> Resource {
    Resource {
        id: ResourceId(id.to_owned()),
        type_name: "process".to_owned(),
        params: BTreeMap::new(),
        options: ResourceOptions::default(),
        unique: false,
        clone: None,
        utilization: BTreeMap::new(),
    }
}

fn config(resources: &[&str]) -> ClusterConfig {
    let mut config = ClusterConfig::default();
    for id in resources {
        let resource = resource(id);
        config.resources.insert(resource.id.clone(), resource);
    }
    config
}

fn group(id: &str, members: &[&str]) -> Group {
    Group {
        id: GroupId(id.to_owned()),
        members: members
            .iter()
            .map(|m| ResourceId((*m).to_owned()))
            .collect(),
    }
}

#[test]
fn resource_with_only_id_and_type_gets_the_documented_defaults() {
    let resource: Resource =
        serde_json::from_str(r#"{"id": "web", "type": "process"}"#).expect("parses");
    assert_eq!(resource.options.monitor_interval, Duration::from_secs(10));
    assert_eq!(resource.options.monitor_timeout, Duration::from_secs(20));
    assert_eq!(resource.options.start_timeout, Duration::from_secs(20));
    assert_eq!(resource.options.stop_timeout, Duration::from_secs(20));
    assert_eq!(resource.options.stickiness, 100);
    assert_eq!(resource.options.migration_threshold, 0);
    assert_eq!(resource.options.failure_timeout, None);
    assert_eq!(resource.options.target_role, TargetRole::Started);
    assert!(!resource.unique);
    assert_eq!(resource.clone, None);
}

#[test]
fn resource_serializes_durations_as_milliseconds_with_stable_names() {
    let mut resource = resource("web");
    resource.options.failure_timeout = Some(Duration::from_secs(60));
    let json = serde_json::to_value(&resource).expect("serializes");
    let options = &json["options"];
    assert_eq!(options["monitor_interval_ms"], 10_000);
    assert_eq!(options["monitor_timeout_ms"], 20_000);
    assert_eq!(options["start_timeout_ms"], 20_000);
    assert_eq!(options["stop_timeout_ms"], 20_000);
    assert_eq!(options["failure_timeout_ms"], 60_000);
    assert_eq!(options["target_role"], "started");
    assert_eq!(json["type"], "process");
    let back: Resource = serde_json::from_value(json).expect("round trip");
    assert_eq!(back, resource);
}

#[test]
fn constraints_are_tagged_by_type() {
    let constraint = Constraint::Location(LocationConstraint {
        resource: ResourceId("web".to_owned()),
        node: NodeId(2),
        score: -SCORE_INFINITY,
        expires_at: Some(5),
    });
    let json = serde_json::to_string(&constraint).expect("serializes");
    assert_eq!(
        json,
        r#"{"type":"location","resource":"web","node":2,"score":-1000000,"expires_at":5}"#
    );
    let order: Constraint =
        serde_json::from_str(r#"{"type":"order","first":"db","then":"app"}"#).expect("parses");
    let Constraint::Order(order) = order else {
        panic!("an order constraint")
    };
    assert_eq!(order.kind, OrderKind::Mandatory);
}

#[test]
fn config_with_numeric_node_keys_round_trips_through_json() {
    let mut config = config(&["web"]);
    let node = crate::NodeConfig {
        id: NodeId(3),
        standby: true,
        maintenance: false,
        capacity: BTreeMap::from([("memory".to_owned(), 512)]),
    };
    config.nodes.insert(NodeId(3), node);
    let json = serde_json::to_string(&config).expect("serializes");
    let back: ClusterConfig = serde_json::from_str(&json).expect("parses");
    assert_eq!(back, config);
}

#[test]
fn scores_clamp_at_infinity_and_never_wins() {
    assert_eq!(score_add(100, 50), 150);
    assert_eq!(score_add(SCORE_INFINITY, 1), SCORE_INFINITY);
    assert_eq!(score_add(SCORE_INFINITY - 1, 5), SCORE_INFINITY);
    assert_eq!(score_add(-SCORE_INFINITY + 1, -5), -SCORE_INFINITY);
    assert_eq!(score_add(SCORE_INFINITY, -SCORE_INFINITY), -SCORE_INFINITY);
    assert_eq!(score_add(-SCORE_INFINITY, SCORE_INFINITY), -SCORE_INFINITY);
    assert_eq!(score_add(i64::MAX, i64::MAX), SCORE_INFINITY);
    assert_eq!(score_display(SCORE_INFINITY), "INFINITY");
    assert_eq!(score_display(-SCORE_INFINITY), "-INFINITY");
    assert_eq!(score_display(-50), "-50");
}

#[test]
fn fail_count_expires_exactly_at_the_failure_timeout() {
    let status = ResourceStatus {
        fail_count: 3,
        last_failure_at: Some(1_000),
        ..ResourceStatus::default()
    };
    let timeout = Some(Duration::from_secs(60));
    assert_eq!(status.effective_fail_count(timeout, 60_999), 3);
    assert_eq!(status.effective_fail_count(timeout, 61_000), 0);
    assert_eq!(status.effective_fail_count(None, 1_000_000), 3);
}

#[test]
fn location_constraint_stops_applying_at_its_expiry() {
    let location = LocationConstraint {
        resource: ResourceId("web".to_owned()),
        node: NodeId(1),
        score: 100,
        expires_at: Some(10),
    };
    assert!(location.is_active(9));
    assert!(!location.is_active(10));
    let forever = LocationConstraint {
        expires_at: None,
        ..location
    };
    assert!(forever.is_active(u64::MAX));
}

#[test]
fn valid_config_passes() {
    let mut config = config(&["vip", "app", "db"]);
    let web = group("web", &["vip", "app"]);
    config.groups.insert(web.id.clone(), web);
    config.constraints.push(Constraint::Order(OrderConstraint {
        first: ResourceId("db".to_owned()),
        then: ResourceId("app".to_owned()),
        kind: OrderKind::Optional,
    }));
    assert_eq!(config.validate(), Ok(()));
}

fn check_error(config: &ClusterConfig, expected: &str) {
    let error = config
        .validate()
        .expect_err("configuration is inconsistent");
    assert_eq!(error.to_string(), expected);
}

#[test]
fn unknown_group_member_is_rejected() {
    let mut config = config(&["vip"]);
    let web = group("web", &["vip", "app"]);
    config.groups.insert(web.id.clone(), web);
    check_error(&config, "group web: member app does not exist");
}

#[test]
fn resource_in_two_groups_is_rejected() {
    let mut config = config(&["vip"]);
    for id in ["a", "b"] {
        let group = group(id, &["vip"]);
        config.groups.insert(group.id.clone(), group);
    }
    check_error(&config, "resource vip is in both group a and group b");
}

#[test]
fn clone_in_group_and_unique_clone_are_rejected() {
    let mut config = config(&["agent"]);
    let agent = config
        .resources
        .get_mut(&ResourceId("agent".to_owned()))
        .expect("exists");
    agent.clone = Some(crate::CloneOptions { max: None });
    let web = group("web", &["agent"]);
    config.groups.insert(web.id.clone(), web);
    check_error(
        &config,
        "group web: member agent is a clone, and clones cannot be grouped",
    );
    config.groups.clear();
    let agent = config
        .resources
        .get_mut(&ResourceId("agent".to_owned()))
        .expect("exists");
    agent.unique = true;
    check_error(&config, "resource agent cannot be both unique and a clone");
}

#[test]
fn constraint_errors_name_the_resource() {
    let mut config = config(&["app"]);
    config
        .constraints
        .push(Constraint::Colocation(ColocationConstraint {
            resource: ResourceId("app".to_owned()),
            with: ResourceId("db".to_owned()),
            score: 100,
        }));
    check_error(
        &config,
        "constraint names db, which is neither a resource nor a group",
    );
    config.constraints[0] = Constraint::Colocation(ColocationConstraint {
        resource: ResourceId("app".to_owned()),
        with: ResourceId("app".to_owned()),
        score: 100,
    });
    check_error(&config, "constraint relates app to itself");
}

#[test]
fn colocation_inside_a_group_is_rejected() {
    let mut config = config(&["vip", "app"]);
    let web = group("web", &["vip", "app"]);
    config.groups.insert(web.id.clone(), web);
    config
        .constraints
        .push(Constraint::Colocation(ColocationConstraint {
            resource: ResourceId("app".to_owned()),
            with: ResourceId("vip".to_owned()),
            score: -SCORE_INFINITY,
        }));
    let error = config.validate().expect_err("contradicts the group");
    assert!(
        matches!(error, ConfigError::ColocationInGroup { .. }),
        "{error}"
    );
}

#[test]
fn map_key_must_equal_the_id() {
    let mut config = config(&["web"]);
    let web = config
        .resources
        .remove(&ResourceId("web".to_owned()))
        .expect("exists");
    config.resources.insert(ResourceId("other".to_owned()), web);
    check_error(&config, "entry other holds web: the key must equal the id");
}

#[test]
fn empty_group_is_rejected() {
    let mut config = config(&[]);
    let empty = group("empty", &[]);
    config.groups.insert(empty.id.clone(), empty);
    check_error(&config, "group empty has no members");
}

fn colocation(resource: &str, with: &str) -> Constraint {
    Constraint::Colocation(ColocationConstraint {
        resource: ResourceId(resource.to_owned()),
        with: ResourceId(with.to_owned()),
        score: 100,
    })
}

#[test]
fn colocation_cycle_is_rejected_and_named() {
    let mut config = config(&["a", "b", "c"]);
    config.constraints.push(colocation("a", "b"));
    config.constraints.push(colocation("b", "c"));
    assert_eq!(config.validate(), Ok(()));
    config.constraints.push(colocation("c", "a"));
    check_error(
        &config,
        "colocation constraints form a cycle: a -> c -> b -> a",
    );
}

#[test]
fn colocation_cycle_through_a_group_is_rejected() {
    let mut config = config(&["vip", "app", "db"]);
    let web = group("web", &["vip", "app"]);
    config.groups.insert(web.id.clone(), web);
    config.constraints.push(colocation("db", "vip"));
    assert_eq!(config.validate(), Ok(()));
    config.constraints.push(colocation("app", "db"));
    check_error(
        &config,
        "colocation constraints form a cycle: db -> vip -> db",
    );
}

#[test]
fn order_against_a_colocation_is_not_a_cycle() {
    let mut config = config(&["vip", "app"]);
    config.constraints.push(colocation("vip", "app"));
    config.constraints.push(Constraint::Order(OrderConstraint {
        first: ResourceId("vip".to_owned()),
        then: ResourceId("app".to_owned()),
        kind: OrderKind::Mandatory,
    }));
    assert_eq!(config.validate(), Ok(()));
}
