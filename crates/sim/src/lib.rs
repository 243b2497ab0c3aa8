//! A deterministic simulation of a whole encluster cluster in one process: the real master
//! role (`agent::master::machine`), the real executors (`executor::Executor`) and the real
//! cluster database (`cmdb::ClusterDb::apply`) on every node, over a modelled Raft log, a
//! simulated network with loss, delay and partitions, simulated resource agents, pauses
//! and crashes of nodes, and an operator who changes the configuration at any moment.
//!
//! A seed decides everything (TigerBeetle's VOPR; FoundationDB's simulation): the same
//! seed replays the same run, step for step. After every step the safety invariants are
//! checked (no unique resource active on two nodes, fencing tokens only grow, replicas
//! agree); after the chaos phase every fault is removed and, at the end of a quiet phase,
//! the liveness check asserts that the cluster converged.
//!
//! This crate must never read a real clock, use unseeded randomness, spawn threads or do
//! IO: time is `World::now`, and every choice comes from the run's `Rng` (`clippy.toml`).

// Commands travel by value through the simulated log and network, as they do in the real
// agent; boxing them would only add allocations.
#![allow(clippy::large_enum_variant)]

mod agents;
mod config;
mod faults;
mod feed;
mod fence;
mod invariants;
mod net;
mod node;
mod raft;
mod rng;
mod scale;
// --- witness ---
mod witness;
mod world;

use std::fmt;

use model::Millis;

pub use config::SimConfig;
pub use fence::{DeviceAnswer, FenceSetup, FenceStats};
pub use scale::{ScaleReport, run as scale};
pub use world::World;

/// How long the phases of a run last.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Faults and operator actions.
    pub chaos_ms: Millis,
    /// No faults; the cluster must converge by the end.
    pub quiesce_ms: Millis,
    /// Keep a trace of what happened, printed with a failure.
    pub trace: bool,
    /// Make every other resource the operator creates a promotable clone (its promoted
    /// role a unique resource checked like any other), and have instances set promotion
    /// scores. Off by default, so the seeds of the default run keep their scenarios.
    pub promotable: bool,
    // --- witness ---
    /// A two-node cluster with a witness (issue 16), both nodes voting: the node the
    /// witness grants becomes the only voter when the other is lost.
    pub witness: bool,
    /// Whether the operator configures fencing devices (`crate::fence`).
    pub fencing: Fencing,
}

/// Which runs have fencing devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fencing {
    /// Half the seeds, by a draw of their own.
    Seeded,
    /// Every seed (with the devices its draw gives).
    Always,
    /// No seed: the master never fences, as before devices were simulated.
    Never,
}

impl Default for RunOptions {
    /// Ten simulated seconds of chaos, then twenty of quiet.
    fn default() -> RunOptions {
        RunOptions {
            chaos_ms: 10_000,
            quiesce_ms: 20_000,
            trace: false,
            promotable: false,
            witness: false,
            fencing: Fencing::Seeded,
        }
    }
}

/// What a passing run did.
#[derive(Clone, Debug)]
pub struct Report {
    pub seed: u64,
    pub steps: u64,
    pub log_entries: usize,
    pub terms: u64,
    pub config: SimConfig,
    /// Promotions (starts of a promoted role) that began.
    pub promotions: u64,
    /// Grants the witness made (`RunOptions::witness`).
    pub witness_grants: u64,
    /// Whether the run had fencing devices, and what its fences did.
    pub fencing: bool,
    pub fences: FenceStats,
}

/// A broken invariant, with what is needed to replay it.
#[derive(Clone, Debug)]
pub struct Failure {
    pub seed: u64,
    pub message: String,
    pub state: String,
    /// What happened, when the run was traced.
    pub trace: Vec<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.trace {
            writeln!(f, "{line}")?;
        }
        writeln!(f, "simulation seed {} failed: {}", self.seed, self.message)?;
        writeln!(f, "  state: {}", self.state)?;
        write!(
            f,
            "  replay: cargo run -p sim -- --seed {0}   (or SIM_SEED={0} cargo test -p sim)",
            self.seed
        )
    }
}

/// Runs the simulation of `seed`.
pub fn run(seed: u64, options: RunOptions) -> Result<Report, Failure> {
    let mut config = SimConfig::for_seed(seed, options.chaos_ms, options.quiesce_ms);
    config.promotable = options.promotable;
    match options.fencing {
        Fencing::Seeded => {}
        Fencing::Always => config.fencing = Some(FenceSetup::for_seed(seed, config.nodes)),
        Fencing::Never => config.fencing = None,
    }
    if options.witness {
        config.nodes = 2;
        config.voters_max = 3;
        config.witness = true;
        config.fencing = None;
    }
    let mut world = World::new(seed, config.clone());
    world.trace = options.trace.then(Vec::new);
    world.start_chaos();
    let fail = |world: &World, message: String| Failure {
        seed,
        message,
        state: world.describe(),
        trace: world.trace.clone().unwrap_or_default(),
    };
    let end = options.chaos_ms + options.quiesce_ms;
    if let Err(message) = world.run_until(end) {
        return Err(fail(&world, message));
    }
    if let Err(message) = invariants::liveness::check(&world) {
        return Err(fail(&world, message));
    }
    Ok(Report {
        seed,
        steps: world.steps,
        log_entries: world.raft.log.len(),
        terms: world.raft.term,
        config,
        promotions: world.checker.promotions,
        witness_grants: world.witness.grants,
        fencing: world.config.fencing.is_some(),
        fences: world.fencing.stats,
    })
}
