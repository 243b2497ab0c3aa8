//! What placing one unit needs to know about it, computed once per unit rather than once per
//! (unit, node) pair: where it is active or frozen, its summed location scores, its needs.

use model::{SCORE_INFINITY, score_add};

use crate::index::{Index, NodeIdx, ResIdx, UnitIdx};

/// What evaluating a unit on a node needs, computed once per unit rather than per node.
pub(crate) struct UnitFacts {
    pub(crate) unit: UnitIdx,
    /// Maintenance nodes where any member is active: the unit is left alone there.
    pub(crate) frozen: Vec<NodeIdx>,
    /// Nodes (not down) where a runnable member is active.
    pub(crate) active_nodes: Vec<NodeIdx>,
    /// Per node with location constraints on any member (a constraint on any member applies
    /// to the whole group, even to members that are stopped): the summed score, and the
    /// member whose constraint made it `-INFINITY`.
    pub(crate) locations: Vec<(NodeIdx, i64, Option<ResIdx>)>,
    /// The runnable members' summed utilization of each limited capacity.
    pub(crate) needs: Vec<(usize, u64)>,
}

impl UnitFacts {
    pub(crate) fn new(
        index: &Index<'_>,
        unit: UnitIdx,
        members: &[ResIdx],
        frozen: Vec<NodeIdx>,
    ) -> UnitFacts {
        let all_members = &index.units[unit].members;
        let active_nodes = members
            .iter()
            .flat_map(|&member| active_nodes(index, member))
            .collect();
        let mut locations: Vec<(NodeIdx, i64, Option<ResIdx>)> = Vec::new();
        for &member in all_members {
            for &(node, score) in &index.resources[member].locations {
                let position = match locations.iter().position(|l| l.0 == node) {
                    Some(position) => position,
                    None => {
                        locations.push((node, 0, None));
                        locations.len() - 1
                    }
                };
                let entry = &mut locations[position];
                entry.1 = score_add(entry.1, score);
                if entry.1 <= -SCORE_INFINITY && entry.2.is_none() {
                    entry.2 = Some(member);
                }
            }
        }
        let mut needs: Vec<(usize, u64)> = Vec::new();
        for &member in members {
            for &(key, amount) in &index.resources[member].utilization {
                match needs.iter_mut().find(|need| need.0 == key) {
                    Some(need) => need.1 += amount,
                    None => needs.push((key, amount)),
                }
            }
        }
        UnitFacts {
            unit,
            frozen,
            active_nodes,
            locations,
            needs,
        }
    }
}

impl UnitFacts {
    /// Whether every open node would score 0 for the unit: no location constraints, no
    /// colocations, and no observed history (so no stickiness and no fail counts).
    pub(crate) fn is_plain(&self, index: &Index<'_>, members: &[ResIdx]) -> bool {
        self.locations.is_empty()
            && self.frozen.is_empty()
            && self.active_nodes.is_empty()
            && members.iter().all(|&member| {
                let view = &index.resources[member];
                view.instances.is_empty() && view.colocations.is_empty()
            })
    }
}

/// The nodes (not down) where `member` may be running.
pub(crate) fn active_nodes<'a>(
    index: &'a Index<'_>,
    member: ResIdx,
) -> impl Iterator<Item = NodeIdx> + 'a {
    let view = &index.resources[member];
    view.instances
        .iter()
        .map(|instance| instance.node)
        .filter(move |&node| view.is_active_on(node, &index.nodes))
}

/// Maintenance nodes where any member is active: the unit is left alone there.
pub(crate) fn frozen_nodes(index: &Index<'_>, members: &[ResIdx]) -> Vec<NodeIdx> {
    let mut frozen: Vec<NodeIdx> = members
        .iter()
        .flat_map(|&member| active_nodes(index, member))
        .filter(|&node| index.nodes[node].maintenance)
        .collect();
    frozen.sort_unstable();
    frozen.dedup();
    frozen
}
