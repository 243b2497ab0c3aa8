//! The scenario file format (TOML) and the deterministic text of a `.plan` file.
//!
//! A fixture lists nodes with their health, resources, groups and constraints in the
//! `model` serde format, observed statuses, and `now`; its first line is a comment saying
//! what the scenario tests. The rest of a `.plan` file is `scheduler::render_plan`.

use std::collections::BTreeMap;

use model::{
    ClusterConfig, Constraint, Group, Millis, NodeConfig, NodeHealth, NodeId, ObservedState,
    Resource, ResourceId, ResourceState, ResourceStatus, SchedulerInput,
};
use scheduler::Plan;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    now: Millis,
    #[serde(default)]
    node: Vec<FixtureNode>,
    #[serde(default)]
    resource: Vec<Resource>,
    #[serde(default)]
    group: Vec<Group>,
    #[serde(default)]
    constraint: Vec<Constraint>,
    #[serde(default)]
    status: Vec<FixtureStatus>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureNode {
    id: u64,
    #[serde(default = "online")]
    health: NodeHealth,
    #[serde(default)]
    standby: bool,
    #[serde(default)]
    maintenance: bool,
    #[serde(default)]
    capacity: BTreeMap<String, u64>,
}

fn online() -> NodeHealth {
    NodeHealth::Online
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureStatus {
    resource: String,
    node: u64,
    state: ResourceState,
    #[serde(default)]
    fail_count: u32,
    #[serde(default)]
    last_failure_at: Option<Millis>,
    #[serde(default)]
    last_failure: Option<String>,
}

/// Parses a scenario file into the scheduler's input; panics with the file's problem.
pub(crate) fn parse(text: &str) -> SchedulerInput {
    let fixture: Fixture = toml::from_str(text).expect("scenario file parses");
    let mut config = ClusterConfig::default();
    let mut observed = ObservedState::default();
    for node in fixture.node {
        let id = NodeId(node.id);
        observed.node_health.insert(id, node.health);
        let config_node = NodeConfig {
            id,
            standby: node.standby,
            maintenance: node.maintenance,
            capacity: node.capacity,
        };
        config.nodes.insert(id, config_node);
    }
    for resource in fixture.resource {
        config.resources.insert(resource.id.clone(), resource);
    }
    for group in fixture.group {
        config.groups.insert(group.id.clone(), group);
    }
    config.constraints = fixture.constraint;
    for status in fixture.status {
        let entry = ResourceStatus {
            state: status.state,
            fail_count: status.fail_count,
            last_failure_at: status.last_failure_at,
            last_failure: status.last_failure,
        };
        let statuses = observed
            .resources
            .entry(ResourceId(status.resource))
            .or_default();
        statuses.insert(NodeId(status.node), entry);
    }
    config
        .validate()
        .expect("scenario configuration is consistent");
    SchedulerInput {
        config,
        observed,
        now: fixture.now,
    }
}

/// The `.plan` text: the scenario's title, then the scheduler's own rendering.
pub(crate) fn render(title: &str, input: &SchedulerInput, plan: &Plan) -> String {
    format!("{title}\n{}", scheduler::render_plan(input, plan))
}
