//! The simulated network: messages between nodes with delay, loss and partitions.
//!
//! A partition cuts the links between a set of nodes and the rest, in both directions,
//! until it heals. Messages already in flight still arrive (they left before the cut).

use std::collections::{BTreeMap, BTreeSet};

use model::{Millis, NodeId};

use crate::rng::Rng;

/// A message between agents.
#[derive(Clone, Debug)]
pub(crate) enum Msg {
    /// Raft replication (or an empty heartbeat) from the leader of `term`: the follower
    /// may apply the committed log up to `commit`; `seq` is the newest proposal it carries.
    Append {
        term: u64,
        leader: NodeId,
        commit: u64,
        seq: u64,
        sent_at: Millis,
    },
    /// The follower's answer; `ok` is false when it knows a newer term.
    AppendAck {
        term: u64,
        from: NodeId,
        ok: bool,
        seq: u64,
        sent_at: Millis,
    },
    /// A node's heartbeat to the master it knows.
    Heartbeat {
        from: NodeId,
        term: u64,
        older_contact_age_ms: u64,
        sent_at: Millis,
    },
    /// The master's answer: whether it is master, the grant's quorum age if it granted a
    /// lease, and its commit index.
    HeartbeatAck {
        is_master: bool,
        quorum_age_ms: Option<u64>,
        commit_index: u64,
        sent_at: Millis,
    },
    /// A write forwarded to the master (a report, or an operator's request).
    Write {
        from: NodeId,
        req: u64,
        command: cmdb::Command,
    },
    /// The answer to a forwarded write.
    WriteAck { req: u64, ok: bool },
}

/// Links, loss and delay.
#[derive(Debug, Default)]
pub(crate) struct Network {
    /// Active partitions: each cuts its side off from everyone else.
    partitions: BTreeMap<u64, BTreeSet<NodeId>>,
    next_partition: u64,
    /// Chance in percent that a message is lost.
    pub(crate) loss_percent: u64,
    /// Largest extra delay of a message.
    pub(crate) jitter_ms: Millis,
}

impl Network {
    /// Whether `a` and `b` are on the same side of every partition.
    pub(crate) fn linked(&self, a: NodeId, b: NodeId) -> bool {
        self.partitions
            .values()
            .all(|side| side.contains(&a) == side.contains(&b))
    }

    /// The delay of a message from `from` to `to`, or `None` when it is lost.
    pub(crate) fn transit(&self, rng: &mut Rng, from: NodeId, to: NodeId) -> Option<Millis> {
        if !self.linked(from, to) || rng.percent(self.loss_percent) {
            return None;
        }
        Some(1 + rng.range(0, self.jitter_ms))
    }

    /// Cuts `side` off from the rest; returns the partition's id for its healing.
    pub(crate) fn cut(&mut self, side: BTreeSet<NodeId>) -> u64 {
        self.next_partition += 1;
        self.partitions.insert(self.next_partition, side);
        self.next_partition
    }

    pub(crate) fn heal(&mut self, partition: u64) {
        self.partitions.remove(&partition);
    }

    /// Removes every fault.
    pub(crate) fn heal_all(&mut self) {
        self.partitions.clear();
        self.loss_percent = 0;
        self.jitter_ms = 2;
    }
}
