//! After the faults stop, the cluster converges: a master is elected, every replica has
//! applied the whole log, every resource the operator wants started runs (a unique one on
//! exactly one node), and nothing else runs. Every node can run every resource once the
//! operator has taken the nodes out of standby and cleaned up the failures, so a resource
//! that does not run is a liveness bug.

use std::collections::BTreeSet;

use executor::InstanceState;
use model::{NodeId, TargetRole};

use crate::world::World;

pub(crate) fn check(world: &World) -> Result<(), String> {
    let Some(leader) = world
        .raft
        .leader
        .filter(|l| world.nodes[l].raft.leading.is_some())
    else {
        return Err("no master after the faults stopped".into());
    };
    let length = world.raft.log.len() as u64;
    for node in world.nodes.values() {
        if node.applied != length {
            return Err(format!(
                "node {} applied {} of {length} entries",
                node.id, node.applied
            ));
        }
    }
    let db = &world.reference;
    for (id, resource) in &db.resources.resources {
        let running: BTreeSet<NodeId> = world
            .nodes
            .values()
            .filter(|n| {
                n.executor
                    .instances()
                    .any(|(rid, view)| rid == id && view.state == InstanceState::Running)
            })
            .map(|n| n.id)
            .collect();
        let wanted = resource.options.target_role == TargetRole::Started;
        let status = db.resources.status.get(id);
        let detail = format!(
            "master {leader}, status {status:?}, running on {running:?}, assignments {:?}; {}{}",
            db.resources.assignments,
            plan(world),
            phantoms(world)
        );
        if wanted && running.is_empty() {
            return Err(format!(
                "resource {id} is wanted but runs nowhere: {detail}"
            ));
        }
        if wanted && resource.unique && running.len() > 1 {
            return Err(format!(
                "unique resource {id} runs on several nodes: {detail}"
            ));
        }
        if !wanted && !running.is_empty() {
            return Err(format!(
                "resource {id} is stopped by the operator but runs: {detail}"
            ));
        }
    }
    for (node, id) in world.procs.alive.keys() {
        if !db.resources.configured(id) {
            return Err(format!("deleted resource {id} still runs on node {node}"));
        }
    }
    Ok(())
}

/// The master's plan as it stands, for the failure report.
fn plan(world: &World) -> String {
    let health = world
        .nodes
        .keys()
        .map(|id| (*id, model::NodeHealth::Online))
        .collect();
    let round = agent::placement::round(&world.reference.resources, &health, world.now);
    let actions: Vec<String> = round
        .plan
        .actions
        .iter()
        .map(|a| format!("{:?} {} on {} ({})", a.kind, a.resource, a.node, a.reason))
        .collect();
    format!("plan [{}], changes {:?}", actions.join("; "), round.changes)
}

/// Instances the cmdb records as not stopped on a node that holds no grant for them and
/// runs no process of them: nothing will ever report on them again.
fn phantoms(world: &World) -> String {
    let db = &world.reference.resources;
    let mut found = Vec::new();
    for (id, nodes) in &db.status {
        for (node, status) in nodes {
            let granted = db.assignments.get(node).is_some_and(|m| m.contains_key(id));
            let alive = world.procs.alive.contains_key(&(*node, id.clone()));
            if status.state != model::ResourceState::Stopped && !granted && !alive {
                found.push(format!("{id} {:?} on node {node}", status.state));
            }
        }
    }
    if found.is_empty() {
        return String::new();
    }
    format!(
        "; phantom status (recorded, not granted, not running): {}",
        found.join(", ")
    )
}
