//! Scripted tests of the witness's grants and of a node's claims, and a property: whatever
//! the order of claims and restarts, no epoch is granted to two nodes.

use std::collections::{BTreeMap, BTreeSet};

use model::NodeId;
use proptest::prelude::*;

use super::{ClaimInput, ClaimStep, Epoch, Grant, Verdict, claim_step, judge_claim};

fn epoch(term: u64, index: u64) -> Epoch {
    Epoch {
        term,
        leader: 1,
        index,
    }
}

#[test]
fn the_first_claim_of_an_epoch_wins_and_the_other_node_is_refused() {
    let first = judge_claim(None, NodeId(2), epoch(3, 10));
    let grant = Grant {
        epoch: epoch(3, 10),
        node: NodeId(2),
    };
    assert_eq!(first, Verdict::Granted(grant));
    assert_eq!(
        judge_claim(Some(grant), NodeId(1), epoch(3, 10)),
        Verdict::Refused { held: grant }
    );
    assert_eq!(
        judge_claim(Some(grant), NodeId(2), epoch(3, 10)),
        Verdict::Held(grant),
        "a retry of the holder is answered again"
    );
}

#[test]
fn an_older_epoch_is_refused_to_everybody_and_a_newer_one_is_granted_afresh() {
    let grant = Grant {
        epoch: epoch(5, 40),
        node: NodeId(1),
    };
    assert_eq!(
        judge_claim(Some(grant), NodeId(1), epoch(4, 90)),
        Verdict::Refused { held: grant },
        "a higher index of an older term is still older"
    );
    assert_eq!(
        judge_claim(Some(grant), NodeId(2), epoch(5, 39)),
        Verdict::Refused { held: grant }
    );
    assert_eq!(
        judge_claim(Some(grant), NodeId(2), epoch(6, 50)),
        Verdict::Granted(Grant {
            epoch: epoch(6, 50),
            node: NodeId(2)
        }),
        "the two voters again, after the cluster healed: a new epoch"
    );
}

fn input(voters: &BTreeSet<NodeId>, lost: Option<u64>, was_master: bool) -> ClaimInput<'_> {
    ClaimInput {
        me: NodeId(1),
        voters: Some(voters),
        epoch: epoch(2, 7),
        quorum_lost_ms: lost,
        had_quorum: true,
        was_master,
        master_wait_ms: 0,
        follower_wait_ms: 500,
    }
}

#[test]
fn a_node_claims_only_without_quorum_in_a_two_voter_membership_the_master_first() {
    let two: BTreeSet<NodeId> = [NodeId(1), NodeId(2)].into();
    assert_eq!(claim_step(&input(&two, None, true)), ClaimStep::Idle);
    assert_eq!(
        claim_step(&input(&two, Some(0), true)),
        ClaimStep::Claim(epoch(2, 7))
    );
    assert_eq!(claim_step(&input(&two, Some(499), false)), ClaimStep::Wait);
    assert_eq!(
        claim_step(&input(&two, Some(500), false)),
        ClaimStep::Claim(epoch(2, 7))
    );
    let alone: BTreeSet<NodeId> = [NodeId(1)].into();
    assert_eq!(
        claim_step(&input(&alone, Some(900), true)),
        ClaimStep::Idle,
        "a sole voter has its quorum: the witness has nothing to add"
    );
    let three: BTreeSet<NodeId> = [NodeId(1), NodeId(2), NodeId(3)].into();
    assert_eq!(claim_step(&input(&three, Some(900), true)), ClaimStep::Idle);
    let others: BTreeSet<NodeId> = [NodeId(2), NodeId(3)].into();
    assert_eq!(
        claim_step(&input(&others, Some(900), true)),
        ClaimStep::Idle,
        "a learner does not claim"
    );
    let mut joint = input(&two, Some(900), true);
    joint.voters = None;
    assert_eq!(claim_step(&joint), ClaimStep::Idle);
    let mut started_alone = input(&two, Some(60_000), false);
    started_alone.had_quorum = false;
    assert_eq!(
        claim_step(&started_alone),
        ClaimStep::Wait,
        "a node that never had a quorum since it started waits for its peer"
    );
}

/// A step of the witness's life: a claim, or a restart that keeps only what it stored.
#[derive(Debug, Clone)]
enum Step {
    Claim { node: u64, term: u64, index: u64 },
    Restart,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1u64..=2, 1u64..=4, 1u64..=4).prop_map(|(node, term, index)| Step::Claim {
            node,
            term,
            index
        }),
        Just(Step::Restart),
    ]
}

proptest! {
    /// Whatever the claims and restarts, an epoch is answered yes to one node only, and a
    /// node answered yes for an epoch means no other node was answered yes for an epoch at
    /// or after it before.
    #[test]
    fn no_epoch_is_granted_to_two_nodes(steps in prop::collection::vec(step(), 1..40)) {
        let mut stored: Option<Grant> = None;
        let mut memory: Option<Grant> = None;
        let mut granted: BTreeMap<Epoch, NodeId> = BTreeMap::new();
        for step in steps {
            let Step::Claim { node, term, index } = step else {
                memory = stored;
                continue;
            };
            let (node, epoch) = (NodeId(node), epoch(term, index));
            match judge_claim(memory, node, epoch) {
                Verdict::Granted(grant) => {
                    stored = Some(grant);
                    memory = Some(grant);
                }
                Verdict::Held(_) => {}
                Verdict::Refused { .. } => continue,
            }
            prop_assert!(granted.range(epoch..).all(|(_, holder)| *holder == node));
            let before = granted.insert(epoch, node);
            prop_assert!(before.is_none_or(|holder| holder == node));
        }
    }
}
