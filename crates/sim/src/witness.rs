//! The witness of a two-node cluster, simulated (issue 16): the real decisions
//! (`membership::claim_step` on each node, `membership::judge_claim` on the witness) over
//! the modelled Raft, with the agent's wiring: a node without a quorum for long enough
//! claims the newest two-voter membership; the node granted restarts and comes back as the
//! only voter under a new term (the rewrite `cmdb::force_single_voter_granted` makes before
//! the store opens), and the master role re-adds the other node once it is back.
//!
//! The witness is always reachable and never loses its grant (it stores it before it
//! answers). A node claims the newest membership in the part of the log it has applied
//! (a node cut off does not know of the other's rewrite), named by that entry's position.
//! The model has one log, so it cannot let two sides both rewrite it; instead every
//! rewrite is recorded by epoch, and a second node rewriting the same epoch is a violation
//! (two only voters). The other invariants check the rest after every step: no unique
//! resource on two nodes, whichever side was granted and whatever was paused, cut off or
//! crashed meanwhile.

use std::collections::{BTreeMap, BTreeSet};

use membership::{ClaimInput, ClaimStep, Epoch, Grant, Verdict, claim_step, judge_claim};
use model::{Millis, NodeId};

use crate::raft::{ELECTION_TIMEOUT_MAX_MS, Entry};
use crate::world::{Ev, World};

/// The agent's defaults (`[witness] master_wait`, `follower_wait`).
const MASTER_WAIT_MS: Millis = 1_000;
const FOLLOWER_WAIT_MS: Millis = 1_500;
/// The claim task's retry interval.
const RETRY_MS: Millis = 1_000;
/// How long the granted node takes to restart itself.
const RESTART_MS: Millis = 200;

/// The witness's grant and each node's claim task.
#[derive(Debug, Default)]
pub(crate) struct WitnessModel {
    pub(crate) grant: Option<Grant>,
    tracks: BTreeMap<NodeId, Track>,
    /// Grants made, for the report.
    pub(crate) grants: u64,
    /// The voters before any membership entry (`World::new`'s).
    pub(crate) initial_voters: BTreeSet<NodeId>,
    /// Which node made itself the only voter, by epoch.
    forced: BTreeMap<Epoch, NodeId>,
}

/// One node's claim task, for one life of its agent.
#[derive(Debug, Default, Clone, Copy)]
struct Track {
    generation: u64,
    lost_since: Option<Millis>,
    was_master: bool,
    had_quorum: bool,
    next_claim: Millis,
}

impl World {
    /// The claim task's tick on `node` (with the Raft timer).
    pub(crate) fn witness_tick(&mut self, node: NodeId) {
        let now = self.now;
        let generation = self.nodes[&node].generation;
        let mut track = self.witness.tracks.get(&node).copied().unwrap_or_default();
        if track.generation != generation {
            track = Track {
                generation,
                ..Track::default()
            };
        }
        if self.has_quorum(node) {
            track.lost_since = None;
            track.was_master = self.nodes[&node].raft.leading.is_some();
            track.had_quorum = true;
            self.witness.tracks.insert(node, track);
            return;
        }
        let since = *track.lost_since.get_or_insert(now);
        self.witness.tracks.insert(node, track);
        let (voters, epoch) = self.membership_seen(node);
        let input = ClaimInput {
            me: node,
            voters: Some(&voters),
            epoch,
            quorum_lost_ms: Some(now - since),
            had_quorum: track.had_quorum,
            was_master: track.was_master,
            master_wait_ms: MASTER_WAIT_MS,
            follower_wait_ms: FOLLOWER_WAIT_MS,
        };
        let ClaimStep::Claim(epoch) = claim_step(&input) else {
            return;
        };
        if now < track.next_claim {
            return;
        }
        track.next_claim = now + RETRY_MS;
        self.witness.tracks.insert(node, track);
        match judge_claim(self.witness.grant, node, epoch) {
            Verdict::Granted(grant) => {
                self.witness.grant = Some(grant);
                self.witness.grants += 1;
                self.note(|| format!("witness grants {epoch:?} to node {node}"));
                self.granted(node, epoch);
            }
            Verdict::Held(_) => self.granted(node, epoch),
            Verdict::Refused { held } => {
                self.note(|| format!("witness refuses node {node}: {held:?}"));
            }
        }
    }

    /// As the claim task sees it: as master, a quorum acknowledgement fresh enough to
    /// grant leases; elsewhere, a message from another master within the longest election
    /// timeout.
    fn has_quorum(&self, node: NodeId) -> bool {
        let state = &self.nodes[&node];
        if state.raft.leading.is_some() {
            return self.grant(node).is_some();
        }
        state.raft.leader.is_some_and(|leader| leader != node)
            && self.now <= state.raft.last_contact + ELECTION_TIMEOUT_MAX_MS
    }

    /// The newest membership in the part of the log `node` applied, and its position.
    fn membership_seen(&self, node: NodeId) -> (BTreeSet<NodeId>, Epoch) {
        let applied = usize::try_from(self.nodes[&node].applied).expect("fits");
        let newest = self.raft.log[..applied.min(self.raft.log.len())]
            .iter()
            .enumerate()
            .rev()
            .find_map(|(at, entry)| match entry {
                Entry::Voters(voters) => Some((voters.clone(), at as u64 + 1)),
                _ => None,
            });
        let (voters, index) = newest.unwrap_or_else(|| (self.witness.initial_voters.clone(), 0));
        let epoch = Epoch {
            term: 0,
            leader: 0,
            index,
        };
        (voters, epoch)
    }

    /// The node granted records the grant and restarts; before its store opens it makes
    /// itself the only voter under a new term, so the other side's appends are refused.
    fn granted(&mut self, node: NodeId, epoch: Epoch) {
        let first = *self.witness.forced.entry(epoch).or_insert(node);
        if first != node {
            self.checker.violation = Some(format!(
                "nodes {first} and {node} were both granted the membership {epoch:?}: both \
                 would make themselves the only voter"
            ));
            return;
        }
        if !self.raft.voters.contains(&node) || self.raft.voters.len() != 2 {
            return;
        }
        let state = self.nodes.get_mut(&node).expect("known node");
        state.up = false;
        state.paused = false;
        state.deferred.clear();
        state.raft.leading = None;
        let term = self.raft.term.max(state.raft.term) + 1;
        state.raft.term = term;
        state.raft.leader = None;
        self.raft.term = term;
        self.raft.leader = None;
        self.commit_forced(Entry::Voters(BTreeSet::from([node])));
        self.note(|| format!("node {node} restarts as the only voter in term {term}"));
        self.at(RESTART_MS, Ev::Restart(node));
    }
}
