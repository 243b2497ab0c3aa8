//! Placement: weighs every node for every unit (resource, group or clone) and picks the
//! best, one unit at a time, in an order where a colocation's `with` and a mandatory
//! order's `first` are placed before the resources that depend on them.
//!
//! A node's score is the sum of location scores, colocation scores towards resources already
//! placed there, and the stickiness of members already active there. Blocked nodes (down,
//! standby, banned, over capacity, ...) are not candidates. Ties go to the node where the
//! unit is already active, then to the least loaded node, then to the lowest node id, so the
//! result is deterministic and a running resource never moves for a tie.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use model::{NodeHealth, OrderKind, SCORE_INFINITY, score_add};

use crate::index::{Index, NodeIdx, ResIdx, UnitIdx, UnitKind};
use crate::reason::{Block, Decision, Score, StopWhy, Verdict, Why};

/// The result of placement, by resource and unit position.
pub(crate) struct Placement {
    /// Per resource, the nodes it should run on (sorted).
    pub(crate) nodes: Vec<Vec<NodeIdx>>,
    /// Per resource, why it is (or is not) placed.
    pub(crate) decisions: Vec<Decision>,
    /// Per resource, the winning node's score (none for clones, frozen and stopped).
    pub(crate) scores: Vec<Option<Score>>,
    /// Per unit, the verdicts of the nodes where it is active, for stop reasons.
    pub(crate) active_verdicts: Vec<Vec<(NodeIdx, Verdict)>>,
    /// The verdict of every configured node for the unit being explained.
    pub(crate) explained: Vec<(NodeIdx, Verdict)>,
    done: Vec<bool>,
    load: Vec<u32>,
    used: Vec<Vec<u64>>,
}

/// A node that can run the unit, with what breaks ties.
#[derive(Clone, Copy)]
struct Candidate {
    node: NodeIdx,
    score: Score,
    active: bool,
    load: u32,
}

impl Candidate {
    fn key(&self) -> (i64, bool, Reverse<u32>, Reverse<NodeIdx>) {
        (
            self.score.total,
            self.active,
            Reverse(self.load),
            Reverse(self.node),
        )
    }
}

pub(crate) fn place(index: &Index<'_>, explain_unit: Option<UnitIdx>) -> Placement {
    let resource_count = index.resources.len();
    let mut placement = Placement {
        nodes: vec![Vec::new(); resource_count],
        decisions: vec![Decision::Stopped(StopWhy::NoNode); resource_count],
        scores: vec![None; resource_count],
        active_verdicts: vec![Vec::new(); index.units.len()],
        explained: Vec::new(),
        done: vec![false; index.units.len()],
        load: vec![0; index.nodes.len()],
        used: vec![vec![0; index.capacity_keys.len()]; index.nodes.len()],
    };
    for unit in unit_order(index) {
        placement.place_unit(index, unit, explain_unit == Some(unit));
        placement.done[unit] = true;
    }
    placement
}

/// Orders units so that dependencies come first; among free units, those already active
/// come first (so they keep their capacity), then by name. Cycles are broken by taking the
/// smallest remaining unit, whose constraints towards unplaced units are then ignored.
fn unit_order(index: &Index<'_>) -> Vec<UnitIdx> {
    let unit_count = index.units.len();
    let mut successors: Vec<Vec<UnitIdx>> = vec![Vec::new(); unit_count];
    let mut in_degree = vec![0_usize; unit_count];
    for resource in &index.resources {
        let dependencies = resource.colocations.iter().map(|&(with, _)| with).chain(
            resource
                .order_firsts
                .iter()
                .filter(|(_, kind)| *kind == OrderKind::Mandatory)
                .map(|&(first, _)| first),
        );
        for dependency in dependencies {
            let from = index.resources[dependency].unit;
            if from != resource.unit {
                successors[from].push(resource.unit);
                in_degree[resource.unit] += 1;
            }
        }
    }
    let key = |unit: UnitIdx| {
        let members = &index.units[unit].members;
        let active = members.iter().any(|&member| {
            let resource = &index.resources[member];
            resource
                .instances
                .iter()
                .any(|instance| resource.is_active_on(instance.node, &index.nodes))
        });
        let name = index.resources[members[0]].id().0.as_str();
        let name = match &index.units[unit].kind {
            UnitKind::Group(group) => group.id.0.as_str(),
            _ => name,
        };
        Reverse((!active, name, unit))
    };
    let mut ready: BinaryHeap<_> = (0..unit_count)
        .filter(|&unit| in_degree[unit] == 0)
        .map(key)
        .collect();
    let mut order = Vec::with_capacity(unit_count);
    let mut taken = vec![false; unit_count];
    while order.len() < unit_count {
        let unit = match ready.pop() {
            Some(Reverse((_, _, unit))) => unit,
            None => {
                let remaining = (0..unit_count).filter(|&unit| !taken[unit]).map(key).max();
                let Reverse((_, _, unit)) = remaining.expect("some unit remains");
                unit
            }
        };
        if taken[unit] {
            continue;
        }
        taken[unit] = true;
        order.push(unit);
        for &next in &successors[unit] {
            in_degree[next] -= 1;
            if in_degree[next] == 0 && !taken[next] {
                ready.push(key(next));
            }
        }
    }
    order
}

impl Placement {
    fn place_unit(&mut self, index: &Index<'_>, unit_idx: UnitIdx, explain: bool) {
        let unit = &index.units[unit_idx];
        let runnable = self.runnable_count(index, &unit.members);
        let members = &unit.members[..runnable];
        if members.is_empty() {
            return;
        }
        let frozen: Vec<NodeIdx> = (0..index.nodes.len())
            .filter(|&node| index.nodes[node].maintenance)
            .filter(|&node| {
                unit.members
                    .iter()
                    .any(|&member| index.resources[member].is_active_on(node, &index.nodes))
            })
            .collect();
        let mut candidates = Vec::new();
        for node in 0..index.nodes.len() {
            if frozen.contains(&node) {
                continue;
            }
            let verdict = self.evaluate(index, unit_idx, members, node);
            let active = members
                .iter()
                .any(|&m| index.resources[m].is_active_on(node, &index.nodes));
            if active {
                self.active_verdicts[unit_idx].push((node, verdict));
            }
            if explain && index.nodes[node].configured {
                self.explained.push((node, verdict));
            }
            if let Ok(score) = verdict {
                candidates.push(Candidate {
                    node,
                    score,
                    active,
                    load: self.load[node],
                });
            }
        }
        candidates.sort_by_key(|candidate| Reverse(candidate.key()));
        match unit.kind {
            UnitKind::Clone { max } => {
                self.place_clone(index, members[0], &frozen, &candidates, max)
            }
            UnitKind::Single | UnitKind::Group(_) if !frozen.is_empty() => {
                self.freeze(index, members, &frozen);
            }
            UnitKind::Single | UnitKind::Group(_) => match candidates.first() {
                Some(best) => {
                    let why = why_best(best, candidates.get(1));
                    self.assign(index, members, best.node, Some(best.score), why);
                }
                None => {
                    for &member in members {
                        self.decisions[member] = Decision::Stopped(StopWhy::NoNode);
                    }
                }
            },
        }
    }

    /// How many leading members can run at all; records why the first one that cannot
    /// is stopped, and that the members after it stop with it.
    fn runnable_count(&mut self, index: &Index<'_>, members: &[ResIdx]) -> usize {
        for (position, &member) in members.iter().enumerate() {
            let Some(why) = self.stop_reason(index, member) else {
                continue;
            };
            self.decisions[member] = Decision::Stopped(why);
            for &later in &members[position + 1..] {
                self.decisions[later] = Decision::Stopped(StopWhy::AfterStoppedMember { member });
            }
            return position;
        }
        members.len()
    }

    fn stop_reason(&self, index: &Index<'_>, member: ResIdx) -> Option<StopWhy> {
        let resource = &index.resources[member];
        if resource.wants_stopped() {
            return Some(StopWhy::TargetStopped);
        }
        let is_stopped = |other: ResIdx| {
            let other_unit = index.resources[other].unit;
            other_unit != resource.unit && self.done[other_unit] && self.nodes[other].is_empty()
        };
        for &(first, kind) in &resource.order_firsts {
            if kind == OrderKind::Mandatory && is_stopped(first) {
                return Some(StopWhy::NeedsFirst { first });
            }
        }
        for &(with, score) in &resource.colocations {
            if score >= SCORE_INFINITY && is_stopped(with) {
                return Some(StopWhy::WithNotRunning { with });
            }
        }
        None
    }

    fn evaluate(
        &self,
        index: &Index<'_>,
        unit: UnitIdx,
        members: &[ResIdx],
        node: NodeIdx,
    ) -> Verdict {
        let view = &index.nodes[node];
        let active_here = members
            .iter()
            .any(|&m| index.resources[m].is_active_on(node, &index.nodes));
        if !view.configured {
            return Err(Block::NotConfigured);
        }
        if view.health == NodeHealth::Down {
            return Err(Block::Down);
        }
        if view.maintenance {
            return Err(Block::Maintenance);
        }
        if view.standby {
            return Err(Block::Standby);
        }
        if view.health == NodeHealth::Suspect && !active_here {
            return Err(Block::Suspect);
        }
        let mut score = Score {
            total: 0,
            location: 0,
            colocation: 0,
            stickiness: 0,
        };
        for &member in members {
            self.score_member(index, unit, member, node, &mut score)?;
        }
        self.check_capacity(index, members, node)?;
        score.total = score_add(
            score_add(score.location, score.colocation),
            score.stickiness,
        );
        Ok(score)
    }

    fn score_member(
        &self,
        index: &Index<'_>,
        unit: UnitIdx,
        member: ResIdx,
        node: NodeIdx,
        score: &mut Score,
    ) -> Result<(), Block> {
        let resource = &index.resources[member];
        for &(location_node, location_score) in &resource.locations {
            if location_node == node {
                score.location = score_add(score.location, location_score);
            }
        }
        if score.location <= -SCORE_INFINITY {
            return Err(Block::Banned { resource: member });
        }
        let threshold = resource.resource.options.migration_threshold;
        if let Some(instance) = resource.instance(node) {
            if threshold > 0 && instance.fail_count >= threshold {
                let failures = instance.fail_count;
                return Err(Block::Threshold {
                    resource: member,
                    threshold,
                    failures,
                });
            }
        }
        for &(with, colocation_score) in &resource.colocations {
            let with_unit = index.resources[with].unit;
            if with_unit == unit || !self.done[with_unit] {
                continue;
            }
            let together = self.nodes[with].contains(&node);
            if colocation_score >= SCORE_INFINITY && !together {
                return Err(Block::MustRunWith {
                    resource: member,
                    with,
                });
            }
            if colocation_score <= -SCORE_INFINITY && together {
                return Err(Block::NeverWith {
                    resource: member,
                    with,
                });
            }
            if together {
                score.colocation = score_add(score.colocation, colocation_score);
            }
        }
        if resource.is_active_on(node, &index.nodes) {
            score.stickiness = score_add(score.stickiness, resource.resource.options.stickiness);
        }
        Ok(())
    }

    fn check_capacity(
        &self,
        index: &Index<'_>,
        members: &[ResIdx],
        node: NodeIdx,
    ) -> Result<(), Block> {
        for (key, capacity) in index.nodes[node].capacity.iter().enumerate() {
            let Some(capacity) = capacity else {
                continue;
            };
            let needed: u64 = members
                .iter()
                .flat_map(|&m| &index.resources[m].utilization)
                .filter(|(k, _)| *k == key)
                .map(|(_, amount)| amount)
                .sum();
            let free = capacity.saturating_sub(self.used[node][key]);
            if needed > free {
                return Err(Block::Capacity { key, needed, free });
            }
        }
        Ok(())
    }

    fn assign(
        &mut self,
        index: &Index<'_>,
        members: &[ResIdx],
        node: NodeIdx,
        score: Option<Score>,
        why: Why,
    ) {
        for &member in members {
            self.nodes[member].push(node);
            self.decisions[member] = Decision::Placed { node, why };
            self.scores[member] = score;
            self.load[node] += 1;
            for &(key, amount) in &index.resources[member].utilization {
                self.used[node][key] += amount;
            }
        }
    }

    /// Leaves a unit on the maintenance nodes where it is active: each member stays exactly
    /// where it runs there, and nothing starts.
    fn freeze(&mut self, index: &Index<'_>, members: &[ResIdx], frozen: &[NodeIdx]) {
        for &member in members {
            let nodes: Vec<NodeIdx> = frozen
                .iter()
                .copied()
                .filter(|&node| index.resources[member].is_active_on(node, &index.nodes))
                .collect();
            let first = frozen[0];
            self.decisions[member] = Decision::Placed {
                node: first,
                why: Why::Frozen,
            };
            for &node in &nodes {
                self.load[node] += 1;
            }
            self.nodes[member] = nodes;
        }
    }

    fn place_clone(
        &mut self,
        index: &Index<'_>,
        member: ResIdx,
        frozen: &[NodeIdx],
        candidates: &[Candidate],
        max: usize,
    ) {
        let mut nodes: Vec<NodeIdx> = frozen.to_vec();
        let room = max.saturating_sub(nodes.len());
        nodes.extend(candidates.iter().take(room).map(|candidate| candidate.node));
        nodes.sort_unstable();
        for &node in &nodes {
            self.load[node] += 1;
            for &(key, amount) in &index.resources[member].utilization {
                self.used[node][key] += amount;
            }
        }
        self.decisions[member] = match nodes.first() {
            Some(&node) if frozen.contains(&node) => Decision::Placed {
                node,
                why: Why::Frozen,
            },
            Some(&node) => Decision::Placed {
                node,
                why: Why::CloneInstance,
            },
            None => Decision::Stopped(StopWhy::NoNode),
        };
        self.nodes[member] = nodes;
    }
}

/// Says why `best` beat the runner-up.
fn why_best(best: &Candidate, second: Option<&Candidate>) -> Why {
    let Some(second) = second else {
        return Why::Only;
    };
    let runner = (second.node, second.score.total);
    if best.active {
        if best.score.total == second.score.total {
            return Why::StaysTie;
        }
        let without_stickiness = score_add(best.score.total, -best.score.stickiness);
        if best.score.stickiness > 0 && without_stickiness <= second.score.total {
            return Why::Sticky { runner };
        }
        return Why::StaysBest { runner };
    }
    if best.score.total > second.score.total {
        if best.score.location > second.score.location {
            return Why::Location { runner };
        }
        if best.score.colocation > second.score.colocation {
            return Why::Colocation { runner };
        }
        return Why::BestScore { runner };
    }
    if best.load < second.load {
        return Why::LeastLoaded { load: best.load };
    }
    Why::LowestId
}
