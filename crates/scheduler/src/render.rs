//! The plain-text rendering of a plan, shared by the scenario files and `cli simulate`.

use std::fmt::Write;

use model::{Constraint, SchedulerInput, TargetRole, score_display};

use crate::{ActionKind, Plan};

/// Renders a plan as deterministic text: `now`, the starting state (nodes, resources with
/// their options and observed states, groups, constraints), the ordered actions each with
/// its reason, and the resulting placement of every resource with the reason for it.
///
/// This is the body of the scenario `.plan` files and what `cli simulate` prints.
pub fn render_plan(input: &SchedulerInput, plan: &Plan) -> String {
    let mut out = String::new();
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
        if options.target_role == TargetRole::Stopped {
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
