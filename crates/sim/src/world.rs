//! The simulated world: one event queue on simulated time, the nodes, the network, the
//! replicated log, the resource agents' processes, and the invariant checks after every
//! step.
//!
//! Events are ordered by (time, sequence number), so equal times keep their scheduling
//! order and a seed always gives the same run. A paused node (SIGSTOP) keeps its events
//! until it resumes, as a stopped process keeps its sockets' data; a crashed node loses
//! them, and events of an earlier life (an older generation) are dropped.

use std::collections::{BTreeMap, BTreeSet};

use cmdb::ClusterDb;
use model::{Millis, NodeId};
use resource_agents::fence::FenceAnswer;

use crate::agents::{OpDone, Processes};
use crate::config::SimConfig;
use crate::fence::{FenceInFlight, Fencing};
use crate::invariants::Checker;
use crate::net::{Msg, Network};
use crate::node::Node;
use crate::raft::RaftModel;
use crate::rng::Rng;

/// How often the master loop, the executor and the Raft timers run on every node.
pub(crate) const MASTER_TICK_MS: Millis = 20;
pub(crate) const EXECUTOR_TICK_MS: Millis = 20;
pub(crate) const RAFT_TICK_MS: Millis = 10;
pub(crate) const HEARTBEAT_MS: Millis = 100;

/// Something that happens at a simulated time.
#[derive(Clone, Debug)]
pub(crate) enum Ev {
    /// A timer of one life of a node.
    Timer(NodeId, u64, Timer),
    /// A message arrives at a node.
    Deliver(NodeId, Msg),
    /// A resource-agent operation ends on a node (in the life that started it).
    OpDone(NodeId, u64, OpDone),
    /// A node's lease watchdogs look at the lease file.
    Watchdog(NodeId),
    /// The next random fault, operator action, or the end of the chaos phase.
    Fault,
    Operator,
    EndChaos,
    /// A fault ends.
    Resume(NodeId),
    Restart(NodeId),
    Heal(u64),
    /// The operator configures the seed's fencing devices (`crate::fence`).
    ConfigureFencing,
    /// A fencing device answers a call (its effect on the world happens first).
    FenceAnswered(FenceInFlight, FenceAnswer),
    /// The master's runtime takes a device's answer, in the life that asked.
    FenceStep(FenceInFlight),
    /// The operator powers a fenced node on.
    PowerOn(NodeId),
}

/// The timers of a node's agent.
#[derive(Clone, Debug)]
pub(crate) enum Timer {
    MasterTick,
    ExecutorTick,
    /// The heartbeat sender: periodic, or a quick retry just after a failover.
    Heartbeat {
        periodic: bool,
    },
    /// Elections on followers; replication heartbeats on the leader.
    Raft,
    /// A forwarded report got no answer in time.
    ForwardTimeout(u64),
    /// The report forwarder tries again.
    ReportRetry,
    /// The voter change in flight did not commit in time.
    VotersTimeout(u64),
}

/// The phase of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Chaos,
    Quiesce,
}

/// The whole simulated cluster.
pub struct World {
    pub(crate) now: Millis,
    pub(crate) rng: Rng,
    pub(crate) config: SimConfig,
    queue: BTreeMap<(Millis, u64), Ev>,
    seq: u64,
    pub(crate) nodes: BTreeMap<NodeId, Node>,
    pub(crate) raft: RaftModel,
    pub(crate) net: Network,
    pub(crate) procs: Processes,
    pub(crate) checker: Checker,
    pub(crate) phase: Phase,
    /// The committed log applied in commit order: what every replica must become.
    pub(crate) reference: ClusterDb,
    /// Names handed out to created resources.
    pub(crate) next_resource: u64,
    /// Steps taken, for the report.
    pub(crate) steps: u64,
    /// Lines describing what happened, when tracing (`--trace`).
    pub(crate) trace: Option<Vec<String>>,
    // --- witness ---
    /// The witness of a two-node cluster and the nodes' claims (`SimConfig::witness`).
    pub(crate) witness: crate::witness::WitnessModel,
    /// What a scale run measures (`scale::run`); `None` otherwise.
    pub(crate) meter: Option<crate::scale::Meter>,
    /// Invariants are checked every this many steps (1: after every step). A scale run
    /// of hundreds of nodes checks less often: the checks walk every node.
    pub(crate) check_every: u64,
    /// The fencing devices' side (`crate::fence`), with a random stream of its own so
    /// that a seed without fencing runs as it did before devices were simulated.
    pub(crate) fencing: Fencing,
    pub(crate) fence_rng: Rng,
}

impl World {
    /// A cluster of `config.nodes` fresh nodes at time zero; nothing is scheduled yet.
    pub fn new(seed: u64, config: SimConfig) -> World {
        let ids: BTreeSet<NodeId> = (1..=config.nodes).map(NodeId).collect();
        let voters: BTreeSet<NodeId> = ids.iter().copied().take(config.voters_max).collect();
        let learners = ids.difference(&voters).copied().collect();
        let mut world = World {
            now: 0,
            rng: Rng::new(seed),
            queue: BTreeMap::new(),
            seq: 0,
            nodes: BTreeMap::new(),
            raft: RaftModel::new(voters, learners),
            net: Network::default(),
            procs: Processes::default(),
            checker: Checker::default(),
            phase: Phase::Chaos,
            reference: ClusterDb::default(),
            next_resource: 1,
            steps: 0,
            trace: None,
            witness: crate::witness::WitnessModel::default(),
            meter: None,
            check_every: 1,
            fencing: Fencing::default(),
            fence_rng: Rng::new(seed ^ 0xFE4C_E0DE_0000_0000),
            config,
        };
        if world.config.fencing.is_some() {
            // A cluster this build initialises starts at its format (the master's
            // bootstrap writes it), which the fencing commands and events need.
            world.reference.format = cmdb::FORMAT_CURRENT;
        }
        world.witness.initial_voters = world.raft.voters.clone();
        for id in ids {
            let mut node = Node::new(id, &world.config, 0);
            node.db.format = world.reference.format;
            world.nodes.insert(id, node);
            world.start_timers(id);
        }
        world
    }

    /// Records a line of the trace, when tracing.
    pub(crate) fn note(&mut self, line: impl FnOnce() -> String) {
        let now = self.now;
        if let Some(trace) = self.trace.as_mut() {
            trace.push(format!("{now:>6} {}", line()));
        }
    }

    /// Schedules `event` after `delay_ms`.
    pub(crate) fn at(&mut self, delay_ms: Millis, event: Ev) {
        self.seq += 1;
        self.queue.insert((self.now + delay_ms, self.seq), event);
    }

    /// Schedules a timer of the current life of `node`.
    pub(crate) fn timer(&mut self, node: NodeId, delay_ms: Millis, timer: Timer) {
        let generation = self.nodes[&node].generation;
        self.at(delay_ms, Ev::Timer(node, generation, timer));
    }

    /// The periodic timers of a node's new life, each at a random phase.
    pub(crate) fn start_timers(&mut self, node: NodeId) {
        let phase = self.rng.range(0, 19);
        self.timer(node, phase, Timer::MasterTick);
        let phase = self.rng.range(0, 19);
        self.timer(node, phase, Timer::ExecutorTick);
        let phase = self.rng.range(0, 99);
        self.timer(node, phase, Timer::Heartbeat { periodic: true });
        let phase = self.rng.range(0, 9);
        self.timer(node, phase, Timer::Raft);
    }

    /// Runs until `until` or until an invariant breaks.
    pub(crate) fn run_until(&mut self, until: Millis) -> Result<(), String> {
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > until {
                break;
            }
            let ((time, _), event) = entry.remove_entry();
            assert!(time >= self.now, "time never goes back");
            self.now = time;
            self.steps += 1;
            self.dispatch(event);
            if self.steps.is_multiple_of(self.check_every) {
                self.check()?;
            }
        }
        self.now = until;
        Ok(())
    }

    fn dispatch(&mut self, event: Ev) {
        match event {
            Ev::Timer(node, generation, timer) => {
                if self.accepts(node, generation, || {
                    Ev::Timer(node, generation, timer.clone())
                }) {
                    self.on_timer(node, timer);
                }
            }
            Ev::Deliver(node, msg) => {
                let generation = self.nodes[&node].generation;
                if self.accepts(node, generation, || Ev::Deliver(node, msg.clone())) {
                    self.on_message(node, msg);
                }
            }
            Ev::OpDone(node, generation, done) => self.on_op_done(node, generation, done),
            Ev::Watchdog(node) => self.on_watchdog(node),
            Ev::Fault => self.on_fault(),
            Ev::Operator => self.on_operator(),
            Ev::EndChaos => self.end_chaos(),
            Ev::Resume(node) => self.resume(node),
            Ev::Restart(node) => self.restart(node),
            Ev::Heal(partition) => self.net.heal(partition),
            Ev::ConfigureFencing => self.configure_fencing(),
            Ev::FenceAnswered(fence, answer) => self.fence_answered(fence, answer),
            Ev::FenceStep(fence) => self.fence_step(fence),
            Ev::PowerOn(node) => self.power_on(node),
        }
    }

    /// Whether the node's agent takes an event of life `generation` now: not when crashed
    /// or from an earlier life (dropped), not while paused (kept for the resume).
    pub(crate) fn accepts(
        &mut self,
        node: NodeId,
        generation: u64,
        event: impl FnOnce() -> Ev,
    ) -> bool {
        let state = self.nodes.get_mut(&node).expect("known node");
        if !state.up || state.generation != generation {
            return false;
        }
        if state.paused {
            state.deferred.push(event());
            return false;
        }
        true
    }

    fn on_timer(&mut self, node: NodeId, timer: Timer) {
        match timer {
            Timer::MasterTick => {
                // As the agent's loop: a follower whose machine acts for no term waits
                // (`agent::master::MasterLoop::run`); a tick there would change nothing.
                let state = &self.nodes[&node];
                if state.raft.leading.is_some() || state.master.machine.is_acting() {
                    self.master_tick(node);
                }
                self.timer(node, MASTER_TICK_MS, Timer::MasterTick);
            }
            Timer::ExecutorTick => {
                self.executor_event(node, executor::Event::Tick);
                self.timer(node, EXECUTOR_TICK_MS, Timer::ExecutorTick);
            }
            Timer::Heartbeat { periodic } => {
                self.send_heartbeat(node);
                if periodic {
                    self.timer(node, HEARTBEAT_MS, Timer::Heartbeat { periodic: true });
                }
            }
            Timer::Raft => {
                self.raft_tick(node);
                if self.config.witness {
                    self.witness_tick(node);
                }
                self.timer(node, RAFT_TICK_MS, Timer::Raft);
            }
            Timer::ForwardTimeout(req) => self.report_failed(node, req),
            Timer::ReportRetry => self.send_next_report(node),
            Timer::VotersTimeout(id) => self.voters_timeout(node, id),
        }
    }

    /// Sends `msg` from `from` to `to` through the simulated network.
    pub(crate) fn send(&mut self, from: NodeId, to: NodeId, msg: Msg) {
        if let Some(meter) = self.meter.as_mut() {
            meter.count(from, to);
        }
        if from == to {
            self.at(0, Ev::Deliver(to, msg));
            return;
        }
        if let Some(delay) = self.net.transit(&mut self.rng, from, to) {
            self.at(delay, Ev::Deliver(to, msg));
        }
    }

    /// Whether `a` and `b` can talk now (both up, neither paused, no partition between).
    pub(crate) fn connected(&self, a: NodeId, b: NodeId) -> bool {
        let live = |id: NodeId| self.nodes.get(&id).is_some_and(|n| n.up && !n.paused);
        live(a) && live(b) && (a == b || self.net.linked(a, b))
    }

    pub(crate) fn check(&mut self) -> Result<(), String> {
        let now = self.now;
        crate::invariants::unique::check(self, now)?;
        crate::invariants::replicas::check(self)?;
        if let Some(violation) = self.checker.violation.take() {
            return Err(violation);
        }
        Ok(())
    }

    /// A line about the state of the run, for failure reports.
    pub(crate) fn describe(&self) -> String {
        let nodes: Vec<String> = self
            .nodes
            .values()
            .map(|n| {
                let role = if n.raft.leading.is_some() {
                    " leading"
                } else {
                    ""
                };
                let state = if self.fencing.off.contains(&n.id) {
                    " off"
                } else if !n.up {
                    " crashed"
                } else if n.paused {
                    " paused"
                } else {
                    ""
                };
                format!(
                    "{}(term {}{role}{state}, applied {})",
                    n.id, n.raft.term, n.applied
                )
            })
            .collect();
        format!(
            "t={} ms, term {}, leader {:?}, log {}, voters {:?}; nodes {}",
            self.now,
            self.raft.term,
            self.raft.leader.map(|l| l.0),
            self.raft.log.len(),
            self.raft.voters.iter().map(|v| v.0).collect::<Vec<_>>(),
            nodes.join(", ")
        )
    }
}
