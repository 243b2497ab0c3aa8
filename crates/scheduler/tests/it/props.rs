//! Property tests over generated clusters of up to 6 nodes and 12 resources with random
//! health, standby, maintenance, capacity, groups, clones, constraints, states and fail
//! counts: every plan must pass `invariants::check` (deterministic, converges after being
//! carried out, nothing on down, standby or banned nodes, nothing twice, capacity held).

use std::collections::BTreeMap;
use std::time::Duration;

use model::{
    CloneOptions, ClusterConfig, ColocationConstraint, Constraint, Group, GroupId,
    LocationConstraint, NodeConfig, NodeHealth, NodeId, ObservedState, OrderConstraint, OrderKind,
    Resource, ResourceId, ResourceOptions, ResourceState, ResourceStatus, SCORE_INFINITY,
    SchedulerInput, TargetRole,
};
use proptest::prelude::*;

use crate::invariants;

const NOW: u64 = 10_000;

#[derive(Clone, Debug)]
struct GenNode {
    health: NodeHealth,
    standby: bool,
    maintenance: bool,
    memory: Option<u64>,
}

#[derive(Clone, Debug)]
struct GenResource {
    stickiness: i64,
    migration_threshold: u32,
    failure_timeout_ms: Option<u64>,
    stopped: bool,
    unique: bool,
    clone: Option<Option<u32>>,
    memory: u64,
    joins_previous: bool,
}

#[derive(Clone, Debug)]
struct GenCluster {
    nodes: Vec<GenNode>,
    resources: Vec<GenResource>,
    locations: Vec<(usize, usize, i64, Option<u64>)>,
    colocations: Vec<(usize, usize, i64)>,
    orders: Vec<(usize, usize, bool)>,
    statuses: Vec<(usize, usize, ResourceState, u32, Option<u64>)>,
    /// Whether colocations and orders may point either way, so they may form loops.
    any_direction: bool,
}

fn node() -> impl Strategy<Value = GenNode> {
    let health = prop_oneof![
        6 => Just(NodeHealth::Online),
        1 => Just(NodeHealth::Suspect),
        1 => Just(NodeHealth::Down),
    ];
    (
        health,
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.1),
        prop::option::of(0..300_u64),
    )
        .prop_map(|(health, standby, maintenance, memory)| GenNode {
            health,
            standby,
            maintenance,
            memory,
        })
}

fn resource() -> impl Strategy<Value = GenResource> {
    let stickiness = prop_oneof![Just(0_i64), Just(100), Just(SCORE_INFINITY)];
    let clone = prop_oneof![4 => Just(None), 1 => prop::option::of(1..4_u32).prop_map(Some)];
    (
        stickiness,
        0..4_u32,
        prop::option::of(1_000..8_000_u64),
        prop::bool::weighted(0.1),
        any::<bool>(),
        clone,
        0..100_u64,
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |(stickiness, threshold, timeout, stopped, unique, clone, memory, joins)| GenResource {
                stickiness,
                migration_threshold: threshold,
                failure_timeout_ms: timeout,
                stopped,
                unique,
                clone,
                memory,
                joins_previous: joins,
            },
        )
}

fn score() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(-SCORE_INFINITY),
        Just(-50_i64),
        Just(50),
        Just(200),
        Just(SCORE_INFINITY)
    ]
}

fn state() -> impl Strategy<Value = ResourceState> {
    prop_oneof![
        4 => Just(ResourceState::Running),
        2 => Just(ResourceState::Stopped),
        1 => Just(ResourceState::Failed),
        1 => Just(ResourceState::Unknown),
    ]
}

/// A cluster of up to `node_max` nodes and `resource_max` resources; positions are drawn
/// freely and taken modulo the counts.
fn cluster(node_max: usize, resource_max: usize) -> impl Strategy<Value = GenCluster> {
    let position = || any::<usize>();
    (
        prop::collection::vec(node(), 1..node_max),
        prop::collection::vec(resource(), 1..resource_max),
        prop::collection::vec(
            (
                position(),
                position(),
                score(),
                prop::option::of(5_000..15_000_u64),
            ),
            0..resource_max / 2,
        ),
        prop::collection::vec((position(), position(), score()), 0..resource_max / 3),
        prop::collection::vec((position(), position(), any::<bool>()), 0..resource_max / 3),
        prop::collection::vec(
            (
                position(),
                position(),
                state(),
                0..4_u32,
                prop::option::of(0..NOW),
            ),
            0..resource_max * 2,
        ),
        any::<bool>(),
    )
        .prop_map(
            |(nodes, resources, locations, colocations, orders, statuses, any_direction)| {
                GenCluster {
                    nodes,
                    resources,
                    locations,
                    colocations,
                    orders,
                    statuses,
                    any_direction,
                }
            },
        )
}

fn resource_id(position: usize) -> ResourceId {
    ResourceId(format!("r{position:02}"))
}

/// The scheduler input. With `any_direction`, colocations that loop (which validation
/// rejects) are generated again pointing one way, while orders keep any direction.
fn build(cluster: &GenCluster) -> SchedulerInput {
    let mut config = ClusterConfig::default();
    let mut observed = ObservedState::default();
    let node_count = cluster.nodes.len();
    let resource_count = cluster.resources.len();
    for (position, node) in cluster.nodes.iter().enumerate() {
        let id = NodeId(position as u64 + 1);
        let capacity = node
            .memory
            .map(|m| BTreeMap::from([("memory".to_owned(), m)]));
        let node_config = NodeConfig {
            id,
            standby: node.standby,
            maintenance: node.maintenance,
            capacity: capacity.unwrap_or_default(),
        };
        config.nodes.insert(id, node_config);
        observed.node_health.insert(id, node.health);
    }
    for (position, generated) in cluster.resources.iter().enumerate() {
        let resource = build_resource(position, generated);
        config.resources.insert(resource.id.clone(), resource);
    }
    build_groups(cluster, &mut config);
    build_constraints(cluster, &mut config, cluster.any_direction);
    if config.validate().is_err() {
        config.constraints.clear();
        build_constraints(cluster, &mut config, false);
    }
    for &(resource, node, state, fail_count, last_failure_at) in &cluster.statuses {
        let status = ResourceStatus {
            state,
            fail_count,
            last_failure_at: last_failure_at.filter(|_| fail_count > 0),
            last_failure: (fail_count > 0).then(|| "exit code 1".to_owned()),
        };
        let statuses = observed
            .resources
            .entry(resource_id(resource % resource_count))
            .or_default();
        statuses.insert(NodeId((node % node_count) as u64 + 1), status);
    }
    config
        .validate()
        .expect("generated configuration is consistent");
    SchedulerInput {
        config,
        observed,
        now: NOW,
    }
}

fn build_resource(position: usize, generated: &GenResource) -> Resource {
    let options = ResourceOptions {
        stickiness: generated.stickiness,
        migration_threshold: generated.migration_threshold,
        failure_timeout: generated.failure_timeout_ms.map(Duration::from_millis),
        target_role: if generated.stopped {
            TargetRole::Stopped
        } else {
            TargetRole::Started
        },
        ..ResourceOptions::default()
    };
    Resource {
        id: resource_id(position),
        type_name: "process".to_owned(),
        params: BTreeMap::new(),
        options,
        unique: generated.unique && generated.clone.is_none(),
        clone: generated.clone.map(|max| CloneOptions { max }),
        utilization: BTreeMap::from([("memory".to_owned(), generated.memory)]),
    }
}

/// Consecutive non-clone resources that "join the previous one" form groups, so groups
/// are contiguous ranges and constraints from higher to lower positions never form cycles.
fn build_groups(cluster: &GenCluster, config: &mut ClusterConfig) {
    let mut current: Vec<ResourceId> = Vec::new();
    let flush = |members: &mut Vec<ResourceId>, config: &mut ClusterConfig| {
        if members.len() > 1 {
            let id = GroupId(format!("g-{}", members[0]));
            config.groups.insert(
                id.clone(),
                Group {
                    id,
                    members: std::mem::take(members),
                },
            );
        }
        members.clear();
    };
    for (position, generated) in cluster.resources.iter().enumerate() {
        if generated.clone.is_some() {
            flush(&mut current, config);
            continue;
        }
        if !generated.joins_previous {
            flush(&mut current, config);
        }
        current.push(resource_id(position));
    }
    flush(&mut current, config);
}

fn build_constraints(
    cluster: &GenCluster,
    config: &mut ClusterConfig,
    colocations_any_direction: bool,
) {
    let resource_count = cluster.resources.len();
    let node_count = cluster.nodes.len() as u64;
    for &(resource, node, score, expires_at) in &cluster.locations {
        config
            .constraints
            .push(Constraint::Location(LocationConstraint {
                resource: resource_id(resource % resource_count),
                node: NodeId(node as u64 % node_count + 1),
                score,
                expires_at,
            }));
    }
    for &(a, b, score) in &cluster.colocations {
        let (a, b) = (a % resource_count, b % resource_count);
        // Pointing from higher to lower positions never loops; any direction may.
        let (dependent, with) = if colocations_any_direction {
            (a, b)
        } else {
            (a.max(b), a.min(b))
        };
        let same_group = config.groups.values().any(|group| {
            group.members.contains(&resource_id(a)) && group.members.contains(&resource_id(b))
        });
        if a != b && !same_group {
            config
                .constraints
                .push(Constraint::Colocation(ColocationConstraint {
                    resource: resource_id(dependent),
                    with: resource_id(with),
                    score,
                }));
        }
    }
    for &(a, b, mandatory) in &cluster.orders {
        let (a, b) = (a % resource_count, b % resource_count);
        let (first, then) = if cluster.any_direction {
            (a, b)
        } else {
            (a.min(b), a.max(b))
        };
        if a != b {
            let kind = if mandatory {
                OrderKind::Mandatory
            } else {
                OrderKind::Optional
            };
            config.constraints.push(Constraint::Order(OrderConstraint {
                first: resource_id(first),
                then: resource_id(then),
                kind,
            }));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_generated_plan_keeps_the_invariants(cluster in cluster(6, 12)) {
        check_generated(&cluster)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_generated_plan_keeps_the_invariants_in_larger_clusters(cluster in cluster(20, 80)) {
        check_generated(&cluster)?;
    }
}

fn check_generated(cluster: &GenCluster) -> Result<(), TestCaseError> {
    let input = build(cluster);
    let plan = scheduler::schedule(&input);
    invariants::check(&input, &plan);
    Ok(())
}
