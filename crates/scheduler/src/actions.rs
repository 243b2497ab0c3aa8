//! Turns a placement into ordered actions: the difference between where resources are
//! active and where they should be, recoveries of failed instances, restarts of what must
//! start after something that (re)starts, and a safe order for all of them.
//!
//! Nothing is done on down nodes (their instances are lost) or on maintenance nodes (left
//! alone). All stops come before all starts; stops run in reverse dependency order and
//! starts in dependency order, with ties broken by resource id and then node id.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use model::{NodeHealth, OrderKind, ResourceState};

use crate::index::{Index, NodeIdx, ResIdx, UnitKind};
use crate::placement::Placement;
use crate::plan::{Action, ActionKind};
use crate::reason::{Block, Decision, StopWhy};

/// Per resource, the (node, reason) pairs of its stops and of its starts.
struct Drafts {
    stops: Vec<Vec<(NodeIdx, String)>>,
    starts: Vec<Vec<(NodeIdx, String)>>,
}

pub(crate) fn plan_actions(index: &Index<'_>, placement: &Placement) -> Vec<Action> {
    let count = index.resources.len();
    let mut drafts = Drafts {
        stops: vec![Vec::new(); count],
        starts: vec![Vec::new(); count],
    };
    for resource in 0..count {
        diff(index, placement, resource, &mut drafts);
    }
    let start_order = dependency_order(index, false);
    cascade_restarts(index, placement, &start_order, &mut drafts);
    add_group_notes(index, &mut drafts);
    let mut actions = orphan_stops(index);
    for resource in dependency_order(index, true) {
        push_sorted(
            index,
            resource,
            ActionKind::Stop,
            &mut drafts.stops[resource],
            &mut actions,
        );
    }
    for resource in start_order {
        push_sorted(
            index,
            resource,
            ActionKind::Start,
            &mut drafts.starts[resource],
            &mut actions,
        );
    }
    actions
}

fn push_sorted(
    index: &Index<'_>,
    resource: ResIdx,
    kind: ActionKind,
    drafts: &mut [(NodeIdx, String)],
    actions: &mut Vec<Action>,
) {
    drafts.sort_by_key(|(node, _)| *node);
    for (node, reason) in drafts.iter_mut() {
        actions.push(Action {
            kind,
            resource: index.resources[resource].id().clone(),
            node: index.node_id(*node),
            reason: std::mem::take(reason),
        });
    }
}

/// Compares where `resource` is active with where it is placed.
fn diff(index: &Index<'_>, placement: &Placement, resource: ResIdx, drafts: &mut Drafts) {
    let view = &index.resources[resource];
    if index.is_unmanaged(resource) {
        // Unmanaged: no start, stop or recovery, whatever its state.
        return;
    }
    let placed = &placement.nodes[resource];
    for instance in &view.instances {
        let node = instance.node;
        if !instance.state.is_active() || !index.nodes[node].is_actionable() {
            continue;
        }
        if !placed.contains(&node) {
            let reason = index.stop_reason(placement, resource, node);
            drafts.stops[resource].push((node, reason));
        } else if instance.state == ResourceState::Failed {
            let failure = match instance.last_failure {
                Some(text) => format!("{}, last: {text}", failures(instance.fail_count)),
                None => failures(instance.fail_count),
            };
            let node_id = index.node_id(node);
            let stop = format!("recovering: failed on node {node_id} ({failure})");
            let start = format!("recovering on node {node_id} after the failure");
            drafts.stops[resource].push((node, stop));
            drafts.starts[resource].push((node, start));
        }
    }
    for &node in placed {
        if !view.is_active_on(node, &index.nodes) {
            let reason = index.start_reason(placement, resource, node);
            drafts.starts[resource].push((node, reason));
        }
    }
}

/// Where a group member and the member before it both change on one node, says so: the
/// member starts after the one before it and stops before it. Reasons that already name
/// the group are left as they are.
fn add_group_notes(index: &Index<'_>, drafts: &mut Drafts) {
    for unit in &index.units {
        let UnitKind::Group(group) = &unit.kind else {
            continue;
        };
        let mention = format!("group {}", group.id);
        // Reasons that already relate the member to its group (a stopped predecessor, a
        // restart after one) need no note.
        let noted = [format!("{mention}:"), format!("({mention})")];
        for pair in unit.members.windows(2) {
            let (previous, member) = (pair[0], pair[1]);
            let previous_id = index.resources[previous].id();
            for (lists, word) in [(&mut drafts.starts, "after"), (&mut drafts.stops, "before")] {
                let nodes: Vec<NodeIdx> = lists[previous].iter().map(|(node, _)| *node).collect();
                for (node, reason) in &mut lists[member] {
                    let already = noted.iter().any(|note| reason.contains(note.as_str()));
                    if nodes.contains(node) && !already {
                        reason.push_str(&format!("; {mention}: {word} {previous_id}"));
                    }
                }
            }
        }
    }
}

/// Resources that must start after one that (re)starts now are restarted too, as Pacemaker
/// does: later group members on the same node, and the `then` of mandatory order
/// constraints. A clone gaining an instance does not restart what follows it.
fn cascade_restarts(
    index: &Index<'_>,
    placement: &Placement,
    start_order: &[ResIdx],
    drafts: &mut Drafts,
) {
    for &first in start_order {
        if drafts.starts[first].is_empty() {
            continue;
        }
        for (then, via) in restart_successors(index, first) {
            for &node in &placement.nodes[then] {
                let active = index.resources[then].is_active_on(node, &index.nodes);
                let starting = drafts.starts[then].iter().any(|(n, _)| *n == node);
                let actionable = index.nodes[node].is_actionable() && !index.is_unmanaged(then);
                if !active || starting || !actionable {
                    continue;
                }
                let first_id = index.resources[first].id();
                let stop = format!("restart: must start after {first_id}, which starts ({via})");
                let start = format!("restart after {first_id} ({via})");
                drafts.stops[then].push((node, stop));
                drafts.starts[then].push((node, start));
            }
        }
    }
}

fn restart_successors(index: &Index<'_>, first: ResIdx) -> Vec<(ResIdx, String)> {
    let mut successors = Vec::new();
    if let UnitKind::Group(group) = &index.unit_of(first).kind {
        let members = &index.unit_of(first).members;
        let position = members.iter().position(|&member| member == first);
        if let Some(&next) = position.and_then(|position| members.get(position + 1)) {
            successors.push((next, format!("group {}", group.id)));
        }
    }
    if index.resources[first].resource.clone.is_none() {
        for &(then, kind) in &index.resources[first].order_thens {
            if kind == OrderKind::Mandatory {
                successors.push((then, "order constraint".to_owned()));
            }
        }
    }
    successors
}

/// Resources in dependency order (group members in order, order constraints' `first`
/// before `then`), or in reverse when `reverse`; ties by resource id; cycles broken by
/// taking the smallest remaining resource.
fn dependency_order(index: &Index<'_>, reverse: bool) -> Vec<ResIdx> {
    let count = index.resources.len();
    let mut successors: Vec<Vec<ResIdx>> = vec![Vec::new(); count];
    let mut in_degree = vec![0_usize; count];
    let mut add_edge = |from: ResIdx, to: ResIdx| {
        let (from, to) = if reverse { (to, from) } else { (from, to) };
        successors[from].push(to);
        in_degree[to] += 1;
    };
    for unit in &index.units {
        for pair in unit.members.windows(2) {
            add_edge(pair[0], pair[1]);
        }
    }
    for (then, view) in index.resources.iter().enumerate() {
        for &(first, _) in &view.order_firsts {
            add_edge(first, then);
        }
    }
    let mut ready: BinaryHeap<Reverse<ResIdx>> = (0..count)
        .filter(|&r| in_degree[r] == 0)
        .map(Reverse)
        .collect();
    let mut taken = vec![false; count];
    let mut order = Vec::with_capacity(count);
    while order.len() < count {
        let resource = match ready.pop() {
            Some(Reverse(resource)) => resource,
            None => (0..count)
                .find(|&r| !taken[r])
                .expect("some resource remains"),
        };
        if taken[resource] {
            continue;
        }
        taken[resource] = true;
        order.push(resource);
        for &next in &successors[resource] {
            in_degree[next] -= 1;
            if in_degree[next] == 0 && !taken[next] {
                ready.push(Reverse(next));
            }
        }
    }
    order
}

/// Resources still active somewhere but no longer configured are stopped first.
fn orphan_stops(index: &Index<'_>) -> Vec<Action> {
    let mut actions = Vec::new();
    for (resource, statuses) in &index.input.observed.resources {
        if index.resource_by_id.contains_key(resource) {
            continue;
        }
        for (node, status) in statuses {
            let actionable = index.nodes[index.node_by_id[node]].is_actionable();
            if status.state.is_active() && actionable {
                actions.push(Action {
                    kind: ActionKind::Stop,
                    resource: resource.clone(),
                    node: *node,
                    reason: "resource is no longer configured".to_owned(),
                });
            }
        }
    }
    actions
}

impl Index<'_> {
    /// Why `resource` no longer belongs on `node`, where it is active.
    pub(crate) fn stop_reason(
        &self,
        placement: &Placement,
        resource: ResIdx,
        node: NodeIdx,
    ) -> String {
        let block = self.block_at(placement, resource, node);
        let (target, why) = match (placement.decisions[resource], block) {
            (Decision::Stopped(StopWhy::NoNode), Some(block)) => {
                return format!("{}, and no other node can run it", block);
            }
            (Decision::Stopped(why), _) => return self.stop_text(resource, why),
            (Decision::Placed { .. }, Some(block)) => return block,
            (Decision::Placed { node: target, why }, None) => (target, why),
        };
        let unit = self.resources[resource].unit;
        if let UnitKind::Clone { max } = self.units[unit].kind {
            return format!("at most {max} instances, and other nodes score higher");
        }
        let target_id = self.node_id(target);
        if placement.nodes[resource].is_empty() {
            return format!("its group is left as it is on node {target_id}, in maintenance");
        }
        if self.resources[resource].is_active_on(target, &self.nodes) {
            return format!(
                "active on several nodes; keeping only the instance on node {target_id}"
            );
        }
        let why_text = self.why_text(target, placement.scores[resource], why);
        format!("moves to node {target_id}: {why_text}")
    }

    /// Why the unit of `resource` cannot stay on `node`, where it is active, if a node-level
    /// reason (standby, ban, threshold, ...) says so.
    fn block_at(&self, placement: &Placement, resource: ResIdx, node: NodeIdx) -> Option<String> {
        let unit = self.resources[resource].unit;
        let verdict = placement.active_verdicts[unit]
            .iter()
            .find(|(n, _)| *n == node);
        match verdict {
            Some((_, Err(block))) => Some(self.block_text(node, *block)),
            _ => None,
        }
    }

    /// Why `resource` starts on `node`, naming where it comes from when it moves.
    pub(crate) fn start_reason(
        &self,
        placement: &Placement,
        resource: ResIdx,
        node: NodeIdx,
    ) -> String {
        let Decision::Placed { why, .. } = placement.decisions[resource] else {
            panic!("a start is only planned for a placed resource");
        };
        let base = self.why_text(node, placement.scores[resource], why);
        let unit = self.unit_of(resource);
        match &unit.kind {
            UnitKind::Clone { .. } => return base,
            UnitKind::Group(group) => {
                let joins = unit.members.iter().any(|&member| {
                    member != resource && self.resources[member].is_active_on(node, &self.nodes)
                });
                if joins {
                    return format!(
                        "group {} already runs on node {}; {base}",
                        group.id,
                        self.node_id(node)
                    );
                }
            }
            UnitKind::Single => {}
        }
        let previous = std::iter::once(resource)
            .chain(unit.members.iter().copied())
            .flat_map(|member| {
                self.resources[member]
                    .instances
                    .iter()
                    .filter(|instance| instance.state.is_active() && instance.node != node)
                    .map(move |instance| (member, instance.node))
            })
            .next();
        let Some((member, from)) = previous else {
            return base;
        };
        if self.nodes[from].health == NodeHealth::Down {
            return format!("{}; {base}", self.block_text(from, Block::Down));
        }
        let from_id = self.node_id(from);
        match self.block_at(placement, member, from) {
            Some(block) => format!("moves from node {from_id}: {block}"),
            None => format!("moves from node {from_id}: {base}"),
        }
    }
}

/// "1 failure", "3 failures".
pub(crate) fn failures(count: u32) -> String {
    if count == 1 {
        "1 failure".to_owned()
    } else {
        format!("{count} failures")
    }
}
