//! Simulated resource agents and the processes they run, and the lease watchdogs.
//!
//! A process is alive from the moment its start begins (the start may be half done) until
//! its stop ends, its start fails or times out, it crashes, or a watchdog kills it. The
//! processes outlive a crash of the agent, as a real process group does; the watchdog, a
//! separate process, kills a unique resource `WATCHDOG_LEAD_MS` before the lease recorded
//! in the lease file ends, also while the agent is paused or crashed.
//! Operations take simulated time; during the chaos phase starts fail and running
//! processes crash at the rates of the run's config.

use std::collections::BTreeMap;
use std::time::Duration;

use executor::{Assignment, OperationKind};
use model::{BootMs, NodeId, Resource, ResourceId};
use resource_agents::{Outcome, Severity};

use crate::node::WATCHDOG_LEAD_MS;
use crate::world::{Ev, Phase, World};

/// A running (or possibly running) process of a resource on a node.
#[derive(Clone, Debug)]
pub(crate) struct Process {
    pub(crate) resource: Resource,
    pub(crate) token: u64,
    /// Which start made it, so that a late failure of an older start leaves it alone.
    serial: u64,
}

/// Every simulated process in the cluster.
#[derive(Debug, Default)]
pub(crate) struct Processes {
    pub(crate) alive: BTreeMap<(NodeId, ResourceId), Process>,
    /// The stop records in the state directories: the grant each resource was last
    /// cleanly stopped under on each node (a start replaces it with a start record).
    pub(crate) stopped: BTreeMap<(NodeId, ResourceId), Assignment>,
    next_serial: u64,
}

/// An operation the executor asked for.
pub(crate) struct Run {
    pub(crate) resource: Resource,
    pub(crate) operation: OperationKind,
    pub(crate) fencing_token: u64,
    pub(crate) timeout: Duration,
    pub(crate) started_at: BootMs,
}

/// An operation's end, first in the world (`world_done`), then for the executor.
#[derive(Clone, Debug)]
pub(crate) struct OpDone {
    resource: ResourceId,
    definition: Resource,
    operation: OperationKind,
    fencing_token: u64,
    started_at: BootMs,
    outcome: Outcome,
    serial: u64,
    world_done: bool,
}

impl World {
    pub(crate) fn begin_operation(&mut self, node: NodeId, run: Run) {
        let lease = self.nodes[&node].feed.lease_until;
        self.note(|| {
            format!(
                "node {node} begins {} {}#{} (lease {lease})",
                run.operation, run.resource.id, run.fencing_token
            )
        });
        let timeout = u64::try_from(run.timeout.as_millis()).unwrap_or(u64::MAX);
        let chaos = self.phase == Phase::Chaos;
        let key = (node, run.resource.id.clone());
        let (duration, outcome, serial) = match run.operation {
            OperationKind::Start => {
                crate::invariants::tokens::started(self, node, &run.resource, run.fencing_token);
                crate::invariants::fenced::started(self, node, &run.resource, run.fencing_token);
                self.procs.next_serial += 1;
                let serial = self.procs.next_serial;
                let process = Process {
                    resource: run.resource.clone(),
                    token: run.fencing_token,
                    serial,
                };
                self.procs.stopped.remove(&key);
                self.procs.alive.insert(key, process);
                let duration = self.rng.range(1, 200);
                let hangs = chaos && self.rng.percent(2);
                let fails = chaos && self.rng.percent(self.config.start_failure_percent);
                match () {
                    () if hangs => (timeout, Outcome::Timeout, serial),
                    () if fails => (
                        duration,
                        Outcome::failed(Severity::Soft, "start failed"),
                        serial,
                    ),
                    () => (duration, Outcome::Ok, serial),
                }
            }
            OperationKind::Stop => (self.rng.range(1, 60).min(timeout), Outcome::Ok, 0),
            OperationKind::Monitor => {
                if chaos && self.rng.percent(self.config.crash_percent) {
                    self.procs.alive.remove(&key);
                }
                (self.rng.range(1, 30), Outcome::Ok, 0)
            }
            // The simulated types declare no schema, so the executor never reloads.
            OperationKind::Reload => (1, Outcome::Ok, 0),
        };
        let generation = self.nodes[&node].generation;
        let done = OpDone {
            resource: run.resource.id.clone(),
            definition: run.resource,
            operation: run.operation,
            fencing_token: run.fencing_token,
            started_at: run.started_at,
            outcome,
            serial,
            world_done: false,
        };
        self.at(duration, Ev::OpDone(node, generation, done));
    }

    /// An operation ends: its effect on the process, then the executor hears of it.
    pub(crate) fn on_op_done(&mut self, node: NodeId, generation: u64, mut done: OpDone) {
        if !done.world_done {
            self.note(|| {
                format!(
                    "node {node} ends {} {}#{}: {}",
                    done.operation, done.resource, done.fencing_token, done.outcome
                )
            });
            done.world_done = true;
            let key = (node, done.resource.clone());
            match done.operation {
                OperationKind::Start if !done.outcome.is_ok() => {
                    if self
                        .procs
                        .alive
                        .get(&key)
                        .is_some_and(|p| p.serial == done.serial)
                    {
                        self.procs.alive.remove(&key);
                    }
                }
                OperationKind::Start => {}
                OperationKind::Stop => {
                    self.procs.alive.remove(&key);
                }
                OperationKind::Monitor => {
                    if !self.procs.alive.contains_key(&key) {
                        done.outcome = Outcome::NotRunning;
                    }
                }
                OperationKind::Reload => {}
            }
        }
        let event = || Ev::OpDone(node, generation, done.clone());
        if !self.accepts(node, generation, event) {
            return;
        }
        // The runtime records a clean stop before the executor (and so the master) hears
        // of it.
        if done.operation == OperationKind::Stop && done.outcome.is_ok() {
            let record = Assignment {
                resource: done.definition.clone(),
                fencing_token: done.fencing_token,
            };
            self.procs
                .stopped
                .insert((node, done.resource.clone()), record);
        }
        let event = executor::Event::OperationDone {
            resource: done.resource,
            operation: done.operation,
            fencing_token: done.fencing_token,
            outcome: done.outcome,
            started_at: done.started_at,
            ended_at: None,
        };
        self.executor_event(node, event);
    }

    /// The watchdogs of `node`: kill its unique processes once the lease file says the
    /// lease is about to end.
    pub(crate) fn on_watchdog(&mut self, node: NodeId) {
        let lease = self.nodes[&node].lease_file;
        if self.now + WATCHDOG_LEAD_MS < lease {
            return;
        }
        self.note(|| format!("watchdog of node {node} fences (lease {lease})"));
        self.procs
            .alive
            .retain(|(on, _), process| *on != node || !process.resource.unique);
    }
}
