//! The master's failure detector: heartbeats and ticks in, health transitions out.
//!
//! Silence makes an online node suspect after `suspect_after` and down after `down_after`.
//! A suspect node that heartbeats is online again at once, because suspicion is cheap and
//! has not moved any work. A down node is different: its work may have moved, so it must
//! earn its way back with a probation of steady heartbeats, and every recent flap doubles
//! that probation (flap damping, so a node with a bad link does not bounce resources around).
//!
//! Only real state changes are reported, so a late node produces one event, not a storm.
//!
//! A slow master is not a cluster of dead nodes: when the detector's own ticks come late
//! (more than `suspect_after` apart: the master was starved of CPU, swapped or paused, and
//! the heartbeats may be waiting unread in its sockets), the lateness beyond that bound does
//! not count as anyone's silence (Lifeguard's local health awareness, in its simplest form).
//! A node that really died is still found `down_after` of the master's own running time
//! after its last heartbeat. Only down judgements are delayed, never a lease lengthened.
//!
//! A slow node is not a dead node either (issue 18). A silence past `down_after` is
//! *corroborated* when the node's Raft side is silent too (the master hears neither its
//! heartbeats nor its Raft acknowledgements) and the node did not report itself late. It is
//! *ambiguous* when the Raft side still answers (the heartbeats were lost or queued, not the
//! node) or when the node's last heartbeat reported event-loop lag (a starved machine, whose
//! next heartbeat may be on its way). An ambiguous node waits `down_after` plus the lag it
//! reported, and then goes down only while the budget of uncorroborated downs allows: at most
//! one node in [`UNCORROBORATED_SHARE`] (at least one) per `down_after`. Past twice
//! `down_after` it goes down whatever the evidence: by then the lease it could hold (renewed
//! only by heartbeats) has run out. So a mass of late heartbeats from a starved machine turns
//! into suspects, not into a cluster of downs, and a node that really died among healthy ones
//! is still down after `down_after`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use model::{EventKind, Millis, NodeHealth, NodeId};

use crate::config::DetectorConfig;
use crate::limits::{FLAP_HISTORY_MAX, LAG_NOTICED_MS, UNCORROBORATED_SHARE};

/// A change of one node's health, to be recorded as an event in the cmdb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub node: NodeId,
    pub from: NodeHealth,
    pub to: NodeHealth,
    /// Milliseconds since the node's previous heartbeat when the transition happened: the
    /// silence that caused a timeout, or the last gap of the heartbeat that ended one.
    pub silence_ms: u64,
}

impl Transition {
    /// The cmdb event that records this transition.
    pub fn to_event_kind(&self) -> EventKind {
        EventKind::NodeHealth {
            node: self.node,
            from: self.from,
            to: self.to,
            silence_ms: self.silence_ms,
        }
    }
}

/// Failure detector state for every node the master watches.
#[derive(Debug, Clone)]
pub struct Detector {
    timing: Timing,
    nodes: BTreeMap<NodeId, NodeState>,
    /// The previous tick (or the detector's start), to notice the master's own lateness.
    last_tick: Millis,
    /// When ambiguous silences were last judged down, oldest first; pruned to `down_after`.
    uncorroborated_downs: VecDeque<Millis>,
}

/// The configuration in milliseconds, converted once so that comparisons stay in `Millis`.
#[derive(Debug, Clone, Copy)]
struct Timing {
    suspect_after_ms: u64,
    down_after_ms: u64,
    rejoin_stable_ms: u64,
    rejoin_stable_max_ms: u64,
    flap_window_ms: u64,
}

#[derive(Debug, Clone)]
struct NodeState {
    health: NodeHealth,
    last_heard: Millis,
    /// The master's own lateness since `last_heard`, which is not the node's silence.
    excused_ms: u64,
    /// The event-loop lag the node reported in its last heartbeat, at most `down_after`.
    lag_ms: u64,
    /// Whether the last tick held the node at suspect on ambiguous evidence.
    held: bool,
    /// Set while a down node heartbeats steadily: when the probation started and its length.
    probation: Option<Probation>,
    /// When the node went down recently, oldest first; pruned to `flap_window`.
    down_history: VecDeque<Millis>,
}

#[derive(Debug, Clone, Copy)]
struct Probation {
    started: Millis,
    length_ms: u64,
}

impl Detector {
    /// A detector watching no node yet.
    ///
    /// Panics if `config` is invalid: the caller validates configuration when it loads it.
    pub fn new(config: DetectorConfig, now: Millis) -> Detector {
        Detector::with_nodes(config, now, [])
    }

    /// The fresh detector a new master starts with: every known node is online and heard
    /// `now`. This grace period keeps a new master, which has no heartbeat history, from
    /// declaring nodes down just because it has not heard from them yet.
    pub fn with_nodes(
        config: DetectorConfig,
        now: Millis,
        nodes: impl IntoIterator<Item = NodeId>,
    ) -> Detector {
        if let Err(error) = config.validate() {
            panic!("invalid detector config: {error}");
        }
        let mut detector = Detector {
            timing: Timing::new(&config),
            nodes: BTreeMap::new(),
            last_tick: now,
            uncorroborated_downs: VecDeque::new(),
        };
        for node in nodes {
            detector.track(node, now);
        }
        detector
    }

    /// Starts watching `node` as online and heard `now`. Tracking a watched node changes
    /// nothing, so its history and health survive repeated membership updates.
    pub fn track(&mut self, node: NodeId, now: Millis) {
        self.nodes.entry(node).or_insert_with(|| NodeState {
            health: NodeHealth::Online,
            last_heard: now,
            excused_ms: 0,
            lag_ms: 0,
            held: false,
            probation: None,
            down_history: VecDeque::new(),
        });
    }

    /// Counts an online `node`'s silence from `at` if that is earlier than when it was last
    /// heard: evidence from before the detector existed (a new master last heard from the
    /// old one at `at`, as its follower). Never makes a node look heard later.
    pub fn silent_since(&mut self, node: NodeId, at: Millis) {
        if let Some(state) = self.nodes.get_mut(&node)
            && state.health == NodeHealth::Online
        {
            state.last_heard = state.last_heard.min(at);
        }
    }

    /// Stops watching `node` (it left the cluster) and forgets its history.
    pub fn untrack(&mut self, node: NodeId) {
        self.nodes.remove(&node);
    }

    /// Records a heartbeat from `node`. Returns the transition it causes, if any; heartbeats
    /// from nodes that are not tracked are ignored.
    pub fn heartbeat(&mut self, node: NodeId, now: Millis) -> Option<Transition> {
        let timing = self.timing;
        let state = self.nodes.get_mut(&node)?;
        let silence_ms = now.saturating_sub(state.last_heard);
        // A clock step backwards must not make a node look heard in the past.
        state.last_heard = state.last_heard.max(now);
        state.excused_ms = 0;
        state.held = false;
        let to = match state.health {
            NodeHealth::Online => return None,
            NodeHealth::Suspect => NodeHealth::Online,
            NodeHealth::Down => {
                if !state.probation_passed(&timing, silence_ms, now) {
                    return None;
                }
                NodeHealth::Online
            }
        };
        let from = state.health;
        state.health = to;
        state.probation = None;
        Some(Transition {
            node,
            from,
            to,
            silence_ms,
        })
    }

    /// Records the event-loop lag `node` reported with its heartbeat: how late its own
    /// timers ran recently. A silence of a node that reported lag is ambiguous, and waits
    /// that much longer (at most `down_after`) before it may count as down. Lag under
    /// [`LAG_NOTICED_MS`] is timer noise and counts as none.
    pub fn report_lag(&mut self, node: NodeId, lag_ms: u64) {
        let cap = self.timing.down_after_ms;
        if let Some(state) = self.nodes.get_mut(&node) {
            state.lag_ms = if lag_ms < LAG_NOTICED_MS {
                0
            } else {
                lag_ms.min(cap)
            };
        }
    }

    /// Applies the timeouts at `now` with no evidence from another channel: every silence
    /// is judged on the heartbeats alone (see [`Detector::tick_with`]).
    pub fn tick(&mut self, now: Millis) -> Vec<Transition> {
        self.tick_with(now, &BTreeSet::new())
    }

    /// Applies the timeouts at `now`. `raft_fresh` names the nodes whose Raft side answered
    /// the master within `suspect_after`: alive on another channel, so their heartbeat
    /// silence is ambiguous. Returns the transitions ordered by node id; a node whose
    /// silence passed both timeouts since the last tick goes straight to down. A tick more
    /// than `suspect_after` after the previous one excuses every node the excess: the master
    /// itself was late.
    pub fn tick_with(&mut self, now: Millis, raft_fresh: &BTreeSet<NodeId>) -> Vec<Transition> {
        let timing = self.timing;
        let gap = now.saturating_sub(self.last_tick);
        let late_ms = gap.saturating_sub(timing.suspect_after_ms);
        self.last_tick = self.last_tick.max(now);
        while let Some(&at) = self.uncorroborated_downs.front() {
            if now.saturating_sub(at) < timing.down_after_ms {
                break;
            }
            self.uncorroborated_downs.pop_front();
        }
        let budget = (self.nodes.len() / UNCORROBORATED_SHARE).max(1);
        let mut transitions = Vec::new();
        for (&node, state) in &mut self.nodes {
            // Only the lateness since the node was last heard is excused: a heartbeat that
            // arrived while the master was late (and was read after) ended its silence.
            let since_heard = now.saturating_sub(state.last_heard);
            state.excused_ms = state.excused_ms.saturating_add(late_ms.min(since_heard));
            let silence_ms = since_heard.saturating_sub(state.excused_ms);
            state.held = false;
            if state.health == NodeHealth::Down {
                continue;
            }
            let due = silence_ms >= timing.down_after_ms.saturating_add(state.lag_ms);
            let clear = silence_ms >= timing.down_after_ms.saturating_mul(2);
            let corroborated = state.lag_ms == 0 && !raft_fresh.contains(&node);
            let down = if clear || (due && corroborated) {
                true
            } else if due && self.uncorroborated_downs.len() < budget {
                self.uncorroborated_downs.push_back(now);
                true
            } else {
                state.held = silence_ms >= timing.down_after_ms;
                false
            };
            let to = if down {
                NodeHealth::Down
            } else if state.health == NodeHealth::Online && silence_ms >= timing.suspect_after_ms {
                NodeHealth::Suspect
            } else {
                continue;
            };
            if to == NodeHealth::Down {
                state.record_down(now);
            }
            transitions.push(Transition {
                node,
                from: state.health,
                to,
                silence_ms,
            });
            state.health = to;
        }
        transitions
    }

    /// The nodes the last tick held at suspect although their silence passed `down_after`,
    /// because the evidence was ambiguous (see the module's documentation).
    pub fn held(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes
            .iter()
            .filter(|(_, state)| state.held)
            .map(|(&node, _)| node)
    }

    /// The current health of `node`, or `None` when it is not tracked.
    pub fn health(&self, node: NodeId) -> Option<NodeHealth> {
        self.nodes.get(&node).map(|state| state.health)
    }

    /// When `node` was last heard (or started being tracked), or `None` when not tracked.
    pub fn last_heard(&self, node: NodeId) -> Option<Millis> {
        self.nodes.get(&node).map(|state| state.last_heard)
    }

    /// Every tracked node with its health and last-heard time, ordered by node id.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, NodeHealth, Millis)> + '_ {
        self.nodes
            .iter()
            .map(|(&node, state)| (node, state.health, state.last_heard))
    }

    /// The health of every tracked node, as [`crate::QuorumInput`] wants it.
    pub fn health_map(&self) -> BTreeMap<NodeId, NodeHealth> {
        self.nodes
            .iter()
            .map(|(&node, state)| (node, state.health))
            .collect()
    }
}

impl Timing {
    fn new(config: &DetectorConfig) -> Timing {
        Timing {
            suspect_after_ms: millis(config.suspect_after),
            down_after_ms: millis(config.down_after),
            rejoin_stable_ms: millis(config.rejoin_stable),
            rejoin_stable_max_ms: millis(config.rejoin_stable_max),
            flap_window_ms: millis(config.flap_window),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).expect("validated durations are at most an hour")
}

impl NodeState {
    /// Advances the probation of a down node that just heartbeated after `silence_ms`.
    /// A gap long enough to make an online node suspect restarts the probation, because
    /// the node has not been steady.
    fn probation_passed(&mut self, timing: &Timing, silence_ms: u64, now: Millis) -> bool {
        assert_eq!(self.health, NodeHealth::Down);
        let probation = match self.probation {
            Some(probation) if silence_ms < timing.suspect_after_ms => probation,
            _ => {
                let probation = Probation {
                    started: now,
                    length_ms: self.probation_ms(timing, now),
                };
                self.probation = Some(probation);
                probation
            }
        };
        now.saturating_sub(probation.started) >= probation.length_ms
    }

    /// The probation length: `rejoin_stable` doubled for every down transition in the last
    /// `flap_window` beyond the first, capped at `rejoin_stable_max`.
    fn probation_ms(&mut self, timing: &Timing, now: Millis) -> u64 {
        self.forget_old_downs(timing, now);
        let mut length_ms = timing.rejoin_stable_ms;
        for _ in 1..self.down_history.len() {
            length_ms = length_ms.saturating_mul(2).min(timing.rejoin_stable_max_ms);
        }
        assert!(length_ms <= timing.rejoin_stable_max_ms);
        length_ms
    }

    fn record_down(&mut self, now: Millis) {
        self.probation = None;
        if self.down_history.len() == FLAP_HISTORY_MAX {
            self.down_history.pop_front();
        }
        self.down_history.push_back(now);
        assert!(self.down_history.len() <= FLAP_HISTORY_MAX);
    }

    fn forget_old_downs(&mut self, timing: &Timing, now: Millis) {
        while let Some(&down_at) = self.down_history.front() {
            if now.saturating_sub(down_at) < timing.flap_window_ms {
                break;
            }
            self.down_history.pop_front();
        }
    }
}

#[cfg(test)]
mod tests;
