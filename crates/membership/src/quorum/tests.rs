//! Quorum policy tests: tables of voter sets with each member's health, the resulting voter
//! set, and a property test of the safety rules over arbitrary clusters.
//!
//! Members are written as ids with a health suffix: `4!` is down, `4?` is suspect, a bare
//! `4` is online. Node 1 is the master unless a test says otherwise.

use std::collections::{BTreeMap, BTreeSet};

use model::{NodeHealth, NodeId};
use proptest::prelude::*;

use crate::{QuorumChange, QuorumInput, force_quorum_voters, plan_quorum};

#[derive(Debug, Clone)]
struct Cluster {
    voters: BTreeSet<NodeId>,
    learners: BTreeSet<NodeId>,
    health: BTreeMap<NodeId, NodeHealth>,
}

fn parse(voters: &str, learners: &str) -> Cluster {
    let mut health = BTreeMap::new();
    let mut members = |list: &str| -> BTreeSet<NodeId> {
        let mut nodes = BTreeSet::new();
        for word in list.split_whitespace() {
            let (id, node_health) = match word.as_bytes()[word.len() - 1] {
                b'!' => (&word[..word.len() - 1], NodeHealth::Down),
                b'?' => (&word[..word.len() - 1], NodeHealth::Suspect),
                _ => (word, NodeHealth::Online),
            };
            let node = NodeId(id.parse().expect("test ids are numbers"));
            health.insert(node, node_health);
            nodes.insert(node);
        }
        nodes
    };
    let voters = members(voters);
    let learners = members(learners);
    Cluster {
        voters,
        learners,
        health,
    }
}

fn ids(nodes: &BTreeSet<NodeId>) -> String {
    let words: Vec<String> = nodes.iter().map(NodeId::to_string).collect();
    words.join(" ")
}

fn plan(cluster: &Cluster, voters_max: usize, master: u64) -> Option<QuorumChange> {
    plan_with(cluster, voters_max, master, false)
}

fn plan_with(
    cluster: &Cluster,
    voters_max: usize,
    master: u64,
    witness: bool,
) -> Option<QuorumChange> {
    plan_quorum(&QuorumInput {
        voters: &cluster.voters,
        learners: &cluster.learners,
        health: &cluster.health,
        voters_max,
        master: NodeId(master),
        witness,
    })
}

/// Like [`check`], for a cluster with a witness.
fn check_witness(voters: &str, learners: &str, expected: Option<&str>) {
    let change = plan_with(&parse(voters, learners), 5, 1, true);
    let actual = change.map(|QuorumChange::SetVoters { voters, .. }| ids(&voters));
    assert_eq!(
        actual.as_deref(),
        expected,
        "voters [{voters}] learners [{learners}], with a witness"
    );
}

#[test]
fn with_a_witness_two_online_members_both_vote() {
    check("1", "2", 5, None);
    check_witness("1 2", "", None);
    check_witness("1", "2", Some("1 2"));
    check_witness("1", "2?", None);
    check_witness("1 2!", "", None);
    check_witness("1 2 3", "", None);
    check_witness("1 2 3!", "", Some("1 2"));
    check_witness("1", "2 3", Some("1 2 3"));
}

/// Plans with master 1 and compares the new voter set (`None` for no change).
fn check(voters: &str, learners: &str, voters_max: usize, expected: Option<&str>) {
    let change = plan(&parse(voters, learners), voters_max, 1);
    let actual = change.map(|QuorumChange::SetVoters { voters, .. }| ids(&voters));
    assert_eq!(
        actual.as_deref(),
        expected,
        "voters [{voters}] learners [{learners}]"
    );
}

#[test]
fn all_healthy_cluster_needs_no_change() {
    check("1 2 3 4 5", "6 7", 5, None);
    check("1", "", 5, None);
}

#[test]
fn one_of_five_down_shrinks_to_three_voters() {
    check("1 2 3 4 5!", "", 5, Some("1 2 3"));
}

#[test]
fn down_voter_is_replaced_by_lowest_online_learner() {
    check("1 2 3!", "6 4 5?", 5, Some("1 2 4"));
    check("1 2 3 4 5!", "6 7", 5, Some("1 2 3 4 6"));
}

#[test]
fn one_of_three_down_leaves_the_master_voting_alone() {
    // Two voters would both have to stay up; one voter needs only the master.
    check("1 2 3!", "", 5, Some("1"));
}

#[test]
fn lost_majority_changes_nothing() {
    check("1 2! 3!", "4 5", 5, None);
    check("1 2 3? 4! 5!", "6 7", 5, None);
    check("1 2 3! 4!", "5", 5, None);
    check("1 2!", "3", 5, None);
}

#[test]
fn suspect_voter_alone_does_not_churn_the_configuration() {
    check("1 2 3?", "", 5, None);
    check("1 2 3?", "4", 5, None);
}

#[test]
fn suspect_voter_is_demoted_when_a_down_voter_forces_a_change() {
    check("1 2 3 4? 5!", "", 5, Some("1 2 3"));
}

#[test]
fn online_learners_are_promoted_up_to_an_odd_target() {
    check("1", "2 3 4", 5, Some("1 2 3"));
    check("1", "2 3 4 5", 5, Some("1 2 3 4 5"));
    check("1 2 3", "4", 5, None);
    check("1 2 3", "4 5", 5, Some("1 2 3 4 5"));
}

#[test]
fn down_or_suspect_learners_are_never_promoted() {
    check("1", "2? 3!", 5, None);
    check("1", "2 3? 4! 5", 5, Some("1 2 5"));
}

#[test]
fn voters_max_is_respected() {
    check("1", "2 3 4 5 6 7 8 9", 3, Some("1 2 3"));
    check("1 2 3 4 5", "", 3, Some("1 2 3"));
    check("1 2 3 4 5!", "6 7", 1, Some("1"));
}

#[test]
fn even_voters_max_gives_the_odd_size_below_it() {
    check("1", "2 3 4 5", 4, Some("1 2 3"));
}

#[test]
fn master_is_always_kept_as_a_voter() {
    let cluster = parse("1! 2! 3 4 5", "");
    let change = plan(&cluster, 5, 5).map(|QuorumChange::SetVoters { voters, .. }| ids(&voters));
    assert_eq!(change.as_deref(), Some("3 4 5"));
    // The master is running the policy, so a stale down mark on it is ignored.
    let cluster = parse("1 2 3 4! 5!", "");
    let change = plan(&cluster, 1, 3).map(|QuorumChange::SetVoters { voters, .. }| ids(&voters));
    assert_eq!(change.as_deref(), Some("3"));
}

#[test]
fn member_without_health_counts_as_suspect() {
    // Counted as online, 5 would keep its vote and 6 would be promoted to 5 voters.
    let mut cluster = parse("1 2 3 4! 5", "6");
    cluster.health.remove(&NodeId(5));
    cluster.health.remove(&NodeId(6));
    let change = plan(&cluster, 5, 1).map(|QuorumChange::SetVoters { voters, .. }| ids(&voters));
    assert_eq!(change.as_deref(), Some("1 2 3"));
}

#[test]
fn reason_names_the_down_voters() {
    let Some(QuorumChange::SetVoters { reason, .. }) = plan(&parse("1 2 3!", "4"), 5, 1) else {
        panic!("a down voter with a spare learner must be replaced");
    };
    assert_eq!(
        reason,
        "2 of 3 voters online (down: 3), 3 members online: 3 voters"
    );
}

/// Applies a change the way Raft would: members left out of the voters become learners.
fn apply(cluster: &mut Cluster, change: Option<QuorumChange>) {
    let Some(QuorumChange::SetVoters { voters, .. }) = change else {
        return;
    };
    let members: BTreeSet<NodeId> = cluster.voters.union(&cluster.learners).copied().collect();
    cluster.learners = members.difference(&voters).copied().collect();
    cluster.voters = voters;
}

#[test]
fn sequential_failures_leave_a_writing_master_down_to_the_last_node() {
    let mut cluster = parse("1 2 3 4 5", "");
    let mut history = Vec::new();
    // Each step fails the highest-numbered voter other than the master.
    for _ in 0..4 {
        let victim = *cluster
            .voters
            .iter()
            .rev()
            .find(|&&node| node != NodeId(1))
            .unwrap_or(&NodeId(1));
        if victim != NodeId(1) {
            cluster.health.insert(victim, NodeHealth::Down);
        }
        let change = plan(&cluster, 5, 1);
        apply(&mut cluster, change);
        history.push(format!("{victim} down: voters {}", ids(&cluster.voters)));
    }
    assert_eq!(
        history,
        [
            "5 down: voters 1 2 3",
            "3 down: voters 1 2 4",
            "4 down: voters 1",
            "1 down: voters 1"
        ]
    );
}

#[test]
fn recovered_nodes_are_promoted_back_one_odd_step_at_a_time() {
    let mut cluster = parse("1", "2! 3! 4! 5!");
    let mut history = Vec::new();
    for node in 2..=5 {
        cluster.health.insert(NodeId(node), NodeHealth::Online);
        let change = plan(&cluster, 5, 1);
        apply(&mut cluster, change);
        history.push(ids(&cluster.voters));
    }
    assert_eq!(history, ["1", "1 2 3", "1 2 3", "1 2 3 4 5"]);
}

#[test]
fn forced_quorum_is_the_survivors_and_always_me() {
    let survivors: BTreeSet<NodeId> = [2, 3].map(NodeId).into();
    assert_eq!(ids(&force_quorum_voters(&survivors, NodeId(3))), "2 3");
    assert_eq!(ids(&force_quorum_voters(&survivors, NodeId(1))), "1 2 3");
    assert_eq!(ids(&force_quorum_voters(&BTreeSet::new(), NodeId(4))), "4");
}

/// An arbitrary cluster of up to 9 members: each is a voter or a learner with any health
/// (or none known), the master is one of the voters, and `voters_max` is 1 to 7.
fn arbitrary_cluster() -> impl Strategy<Value = (Cluster, usize, NodeId)> {
    let member = (any::<bool>(), prop::option::of(0..3u8));
    (
        prop::collection::vec(member, 1..=9),
        any::<prop::sample::Index>(),
        1..=7usize,
    )
        .prop_map(|(members, master_index, voters_max)| {
            let mut cluster = Cluster {
                voters: BTreeSet::new(),
                learners: BTreeSet::new(),
                health: BTreeMap::new(),
            };
            for (index, &(is_voter, health)) in members.iter().enumerate() {
                let node = NodeId(index as u64 + 1);
                if is_voter {
                    cluster.voters.insert(node)
                } else {
                    cluster.learners.insert(node)
                };
                let health = health.map(|h| {
                    [NodeHealth::Online, NodeHealth::Suspect, NodeHealth::Down][usize::from(h)]
                });
                if let Some(health) = health {
                    cluster.health.insert(node, health);
                }
            }
            if cluster.voters.is_empty() {
                cluster.learners.remove(&NodeId(1));
                cluster.voters.insert(NodeId(1));
            }
            let master = **master_index.get(&cluster.voters.iter().collect::<Vec<_>>());
            (cluster, voters_max, master)
        })
}

proptest! {
    #[test]
    fn planned_voter_sets_are_always_safe((cluster, voters_max, master) in arbitrary_cluster()) {
        let is_online = |node: &NodeId| {
            *node == master || cluster.health.get(node) == Some(&NodeHealth::Online)
        };
        let change = plan(&cluster, voters_max, master.0);
        prop_assert_eq!(&change, &plan(&cluster, voters_max, master.0), "deterministic");
        let Some(QuorumChange::SetVoters { voters, .. }) = change.clone() else { return Ok(()) };
        prop_assert!(voters.contains(&master));
        prop_assert!(!voters.is_empty());
        prop_assert!(voters.len() <= voters_max);
        prop_assert!(voters.len() % 2 == 1, "odd voter count");
        let is_down = |node: &NodeId| {
            *node != master && cluster.health.get(node) == Some(&NodeHealth::Down)
        };
        prop_assert!(!voters.iter().any(is_down), "no down voter");
        let old_online = cluster.voters.iter().filter(|node| is_online(node)).count();
        prop_assert!(old_online * 2 > cluster.voters.len(), "old voters keep a quorum");
        let new_online = voters.iter().filter(|node| is_online(node)).count();
        prop_assert!(new_online * 2 > voters.len(), "new voters have a quorum");
        let mut applied = cluster.clone();
        apply(&mut applied, change);
        prop_assert_eq!(plan(&applied, voters_max, master.0), None, "a planned set is stable");
    }
}
