//! The master role's runtime: feeds the sans-IO [`machine::Master`] with heartbeats and
//! ticks (the Raft facts read from openraft's metrics) and carries out its commands: cmdb
//! writes through `raft.client_write`, voter changes through `change_membership`, and the
//! detector view for the API.
//!
//! Commands are carried out one at a time, in order, and each write's or voter change's
//! result goes back to the machine before the next event, so a decision always rests on
//! the state the previous ones produced.
//!
//! A tick is handled inside `LeaderContact::judge`: the machine gets this term's lease
//! grants as data and hands back its judgement of node health, and the nodes it finds
//! down are refused leases until judged otherwise, with no grant in between.

pub mod machine;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use cmdb::{Raft, SharedDb};
use membership::DetectorConfig;
use model::{BootMs, NodeHealth, NodeId};
use openraft::ChangeMembers;
use resource_agents::fence::levels::{FenceNext, FenceRun};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::clock::{boot_ms, now_ms};
use crate::config::AgentConfig;
use crate::contact::LeaderContact;
use crate::limits::{MASTER_TICK, MASTER_WRITE_ATTEMPTS, MEMBERSHIP_CHANGE_TIMEOUT};
use crate::peer::HeartbeatSeen;
use machine::{BootstrapRecords, Command, Event, Master, MasterConfig, Now, RaftFacts};
use openraft::async_runtime::WatchReceiver as _;

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
    // --- upgrade ---
    /// The versions and formats the heartbeats report.
    pub reports: crate::upgrade::NodeReports,
}

impl MasterLoop {
    /// Run until `shutdown`. Acts only while this node is the master.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut master = Master::new(master_config(&self.config));
        let mut ticker = tokio::time::interval(MASTER_TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Fences in flight: owned here, aborted (their agents killed) when the loop ends.
        let mut fences = tokio::task::JoinSet::new();
        // A follower does not tick: it waits for Raft to change its leader, vote or
        // membership, and ticks (at once: a missed tick fires when next polled) from when
        // it leads until its machine has let the term go. Fifty wake-ups a second on every
        // follower were about a tenth of an idle agent's CPU (issue 18, point 2).
        let mut server = self.raft.server_metrics();
        loop {
            let ticking = master.is_acting() || self.raft.is_leader();
            let commands = tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = server.changed(), if !ticking => {
                    if changed.is_err() {
                        raft_core_gone(&shutdown).await;
                        return;
                    }
                    continue;
                }
                Some(done) = fences.join_next(), if !fences.is_empty() => match done {
                    Ok(event) => self.shared.read(|db| master.handle(event, db, clocks())),
                    Err(error) => {
                        warn!(%error, "A fence task ended without an answer");
                        Vec::new()
                    }
                },
                Some(beat) = self.heartbeats.recv() => {
                    self.shared.read(|db| master.handle(heartbeat(beat), db, clocks()))
                }
                _ = ticker.tick(), if ticking => {
                    // Heartbeats that queued while the loop awaited its writes come first,
                    // at the times they arrived: a tick must not judge a node silent whose
                    // heartbeat is waiting here (at 48 agents that turned every voter
                    // change into a wave of false suspects and downs, issue 18).
                    let mut commands = Vec::new();
                    while let Ok(beat) = self.heartbeats.try_recv() {
                        let event = heartbeat(beat);
                        commands.extend(self.shared.read(|db| master.handle(event, db, clocks())));
                    }
                    self.raise_format().await;
                    commands.extend(self.tick(&mut master, self.facts()));
                    commands
                }
            };
            self.carry_out(&mut master, commands, &mut fences).await;
        }
    }

    /// A tick, judged with this term's lease grants under `LeaderContact::judge` while
    /// this node leads.
    fn tick(&self, master: &mut Master, raft: RaftFacts) -> Vec<Command> {
        let now = clocks();
        if !raft.leading {
            let granted = BTreeMap::new();
            let tick = Event::Tick { raft, granted };
            return self.shared.read(|db| master.handle(tick, db, now));
        }
        let mut commands = Vec::new();
        self.contact.judge(raft.term, |granted| {
            self.shared.read(|db| {
                let granted = (db.nodes.keys().chain(raft.members.keys()))
                    .filter_map(|id| Some((*id, granted(id.0)?)))
                    .collect();
                commands = master.handle(Event::Tick { raft, granted }, db, now);
            });
            master.judged()
        });
        commands
    }

    /// Carry out the machine's commands in order, feeding each result back.
    async fn carry_out(
        &self,
        master: &mut Master,
        commands: Vec<Command>,
        fences: &mut tokio::task::JoinSet<Event>,
    ) {
        let mut queue = VecDeque::from(commands);
        while let Some(command) = queue.pop_front() {
            // --- fence ---
            if let Command::Fence { id, node, run } = command {
                fences.spawn(fence(id, node, run));
                continue;
            }
            let Some(reply) = self.execute(command).await else {
                continue;
            };
            let more = self.shared.read(|db| master.handle(reply, db, clocks()));
            queue.extend(more);
        }
    }

    async fn execute(&self, command: Command) -> Option<Event> {
        match command {
            Command::Write { id, command } => {
                let result = self.write(command).await;
                Some(Event::WriteDone { id, result })
            }
            Command::ChangeVoters { voters } => {
                let ids: BTreeSet<u64> = voters.iter().map(|n| n.0).collect();
                let change = self
                    .raft
                    .change_membership(ChangeMembers::ReplaceAllVoters(ids), true);
                let result = match tokio::time::timeout(MEMBERSHIP_CHANGE_TIMEOUT, change).await {
                    Err(_) => Err("voter change did not commit in time".to_string()),
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(error)) => Err(error.to_string()),
                };
                Some(Event::VotersChanged { result })
            }
            Command::Publish(view) => {
                let view = view.into_iter().map(|(id, seen)| (id.0, seen)).collect();
                *self.view.lock().expect("detector view lock poisoned") = view;
                None
            }
            Command::Fence { .. } => unreachable!("fences are spawned by carry_out"),
        }
    }

    // --- upgrade ---
    /// While leading, raise the cluster format once every member node reports a higher
    /// one (`upgrade::format_to_raise`).
    async fn raise_format(&self) {
        if !self.raft.is_leader() {
            return;
        }
        let now = boot_ms();
        let format = {
            let reports = self.reports.lock().expect("node reports lock poisoned");
            let own = self.config.node_id;
            self.shared
                .read(|db| crate::upgrade::format_to_raise(db, &reports, own, now))
        };
        let Some(format) = format else { return };
        match self.write(cmdb::Command::SetClusterFormat { format }).await {
            Ok(cmdb::CommandResult::Ok) => {
                info!(format, "Raised the cluster format: every node reports it")
            }
            Ok(other) => warn!(format, %other, "The cluster format was not raised"),
            Err(error) => warn!(format, %error, "The cluster format was not raised"),
        }
    }

    /// What the machine needs from Raft at a tick.
    fn facts(&self) -> RaftFacts {
        let metrics = cmdb::metrics(&self.raft);
        let membership = metrics.membership_config.membership();
        let configs = membership
            .get_joint_config()
            .iter()
            .map(|voters| voters.iter().copied().map(NodeId).collect())
            .collect();
        RaftFacts {
            term: metrics.current_term,
            leading: metrics.current_leader == Some(self.config.node_id)
                && metrics.state.is_leader(),
            voters: membership.voter_ids().map(NodeId).collect(),
            learners: membership.learner_ids().map(NodeId).collect(),
            configs,
            members: membership
                .nodes()
                .map(|(id, info)| (NodeId(*id), info.clone()))
                .collect(),
            applied_index: *self.shared.subscribe().borrow(),
            own_older_contact: self.contact.newest_before(metrics.current_term),
            older_leader: (self.contact.newest_leader_before(metrics.current_term))
                .map(|(leader, at)| (NodeId(leader), at)),
            raft_acked: raft_acked(&metrics, self.config.failure.down_after),
            raft_fresh: raft_acked(&metrics, self.config.failure.suspect_after),
        }
    }

    /// Write a command; a master that was just elected may not accept writes for a few
    /// milliseconds, so retry while this node still leads.
    async fn write(&self, command: cmdb::Command) -> Result<cmdb::CommandResult, String> {
        // --- upgrade --- The format gate: refused like any invalid command.
        if let Err(reason) = self.shared.read(|db| db.admits(&command)) {
            return Ok(cmdb::CommandResult::Rejected(reason));
        }
        for attempt in 0..MASTER_WRITE_ATTEMPTS {
            match self.raft.client_write(command.clone()).await {
                Ok(response) => return Ok(response.data),
                Err(error) if error.forward_to_leader().is_some() && self.raft.is_leader() => {
                    tokio::time::sleep(MASTER_TICK * attempt.min(5)).await;
                }
                Err(error) => return Err(error.to_string()),
            }
        }
        Err("not accepted after retries".to_string())
    }
}

// --- fence ---
/// Runs one fence through its levels, one device call at a time (the IO edge of
/// `resource_agents::fence::levels::FenceRun`).
pub async fn run_fence(mut run: FenceRun) -> (bool, String) {
    loop {
        match run.next() {
            FenceNext::Call { device, call } => {
                let answer = call.run().await;
                let outcome = resource_agents::fence::levels::describe(&answer);
                info!(%device, action = %call.action, %outcome, "Fence agent answered");
                run.answer(&answer);
            }
            FenceNext::Confirmed(detail) => return (true, detail),
            FenceNext::Failed(detail) => return (false, detail),
        }
    }
}

async fn fence(id: u64, node: NodeId, run: FenceRun) -> Event {
    let (confirmed, detail) = run_fence(run).await;
    Event::FenceDone {
        id,
        node,
        confirmed,
        detail,
    }
}

/// The machine's event for a heartbeat the peer listener received.
fn heartbeat(beat: HeartbeatSeen) -> Event {
    Event::Heartbeat(machine::Beat {
        node: NodeId(beat.node),
        term: beat.term,
        older_contact: beat.older_contact,
        loop_lag_ms: beat.loop_lag_ms,
        received: beat.received,
    })
}

/// The members whose Raft heartbeat acknowledgement to this leader is younger than `within`.
fn raft_acked(metrics: &cmdb::RaftMetrics, within: std::time::Duration) -> BTreeSet<NodeId> {
    let Some(acks) = metrics.heartbeat.as_ref() else {
        return BTreeSet::new();
    };
    acks.iter()
        .filter(|(_, at)| {
            (at.as_ref()).is_some_and(|at| openraft::Instant::elapsed(&**at) < within)
        })
        .map(|(id, _)| NodeId(*id))
        .collect()
}

/// Both clocks, for the machine.
fn clocks() -> Now {
    Now {
        boot: boot_ms(),
        wall: now_ms(),
    }
}

/// The machine's config from the agent's; on the bootstrap node, the CA files are read
/// here, once.
fn master_config(config: &AgentConfig) -> MasterConfig {
    let bootstrap = config.bootstrap.as_ref().and_then(|bootstrap| {
        let ca_cert = std::fs::read_to_string(&config.tls.ca_cert);
        let ca_key = std::fs::read_to_string(&bootstrap.ca_key);
        let (Ok(ca_cert_pem), Ok(ca_key_pem)) = (ca_cert, ca_key) else {
            warn!("Cannot read the CA files named by the bootstrap section; joins will fail");
            return None;
        };
        Some(BootstrapRecords {
            cluster_name: config.cluster_name.clone(),
            admin_token_hash: bootstrap.admin_token_hash.clone(),
            join_token_hash: bootstrap.join_token_hash.clone(),
            ca_cert_pem,
            ca_key_pem,
        })
    });
    MasterConfig {
        node: NodeId(config.node_id),
        detector: DetectorConfig {
            suspect_after: config.failure.suspect_after,
            down_after: config.failure.down_after,
            ..DetectorConfig::default()
        },
        voters_max: config.voters_max,
        witness: config.witness.is_some(),
        bootstrap,
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
    use openraft::Instant as _;
    let voters: Vec<u64> = metrics.membership_config.membership().voter_ids().collect();
    let age = metrics.last_quorum_acked.as_ref().map(|at| at.elapsed());
    machine::grant_age(metrics.state.is_leader(), voters == [metrics.id], age)
}

/// The Raft core is gone: its watch (`node::watch_raft_core`) stops the agent and names the
/// cause. The master loop waits for that rather than end first, which would stop the agent
/// as "the master loop ended" and hide the cause (a full disk, in the fail-stop test); if
/// the agent is somehow still running a second later, the loop stops it itself.
async fn raft_core_gone(shutdown: &CancellationToken) {
    let waited = tokio::time::timeout(std::time::Duration::from_secs(1), shutdown.cancelled());
    if waited.await.is_err() {
        crate::node::fail_stop("master loop", "openraft's core stopped (its metrics ended)");
    }
}
