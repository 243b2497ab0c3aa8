//! No unique resource is active on two nodes at the same instant, and so no promotable
//! resource is promoted on two nodes at once (each promoted role is a unique resource).
//!
//! This is the property the leases, the fencing tokens and the watchdogs exist for. A node
//! counts as a holder while a process of the resource may be alive there (from the start
//! of its start to the end of its stop, also after the agent crashed), and while its
//! executor believes it runs the resource under a lease it believes valid: a paused or
//! partitioned node that still thinks it may run the resource is a holder too. An instance
//! whose stop is under way no longer counts by the executor's view (the executor has let
//! go of it); its process, while alive, still does.

use std::collections::{BTreeMap, BTreeSet};

use executor::InstanceState;
use model::{Millis, NodeId, ResourceId};

use crate::world::World;

pub(crate) fn check(world: &World, now: Millis) -> Result<(), String> {
    let mut holders: BTreeMap<&ResourceId, BTreeSet<NodeId>> = BTreeMap::new();
    for ((node, id), process) in &world.procs.alive {
        if process.resource.unique {
            holders.entry(id).or_default().insert(*node);
        }
    }
    for node in world
        .nodes
        .values()
        .filter(|n| n.up && now < n.feed.lease_until)
    {
        for (id, view) in node.executor.instances() {
            // A promoted role counts as the unique resource it is.
            let unique = world
                .reference
                .resources
                .resource(id)
                .is_some_and(|r| r.unique);
            let stopping = view.operation == Some(executor::OperationKind::Stop);
            if unique && view.state == InstanceState::Running && !stopping {
                holders.entry(id).or_default().insert(node.id);
            }
        }
    }
    for (id, nodes) in holders {
        if nodes.len() > 1 {
            let nodes: Vec<u64> = nodes.iter().map(|n| n.0).collect();
            return Err(format!(
                "unique resource {id} is active on nodes {nodes:?} at once"
            ));
        }
    }
    Ok(())
}
