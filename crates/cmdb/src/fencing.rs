//! Fencing devices and fencing history (issue 16).
//!
//! The devices are configuration (`Command::PutFenceDevice`, `RemoveFenceDevice`,
//! `ReplaceFenceDevices` for `apply -f`), checked with `model::FenceDevice::check` on every
//! replica alike; the parameter schema of each agent is checked where the request enters
//! (the agent's meta-data is read on that node). The history is derived, like the incident
//! book, from the `fencing` events as they are recorded: one record per attempt, with the
//! node-loss incident it belongs to, at most `FENCE_HISTORY_MAX`.

use std::collections::{BTreeMap, VecDeque};

use model::fence::{FENCE_DEVICE_COUNT_MAX, FenceOutcome};
use model::{Event, EventKind, FenceDevice, Millis, NodeId};
use serde::{Deserialize, Serialize};

use crate::command::CommandResult;
use crate::incidents::{IncidentCause, Incidents};

/// The most fencing attempts kept in the history.
pub const FENCE_HISTORY_MAX: usize = 200;

/// One fencing attempt, from its `started` event to its answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FenceRecord {
    /// The node fenced.
    pub node: NodeId,
    /// `lost` (the master fenced a lost node) or `manual`.
    pub reason: String,
    /// The node-loss incident open for the node when fencing started.
    pub incident: Option<u64>,
    /// When it started.
    pub started_at: Millis,
    /// When it was confirmed or failed.
    pub finished_at: Option<Millis>,
    /// How it stands.
    pub outcome: FenceOutcome,
    /// What each device answered.
    pub detail: String,
}

/// The fencing devices and the history of fencing attempts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FenceDb {
    /// The devices by name.
    pub devices: BTreeMap<String, FenceDevice>,
    /// Fencing attempts, oldest first.
    pub history: VecDeque<FenceRecord>,
}

impl FenceDb {
    pub(crate) fn put(&mut self, device: FenceDevice) -> CommandResult {
        if let Err(error) = device.check() {
            return CommandResult::Rejected(error);
        }
        if !self.devices.contains_key(&device.name) && self.devices.len() >= FENCE_DEVICE_COUNT_MAX
        {
            return CommandResult::Rejected(format!(
                "the cluster has {FENCE_DEVICE_COUNT_MAX} fence devices already; remove one first"
            ));
        }
        self.devices.insert(device.name.clone(), device);
        CommandResult::Ok
    }

    pub(crate) fn remove(&mut self, name: &str) -> CommandResult {
        match self.devices.remove(name) {
            Some(_) => CommandResult::Ok,
            None => CommandResult::Rejected(format!("no fence device named {name}")),
        }
    }

    pub(crate) fn replace(&mut self, devices: Vec<FenceDevice>) -> CommandResult {
        if devices.len() > FENCE_DEVICE_COUNT_MAX {
            return CommandResult::Rejected(format!(
                "{} fence devices are more than {FENCE_DEVICE_COUNT_MAX}",
                devices.len()
            ));
        }
        let mut replaced = BTreeMap::new();
        for device in devices {
            if let Err(error) = device.check() {
                return CommandResult::Rejected(error);
            }
            if replaced.contains_key(&device.name) {
                return CommandResult::Rejected(format!(
                    "fence device {} is declared twice",
                    device.name
                ));
            }
            replaced.insert(device.name.clone(), device);
        }
        self.devices = replaced;
        CommandResult::Ok
    }

    /// Feeds one recorded event (after the incident book saw it).
    pub(crate) fn on_event(&mut self, event: &Event, incidents: &Incidents) {
        let EventKind::Fencing {
            node,
            outcome,
            reason,
            detail,
        } = &event.kind
        else {
            return;
        };
        if *outcome == FenceOutcome::Started {
            let incident = incidents
                .list
                .iter()
                .rev()
                .find(|i| !i.closed && i.cause == IncidentCause::NodeLost { node: *node })
                .map(|i| i.id);
            self.history.push_back(FenceRecord {
                node: *node,
                reason: reason.clone(),
                incident,
                started_at: event.at_ms,
                finished_at: None,
                outcome: *outcome,
                detail: detail.clone(),
            });
            while self.history.len() > FENCE_HISTORY_MAX {
                self.history.pop_front();
            }
            return;
        }
        let open = self
            .history
            .iter_mut()
            .rev()
            .find(|r| r.node == *node && r.finished_at.is_none());
        if let Some(record) = open {
            record.finished_at = Some(event.at_ms);
            record.outcome = *outcome;
            record.detail = detail.clone();
        }
    }
}

#[cfg(test)]
mod tests;
