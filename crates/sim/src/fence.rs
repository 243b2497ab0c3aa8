//! Simulated fencing devices (issue 16).
//!
//! With some chance per seed (`SimConfig::fencing`), the operator configures fencing at the
//! start of the run through the command `encluster fence add` writes
//! (`cmdb::Command::PutFenceDevice`): one device covering some or all nodes, sometimes a
//! second one at level 2. The master's `machine::Command::Fence` carries the real
//! `FenceRun` over those levels; the simulation drives it call by call, as the agent's
//! `master::run_fence` does. Each call ends after a seeded delay in one of three ways, by
//! seeded chance: the device powers the node off and answers success; it fails at once; or
//! it hangs and the call times out at the device's timeout. When a level succeeds, the node
//! is off from that instant: its agent, executor, every process and every lease watchdog
//! stop, and its lease file is void (a lease names the boot it was granted in), as a power
//! cut does, whatever the node was doing: working, paused, cut off or crashed. The device
//! acts whatever happens to the master meanwhile; the master hears the answer only in the
//! life that asked (a crashed master forgets its fences; a paused one hears late). A node
//! powered off stays off, also past the end of the chaos phase, until the simulated
//! operator powers it on again after a seeded delay.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use agent::master::machine;
use model::fence::FenceAction;
use model::{FenceDevice, Millis, NodeId};
use resource_agents::fence::levels::{FenceNext, FenceRun};
use resource_agents::fence::{FenceAnswer, FenceEnd};

use crate::node::node_info;
use crate::rng::Rng;
use crate::world::{Ev, World};

/// How a device answers a call, when a test forces it (`FenceSetup::forced`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceAnswer {
    /// Powers the node off, then answers success.
    PowersOff,
    /// Answers failure (exit 1) after a short delay.
    Fails,
    /// Answers nothing; the call times out.
    Hangs,
}

/// The fencing a seed configures.
#[derive(Clone, Debug)]
pub struct FenceSetup {
    /// The devices, as `encluster fence add` writes them.
    pub devices: Vec<FenceDevice>,
    /// Chance in percent that a call fails.
    pub fail_percent: u64,
    /// Chance in percent that a call hangs until its timeout.
    pub hang_percent: u64,
    /// Every call answers this way (scripted tests); `None`: by seeded chance.
    pub forced: Option<DeviceAnswer>,
}

impl FenceSetup {
    /// The fencing of `seed` for a cluster of `nodes` nodes, from a stream of its own.
    pub fn for_seed(seed: u64, nodes: u64) -> FenceSetup {
        let mut rng = Rng::new(seed ^ 0xFE4C_E000_0000_0000);
        let all: Vec<NodeId> = (1..=nodes).map(NodeId).collect();
        let covered: Vec<NodeId> = if rng.percent(60) {
            all.clone()
        } else {
            let some: Vec<NodeId> = all.iter().copied().filter(|_| rng.percent(60)).collect();
            if some.is_empty() {
                vec![*rng.pick(&all)]
            } else {
                some
            }
        };
        let mut devices = vec![device(&mut rng, "power", 1, &covered)];
        if rng.percent(40) {
            devices.push(device(&mut rng, "pdu", 2, &covered));
        }
        FenceSetup {
            devices,
            fail_percent: rng.range(0, 30),
            hang_percent: rng.range(0, 20),
            forced: None,
        }
    }
}

/// A device at `level` covering `nodes`, each by its own plug.
fn device(rng: &mut Rng, name: &str, level: u32, nodes: &[NodeId]) -> FenceDevice {
    let timeout_ms = *rng.pick(&[300, 600, 1_000, 2_000]);
    FenceDevice {
        name: name.to_string(),
        agent: "fence_sim".to_string(),
        params: [("ip".to_string(), format!("10.0.0.{level}"))].into(),
        hosts: (nodes.iter())
            .map(|id| (node_info(*id).name, format!("plug{}", id.0)))
            .collect(),
        level,
        timeout: Duration::from_millis(timeout_ms),
        action: FenceAction::Off,
    }
}

/// What the fences did in a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FenceStats {
    /// Fences the master asked for.
    pub requested: u64,
    /// Fences a level confirmed (the node powered off).
    pub confirmed: u64,
    /// Fences every level failed, none by a timeout.
    pub failed: u64,
    /// Fences every level failed, at least one call by its timeout.
    pub timed_out: u64,
}

/// The devices' side of the world: what they did, and which nodes are off.
#[derive(Debug, Default)]
pub(crate) struct Fencing {
    pub(crate) stats: FenceStats,
    /// Nodes powered off and not on again yet.
    pub(crate) off: BTreeSet<NodeId>,
    /// When each node was last powered off.
    pub(crate) off_at: BTreeMap<NodeId, Millis>,
    /// When fences began, with their node (for the scripted tests).
    pub(crate) starts: Vec<(Millis, NodeId)>,
    /// When fences ended, with their node and whether confirmed (for the scripted tests).
    pub(crate) ends: Vec<(Millis, NodeId, bool)>,
}

/// A fence run of a master's life, on its way through the devices.
#[derive(Clone, Debug)]
pub(crate) struct FenceInFlight {
    pub(crate) master: NodeId,
    pub(crate) generation: u64,
    pub(crate) id: u64,
    pub(crate) target: NodeId,
    pub(crate) run: FenceRun,
    /// Whether a call of it timed out.
    pub(crate) hung: bool,
}

impl World {
    /// The operator configures the seed's fencing through the master; tried again until
    /// every device is in the committed configuration.
    pub(crate) fn configure_fencing(&mut self) {
        let Some(setup) = self.config.fencing.clone() else {
            return;
        };
        let missing: Vec<FenceDevice> = (setup.devices.into_iter())
            .filter(|d| self.reference.fencing.devices.get(&d.name) != Some(d))
            .collect();
        if missing.is_empty() {
            return;
        }
        self.at(200, Ev::ConfigureFencing);
        let Some(leader) = self.raft.leader.filter(|l| self.connected(*l, *l)) else {
            return;
        };
        if self.nodes[&leader].raft.leading.is_none() {
            return;
        }
        for device in missing {
            self.note(|| format!("operator: fence add {} via node {leader}", device.name));
            let command = cmdb::Command::PutFenceDevice { device };
            self.propose(
                leader,
                crate::raft::Entry::Command(command),
                crate::raft::Origin::Operator,
            );
        }
    }

    /// The master loop's runtime runs a fence (`master::run_fence`): its first call.
    pub(crate) fn start_fence(&mut self, master: NodeId, id: u64, target: NodeId, run: FenceRun) {
        self.fencing.stats.requested += 1;
        self.fencing.starts.push((self.now, target));
        self.note(|| format!("master {master} fences node {target} (fence {id})"));
        let generation = self.nodes[&master].generation;
        let fence = FenceInFlight {
            master,
            generation,
            id,
            target,
            run,
            hung: false,
        };
        self.fence_next(fence);
    }

    /// The next call of a fence, or its answer to the master.
    fn fence_next(&mut self, fence: FenceInFlight) {
        let (confirmed, detail) = match fence.run.next() {
            FenceNext::Call { device, call } => {
                let timeout = u64::try_from(call.timeout.as_millis()).unwrap_or(u64::MAX);
                let answer = self.device_answer();
                let (delay, end) = match answer {
                    DeviceAnswer::PowersOff => (
                        self.fence_rng.range(10, timeout.max(11) - 1),
                        FenceEnd::Exited(0),
                    ),
                    DeviceAnswer::Fails => (self.fence_rng.range(5, 100), FenceEnd::Exited(1)),
                    DeviceAnswer::Hangs => (timeout, FenceEnd::TimedOut),
                };
                let target = fence.target;
                self.note(|| format!("device {device} of node {target}: {answer:?} in {delay} ms"));
                let answer = FenceAnswer {
                    end,
                    stdout: String::new(),
                    stderr: String::new(),
                };
                self.at(delay, Ev::FenceAnswered(fence, answer));
                return;
            }
            FenceNext::Confirmed(detail) => (true, detail),
            FenceNext::Failed(detail) => (false, detail),
        };
        let state = self.nodes.get_mut(&fence.master).expect("known node");
        state.master.push_event(machine::Event::FenceDone {
            id: fence.id,
            node: fence.target,
            confirmed,
            detail,
        });
        self.drive_master(fence.master);
    }

    fn device_answer(&mut self) -> DeviceAnswer {
        let setup = self
            .config
            .fencing
            .as_ref()
            .expect("fences only with devices");
        if let Some(forced) = setup.forced {
            return forced;
        }
        let (fail, hang) = (setup.fail_percent, setup.hang_percent);
        match self.fence_rng.range(0, 99) {
            roll if roll < fail => DeviceAnswer::Fails,
            roll if roll < fail + hang => DeviceAnswer::Hangs,
            _ => DeviceAnswer::PowersOff,
        }
    }

    /// A device answered a call: its effect on the world now (a level that succeeded has
    /// powered the node off), then the master's runtime goes on, in the life that asked.
    pub(crate) fn fence_answered(&mut self, mut fence: FenceInFlight, answer: FenceAnswer) {
        fence.hung |= answer.end == FenceEnd::TimedOut;
        fence.run.answer(&answer);
        match fence.run.next() {
            FenceNext::Confirmed(_) => {
                self.fencing.stats.confirmed += 1;
                self.fencing.ends.push((self.now, fence.target, true));
                self.power_off(fence.target);
            }
            FenceNext::Failed(_) if fence.hung => {
                self.fencing.stats.timed_out += 1;
                self.fencing.ends.push((self.now, fence.target, false));
            }
            FenceNext::Failed(_) => {
                self.fencing.stats.failed += 1;
                self.fencing.ends.push((self.now, fence.target, false));
            }
            FenceNext::Call { .. } => {}
        }
        self.fence_step(fence);
    }

    /// The master's runtime takes the answer (kept while it is paused, lost with its life).
    pub(crate) fn fence_step(&mut self, fence: FenceInFlight) {
        let (master, generation) = (fence.master, fence.generation);
        if self.accepts(master, generation, || Ev::FenceStep(fence.clone())) {
            self.fence_next(fence);
        }
    }

    /// Power off: the agent, the executor, every process and the lease watchdogs stop at
    /// once, the lease file is void; the operator powers the node on again later.
    pub(crate) fn power_off(&mut self, node: NodeId) {
        self.note(|| format!("node {node} powered off by its fence"));
        self.kill(node);
        self.procs.alive.retain(|(on, _), _| *on != node);
        self.nodes.get_mut(&node).expect("known node").lease_file = 0;
        self.fencing.off.insert(node);
        self.fencing.off_at.insert(node, self.now);
        let delay = self.fence_rng.range(500, 4_000);
        self.at(delay, Ev::PowerOn(node));
    }

    /// The operator powers a fenced node on: its agent starts from what is on disk.
    pub(crate) fn power_on(&mut self, node: NodeId) {
        if self.fencing.off.remove(&node) {
            self.note(|| format!("node {node} powered on"));
            self.restart(node);
        }
    }
}

#[cfg(test)]
mod tests;
