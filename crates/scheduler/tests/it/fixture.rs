//! The scenario file format (TOML) and the deterministic text of a `.plan` file.
//!
//! A fixture lists nodes with their health, resources, groups and constraints in the
//! `model` serde format, observed statuses, and `now`; its first line is a comment saying
//! what the scenario tests.

use std::collections::BTreeMap;
use std::fmt::Write;

use model::{
    ClusterConfig, Constraint, Group, Millis, NodeConfig, NodeHealth, NodeId, ObservedState,
    Resource, ResourceId, ResourceState, ResourceStatus, SchedulerInput, score_display,
};
use scheduler::{ActionKind, Plan};
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

/// The `.plan` text: the starting state, the ordered actions with reasons, and the
/// resulting placement with each decision.
pub(crate) fn render(title: &str, input: &SchedulerInput, plan: &Plan) -> String {
    let mut out = String::new();
    writeln!(out, "{title}").expect("writing to a String cannot fail");
    writeln!(out, "now: {}", input.now).expect("writing to a String cannot fail");
    writeln!(out, "\nstarting state").expect("writing to a String cannot fail");
    render_nodes(&mut out, input);
    render_resources(&mut out, input);
    render_structure(&mut out, input);
    writeln!(out, "\nactions").expect("writing to a String cannot fail");
    if plan.actions.is_empty() {
        writeln!(out, "  (none)").expect("writing to a String cannot fail");
    }
    for (position, action) in plan.actions.iter().enumerate() {
        let kind = match action.kind {
            ActionKind::Start => "start",
            ActionKind::Stop => "stop ",
        };
        writeln!(
            out,
            "  {:>2}. {kind} {} on node {}: {}",
            position + 1,
            action.resource,
            action.node,
            action.reason
        )
        .expect("writing to a String cannot fail");
    }
    writeln!(out, "\nresulting placement").expect("writing to a String cannot fail");
    for (resource, nodes) in &plan.placement {
        let nodes = if nodes.is_empty() {
            "-".to_owned()
        } else {
            nodes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(out, "  {resource} -> {nodes}: {}", plan.decisions[resource])
            .expect("writing to a String cannot fail");
    }
    out
}

fn render_nodes(out: &mut String, input: &SchedulerInput) {
    for node in input.config.nodes.values() {
        let mut line = format!("  node {}: {}", node.id, input.observed.health(node.id));
        if node.standby {
            line.push_str(", standby");
        }
        if node.maintenance {
            line.push_str(", maintenance");
        }
        for (key, amount) in &node.capacity {
            write!(line, ", {key} capacity {amount}").expect("writing to a String cannot fail");
        }
        writeln!(out, "{line}").expect("writing to a String cannot fail");
    }
}

fn render_resources(out: &mut String, input: &SchedulerInput) {
    for resource in input.config.resources.values() {
        let mut states = Vec::new();
        if let Some(statuses) = input.observed.resources.get(&resource.id) {
            for (node, status) in statuses {
                let mut text = format!("{} on node {node}", status.state);
                if status.fail_count > 0 {
                    write!(
                        text,
                        " ({} failure{}",
                        status.fail_count,
                        if status.fail_count == 1 { "" } else { "s" }
                    )
                    .expect("writing to a String cannot fail");
                    if let Some(at) = status.last_failure_at {
                        write!(text, ", last at {at}").expect("writing to a String cannot fail");
                    }
                    text.push(')');
                }
                states.push(text);
            }
        }
        let state = if states.is_empty() {
            "stopped".to_owned()
        } else {
            states.join("; ")
        };
        let options = &resource.options;
        let mut traits = vec![format!("stickiness {}", score_display(options.stickiness))];
        if options.migration_threshold > 0 {
            traits.push(format!(
                "migration threshold {}",
                options.migration_threshold
            ));
        }
        if let Some(timeout) = options.failure_timeout {
            traits.push(format!("failure timeout {} ms", timeout.as_millis()));
        }
        if resource.unique {
            traits.push("unique".to_owned());
        }
        if let Some(clone) = &resource.clone {
            traits.push(match clone.max {
                Some(max) => format!("clone max {max}"),
                None => "clone".to_owned(),
            });
        }
        if options.target_role == model::TargetRole::Stopped {
            traits.push("target role stopped".to_owned());
        }
        for (key, amount) in &resource.utilization {
            traits.push(format!("uses {key} {amount}"));
        }
        writeln!(out, "  {} ({}): {state}", resource.id, traits.join(", "))
            .expect("writing to a String cannot fail");
    }
    for (resource, statuses) in &input.observed.resources {
        if input.config.resources.contains_key(resource) {
            continue;
        }
        for (node, status) in statuses {
            writeln!(
                out,
                "  {resource} (not configured): {} on node {node}",
                status.state
            )
            .expect("writing to a String cannot fail");
        }
    }
}

fn render_structure(out: &mut String, input: &SchedulerInput) {
    for group in input.config.groups.values() {
        let members: Vec<String> = group.members.iter().map(ToString::to_string).collect();
        writeln!(out, "  group {}: {}", group.id, members.join(", "))
            .expect("writing to a String cannot fail");
    }
    for constraint in &input.config.constraints {
        let text = match constraint {
            Constraint::Order(order) => {
                format!(
                    "order ({}): {} then {}",
                    order.kind, order.first, order.then
                )
            }
            Constraint::Colocation(colocation) => format!(
                "colocation: {} with {}, score {}",
                colocation.resource,
                colocation.with,
                score_display(colocation.score)
            ),
            Constraint::Location(location) => {
                let mut text = format!(
                    "location: {} on node {}, score {}",
                    location.resource,
                    location.node,
                    score_display(location.score)
                );
                if let Some(expires_at) = location.expires_at {
                    write!(text, ", expires at {expires_at}")
                        .expect("writing to a String cannot fail");
                }
                text
            }
        };
        writeln!(out, "  {text}").expect("writing to a String cannot fail");
    }
}
