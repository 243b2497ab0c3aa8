//! The master role: failure detection, dynamic quorum and cluster bootstrap, run only on
//! the node whose agent is the Raft leader.
//!
//! Heartbeats arrive on a bounded channel; every tick the detector's transitions are
//! written to the cmdb as one command, and the quorum policy may change the voter set
//! (one membership change at a time, awaited before the next decision).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use cmdb::{Command, Raft, SharedDb, TokenKind};
use membership::{Detector, DetectorConfig, QuorumChange, QuorumInput, plan_quorum};
use model::{BootMs, EventKind, NodeHealth, NodeId, NodeInfo, NodeRole};
use openraft::ChangeMembers;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::clock::{boot_ms, now_ms};
use crate::config::AgentConfig;
use crate::contact::{LeaderContact, LeaseFacts, scheduling_health};
use crate::limits::{
    LEASE_MARGIN, MASTER_TICK, MASTER_WRITE_ATTEMPTS, MEMBERSHIP_CHANGE_TIMEOUT, NODE_LEASE,
    SCHEDULE_INTERVAL_MAX, UNHEARD_GRACE,
};
use crate::peer::HeartbeatSeen;

/// What the API shows of the detector: per node, health and last heartbeat time (boot
/// clock).
pub type DetectorView = Arc<Mutex<BTreeMap<u64, (NodeHealth, BootMs)>>>;

/// Inputs of the master loop.
pub struct MasterLoop {
    /// This node's config.
    pub config: AgentConfig,
    /// Raft handle.
    pub raft: Raft,
    /// Local replica.
    pub shared: SharedDb,
    /// Heartbeats from the peer listener.
    pub heartbeats: mpsc::Receiver<HeartbeatSeen>,
    /// When this node last heard from leaders of each term.
    pub contact: Arc<LeaderContact>,
    /// Published detector state.
    pub view: DetectorView,
}

impl MasterLoop {
    /// Run until `shutdown`. Acts only while this node is the master.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(MASTER_TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut term_led: Option<u64> = None;
        let mut detector: Option<Detector> = None;
        // Nodes heard from during this term. The detector's grace period starts every node
        // online, but only a node heard from may count towards quorum changes: promoting a
        // node that is in fact dead would make a voter set that can never commit.
        let mut heard: BTreeSet<u64> = BTreeSet::new();
        let mut term_start = BootMs::default();
        let mut rounds = RoundTrigger::default();
        // Per node, the newest contact with older leaders it reported, and for which term;
        // kept across terms since heartbeats may arrive before this loop sees its new term.
        let mut reports: BTreeMap<u64, (u64, BootMs)> = BTreeMap::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                Some(beat) = self.heartbeats.recv() => {
                    let report = reports.entry(beat.node).or_insert((beat.term, BootMs(0)));
                    if report.0 != beat.term {
                        *report = (beat.term, BootMs(0));
                    }
                    report.1 = report.1.max(beat.older_contact);
                    if let Some(detector) = detector.as_mut() {
                        heard.insert(beat.node);
                        let transition = detector.heartbeat(NodeId(beat.node), boot_ms().0);
                        self.record(transition.into_iter().collect()).await;
                    }
                }
                _ = ticker.tick() => {
                    let metrics = cmdb::metrics(&self.raft);
                    let leading = metrics.current_leader == Some(self.config.node_id)
                        && metrics.state.is_leader();
                    if !leading {
                        term_led = None;
                        detector = None;
                        continue;
                    }
                    if term_led != Some(metrics.current_term) {
                        term_led = Some(metrics.current_term);
                        heard = BTreeSet::from([self.config.node_id]);
                        term_start = boot_ms();
                        rounds = RoundTrigger::default();
                        detector = Some(self.take_over(metrics.current_term).await);
                    }
                    if let Some(detector) = detector.as_mut() {
                        self.tick(detector, &heard).await;
                        let facts = self.lease_facts(&metrics, term_start, &reports);
                        self.schedule(detector, &heard, &facts, &mut rounds).await;
                    }
                }
            }
        }
    }

    /// A new term as master: bootstrap the cmdb if needed, announce, start a fresh
    /// detector that gives every member a grace period.
    async fn take_over(&self, term: u64) -> Detector {
        info!(node = self.config.node_id, term, "Became master");
        self.bootstrap_if_needed().await;
        let at_ms = now_ms();
        let event = EventKind::MasterElected {
            node: NodeId(self.config.node_id),
            term,
        };
        self.write(Command::RecordEvents {
            at_ms,
            events: vec![event],
        })
        .await;
        let config = DetectorConfig {
            suspect_after: self.config.failure.suspect_after,
            down_after: self.config.failure.down_after,
            ..DetectorConfig::default()
        };
        // The detector runs on the boot clock: silences are leases' business.
        let nodes = self.members().into_keys().map(NodeId);
        Detector::with_nodes(config, boot_ms().0, nodes)
    }

    async fn tick(&self, detector: &mut Detector, heard: &BTreeSet<u64>) {
        let now = boot_ms().0;
        let me = NodeId(self.config.node_id);
        let members = self.members();
        for id in members.keys() {
            detector.track(NodeId(*id), now);
        }
        let tracked: Vec<NodeId> = detector.nodes().map(|(id, _, _)| id).collect();
        for id in tracked {
            if !members.contains_key(&id.0) {
                detector.untrack(id);
            }
        }
        let mut transitions: Vec<_> = detector.heartbeat(me, now).into_iter().collect();
        transitions.extend(detector.tick(now));
        self.record(transitions).await;
        self.publish(detector);
        self.register_missing_nodes(&members).await;
        self.adjust_quorum(detector, heard).await;
    }

    fn publish(&self, detector: &Detector) {
        let view: BTreeMap<u64, (NodeHealth, BootMs)> = detector
            .nodes()
            .map(|(id, health, heard)| (id.0, (health, BootMs(heard))))
            .collect();
        *self.view.lock().expect("detector view lock poisoned") = view;
    }

    async fn record(&self, transitions: Vec<membership::Transition>) {
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
        self.write(Command::SetNodeHealth {
            at_ms: now_ms(),
            changes,
        })
        .await;
    }

    /// Raft members (voters and learners) with their addresses.
    fn members(&self) -> BTreeMap<u64, NodeInfo> {
        let metrics = cmdb::metrics(&self.raft);
        metrics
            .membership_config
            .membership()
            .nodes()
            .map(|(id, n)| (*id, n.clone()))
            .collect()
    }

    /// Every Raft member gets a node record (bootstrap members and joiners).
    async fn register_missing_nodes(&self, members: &BTreeMap<u64, NodeInfo>) {
        let missing: Vec<(u64, NodeInfo)> = self.shared.read(|db| {
            members
                .iter()
                .filter(|(id, _)| !db.nodes.contains_key(&NodeId(**id)))
                .map(|(id, info)| (*id, info.clone()))
                .collect()
        });
        for (id, info) in missing {
            self.write(Command::UpsertNode {
                id: NodeId(id),
                info,
                at_ms: now_ms(),
            })
            .await;
        }
    }

    async fn adjust_quorum(&self, detector: &Detector, heard: &BTreeSet<u64>) {
        let metrics = cmdb::metrics(&self.raft);
        let membership = metrics.membership_config.membership();
        if membership.get_joint_config().len() > 1 {
            return; // A change is still in progress.
        }
        let voters: BTreeSet<NodeId> = membership.voter_ids().map(NodeId).collect();
        let learners: BTreeSet<NodeId> = membership.learner_ids().map(NodeId).collect();
        if !voters.contains(&NodeId(self.config.node_id)) {
            // A deposed master that has not noticed yet: a partition healed and it received
            // the new master's voter set, which left it out. Only a voter plans.
            return;
        }
        let mut health = detector.health_map();
        for (node, state) in health.iter_mut() {
            if *state == NodeHealth::Online && !heard.contains(&node.0) {
                *state = NodeHealth::Suspect;
            }
        }
        let input = QuorumInput {
            voters: &voters,
            learners: &learners,
            health: &health,
            voters_max: self.config.voters_max,
            master: NodeId(self.config.node_id),
        };
        let Some(QuorumChange::SetVoters {
            voters: new_voters,
            reason,
        }) = plan_quorum(&input)
        else {
            return;
        };
        info!(?new_voters, %reason, "Changing the voter set");
        let ids: BTreeSet<u64> = new_voters.iter().map(|n| n.0).collect();
        let change = self
            .raft
            .change_membership(ChangeMembers::ReplaceAllVoters(ids), true);
        match tokio::time::timeout(MEMBERSHIP_CHANGE_TIMEOUT, change).await {
            Err(_) => warn!("Voter change did not commit in time; will re-plan"),
            Ok(Ok(_)) => {
                let at_ms = now_ms();
                let mut events = Vec::new();
                for node in voters.union(&learners) {
                    let was = voters.contains(node);
                    let is = new_voters.contains(node);
                    if was != is {
                        let role = if is {
                            NodeRole::Voter
                        } else {
                            NodeRole::Learner
                        };
                        events.push(EventKind::NodeRole {
                            node: *node,
                            role,
                            reason: reason.clone(),
                        });
                    }
                }
                self.write(Command::RecordEvents { at_ms, events }).await;
            }
            Ok(Err(error)) => warn!(%error, "Voter change failed"),
        }
    }

    /// On the bootstrap node's first term: store the cluster identity and tokens.
    async fn bootstrap_if_needed(&self) {
        let Some(bootstrap) = &self.config.bootstrap else {
            return;
        };
        if self.shared.read(|db| !db.meta.name.is_empty()) {
            return;
        }
        let ca_cert = std::fs::read_to_string(&self.config.tls.ca_cert);
        let ca_key = std::fs::read_to_string(&bootstrap.ca_key);
        let (Ok(ca_cert_pem), Ok(ca_key_pem)) = (ca_cert, ca_key) else {
            warn!("Cannot read the CA files named by the bootstrap section; joins will fail");
            return;
        };
        // Tokens first, identity last: a replica that sees the identity also has the tokens.
        let at_ms = now_ms();
        for (hash, kind, label) in [
            (
                &bootstrap.admin_token_hash,
                TokenKind::Admin,
                "admin (from init)",
            ),
            (
                &bootstrap.join_token_hash,
                TokenKind::Join,
                "join (from init)",
            ),
        ] {
            let command = Command::AddToken {
                hash: hash.clone(),
                kind,
                label: label.to_string(),
                at_ms,
            };
            self.write(command).await;
        }
        let name = self.config.cluster_name.clone();
        self.write(Command::InitCluster {
            name,
            ca_cert_pem,
            ca_key_pem,
            at_ms,
        })
        .await;
    }

    /// Write a command; a master that was just elected may not accept writes for a few
    /// milliseconds, so retry while this node still leads.
    async fn write(&self, command: Command) {
        for attempt in 0..MASTER_WRITE_ATTEMPTS {
            match self.raft.client_write(command.clone()).await {
                Ok(_) => return,
                Err(error) if error.forward_to_leader().is_some() && self.raft.is_leader() => {
                    tokio::time::sleep(MASTER_TICK * attempt.min(5)).await;
                }
                Err(error) => {
                    warn!(%error, "Master write failed");
                    return;
                }
            }
        }
        warn!("Master write not accepted after retries");
    }
}

/// When the master last ran the scheduler, and on what.
#[derive(Default)]
struct RoundTrigger {
    applied: u64,
    health: BTreeMap<NodeId, NodeHealth>,
    at: BootMs,
}

impl MasterLoop {
    /// What bounds the leases of nodes in this term: granted by this master since it
    /// heard from them, or by earlier masters no later than the voters' reports say (see
    /// `contact`), and in any case before this term began.
    fn lease_facts(
        &self,
        metrics: &cmdb::RaftMetrics,
        term_start: BootMs,
        reports: &BTreeMap<u64, (u64, BootMs)>,
    ) -> LeaseFacts {
        let term = metrics.current_term;
        let mut reported: BTreeMap<u64, BootMs> = reports
            .iter()
            .filter(|(_, (reported_term, _))| *reported_term == term)
            .map(|(node, (_, at))| (*node, *at))
            .collect();
        reported.insert(self.config.node_id, self.contact.newest_before(term));
        let configs: Vec<Vec<u64>> = metrics
            .membership_config
            .membership()
            .get_joint_config()
            .iter()
            .map(|voters| voters.iter().copied().collect())
            .collect();
        let from_reports = crate::contact::older_leaders_bound(&reported, &configs);
        LeaseFacts {
            term,
            term_start,
            older_leases_from: from_reports.map_or(term_start, |at| at.min(term_start)),
            lease: NODE_LEASE + LEASE_MARGIN,
            unheard_grace: UNHEARD_GRACE,
        }
    }

    /// Node health as the scheduler may use it (see `contact::scheduling_health`), judged
    /// with this term's lease grants, which a node found down gets no more of (see
    /// `contact::LeaderContact::judge`).
    fn scheduling_health(
        &self,
        detector: &Detector,
        heard: &BTreeSet<u64>,
        facts: &LeaseFacts,
        now: BootMs,
    ) -> BTreeMap<NodeId, NodeHealth> {
        let known: BTreeSet<NodeId> = self.shared.read(|db| db.nodes.keys().copied().collect());
        self.contact.judge(facts.term, |granted| {
            let tracked = detector.nodes().map(|(id, _, _)| id);
            known
                .into_iter()
                .chain(tracked)
                .map(|id| {
                    let heard_at = heard
                        .contains(&id.0)
                        .then(|| detector.last_heard(id))
                        .flatten()
                        .map(BootMs);
                    // A lease granted on a heartbeat this loop has not seen yet still runs.
                    let heard_at = heard_at.max(granted(id.0));
                    let health = scheduling_health(detector.health(id), heard_at, facts, now);
                    (id, health)
                })
                .collect()
        })
    }

    /// Run the scheduler when something changed (or now and then, for expiring moves) and
    /// write the resulting assignment changes with their reasons as events.
    async fn schedule(
        &self,
        detector: &Detector,
        heard: &BTreeSet<u64>,
        facts: &LeaseFacts,
        rounds: &mut RoundTrigger,
    ) {
        let boot = boot_ms();
        let health = self.scheduling_health(detector, heard, facts, boot);
        let applied = *self.shared.subscribe().borrow();
        let due = rounds.at.saturating_add(SCHEDULE_INTERVAL_MAX);
        if applied == rounds.applied && health == rounds.health && boot < due {
            return;
        }
        *rounds = RoundTrigger {
            applied,
            health: health.clone(),
            at: boot,
        };
        // The scheduler compares with times people gave (expiring moves): wall clock.
        let now = now_ms();
        let round = self
            .shared
            .read(|db| crate::placement::round(&db.resources, &health, now));
        if round.changes.is_empty() {
            return;
        }
        let events = crate::placement::describe(&round);
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
        self.write(Command::ChangeAssignments {
            changes: round.changes,
        })
        .await;
        for chunk in events.chunks(cmdb::EVENTS_PER_COMMAND_MAX) {
            self.write(Command::RecordEvents {
                at_ms: now,
                events: chunk.to_vec(),
            })
            .await;
        }
    }
}

/// Node health as recorded in the cmdb by the master (for explanations on any node).
pub fn recorded_health(shared: &SharedDb) -> BTreeMap<NodeId, NodeHealth> {
    shared.read(|db| {
        db.nodes
            .iter()
            .map(|(id, record)| (*id, record.health))
            .collect()
    })
}

/// How old this master's last quorum acknowledgement is, in milliseconds, when it is recent
/// enough to grant leases (see `limits::QUORUM_FRESH`); None when it is not, or when this
/// node is not the leader. A single voter is its own quorum, acknowledged now.
pub fn quorum_ack_age(metrics: &cmdb::RaftMetrics) -> Option<u64> {
    if !metrics.state.is_leader() {
        return None;
    }
    let voters: Vec<u64> = metrics.membership_config.membership().voter_ids().collect();
    if voters == [metrics.id] {
        return Some(0);
    }
    use openraft::Instant as _;
    let age = metrics.last_quorum_acked.as_ref()?.elapsed();
    (age <= crate::limits::QUORUM_FRESH).then(|| u64::try_from(age.as_millis()).unwrap_or(u64::MAX))
}
