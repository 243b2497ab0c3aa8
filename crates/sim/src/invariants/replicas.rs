//! Replicas agree: a replica that has applied the whole committed log equals the
//! reference replica, which applied every entry when it committed. `ClusterDb::apply` must
//! be a deterministic function of the log, or replicas would disagree about who holds what.

use crate::world::World;

pub(crate) fn check(world: &mut World) -> Result<(), String> {
    let length = world.raft.log.len() as u64;
    for node in world.nodes.values_mut() {
        if !node.replica_changed {
            continue;
        }
        node.replica_changed = false;
        if node.applied == length && node.db != world.reference {
            return Err(format!(
                "node {} applied the {length} committed entries but its cmdb differs",
                node.id
            ));
        }
    }
    Ok(())
}
