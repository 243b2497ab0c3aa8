//! The witness of a two-node cluster, as two sans-IO decisions: the witness's (who gets the
//! grant, [`judge_claim`]) and a node's (when to ask for it, [`claim_step`]).
//!
//! A two-node cluster with a witness keeps both nodes as Raft voters. While both are up
//! nothing asks the witness anything. When a node has lost its peer (no quorum for a while)
//! and its newest membership is exactly the two voters, it claims the witness's grant for
//! that membership, named by the log id of its entry (the *epoch*). The witness grants each
//! epoch of a cluster to one node only, for good: once granted, the same epoch is refused
//! to the other node and an older one to everybody. The node granted may then make itself
//! the only voter (the force-quorum rewrite, which loses nothing: with two voters every
//! committed entry is on both); the other holds no quorum, so its leases end and it runs
//! nothing unique. The argument is in ARCHITECTURE.md, "Two-node clusters and the witness".
//!
//! The grant does not expire: the node granted acts on it by rewriting its membership, which
//! cannot be undone, so handing the epoch to the other node later (after a timeout) could
//! leave both as sole voters. A node granted that dies before it acts leaves the cluster
//! waiting for it (safe, not live) until it returns or the operator forces quorum.

use std::collections::BTreeSet;

use model::NodeId;

/// A membership's log id, as openraft orders it: term, leader of that term, index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch {
    pub term: u64,
    pub leader: u64,
    pub index: u64,
}

/// What the witness holds for one cluster: the newest epoch it granted and to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub epoch: Epoch,
    pub node: NodeId,
}

/// The witness's answer to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A new grant: the witness must store it durably before it answers.
    Granted(Grant),
    /// The claimant already holds this epoch's grant (a retry, or a restart before it
    /// acted); nothing to store.
    Held(Grant),
    /// Someone else holds this epoch, or the witness granted a newer one: the claimant must
    /// not take the cluster over.
    Refused { held: Grant },
}

/// Decides a claim of `node` for `epoch`, given the grant the witness holds for the
/// cluster (if any).
///
/// * No grant yet, or an older epoch granted: `node` gets `epoch`.
/// * The same epoch, granted to `node`: held again.
/// * The same epoch granted to another node, or a newer epoch granted: refused.
pub fn judge_claim(held: Option<Grant>, node: NodeId, epoch: Epoch) -> Verdict {
    match held {
        None => Verdict::Granted(Grant { epoch, node }),
        Some(held) if epoch > held.epoch => Verdict::Granted(Grant { epoch, node }),
        Some(held) if epoch == held.epoch && node == held.node => Verdict::Held(held),
        Some(held) => Verdict::Refused { held },
    }
}

/// What a node knows when it considers claiming the witness's grant.
#[derive(Debug, Clone, Copy)]
pub struct ClaimInput<'a> {
    /// This node.
    pub me: NodeId,
    /// The voters of this node's newest membership (committed or not); `None` when that
    /// membership is a joint configuration.
    pub voters: Option<&'a BTreeSet<NodeId>>,
    /// The log id of that membership's entry.
    pub epoch: Epoch,
    /// How long this node has been without a quorum (as master, without a quorum
    /// acknowledgement; elsewhere, without a message from a master), in milliseconds;
    /// `None` while it has one.
    pub quorum_lost_ms: Option<u64>,
    /// Whether this node has had a quorum since its agent started (corosync's
    /// `wait_for_all`): a node that starts alone does not take the cluster, since its peer
    /// may be up and serving behind a cut it cannot see.
    pub had_quorum: bool,
    /// Whether this node was the last master it knew of: it claims first, so that a cut
    /// link leaves the resources where they were.
    pub was_master: bool,
    /// How long a node without a quorum waits before it claims, when it was the master.
    pub master_wait_ms: u64,
    /// How long a node without a quorum waits before it claims, when it was not.
    pub follower_wait_ms: u64,
}

/// What a node should do about the witness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimStep {
    /// The witness has no say: the node has a quorum, or its membership is not the two
    /// voters with itself among them.
    Idle,
    /// The node has lost its quorum but not for long enough yet, or it has never had one
    /// since it started.
    Wait,
    /// Claim the grant for this epoch.
    Claim(Epoch),
}

/// Decides whether a node claims the witness's grant now.
pub fn claim_step(input: &ClaimInput) -> ClaimStep {
    let Some(voters) = input.voters else {
        return ClaimStep::Idle;
    };
    if voters.len() != 2 || !voters.contains(&input.me) {
        return ClaimStep::Idle;
    }
    let Some(lost_ms) = input.quorum_lost_ms else {
        return ClaimStep::Idle;
    };
    if !input.had_quorum {
        return ClaimStep::Wait;
    }
    let wait = if input.was_master {
        input.master_wait_ms
    } else {
        input.follower_wait_ms
    };
    if lost_ms < wait {
        return ClaimStep::Wait;
    }
    ClaimStep::Claim(input.epoch)
}

#[cfg(test)]
mod tests;
