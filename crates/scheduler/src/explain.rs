//! Explanations in plain words: the one-line decision per resource carried in every plan,
//! and the detailed lines of `encluster explain R`.

use model::{TargetRole, score_display};

use crate::index::{Index, ResIdx, UnitKind};
use crate::placement::Placement;
use crate::plan::Action;
use crate::reason::{Decision, Why};

impl Index<'_> {
    /// One line: where the resource runs and why, or why it is stopped.
    pub(crate) fn decision_text(&self, placement: &Placement, resource: ResIdx) -> String {
        let nodes = &placement.nodes[resource];
        match placement.decisions[resource] {
            Decision::Stopped(why) => format!("stopped: {}", self.stop_text(resource, why)),
            Decision::Placed {
                node,
                why: Why::Frozen,
            } if nodes.is_empty() => {
                let node_id = self.node_id(node);
                format!("stopped: its group is left as it is on node {node_id}, in maintenance")
            }
            Decision::Placed {
                why: Why::CloneInstance | Why::Frozen,
                ..
            } if matches!(self.unit_of(resource).kind, UnitKind::Clone { .. }) => {
                let list: Vec<String> = nodes
                    .iter()
                    .map(|&node| self.node_id(node).to_string())
                    .collect();
                format!("clone instances on nodes {}", list.join(", "))
            }
            Decision::Placed { node, why } => {
                let why_text = self.why_text(node, placement.scores[resource], why);
                format!("on node {}: {why_text}", self.node_id(node))
            }
        }
    }
}

pub(crate) fn lines(
    index: &Index<'_>,
    placement: &Placement,
    resource: ResIdx,
    actions: &[Action],
) -> Vec<String> {
    let view = &index.resources[resource];
    let mut lines = vec![describe(index, resource)];
    if view.resource.options.target_role == TargetRole::Stopped {
        lines.push("the operator set its target role to stopped".to_owned());
    }
    for instance in &view.instances {
        let node_id = index.node_id(instance.node);
        let mut line = format!("observed on node {node_id}: {}", instance.state);
        if instance.fail_count > 0 {
            line.push_str(&format!(", {} failures", instance.fail_count));
            if let Some(failure) = instance.last_failure {
                line.push_str(&format!(" (last: {failure})"));
            }
        }
        lines.push(line);
        // Only a restart in place waits; past the migration threshold it moves instead.
        let threshold = view.resource.options.migration_threshold;
        let in_place = threshold == 0 || instance.fail_count < threshold;
        if let Some(until) = instance.restart_not_before.filter(|_| in_place) {
            lines.push(format!(
                "restart of {} on node {node_id} backs off until {} after {} failures",
                view.id(),
                clock_time(until),
                instance.fail_count
            ));
        }
    }
    for &(node, verdict) in &placement.explained {
        let node_id = index.node_id(node);
        lines.push(match verdict {
            Ok(score) => format!("node {node_id}: {}", index.score_text(score)),
            Err(block) => format!(
                "node {node_id}: cannot run it: {}",
                index.block_text(node, block)
            ),
        });
    }
    lines.push(format!(
        "decision: {}",
        index.decision_text(placement, resource)
    ));
    for action in actions
        .iter()
        .filter(|action| &action.resource == view.id())
    {
        lines.push(format!("planned: {action}"));
    }
    lines
}

/// A wall-clock time as `HH:MM:SS UTC`, for deadlines a few minutes away.
fn clock_time(at: model::Millis) -> String {
    let seconds = at / 1000;
    let (hours, minutes, seconds) = (seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
    format!("{hours:02}:{minutes:02}:{seconds:02} UTC")
}

fn describe(index: &Index<'_>, resource: ResIdx) -> String {
    let view = &index.resources[resource];
    let options = &view.resource.options;
    let mut line = format!("{} is a {} resource", view.id(), view.resource.type_name);
    if view.resource.unique {
        line.push_str(", unique cluster-wide");
    }
    let unit = index.unit_of(resource);
    match &unit.kind {
        UnitKind::Clone { max } if *max == usize::MAX => line.push_str(", cloned on every node"),
        UnitKind::Clone { max } => line.push_str(&format!(", cloned on at most {max} nodes")),
        UnitKind::Group(group) => {
            let members: Vec<String> = unit
                .members
                .iter()
                .map(|&m| index.resources[m].id().to_string())
                .collect();
            line.push_str(&format!(", in group {} ({})", group.id, members.join(", ")));
        }
        UnitKind::Single => {}
    }
    line.push_str(&format!(
        "; stickiness {}",
        score_display(options.stickiness)
    ));
    if options.migration_threshold > 0 {
        line.push_str(&format!(
            ", migration threshold {}",
            options.migration_threshold
        ));
    }
    if let Some(timeout) = options.failure_timeout {
        line.push_str(&format!(", failures expire after {} s", timeout.as_secs()));
    }
    line
}
