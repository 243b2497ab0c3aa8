//! Raft, modelled: one totally ordered log of committed entries shared by the replicas,
//! terms, elections among live and connected voters, and commits by majority.
//!
//! What is real: a leader learns it is deposed only from a message of a newer term, so a
//! paused or partitioned old leader keeps believing it leads; a follower applies only up
//! to the commit index its leader told it, so replicas lag; a new leader applies the
//! entries of earlier terms only once an entry of its own term commits; a voter refuses
//! to vote while it heard a leader less than `election_timeout_max` ago (openraft's
//! leader stickiness); the leader's quorum acknowledgement time is the sending time of the
//! newest message a majority of voters acknowledged (openraft's `last_quorum_acked`), and
//! it decides the leases (`agent::master::machine::grant_age`).
//! What is simplified: elections are decided at once by the simulator (a candidate wins
//! when a majority of voters can hear it and would grant their vote); entries a deposed
//! leader proposed never commit; a voter change is a single step that needs a majority of
//! both the old and the new voters, like a joint configuration.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use cmdb::CommandResult;
use model::{Millis, NodeId};

use crate::net::Msg;
use crate::world::World;

/// Raft's timing: replication heartbeats and the election timeout range.
pub(crate) const APPEND_INTERVAL_MS: Millis = 50;
pub(crate) const ELECTION_TIMEOUT_MIN_MS: Millis = 150;
pub(crate) const ELECTION_TIMEOUT_MAX_MS: Millis = 300;

/// A committed log entry.
#[derive(Clone, Debug)]
pub(crate) enum Entry {
    Command(cmdb::Command),
    Voters(BTreeSet<NodeId>),
    /// The entry a new leader commits first (it commits everything before it).
    Blank,
}

/// The cluster-wide truth of the model.
#[derive(Debug)]
pub(crate) struct RaftModel {
    pub(crate) log: Vec<Entry>,
    pub(crate) term: u64,
    pub(crate) leader: Option<NodeId>,
    pub(crate) voters: BTreeSet<NodeId>,
    pub(crate) learners: BTreeSet<NodeId>,
}

impl RaftModel {
    pub(crate) fn new(voters: BTreeSet<NodeId>, learners: BTreeSet<NodeId>) -> RaftModel {
        RaftModel {
            log: Vec::new(),
            term: 0,
            leader: None,
            voters,
            learners,
        }
    }

    pub(crate) fn members(&self) -> BTreeSet<NodeId> {
        self.voters.union(&self.learners).copied().collect()
    }
}

/// What one node knows of Raft. The term survives a crash (it is persisted).
#[derive(Debug, Default)]
pub(crate) struct RaftView {
    pub(crate) term: u64,
    pub(crate) leader: Option<NodeId>,
    /// When this node last heard from a leader (or voted for one).
    pub(crate) last_contact: Millis,
    /// When this node's last own election began.
    pub(crate) campaigned_at: Millis,
    pub(crate) timeout: Millis,
    pub(crate) leading: Option<Leading>,
}

/// A leader's state for its term.
#[derive(Debug, Default)]
pub(crate) struct Leading {
    pub(crate) term: u64,
    acked_seq: BTreeMap<NodeId, u64>,
    acked_at: BTreeMap<NodeId, Millis>,
    proposals: VecDeque<Proposal>,
    next_seq: u64,
    last_append: Millis,
    /// Whether an entry of this term has committed (then the leader's replica is current).
    pub(crate) own_entry_committed: bool,
}

impl Leading {
    /// The nodes whose acknowledgements of this leader's messages sent at or after `since`
    /// arrived (what openraft's per-follower heartbeat metrics tell a real master).
    pub(crate) fn acked_since(&self, since: Millis) -> BTreeSet<NodeId> {
        (self.acked_at.iter())
            .filter(|(_, at)| **at >= since)
            .map(|(node, _)| *node)
            .collect()
    }
}

/// Who waits for a proposal's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The master role's write with this id.
    Master(u64),
    /// The master role's voter change with this id.
    Voters(u64),
    /// A write forwarded by a node (or this node's own report forwarder).
    Forwarded {
        from: NodeId,
        req: u64,
    },
    /// An operator's request; nobody waits.
    Operator,
    Blank,
}

#[derive(Debug)]
struct Proposal {
    seq: u64,
    entry: Entry,
    origin: Origin,
}

impl World {
    /// Raft's timer: a leader replicates, a follower voter may start an election.
    pub(crate) fn raft_tick(&mut self, node: NodeId) {
        let now = self.now;
        let state = self.nodes.get_mut(&node).expect("known node");
        if let Some(leading) = state.raft.leading.as_mut() {
            if now >= leading.last_append + APPEND_INTERVAL_MS {
                self.broadcast_append(node);
            }
            return;
        }
        let since = state.raft.last_contact.max(state.raft.campaigned_at);
        if !self.raft.voters.contains(&node) || now < since + state.raft.timeout {
            return;
        }
        self.campaign(node);
    }

    /// An election: `candidate` wins when a majority of the voters can hear it and grant.
    fn campaign(&mut self, candidate: NodeId) {
        let now = self.now;
        let voters: Vec<NodeId> = self.raft.voters.iter().copied().collect();
        let granting: Vec<NodeId> = voters
            .iter()
            .copied()
            .filter(|voter| {
                let state = &self.nodes[voter];
                *voter == candidate
                    || (self.connected(candidate, *voter)
                        && state.raft.leading.is_none()
                        && now >= state.raft.last_contact + ELECTION_TIMEOUT_MAX_MS)
            })
            .collect();
        let timeout = self
            .rng
            .range(ELECTION_TIMEOUT_MIN_MS, ELECTION_TIMEOUT_MAX_MS);
        let state = self.nodes.get_mut(&candidate).expect("known node");
        state.raft.campaigned_at = now;
        state.raft.timeout = timeout;
        if granting.len() * 2 <= voters.len() {
            return;
        }
        self.raft.term = self.raft.term.max(state.raft.term) + 1;
        self.raft.leader = Some(candidate);
        let term = self.raft.term;
        self.note(|| format!("node {candidate} elected in term {term}"));
        for voter in granting {
            self.step_down_to(voter, term);
            self.nodes
                .get_mut(&voter)
                .expect("known node")
                .raft
                .last_contact = now;
        }
        let view = &mut self.nodes.get_mut(&candidate).expect("known node").raft;
        view.leader = Some(candidate);
        view.leading = Some(Leading {
            term,
            next_seq: 1,
            ..Leading::default()
        });
        self.propose(candidate, Entry::Blank, Origin::Blank);
    }

    /// `node` learns of `term`: a leader of an older term steps down and fails what it
    /// proposed (those entries never commit).
    pub(crate) fn step_down_to(&mut self, node: NodeId, term: u64) {
        let view = &mut self.nodes.get_mut(&node).expect("known node").raft;
        if term <= view.term {
            return;
        }
        view.term = term;
        view.leader = None;
        let Some(leading) = view.leading.take() else {
            return;
        };
        view.last_contact = self.now;
        for proposal in leading.proposals {
            self.proposal_failed(node, proposal.origin);
        }
    }

    /// Proposes an entry on `node`; fails it at once unless `node` leads.
    pub(crate) fn propose(&mut self, node: NodeId, entry: Entry, origin: Origin) {
        let state = self.nodes.get_mut(&node).expect("known node");
        let Some(leading) = state.raft.leading.as_mut() else {
            self.proposal_failed(node, origin);
            return;
        };
        let seq = leading.next_seq;
        leading.next_seq += 1;
        leading.proposals.push_back(Proposal { seq, entry, origin });
        self.broadcast_append(node);
        self.try_commit(node);
    }

    fn broadcast_append(&mut self, leader: NodeId) {
        let now = self.now;
        let state = self.nodes.get_mut(&leader).expect("known node");
        let applied = state.applied;
        let leading = state
            .raft
            .leading
            .as_mut()
            .expect("only a leader replicates");
        leading.last_append = now;
        let msg = Msg::Append {
            term: leading.term,
            leader,
            commit: applied,
            seq: leading.next_seq - 1,
            sent_at: now,
        };
        for member in self.raft.members() {
            if member != leader {
                self.send(leader, member, msg.clone());
            }
        }
    }

    /// A follower receives an append.
    pub(crate) fn on_append(&mut self, node: NodeId, msg: Msg) {
        let Msg::Append {
            term,
            leader,
            commit,
            seq,
            sent_at,
        } = msg
        else {
            unreachable!("only appends come here");
        };
        let now = self.now;
        let known = self.nodes[&node].raft.term;
        if term < known {
            let ack = Msg::AppendAck {
                term: known,
                from: node,
                ok: false,
                seq,
                sent_at,
            };
            self.send(node, leader, ack);
            return;
        }
        self.step_down_to(node, term);
        let state = self.nodes.get_mut(&node).expect("known node");
        let new_leader = state.raft.leader != Some(leader);
        state.raft.leader = Some(leader);
        state.raft.last_contact = now;
        state
            .contact
            .record_from(term, leader.0, model::BootMs(now));
        let upto = commit.min(self.raft.log.len() as u64);
        self.catch_up(node, upto);
        let ack = Msg::AppendAck {
            term,
            from: node,
            ok: true,
            seq,
            sent_at,
        };
        self.send(node, leader, ack);
        if new_leader {
            self.new_master_seen(node);
        }
    }

    /// The leader receives an answer to an append.
    pub(crate) fn on_append_ack(&mut self, node: NodeId, msg: Msg) {
        let Msg::AppendAck {
            term,
            from,
            ok,
            seq,
            sent_at,
        } = msg
        else {
            unreachable!("only append answers come here");
        };
        if !ok {
            self.step_down_to(node, term);
            return;
        }
        let state = self.nodes.get_mut(&node).expect("known node");
        let Some(leading) = state.raft.leading.as_mut().filter(|l| l.term == term) else {
            return;
        };
        let acked_seq = leading.acked_seq.entry(from).or_default();
        *acked_seq = (*acked_seq).max(seq);
        let acked_at = leading.acked_at.entry(from).or_default();
        *acked_at = (*acked_at).max(sent_at);
        self.try_commit(node);
    }

    /// The age of the leader's newest quorum acknowledgement, if it leads.
    pub(crate) fn quorum_ack_age(&self, node: NodeId) -> Option<Millis> {
        let leading = self.nodes[&node].raft.leading.as_ref()?;
        let mut times: Vec<Millis> = self
            .raft
            .voters
            .iter()
            .filter_map(|voter| {
                if *voter == node {
                    Some(self.now)
                } else {
                    leading.acked_at.get(voter).copied()
                }
            })
            .collect();
        let majority = self.raft.voters.len() / 2 + 1;
        if times.len() < majority {
            return None;
        }
        times.sort_unstable_by(|a, b| b.cmp(a));
        Some(self.now - times[majority - 1])
    }

    /// Commits the leader's proposals that a majority holds, in order.
    fn try_commit(&mut self, node: NodeId) {
        loop {
            if self.raft.leader != Some(node) {
                return; // A deposed leader's entries never commit.
            }
            let state = &self.nodes[&node];
            let Some(leading) = state.raft.leading.as_ref() else {
                return;
            };
            if leading.term != self.raft.term {
                return;
            }
            let Some(front) = leading.proposals.front() else {
                return;
            };
            let holds = |voter: &NodeId| {
                *voter == node
                    || leading
                        .acked_seq
                        .get(voter)
                        .is_some_and(|s| *s >= front.seq)
            };
            let majority = |voters: &BTreeSet<NodeId>| {
                voters.iter().filter(|v| holds(v)).count() * 2 > voters.len()
            };
            let joint_ok = match &front.entry {
                Entry::Voters(new) => majority(new),
                _ => true,
            };
            if !majority(&self.raft.voters) || !joint_ok {
                return;
            }
            self.commit_front(node);
        }
    }

    fn commit_front(&mut self, node: NodeId) {
        let state = self.nodes.get_mut(&node).expect("known node");
        let leading = state.raft.leading.as_mut().expect("checked by the caller");
        let proposal = leading
            .proposals
            .pop_front()
            .expect("checked by the caller");
        leading.own_entry_committed = true;
        let result = self.commit(proposal.entry);
        let upto = self.raft.log.len() as u64;
        self.catch_up(node, upto);
        self.proposal_done(node, proposal.origin, result);
        self.broadcast_append(node);
    }

    /// Commits a membership entry no quorum voted for: the witness's grant, acted on by
    /// the node granted (`crate::witness`).
    pub(crate) fn commit_forced(&mut self, entry: Entry) {
        self.commit(entry);
    }

    /// Appends an entry to the committed log and applies it to the reference replica.
    fn commit(&mut self, entry: Entry) -> CommandResult {
        let index = self.raft.log.len();
        self.note(|| format!("commit #{index}: {entry:?}"));
        let result = match &entry {
            Entry::Command(command) => {
                let result = self.reference.apply(command.clone());
                crate::invariants::tokens::committed(self, command, &result);
                crate::invariants::fenced::committed(self, command);
                result
            }
            Entry::Voters(voters) => {
                let members = self.raft.members();
                self.raft.voters = voters.clone();
                self.raft.learners = members.difference(voters).copied().collect();
                CommandResult::Ok
            }
            Entry::Blank => CommandResult::Ok,
        };
        self.raft.log.push(entry);
        result
    }

    /// Applies the committed log on `node` up to `upto` entries.
    pub(crate) fn catch_up(&mut self, node: NodeId, upto: u64) {
        let state = self.nodes.get_mut(&node).expect("known node");
        if upto <= state.applied {
            return;
        }
        for index in state.applied..upto {
            let at = usize::try_from(index).expect("fits");
            if let Entry::Command(command) = &self.raft.log[at] {
                state.db.apply(command.clone());
            }
        }
        state.applied = upto;
        state.replica_changed = true;
        self.feed_executor(node);
    }
}
