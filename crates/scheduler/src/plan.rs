//! The scheduler's output: where every resource should run, why, and the ordered actions
//! that get the cluster there.

use std::collections::BTreeMap;
use std::fmt;

use model::{NodeId, ResourceId};

/// The result of one scheduling round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Every configured resource and the nodes it should run on: one node for a resource or
    /// group member, several for a clone, none when it should be stopped. Nodes are sorted.
    pub placement: BTreeMap<ResourceId, Vec<NodeId>>,
    /// Every configured resource and, in plain words, why it is placed where it is or why it
    /// is stopped (for example `stickiness keeps it on node 1 (...)`).
    pub decisions: BTreeMap<ResourceId, String>,
    /// What to do, in an order that is safe to carry out one by one: every stop comes before
    /// every start; stops run dependents first (group members in reverse, `then` before
    /// `first`) and starts run dependencies first. A recovery is a stop and a start on the
    /// same node.
    pub actions: Vec<Action>,
}

impl Plan {
    /// Whether the cluster already matches the placement.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// One step of a plan: start or stop one resource on one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    /// Start or stop.
    pub kind: ActionKind,
    /// The resource.
    pub resource: ResourceId,
    /// The node that carries it out.
    pub node: NodeId,
    /// Why, in plain words (for example `node 3 is down`).
    pub reason: String,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} on node {}: {}",
            self.kind, self.resource, self.node, self.reason
        )
    }
}

/// What an action does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionKind {
    /// Run the resource agent's start operation.
    Start,
    /// Run the resource agent's stop operation.
    Stop,
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActionKind::Start => "start",
            ActionKind::Stop => "stop",
        })
    }
}
