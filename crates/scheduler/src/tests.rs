//! Unit tests for the parts the scenario files cannot see directly: explanations and the
//! handling of inputs that refer to unknown things.

use std::collections::BTreeMap;

use model::{
    ClusterConfig, NodeConfig, NodeHealth, NodeId, ObservedState, Resource, ResourceId,
    ResourceOptions, SchedulerInput,
};

mod promotable;

fn input(node_count: u64, resources: &[&str]) -> SchedulerInput {
    let mut config = ClusterConfig::default();
    let mut observed = ObservedState::default();
    for id in 1..=node_count {
        let node = NodeConfig {
            id: NodeId(id),
            standby: false,
            maintenance: false,
            capacity: BTreeMap::new(),
        };
        config.nodes.insert(NodeId(id), node);
        observed.node_health.insert(NodeId(id), NodeHealth::Online);
    }
    for name in resources {
        let resource = Resource {
            id: ResourceId((*name).to_owned()),
            type_name: "process".to_owned(),
            params: BTreeMap::new(),
            options: ResourceOptions::default(),
            unique: false,
            clone: None,
            utilization: BTreeMap::new(),
        };
        config.resources.insert(resource.id.clone(), resource);
    }
    SchedulerInput {
        config,
        observed,
        now: 0,
    }
}

#[test]
fn explain_lists_every_node_and_the_decision() {
    let mut input = input(2, &["web"]);
    input
        .observed
        .node_health
        .insert(NodeId(2), NodeHealth::Down);
    let lines = crate::explain(&input, &ResourceId("web".to_owned()));
    expect_test::expect![[r#"
        [
            "web is a process resource; stickiness 100",
            "node 1: score 0 (location 0, colocation 0, stickiness 0)",
            "node 2: cannot run it: node 2 is down",
            "decision: on node 1: node 1 is the only node that can run it",
            "planned: start web on node 1: node 1 is the only node that can run it",
        ]
    "#]]
    .assert_debug_eq(&lines);
}

#[test]
fn explain_of_an_unknown_resource_says_so() {
    let input = input(1, &["web"]);
    let lines = crate::explain(&input, &ResourceId("nope".to_owned()));
    assert_eq!(lines, vec!["nope is not a configured resource".to_owned()]);
}

#[test]
fn observed_resource_that_is_no_longer_configured_is_stopped() {
    let mut input = input(1, &[]);
    let status = model::ResourceStatus {
        state: model::ResourceState::Running,
        ..Default::default()
    };
    input.observed.resources.insert(
        ResourceId("old".to_owned()),
        BTreeMap::from([(NodeId(1), status)]),
    );
    let plan = crate::schedule(&input);
    let actions: Vec<String> = plan.actions.iter().map(ToString::to_string).collect();
    assert_eq!(
        actions,
        vec!["stop old on node 1: resource is no longer configured".to_owned()]
    );
}

#[test]
fn configured_node_without_observed_health_counts_as_down() {
    let mut input = input(2, &["web"]);
    input.observed.node_health.remove(&NodeId(2));
    let status = model::ResourceStatus {
        state: model::ResourceState::Running,
        ..Default::default()
    };
    input.observed.resources.insert(
        ResourceId("web".to_owned()),
        BTreeMap::from([(NodeId(2), status)]),
    );
    let plan = crate::schedule(&input);
    let actions: Vec<String> = plan.actions.iter().map(ToString::to_string).collect();
    assert_eq!(
        actions,
        vec!["start web on node 1: node 2 is down; node 1 is the only node that can run it"]
    );
}

#[test]
fn resource_on_a_node_no_longer_configured_is_stopped_there() {
    let mut input = input(1, &["web"]);
    input
        .observed
        .node_health
        .insert(NodeId(9), NodeHealth::Online);
    let status = model::ResourceStatus {
        state: model::ResourceState::Running,
        ..Default::default()
    };
    input.observed.resources.insert(
        ResourceId("web".to_owned()),
        BTreeMap::from([(NodeId(9), status)]),
    );
    let plan = crate::schedule(&input);
    let actions: Vec<String> = plan.actions.iter().map(ToString::to_string).collect();
    assert_eq!(
        actions,
        vec![
            "stop web on node 9: node 9 is not in the configuration",
            "start web on node 1: moves from node 9: node 9 is not in the configuration",
        ]
    );
    assert_eq!(
        plan.placement[&ResourceId("web".to_owned())],
        vec![NodeId(1)]
    );
}

fn running_on(input: &mut SchedulerInput, name: &str, node: u64, state: model::ResourceState) {
    let status = model::ResourceStatus {
        state,
        ..Default::default()
    };
    input
        .observed
        .resources
        .entry(ResourceId(name.to_owned()))
        .or_default()
        .insert(NodeId(node), status);
}

fn standby(input: &mut SchedulerInput, node: u64) {
    if let Some(config) = input.config.nodes.get_mut(&NodeId(node)) {
        config.standby = true;
    }
}

#[test]
fn unmanaged_resource_stays_on_a_standby_node_and_is_not_touched() {
    let mut input = input(2, &["web"]);
    running_on(&mut input, "web", 1, model::ResourceState::Running);
    standby(&mut input, 1);
    input.config.unmanaged.insert(ResourceId("web".to_owned()));
    let plan = crate::schedule(&input);
    assert_eq!(
        plan.placement[&ResourceId("web".to_owned())],
        vec![NodeId(1)]
    );
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    // Managed again, it leaves the standby node.
    input.config.unmanaged.clear();
    let plan = crate::schedule(&input);
    assert_eq!(
        plan.placement[&ResourceId("web".to_owned())],
        vec![NodeId(2)]
    );
}

#[test]
fn unmanaged_resource_that_failed_or_is_stopped_is_neither_recovered_nor_started() {
    let mut input = input(2, &["web", "db"]);
    running_on(&mut input, "web", 1, model::ResourceState::Failed);
    input.config.unmanaged.insert(ResourceId("web".to_owned()));
    input.config.unmanaged.insert(ResourceId("db".to_owned()));
    let plan = crate::schedule(&input);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    let decision = &plan.decisions[&ResourceId("db".to_owned())];
    assert!(decision.contains("unmanaged"), "{decision}");
}

fn grouped(input: &mut SchedulerInput, name: &str, members: &[&str]) {
    let group = model::Group {
        id: model::GroupId(name.to_owned()),
        members: members
            .iter()
            .map(|m| ResourceId((*m).to_owned()))
            .collect(),
    };
    input.config.groups.insert(group.id.clone(), group);
}

#[test]
fn location_constraint_naming_a_group_places_the_whole_group() {
    let mut input = input(3, &["vip", "app"]);
    grouped(&mut input, "web", &["vip", "app"]);
    input
        .config
        .constraints
        .push(model::Constraint::Location(model::LocationConstraint {
            resource: ResourceId("web".to_owned()),
            node: NodeId(3),
            score: model::SCORE_INFINITY,
            expires_at: None,
        }));
    input
        .config
        .validate()
        .expect("a constraint may name a group");
    let plan = crate::schedule(&input);
    for member in ["vip", "app"] {
        assert_eq!(
            plan.placement[&ResourceId(member.to_owned())],
            vec![NodeId(3)]
        );
    }
}

#[test]
fn order_constraint_naming_a_group_starts_after_its_last_member() {
    let mut input = input(1, &["vip", "app", "monitor"]);
    grouped(&mut input, "web", &["vip", "app"]);
    input
        .config
        .constraints
        .push(model::Constraint::Order(model::OrderConstraint {
            first: ResourceId("web".to_owned()),
            then: ResourceId("monitor".to_owned()),
            kind: model::OrderKind::Mandatory,
        }));
    input
        .config
        .validate()
        .expect("a constraint may name a group");
    let plan = crate::schedule(&input);
    let starts: Vec<&str> = plan.actions.iter().map(|a| a.resource.0.as_str()).collect();
    assert_eq!(starts, vec!["vip", "app", "monitor"]);
}

#[test]
fn constraint_naming_neither_a_resource_nor_a_group_is_refused() {
    let mut input = input(1, &["vip"]);
    input
        .config
        .constraints
        .push(model::Constraint::Location(model::LocationConstraint {
            resource: ResourceId("nothing".to_owned()),
            node: NodeId(1),
            score: 5,
            expires_at: None,
        }));
    let error = input.config.validate().expect_err("an unknown name");
    assert_eq!(
        error.to_string(),
        "constraint names nothing, which is neither a resource nor a group"
    );
}
