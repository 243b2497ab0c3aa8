//! A node's executor wiring, as in `agent::resources` (whose feed functions it calls):
//! assignments and doubts (`Event::Unconfirmed`) from the local replica whenever they
//! change, then a lease once the replica has applied the master's commit index of the
//! grant; the executor's commands to the simulated resource agents; its reports carried to
//! the master in order, in a write session of their own, with retries.

use std::collections::BTreeMap;

use agent::resources::{assignments_of, to_report, unconfirmed_of};
use executor::{Assignment, Command, Event};
use model::{BootMs, NodeId};

use crate::net::Msg;
use crate::node::{WATCHDOG_LEAD_MS, clocks};
use crate::raft::{Entry, Origin};
use crate::world::{Ev, Timer, World};

impl World {
    /// Hands the executor what changed: assignments first, then doubts, then a lease that
    /// is due (`resources::feed`).
    pub(crate) fn feed_executor(&mut self, node: NodeId) {
        let state = self.nodes.get_mut(&node).expect("known node");
        if !state.up {
            return;
        }
        let current = assignments_of(&state.db.resources, node);
        let unconfirmed = unconfirmed_of(&state.db.resources, node);
        if state.feed.last.as_ref() != Some(&current) {
            state.feed.last = Some(current.clone());
            self.executor_event(node, Event::Assignments(current));
        }
        let state = self.nodes.get_mut(&node).expect("known node");
        if state.feed.last_unconfirmed.as_ref() != Some(&unconfirmed) {
            state.feed.last_unconfirmed = Some(unconfirmed.clone());
            self.executor_event(node, Event::Unconfirmed(unconfirmed));
        }
        let state = self.nodes.get_mut(&node).expect("known node");
        let Some((valid_until, required_index)) = state.feed.pending else {
            return;
        };
        if state.applied < required_index {
            return;
        }
        state.feed.pending = None;
        state.feed.lease_until = valid_until;
        let applied = state.applied;
        self.note(|| format!("node {node} executor lease until {valid_until} (applied {applied})"));
        let state = self.nodes.get_mut(&node).expect("known node");
        // The runtime records the lease for the watchdogs before the executor acts on it.
        state.lease_file = valid_until;
        let wake = valid_until
            .saturating_sub(WATCHDOG_LEAD_MS)
            .saturating_sub(self.now);
        self.at(wake, Ev::Watchdog(node));
        let valid_until = BootMs(valid_until);
        self.executor_event(node, Event::Lease { valid_until });
    }

    /// One event into the real executor, and its commands carried out.
    pub(crate) fn executor_event(&mut self, node: NodeId, event: Event) {
        let now = self.now;
        let state = self.nodes.get_mut(&node).expect("known node");
        let commands = state.executor.handle(event, clocks(now));
        for command in commands {
            match command {
                Command::Run {
                    resource,
                    operation,
                    fencing_token,
                    timeout,
                    started_at,
                    ..
                } => {
                    let run = crate::agents::Run {
                        resource,
                        operation,
                        fencing_token,
                        timeout,
                        started_at,
                    };
                    self.begin_operation(node, run);
                }
                Command::Cancel { .. } => {}
                Command::Report(record) => {
                    let score = self.promotion_score(node, &record);
                    self.forward(
                        node,
                        cmdb::Command::RecordOperation {
                            node,
                            report: to_report(record),
                            at_ms: now,
                        },
                    );
                    if let Some(command) = score {
                        self.forward(node, command);
                    }
                }
            }
        }
    }

    /// Queues `command` behind the node's earlier reports, in its report session.
    fn forward(&mut self, node: NodeId, command: cmdb::Command) {
        let now = self.now;
        let state = self.nodes.get_mut(&node).expect("known node");
        let seq = state.forwarder.next_seq;
        state.forwarder.next_seq += 1;
        let command = cmdb::Command::Session {
            session: state.forwarder.session,
            seq,
            floor: seq,
            at_ms: now,
            command: Box::new(command),
        };
        state.forwarder.queue.push_back(command);
        if state.forwarder.in_flight.is_none() {
            self.send_next_report(node);
        }
    }

    /// The promotion score an instance of a promotable resource sets after a successful
    /// start (as Stateful does with `crm_attribute`), or clears after a stop: a score
    /// picked by node and token, without a draw of the random stream.
    fn promotion_score(
        &self,
        node: NodeId,
        record: &executor::OperationRecord,
    ) -> Option<cmdb::Command> {
        if !self.config.promotable
            || !self
                .reference
                .resources
                .promotable
                .contains_key(&record.resource)
        {
            return None;
        }
        let score = match (record.operation, record.outcome.is_ok()) {
            (executor::OperationKind::Start, true) => {
                Some(i64::try_from((node.0 * 37 + record.fencing_token) % 10).unwrap_or(0) + 1)
            }
            (executor::OperationKind::Stop, _) => None,
            _ => return None,
        };
        Some(cmdb::Command::SetPromotionScore {
            node,
            resource: record.resource.clone(),
            score,
        })
    }

    /// Sends the oldest report: proposed here on the master, else to the known master.
    pub(crate) fn send_next_report(&mut self, node: NodeId) {
        let state = self.nodes.get_mut(&node).expect("known node");
        if state.forwarder.in_flight.is_some() {
            return;
        }
        let Some(command) = state.forwarder.queue.front().cloned() else {
            return;
        };
        let req = state.forwarder.next_req;
        state.forwarder.next_req += 1;
        state.forwarder.in_flight = Some(req);
        if state.raft.leading.is_some() {
            self.propose(
                node,
                Entry::Command(command),
                Origin::Forwarded { from: node, req },
            );
            return;
        }
        let Some(master) = state.raft.leader else {
            self.report_failed(node, req);
            return;
        };
        self.send(
            node,
            master,
            Msg::Write {
                from: node,
                req,
                command,
            },
        );
        self.timer(
            node,
            crate::node::FORWARD_TIMEOUT_MS,
            Timer::ForwardTimeout(req),
        );
    }

    /// The answer to a forwarded report.
    pub(crate) fn on_write_ack(&mut self, node: NodeId, req: u64, ok: bool) {
        if !ok {
            self.report_failed(node, req);
            return;
        }
        let state = self.nodes.get_mut(&node).expect("known node");
        if state.forwarder.in_flight != Some(req) {
            return;
        }
        state.forwarder.in_flight = None;
        state.forwarder.attempt = 0;
        state.forwarder.queue.pop_front();
        self.send_next_report(node);
    }

    /// A report was not delivered: try again after a backoff, or drop it after the
    /// last attempt (the next monitor repairs what it said).
    pub(crate) fn report_failed(&mut self, node: NodeId, req: u64) {
        let state = self.nodes.get_mut(&node).expect("known node");
        if state.forwarder.in_flight != Some(req) {
            return;
        }
        state.forwarder.attempt += 1;
        if state.forwarder.attempt >= crate::node::REPORT_ATTEMPTS {
            state.forwarder.queue.pop_front();
            state.forwarder.attempt = 0;
        }
        let backoff = 20 * (u64::from(state.forwarder.attempt.min(10)) + 1);
        self.timer(node, backoff, Timer::ReportRetry);
        let state = self.nodes.get_mut(&node).expect("known node");
        state.forwarder.in_flight = None;
    }

    /// The resources an executor's earlier life left running here, from their state
    /// directories (the simulated processes still alive).
    pub(crate) fn found_records(&self, node: NodeId) -> Vec<Assignment> {
        let mut found = BTreeMap::new();
        for ((on, id), process) in &self.procs.alive {
            if *on == node {
                let resource = process.resource.clone();
                found.insert(
                    id.clone(),
                    Assignment {
                        resource,
                        fencing_token: process.token,
                    },
                );
            }
        }
        found.into_values().collect()
    }

    /// The grants an executor's earlier life cleanly stopped under here, from the stop
    /// records in its state directories.
    pub(crate) fn spent_records(&self, node: NodeId) -> Vec<Assignment> {
        self.procs
            .stopped
            .iter()
            .filter(|((on, _), _)| *on == node)
            .map(|(_, record)| record.clone())
            .collect()
    }
}
