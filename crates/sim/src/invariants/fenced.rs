//! A unique resource of a lost node starts elsewhere before that node's lease ended only
//! if a fence of the node was confirmed first (issue 16).
//!
//! The master may start a unique resource on another node when the node that ran it said
//! it ended (a report of a stop, or of a start or monitor that found it not running,
//! committed), when every lease granted to that node has ended (its executor and its
//! watchdogs stopped it by then), or when a fence powered that node off after it started
//! the resource. Anything else is a start on a guess: safe only by luck, as when the
//! process happened to crash, so it fails the seed even when no two processes overlapped
//! (which `unique.rs` checks). A confirmed fence is a power-off at the instant of the
//! confirmation (`crate::fence`), so "powered off since" is "fence confirmed since".

use std::collections::BTreeMap;

use model::{Millis, NodeId, Resource, ResourceId, ResourceState};

use crate::world::World;

/// What the check remembers between steps.
#[derive(Debug, Default)]
pub(crate) struct Memory {
    /// The end of the longest lease granted to each node (by any master, in any term).
    lease_end: BTreeMap<NodeId, Millis>,
    /// The last start of each unique resource: node, token, and when it began.
    last_start: BTreeMap<ResourceId, (NodeId, u64, Millis)>,
    /// The last start of each unique resource on each node: token, and when it began.
    starts: BTreeMap<(NodeId, ResourceId), (u64, Millis)>,
    /// The newest token under which a node reported, committed, that a resource ended.
    ended: BTreeMap<(NodeId, ResourceId), u64>,
    /// When the newest stop a node reported (committed) began: a stop is true under any
    /// token, as the cmdb takes it (the node runs nothing of the resource since).
    stopped: BTreeMap<(NodeId, ResourceId), Millis>,
    /// When the master last wrote a node's instance off as lost (committed).
    written_off: BTreeMap<(NodeId, ResourceId), Millis>,
}

impl Memory {
    /// The last start of `resource`: where, under which token, and when.
    #[cfg(test)]
    pub(crate) fn last_start(&self, resource: &ResourceId) -> Option<(NodeId, u64, Millis)> {
        self.last_start.get(resource).copied()
    }

    /// The end of the longest lease granted to `node`.
    #[cfg(test)]
    pub(crate) fn lease_end(&self, node: NodeId) -> Millis {
        self.lease_end.get(&node).copied().unwrap_or(0)
    }

    /// Whether `node` said, or the master decided, that the instance of `resource` it
    /// started under `token` at `since` has ended.
    fn ended(&self, node: NodeId, resource: &ResourceId, token: u64, since: Millis) -> bool {
        let key = (node, resource.clone());
        self.ended.get(&key).is_some_and(|t| *t >= token)
            || self.stopped.get(&key).is_some_and(|at| *at >= since)
            || self.written_off.get(&key).is_some_and(|at| *at >= since)
    }
}

/// A lease until `until` was granted to `node` (its heartbeat's answer, or a master's own).
pub(crate) fn granted(world: &mut World, node: NodeId, until: Millis) {
    let end = world.checker.fenced.lease_end.entry(node).or_default();
    *end = (*end).max(until);
}

/// Why `holder`'s instance, started at `since`, may be taken for gone now without its
/// word: every lease it was granted has ended, or a fence powered it off since.
fn gone(world: &World, holder: NodeId, since: Millis) -> Result<(), String> {
    let lease_end = (world.checker.fenced.lease_end.get(&holder).copied()).unwrap_or(0);
    let off_at = world.fencing.off_at.get(&holder).copied();
    if world.now >= lease_end || off_at.is_some_and(|at| at >= since) {
        return Ok(());
    }
    Err(format!(
        "node {holder} holds a lease until {lease_end} ms and was not fenced since \
         {since} ms (last off at {off_at:?})"
    ))
}

/// A command committed: remember the reports that say an instance ended, and check the
/// master's write-offs of lost nodes' instances.
pub(crate) fn committed(world: &mut World, command: &cmdb::Command) {
    let command = match command {
        cmdb::Command::Session { command, .. } => command.as_ref(),
        command => command,
    };
    match command {
        cmdb::Command::RecordOperation { node, report, .. } => {
            let memory = &mut world.checker.fenced;
            let key = (*node, report.resource.clone());
            if report.operation == "stop" {
                let at = memory.stopped.entry(key.clone()).or_default();
                *at = (*at).max(report.started_at);
            }
            if matches!(
                report.state_after,
                ResourceState::Stopped | ResourceState::Failed
            ) {
                let token = memory.ended.entry(key).or_default();
                *token = (*token).max(report.fencing_token);
            }
        }
        cmdb::Command::ChangeAssignments { changes } => {
            for change in changes {
                if let cmdb::AssignmentChange::Lost { node, resource } = change {
                    written_off(world, *node, resource);
                }
            }
        }
        _ => {}
    }
}

/// The master wrote `node`'s instance of `resource` off as lost.
fn written_off(world: &mut World, node: NodeId, resource: &ResourceId) {
    let memory = &world.checker.fenced;
    let key = (node, resource.clone());
    if let Some((token, since)) = memory.starts.get(&key).copied()
        && !memory.ended(node, resource, token, since)
        && let Err(why) = gone(world, node, since)
    {
        world.checker.violation = Some(format!(
            "unique {resource} of node {node}, started at {since} ms under token {token} and \
             not reported ended, written off as lost at {} ms: {why}",
            world.now
        ));
    }
    world.checker.fenced.written_off.insert(key, world.now);
}

/// A start of `resource` begins on `node` under `token`.
pub(crate) fn started(world: &mut World, node: NodeId, resource: &Resource, token: u64) {
    if !resource.unique {
        return;
    }
    let now = world.now;
    let memory = &mut world.checker.fenced;
    let id = resource.id.clone();
    memory.starts.insert((node, id.clone()), (token, now));
    let previous = memory.last_start.insert(id.clone(), (node, token, now));
    let Some((holder, held_token, since)) = previous.filter(|(holder, ..)| *holder != node) else {
        return;
    };
    if memory.ended(holder, &id, held_token, since) {
        return;
    }
    if let Err(why) = gone(world, holder, since) {
        world.checker.violation = Some(format!(
            "unique {id} starts on node {node} under token {token} at {now} ms, while node \
             {holder}, which started it under token {held_token} and reported no end, was not \
             written off: {why}"
        ));
    }
}
