//! What one run simulates: cluster size, phase lengths, and how hostile the world is. A
//! seed picks the values, so every seed explores a different cluster and fault mix.

use crate::fence::FenceSetup;
use crate::rng::Rng;
use model::Millis;

/// The shape of one simulated run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Nodes in the cluster (ids 1 to `nodes`).
    pub nodes: u64,
    /// The most Raft voters (the rest are learners).
    pub voters_max: usize,
    /// How long faults and operator actions go on.
    pub chaos_ms: Millis,
    /// How long the healed cluster gets to converge before the liveness check.
    pub quiesce_ms: Millis,
    /// Mean gap between two faults during the chaos phase.
    pub fault_gap_ms: Millis,
    /// Mean gap between two operator actions during the chaos phase.
    pub operator_gap_ms: Millis,
    /// Chance in percent that a resource-agent start fails during the chaos phase.
    pub start_failure_percent: u64,
    /// Chance in percent, per monitor, that a running instance has crashed.
    pub crash_percent: u64,
    /// Resources created before the chaos begins.
    pub initial_resources: u64,
    /// Every other resource created is a promotable clone (`RunOptions::promotable`).
    pub promotable: bool,
    // --- witness ---
    /// Two nodes and a witness (`RunOptions::witness`).
    pub witness: bool,
    /// The fencing devices the operator configures (`None`: none; `crate::fence`).
    pub fencing: Option<FenceSetup>,
}

impl SimConfig {
    /// The run for `seed`, with phases of the given lengths.
    pub fn for_seed(seed: u64, chaos_ms: Millis, quiesce_ms: Millis) -> SimConfig {
        let mut rng = Rng::new(seed ^ 0x5EED_C0F1_6000_0000);
        let nodes = *rng.pick(&[3, 3, 4, 5]);
        // Half the seeds have fencing, decided on a stream of its own so that every other
        // choice of a seed stays what it was before fencing was simulated.
        let fencing = (Rng::new(seed ^ 0xFE4C_E5EE_D000_0000).percent(50))
            .then(|| FenceSetup::for_seed(seed, nodes));
        SimConfig {
            nodes,
            voters_max: *rng.pick(&[1, 3, 5]),
            chaos_ms,
            quiesce_ms,
            fault_gap_ms: rng.range(300, 2_000),
            operator_gap_ms: rng.range(200, 1_500),
            start_failure_percent: rng.range(0, 20),
            crash_percent: rng.range(0, 10),
            initial_resources: rng.range(1, 4),
            promotable: false,
            witness: false,
            fencing,
        }
    }
}
