//! Promotable resources: each promoted role is a unique resource placed by
//! `model::promotable::expand` (issue 12, point 4). The scheduler promotes the instance
//! with the highest promotion score on a node where the clone runs, breaks ties
//! deterministically, promotes at most `promoted_max`, and stops (demotes) a role before
//! it starts it elsewhere.

use std::collections::BTreeMap;

use model::{NodeId, ResourceId, ResourceState, ResourceStatus, SchedulerInput};

use crate::{ActionKind, Plan};

fn id(name: &str) -> ResourceId {
    ResourceId(name.to_owned())
}

/// Three nodes; `db` a clone running where `running` says, promotable up to
/// `promoted_max`, with the given promotion scores.
fn promotable(running: &[u64], scores: &[(u64, i64)], promoted_max: u32) -> SchedulerInput {
    let mut input = super::input(3, &["db"]);
    let db = input.config.resources.get_mut(&id("db")).expect("db");
    db.clone = Some(model::CloneOptions { max: None });
    db.unique = false;
    input.config.promotable.insert(id("db"), promoted_max);
    let running = running.iter().map(|node| {
        let status = ResourceStatus {
            state: ResourceState::Running,
            ..Default::default()
        };
        (NodeId(*node), status)
    });
    input.observed.resources.insert(id("db"), running.collect());
    let scores = scores.iter().map(|(node, score)| (NodeId(*node), *score));
    input
        .observed
        .promotion_scores
        .insert(id("db"), scores.collect());
    input
}

fn plan(input: &SchedulerInput) -> Plan {
    let mut input = input.clone();
    model::promotable::expand(&mut input.config, &input.observed);
    crate::schedule(&input)
}

/// The nodes the plan places `role` on.
fn placed(plan: &Plan, role: &str) -> Vec<u64> {
    let nodes = plan.placement.get(&id(role)).cloned().unwrap_or_default();
    nodes.iter().map(|node| node.0).collect()
}

#[test]
fn the_instance_with_the_highest_promotion_score_is_promoted() {
    let input = promotable(&[1, 2, 3], &[(1, 5), (2, 10), (3, 5)], 1);
    let plan = self::plan(&input);
    assert_eq!(placed(&plan, "db:promoted"), vec![2]);
    let starts: Vec<(String, u64)> = plan
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::Start)
        .map(|a| (a.resource.0.clone(), a.node.0))
        .collect();
    assert_eq!(starts, vec![("db:promoted".to_owned(), 2)]);
}

#[test]
fn equal_scores_promote_the_same_node_every_time() {
    let input = promotable(&[1, 2, 3], &[(1, 5), (2, 5), (3, 5)], 1);
    let first = placed(&plan(&input), "db:promoted");
    assert_eq!(first.len(), 1);
    for _ in 0..10 {
        assert_eq!(placed(&plan(&input), "db:promoted"), first);
    }
}

#[test]
fn an_instance_without_a_score_or_not_running_is_never_promoted() {
    // Node 3 has the best score but its instance does not run; node 2 runs but set none.
    let input = promotable(&[1, 2], &[(1, 5), (3, 100)], 1);
    assert_eq!(placed(&plan(&input), "db:promoted"), vec![1]);
    let nobody = promotable(&[1, 2, 3], &[], 1);
    assert_eq!(placed(&plan(&nobody), "db:promoted"), Vec::<u64>::new());
}

#[test]
fn at_most_promoted_max_instances_are_promoted_each_on_its_own_node() {
    let input = promotable(&[1, 2, 3], &[(1, 10), (2, 9), (3, 8)], 2);
    let plan = self::plan(&input);
    let mut nodes = placed(&plan, "db:promoted");
    nodes.extend(placed(&plan, "db:promoted:1"));
    nodes.sort_unstable();
    assert_eq!(nodes, vec![1, 2]);
    let single = promotable(&[1, 2, 3], &[(1, 10), (2, 9), (3, 8)], 1);
    let single = self::plan(&single);
    let roles: Vec<&ResourceId> = single
        .placement
        .keys()
        .filter(|r| model::promotable::base_of(r).is_some())
        .collect();
    assert_eq!(roles, vec![&id("db:promoted")]);
}

#[test]
fn a_failed_promoted_instance_is_demoted_before_another_is_promoted() {
    let mut input = promotable(&[2, 3], &[(1, 10), (2, 5), (3, 5)], 1);
    let failed = ResourceStatus {
        state: ResourceState::Failed,
        ..Default::default()
    };
    let promoted = ResourceStatus {
        state: ResourceState::Running,
        ..Default::default()
    };
    let db = input.observed.resources.get_mut(&id("db")).expect("db");
    db.insert(NodeId(1), failed);
    input
        .observed
        .resources
        .insert(id("db:promoted"), BTreeMap::from([(NodeId(1), promoted)]));
    let plan = self::plan(&input);
    let role: Vec<(ActionKind, u64)> = plan
        .actions
        .iter()
        .filter(|a| a.resource == id("db:promoted"))
        .map(|a| (a.kind, a.node.0))
        .collect();
    assert_eq!(role[0], (ActionKind::Stop, 1), "{role:?}");
    assert_eq!(role.len(), 2, "{role:?}");
    assert_eq!(role[1].0, ActionKind::Start);
    assert_ne!(role[1].1, 1);
}
