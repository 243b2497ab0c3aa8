//! This node's side of resources: the executor runtime, fed with this node's assignments
//! from the cmdb and with leases from heartbeat acknowledgements, and its reports carried
//! to the master as cmdb commands.

use std::time::Duration;

use cmdb::{Command, OperationReport, Raft, ResourceDb, SharedDb};
use executor::runtime::{Agents, RuntimeConfig};
use executor::{
    Assignment, Event, Executor, ExecutorConfig, InstanceState, OperationKind, OperationRecord,
    Unconfirmed,
};
use model::{BootMs, NodeId, ResourceId, ResourceState};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::clock::now_ms;
use crate::limits::{FORWARD_TIMEOUT, REPORT_ATTEMPTS};
use crate::node::spawn_critical;
use crate::peer::PeerClient;

/// A lease grant: valid until `valid_until` (boot clock), usable once the local replica
/// has applied `required_index` (the master's commit index when it granted the lease), so
/// a lease never reaches the executor ahead of the assignments it was granted with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseGrant {
    /// End of the lease.
    pub valid_until: BootMs,
    /// Log index the local replica must have applied first.
    pub required_index: u64,
}

/// The way into this node's executor.
#[derive(Clone)]
pub struct ExecutorInputs {
    lease: std::sync::Arc<watch::Sender<Option<LeaseGrant>>>,
}

impl ExecutorInputs {
    /// Offer a lease; it replaces any earlier offer not yet delivered.
    pub fn lease(&self, grant: LeaseGrant) {
        self.lease.send_replace(Some(grant));
    }
}

/// What the executor runtime shares with the rest of the node about its instances: the
/// queue of clone notifications (`clone_notify`) and the status texts (`status_texts`).
pub struct Instances {
    /// Where notifications for this node's instances go (the peer handler and this node's
    /// own notifier send there).
    pub notify_inbox: mpsc::Sender<executor::NotifyCall>,
    /// The runtime's end of that queue.
    pub notify_calls: mpsc::Receiver<executor::NotifyCall>,
    /// The book of status texts, which this node's own texts go into.
    pub status_texts: std::sync::Arc<crate::status_texts::StatusTexts>,
}

/// Start the executor runtime, the assignment feed, the report forwarder and the lb
/// follower, as critical tasks: without any of them this node would heartbeat and renew
/// its leases while its assignments went undone (see `node::spawn_critical`).
#[expect(
    clippy::too_many_arguments,
    reason = "the node's wiring: each is a distinct handle the executor's tasks share"
)]
pub fn start(
    tasks: &mut tokio::task::JoinSet<()>,
    node: &crate::AgentConfig,
    lb: std::sync::Arc<crate::lb_agent::LbAgent>,
    raft: Raft,
    shared: SharedDb,
    peer_client: PeerClient,
    observer: std::sync::Arc<crate::metrics::InstanceFigures>,
    instances: Instances,
    shutdown: CancellationToken,
) -> ExecutorInputs {
    let (events_tx, events_rx) = mpsc::channel(256);
    let (reports_tx, reports_rx) = mpsc::channel(1024);
    let hub = start_app_hub(tasks, node, &raft, &shared, &peer_client, &shutdown);
    let (status_tx, status_rx) = watch::channel(executor::runtime::Status::new());
    let notifier = crate::clone_notify::ClusterNotifier {
        node: NodeId(node.node_id),
        raft: raft.clone(),
        shared: shared.clone(),
        client: peer_client.clone(),
        inbox: instances.notify_inbox,
    };
    let config = RuntimeConfig {
        state_root: node.data_dir.join("resources"),
        node_name: node.name.clone(),
        clock: executor::system_now,
        status: Some(status_tx),
        hooks: Some(hub.clone()),
        observer: Some(observer),
        notifier: Some(std::sync::Arc::new(notifier)),
        notify_calls: Some(instances.notify_calls),
    };
    // Not critical: without it only the status texts go missing.
    tasks.spawn(crate::status_texts::run(
        instances.status_texts,
        NodeId(node.node_id),
        raft.clone(),
        peer_client.clone(),
        status_rx,
        shutdown.clone(),
    ));
    let mut agents = Agents::new(crate::api::ocf_root());
    agents.insert(lb.clone());
    let lb_follower = lb.follow(shared.clone(), shutdown.clone());
    spawn_critical(tasks, "lb follower", &shutdown, lb_follower);
    let runtime_shutdown = shutdown.clone();
    let runtime = async move {
        let executor = Executor::new(ExecutorConfig::default());
        executor::runtime::run(
            executor,
            agents,
            config,
            events_rx,
            reports_tx,
            runtime_shutdown,
        )
        .await;
    };
    spawn_critical(tasks, "executor runtime", &shutdown, runtime);
    // --- fence ---
    if let Some(watchdog) = &node.watchdog {
        let probe = events_tx.clone();
        let petting = crate::host_watchdog::arm(
            watchdog.clone(),
            hub.lease_watch(),
            move || !probe.is_closed(),
            shutdown.clone(),
        );
        spawn_critical(tasks, "watchdog", &shutdown, petting);
    }
    let (lease_tx, lease_rx) = watch::channel(None);
    let feed = feed(
        NodeId(node.node_id),
        shared.clone(),
        hub,
        events_tx,
        lease_rx,
        shutdown.clone(),
    );
    spawn_critical(tasks, "assignment feed", &shutdown, feed);
    let forwarder = forward_reports(
        NodeId(node.node_id),
        Forwarder {
            raft,
            client: peer_client,
            state_root: node.data_dir.join("resources"),
            shared,
        },
        reports_rx,
        shutdown.clone(),
    );
    spawn_critical(tasks, "report forwarder", &shutdown, forwarder);
    ExecutorInputs {
        lease: std::sync::Arc::new(lease_tx),
    }
}

/// This node's assignments: its grants of resources that are still configured (a deleted
/// resource's grant is, for the executor, withdrawn).
pub fn assignments_of(resources: &ResourceDb, node: NodeId) -> Vec<Assignment> {
    let Some(map) = resources.assignments.get(&node) else {
        return Vec::new();
    };
    map.iter()
        .filter_map(|(id, token)| {
            let resource = resources.resource(id)?;
            Some(Assignment {
                resource,
                fencing_token: *token,
            })
        })
        .collect()
}

/// What the cmdb records as possibly running on `node` (not stopped) without a grant the
/// executor sees there, with the newest token the node reported it under: the executor
/// confirms those it does not run (see `executor::Event::Unconfirmed`).
pub fn unconfirmed_of(resources: &ResourceDb, node: NodeId) -> Vec<Unconfirmed> {
    let granted = resources.assignments.get(&node);
    resources
        .status
        .iter()
        .filter(|(id, nodes)| {
            let active = nodes.get(&node).is_some_and(|s| s.state.is_active());
            let assigned = granted.is_some_and(|m| m.contains_key(*id)) && resources.configured(id);
            active && !assigned
        })
        .map(|(id, _)| Unconfirmed {
            resource: id.clone(),
            fencing_token: resources
                .reported_tokens
                .get(id)
                .and_then(|m| m.get(&node))
                .copied()
                .unwrap_or(0),
        })
        .collect()
}

/// The one task that talks to the executor: user types, assignments and doubts whenever
/// they change in the cmdb, then leases once the replica has caught up with their grant.
/// One sender keeps the order.
async fn feed(
    node: NodeId,
    shared: SharedDb,
    hub: std::sync::Arc<crate::app::AppHub>,
    events: mpsc::Sender<Event>,
    mut lease: watch::Receiver<Option<LeaseGrant>>,
    shutdown: CancellationToken,
) {
    let mut applied = shared.subscribe();
    let mut last: Option<Vec<Assignment>> = None;
    let mut last_unconfirmed: Option<Vec<Unconfirmed>> = None;
    let mut last_types: Option<Vec<model::TypeWithRoles>> = None;
    let mut pending: Option<LeaseGrant> = None;
    loop {
        let (current, unconfirmed, types) = shared.read(|db| {
            let resources = &db.resources;
            (
                assignments_of(resources, node),
                unconfirmed_of(resources, node),
                db.types_with_roles(),
            )
        });
        // Types first: an assignment of a new type finds its resource agent built.
        if last_types.as_ref() != Some(&types) {
            if events.send(Event::UserTypes(types.clone())).await.is_err() {
                return;
            }
            last_types = Some(types);
        }
        if last.as_ref() != Some(&current) {
            if events
                .send(Event::Assignments(current.clone()))
                .await
                .is_err()
            {
                return;
            }
            last = Some(current);
        }
        if last_unconfirmed.as_ref() != Some(&unconfirmed) {
            let event = Event::Unconfirmed(unconfirmed.clone());
            if events.send(event).await.is_err() {
                return;
            }
            last_unconfirmed = Some(unconfirmed);
        }
        if let Some(grant) = pending
            && *applied.borrow() >= grant.required_index
        {
            pending = None;
            let valid_until = grant.valid_until;
            hub.lease(valid_until);
            if events.send(Event::Lease { valid_until }).await.is_err() {
                return;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = applied.changed() => if changed.is_err() { return },
            changed = lease.changed() => {
                if changed.is_err() { return }
                pending = *lease.borrow_and_update();
            }
        }
    }
}

/// The report the agent writes for an executor's record.
pub fn to_report(record: OperationRecord) -> OperationReport {
    let (state_after, reason) = match &record.state_after {
        InstanceState::Running => (ResourceState::Running, None),
        InstanceState::Stopped => (ResourceState::Stopped, None),
        InstanceState::Failed { reason } => (ResourceState::Failed, Some(reason.clone())),
        InstanceState::Unknown => (ResourceState::Unknown, None),
    };
    let ok = record.outcome.is_ok()
        || (record.operation == OperationKind::Stop
            && matches!(record.outcome, resource_agents::Outcome::NotRunning));
    let reason = reason.or_else(|| (!ok).then(|| record.outcome.to_string()));
    OperationReport {
        resource: record.resource,
        operation: match record.operation {
            OperationKind::Start => "start",
            OperationKind::Stop => "stop",
            OperationKind::Monitor => "monitor",
            OperationKind::Reload => "reload",
        }
        .to_string(),
        fencing_token: record.fencing_token,
        ok,
        state_after,
        reason,
        started_at: record.started_at,
        finished_at: record.finished_at,
    }
}

/// Carry each report to the master as a cmdb command, in order, retrying while no master
/// is reachable (bounded attempts; a lost report is repaired by the next monitor).
async fn forward_reports(
    node: NodeId,
    forwarder: Forwarder,
    mut reports: mpsc::Receiver<OperationRecord>,
    shutdown: CancellationToken,
) {
    // Reports travel in a session of their own, one at a time, so a retry after a lost
    // answer never records a report (a failure, say) twice.
    let mut session = ::api::WriteSession::new(rand::random());
    loop {
        let record = tokio::select! {
            _ = shutdown.cancelled() => return,
            record = reports.recv() => match record { Some(r) => r, None => return },
        };
        let resource = record.resource.clone();
        let at_ms = now_ms();
        let report = Command::RecordOperation {
            node,
            report: to_report(record),
            at_ms,
        };
        forwarder.send(&mut session, report, at_ms).await;
        let Some((base, score)) = forwarder.promotion_change(node, &resource) else {
            continue;
        };
        let command = Command::SetPromotionScore {
            node,
            resource: base,
            score,
        };
        forwarder.send(&mut session, command, at_ms).await;
    }
}

/// Where the report forwarder sends reports, and where it finds promotion scores.
struct Forwarder {
    raft: Raft,
    client: PeerClient,
    state_root: std::path::PathBuf,
    shared: SharedDb,
}

impl Forwarder {
    /// Send `command` to the master in `session`, retrying a bounded number of times.
    async fn send(&self, session: &mut ::api::WriteSession, command: Command, at_ms: u64) {
        let seq = session.take_seq();
        let command = Command::Session {
            session: session.id,
            seq,
            floor: seq,
            at_ms,
            command: Box::new(command),
        };
        for attempt in 0..REPORT_ATTEMPTS {
            match write_to_master(&self.raft, &self.shared, &self.client, &command).await {
                Ok(()) => break,
                Err(error) => {
                    debug!(%error, attempt, "Report not delivered yet");
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt.min(10) + 1)))
                        .await;
                }
            }
            if attempt + 1 == REPORT_ATTEMPTS {
                warn!(%command, "Operation report dropped after retries");
            }
        }
    }

    /// After an operation of `resource` (or of its promoted role), the promotion score
    /// its instance set through encluster's `crm_attribute`, if the resource is
    /// promotable and the score differs from the one this node's replica records: the OCF
    /// agent writes it during the operation, so it is read after the operation's report
    /// and reaches the master right behind it (a score lost with a master is sent again
    /// after the next operation).
    fn promotion_change(
        &self,
        node: NodeId,
        resource: &ResourceId,
    ) -> Option<(ResourceId, Option<i64>)> {
        let base = model::promotable::base_of(resource).unwrap_or_else(|| resource.clone());
        let recorded = self.shared.read(|db| {
            let resources = &db.resources;
            let promotable = resources.promotable.contains_key(&base);
            let scores = resources.promotion_scores.get(&base);
            promotable.then(|| scores.and_then(|m| m.get(&node)).copied())
        })?;
        let score = resource_agents::promotion_score(&self.state_root.join(&base.0));
        (score != recorded).then_some((base, score))
    }
}

/// The application protocol server: its hub (for the executor's hooks and the lease) and,
/// when the socket can be bound, its listener and lease watch. Without the socket the node
/// still runs everything; applications just cannot connect.
fn start_app_hub(
    tasks: &mut tokio::task::JoinSet<()>,
    node: &crate::AgentConfig,
    raft: &Raft,
    shared: &SharedDb,
    peer_client: &PeerClient,
    shutdown: &CancellationToken,
) -> std::sync::Arc<crate::app::AppHub> {
    let config = crate::app::HubConfig {
        data_dir: node.data_dir.clone(),
        state_root: node.data_dir.join("resources"),
        node: NodeId(node.node_id),
        node_name: node.name.clone(),
    };
    let hub = std::sync::Arc::new(crate::app::AppHub::new(
        config,
        raft.clone(),
        peer_client.clone(),
        shared.clone(),
    ));
    let lease_watch = hub.clone().watch_lease(shutdown.clone());
    spawn_critical(tasks, "application lease watch", shutdown, lease_watch);
    let listener = crate::app::serve(hub.clone(), shutdown.clone());
    let server_shutdown = shutdown.clone();
    tasks.spawn(async move {
        match listener.await {
            Ok(serving) => serving.await,
            Err(error) => {
                // An operator must act: applications of this node cannot reach the cluster.
                tracing::error!(error = %error, "Cannot open the application protocol socket");
                server_shutdown.cancelled().await;
            }
        }
    });
    hub
}

/// The cluster format's gate (`cmdb::ClusterDb::admits`) on this node's replica, for a
/// command about to be proposed: a command an older member could not decode is refused
/// before it reaches the log, where it would stall replication to that member. Every
/// proposal goes through it (`api::propose`, the peer listener, the master loop, and the
/// helpers here).
pub fn gate(shared: &SharedDb, command: &Command) -> Result<(), String> {
    shared.read(|db| db.admits(command))
}

/// Proposes `command` and returns its result: on the local Raft if this node is master,
/// else through the master's peer port. A command the cluster format does not admit is
/// `Rejected` without being proposed.
pub async fn propose(
    raft: &Raft,
    shared: &SharedDb,
    client: &PeerClient,
    command: &Command,
) -> Result<cmdb::CommandResult, String> {
    if let Err(reason) = gate(shared, command) {
        return Ok(cmdb::CommandResult::Rejected(reason));
    }
    if raft.is_leader() {
        return raft
            .client_write(command.clone())
            .await
            .map(|response| response.data)
            .map_err(|e| e.to_string());
    }
    let metrics = cmdb::metrics(raft);
    let master = metrics.current_leader.ok_or("no master")?;
    let node = metrics
        .membership_config
        .membership()
        .get_node(&master)
        .cloned()
        .ok_or("master unknown")?;
    let answer: Result<cmdb::CommandResult, String> = client
        .call(&node.peer_addr, "/peer/write", command, FORWARD_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    answer
}

/// [`propose`], for callers that only need to know the command was delivered; `Err` for
/// a command the cluster format does not admit.
pub async fn write_to_master(
    raft: &Raft,
    shared: &SharedDb,
    client: &PeerClient,
    command: &Command,
) -> Result<(), String> {
    gate(shared, command)?;
    propose(raft, shared, client, command).await.map(|_| ())
}
