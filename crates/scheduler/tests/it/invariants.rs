//! Properties every plan must have, checked on every golden scenario and every generated
//! cluster: nothing runs where it must not, nothing runs twice, capacity holds, actions
//! only target reachable nodes, and carrying out the plan leaves nothing more to do.

use std::collections::BTreeMap;

use model::{
    Constraint, NodeHealth, NodeId, ResourceId, ResourceState, SCORE_INFINITY, SchedulerInput,
    TargetRole,
};
use scheduler::{ActionKind, Plan};

/// The observed state after every action of `plan` succeeded.
pub(crate) fn apply(input: &SchedulerInput, plan: &Plan) -> SchedulerInput {
    let mut next = input.clone();
    for action in &plan.actions {
        let statuses = next
            .observed
            .resources
            .entry(action.resource.clone())
            .or_default();
        let status = statuses.entry(action.node).or_default();
        status.state = match action.kind {
            ActionKind::Start => ResourceState::Running,
            ActionKind::Stop => ResourceState::Stopped,
        };
    }
    next
}

fn is_active(input: &SchedulerInput, resource: &ResourceId, node: NodeId) -> bool {
    input
        .observed
        .status(resource, node)
        .is_some_and(|status| status.state.is_active())
}

/// Checks every invariant; panics naming the first one broken.
pub(crate) fn check(input: &SchedulerInput, plan: &Plan) {
    check_placement(input, plan);
    check_capacity(input, plan);
    check_constraints(input, plan);
    check_actions(input, plan);
    let next = apply(input, plan);
    let again = scheduler::schedule(&next);
    assert_eq!(
        again.actions,
        Vec::new(),
        "rescheduling after carrying out the plan must plan nothing"
    );
    assert_eq!(
        again.placement, plan.placement,
        "the placement must be stable"
    );
    assert_eq!(
        scheduler::schedule(input),
        *plan,
        "the same input must give the same plan"
    );
}

fn check_placement(input: &SchedulerInput, plan: &Plan) {
    let config = &input.config;
    assert_eq!(
        plan.placement.len(),
        config.resources.len(),
        "every resource has a placement"
    );
    for (resource_id, nodes) in &plan.placement {
        let resource = &config.resources[resource_id];
        let all_frozen = nodes.iter().all(|node| config.nodes[node].maintenance);
        if resource.options.target_role == TargetRole::Stopped {
            assert!(
                nodes.is_empty() || all_frozen,
                "{resource_id} is stopped by its target role"
            );
        }
        match &resource.clone {
            Some(clone) => {
                let max = clone.max.map_or(usize::MAX, |max| max as usize);
                // Instances left alone on maintenance nodes may exceed it; nothing else may.
                let frozen = nodes
                    .iter()
                    .filter(|node| config.nodes[node].maintenance)
                    .count();
                assert!(
                    nodes.len() <= max.max(frozen),
                    "clone {resource_id} exceeds its max"
                );
            }
            None => assert!(
                nodes.len() <= 1 || all_frozen,
                "{resource_id} is placed twice"
            ),
        }
        for node in nodes {
            check_node(input, resource_id, *node);
        }
    }
    for group in config.groups.values() {
        // Instances left alone on maintenance nodes may be anywhere; the rest are together.
        let mut nodes = group
            .members
            .iter()
            .flat_map(|member| &plan.placement[member])
            .filter(|node| !config.nodes[node].maintenance);
        if let Some(first) = nodes.next() {
            assert!(
                nodes.all(|node| node == first),
                "group {} is split",
                group.id
            );
        }
    }
}

/// Checks one placed node: configured, not down, not standby, nothing new on maintenance or
/// suspect nodes, and not past the migration threshold.
fn check_node(input: &SchedulerInput, resource_id: &ResourceId, node: NodeId) {
    let config = &input.config;
    let resource = &config.resources[resource_id];
    let node_config = config
        .nodes
        .get(&node)
        .expect("placed on a configured node");
    let health = input.observed.health(node);
    assert_ne!(
        health,
        NodeHealth::Down,
        "{resource_id} placed on down node {node}"
    );
    let frozen = node_config.maintenance;
    assert!(
        !node_config.standby || frozen,
        "{resource_id} placed on standby node {node}"
    );
    let was_active = is_active(input, resource_id, node);
    if node_config.maintenance {
        assert!(
            was_active,
            "{resource_id} newly placed on maintenance node {node}"
        );
    }
    // A suspect node keeps what it runs; a group there stays complete.
    let unit_was_active = unit_members(input, resource_id)
        .iter()
        .any(|member| is_active(input, member, node));
    if health == NodeHealth::Suspect {
        assert!(
            unit_was_active,
            "{resource_id} newly placed on suspect node {node}"
        );
    }
    if node_config.maintenance {
        return;
    }
    let threshold = resource.options.migration_threshold;
    if let Some(status) = input.observed.status(resource_id, node) {
        let failures = status.effective_fail_count(resource.options.failure_timeout, input.now);
        assert!(
            threshold == 0 || failures < threshold,
            "{resource_id} placed on node {node} past its migration threshold"
        );
    }
}

/// The group (or the resource itself) whose members share constraints with `resource`.
fn unit_members(input: &SchedulerInput, resource: &ResourceId) -> Vec<ResourceId> {
    input
        .config
        .groups
        .values()
        .find(|group| group.members.contains(resource))
        .map_or_else(|| vec![resource.clone()], |group| group.members.clone())
}

fn check_constraints(input: &SchedulerInput, plan: &Plan) {
    let maintenance = |node: &NodeId| input.config.nodes[node].maintenance;
    for constraint in &input.config.constraints {
        match constraint {
            Constraint::Location(location) => {
                if !location.is_active(input.now) || location.score > -SCORE_INFINITY {
                    continue;
                }
                for member in unit_members(input, &location.resource) {
                    let nodes = &plan.placement[&member];
                    let banned = nodes.iter().any(|n| *n == location.node && !maintenance(n));
                    assert!(
                        !banned,
                        "{member} placed on node {} despite a ban",
                        location.node
                    );
                }
            }
            Constraint::Colocation(colocation) if colocation.score <= -SCORE_INFINITY => {
                let with = &plan.placement[&colocation.with];
                for node in &plan.placement[&colocation.resource] {
                    let together = with.contains(node) && !maintenance(node);
                    assert!(
                        !together,
                        "{} placed with {} on node {node}",
                        colocation.resource, colocation.with
                    );
                }
            }
            Constraint::Colocation(colocation) if colocation.score >= SCORE_INFINITY => {
                let with = &plan.placement[&colocation.with];
                for node in &plan.placement[&colocation.resource] {
                    let apart = !with.contains(node) && !maintenance(node);
                    assert!(
                        !apart,
                        "{} must run with {}",
                        colocation.resource, colocation.with
                    );
                }
            }
            Constraint::Colocation(_) | Constraint::Order(_) => {}
        }
    }
}

fn check_capacity(input: &SchedulerInput, plan: &Plan) {
    let mut used: BTreeMap<(NodeId, &str), u64> = BTreeMap::new();
    for (resource_id, nodes) in &plan.placement {
        for node in nodes {
            for (key, amount) in &input.config.resources[resource_id].utilization {
                *used.entry((*node, key.as_str())).or_default() += amount;
            }
        }
    }
    for ((node, key), amount) in used {
        let node_config = &input.config.nodes[&node];
        if let Some(capacity) = node_config.capacity.get(key)
            && !node_config.maintenance
        {
            assert!(
                amount <= *capacity,
                "node {node} {key}: {amount} above capacity {capacity}"
            );
        }
    }
}

fn check_actions(input: &SchedulerInput, plan: &Plan) {
    let mut seen_start = false;
    for action in &plan.actions {
        assert!(!action.reason.is_empty(), "every action has a reason");
        let health = input.observed.health(action.node);
        assert_ne!(health, NodeHealth::Down, "no action on down node: {action}");
        let maintenance = input
            .config
            .nodes
            .get(&action.node)
            .is_some_and(|n| n.maintenance);
        assert!(!maintenance, "no action on a maintenance node: {action}");
        match action.kind {
            ActionKind::Start => seen_start = true,
            ActionKind::Stop => assert!(!seen_start, "stops come before starts: {action}"),
        }
    }
}
