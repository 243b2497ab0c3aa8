//! Remote monitors' runtime (issue 13, point 3): every node probes, from outside, the
//! services other nodes run (resources with a TCP or HTTP probe, VIPs, virtual services'
//! listeners, and the other nodes' APIs), as `monitor::remote` decides: each target by at
//! most 5 observers, every 5 s, at most 20 probes a second per node, each probe cut off
//! after 1 s. Probes leave from the node's own address (the host of its peer address), so
//! they test what another machine would see.
//!
//! Each node sends its newest views to the master once a second (`/peer/remote-views`);
//! the master combines them with each service's own monitor (the cmdb's status) and writes
//! a `remote_view` event whenever the two start or stop disagreeing. `status` (answered by
//! the master) shows the verdicts, and every node keeps its own probes as series
//! (`remote_probe_up`, `remote_probe_duration_seconds`). Not a critical task.
//!
//! An `unreachable` verdict is a warning, unless the resource's `remote_failure`
//! parameter is `recover`: the master then records a failed monitor of the instance under
//! its owner's current grant (`monitor::remote::recovery`), and recovery runs as for any
//! other failure (the grant is spent, the instance stopped, only a new grant restarts it).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cmdb::{ClusterDb, SharedDb};
use model::{EventKind, NodeHealth, NodeId, ResourceState};
use monitor::Kind;
use monitor::host::Sample;
use monitor::remote::recovery::{REMOTE_FAILURE_PARAM, Recoveries, RemoteFailed, RemoteFailure};
use monitor::remote::{
    Book, Judge, Outside, PROBE_TIMEOUT_MS, Planner, Probe, Target, TargetKind, Verdict, View,
    observers_of,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::clock::boot_ms;
use crate::peer::{PeerClient, RemoteReport, RemoteViewWire};

/// How often a node probes what is due, reports to the master, and the master judges.
const ROUND: Duration = Duration::from_secs(1);
/// How long a report to the master may take.
const REPORT_TIMEOUT: Duration = Duration::from_secs(1);

/// One probe's newest result on this node.
#[derive(Clone, Debug)]
struct Observed {
    target: Target,
    reachable: bool,
    seconds: f64,
    detail: String,
}

/// The remote monitors' state, shared by the task, the peer handler and the API.
#[derive(Default)]
pub struct Remote {
    /// Every observer's views, as received (used while this node is master).
    book: Mutex<Book>,
    /// The master's verdicts, by target id (empty on other nodes).
    verdicts: Mutex<BTreeMap<String, (Target, Verdict, Outside)>>,
    /// This node's own newest probe results, by target id.
    observed: Mutex<BTreeMap<String, Observed>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update replaces whole entries: a panic mid-way leaves nothing half-written.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Remote {
    /// Records an observer's report (the peer handler).
    pub(crate) fn record(&self, report: &RemoteReport) {
        let views: Vec<View> = report
            .views
            .iter()
            .map(|view| View {
                target: view.target.clone(),
                owner: NodeId(view.owner),
                reachable: view.reachable,
                detail: view.detail.clone(),
            })
            .collect();
        lock(&self.book).record(NodeId(report.node_id), &views, boot_ms().0);
    }

    /// The master's verdicts: target id, owner, verdict and the outside views.
    pub fn verdicts(&self) -> Vec<(Target, Verdict, Outside)> {
        lock(&self.verdicts).values().cloned().collect()
    }

    /// This node's probes as samples: up (1 or 0) and duration per target.
    pub fn samples(&self) -> Vec<Sample> {
        let observed = lock(&self.observed);
        let mut samples = Vec::with_capacity(observed.len() * 2);
        for view in observed.values() {
            let labels = vec![
                ("owner", view.target.owner.0.to_string()),
                ("target", view.target.id.clone()),
            ];
            samples.push(Sample {
                name: "remote_probe_up",
                labels: labels.clone(),
                kind: Kind::Gauge,
                value: if view.reachable { 1.0 } else { 0.0 },
            });
            samples.push(Sample {
                name: "remote_probe_duration_seconds",
                labels,
                kind: Kind::Gauge,
                value: view.seconds,
            });
        }
        samples
    }
}

/// What the task reads and where it writes.
pub struct RemoteContext {
    /// This node.
    pub node: NodeId,
    /// The address probes leave from, if the node has one of its own.
    pub source: Option<IpAddr>,
    /// The Raft core, for who the master is.
    pub raft: cmdb::Raft,
    /// The local replica.
    pub shared: cmdb::SharedDb,
    /// The peer channel, for reports to the master.
    pub client: PeerClient,
    /// Where the master's `remote_view` events go; full drops them, never waits.
    pub events: tokio::sync::mpsc::Sender<Vec<EventKind>>,
}

/// Probes, reports and (on the master) judges once a second until `shutdown`.
pub async fn run(remote: Arc<Remote>, context: RemoteContext, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(ROUND);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut planner = Planner::default();
    let mut judge = Judge::default();
    let mut recoveries = Recoveries::default();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let (insides, live) = context.shared.read(targets_of);
        let mine: Vec<Target> = insides
            .iter()
            .filter(|(target, _)| observers_of(target.owner, &live).contains(&context.node))
            .map(|(target, _)| target.clone())
            .collect();
        let due = planner.due(&mine, context.node, boot_ms().0);
        let results = futures::future::join_all(
            due.into_iter()
                .map(|target| probe_target(target, context.source)),
        )
        .await;
        let views = remote.update_observed(results, &mine);
        report(&remote, &context, views).await;
        if context.raft.is_leader() {
            let now = boot_ms().0;
            let changes = {
                let mut book = lock(&remote.book);
                book.expire(now);
                judge.judge(&insides, &book, now)
            };
            let verdicts = judge.verdicts();
            *lock(&remote.verdicts) = verdicts.clone();
            let events: Vec<EventKind> = changes.into_iter().map(event_of).collect();
            if !events.is_empty() && context.events.try_send(events).is_err() {
                tracing::warn!("Remote view events dropped: the writer is behind");
            }
            let failed = {
                let book = lock(&remote.book);
                context.shared.read(|db| {
                    let grant = |resource: &str, owner| grant_of(db, resource, owner);
                    recoveries.due(&verdicts, &book, now, grant)
                })
            };
            for failed in failed {
                if !write_failure(&context.raft, &context.shared, &failed).await {
                    recoveries.not_written(&failed);
                }
            }
        } else {
            judge = Judge::default();
            recoveries = Recoveries::default();
            lock(&remote.verdicts).clear();
        }
    }
}

impl Remote {
    /// Keeps the newest result of each of `mine`, forgetting targets no longer watched;
    /// the views to report.
    fn update_observed(&self, results: Vec<Observed>, mine: &[Target]) -> Vec<RemoteViewWire> {
        let mut observed = lock(&self.observed);
        for result in results {
            observed.insert(result.target.id.clone(), result);
        }
        observed.retain(|id, view| mine.iter().any(|t| &t.id == id && *t == view.target));
        observed
            .values()
            .map(|view| RemoteViewWire {
                target: view.target.id.clone(),
                owner: view.target.owner.0,
                reachable: view.reachable,
                detail: view.detail.clone(),
            })
            .collect()
    }
}

/// Sends this node's views to the master (or records them, on the master).
async fn report(remote: &Remote, context: &RemoteContext, views: Vec<RemoteViewWire>) {
    let report = RemoteReport {
        node_id: context.node.0,
        views,
    };
    let metrics = cmdb::metrics(&context.raft);
    let Some(master) = metrics.current_leader else {
        return;
    };
    if master == context.node.0 {
        remote.record(&report);
        return;
    }
    if report.views.is_empty() {
        return;
    }
    let Some(node) = metrics.membership_config.membership().get_node(&master) else {
        return;
    };
    let sent: Result<(), _> = context
        .client
        .call(
            &node.peer_addr,
            "/peer/remote-views",
            &report,
            REPORT_TIMEOUT,
        )
        .await;
    if let Err(error) = sent {
        tracing::debug!(%error, "Remote views not reported to the master");
    }
}

/// The `remote_failure` choice of `resource` and its owner's current grant, while the
/// owner runs it (a parameter the schema did not check reads as the default, a warning).
fn grant_of(db: &ClusterDb, resource: &str, owner: NodeId) -> Option<(RemoteFailure, u64)> {
    let id = model::ResourceId(resource.to_owned());
    let declared = db.resources.resources.get(&id)?;
    let choice = declared
        .params
        .get(REMOTE_FAILURE_PARAM)
        .map(String::as_str);
    let policy = RemoteFailure::parse(choice).unwrap_or_default();
    let token = *db.resources.assignments.get(&owner)?.get(&id)?;
    let running = db.resources.status.get(&id)?.get(&owner)?.state == ResourceState::Running;
    running.then_some((policy, token))
}

/// Records, as the master, a failed monitor of the unreachable instance under its grant:
/// the cmdb's failure path then counts it, spends the grant and recovery follows. Whether
/// it was written.
async fn write_failure(raft: &cmdb::Raft, shared: &SharedDb, failed: &RemoteFailed) -> bool {
    let now = crate::clock::now_ms();
    let reason = failed.reason();
    tracing::warn!(
        resource = %failed.resource,
        node = %failed.target.owner,
        token = failed.fencing_token,
        %reason,
        "Unreachable instance counted as failed"
    );
    let report = cmdb::OperationReport {
        resource: model::ResourceId(failed.resource.clone()),
        operation: "monitor".to_owned(),
        fencing_token: failed.fencing_token,
        ok: false,
        state_after: ResourceState::Failed,
        reason: Some(reason),
        started_at: now,
        finished_at: now,
    };
    let command = cmdb::Command::RecordOperation {
        node: failed.target.owner,
        report,
        at_ms: now,
    };
    if let Err(reason) = crate::resources::gate(shared, &command) {
        tracing::warn!(%reason, "Cannot record the unreachable instance's failure");
        return false;
    }
    match raft.client_write(command).await {
        Ok(_) => true,
        Err(error) => {
            tracing::warn!(%error, "Cannot record the unreachable instance's failure");
            false
        }
    }
}

fn event_of(change: monitor::remote::Change) -> EventKind {
    tracing::info!(
        target = %change.target.id,
        node = %change.target.owner,
        verdict = %change.to,
        "Remote view changed"
    );
    EventKind::RemoteView {
        target: change.target.id,
        node: change.target.owner,
        verdict: change.to.word().to_owned(),
        observers: change.outside.observers,
        reachable: change.outside.reachable,
    }
}

/// Every target in the cluster with its own node's view of its health, and the live
/// nodes, from the replica.
pub fn targets_of(db: &ClusterDb) -> (Vec<(Target, bool)>, Vec<NodeId>) {
    let mut live = Vec::new();
    let mut targets = Vec::new();
    for (id, record) in &db.nodes {
        let online = record.health == NodeHealth::Online;
        if online {
            live.push(*id);
        }
        if let Ok(probe) = Probe::tcp(&record.info.api_addr) {
            let target = Target::new(TargetKind::Node, &id.0.to_string(), *id, probe);
            targets.push((target, online));
        }
    }
    let held = held_addresses(db);
    for (id, by_node) in &db.resources.status {
        let Some(resource) = db.resources.resources.get(id) else {
            continue;
        };
        for (node, status) in by_node {
            let healthy = match status.state {
                ResourceState::Running => true,
                ResourceState::Failed => false,
                ResourceState::Stopped | ResourceState::Unknown => continue,
            };
            for target in resource_targets(resource, *node, &held) {
                targets.push((target, healthy));
            }
        }
    }
    (targets, live)
}

/// The addresses of the running `vip` instances, with the node holding each.
fn held_addresses(db: &ClusterDb) -> Vec<(IpAddr, NodeId)> {
    let mut held = Vec::new();
    for (id, by_node) in &db.resources.status {
        let Some(resource) = db.resources.resources.get(id) else {
            continue;
        };
        let ip = resource.params.get("ip").and_then(|ip| ip.parse().ok());
        let (true, Some(ip)) = (resource.type_name == "vip", ip) else {
            continue;
        };
        for (node, status) in by_node {
            if status.state == ResourceState::Running {
                held.push((ip, *node));
            }
        }
    }
    held
}

/// What of a resource instance on `node` can be probed from outside; `held` lists the
/// running VIPs' addresses and their nodes.
fn resource_targets(
    resource: &model::Resource,
    node: NodeId,
    held: &[(IpAddr, NodeId)],
) -> Vec<Target> {
    let name = resource.id.0.as_str();
    let params = &resource.params;
    let probe = match resource.type_name.as_str() {
        "vip" => params
            .get("ip")
            .and_then(|ip| ip.parse::<IpAddr>().ok())
            .map(|ip| Probe::Address(SocketAddr::new(ip, 9).to_string())),
        _ => params
            .get("probe_http")
            .map(|url| Probe::http(url))
            .or_else(|| params.get("probe_tcp").map(|addr| Probe::tcp(addr)))
            .and_then(Result::ok),
    };
    let kind = if resource.type_name == "vip" {
        TargetKind::Vip
    } else {
        TargetKind::Resource
    };
    let mut targets: Vec<Target> = probe
        .map(|probe| Target::new(kind, name, node, probe))
        .into_iter()
        .collect();
    // A single director's listeners are its own. A clone's are the same addresses on
    // every node, and whoever holds an address's VIP answers on it: each of a clone
    // instance's listeners is probed where its node holds the listener's VIP.
    if resource.type_name == "lb" {
        let listen = params.get("listen").map(String::as_str).unwrap_or_default();
        for address in listen.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let ip = address.parse::<SocketAddr>().ok().map(|a| a.ip());
            let own = resource.clone.is_none()
                || held
                    .iter()
                    .any(|(vip, holder)| Some(*vip) == ip && *holder == node);
            if !own {
                continue;
            }
            if let Ok(probe) = Probe::tcp(address) {
                let label = format!("{name}@{address}");
                targets.push(Target::new(TargetKind::Listener, &label, node, probe));
            }
        }
    }
    targets
}

/// Runs one probe from `source`, cut off after `PROBE_TIMEOUT_MS`.
async fn probe_target(target: Target, source: Option<IpAddr>) -> Observed {
    let started = tokio::time::Instant::now();
    let timeout = Duration::from_millis(PROBE_TIMEOUT_MS);
    let outcome = match tokio::time::timeout(timeout, probe(&target.probe, source)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("no answer within {timeout:?}")),
    };
    Observed {
        reachable: outcome.is_ok(),
        detail: outcome.err().unwrap_or_default(),
        seconds: started.elapsed().as_secs_f64(),
        target,
    }
}

async fn probe(probe: &Probe, source: Option<IpAddr>) -> Result<(), String> {
    match probe {
        Probe::Tcp(address) => connect(address, source).await.map(drop),
        Probe::Address(address) => match connect(address, source).await {
            Ok(_) => Ok(()),
            Err(error) if error.contains("refused") => Ok(()),
            Err(error) => Err(error),
        },
        Probe::Http { address, path } => {
            let mut stream = connect(address, source).await?;
            let request =
                format!("GET {path} HTTP/1.0\r\nHost: {address}\r\nConnection: close\r\n\r\n");
            stream
                .write_all(request.as_bytes())
                .await
                .map_err(|error| format!("cannot send the request: {error}"))?;
            let mut head = [0u8; 32];
            let read = stream
                .read(&mut head)
                .await
                .map_err(|error| format!("no answer: {error}"))?;
            http_status_ok(&head[..read])
        }
    }
}

/// Whether an answer's status line is 2xx or 3xx.
fn http_status_ok(head: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(head);
    let code = text
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    if (200..400).contains(&code) {
        Ok(())
    } else {
        Err(format!("answered {code}"))
    }
}

async fn connect(address: &str, source: Option<IpAddr>) -> Result<tokio::net::TcpStream, String> {
    let target = tokio::net::lookup_host(address)
        .await
        .map_err(|error| format!("cannot resolve {address}: {error}"))?
        .next()
        .ok_or_else(|| format!("{address} resolves to nothing"))?;
    let socket = if target.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(|error| format!("no socket: {error}"))?;
    if let Some(source) = source.filter(|ip| ip.is_ipv4() == target.is_ipv4()) {
        // An address this host does not have is no reason not to probe.
        let _ = socket.bind(SocketAddr::new(source, 0));
    }
    socket
        .connect(target)
        .await
        .map_err(|error| format!("{address}: {error}"))
}

/// The address probes leave from: the host of the node's peer address, unless it is the
/// unspecified address.
pub fn source_of(peer_addr: &str) -> Option<IpAddr> {
    let ip = peer_addr.parse::<SocketAddr>().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

#[cfg(test)]
mod tests;
