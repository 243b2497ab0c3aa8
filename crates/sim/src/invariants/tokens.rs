//! Fencing tokens only grow: every new grant of a resource carries a larger token than the
//! grants before it (in commit order), and a unique resource is never started under an
//! older token than an earlier start anywhere. A holder recognised by a stale token is
//! what fencing depends on.

use cmdb::{AssignmentChange, CommandResult};
use model::{NodeId, Resource};

use crate::world::World;

/// A command committed with `result`: check the tokens of its new grants.
pub(crate) fn committed(world: &mut World, command: &cmdb::Command, result: &CommandResult) {
    let cmdb::Command::ChangeAssignments { changes } = command else {
        return;
    };
    let CommandResult::Tokens(tokens) = result else {
        world.checker.violation = Some(format!("assignment changes answered with {result}"));
        return;
    };
    let assigned = changes.iter().filter_map(|change| match change {
        AssignmentChange::Assign { resource, .. } => Some(resource),
        _ => None,
    });
    for (resource, token) in assigned.zip(tokens) {
        let newest = world.checker.granted.entry(resource.clone()).or_default();
        if *token <= *newest {
            world.checker.violation = Some(format!(
                "grant of {resource} under token {token} after token {newest}"
            ));
        }
        *newest = (*newest).max(*token);
    }
}

/// A start of `resource` begins on `node` under `token`.
pub(crate) fn started(world: &mut World, node: NodeId, resource: &Resource, token: u64) {
    if !resource.unique {
        return;
    }
    if model::promotable::base_of(&resource.id).is_some() {
        world.checker.promotions += 1;
    }
    let newest = world
        .checker
        .started
        .entry(resource.id.clone())
        .or_default();
    if token < *newest {
        world.checker.violation = Some(format!(
            "unique {} started on node {node} under token {token} after a start under {newest}",
            resource.id
        ));
    }
    *newest = (*newest).max(token);
}
