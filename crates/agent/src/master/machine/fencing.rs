//! The master's fencing decisions (issue 16), kept apart from the rest of the machine.
//!
//! A node the failure detector finds down, covered by a fencing device, is fenced once per
//! loss: the machine emits `Command::Fence` with the `FenceRun` of its levels and records a
//! `fencing started` event; the runtime runs the devices and answers `Event::FenceDone`.
//! Once the fence is confirmed, and nothing was heard from the node (no heartbeat, no lease
//! granted) since the fence began, the node counts as down for scheduling at once, so its
//! unique resources start elsewhere without waiting for its lease: a node that is off holds
//! nothing, and no lease was granted to it after the fence began. A fence that fails or
//! times out changes nothing: the node's resources wait for its lease, as without fencing,
//! and the `fencing failed` event (and the incident's fencing record) says so. While a
//! fence runs, its node's resources wait for it even past the node's lease: a device that
//! covers a node is always heard out before its work starts elsewhere, and every fence
//! ends within its devices' timeouts. A node heard
//! from again after its fence began, and no longer down, is forgotten by the fencing book,
//! so a later loss is fenced again; one that heartbeats while still judged down (rebooting
//! after its fence) is not fenced a second time.

use std::collections::BTreeMap;

use cmdb::ClusterDb;
use model::fence::{FenceOutcome, fence_levels};
use model::{BootMs, EventKind, NodeHealth, NodeId};
use resource_agents::fence::levels::FenceRun;
use tracing::{info, warn};

use super::{Command, Master, Now};

/// One node's fence in this term.
#[derive(Debug)]
pub(super) struct NodeFence {
    id: u64,
    /// When it began (boot clock): only what the node did before counts as fenced.
    started: BootMs,
    /// `None` while the devices run; then whether a level confirmed the node off.
    confirmed: Option<bool>,
}

/// The fences of this term, by node.
#[derive(Debug, Default)]
pub(super) struct FenceBook {
    fences: BTreeMap<NodeId, NodeFence>,
    next_id: u64,
}

impl Master {
    /// Starts a fence for every node the detector found down that a device covers and that
    /// is not fenced (or being fenced) for this loss yet; forgets fences of nodes heard
    /// from since they began.
    pub(super) fn fence_lost(&mut self, db: &ClusterDb, now: Now, out: &mut Vec<Command>) {
        let me = self.config.node;
        let led = self.term.as_mut().expect("called while leading");
        let mut starts = Vec::new();
        let detector = &led.detector;
        // A fence is forgotten once its node is back: heard from since it began, and no
        // longer down. Heard alone is not enough: a fenced node that reboots heartbeats
        // while the detector still finds it down, and fencing it again then would power it
        // off as it rejoins, again and again (the fenced-host benchmark found this).
        led.fencing.fences.retain(|node, fence| {
            let heard = detector.last_heard(*node).map(BootMs);
            let heard_since = heard.is_some_and(|heard| heard >= fence.started);
            !heard_since || detector.health(*node) == Some(NodeHealth::Down)
        });
        for (node, health, _) in detector.nodes() {
            if node == me || health != NodeHealth::Down || led.fencing.fences.contains_key(&node) {
                continue;
            }
            let Some(record) = db.nodes.get(&node) else {
                continue;
            };
            let levels = fence_levels(db.fencing.devices.values(), &record.info.name);
            if levels.is_empty() {
                continue;
            }
            let names: Vec<String> = levels
                .iter()
                .map(|level| {
                    let devices: Vec<&str> = level.iter().map(|d| d.name.as_str()).collect();
                    devices.join("+")
                })
                .collect();
            let run = FenceRun::new(&levels, &record.info.name);
            starts.push((node, run, names.join(", then ")));
        }
        for (node, run, devices) in starts {
            let led = self.term.as_mut().expect("called while leading");
            led.fencing.next_id += 1;
            let id = led.fencing.next_id;
            let fence = NodeFence {
                id,
                started: now.boot,
                confirmed: None,
            };
            led.fencing.fences.insert(node, fence);
            info!(node = node.0, %devices, "Fencing a lost node");
            out.push(Command::Fence { id, node, run });
            let event = EventKind::Fencing {
                node,
                outcome: FenceOutcome::Started,
                reason: "lost".into(),
                detail: format!("devices: {devices}"),
            };
            let at_ms = now.wall;
            let events = vec![event];
            self.write(cmdb::Command::RecordEvents { at_ms, events }, out);
        }
    }

    /// A fence ended: record it, and plan again at once when it confirmed the node off.
    pub(super) fn fence_done(
        &mut self,
        id: u64,
        node: NodeId,
        confirmed: bool,
        detail: String,
        now: Now,
        out: &mut Vec<Command>,
    ) {
        let Some(led) = self.term.as_mut() else {
            return;
        };
        let Some(fence) = led.fencing.fences.get_mut(&node).filter(|f| f.id == id) else {
            return;
        };
        fence.confirmed = Some(confirmed);
        let (outcome, detail) = if confirmed {
            info!(node = node.0, %detail, "Fence confirmed");
            (FenceOutcome::Confirmed, detail)
        } else {
            warn!(node = node.0, %detail, "Fence failed; waiting for the lease instead");
            let detail = format!("{detail}; waiting for the lease instead");
            (FenceOutcome::Failed, detail)
        };
        led.rounds = Default::default();
        let event = EventKind::Fencing {
            node,
            outcome,
            reason: "lost".into(),
            detail,
        };
        let at_ms = now.wall;
        let events = vec![event];
        self.write(cmdb::Command::RecordEvents { at_ms, events }, out);
    }

    /// Node health for scheduling with fences: a node whose fence still runs is at worst
    /// suspect, whatever its lease, so nothing of it starts elsewhere before its fence
    /// ends (Pacemaker's rule: a lost node covered by a device is fenced first); a node
    /// confirmed off, and neither heard from nor granted a lease since its fence began, is
    /// down at once; after a failed fence the lease decides, as without fencing.
    pub(super) fn fenced_health(
        &self,
        granted: &BTreeMap<NodeId, BootMs>,
        mut judged: BTreeMap<NodeId, NodeHealth>,
    ) -> BTreeMap<NodeId, NodeHealth> {
        let led = self.term.as_ref().expect("called while leading");
        for (node, fence) in &led.fencing.fences {
            if fence.confirmed.is_none() {
                if judged.get(node) == Some(&NodeHealth::Down) {
                    judged.insert(*node, NodeHealth::Suspect);
                }
                continue;
            }
            if fence.confirmed != Some(true) {
                continue;
            }
            let heard = led.detector.last_heard(*node).map(BootMs);
            let heard = heard.max(granted.get(node).copied());
            if heard.is_none_or(|heard| heard < fence.started) {
                judged.insert(*node, NodeHealth::Down);
            }
        }
        judged
    }
}
