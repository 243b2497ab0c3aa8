//! The scheduler: one pure function from (configuration, observed state, now) to a placement
//! and an ordered list of actions, each with its reason in plain words.
//!
//! It plays Pacemaker's `pacemaker-schedulerd`. The master calls it after every relevant
//! change, `cli simulate` calls it offline, and tests call it on scenario files. It must
//! never do IO, read a clock, use randomness, log or keep state between calls: the same
//! input always gives the same plan, on any node. It depends only on `model`.
//!
//! Semantics, briefly (the scenario files under `test_data/` are the full specification):
//! groups are placed as one unit and started in member order; a constraint on any member
//! applies to the group. A node's score is the sum of location scores, colocation scores
//! and stickiness; `-INFINITY` location scores, down, standby and maintenance nodes, nodes
//! where the migration threshold is reached and nodes without enough capacity are never
//! chosen. Finite negative scores only make a node less attractive. Suspect nodes keep what
//! they run but take nothing new. Maintenance nodes get no actions at all. Ties go to the
//! node where the resource already runs, then to the least loaded node, then to the lowest
//! node id. A down node's instances are considered lost and recovered elsewhere at once: the
//! caller declares a node down only after its leases have surely expired.
//!
//! No resource other than a clone is ever placed on two nodes; `unique` changes nothing here
//! and tells the executor to hold a lease. The caller carries out the actions in order and
//! starts a resource only after the stops listed before it have succeeded. Colocations are
//! placed before their dependents, so they must not loop (`ClusterConfig::validate` rejects
//! that); a loop through a mandatory order is broken at the order.

mod actions;
mod explain;
mod index;
mod limits;
mod node_load;
mod placement;
mod plan;
mod reason;
mod render;
mod unit_facts;
mod unit_order;

#[cfg(test)]
mod tests;

use model::{ResourceId, SchedulerInput};

pub use plan::{Action, ActionKind, Plan};
pub use render::render_plan;

/// Computes where every configured resource should run and the ordered actions to get there.
pub fn schedule(input: &SchedulerInput) -> Plan {
    let index = index::Index::new(input);
    let placement = placement::place(&index, None);
    let actions = actions::plan_actions(&index, &placement);
    // Resources are indexed in id order, so both maps are built from sorted input.
    let ids = index.resources.iter().map(|view| view.id().clone());
    let placement_nodes = placement.nodes.iter().map(|nodes| {
        nodes
            .iter()
            .map(|&node| index.node_id(node))
            .collect::<Vec<_>>()
    });
    let decisions =
        (0..index.resources.len()).map(|position| index.decision_text(&placement, position));
    Plan {
        placement: ids.clone().zip(placement_nodes).collect(),
        decisions: ids.zip(decisions).collect(),
        actions,
    }
}

/// Explains, line by line, why `resource` runs where it runs or why it is stopped: what it
/// is, every node's score or the reason that node cannot run it, the decision, and the
/// actions planned for it. Uses the same reasons as [`schedule`].
pub fn explain(input: &SchedulerInput, resource: &ResourceId) -> Vec<String> {
    let index = index::Index::new(input);
    let Some(&position) = index.resource_by_id.get(resource) else {
        return vec![format!("{resource} is not a configured resource")];
    };
    let placement = placement::place(&index, Some(index.resources[position].unit));
    let actions = actions::plan_actions(&index, &placement);
    explain::lines(&index, &placement, position, &actions)
}
