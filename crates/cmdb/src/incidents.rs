//! Incidents: where the time of each failover went (issue 13, point 5).
//!
//! A pure state machine fed, in log order, with every event the cmdb records and every
//! operation report it applies, all stamped with the time the command carries; it keeps
//! one record per failover with the time of each phase: fault detected, node declared down,
//! lease ended (the master's write-off), stop confirmed, start granted, first healthy
//! report. It reads no clock and keeps a bounded number of records, so every replica
//! derives the same incidents from the same log and a new master simply goes on.

use std::collections::VecDeque;

use model::{Event, EventKind, Millis, NodeHealth, NodeId, ResourceId, ResourceState};
use serde::{Deserialize, Serialize};

use crate::limits::{INCIDENT_RESOURCES_MAX, INCIDENTS_MAX};
use crate::resources::OperationReport;

/// What started a failover.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IncidentCause {
    /// A node stopped answering; its resources move elsewhere.
    NodeLost { node: NodeId },
    /// A resource failed on a node; it restarts there or elsewhere.
    ResourceFailed { resource: ResourceId, node: NodeId },
}

/// One resource's way through a failover.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentResource {
    /// The resource.
    pub resource: ResourceId,
    /// When the cmdb recorded it stopped where it failed (a report, or the write-off of a
    /// down node once its lease had ended).
    pub stopped_at: Option<Millis>,
    /// Where the master granted it again, and when.
    pub started_on: Option<NodeId>,
    /// When the grant was written.
    pub started_at: Option<Millis>,
    /// The first report that found it running under the new grant.
    pub healthy_at: Option<Millis>,
    /// The master gave it up (no node could run it).
    pub given_up: bool,
}

impl IncidentResource {
    fn new(resource: ResourceId) -> IncidentResource {
        IncidentResource {
            resource,
            stopped_at: None,
            started_on: None,
            started_at: None,
            healthy_at: None,
            given_up: false,
        }
    }

    fn done(&self) -> bool {
        self.healthy_at.is_some() || self.given_up
    }
}

/// One failover, with the time of each phase (the cmdb's timestamps, ms since the epoch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// Increases by one per incident.
    pub id: u64,
    /// What started it.
    pub cause: IncidentCause,
    /// When the fault was detected: the node turned suspect, or the failure was recorded.
    pub detected_at: Millis,
    /// When the node was declared down (node losses only).
    pub down_at: Option<Millis>,
    /// When the master wrote the node's grants off because its lease had ended.
    pub lease_ended_at: Option<Millis>,
    /// The resources that moved or restarted.
    pub resources: Vec<IncidentResource>,
    /// Every resource is healthy again or given up (or the node ran none).
    pub closed: bool,
}

impl Incident {
    /// The node the failover started on.
    pub fn node(&self) -> NodeId {
        match &self.cause {
            IncidentCause::NodeLost { node } | IncidentCause::ResourceFailed { node, .. } => *node,
        }
    }

    fn involves(&self, resource: &ResourceId) -> bool {
        self.resources.iter().any(|r| &r.resource == resource)
    }

    fn update_closed(&mut self) {
        let resources_done = self.resources.iter().all(IncidentResource::done);
        self.closed = match self.cause {
            IncidentCause::NodeLost { .. } => self.lease_ended_at.is_some() && resources_done,
            IncidentCause::ResourceFailed { .. } => resources_done,
        };
    }
}

/// The incident book: open and closed incidents, newest last, at most `INCIDENTS_MAX`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Incidents {
    /// The incidents, oldest first.
    pub list: VecDeque<Incident>,
    /// The id the next incident gets.
    pub next_id: u64,
}

impl Incidents {
    /// Feed one recorded event.
    pub fn on_event(&mut self, event: &Event) {
        let at = event.at_ms;
        match &event.kind {
            EventKind::NodeHealth { node, to, .. } => self.on_health(*node, *to, at),
            EventKind::ResourceAction {
                resource,
                node,
                action,
                ..
            } => match action.as_str() {
                "lost" => self.on_lost(resource, *node, at),
                "failed" => self.on_failed(resource, *node, at),
                "start" | "restart" => self.on_start(resource, *node, at),
                "give up" => self.on_give_up(resource),
                _ => {}
            },
            _ => {}
        }
    }

    /// Feed one operation report recorded at `at` (the command's time).
    pub fn on_report(&mut self, node: NodeId, report: &OperationReport, at: Millis) {
        for incident in self.list.iter_mut().filter(|i| !i.closed) {
            let failed_here = matches!(&incident.cause,
                IncidentCause::ResourceFailed { resource, node: at_node }
                    if *resource == report.resource && *at_node == node);
            let Some(entry) = incident
                .resources
                .iter_mut()
                .find(|r| r.resource == report.resource)
            else {
                continue;
            };
            let stopped = report.state_after == ResourceState::Stopped;
            if failed_here && entry.stopped_at.is_none() && entry.started_at.is_none() && stopped {
                entry.stopped_at = Some(at);
            }
            let healthy = report.ok && report.state_after == ResourceState::Running;
            if healthy && entry.started_on == Some(node) && entry.healthy_at.is_none() {
                entry.healthy_at = Some(at);
            }
            incident.update_closed();
        }
    }

    fn on_health(&mut self, node: NodeId, to: NodeHealth, at: Millis) {
        let open = self.open_node_loss(node);
        match (to, open) {
            (NodeHealth::Suspect, None) => self.open(IncidentCause::NodeLost { node }, at),
            (NodeHealth::Down, None) => {
                self.open(IncidentCause::NodeLost { node }, at);
                if let Some(incident) = self.list.back_mut() {
                    incident.down_at = Some(at);
                }
            }
            (NodeHealth::Down, Some(index)) => {
                let incident = &mut self.list[index];
                incident.down_at.get_or_insert(at);
            }
            (NodeHealth::Online, Some(index)) => {
                // A suspect node that came back before it was declared down was no
                // failover: forget it. One declared down that ran nothing ends here.
                if self.list[index].down_at.is_none() {
                    self.list.remove(index);
                } else if self.list[index].resources.is_empty() {
                    self.list[index].closed = true;
                }
            }
            (NodeHealth::Suspect | NodeHealth::Online, _) => {}
        }
    }

    fn on_lost(&mut self, resource: &ResourceId, node: NodeId, at: Millis) {
        let index = match self.open_node_loss(node) {
            Some(index) => index,
            None => {
                self.open(IncidentCause::NodeLost { node }, at);
                self.list.len() - 1
            }
        };
        let incident = &mut self.list[index];
        incident.lease_ended_at.get_or_insert(at);
        incident.down_at.get_or_insert(at);
        if !incident.involves(resource) && incident.resources.len() < INCIDENT_RESOURCES_MAX {
            let mut entry = IncidentResource::new(resource.clone());
            entry.stopped_at = Some(at);
            incident.resources.push(entry);
        }
        incident.update_closed();
    }

    fn on_failed(&mut self, resource: &ResourceId, node: NodeId, at: Millis) {
        let already = self
            .list
            .iter()
            .any(|i| !i.closed && i.involves(resource) && i.node() == node);
        if already {
            return;
        }
        self.open(
            IncidentCause::ResourceFailed {
                resource: resource.clone(),
                node,
            },
            at,
        );
        if let Some(incident) = self.list.back_mut() {
            incident
                .resources
                .push(IncidentResource::new(resource.clone()));
        }
    }

    fn on_start(&mut self, resource: &ResourceId, node: NodeId, at: Millis) {
        for incident in self.list.iter_mut().filter(|i| !i.closed) {
            let Some(entry) = incident
                .resources
                .iter_mut()
                .find(|r| &r.resource == resource && r.started_at.is_none())
            else {
                continue;
            };
            entry.started_on = Some(node);
            entry.started_at = Some(at);
            // A restart in place needs no separate stop report: the failure left it
            // stopped, or the grant's new start replaces it.
            entry.stopped_at.get_or_insert(at);
        }
    }

    fn on_give_up(&mut self, resource: &ResourceId) {
        for incident in self.list.iter_mut().filter(|i| !i.closed) {
            if let Some(entry) = incident
                .resources
                .iter_mut()
                .find(|r| &r.resource == resource && !r.done())
            {
                entry.given_up = true;
            }
            incident.update_closed();
        }
    }

    fn open_node_loss(&self, node: NodeId) -> Option<usize> {
        self.list.iter().rposition(|incident| {
            !incident.closed && incident.cause == IncidentCause::NodeLost { node }
        })
    }

    fn open(&mut self, cause: IncidentCause, at: Millis) {
        self.list.push_back(Incident {
            id: self.next_id,
            cause,
            detected_at: at,
            down_at: None,
            lease_ended_at: None,
            resources: Vec::new(),
            closed: false,
        });
        self.next_id += 1;
        while self.list.len() > INCIDENTS_MAX {
            self.list.pop_front();
        }
    }
}

#[cfg(test)]
mod tests;
