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

use model::{NodeHealth, OrderKind, ResourceState, SCORE_INFINITY, score_add};

use crate::index::{Index, NodeIdx, ResIdx, UnitIdx, UnitKind};
use crate::limits::PLACEMENT_PASS_MAX;
use crate::node_load::NodeLoad;
use crate::reason::{Block, Decision, Score, StopWhy, Verdict, Why};
use crate::unit_facts::{UnitFacts, active_nodes, frozen_nodes};
use crate::unit_order::unit_order;

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
    /// Resources placed or reserved per node; running resources count as load, so a
    /// recovered resource avoids nodes busy with resources that stay.
    load: NodeLoad,
    used: Vec<Vec<u64>>,
    /// Capacity held by active instances of units not placed yet, so that a unit placed
    /// earlier cannot take the room a running resource still occupies; a unit releases its
    /// own reservation when it is placed. Without this, the result would depend on which
    /// units happened to be active, and carrying out a plan could lead to another plan.
    reserved: Vec<Vec<u64>>,
    /// Per resource, the nodes where it holds a capacity reservation.
    reservations: Vec<Vec<NodeIdx>>,
    /// Per resource, the nodes where it counts as load before it is placed: where it is
    /// active now, in every pass, so that ties are broken the same way in every pass (a
    /// load taken from the previous pass could make passes alternate).
    load_reservations: Vec<Vec<NodeIdx>>,
    /// Whether some node was refused for lack of capacity in this pass; if none was, the
    /// reservations made no difference and another pass would give the same result.
    capacity_blocked: bool,
    /// A buffer reused for every unit's candidates, to spare an allocation per unit.
    candidates: Vec<Candidate>,
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

/// Places every unit. The first pass reserves capacity where resources are active now; each
/// further pass reserves it where the previous pass placed them, until a pass changes
/// nothing. At that fixed point every unit's node was chosen knowing where every later unit
/// will be, so carrying out the plan and scheduling again gives the same placement and no
/// actions. Without it, a resource moving off a full node in this round would let a clone
/// or a resource placed earlier claim that room only in the next round.
pub(crate) fn place(index: &Index<'_>, explain_unit: Option<UnitIdx>) -> Placement {
    let order = unit_order(index);
    let mut reserve_at: Vec<Vec<NodeIdx>> = index
        .resources
        .iter()
        .map(|view| {
            let nodes = view.instances.iter().map(|instance| instance.node);
            nodes
                .filter(|&node| view.is_active_on(node, &index.nodes))
                .collect()
        })
        .collect();
    let mut placement = place_once(index, &order, &reserve_at, explain_unit);
    for _ in 1..PLACEMENT_PASS_MAX {
        if !placement.capacity_blocked || placement.nodes == reserve_at {
            break;
        }
        reserve_at = placement.nodes;
        placement = place_once(index, &order, &reserve_at, explain_unit);
    }
    placement
}

fn place_once(
    index: &Index<'_>,
    order: &[UnitIdx],
    reserve_at: &[Vec<NodeIdx>],
    explain_unit: Option<UnitIdx>,
) -> Placement {
    let resource_count = index.resources.len();
    let mut placement = Placement {
        nodes: vec![Vec::new(); resource_count],
        decisions: vec![Decision::Stopped(StopWhy::NoNode); resource_count],
        scores: vec![None; resource_count],
        active_verdicts: vec![Vec::new(); index.units.len()],
        explained: Vec::new(),
        done: vec![false; index.units.len()],
        load: NodeLoad::new(index),
        used: vec![vec![0; index.capacity_keys.len()]; index.nodes.len()],
        reserved: vec![vec![0; index.capacity_keys.len()]; index.nodes.len()],
        reservations: vec![Vec::new(); resource_count],
        load_reservations: vec![Vec::new(); resource_count],
        capacity_blocked: false,
        candidates: Vec::with_capacity(index.nodes.len()),
    };
    for &unit in order {
        for &member in &index.units[unit].members {
            placement.reserve(index, member, &reserve_at[member]);
            for node in active_nodes(index, member) {
                if !index.nodes[node].maintenance {
                    placement.load.add_reserved(node);
                    placement.load_reservations[member].push(node);
                }
            }
        }
    }
    for &unit in order {
        placement.place_unit(index, unit, explain_unit == Some(unit));
        placement.done[unit] = true;
    }
    placement
}

impl Placement {
    fn place_unit(&mut self, index: &Index<'_>, unit_idx: UnitIdx, explain: bool) {
        let unit = &index.units[unit_idx];
        for &member in &unit.members {
            self.release(index, member);
        }
        if unit
            .members
            .iter()
            .any(|&member| index.is_unmanaged(member))
        {
            self.leave_unmanaged(index, &unit.members);
            return;
        }
        let frozen = frozen_nodes(index, &unit.members);
        let is_clone = matches!(unit.kind, UnitKind::Clone { .. });
        if !frozen.is_empty() && !is_clone {
            self.freeze(index, &unit.members, &frozen);
            return;
        }
        let runnable = self.runnable_count(index, &unit.members);
        let members = &unit.members[..runnable];
        if members.is_empty() {
            if !frozen.is_empty() {
                // A clone that should stop keeps its instances on maintenance nodes.
                self.place_clone(index, unit.members[0], &frozen, &[], 0);
            }
            return;
        }
        let facts = UnitFacts::new(index, unit_idx, members, frozen);
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        if facts.is_plain(index, members) && !explain && !is_clone {
            self.least_loaded_two(index, &facts, &mut candidates);
        } else {
            self.weigh_nodes(index, &facts, members, explain, &mut candidates);
        }
        match unit.kind {
            UnitKind::Clone { max } => {
                candidates.sort_by_key(|candidate| Reverse(candidate.key()));
                self.place_clone(index, members[0], &facts.frozen, &candidates, max);
            }
            UnitKind::Single | UnitKind::Group(_) => match top_two(&candidates) {
                (Some(best), second) => {
                    let why = why_best(&best, second.as_ref());
                    self.assign(index, members, best.node, Some(best.score), why);
                }
                (None, _) => {
                    for &member in members {
                        self.decisions[member] = Decision::Stopped(StopWhy::NoNode);
                    }
                }
            },
        }
        self.candidates = candidates;
    }

    /// For a unit with no preferences, no history and nothing running, every open node
    /// scores 0 and the least loaded one that has room wins: walks the open nodes by load
    /// and keeps the first two with room, as weighing every node would.
    fn least_loaded_two(&mut self, index: &Index<'_>, facts: &UnitFacts, out: &mut Vec<Candidate>) {
        let score = Score {
            total: 0,
            location: 0,
            colocation: 0,
            stickiness: 0,
        };
        for (load, node) in self.load.open_by_load() {
            match self.check_capacity(index, &facts.needs, node) {
                Ok(()) => out.push(Candidate {
                    node,
                    score,
                    active: false,
                    load,
                }),
                Err(_) => self.capacity_blocked = true,
            }
            if out.len() == 2 {
                break;
            }
        }
    }

    /// Weighs every node that is not frozen for the unit and adds those that can run it to
    /// `candidates`.
    /// Records the verdicts that stop reasons and explanations need.
    fn weigh_nodes(
        &mut self,
        index: &Index<'_>,
        facts: &UnitFacts,
        members: &[ResIdx],
        explain: bool,
        candidates: &mut Vec<Candidate>,
    ) {
        for node in 0..index.nodes.len() {
            if facts.frozen.contains(&node) {
                continue;
            }
            let active = facts.active_nodes.contains(&node);
            let verdict = self.evaluate(index, facts, members, node, active);
            if active {
                self.active_verdicts[facts.unit].push((node, verdict));
            }
            if explain && index.nodes[node].configured {
                self.explained.push((node, verdict));
            }
            match verdict {
                Ok(score) => {
                    let load = self.load.total(node);
                    candidates.push(Candidate {
                        node,
                        score,
                        active,
                        load,
                    });
                }
                Err(Block::Capacity { .. }) => self.capacity_blocked = true,
                Err(_) => {}
            }
        }
    }

    /// Reserves the capacity `resource` occupies on `nodes`, where it still fits after the
    /// reservations made before it (an instance that does not fit will not stay there, so
    /// it must not hold room it cannot keep).
    fn reserve(&mut self, index: &Index<'_>, resource: ResIdx, nodes: &[NodeIdx]) {
        let view = &index.resources[resource];
        for &node in nodes {
            if index.nodes[node].maintenance {
                continue;
            }
            let fits = view.utilization.iter().all(|&(key, amount)| {
                index.nodes[node].capacity[key].is_none_or(|capacity| {
                    self.reserved[node][key].saturating_add(amount) <= capacity
                })
            });
            if !fits {
                continue;
            }
            for &(key, amount) in &view.utilization {
                self.reserved[node][key] += amount;
            }
            self.reservations[resource].push(node);
        }
    }

    fn release(&mut self, index: &Index<'_>, resource: ResIdx) {
        for node in std::mem::take(&mut self.load_reservations[resource]) {
            self.load.remove_reserved(node);
        }
        for node in std::mem::take(&mut self.reservations[resource]) {
            for &(key, amount) in &index.resources[resource].utilization {
                self.reserved[node][key] -= amount;
            }
        }
    }

    /// How many leading members can run at all; records why the first one that cannot
    /// is stopped, and that the members after it stop with it.
    fn runnable_count(&mut self, index: &Index<'_>, members: &[ResIdx]) -> usize {
        for (position, &member) in members.iter().enumerate() {
            let Some(why) = self.why_not_runnable(index, member) else {
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

    /// Why `member` cannot run anywhere, whatever the node: stopped by the operator, or a
    /// mandatory `first` or an `INFINITY` colocation `with` that is placed nowhere.
    fn why_not_runnable(&self, index: &Index<'_>, member: ResIdx) -> Option<StopWhy> {
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
        facts: &UnitFacts,
        members: &[ResIdx],
        node: NodeIdx,
        active_here: bool,
    ) -> Verdict {
        let view = &index.nodes[node];
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
        if let Some(&(_, location, banned_by)) = facts.locations.iter().find(|l| l.0 == node) {
            if let Some(resource) = banned_by {
                return Err(Block::Banned { resource });
            }
            score.location = location;
        }
        for &member in members {
            self.score_member(index, facts.unit, member, node, &mut score)?;
        }
        self.check_capacity(index, &facts.needs, node)?;
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
        let threshold = resource.resource.options.migration_threshold;
        let instance = resource.instance(node);
        if let Some(instance) = instance
            && threshold > 0
            && instance.fail_count >= threshold
        {
            let failures = instance.fail_count;
            return Err(Block::Threshold {
                resource: member,
                threshold,
                failures,
            });
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
            // A mandatory colocation restricts the nodes (above) but adds nothing: added as
            // INFINITY it would saturate every allowed node's score and drown a move's
            // location preference and stickiness, as Pacemaker's mandatory colocations
            // do not.
            if together && colocation_score.abs() < SCORE_INFINITY {
                score.colocation = score_add(score.colocation, colocation_score);
            }
        }
        // An instance that is failed or in unknown state (found after an agent restart, not
        // yet probed) is treated as possibly running, but for a clone it earns no
        // stickiness: otherwise it could displace a running instance elsewhere, which would
        // be stopped (failing what it was serving) for an instance that is dead or may be.
        let sticky = instance.is_some_and(|instance| match instance.state {
            ResourceState::Unknown | ResourceState::Failed => {
                resource.resource.clone.is_none() && instance.state.is_active()
            }
            state => state.is_active(),
        });
        if sticky {
            score.stickiness = score_add(score.stickiness, resource.resource.options.stickiness);
        }
        Ok(())
    }

    fn check_capacity(
        &self,
        index: &Index<'_>,
        needs: &[(usize, u64)],
        node: NodeIdx,
    ) -> Result<(), Block> {
        for &(key, needed) in needs {
            let Some(capacity) = index.nodes[node].capacity[key] else {
                continue;
            };
            let taken = self.used[node][key].saturating_add(self.reserved[node][key]);
            let free = capacity.saturating_sub(taken);
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
            self.load.add_placed(node);
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
                self.load.add_placed(node);
            }
            self.nodes[member] = nodes;
        }
    }

    /// Leaves an unmanaged unit exactly where its members are active; what is not active
    /// stays stopped. A member makes its whole group unmanaged, since the group's members
    /// cannot be placed apart.
    fn leave_unmanaged(&mut self, index: &Index<'_>, members: &[ResIdx]) {
        for &member in members {
            let nodes: Vec<NodeIdx> = active_nodes(index, member).collect();
            self.decisions[member] = match nodes.first() {
                Some(&node) => Decision::Placed {
                    node,
                    why: Why::Unmanaged,
                },
                None => Decision::Stopped(StopWhy::Unmanaged),
            };
            for &node in &nodes {
                self.load.add_placed(node);
                for &(key, amount) in &index.resources[member].utilization {
                    self.used[node][key] += amount;
                }
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
            self.load.add_placed(node);
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

/// The best and the second-best candidates, without sorting them all.
fn top_two(candidates: &[Candidate]) -> (Option<Candidate>, Option<Candidate>) {
    let (mut best, mut second): (Option<Candidate>, Option<Candidate>) = (None, None);
    for &candidate in candidates {
        if best.is_none_or(|best| candidate.key() > best.key()) {
            second = best;
            best = Some(candidate);
        } else if second.is_none_or(|second| candidate.key() > second.key()) {
            second = Some(candidate);
        }
    }
    (best, second)
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
