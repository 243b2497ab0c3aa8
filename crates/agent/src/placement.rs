//! The master's scheduling round, without IO: given the cmdb's resource state, each node's
//! health as the scheduler may see it, and `now`, decide the assignment changes to write.
//!
//! The scheduler's plan lists stops before starts. Carrying it out safely means: withdraw
//! the grants the plan stops (and every grant of a deleted resource), and grant nothing new
//! while any planned stop is not yet confirmed (a moved unique resource must be stopped
//! before it starts elsewhere); then grant starts in plan order, each only once the
//! resources it must follow (earlier group members, the `first` of an order constraint)
//! are running.
//!
//! A grant withdrawn before its node reported under it (its start may be under way) leaves
//! the instance unknown in the cmdb, so it is still stopped and confirmed before anything
//! takes its place; the executor abandons such a start, or confirms that it never began.

use std::collections::{BTreeMap, BTreeSet};

use cmdb::{AssignmentChange, ResourceDb};
use model::{
    Constraint, Millis, NodeHealth, NodeId, ObservedState, OrderKind, ResourceId, ResourceState,
    SchedulerInput,
};
use scheduler::{ActionKind, Plan};

/// One scheduling round's result.
pub struct Round {
    /// The plan, for explanations and logs.
    pub plan: Plan,
    /// What to write to the cmdb (may be empty).
    pub changes: Vec<AssignmentChange>,
}

/// Build the scheduler's input from the cmdb and the lease-aware health of each node.
pub fn scheduler_input(
    resources: &ResourceDb,
    health: &BTreeMap<NodeId, NodeHealth>,
    now: Millis,
) -> SchedulerInput {
    let mut config = resources.cluster_config(health.keys().copied());
    let observed = ObservedState {
        node_health: health.clone(),
        resources: with_grants_in_flight(resources),
        promotion_scores: resources.promotion_scores.clone(),
    };
    // Each promoted role is placed as a unique resource of its own.
    model::promotable::expand(&mut config, &observed);
    SchedulerInput {
        config,
        observed,
        now,
    }
}

/// The observed state of `resource` on `node`, if any report was recorded.
fn state_on(resources: &ResourceDb, node: NodeId, resource: &ResourceId) -> Option<ResourceState> {
    let status = resources.status.get(resource)?.get(&node)?;
    Some(status.state)
}

/// Whether `node` reported `resource` stopped under the grant it still holds.
fn stopped_under_grant(resources: &ResourceDb, node: NodeId, resource: &ResourceId) -> bool {
    state_on(resources, node, resource) == Some(ResourceState::Stopped)
        && resources.grant_spent(node, resource)
}

/// Whether `node` holds a grant of `resource` on which it has not reported yet and is not
/// seen running: its start may be under way.
fn in_flight(resources: &ResourceDb, node: NodeId, resource: &ResourceId) -> bool {
    let Some(token) = resources
        .assignments
        .get(&node)
        .and_then(|m| m.get(resource))
    else {
        return false;
    };
    let reported = resources
        .reported_tokens
        .get(resource)
        .and_then(|m| m.get(&node));
    reported != Some(token) && state_on(resources, node, resource) != Some(ResourceState::Running)
}

/// The observed state, with every instance granted but not reported on under its grant
/// (its start may be under way) as unknown: possibly running. Otherwise a plan changed
/// while a start is in flight would start the resource elsewhere without first stopping
/// and confirming it here.
fn with_grants_in_flight(
    resources: &ResourceDb,
) -> BTreeMap<ResourceId, BTreeMap<NodeId, model::ResourceStatus>> {
    let mut status = resources.status.clone();
    for (node, granted) in &resources.assignments {
        for resource in granted.keys() {
            if !in_flight(resources, *node, resource) {
                continue;
            }
            let instance = status
                .entry(resource.clone())
                .or_default()
                .entry(*node)
                .or_default();
            if instance.state == ResourceState::Stopped {
                instance.state = ResourceState::Unknown;
            }
        }
    }
    status
}

/// Plan and translate into assignment changes.
pub fn round(resources: &ResourceDb, health: &BTreeMap<NodeId, NodeHealth>, now: Millis) -> Round {
    let input = scheduler_input(resources, health, now);
    let plan = scheduler::schedule(&input);
    let changes = changes_for(resources, health, &input, &plan);
    Round { plan, changes }
}

/// One event per assignment change, with the scheduler's reason. `resources` is the state
/// the round was planned on: a new grant where the resource has failed before is a
/// `restart`, and a withdrawn grant of a failed instance that the plan starts nowhere is a
/// `give up`.
pub fn describe(round: &Round, resources: &ResourceDb) -> Vec<model::EventKind> {
    round
        .changes
        .iter()
        .map(|change| {
            let (action, node, resource, kind) = match change {
                AssignmentChange::Assign { node, resource } => {
                    let status = resources.status.get(resource).and_then(|m| m.get(node));
                    let failed_here = status.is_some_and(|s| s.fail_count > 0);
                    let action = if failed_here { "restart" } else { "start" };
                    (action, node, resource, Some(ActionKind::Start))
                }
                AssignmentChange::Unassign { node, resource } => {
                    let status = resources.status.get(resource).and_then(|m| m.get(node));
                    let failed = status.is_some_and(|s| s.state == ResourceState::Failed);
                    let started_anywhere = round
                        .plan
                        .actions
                        .iter()
                        .any(|a| a.kind == ActionKind::Start && a.resource == *resource);
                    let action = if failed && !started_anywhere {
                        "give up"
                    } else {
                        "stop"
                    };
                    (action, node, resource, Some(ActionKind::Stop))
                }
                AssignmentChange::Lost { node, resource } => ("lost", node, resource, None),
            };
            let reason = match kind {
                Some(kind) => round
                    .plan
                    .actions
                    .iter()
                    .find(|a| a.kind == kind && a.node == *node && a.resource == *resource)
                    .map(|a| a.reason.clone())
                    .unwrap_or_else(|| "as planned".into()),
                None => format!("node {node} is down and its lease has ended"),
            };
            model::EventKind::ResourceAction {
                resource: resource.clone(),
                node: *node,
                action: action.to_string(),
                reason,
            }
        })
        .collect()
}

fn assigned(resources: &ResourceDb, node: NodeId, resource: &ResourceId) -> bool {
    resources
        .assignments
        .get(&node)
        .is_some_and(|m| m.contains_key(resource))
}

fn changes_for(
    resources: &ResourceDb,
    health: &BTreeMap<NodeId, NodeHealth>,
    input: &SchedulerInput,
    plan: &Plan,
) -> Vec<AssignmentChange> {
    let mut changes = Vec::new();
    // A down node (its lease has surely ended) runs nothing any more.
    for (node, map) in &resources.assignments {
        if health.get(node).is_none_or(|h| *h == NodeHealth::Down) {
            for resource in map.keys() {
                changes.push(AssignmentChange::Lost {
                    node: *node,
                    resource: resource.clone(),
                });
            }
        }
    }
    // So is an instance whose grant was withdrawn just before its node went down, before
    // the node could report the stop: no grant is left to lose, and nothing else would ever
    // say that it stopped (its status would stay running on a dead node).
    for (resource, nodes) in &resources.status {
        for (node, status) in nodes {
            let down = health.get(node).is_none_or(|h| *h == NodeHealth::Down);
            if down
                && status.state != ResourceState::Stopped
                && !assigned(resources, *node, resource)
            {
                changes.push(AssignmentChange::Lost {
                    node: *node,
                    resource: resource.clone(),
                });
            }
        }
    }
    // A grant spent by a stop (the node fenced itself when its lease ran out) is withdrawn
    // unless the plan restarts the resource there, so that no node keeps a grant for what
    // the plan runs elsewhere.
    for (node, map) in &resources.assignments {
        for resource in map.keys() {
            let restarted_here = plan
                .actions
                .iter()
                .any(|a| a.kind == ActionKind::Start && a.node == *node && &a.resource == resource);
            if health.get(node).is_some_and(|h| *h != NodeHealth::Down)
                && stopped_under_grant(resources, *node, resource)
                && !restarted_here
            {
                changes.push(AssignmentChange::Unassign {
                    node: *node,
                    resource: resource.clone(),
                });
            }
        }
    }
    let followers_stopping = withdraw_followers(resources, input, &mut changes);
    let stops_pending = withdraw_stopped(resources, health, input, plan, &mut changes);
    if stops_pending {
        return changes;
    }
    let predecessors = predecessors(input);
    let running = |resource: &ResourceId| {
        resources
            .status
            .get(resource)
            .is_some_and(|m| m.values().any(|s| s.state == ResourceState::Running))
    };
    let starting: BTreeSet<&ResourceId> = plan
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::Start)
        .map(|a| &a.resource)
        .collect();
    for action in plan.actions.iter().filter(|a| a.kind == ActionKind::Start) {
        // A grant the executor has spent (its instance failed or stopped under it) is
        // renewed with a new token: that is how a restart in place is asked for.
        if assigned(resources, action.node, &action.resource)
            && !resources.grant_spent(action.node, &action.resource)
        {
            continue;
        }
        if backing_off(input, action.node, &action.resource)
            || followers_stopping.contains(&(action.node, &action.resource))
        {
            continue;
        }
        let waiting = predecessors.get(&action.resource).is_some_and(|before| {
            before
                .iter()
                .any(|p| starting.contains(p) || (!running(p) && is_started(input, p)))
        });
        if !waiting {
            changes.push(AssignmentChange::Assign {
                node: action.node,
                resource: action.resource.clone(),
            });
        }
    }
    changes
}

/// Withdraws every grant of a deleted resource and every grant the plan stops; returns
/// whether the plan stops anything (then nothing new may be granted in this round).
fn withdraw_stopped(
    resources: &ResourceDb,
    health: &BTreeMap<NodeId, NodeHealth>,
    input: &SchedulerInput,
    plan: &Plan,
    changes: &mut Vec<AssignmentChange>,
) -> bool {
    // A deleted resource's grants are withdrawn at once (its executor treats them as
    // withdrawn already); what may still run is tracked by its status until stopped. A
    // down node's grants are lost instead.
    for (node, map) in &resources.assignments {
        let up = health.get(node).is_some_and(|h| *h != NodeHealth::Down);
        for resource in map.keys() {
            if up && !input.config.resources.contains_key(resource) {
                let change = AssignmentChange::Unassign {
                    node: *node,
                    resource: resource.clone(),
                };
                push_once(changes, change);
            }
        }
    }
    let mut stops_pending = false;
    let stops: Vec<(NodeId, &ResourceId)> = (plan.actions.iter())
        .filter(|a| a.kind == ActionKind::Stop)
        .map(|a| (a.node, &a.resource))
        .collect();
    for action in plan.actions.iter().filter(|a| a.kind == ActionKind::Stop) {
        stops_pending = true;
        if successor_still_stopping(resources, input, &stops, action.node, &action.resource) {
            continue;
        }
        // A grant whose start may be under way is withdrawn too: the cmdb then records the
        // instance as unknown until its node reports it stopped, and the executor abandons
        // such a start at once. Waiting for the start to end instead would hold every
        // other start back meanwhile, for ever if the node never reports under the grant.
        if assigned(resources, action.node, &action.resource) {
            let change = AssignmentChange::Unassign {
                node: action.node,
                resource: action.resource.clone(),
            };
            push_once(changes, change);
        }
    }
    stops_pending
}

/// Whether something that must stop before `resource` is being stopped and still runs:
/// a member after it in one of its groups, on the same node (a group stops in reverse
/// order, its VIP after its application), or the `then` of an order constraint whose
/// `first` it is, on any node (Pacemaker's "stop `then` before `first`", for optional
/// orders too, since both change in this plan). `resource` keeps its grant until then.
fn successor_still_stopping(
    resources: &ResourceDb,
    input: &SchedulerInput,
    stops: &[(NodeId, &ResourceId)],
    node: NodeId,
    resource: &ResourceId,
) -> bool {
    let still_stopping = |on: NodeId, other: &ResourceId| {
        stops.contains(&(on, other))
            && state_on(resources, on, other).is_some_and(|s| s.is_active())
    };
    let in_group = input.config.groups.values().any(|group| {
        let mut members = group.members.iter();
        if !members.any(|member| member == resource) {
            return false;
        }
        members.any(|later| still_stopping(node, later))
    });
    in_group
        || input
            .config
            .constraints
            .iter()
            .any(|constraint| match constraint {
                Constraint::Order(order) if &order.first == resource => {
                    // An order loop (which the scheduler breaks) would otherwise hold each
                    // member back for ever: inside a loop, nothing waits.
                    !follows(input, &order.then, resource)
                        && (stops.iter())
                            .any(|(on, other)| *other == &order.then && still_stopping(*on, other))
                }
                _ => false,
            })
}

/// Whether `to` must stop before `from` through a chain of group successions and orders.
fn follows(input: &SchedulerInput, from: &ResourceId, to: &ResourceId) -> bool {
    let mut seen = BTreeSet::new();
    let mut next = vec![from];
    while let Some(at) = next.pop() {
        if at == to {
            return true;
        }
        if !seen.insert(at) {
            continue;
        }
        for group in input.config.groups.values() {
            if let Some(index) = group.members.iter().position(|m| m == at) {
                next.extend(&group.members[index + 1..]);
            }
        }
        for constraint in &input.config.constraints {
            if let Constraint::Order(order) = constraint
                && &order.first == at
            {
                next.push(&order.then);
            }
        }
    }
    false
}

fn push_once(changes: &mut Vec<AssignmentChange>, change: AssignmentChange) {
    if !changes.contains(&change) {
        changes.push(change);
    }
}

/// A group member stopped under its grant (a restart: its parameters changed) restarts
/// the members after it, as Pacemaker does: their grants are withdrawn, and the member is
/// granted again only once they are stopped; the plan then starts them again in order.
/// Returns the (node, member) pairs whose new grant waits for that.
fn withdraw_followers<'a>(
    resources: &ResourceDb,
    input: &'a SchedulerInput,
    changes: &mut Vec<AssignmentChange>,
) -> BTreeSet<(NodeId, &'a ResourceId)> {
    let mut waiting = BTreeSet::new();
    for group in input.config.groups.values() {
        for (index, member) in group.members.iter().enumerate() {
            for node in resources.assignments.keys() {
                if !stopped_under_grant(resources, *node, member) {
                    continue;
                }
                for follower in &group.members[index + 1..] {
                    let active =
                        state_on(resources, *node, follower).is_some_and(|s| s.is_active());
                    if !active {
                        continue;
                    }
                    waiting.insert((*node, member));
                    if assigned(resources, *node, follower)
                        && !resources.grant_spent(*node, follower)
                    {
                        push_once(
                            changes,
                            AssignmentChange::Unassign {
                                node: *node,
                                resource: follower.clone(),
                            },
                        );
                    }
                }
            }
        }
    }
    waiting
}

/// Whether a start of `resource` on `node` waits for its restart backoff: it failed there
/// again and again, and the wait after its latest failure has not passed
/// (`ResourceStatus::restart_not_before`). `explain` shows the same deadline.
fn backing_off(input: &SchedulerInput, node: NodeId, resource: &ResourceId) -> bool {
    let failure_timeout = input
        .config
        .resources
        .get(resource)
        .and_then(|r| r.options.failure_timeout);
    input
        .observed
        .resources
        .get(resource)
        .and_then(|m| m.get(&node))
        .and_then(|status| status.restart_not_before(failure_timeout, input.now))
        .is_some()
}

fn is_started(input: &SchedulerInput, resource: &ResourceId) -> bool {
    input
        .config
        .resources
        .get(resource)
        .is_some_and(|r| r.options.target_role == model::TargetRole::Started)
}

/// For each resource, the resources that must be running before it starts: the earlier
/// members of its group and the `first` of mandatory order constraints.
fn predecessors(input: &SchedulerInput) -> BTreeMap<ResourceId, Vec<ResourceId>> {
    let mut before: BTreeMap<ResourceId, Vec<ResourceId>> = BTreeMap::new();
    for group in input.config.groups.values() {
        for (index, member) in group.members.iter().enumerate() {
            before
                .entry(member.clone())
                .or_default()
                .extend(group.members[..index].iter().cloned());
        }
    }
    for constraint in &input.config.constraints {
        if let Constraint::Order(order) = constraint
            && order.kind == OrderKind::Mandatory
        {
            before
                .entry(order.then.clone())
                .or_default()
                .push(order.first.clone());
        }
    }
    before
}

#[cfg(test)]
mod tests;
