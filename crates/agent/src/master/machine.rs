//! The master role as a sans-IO state machine: [`Event`]s and `now` in, [`Command`]s out
//! (like the executor's `Executor::handle` and openraft's `Engine`).
//!
//! It decides; the runtime (`master::MasterLoop`, or the simulator) does the IO: it reads
//! the Raft facts into [`RaftFacts`], carries out the commands in order, and answers each
//! write and voter change with [`Event::WriteDone`] or [`Event::VotersChanged`].
//! Decisions made here: cluster bootstrap and the `master_elected` event on a new term,
//! failure detection (`membership::Detector`), node records for new Raft members, the
//! dynamic-quorum policy (`membership::plan_quorum`, one change at a time), the lease facts
//! of the term (`contact`), the judgement of node health with this term's lease grants, and
//! scheduling rounds (`placement::round`).
//!
//! Two clocks come in with every event ([`Now`]): the boot clock for the detector, the
//! term's start and leases (a wall-clock step moves none of them), and the wall clock for
//! event timestamps and the scheduler (moves expire at times people gave).
//!
//! A round rests on the state the previous round's writes produced: no round (and no
//! voter change) is planned while a write or a voter change of this master is in flight.
//! A node that is not the master, or no longer is, emits nothing.
//!
//! This module must never do IO or read a clock.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cmdb::{ClusterDb, CommandResult, TokenKind};
pub use executor::Now;
use membership::{Detector, DetectorConfig, QuorumChange, QuorumInput, plan_quorum};
use model::{BootMs, EventKind, NodeHealth, NodeId, NodeInfo, NodeRole};
use tracing::{info, warn};

use crate::contact::{LeaseFacts, older_leaders_bound, scheduling_health};
pub use crate::limits::{
    LEASE_MARGIN, MASTER_TICK, MEMBERSHIP_CHANGE_TIMEOUT, NODE_LEASE, QUORUM_FRESH,
    SCHEDULE_INTERVAL_MAX, UNHEARD_GRACE, UNHEARD_VOTER_GRACE,
};

/// What the master does not learn from events: who it is and how it judges.
#[derive(Clone, Debug)]
pub struct MasterConfig {
    /// This node.
    pub node: NodeId,
    /// The failure detector's timing.
    pub detector: DetectorConfig,
    /// The most voters the quorum policy keeps.
    pub voters_max: usize,
    /// Whether the node config names a witness: then both members of a two-node cluster
    /// vote (`membership::plan_quorum`).
    pub witness: bool,
    /// On the node that created the cluster: what to store on its first term.
    pub bootstrap: Option<BootstrapRecords>,
}

/// The cluster identity and token hashes the bootstrap node stores once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootstrapRecords {
    /// The cluster's name.
    pub cluster_name: String,
    /// Hash of the admin token printed by `init`.
    pub admin_token_hash: String,
    /// Hash of the join token printed by `init`.
    pub join_token_hash: String,
    /// The cluster CA certificate.
    pub ca_cert_pem: String,
    /// The cluster CA key.
    pub ca_key_pem: String,
}

/// What Raft says at a tick, as plain data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftFacts {
    /// The current term.
    pub term: u64,
    /// Whether this node leads the current term.
    pub leading: bool,
    /// Voters of the effective membership (the union while joint).
    pub voters: BTreeSet<NodeId>,
    /// Learners of the effective membership.
    pub learners: BTreeSet<NodeId>,
    /// The voter sets of the membership: two while a change is joint.
    pub configs: Vec<BTreeSet<NodeId>>,
    /// Every member with its addresses.
    pub members: BTreeMap<NodeId, NodeInfo>,
    /// The local replica's applied log index.
    pub applied_index: u64,
    /// The newest time this node heard from a leader of an older term (`contact`).
    pub own_older_contact: BootMs,
    /// The leader of the newest older term this node heard from, and when it last did
    /// (`contact::LeaderContact::newest_leader_before`): a new master counts that node's
    /// silence from then, not from its own election.
    pub older_leader: Option<(NodeId, BootMs)>,
    /// Members that acknowledged this leader's Raft messages within the detector's
    /// `down_after`: their Raft side is alive, even if their agent's heartbeats have not
    /// arrived yet (openraft's per-follower heartbeat metrics).
    pub raft_acked: BTreeSet<NodeId>,
    /// Members that acknowledged this leader's Raft messages within the detector's
    /// `suspect_after`: evidence that a node whose heartbeats are late is alive
    /// (`membership::Detector::tick_with`).
    pub raft_fresh: BTreeSet<NodeId>,
}

/// A node's heartbeat, as it reached this node's peer listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Beat {
    /// The sender.
    pub node: NodeId,
    /// The term of the master it addressed.
    pub term: u64,
    /// Its newest contact with a leader of an older term, on this node's boot clock.
    pub older_contact: BootMs,
    /// The event-loop lag it reported (`lag::LoopLag`), in milliseconds.
    pub loop_lag_ms: u64,
    /// When this node received it, on its boot clock (the machine reads no later than
    /// `now`).
    pub received: BootMs,
}

/// An input of the master.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A node's heartbeat reached this node's peer listener.
    Heartbeat(Beat),
    /// Time passed (every `MASTER_TICK`): what Raft says now, and this term's lease grants.
    Tick {
        /// What Raft says now.
        raft: RaftFacts,
        /// Per node, the newest lease this node granted it as master of `raft.term`, as the
        /// heartbeat handler recorded it (`contact::LeaderContact::grant`). The runtime
        /// hands them over inside `LeaderContact::judge` and gives it [`Master::judged`]
        /// back, so that no grant falls between the judgement and the refusals it sets.
        granted: BTreeMap<NodeId, BootMs>,
    },
    /// A [`Command::Write`] finished: applied with this result, or failed (its fate may
    /// be unknown: it may still commit later).
    WriteDone {
        /// The write's id.
        id: u64,
        /// Its result.
        result: Result<CommandResult, String>,
    },
    /// The [`Command::ChangeVoters`] in flight committed, or failed or timed out.
    VotersChanged {
        /// `Ok` once committed.
        result: Result<(), String>,
    },
    // --- fence ---
    /// A [`Command::Fence`] ended.
    FenceDone {
        /// The fence's id.
        id: u64,
        /// The node fenced.
        node: NodeId,
        /// Whether a level confirmed the node off.
        confirmed: bool,
        /// What each device answered.
        detail: String,
    },
}

/// An output of the master, for the runtime to carry out in order.
#[allow(
    clippy::large_enum_variant,
    reason = "a few commands per tick, moved once: boxing would only add allocations"
)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Propose a cmdb command through Raft; answer with [`Event::WriteDone`].
    Write {
        /// Echoed in [`Event::WriteDone`].
        id: u64,
        /// The command.
        command: cmdb::Command,
    },
    /// Replace the Raft voter set (the others stay learners); answer with
    /// [`Event::VotersChanged`] once committed, or when it failed or timed out
    /// (`MEMBERSHIP_CHANGE_TIMEOUT`).
    ChangeVoters {
        /// The new voters.
        voters: BTreeSet<NodeId>,
    },
    /// The detector's view for the API: per node, health and when last heard (boot clock).
    Publish(BTreeMap<NodeId, (NodeHealth, BootMs)>),
    // --- fence ---
    /// Fence `node`: run `run` to its end and answer with [`Event::FenceDone`]. Does not
    /// hold back the commands after it.
    Fence {
        /// Echoed in [`Event::FenceDone`].
        id: u64,
        /// The node.
        node: NodeId,
        /// Its fencing levels.
        run: resource_agents::fence::levels::FenceRun,
    },
}

/// The master role: see the module documentation.
#[derive(Debug)]
pub struct Master {
    config: MasterConfig,
    /// Per node, the newest contact with older leaders it reported, and for which term;
    /// kept across terms since heartbeats may arrive before the tick that shows the term.
    reports: BTreeMap<NodeId, (u64, BootMs)>,
    /// When a heartbeat of each node last arrived, whether this node led then or not: an
    /// old master that heartbeats here before this node's first tick as master is alive.
    last_beats: BTreeMap<NodeId, BootMs>,
    /// The term this node leads, while it does.
    term: Option<Term>,
    next_write_id: u64,
}

/// What the master keeps for the term it leads.
#[derive(Debug)]
struct Term {
    term: u64,
    started: BootMs,
    detector: Detector,
    /// Nodes heard from during this term. The detector's grace period starts every node
    /// online, but only a node heard from may count towards quorum changes: promoting a
    /// node that is in fact dead would make a voter set that can never commit.
    heard: BTreeSet<NodeId>,
    rounds: RoundTrigger,
    /// Node health as judged at the last tick, lease grants included.
    judged: BTreeMap<NodeId, NodeHealth>,
    writes_in_flight: BTreeSet<u64>,
    voter_change: Option<VoterChange>,
    // --- fence ---
    fencing: fencing::FenceBook,
    /// The nodes the detector holds at suspect on ambiguous evidence, as last logged.
    held: BTreeSet<NodeId>,
}

/// A voter change in flight: what it changes, for the events once it commits.
#[derive(Debug)]
struct VoterChange {
    before: BTreeSet<NodeId>,
    members: BTreeSet<NodeId>,
    after: BTreeSet<NodeId>,
    reason: String,
}

/// When the master last ran the scheduler, and on what.
#[derive(Debug, Default)]
struct RoundTrigger {
    applied: u64,
    health: BTreeMap<NodeId, NodeHealth>,
    at: BootMs,
}

impl Master {
    /// A master role that has not led any term yet.
    pub fn new(config: MasterConfig) -> Master {
        Master {
            config,
            reports: BTreeMap::new(),
            last_beats: BTreeMap::new(),
            term: None,
            next_write_id: 1,
        }
    }

    /// Whether this node acts as master (it saw itself leading at its last tick).
    pub fn is_acting(&self) -> bool {
        self.term.is_some()
    }

    /// Node health as judged at the last tick of the term this node leads (what the
    /// scheduler used, lease grants included); empty while not master. The runtime refuses
    /// leases to the nodes found down (`contact::LeaderContact::judge`).
    pub fn judged(&self) -> BTreeMap<NodeId, NodeHealth> {
        self.term
            .as_ref()
            .map(|led| led.judged.clone())
            .unwrap_or_default()
    }

    /// Applies one event at `now`, reading the local replica `db`; returns what to do.
    pub fn handle(&mut self, event: Event, db: &ClusterDb, now: Now) -> Vec<Command> {
        let mut out = Vec::new();
        match event {
            Event::Heartbeat(beat) => self.heartbeat(beat, now, &mut out),
            Event::Tick { raft, granted } => self.tick(&raft, &granted, db, now, &mut out),
            Event::WriteDone { id, result } => self.write_done(id, result),
            Event::VotersChanged { result } => self.voters_changed(result, now, &mut out),
            Event::FenceDone {
                id,
                node,
                confirmed,
                detail,
            } => self.fence_done(id, node, confirmed, detail, now, &mut out),
        }
        out
    }

    fn heartbeat(&mut self, beat: Beat, now: Now, out: &mut Vec<Command>) {
        let Beat {
            node,
            term,
            older_contact,
            loop_lag_ms,
            received,
        } = beat;
        let received = received.min(now.boot);
        let report = self.reports.entry(node).or_insert((term, BootMs(0)));
        if report.0 != term {
            *report = (term, BootMs(0));
        }
        report.1 = report.1.max(older_contact);
        let last = self.last_beats.entry(node).or_default();
        *last = (*last).max(received);
        let Some(led) = self.term.as_mut() else {
            return;
        };
        led.heard.insert(node);
        led.detector.report_lag(node, loop_lag_ms);
        let transitions: Vec<_> = led
            .detector
            .heartbeat(node, received.0)
            .into_iter()
            .collect();
        self.record(transitions, now, out);
    }

    fn tick(
        &mut self,
        facts: &RaftFacts,
        granted: &BTreeMap<NodeId, BootMs>,
        db: &ClusterDb,
        now: Now,
        out: &mut Vec<Command>,
    ) {
        if !facts.leading {
            if let Some(led) = self.term.take() {
                info!(term = led.term, "No longer master");
            }
            return;
        }
        if self.term.as_ref().map(|led| led.term) != Some(facts.term) {
            self.take_over(facts, db, now, out);
        }
        self.watch(facts, now, out);
        self.register_missing_nodes(facts, db, now, out);
        self.adjust_quorum(facts, now.boot, out);
        self.fence_lost(db, now, out);
        self.judge(facts, granted, db, now.boot);
        self.schedule(facts, db, now, out);
    }

    /// A fresh detector for a new term: every member has a grace period from `now`, as
    /// its heartbeats went to the old master until now, except the old master itself,
    /// whose silence this node has watched as a follower since its last append: a crashed
    /// master is then declared down (and fenced) at once, not `down_after` past the
    /// election. An old master that lives on heartbeats to this one as soon as it learns
    /// of the new term, and a heartbeat ends any silence.
    fn detector_at_take_over(
        &self,
        config: DetectorConfig,
        facts: &RaftFacts,
        now: BootMs,
    ) -> Detector {
        let mut detector = Detector::with_nodes(config, now.0, facts.members.keys().copied());
        if let Some((old, appended)) = facts.older_leader
            && facts.members.contains_key(&old)
            && old != self.config.node
        {
            let beat = self.last_beats.get(&old).copied().unwrap_or_default();
            detector.silent_since(old, appended.max(beat).min(now).0);
        }
        detector
    }

    /// A new term as master: bootstrap the cmdb if needed, announce, start a fresh
    /// detector that gives every member a grace period.
    fn take_over(&mut self, facts: &RaftFacts, db: &ClusterDb, now: Now, out: &mut Vec<Command>) {
        let me = self.config.node;
        info!(node = me.0, term = facts.term, "Became master");
        let detector_config = self.config.detector;
        self.term = Some(Term {
            term: facts.term,
            started: now.boot,
            detector: self.detector_at_take_over(detector_config, facts, now.boot),
            heard: BTreeSet::from([me]),
            rounds: RoundTrigger::default(),
            judged: BTreeMap::new(),
            writes_in_flight: BTreeSet::new(),
            voter_change: None,
            fencing: Default::default(),
            held: BTreeSet::new(),
        });
        if let Some(bootstrap) = self.config.bootstrap.clone()
            && db.meta.name.is_empty()
        {
            // Tokens first, identity last: a replica that sees the identity has the tokens.
            let tokens = [
                (
                    bootstrap.admin_token_hash,
                    TokenKind::Admin,
                    "admin (from init)",
                ),
                (
                    bootstrap.join_token_hash,
                    TokenKind::Join,
                    "join (from init)",
                ),
            ];
            for (hash, kind, label) in tokens {
                let label = label.to_string();
                self.write(
                    cmdb::Command::AddToken {
                        hash,
                        kind,
                        label,
                        at_ms: now.wall,
                    },
                    out,
                );
            }
            let command = cmdb::Command::InitCluster {
                name: bootstrap.cluster_name,
                ca_cert_pem: bootstrap.ca_cert_pem,
                ca_key_pem: bootstrap.ca_key_pem,
                at_ms: now.wall,
            };
            self.write(command, out);
            // A new cluster starts at this build's format: its first members run this
            // build (later formats are raised by `Master::raise_format` as nodes report).
            let format = cmdb::FORMAT_CURRENT;
            self.write(cmdb::Command::SetClusterFormat { format }, out);
        }
        let events = vec![EventKind::MasterElected {
            node: me,
            term: facts.term,
        }];
        let at_ms = now.wall;
        self.write(cmdb::Command::RecordEvents { at_ms, events }, out);
    }

    /// The failure detector's tick: follow the membership, count this node as heard,
    /// record transitions, publish the view.
    fn watch(&mut self, facts: &RaftFacts, now: Now, out: &mut Vec<Command>) {
        let me = self.config.node;
        let (at, boot) = (now, now.boot.0);
        let led = self.term.as_mut().expect("called while leading");
        for id in facts.members.keys() {
            led.detector.track(*id, boot);
        }
        let tracked: Vec<NodeId> = led.detector.nodes().map(|(id, _, _)| id).collect();
        for id in tracked {
            if !facts.members.contains_key(&id) {
                led.detector.untrack(id);
            }
        }
        let mut transitions: Vec<_> = led.detector.heartbeat(me, boot).into_iter().collect();
        transitions.extend(led.detector.tick_with(boot, &facts.raft_fresh));
        let held: BTreeSet<NodeId> = led.detector.held().collect();
        if held != led.held {
            if !held.is_empty() {
                info!(
                    ?held,
                    "Holding late nodes at suspect: their silence is ambiguous"
                );
            }
            led.held = held;
        }
        let view = led
            .detector
            .nodes()
            .map(|(id, health, heard)| (id, (health, BootMs(heard))))
            .collect();
        self.record(transitions, at, out);
        out.push(Command::Publish(view));
    }

    fn record(
        &mut self,
        transitions: Vec<membership::Transition>,
        now: Now,
        out: &mut Vec<Command>,
    ) {
        if transitions.is_empty() {
            return;
        }
        for t in &transitions {
            let (node, silence_ms) = (t.node.0, t.silence_ms);
            info!(node, from = %t.from, to = %t.to, silence_ms, "Node health changed");
        }
        let changes = transitions
            .iter()
            .map(|t| (t.node, t.to, t.silence_ms))
            .collect();
        self.write(
            cmdb::Command::SetNodeHealth {
                at_ms: now.wall,
                changes,
            },
            out,
        );
    }

    /// Every Raft member gets a node record (bootstrap members and joiners).
    fn register_missing_nodes(
        &mut self,
        facts: &RaftFacts,
        db: &ClusterDb,
        now: Now,
        out: &mut Vec<Command>,
    ) {
        // A member past the cmdb's node limit cannot be registered: proposing it again at
        // every tick made a storm of rejected writes that kept the machine from recording
        // anything else (found by `sim --scale 512`, issue 18).
        let mut room = db.nodes_max().saturating_sub(db.nodes.len());
        for (id, info) in &facts.members {
            if !db.nodes.contains_key(id) {
                if room == 0 {
                    break;
                }
                room -= 1;
                let info = info.clone();
                self.write(
                    cmdb::Command::UpsertNode {
                        id: *id,
                        info,
                        at_ms: now.wall,
                    },
                    out,
                );
            }
        }
    }

    fn adjust_quorum(&mut self, facts: &RaftFacts, now: BootMs, out: &mut Vec<Command>) {
        let me = self.config.node;
        let led = self.term.as_mut().expect("called while leading");
        if facts.configs.len() > 1 || led.voter_change.is_some() {
            return; // A change is still in progress.
        }
        if !facts.voters.contains(&me) {
            // A deposed master that has not noticed yet: a partition healed and it received
            // the new master's voter set, which left it out. Only a voter plans.
            return;
        }
        let mut health = led.detector.health_map();
        let in_grace = now.0.saturating_sub(led.started.0) < UNHEARD_VOTER_GRACE.as_millis() as u64;
        for (node, state) in health.iter_mut() {
            let unheard = !led.heard.contains(node);
            let starting = in_grace && facts.raft_acked.contains(node);
            if unheard && (*state == NodeHealth::Online || starting) {
                *state = NodeHealth::Suspect;
            }
        }
        let input = QuorumInput {
            voters: &facts.voters,
            learners: &facts.learners,
            health: &health,
            voters_max: self.config.voters_max,
            master: me,
            witness: self.config.witness,
        };
        let Some(QuorumChange::SetVoters { voters, reason }) = plan_quorum(&input) else {
            return;
        };
        info!(?voters, %reason, "Changing the voter set");
        led.voter_change = Some(VoterChange {
            before: facts.voters.clone(),
            members: facts.voters.union(&facts.learners).copied().collect(),
            after: voters.clone(),
            reason,
        });
        out.push(Command::ChangeVoters { voters });
    }

    fn voters_changed(&mut self, result: Result<(), String>, now: Now, out: &mut Vec<Command>) {
        let Some(change) = self.term.as_mut().and_then(|led| led.voter_change.take()) else {
            return;
        };
        if let Err(error) = result {
            warn!(%error, "Voter change failed; will re-plan");
            return;
        }
        let mut events = Vec::new();
        for node in &change.members {
            let (was, is) = (change.before.contains(node), change.after.contains(node));
            if was != is {
                let role = if is {
                    NodeRole::Voter
                } else {
                    NodeRole::Learner
                };
                let reason = change.reason.clone();
                events.push(EventKind::NodeRole {
                    node: *node,
                    role,
                    reason,
                });
            }
        }
        let at_ms = now.wall;
        self.write(cmdb::Command::RecordEvents { at_ms, events }, out);
    }

    fn write_done(&mut self, id: u64, result: Result<CommandResult, String>) {
        let Some(led) = self.term.as_mut() else {
            return;
        };
        if !led.writes_in_flight.remove(&id) {
            return;
        }
        if let Err(error) = result {
            warn!(%error, id, "Master write failed");
            // What the round wrote may be missing: plan again at the next tick.
            led.rounds = RoundTrigger::default();
        }
    }

    fn write(&mut self, command: cmdb::Command, out: &mut Vec<Command>) {
        let id = self.next_write_id;
        self.next_write_id += 1;
        if let Some(led) = self.term.as_mut() {
            led.writes_in_flight.insert(id);
        }
        out.push(Command::Write { id, command });
    }
}

impl Master {
    /// What bounds the leases of nodes in this term: granted by this master since it
    /// heard from them, or by earlier masters no later than the voters' reports say (see
    /// `contact`), and in any case before this term began.
    fn lease_facts(&self, facts: &RaftFacts, led: &Term) -> LeaseFacts {
        let mut reported: BTreeMap<u64, BootMs> = self
            .reports
            .iter()
            .filter(|(_, (reported_term, _))| *reported_term == led.term)
            .map(|(node, (_, at))| (node.0, *at))
            .collect();
        reported.insert(self.config.node.0, facts.own_older_contact);
        let configs: Vec<Vec<u64>> = facts
            .configs
            .iter()
            .map(|voters| voters.iter().map(|id| id.0).collect())
            .collect();
        let from_reports = older_leaders_bound(&reported, &configs);
        LeaseFacts {
            term_start: led.started,
            older_leases_from: from_reports.map_or(led.started, |at| at.min(led.started)),
            lease: NODE_LEASE + LEASE_MARGIN,
            unheard_grace: UNHEARD_GRACE,
        }
    }

    /// Judges node health for the scheduler (see `contact::scheduling_health`) with this
    /// term's lease grants: a lease granted on a heartbeat the machine has not seen yet
    /// still runs. Kept as [`Self::judged`].
    fn judge(
        &mut self,
        facts: &RaftFacts,
        granted: &BTreeMap<NodeId, BootMs>,
        db: &ClusterDb,
        now: BootMs,
    ) {
        let led = self.term.as_ref().expect("called while leading");
        let lease_facts = self.lease_facts(facts, led);
        let judged = Self::scheduling_health(led, granted, db, &lease_facts, now);
        let judged = self.fenced_health(granted, judged);
        self.term.as_mut().expect("called while leading").judged = judged;
    }

    /// Node health as the scheduler may use it (see `contact::scheduling_health`).
    fn scheduling_health(
        led: &Term,
        granted: &BTreeMap<NodeId, BootMs>,
        db: &ClusterDb,
        facts: &LeaseFacts,
        now: BootMs,
    ) -> BTreeMap<NodeId, NodeHealth> {
        let tracked = led.detector.nodes().map(|(id, _, _)| id);
        db.nodes
            .keys()
            .copied()
            .chain(tracked)
            .map(|id| {
                let heard_at = led
                    .heard
                    .contains(&id)
                    .then(|| led.detector.last_heard(id))
                    .flatten()
                    .map(BootMs);
                let heard_at = heard_at.max(granted.get(&id).copied());
                let health = scheduling_health(led.detector.health(id), heard_at, facts, now);
                (id, health)
            })
            .collect()
    }

    /// Run the scheduler when something changed (or now and then, for expiring moves) and
    /// write the resulting assignment changes with their reasons as events.
    fn schedule(&mut self, facts: &RaftFacts, db: &ClusterDb, now: Now, out: &mut Vec<Command>) {
        let led = self.term.as_ref().expect("called while leading");
        if !led.writes_in_flight.is_empty() || led.voter_change.is_some() {
            return;
        }
        let health = led.judged.clone();
        let rounds = &led.rounds;
        if facts.applied_index == rounds.applied
            && health == rounds.health
            && now.boot < rounds.at.saturating_add(SCHEDULE_INTERVAL_MAX)
        {
            return;
        }
        // The scheduler compares with times people gave (expiring moves): wall clock.
        let round = crate::placement::round(&db.resources, &health, now.wall);
        let led = self.term.as_mut().expect("called while leading");
        led.rounds = RoundTrigger {
            applied: facts.applied_index,
            health,
            at: now.boot,
        };
        if round.changes.is_empty() {
            return;
        }
        let events = crate::placement::describe(&round, &db.resources);
        for event in &events {
            if let EventKind::ResourceAction {
                resource,
                node,
                action,
                reason,
            } = event
            {
                info!(%resource, node = node.0, action = %action, %reason, "Resource action");
            }
        }
        let changes = round.changes;
        self.write(cmdb::Command::ChangeAssignments { changes }, out);
        for chunk in events.chunks(cmdb::EVENTS_PER_COMMAND_MAX) {
            let events = chunk.to_vec();
            let at_ms = now.wall;
            self.write(cmdb::Command::RecordEvents { at_ms, events }, out);
        }
    }
}

/// Whether a master may grant leases now, and on what: the age in milliseconds of the
/// quorum acknowledgement a grant rests on, if it is at most `QUORUM_FRESH`. `None` when
/// this node does not lead, or its acknowledgement is too old or missing. A sole voter is
/// its own quorum, acknowledged now.
pub fn grant_age(leading: bool, sole_voter: bool, quorum_ack_age: Option<Duration>) -> Option<u64> {
    if !leading {
        return None;
    }
    if sole_voter {
        return Some(0);
    }
    let age = quorum_ack_age?;
    (age <= QUORUM_FRESH).then(|| millis(age))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

mod fencing;

#[cfg(test)]
mod tests;
