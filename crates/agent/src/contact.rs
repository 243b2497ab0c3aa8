//! When this node last heard from a Raft leader of each term: the evidence a new master
//! needs to know how long leases granted by earlier masters can still run.
//!
//! A master grants a lease only on the strength of a quorum's acknowledgement of a Raft
//! message it sent at some time `s`, and the lease it grants ends by `s + lease`. Every
//! voter of that quorum received the message at or after `s`. A new master that learns,
//! from a majority of voters, the newest time each received anything from a leader of an
//! older term, therefore knows that every old lease ended by the largest of those times
//! plus the lease: its majority and the old quorum share a voter. A crashed master's
//! leases are then known to be over about one lease after the crash, instead of one lease
//! after the end of the election that replaced it.
//!
//! The same tracker keeps the other half of the evidence, for this node as master: when
//! it last granted each node a lease in its term. The heartbeat handler records a grant
//! before it answers ([`LeaderContact::grant`]); the master loop, which may see the
//! heartbeat later (it is busy writing), judges node health with those grants
//! ([`LeaderContact::judge`]), never from a view that lags behind a grant. Judging and
//! granting exclude each other, and a node judged down is refused leases until judged
//! otherwise: no lease is granted between the judgement that gives a node's resources
//! elsewhere and the write that withdraws them.
//!
//! Times are on this node's boot clock ([`BootMs`]): a wall-clock step moves none of them,
//! and the newest contact recorded by an earlier run of the agent is still older than this
//! run's start. What crosses the network is only an age (a duration), so the nodes' clocks
//! need not agree.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use model::{BootMs, NodeHealth, NodeId};

/// Terms remembered one by one; older ones are folded into one conservative time.
const TERMS_KEPT: usize = 8;

/// Nodes whose lease grants are remembered (more than a cluster can have).
const GRANTED_NODES_MAX: usize = 1024;

/// Receipt times of leaders' messages, by term.
#[derive(Debug)]
pub struct LeaderContact {
    started: BootMs,
    inner: Mutex<Terms>,
}

#[derive(Debug, Default)]
struct Terms {
    newest_by_term: BTreeMap<u64, BootMs>,
    /// The leader of each kept term, as its appends named it (one leader per term).
    leader_by_term: BTreeMap<u64, u64>,
    /// Newest receipt among terms no longer kept one by one.
    folded: BootMs,
    /// The term of `granted`: grants of earlier terms are forgotten.
    granted_term: u64,
    /// When this node, as master of `granted_term`, last granted each node a lease.
    granted: BTreeMap<u64, BootMs>,
    /// Nodes last judged down in `granted_term`: refused leases.
    refused: BTreeSet<u64>,
}

impl Terms {
    /// Moves the grants to `term` if it is newer; whether `term` is the current one.
    fn grants_for(&mut self, term: u64) -> bool {
        if term > self.granted_term {
            self.granted_term = term;
            self.granted.clear();
            self.refused.clear();
        }
        term == self.granted_term
    }
}

impl LeaderContact {
    /// A tracker for a process that started at `started`. Messages received before the
    /// start (by an earlier run of the agent) are older than the start, which is therefore
    /// the bound used when nothing newer is known.
    pub fn new(started: BootMs) -> LeaderContact {
        LeaderContact {
            started,
            inner: Mutex::new(Terms::default()),
        }
    }

    /// A message from the leader of `term` arrived at `now` (or, on the leader itself, a
    /// lease is being granted under `term`).
    pub fn record(&self, term: u64, now: BootMs) {
        let mut terms = self.inner.lock().expect("leader contact lock poisoned");
        let newest = terms.newest_by_term.entry(term).or_insert(now);
        *newest = (*newest).max(now);
        while terms.newest_by_term.len() > TERMS_KEPT {
            let Some((old, at)) = terms.newest_by_term.pop_first() else {
                break;
            };
            terms.leader_by_term.remove(&old);
            terms.folded = terms.folded.max(at);
        }
    }

    /// [`Self::record`] for a message of `leader`, the leader of `term` (an append or a
    /// snapshot names it), so that a later master knows whom it last heard from and when.
    pub fn record_from(&self, term: u64, leader: u64, now: BootMs) {
        self.record(term, now);
        let mut terms = self.inner.lock().expect("leader contact lock poisoned");
        if terms.newest_by_term.contains_key(&term) {
            terms.leader_by_term.insert(term, leader);
        }
    }

    /// The leader of the newest term below `term` this node heard from, with the newest
    /// time it did (or the process start, if later): a new master's own evidence of how
    /// long the old one has been silent. None if no such leader is known.
    pub fn newest_leader_before(&self, term: u64) -> Option<(u64, BootMs)> {
        let terms = self.inner.lock().expect("leader contact lock poisoned");
        let (older, leader) = terms.leader_by_term.range(..term).next_back()?;
        let at = terms.newest_by_term.get(older).copied().unwrap_or_default();
        Some((*leader, at.max(self.started)))
    }

    /// The newest time anything arrived from a leader of a term below `term`, or the
    /// process start if that is newer (an earlier run may have heard from one).
    pub fn newest_before(&self, term: u64) -> BootMs {
        let terms = self.inner.lock().expect("leader contact lock poisoned");
        let kept = terms
            .newest_by_term
            .range(..term)
            .map(|(_, at)| *at)
            .max()
            .unwrap_or_default();
        kept.max(terms.folded).max(self.started)
    }

    /// [`Self::newest_before`] as an age at `now`, for a heartbeat.
    pub fn age_before(&self, term: u64, now: BootMs) -> Duration {
        now.saturating_since(self.newest_before(term))
    }

    /// This node, as master of `term`, may grant `node` a lease at `now`: whether it may
    /// (not if the node was last judged down), recorded before the answer leaves, so that
    /// no grant is ever unknown to the master loop.
    pub fn grant(&self, term: u64, node: u64, now: BootMs) -> bool {
        let mut terms = self.inner.lock().expect("leader contact lock poisoned");
        if !terms.grants_for(term) || terms.refused.contains(&node) {
            return false;
        }
        if terms.granted.len() >= GRANTED_NODES_MAX && !terms.granted.contains_key(&node) {
            tracing::warn!(node, "Too many nodes granted leases; refusing this one");
            return false;
        }
        let newest = terms.granted.entry(node).or_insert(now);
        *newest = (*newest).max(now);
        true
    }

    /// Judges node health as master of `term`: `judge` gets each node's newest lease grant
    /// in this term, and the nodes it finds down are refused leases until the next
    /// judgement (their resources may be started elsewhere now). Excludes [`Self::grant`],
    /// so every grant is either seen by the judgement or refused after it.
    pub fn judge(
        &self,
        term: u64,
        judge: impl FnOnce(&dyn Fn(u64) -> Option<BootMs>) -> BTreeMap<NodeId, NodeHealth>,
    ) -> BTreeMap<NodeId, NodeHealth> {
        let mut terms = self.inner.lock().expect("leader contact lock poisoned");
        let current = terms.grants_for(term);
        let health = {
            let granted = |node: u64| current.then(|| terms.granted.get(&node).copied()).flatten();
            judge(&granted)
        };
        if current {
            terms.refused = health
                .iter()
                .filter(|(_, health)| **health == NodeHealth::Down)
                .map(|(node, _)| node.0)
                .collect();
        }
        health
    }
}

/// The end of a lease granted on a heartbeat sent at `sent_at` (this node's boot clock):
/// `lease` from when the acknowledged Raft message was sent, which was `quorum_age` (the
/// master's measure) before the master answered, so no later than `quorum_age` before the
/// heartbeat's sending. Only the boot clock and durations enter: a wall-clock step cannot
/// lengthen it.
pub fn lease_end(sent_at: BootMs, lease: Duration, quorum_age: Duration) -> BootMs {
    sent_at.saturating_add(lease).saturating_sub(quorum_age)
}

/// What voters reported, as a bound: the time by which every message a leader of an older
/// term sent and had acknowledged by a quorum had been received by some voter of any
/// majority. `reported` maps voters to their newest contact with older leaders (on this
/// node's clock); each config (two while a membership change is joint) needs a majority of
/// reports, and the bound is the smallest time that a majority of each reached.
/// None until every config has a majority of reports.
pub fn older_leaders_bound(
    reported: &BTreeMap<u64, BootMs>,
    configs: &[Vec<u64>],
) -> Option<BootMs> {
    let mut bound: Option<BootMs> = None;
    for voters in configs {
        let mut times: Vec<BootMs> = voters
            .iter()
            .filter_map(|voter| reported.get(voter).copied())
            .collect();
        let majority = voters.len() / 2 + 1;
        if voters.is_empty() || times.len() < majority {
            return None;
        }
        times.sort_unstable();
        let reached = times[majority - 1];
        bound = Some(bound.map_or(reached, |b| b.max(reached)));
    }
    bound
}

/// What the master knows about a node's lease in its own term, on its boot clock.
#[derive(Clone, Copy, Debug)]
pub struct LeaseFacts {
    /// When this master's term began.
    pub term_start: BootMs,
    /// A time by which every lease granted by an earlier master had started: the start of
    /// this term, or the voters' reports if earlier ([`older_leaders_bound`]).
    pub older_leases_from: BootMs,
    /// Lease length plus margin.
    pub lease: Duration,
    /// How long a node not yet heard from in this term gets to check in before it may be
    /// declared down (a live node sends a heartbeat as soon as it learns of a new master).
    pub unheard_grace: Duration,
}

/// What the scheduler may take a node's health to be, given the failure detector's view
/// (`None`: not tracked) and when this master last heard from it in its own term (`None`:
/// not yet). A node whose lease may still run is at worst suspect: it keeps what it runs
/// and nothing starts elsewhere in its place. One never heard in this term is down once
/// its grace is over and its lease has surely ended, before the detector's own grace
/// period (which starts every node online) would say so.
pub fn scheduling_health(
    detected: Option<NodeHealth>,
    heard_at: Option<BootMs>,
    facts: &LeaseFacts,
    now: BootMs,
) -> NodeHealth {
    let lease_start = heard_at.unwrap_or_default().max(facts.older_leases_from);
    let lease_over = now >= lease_start.saturating_add(facts.lease);
    let unheard_long =
        heard_at.is_none() && now >= facts.term_start.saturating_add(facts.unheard_grace);
    match detected {
        None => NodeHealth::Down,
        Some(_) if unheard_long && lease_over => NodeHealth::Down,
        Some(NodeHealth::Down) if lease_over => NodeHealth::Down,
        Some(NodeHealth::Down) => NodeHealth::Suspect,
        Some(other) => other,
    }
}

#[cfg(test)]
mod tests;
