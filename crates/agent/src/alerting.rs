//! The master's alert delivery (issue 13, point 6): the runtime of the sans-IO
//! `alerts::delivery::Deliverer`. While this node is master it turns each event of the
//! cmdb into an alert for every recipient whose filters want it, delivers it (an
//! executable with Pacemaker's environment, or a webhook with Alertmanager's body), and
//! records each recipient's cursor in the cmdb after each delivery, so a new master
//! resumes without sending a delivered alert again (the alert id, the event's sequence
//! number, is in the payload for a receiver to drop a repeat sent just before a crash).
//!
//! It is a task of its own, never critical: a recipient that hangs or floods is cut off by
//! its timeout and output cap, at most one delivery per recipient runs at a time, and the
//! heartbeat, the master loop and the data plane never wait on it.

use std::sync::Arc;
use std::time::Duration;

use alerts::delivery::{Deliverer, RecipientView, Step};
use alerts::{Alert, AlertKind};
use cmdb::{AlertConfig, AlertTarget, ClusterDb, Command, Raft, SharedDb};
use model::{Event, EventKind, NodeHealth, NodeId, ResourceState};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::clock::now_ms;

/// How often the task looks again without a change (leadership, retries).
const RECHECK_EVERY: Duration = Duration::from_millis(250);
/// The longest the deliverer goes without looking at the cmdb, whatever changed.
const POLL_AT_LEAST_MS: u64 = 5_000;
/// Events looked at per recipient and round (they are delivered one at a time anyway).
const WANTED_MAX: usize = 64;

/// Pacemaker's alert kind of an event.
pub(crate) fn kind_of(event: &Event) -> AlertKind {
    match &event.kind {
        EventKind::NodeHealth { .. }
        | EventKind::NodeJoined { .. }
        | EventKind::NodeRemoved { .. } => AlertKind::Node,
        EventKind::ResourceAction { .. } | EventKind::ServerHealth { .. } => AlertKind::Resource,
        EventKind::NodeRole { .. }
        | EventKind::MasterElected { .. }
        | EventKind::QuorumForced { .. }
        | EventKind::OperatorAction { .. }
        | EventKind::AlertFailed { .. }
        | EventKind::Threshold { .. } => AlertKind::Attribute,
        EventKind::RemoteView { target, .. } if target.starts_with("node:") => AlertKind::Node,
        EventKind::RemoteView { .. } => AlertKind::Resource,
        // --- fence ---
        EventKind::Fencing { .. } => AlertKind::Fencing,
        EventKind::LoginLocked { .. } => AlertKind::Attribute,
        // --- rotate ---
        EventKind::CertExpiring { .. } => AlertKind::Attribute,
    }
}

/// Whether the recipient `config` wants the alert of `event`: its kind and severity pass
/// the filters, and it is not the recipient's own failed delivery.
pub(crate) fn wants(config: &AlertConfig, event: &Event) -> bool {
    if !config.is_recipient() || event.kind.severity() < config.severity_min {
        return false;
    }
    let kind = kind_of(event).word();
    if !config.kinds.is_empty() && !config.kinds.iter().any(|k| k == kind) {
        return false;
    }
    !matches!(&event.kind, EventKind::AlertFailed { recipient, .. } if *recipient == config.name)
}

/// The alert of `event`, with Pacemaker's fields filled from the cmdb.
pub(crate) fn alert_of(db: &ClusterDb, event: &Event) -> Alert {
    let name = |node: &NodeId| {
        db.nodes
            .get(node)
            .map(|n| n.info.name.clone())
            .unwrap_or_else(|| format!("node{node}"))
    };
    let mut alert = Alert {
        id: event.seq,
        kind: kind_of(event),
        at_ms: event.at_ms,
        node: String::new(),
        node_id: 0,
        desc: event.kind.describe(),
        resource: None,
        task: None,
        interval_ms: 0,
        rc: 0,
        target_rc: 0,
        status: 0,
        attribute: None,
    };
    let mut on_node = |node: &NodeId| {
        alert.node = name(node);
        alert.node_id = node.0;
    };
    match &event.kind {
        EventKind::NodeHealth { node, to, .. } => {
            on_node(node);
            // Pacemaker's words: a node is a `member` or `lost`.
            alert.desc = match to {
                NodeHealth::Online => "member",
                NodeHealth::Suspect => "suspect",
                NodeHealth::Down => "lost",
            }
            .to_owned();
        }
        EventKind::NodeJoined { node, .. } => {
            on_node(node);
            alert.desc = "member".to_owned();
        }
        EventKind::NodeRemoved { node, .. } => {
            on_node(node);
            alert.desc = "removed".to_owned();
        }
        EventKind::ResourceAction {
            resource,
            node,
            action,
            reason,
        } => {
            on_node(node);
            resource_fields(db, &mut alert, resource, *node, action, reason);
        }
        EventKind::Threshold {
            rule, node, value, ..
        } => {
            on_node(node);
            alert.attribute = Some((rule.clone(), value.clone()));
        }
        // --- fence ---
        EventKind::Fencing { node, outcome, .. } => {
            on_node(node);
            // Pacemaker's fencing alerts carry the operation's result in CRM_alert_rc.
            alert.rc = i32::from(*outcome == model::fence::FenceOutcome::Failed);
        }
        EventKind::ServerHealth {
            node,
            service,
            server,
            healthy,
        } => {
            on_node(node);
            alert.resource = Some(service.clone());
            alert.task = Some("health check".to_owned());
            let state = if *healthy { "healthy" } else { "unhealthy" };
            alert.desc = format!("server {server} is {state}");
            alert.rc = if *healthy { 0 } else { 1 };
        }
        EventKind::OperatorAction { actor, action } => {
            alert.attribute = Some((format!("operator {actor}"), action.clone()));
        }
        other => {
            alert.attribute = Some(("cluster".to_owned(), other.describe()));
        }
    }
    alert
}

/// A resource alert: a failure carries the failed operation and its return code from the
/// operation log, like Pacemaker's; a decision of the master carries its action.
fn resource_fields(
    db: &ClusterDb,
    alert: &mut Alert,
    resource: &model::ResourceId,
    node: NodeId,
    action: &str,
    reason: &str,
) {
    alert.resource = Some(resource.0.clone());
    if action != "failed" {
        alert.task = Some(action.to_owned());
        alert.desc = reason.to_owned();
        return;
    }
    let failed =
        db.resources.operations.iter().rev().find(|entry| {
            entry.node == node && &entry.report.resource == resource && !entry.report.ok
        });
    let (task, state, desc) = match failed {
        Some(entry) => (
            entry.report.operation.clone(),
            entry.report.state_after,
            entry
                .report
                .reason
                .clone()
                .unwrap_or_else(|| reason.to_owned()),
        ),
        None => (
            "monitor".to_owned(),
            ResourceState::Failed,
            reason.to_owned(),
        ),
    };
    alert.task = Some(task);
    alert.desc = desc;
    // OCF_NOT_RUNNING when the instance is gone, OCF_ERR_GENERIC otherwise.
    alert.rc = if state == ResourceState::Stopped {
        7
    } else {
        1
    };
}

/// Delivers `alert` to the recipient `config`; `Err` says why not.
pub(crate) async fn deliver(
    config: &AlertConfig,
    alert: &Alert,
    cluster: &str,
    client: &reqwest::Client,
) -> Result<(), String> {
    let timeout = Duration::from_millis(config.timeout_ms);
    match &config.target {
        AlertTarget::Executable { path, recipient } => {
            let env = alerts::pacemaker_env(alert, recipient, alert.id);
            alerts::run_executable(path, &env, timeout).await
        }
        AlertTarget::Webhook { url } => {
            let body =
                alerts::alertmanager_body(std::slice::from_ref(alert), &config.name, cluster);
            alerts::post_webhook(client, url, &body, timeout).await
        }
        AlertTarget::Rule { .. } => Err(format!("{} is a rule, not a recipient", config.name)),
    }
}

/// A client for webhooks: the system's CA certificates (Debian's `ca-certificates`), if
/// present, for `https://` URLs.
pub(crate) fn webhook_client() -> reqwest::Client {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    if let Ok(certs) = CertificateDer::pem_file_iter("/etc/ssl/certs/ca-certificates.crt") {
        for cert in certs.flatten() {
            let _ = roots.add(cert);
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a reqwest client with a preconfigured rustls backend always builds")
}

/// `alert test`: one test alert to `config`, sent by this node (the master).
pub(crate) async fn send_test(
    state: &crate::api::ApiState,
    config: &AlertConfig,
) -> ::api::AlertTestResult {
    let at_ms = now_ms();
    let node = NodeId(state.node_id);
    let node_name = state.shared.read(|db| {
        db.nodes
            .get(&node)
            .map(|n| n.info.name.clone())
            .unwrap_or_else(|| format!("node{node}"))
    });
    let alert = Alert {
        // Far above any event's sequence number, so it never collides with a real alert.
        id: (1 << 63) | at_ms,
        kind: AlertKind::Attribute,
        at_ms,
        node: node_name,
        node_id: node.0,
        desc: format!("test alert for {}", config.name),
        resource: None,
        task: None,
        interval_ms: 0,
        rc: 0,
        target_rc: 0,
        status: 0,
        attribute: Some(("encluster_test".to_owned(), config.name.clone())),
    };
    // A test waits at most ALERT_TEST_TIMEOUT_MAX, so its answer outlives no forward.
    let limit = u64::try_from(crate::limits::ALERT_TEST_TIMEOUT_MAX.as_millis())
        .expect("seconds fit in u64");
    let config = AlertConfig {
        timeout_ms: config.timeout_ms.min(limit),
        ..config.clone()
    };
    let started = tokio::time::Instant::now();
    let outcome = deliver(&config, &alert, &state.cluster_name, &webhook_client()).await;
    ::api::AlertTestResult {
        name: config.name.clone(),
        delivered: outcome.is_ok(),
        error: outcome.err(),
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        sent_by: node.0,
    }
}

/// Recipients that fell so far behind that events they had not been sent left the bounded
/// event log: each gap is recorded as an `AlertFailed` event (with no attempt) and the
/// cursor moved past it, so no alert is lost without a trace.
fn missed(db: &ClusterDb) -> Vec<Step> {
    let oldest = db.events.front().map_or(db.next_event_seq, |e| e.seq);
    let mut steps = Vec::new();
    for record in db.monitoring.alerts.values() {
        if !record.config.is_recipient() || record.next_seq >= oldest {
            continue;
        }
        let recipient = record.config.name.clone();
        steps.push(Step::GiveUp {
            recipient: recipient.clone(),
            seq: record.next_seq,
            attempts: 0,
            error: format!(
                "events {} to {} left the event log ({} newest are kept) before they could be \
                 delivered",
                record.next_seq,
                oldest - 1,
                cmdb::EVENTS_MAX
            ),
        });
        steps.push(Step::Record {
            recipient,
            next_seq: oldest,
        });
    }
    steps
}

/// What the deliverer needs from the cmdb: every recipient's cursor and wanted events.
fn views(db: &ClusterDb) -> Vec<RecipientView> {
    let oldest = db.events.front().map_or(db.next_event_seq, |e| e.seq);
    db.monitoring
        .alerts
        .values()
        .filter(|record| record.config.is_recipient())
        .map(|record| {
            // Events dropped from the bounded log before delivery are missed.
            let cursor = record.next_seq.max(oldest);
            // The log is in sequence order: start at the cursor, not at the oldest event.
            let first = db.events.partition_point(|e| e.seq < cursor);
            let wanted = db
                .events
                .range(first..)
                .filter(|e| wants(&record.config, e))
                .take(WANTED_MAX)
                .map(|e| e.seq)
                .collect();
            RecipientView {
                name: record.config.name.clone(),
                cursor,
                wanted,
            }
        })
        .collect()
}

/// What, when unchanged, leaves nothing new to deliver: the next event's number, and each
/// recipient's name and recorded cursor (a cursor moves after each delivery).
fn delivery_state(db: &ClusterDb) -> (u64, u64) {
    let cursors = db.monitoring.alerts.values().fold(0u64, |digest, record| {
        let name = record
            .config
            .name
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        digest
            .wrapping_mul(1_000_003)
            .wrapping_add(name ^ record.next_seq)
    });
    (db.next_event_seq, cursors)
}

type Outcome = (String, u64, Result<(), String>);

/// Delivers alerts while this node is master, until `shutdown`.
pub async fn run(raft: Raft, shared: SharedDb, cluster: String, shutdown: CancellationToken) {
    let client = webhook_client();
    let mut changes = shared.subscribe();
    let mut deliverer: Option<Deliverer> = None;
    let mut running: JoinSet<Outcome> = JoinSet::new();
    let mut last_seen = None;
    let mut last_poll_ms: u64 = 0;
    let sender = Sender {
        raft: &raft,
        shared: &shared,
        cluster: &cluster,
        client: &client,
    };
    loop {
        if raft.is_leader() {
            let machine = deliverer.get_or_insert_with(|| {
                info!("Delivering alerts as master");
                last_seen = None;
                Deliverer::new()
            });
            // Most applied entries change nothing here (no new event, no cursor moved): the
            // views, which read the event log under the replica's read lock, are skipped.
            let now = now_ms();
            let seen = shared.read(delivery_state);
            let retry_due = machine.next_retry_ms().is_some_and(|at| at <= now);
            let stale = now >= last_poll_ms.saturating_add(POLL_AT_LEAST_MS);
            if last_seen != Some(seen) || retry_due || stale {
                last_seen = Some(seen);
                last_poll_ms = now;
                let (mut steps, views) = shared.read(|db| (missed(db), views(db)));
                steps.extend(machine.poll(&views, now));
                if !sender.carry_out(steps, &mut running).await {
                    deliverer = None;
                    running.abort_all();
                }
            }
        } else if deliverer.take().is_some() {
            debug!("No longer master: alert delivery stops");
            running.abort_all();
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            changed = changes.changed() => {
                if changed.is_err() {
                    // The replica is gone: the agent is stopping.
                    shutdown.cancelled().await;
                    break;
                }
            }
            Some(joined) = running.join_next(), if !running.is_empty() => {
                let Ok((recipient, seq, outcome)) = joined else {
                    // A delivery that panicked leaves its recipient in flight for ever:
                    // start again from the cursors the cmdb recorded.
                    deliverer = None;
                    running.abort_all();
                    continue;
                };
                let Some(machine) = deliverer.as_mut() else { continue };
                let steps = match outcome {
                    Ok(()) => machine.delivered(&recipient, seq),
                    Err(error) => {
                        warn!(recipient, seq, %error, "Alert delivery failed");
                        machine.failed(&recipient, seq, &error, now_ms())
                    }
                };
                if !sender.carry_out(steps, &mut running).await {
                    deliverer = None;
                    running.abort_all();
                }
            }
            () = tokio::time::sleep(RECHECK_EVERY) => {}
        }
    }
    running.abort_all();
}

struct Sender<'a> {
    raft: &'a Raft,
    shared: &'a SharedDb,
    cluster: &'a str,
    client: &'a reqwest::Client,
}

impl Sender<'_> {
    /// Carries the steps out; `false` when a record could not be written (no longer master).
    async fn carry_out(&self, steps: Vec<Step>, running: &mut JoinSet<Outcome>) -> bool {
        for step in steps {
            match step {
                Step::Send { recipient, seq } => self.send(recipient, seq, running),
                Step::Record {
                    recipient,
                    next_seq,
                } => {
                    let command = Command::AlertDelivered {
                        name: recipient,
                        next_seq,
                    };
                    if !self.write(command).await {
                        return false;
                    }
                }
                Step::GiveUp {
                    recipient,
                    seq,
                    attempts,
                    error,
                } => {
                    let event = EventKind::AlertFailed {
                        recipient,
                        event: seq,
                        attempts,
                        error: error.chars().take(512).collect(),
                    };
                    let command = Command::RecordEvents {
                        at_ms: now_ms(),
                        events: vec![event],
                    };
                    if !self.write(command).await {
                        return false;
                    }
                }
            }
        }
        true
    }

    fn send(&self, recipient: String, seq: u64, running: &mut JoinSet<Outcome>) {
        let found = self.shared.read(|db| {
            let config = db.monitoring.alerts.get(&recipient)?.config.clone();
            let event = db.events.iter().find(|e| e.seq == seq)?;
            Some((config, alert_of(db, event)))
        });
        let Some((config, alert)) = found else {
            // Removed meanwhile, or dropped from the event log: nothing to send.
            running.spawn(async move { (recipient, seq, Ok(())) });
            return;
        };
        let cluster = self.cluster.to_owned();
        let client = self.client.clone();
        running.spawn(async move {
            let outcome = deliver(&config, &alert, &cluster, &client).await;
            (recipient, seq, outcome)
        });
    }

    async fn write(&self, command: Command) -> bool {
        if let Err(reason) = crate::resources::gate(self.shared, &command) {
            debug!(%reason, "Alert record not written");
            return false;
        }
        match self.raft.client_write(command).await {
            Ok(_) => true,
            Err(error) => {
                debug!(%error, "Alert record not written");
                false
            }
        }
    }
}

/// Writes the events of this node's threshold rules to the cmdb through the master, in
/// order, until `shutdown`; a batch that cannot be written after a few attempts is dropped
/// (the rule's state is kept, so the next change is still reported).
pub async fn write_events(
    raft: Raft,
    shared: SharedDb,
    peer: crate::peer::PeerClient,
    mut events: tokio::sync::mpsc::Receiver<Vec<EventKind>>,
    shutdown: CancellationToken,
) {
    const ATTEMPTS: u32 = 5;
    loop {
        let batch = tokio::select! {
            () = shutdown.cancelled() => return,
            batch = events.recv() => match batch { Some(batch) => batch, None => return },
        };
        let command = Command::RecordEvents {
            at_ms: now_ms(),
            events: batch,
        };
        for attempt in 1..=ATTEMPTS {
            match crate::resources::write_to_master(&raft, &shared, &peer, &command).await {
                Ok(()) => break,
                Err(error) if attempt == ATTEMPTS => {
                    warn!(%error, "Threshold events dropped after retries");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await,
            }
        }
    }
}

#[cfg(test)]
mod tests;
