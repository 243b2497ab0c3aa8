//! The dynamic-quorum policy: when and how the master changes the Raft voter set.
//!
//! This is Windows Server Failover Clustering's dynamic quorum (and corosync's
//! `last_man_standing`): while a majority of the voters is online, the master replaces down
//! voters with online learners, or shrinks the voter set to the largest odd size the online
//! members allow. Nodes that fail one after another then leave a writing master, down to the
//! master alone: 5 voters lose one and keep 3 (plus a learner), 3 lose one and keep only the
//! master, because two voters would need both to stay up while one needs only the master.
//! The price of a single voter is durability: its writes live on the master only until the
//! learners replicate them.
//!
//! No change is proposed once the online voters are no longer a majority. Raft needs a
//! majority of the old configuration to commit a membership change, and a minority cannot
//! tell a dead majority from a partitioned one that is still writing. Only the operator can
//! decide that, loudly, with [`force_quorum_voters`], or, in a two-node cluster, the
//! witness's grant ([`crate::judge_claim`]): with a witness both nodes of a two-node cluster
//! vote.

use std::collections::{BTreeMap, BTreeSet};

use model::{NodeHealth, NodeId};

/// What the master knows when it considers a voter-set change.
#[derive(Debug, Clone, Copy)]
pub struct QuorumInput<'a> {
    /// The current Raft voters; contains the master.
    pub voters: &'a BTreeSet<NodeId>,
    /// The current Raft learners; disjoint from `voters`.
    pub learners: &'a BTreeSet<NodeId>,
    /// The failure detector's view. A member missing here counts as suspect: neither online
    /// nor known to be down. The master is always online, since it is running this.
    pub health: &'a BTreeMap<NodeId, NodeHealth>,
    /// The most voters the cluster wants (5 by default); at least 1.
    pub voters_max: usize,
    /// The node running the policy, the Raft leader.
    pub master: NodeId,
    /// Whether the cluster has a witness (see [`crate::judge_claim`]): then two online
    /// members are both voters, since the witness lets either survive the other.
    pub witness: bool,
}

/// A voter-set change the master should propose through Raft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuorumChange {
    /// Replace down voters: new voter set (the down voters removed, healthy learners
    /// promoted); the down nodes stay as learners so they can come back. Members left out
    /// of `voters` become (or stay) learners.
    SetVoters {
        voters: BTreeSet<NodeId>,
        reason: String,
    },
}

/// Decides whether the voter set should change, and to what.
///
/// * Nothing changes unless the online voters are a majority of the current voters.
/// * The target size is `min(voters_max, online members)` rounded down to odd, at least 1.
/// * If a voter is down, or there are more voters than `voters_max`, the new voters are the
///   master, then online voters, then online learners, each by lowest id, up to the target.
/// * Otherwise, if there are fewer voters than the target, online learners (lowest id first)
///   are promoted up to the target; suspect voters keep their vote, since suspicion is
///   transient and demoting on it would churn the configuration.
/// * An unchanged voter set gives `None`.
///
/// Panics if the master is not a voter, a node is both voter and learner, or `voters_max`
/// is 0: the caller's Raft membership guarantees all three.
pub fn plan_quorum(input: &QuorumInput) -> Option<QuorumChange> {
    assert!(
        input.voters.contains(&input.master),
        "the master must be a voter"
    );
    assert!(
        input.voters.is_disjoint(input.learners),
        "voters and learners must be disjoint"
    );
    assert!(input.voters_max >= 1, "voters_max must be at least 1");
    let online_voters: Vec<NodeId> = online(input, input.voters);
    let online_learners: Vec<NodeId> = online(input, input.learners);
    if !is_majority(online_voters.len(), input.voters.len()) {
        return None;
    }
    let target = target_size(
        input.voters_max,
        online_voters.len() + online_learners.len(),
        input.witness,
    );
    let down_voters: Vec<NodeId> = input
        .voters
        .iter()
        .copied()
        .filter(|&node| health(input, node) == NodeHealth::Down)
        .collect();
    let voters: BTreeSet<NodeId> =
        if !down_voters.is_empty() || input.voters.len() > input.voters_max {
            // The master leads the list; it is also an online voter, so skip it there.
            let candidates = online_voters.iter().chain(&online_learners).copied();
            let candidates = candidates.filter(|&node| node != input.master);
            std::iter::once(input.master)
                .chain(candidates)
                .take(target)
                .collect()
        } else if input.voters.len() < target {
            let promoted = online_learners
                .iter()
                .copied()
                .take(target - input.voters.len());
            input.voters.iter().copied().chain(promoted).collect()
        } else {
            return None;
        };
    check_postconditions(input, &voters);
    if voters == *input.voters {
        return None;
    }
    let reason = format!(
        "{} of {} voters online (down: {}), {} members online: {} voters",
        online_voters.len(),
        input.voters.len(),
        format_nodes(&down_voters),
        online_voters.len() + online_learners.len(),
        voters.len(),
    );
    Some(QuorumChange::SetVoters { voters, reason })
}

/// The voter set for the operator's forced recovery when a majority is lost: the surviving
/// reachable nodes, always including `me` (the node the operator runs it on).
///
/// This overrides Raft's safety: if the "lost" nodes are in fact alive behind a partition
/// and still form a majority, both sides may write. The operator must be sure the others are
/// dead or fenced, and the agent records a `QuorumForced` event so the decision stays visible.
pub fn force_quorum_voters(survivors: &BTreeSet<NodeId>, me: NodeId) -> BTreeSet<NodeId> {
    let mut voters = survivors.clone();
    voters.insert(me);
    voters
}

/// The largest odd number of voters at most `min(voters_max, online_count)`, at least 1.
/// Even sizes add a node that must be up without tolerating one more failure; except two
/// with a witness, whose grant lets either voter go on alone.
fn target_size(voters_max: usize, online_count: usize, witness: bool) -> usize {
    let size = voters_max.min(online_count).max(1);
    if witness && size == 2 {
        return 2;
    }
    if size.is_multiple_of(2) {
        size - 1
    } else {
        size
    }
}

fn is_majority(count: usize, total: usize) -> bool {
    count * 2 > total
}

fn health(input: &QuorumInput, node: NodeId) -> NodeHealth {
    if node == input.master {
        return NodeHealth::Online;
    }
    input
        .health
        .get(&node)
        .copied()
        .unwrap_or(NodeHealth::Suspect)
}

fn online(input: &QuorumInput, nodes: &BTreeSet<NodeId>) -> Vec<NodeId> {
    nodes
        .iter()
        .copied()
        .filter(|&node| health(input, node) == NodeHealth::Online)
        .collect()
}

/// The safety properties every proposed voter set must have, checked on the way out.
fn check_postconditions(input: &QuorumInput, voters: &BTreeSet<NodeId>) {
    assert!(
        voters.contains(&input.master),
        "the master must stay a voter"
    );
    assert!(
        voters.len() <= input.voters_max,
        "voters must not exceed voters_max"
    );
    assert!(
        voters
            .iter()
            .all(|&node| health(input, node) != NodeHealth::Down),
        "a down node must not vote"
    );
    assert!(
        voters
            .iter()
            .all(|node| input.voters.contains(node) || input.learners.contains(node)),
        "only members can vote"
    );
    let online_new = voters
        .iter()
        .filter(|&&node| health(input, node) == NodeHealth::Online);
    assert!(
        is_majority(online_new.count(), voters.len()),
        "the new voters must have a quorum"
    );
}

fn format_nodes(nodes: &[NodeId]) -> String {
    if nodes.is_empty() {
        return "none".to_owned();
    }
    let names: Vec<String> = nodes.iter().map(NodeId::to_string).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests;
