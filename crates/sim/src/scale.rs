//! Scale runs (issue 18, point 3): one healthy cluster of many nodes, no faults and no
//! operator, measured. After [`FORM_MS`] of settling the run meters [`MEASURE_MS`]: how much
//! wall-clock time the master node's real master machine (`agent::master::machine`, the
//! failure detector and scheduler included) takes per simulated second, and how many
//! messages reach and leave the master. Then it kills one node for good and reports how
//! long after the kill the master recorded it down, and any node recorded down before the
//! kill (a false down). Every invariant is still checked, every `100 × nodes` steps and at
//! the end.
//!
//! The measured time is the process's own and is never fed back into the run, so a seed
//! still replays exactly.

use std::time::Duration;

use model::{EventKind, Millis, NodeHealth, NodeId};

use crate::Failure;
use crate::config::SimConfig;
use crate::world::{Phase, World};

/// How long the cluster settles before the metering starts.
pub const FORM_MS: Millis = 5_000;
/// How long the metering lasts.
pub const MEASURE_MS: Millis = 10_000;
/// How long after the kill the run waits for the down verdict.
pub const DETECT_MS: Millis = 5_000;

/// What a scale run measured.
#[derive(Clone, Debug)]
pub struct ScaleReport {
    pub seed: u64,
    pub nodes: u64,
    /// Wall-clock milliseconds the master's machine took per simulated second.
    pub machine_ms_per_s: f64,
    /// Messages to and from the master per simulated second (Raft, heartbeats, writes).
    pub to_master_per_s: f64,
    pub from_master_per_s: f64,
    /// Nodes recorded down before the kill: false downs.
    pub false_downs: usize,
    /// From the kill to the master's down verdict, and the silence the verdict names.
    pub detection_ms: Option<Millis>,
    pub silence_ms: Option<u64>,
    /// Simulated events processed.
    pub steps: u64,
    /// Raft terms, and the world's state at the end (for a run whose kill was not seen).
    pub terms: u64,
    pub end_state: String,
}

/// What a run meters about the master it had when the metering began.
#[derive(Clone, Debug)]
pub(crate) struct Meter {
    master: NodeId,
    to_master: u64,
    from_master: u64,
    machine: Duration,
}

impl Meter {
    fn new(master: NodeId) -> Meter {
        Meter {
            master,
            to_master: 0,
            from_master: 0,
            machine: Duration::ZERO,
        }
    }

    /// Counts a message sent from `from` to `to`.
    pub(crate) fn count(&mut self, from: NodeId, to: NodeId) {
        if from == to {
            return;
        }
        if to == self.master {
            self.to_master += 1;
        }
        if from == self.master {
            self.from_master += 1;
        }
    }
}

/// The wall-clock time of one call of the master machine on the metered master.
pub(crate) struct Timed(Option<std::time::Instant>);

impl Timed {
    #[allow(
        clippy::disallowed_methods,
        reason = "scale runs measure the machine's own cost; the time never reaches the run"
    )]
    pub(crate) fn start(meter: &Option<Meter>, node: NodeId) -> Timed {
        let metered = meter.as_ref().is_some_and(|meter| meter.master == node);
        Timed(metered.then(std::time::Instant::now))
    }

    pub(crate) fn stop(self, meter: &mut Option<Meter>) {
        if let (Some(started), Some(meter)) = (self.0, meter.as_mut()) {
            meter.machine += started.elapsed();
        }
    }
}

/// Runs a healthy cluster of `nodes` nodes for `seed`, meters its master, then kills one
/// node and times its down verdict.
pub fn run(seed: u64, nodes: u64) -> Result<ScaleReport, Failure> {
    let mut config = SimConfig::for_seed(seed, 0, FORM_MS + MEASURE_MS + DETECT_MS);
    config.nodes = nodes;
    config.voters_max = 5;
    config.start_failure_percent = 0;
    config.crash_percent = 0;
    config.initial_resources = 0;
    config.fencing = None;
    let mut world = World::new(seed, config);
    world.phase = Phase::Quiesce;
    // A cluster this build initialises starts at its format (the master's bootstrap writes
    // it), which lets the cmdb register up to 1,000 nodes; at format 1 it stops at 256.
    world.reference.format = cmdb::FORMAT_CURRENT;
    for node in world.nodes.values_mut() {
        node.db.format = cmdb::FORMAT_CURRENT;
    }
    // The replica check compares whole databases, one per node that applied something:
    // after every step it made a run of 1,000 nodes quadratic. A scale run has no faults;
    // it checks every `100 × nodes` steps, and once more at the end.
    world.check_every = nodes.max(1) * 100;
    let fail = |world: &World, message: String| Failure {
        seed,
        message,
        state: world.describe(),
        trace: Vec::new(),
    };
    world.run_until(FORM_MS).map_err(|m| fail(&world, m))?;
    let Some(master) = world.raft.leader else {
        return Err(fail(&world, format!("no master after {FORM_MS} ms")));
    };
    world.meter = Some(Meter::new(master));
    let metered_from = world.now;
    world
        .run_until(metered_from + MEASURE_MS)
        .map_err(|m| fail(&world, m))?;
    let meter = world.meter.take().expect("metered");
    let seconds = MEASURE_MS as f64 / 1000.0;
    let killed_at = world.now;
    let victim = (1..=nodes)
        .rev()
        .map(NodeId)
        .find(|&node| node != master && world.nodes[&node].up);
    if let Some(victim) = victim {
        world.kill(victim);
    }
    world
        .run_until(killed_at + DETECT_MS)
        .map_err(|m| fail(&world, m))?;
    world.check_every = 1;
    world.check().map_err(|m| fail(&world, m))?;
    let downs: Vec<(NodeId, Millis, u64)> = (world.reference.events.iter())
        .filter_map(|event| match event.kind {
            EventKind::NodeHealth {
                node,
                to: NodeHealth::Down,
                silence_ms,
                ..
            } => Some((node, event.at_ms, silence_ms)),
            _ => None,
        })
        .collect();
    let verdict = downs
        .iter()
        .find(|(node, at, _)| Some(*node) == victim && *at >= killed_at);
    Ok(ScaleReport {
        seed,
        nodes,
        machine_ms_per_s: meter.machine.as_secs_f64() * 1000.0 / seconds,
        to_master_per_s: meter.to_master as f64 / seconds,
        from_master_per_s: meter.from_master as f64 / seconds,
        false_downs: downs.iter().filter(|(_, at, _)| *at < killed_at).count(),
        detection_ms: verdict.map(|(_, at, _)| at - killed_at),
        silence_ms: verdict.map(|(_, _, silence)| *silence),
        steps: world.steps,
        terms: world.raft.term,
        end_state: world.describe(),
    })
}
