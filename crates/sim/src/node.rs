//! One node's agent, as the real one is wired (`agent::node`, `agent::resources`,
//! `agent::master`): the master role's runtime around the real sans-IO
//! `agent::master::machine::Master`, the heartbeat sender and the master's answer with its
//! lease grant, the feed that hands assignments and leases to the real
//! `executor::Executor`, and the report forwarder.
//!
//! What survives a crash is what the real agent keeps on disk: the replica and its applied
//! index, the Raft term, and the lease file the watchdogs read.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use agent::contact::{LeaderContact, lease_end};
use agent::master::machine::{self, Master, MasterConfig, NODE_LEASE, Now, RaftFacts, grant_age};
use cmdb::ClusterDb;
use executor::{Assignment, Executor, ExecutorConfig, Unconfirmed};
use membership::DetectorConfig;
use model::{BootMs, Millis, NodeHealth, NodeId, NodeInfo};

use crate::config::SimConfig;
use crate::net::Msg;
use crate::raft::{Entry, Origin, RaftView};
use crate::world::{Ev, Timer, World};

/// How long a report forwarded to the master may go unanswered (`FORWARD_TIMEOUT`).
pub(crate) const FORWARD_TIMEOUT_MS: Millis = 10_000;
/// Attempts to deliver one report (`REPORT_ATTEMPTS`).
pub(crate) const REPORT_ATTEMPTS: u32 = 100;
/// Quick lease retries after a failover (`LEASE_RETRY`, `LEASE_RETRY_WINDOW`).
const LEASE_RETRY_MS: Millis = 15;
const LEASE_RETRY_WINDOW_MS: Millis = 500;
/// Heartbeats the master loop's channel holds.
const HEARTBEAT_QUEUE_MAX: usize = 1024;
/// The lease watchdogs act this long before the lease ends.
pub(crate) const WATCHDOG_LEAD_MS: Millis = 100;

/// The master loop's runtime state: what it is waiting for, and what waits for it.
#[derive(Debug)]
pub(crate) struct MasterRuntime {
    pub(crate) machine: Master,
    commands: VecDeque<machine::Command>,
    /// Results and heartbeats not yet handed to the machine (results first).
    events: VecDeque<machine::Event>,
    blocked: Option<Blocked>,
    running: bool,
    next_voters_id: u64,
    pub(crate) view: BTreeMap<NodeId, (NodeHealth, BootMs)>,
}

impl MasterRuntime {
    /// A result for the machine, handed over at the loop's next turn.
    pub(crate) fn push_event(&mut self, event: machine::Event) {
        self.events.push_back(event);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blocked {
    Write(u64),
    Voters(u64),
}

/// The executor's inputs: the last assignments and doubts it got, the lease waiting for
/// the replica to catch up, and the lease it holds.
#[derive(Debug, Default)]
pub(crate) struct Feed {
    pub(crate) last: Option<Vec<Assignment>>,
    pub(crate) last_unconfirmed: Option<Vec<Unconfirmed>>,
    pub(crate) pending: Option<(Millis, u64)>,
    pub(crate) lease_until: Millis,
}

/// Reports on their way to the master, in order, each in the forwarder's own write
/// session (`resources::forward_reports`): a retried report is recorded once.
#[derive(Debug, Default)]
pub(crate) struct Forwarder {
    /// This agent run's session.
    pub(crate) session: u64,
    /// The sequence number the next report takes.
    pub(crate) next_seq: u64,
    pub(crate) queue: VecDeque<cmdb::Command>,
    pub(crate) in_flight: Option<u64>,
    pub(crate) attempt: u32,
    pub(crate) next_req: u64,
}

/// One node.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) id: NodeId,
    pub(crate) generation: u64,
    pub(crate) up: bool,
    pub(crate) paused: bool,
    pub(crate) deferred: Vec<Ev>,
    pub(crate) db: ClusterDb,
    pub(crate) applied: u64,
    /// Set when the replica applied entries since the last check.
    pub(crate) replica_changed: bool,
    pub(crate) raft: RaftView,
    /// The real agent's record of leader contacts and of this node's lease grants as
    /// master.
    pub(crate) contact: LeaderContact,
    pub(crate) master: MasterRuntime,
    pub(crate) executor: Executor,
    pub(crate) feed: Feed,
    pub(crate) forwarder: Forwarder,
    pub(crate) addressed: Option<(NodeId, u64, Millis)>,
    /// The lease recorded for the watchdogs (`executor-lease.json`).
    pub(crate) lease_file: Millis,
}

pub(crate) fn node_info(id: NodeId) -> NodeInfo {
    NodeInfo {
        name: format!("n{}", id.0),
        peer_addr: format!("sim-{}:7000", id.0),
        api_addr: format!("sim-{}:7001", id.0),
    }
}

impl Node {
    /// A node's agent starting at `now` with nothing on disk.
    pub(crate) fn new(id: NodeId, config: &SimConfig, now: Millis) -> Node {
        Node::started(id, 0, config, now)
    }

    /// A node's agent in its `generation`th run, starting at `now` with nothing on disk.
    fn started(id: NodeId, generation: u64, config: &SimConfig, now: Millis) -> Node {
        let master = MasterConfig {
            node: id,
            detector: DetectorConfig::default(),
            voters_max: config.voters_max,
            witness: config.witness,
            bootstrap: None,
        };
        Node {
            id,
            generation,
            up: true,
            paused: false,
            deferred: Vec::new(),
            db: ClusterDb::default(),
            applied: 0,
            replica_changed: false,
            raft: RaftView {
                last_contact: now,
                timeout: 150 + id.0 * 37 % 150,
                ..RaftView::default()
            },
            contact: LeaderContact::new(BootMs(now)),
            master: MasterRuntime {
                machine: Master::new(master),
                commands: VecDeque::new(),
                events: VecDeque::new(),
                blocked: None,
                running: false,
                next_voters_id: 1,
                view: BTreeMap::new(),
            },
            executor: Executor::new(ExecutorConfig::default()),
            feed: Feed::default(),
            forwarder: Forwarder {
                next_req: 1,
                // Unique per node and run, as the agent's random one is.
                session: (id.0 << 32) | generation,
                next_seq: 1,
                ..Forwarder::default()
            },
            addressed: None,
            lease_file: 0,
        }
    }

    /// The same node after a crash and restart: only what is on disk remains.
    pub(crate) fn restarted(old: &Node, config: &SimConfig, now: Millis) -> Node {
        let mut node = Node::started(old.id, old.generation + 1, config, now);
        node.db = old.db.clone();
        node.applied = old.applied;
        node.raft.term = old.raft.term;
        node.lease_file = old.lease_file;
        node
    }
}

impl World {
    /// Messages to a node's agent.
    pub(crate) fn on_message(&mut self, node: NodeId, msg: Msg) {
        match msg {
            Msg::Append { .. } => self.on_append(node, msg),
            Msg::AppendAck { .. } => self.on_append_ack(node, msg),
            Msg::Heartbeat {
                from,
                term,
                older_contact_age_ms,
                sent_at,
            } => {
                self.on_heartbeat(node, from, term, older_contact_age_ms, sent_at);
            }
            Msg::HeartbeatAck {
                is_master,
                quorum_age_ms,
                commit_index,
                sent_at,
            } => {
                self.on_heartbeat_ack(node, is_master, quorum_age_ms, commit_index, sent_at);
            }
            Msg::Write { from, req, command } => {
                self.propose(
                    node,
                    Entry::Command(command),
                    Origin::Forwarded { from, req },
                );
            }
            Msg::WriteAck { req, ok } => self.on_write_ack(node, req, ok),
        }
    }

    /// The master's grant age, as the peer handler computes it (`master::quorum_ack_age`).
    pub(crate) fn grant(&self, node: NodeId) -> Option<u64> {
        let leading = self.nodes[&node].raft.leading.is_some();
        let sole_voter = self.raft.voters.len() == 1 && self.raft.voters.contains(&node);
        let age = self.quorum_ack_age(node).map(Duration::from_millis);
        grant_age(leading, sole_voter, age)
    }

    /// The peer handler: pass the heartbeat to the master loop, answer with a lease grant,
    /// recorded before the answer leaves and refused to a node the loop judged down
    /// (`LeaderContact::grant`).
    fn on_heartbeat(&mut self, node: NodeId, from: NodeId, term: u64, age: u64, sent_at: Millis) {
        let now = self.now;
        let state = &self.nodes[&node];
        let is_master = state.raft.leading.is_some();
        let current_term = state.raft.term;
        let quorum_age_ms = self.grant(node).filter(|_| is_master).filter(|_| {
            let contact = &self.nodes[&node].contact;
            contact.grant(current_term, from.0, BootMs(now))
        });
        self.note(|| {
            format!("node {node} hears {from} (term {term}, sent {sent_at}): {quorum_age_ms:?}")
        });
        let state = self.nodes.get_mut(&node).expect("known node");
        if state.master.events.len() < HEARTBEAT_QUEUE_MAX {
            let older_contact = BootMs(now.saturating_sub(age));
            state
                .master
                .events
                .push_back(machine::Event::Heartbeat(machine::Beat {
                    node: from,
                    term,
                    older_contact,
                    // Simulated nodes run on time: no event-loop lag to report.
                    loop_lag_ms: 0,
                    received: BootMs(now),
                }));
        }
        if let Some(age) = quorum_age_ms {
            state.contact.record(state.raft.term, BootMs(now));
            crate::invariants::fenced::granted(self, from, lease_until(sent_at, age));
        }
        let state = self.nodes.get_mut(&node).expect("known node");
        let commit_index = state.applied;
        self.send(
            node,
            from,
            Msg::HeartbeatAck {
                is_master,
                quorum_age_ms,
                commit_index,
                sent_at,
            },
        );
        self.drive_master(node);
    }

    fn on_heartbeat_ack(
        &mut self,
        node: NodeId,
        is_master: bool,
        quorum_age_ms: Option<u64>,
        commit_index: u64,
        sent_at: Millis,
    ) {
        let now = self.now;
        let state = self.nodes.get_mut(&node).expect("known node");
        let retry_soon = state
            .addressed
            .is_some_and(|(_, _, since)| now < since + LEASE_RETRY_WINDOW_MS);
        match quorum_age_ms {
            Some(age) => {
                state.feed.pending = Some((lease_until(sent_at, age), commit_index));
                self.feed_executor(node);
            }
            None if is_master && retry_soon => {
                self.timer(node, LEASE_RETRY_MS, Timer::Heartbeat { periodic: false });
            }
            None => {}
        }
    }

    /// A follower saw a new master: heartbeat at once (`node::send_heartbeats`).
    pub(crate) fn new_master_seen(&mut self, node: NodeId) {
        self.send_heartbeat(node);
    }

    /// The heartbeat sender: to the master, or on the master, its own lease.
    pub(crate) fn send_heartbeat(&mut self, node: NodeId) {
        let now = self.now;
        let state = self.nodes.get_mut(&node).expect("known node");
        let Some(master) = state.raft.leader else {
            return;
        };
        let term = state.raft.term;
        if state
            .addressed
            .is_none_or(|(m, t, _)| (m, t) != (master, term))
        {
            state.addressed = Some((master, term, now));
        }
        let retry_soon = state
            .addressed
            .is_some_and(|(_, _, since)| now < since + LEASE_RETRY_WINDOW_MS);
        if master != node {
            let newest = state.contact.newest_before(term).0;
            let older_contact_age_ms = now.saturating_sub(newest);
            let beat = Msg::Heartbeat {
                from: node,
                term,
                older_contact_age_ms,
                sent_at: now,
            };
            self.send(node, master, beat);
            return;
        }
        let Some(age) = self.grant(node) else {
            if retry_soon {
                self.timer(node, LEASE_RETRY_MS, Timer::Heartbeat { periodic: false });
            }
            return;
        };
        let state = self.nodes.get_mut(&node).expect("known node");
        state.contact.record(term, BootMs(now));
        state.feed.pending = Some((lease_until(now, age), state.applied));
        crate::invariants::fenced::granted(self, node, lease_until(now, age));
        self.feed_executor(node);
    }
}

impl World {
    /// The master loop's tick: skipped while a write or voter change is awaited, as the
    /// real loop's interval is (it is blocked on the await). While leading, the machine
    /// handles it inside `LeaderContact::judge`, as `master::MasterLoop` does: it gets the
    /// grants as data, and the nodes it judges down are refused leases.
    pub(crate) fn master_tick(&mut self, node: NodeId) {
        let state = &self.nodes[&node];
        if state.master.blocked.is_some() || state.master.running {
            return;
        }
        let timed = crate::scale::Timed::start(&self.meter, node);
        let raft = self.facts(node);
        let now = clocks(self.now);
        let state = self.nodes.get_mut(&node).expect("known node");
        let machine = &mut state.master.machine;
        let (db, members) = (&state.db, raft.members.clone());
        let commands = if raft.leading {
            let mut commands = Vec::new();
            state.contact.judge(raft.term, |granted| {
                let granted = (db.nodes.keys().chain(members.keys()))
                    .filter_map(|id| Some((*id, granted(id.0)?)))
                    .collect();
                commands = machine.handle(machine::Event::Tick { raft, granted }, db, now);
                machine.judged()
            });
            commands
        } else {
            let granted = BTreeMap::new();
            machine.handle(machine::Event::Tick { raft, granted }, db, now)
        };
        state.master.commands.extend(commands);
        timed.stop(&mut self.meter);
        self.drive_master(node);
    }

    /// The members acknowledging `node`'s Raft messages within the detector's `down_after`,
    /// while it leads.
    fn raft_acked(&self, node: NodeId) -> BTreeSet<NodeId> {
        self.raft_acked_within(node, DetectorConfig::default().down_after)
    }

    /// The members acknowledging `node`'s Raft messages within `within`, while it leads.
    fn raft_acked_within(&self, node: NodeId, within: std::time::Duration) -> BTreeSet<NodeId> {
        let within = within.as_millis() as Millis;
        let since = self.now.saturating_sub(within);
        (self.nodes[&node].raft.leading.as_ref())
            .map(|leading| leading.acked_since(since))
            .unwrap_or_default()
    }

    fn facts(&self, node: NodeId) -> RaftFacts {
        let state = &self.nodes[&node];
        let members = self
            .raft
            .members()
            .into_iter()
            .map(|id| (id, node_info(id)))
            .collect();
        RaftFacts {
            term: state.raft.term,
            leading: state.raft.leading.is_some(),
            voters: self.raft.voters.clone(),
            learners: self.raft.learners.clone(),
            configs: vec![self.raft.voters.clone()],
            members,
            applied_index: state.applied,
            own_older_contact: state.contact.newest_before(state.raft.term),
            older_leader: (state.contact.newest_leader_before(state.raft.term))
                .map(|(leader, at)| (NodeId(leader), at)),
            raft_acked: self.raft_acked(node),
            raft_fresh: self.raft_acked_within(node, DetectorConfig::default().suspect_after),
        }
    }

    /// Runs the master loop until it waits: events to the machine, its commands in order.
    pub(crate) fn drive_master(&mut self, node: NodeId) {
        let now = self.now;
        let state = self.nodes.get_mut(&node).expect("known node");
        if state.master.running {
            return;
        }
        state.master.running = true;
        loop {
            let state = self.nodes.get_mut(&node).expect("known node");
            if !state.up || state.master.blocked.is_some() {
                break;
            }
            if let Some(command) = state.master.commands.pop_front() {
                self.execute_master(node, command);
                continue;
            }
            let Some(event) = state.master.events.pop_front() else {
                break;
            };
            let timed = crate::scale::Timed::start(&self.meter, node);
            let commands = state.master.machine.handle(event, &state.db, clocks(now));
            timed.stop(&mut self.meter);
            let state = self.nodes.get_mut(&node).expect("known node");
            state.master.commands.extend(commands);
        }
        self.nodes
            .get_mut(&node)
            .expect("known node")
            .master
            .running = false;
    }

    fn execute_master(&mut self, node: NodeId, command: machine::Command) {
        let state = self.nodes.get_mut(&node).expect("known node");
        match command {
            machine::Command::Publish(view) => state.master.view = view,
            machine::Command::Write { id, command } => {
                state.master.blocked = Some(Blocked::Write(id));
                self.propose(node, Entry::Command(command), Origin::Master(id));
            }
            machine::Command::ChangeVoters { voters } => {
                let id = state.master.next_voters_id;
                state.master.next_voters_id += 1;
                state.master.blocked = Some(Blocked::Voters(id));
                let timeout =
                    u64::try_from(machine::MEMBERSHIP_CHANGE_TIMEOUT.as_millis()).expect("fits");
                self.timer(node, timeout, Timer::VotersTimeout(id));
                self.propose(node, Entry::Voters(voters), Origin::Voters(id));
            }
            // As the runtime, which runs each fence in a task of its own (`crate::fence`).
            machine::Command::Fence {
                id,
                node: target,
                run,
            } => self.start_fence(node, id, target, run),
        }
    }

    /// A result the master loop awaited: unblock it and hand the result over first.
    fn master_reply(&mut self, node: NodeId, awaited: Blocked, event: machine::Event) {
        let state = self.nodes.get_mut(&node).expect("known node");
        if state.master.blocked != Some(awaited) {
            return;
        }
        state.master.blocked = None;
        state.master.events.push_front(event);
        if !state.master.running {
            self.drive_master(node);
        }
    }

    pub(crate) fn voters_timeout(&mut self, node: NodeId, id: u64) {
        let result = Err("voter change did not commit in time".to_string());
        self.master_reply(
            node,
            Blocked::Voters(id),
            machine::Event::VotersChanged { result },
        );
    }

    /// A proposal of `node` committed.
    pub(crate) fn proposal_done(
        &mut self,
        node: NodeId,
        origin: Origin,
        result: cmdb::CommandResult,
    ) {
        match origin {
            Origin::Master(id) => {
                let event = machine::Event::WriteDone {
                    id,
                    result: Ok(result),
                };
                self.master_reply(node, Blocked::Write(id), event);
            }
            Origin::Voters(id) => {
                let event = machine::Event::VotersChanged { result: Ok(()) };
                self.master_reply(node, Blocked::Voters(id), event);
            }
            Origin::Forwarded { from, req } if from == node => self.on_write_ack(node, req, true),
            Origin::Forwarded { from, req } => {
                self.send(node, from, Msg::WriteAck { req, ok: true })
            }
            Origin::Operator | Origin::Blank => {}
        }
    }

    /// A proposal of `node` will not commit (not the leader, or deposed).
    pub(crate) fn proposal_failed(&mut self, node: NodeId, origin: Origin) {
        match origin {
            Origin::Master(id) => {
                let result = Err("not the leader".to_string());
                let event = machine::Event::WriteDone { id, result };
                self.master_reply(node, Blocked::Write(id), event);
            }
            Origin::Voters(id) => {
                let result = Err("not the leader".to_string());
                let event = machine::Event::VotersChanged { result };
                self.master_reply(node, Blocked::Voters(id), event);
            }
            Origin::Forwarded { from, req } if from == node => self.on_write_ack(node, req, false),
            Origin::Forwarded { from, req } => {
                self.send(node, from, Msg::WriteAck { req, ok: false })
            }
            Origin::Operator | Origin::Blank => {}
        }
    }
}

/// The simulated clock as both of the agent's clocks (no wall-clock steps are simulated).
pub(crate) fn clocks(now: Millis) -> Now {
    Now {
        boot: BootMs(now),
        wall: now,
    }
}

/// The end of a lease granted on a heartbeat sent at `sent_at` (`contact::lease_end`).
fn lease_until(sent_at: Millis, quorum_age_ms: u64) -> Millis {
    let age = Duration::from_millis(quorum_age_ms);
    lease_end(BootMs(sent_at), NODE_LEASE, age).0
}
