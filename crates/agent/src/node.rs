//! One running agent: listeners, the cmdb, the master loop and the heartbeat sender, all
//! owned here and stopped together on shutdown.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use cmdb::{Raft, SharedDb};
use model::{BootMs, NodeInfo};
use openraft::async_runtime::WatchReceiver;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::api::{self, ApiState};
use crate::clock::boot_ms;
use crate::config::AgentConfig;
use crate::contact::{LeaderContact, lease_end};
use crate::limits::{HEARTBEAT_TIMEOUT, LEASE_RETRY, LEASE_RETRY_WINDOW, NODE_LEASE};
use crate::master::{DetectorView, MasterLoop};
use crate::peer::{self, Heartbeat, HeartbeatAck, Network, PeerClient, PeerState};
use crate::recovery::ForcedHistory;
use crate::resources::{ExecutorInputs, LeaseGrant};
use crate::serve::serve_tls;
use crate::tls::NodeTls;

/// Raises this thread's priority to `failure.nice` (see `resource_agents::priority`), to be
/// called before the runtime starts its threads, which inherit it; without the privilege
/// the agent says so and runs at normal priority.
pub fn raise_priority(config: &AgentConfig) {
    let nice = config.failure.nice;
    match resource_agents::priority::raise(nice) {
        Ok(()) => tracing::info!(nice, "Agent runs above normal priority"),
        Err(error) => tracing::warn!(
            nice,
            %error,
            "Cannot raise the agent's priority (run as root or grant CAP_SYS_NICE): under \
             CPU load its heartbeats may be late and nodes falsely suspected"
        ),
    }
}

/// Run an agent until `shutdown` is cancelled.
pub async fn run(config: AgentConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    exit_on_openraft_panic();
    let tls = NodeTls::load(&config.tls)?;
    let peer_listener = bind(&config.peer_addr, "peer_addr").await?;
    let api_listener = bind(&config.api_addr, "api_addr").await?;
    let peer_client = PeerClient::new(tls.peer_client.clone());
    let timeouts = cmdb::RaftTimeouts {
        heartbeat_interval: config.raft.heartbeat_interval,
        election_timeout_min: config.raft.election_timeout_min,
        election_timeout_max: config.raft.election_timeout_max,
        snapshot_logs_since_last: config.raft.snapshot_logs_since_last,
    };
    let raft_config = cmdb::raft_config(&config.cluster_name, timeouts)
        .context("raft timing in the config is not valid")?;
    let forced = Arc::new(ForcedHistory::load(&config.data_dir).with_context(|| {
        format!(
            "cannot read the force-quorum records in {}",
            config.data_dir.display()
        )
    })?);
    // --- witness --- A grant the previous run recorded is acted on before the store opens.
    crate::witness::claim::apply_pending(&config.data_dir, config.node_id).await?;
    let witness =
        crate::witness::claim::ClaimSetup::new(&config, &tls.ca_pem, tls.peer_client.clone())?;
    let (raft, shared, raft_latency) = cmdb::open(
        config.node_id,
        &config.data_dir,
        raft_config,
        Network::new(peer_client.clone(), forced.clone()),
    )
    .await
    .with_context(|| {
        format!(
            "cannot open the data directory {}",
            config.data_dir.display()
        )
    })?;

    let (heartbeat_tx, heartbeat_rx) = mpsc::channel(1024);
    let contact = Arc::new(LeaderContact::new(boot_ms()));
    let view: DetectorView = Arc::new(Mutex::new(BTreeMap::new()));
    let reports = crate::upgrade::NodeReports::default();
    let mut tasks = JoinSet::new();
    let remote = Arc::new(crate::remote::Remote::default());
    let instance_figures = Arc::new(crate::metrics::InstanceFigures::default());
    let loop_lag = Arc::new(crate::lag::LoopLag::default());
    let (notify_inbox, notify_calls) = mpsc::channel(executor::NOTIFY_CALL_QUEUE_MAX);
    let status_texts = Arc::new(crate::status_texts::StatusTexts::default());
    let peer_state = PeerState {
        raft: raft.clone(),
        shared: shared.clone(),
        heartbeats: heartbeat_tx,
        contact: contact.clone(),
        forced,
        remote: remote.clone(),
        reports: reports.clone(),
        notify_inbox: notify_inbox.clone(),
        status_texts: status_texts.clone(),
    };
    let peer_server = serve_tls(
        peer_listener,
        tls.peer_server.clone(),
        peer::router(peer_state),
        crate::serve::ServeLimits {
            header_read_timeout: crate::limits::PEER_HEADER_READ_TIMEOUT,
            body_read_timeout: None,
            connections_max: crate::limits::PEER_CONNECTIONS_MAX,
            connections_per_client_max: crate::limits::PEER_CONNECTIONS_MAX,
        },
        shutdown.clone(),
    );
    spawn_critical(&mut tasks, "peer listener", &shutdown, peer_server);
    let lb = std::sync::Arc::new(crate::lb_agent::LbAgent::with_cluster(
        shared.clone(),
        &config.lb,
    ));
    let mut api_state = ApiState::new(&config, raft.clone(), shared.clone(), view.clone(), &tls)
        .with_lb(lb.clone())
        .with_remote(remote.clone())
        .with_reports(reports.clone())
        .with_status_texts(status_texts.clone());
    // Monitoring is not critical: a node that cannot keep metrics still serves.
    let metrics = config
        .monitoring
        .then(|| crate::metrics::Metrics::open(&config.data_dir, &config.name));
    match metrics {
        Some(Ok(metrics)) => {
            api_state = api_state.with_metrics(metrics.clone());
            let (threshold_events, events_rx) = mpsc::channel(16);
            let sources = crate::metrics::Sources {
                raft: raft.clone(),
                shared: shared.clone(),
                node: model::NodeId(config.node_id),
                lb: lb.clone(),
                threshold_events: threshold_events.clone(),
                remote: remote.clone(),
                raft_latency,
                instances: instance_figures.clone(),
                loop_lag: loop_lag.clone(),
            };
            let remote_context = crate::remote::RemoteContext {
                node: model::NodeId(config.node_id),
                source: crate::remote::source_of(&config.peer_addr),
                raft: raft.clone(),
                shared: shared.clone(),
                client: peer_client.clone(),
                events: threshold_events,
            };
            tasks.spawn(crate::remote::run(remote, remote_context, shutdown.clone()));
            tasks.spawn(crate::alerting::write_events(
                raft.clone(),
                shared.clone(),
                peer_client.clone(),
                events_rx,
                shutdown.clone(),
            ));
            tasks.spawn(crate::metrics::run(metrics, sources, shutdown.clone()));
        }
        Some(Err(error)) => warn!(%error, "Metrics are off: cannot open their directory"),
        None => info!("Monitoring is off (monitoring = false in the config)"),
    }
    let api_server = serve_tls(
        api_listener,
        tls.api_server.clone(),
        api::router(api_state),
        crate::serve::ServeLimits {
            header_read_timeout: config.api.header_read_timeout,
            body_read_timeout: Some(config.api.body_read_timeout),
            connections_max: config.api.connections_max,
            connections_per_client_max: config.api.connections_per_client_max,
        },
        shutdown.clone(),
    );
    spawn_critical(&mut tasks, "API listener", &shutdown, api_server);
    let master = MasterLoop {
        config: config.clone(),
        raft: raft.clone(),
        shared: shared.clone(),
        heartbeats: heartbeat_rx,
        contact: contact.clone(),
        view,
        reports,
    };
    spawn_critical(
        &mut tasks,
        "master loop",
        &shutdown,
        master.run(shutdown.clone()),
    );
    // Alert delivery is not critical either: a recipient's trouble never stops the agent.
    tasks.spawn(crate::alerting::run(
        raft.clone(),
        shared.clone(),
        config.cluster_name.clone(),
        shutdown.clone(),
    ));
    // Certificate renewal is not critical: a node that cannot renew keeps its certificate.
    let keeper = crate::certs::CertKeeper::new(
        &config,
        &tls,
        raft.clone(),
        shared.clone(),
        peer_client.clone(),
    );
    tasks.spawn(keeper.run(shutdown.clone()));
    let raft_core = watch_raft_core(raft.clone(), shutdown.clone());
    spawn_critical(&mut tasks, "Raft core watch", &shutdown, raft_core);
    if let Some(witness) = witness {
        let claims = crate::witness::claim::run(witness, raft.clone(), shutdown.clone());
        spawn_critical(&mut tasks, "witness claims", &shutdown, claims);
    }
    let executor = crate::resources::start(
        &mut tasks,
        &config,
        lb,
        raft.clone(),
        shared.clone(),
        peer_client.clone(),
        instance_figures,
        crate::resources::Instances {
            notify_inbox,
            notify_calls,
            status_texts,
        },
        shutdown.clone(),
    );
    let heartbeats = send_heartbeats(
        config.clone(),
        raft.clone(),
        peer_client,
        executor,
        contact,
        loop_lag,
        shutdown.clone(),
    );
    spawn_critical(&mut tasks, "heartbeats", &shutdown, heartbeats);
    info!(node = config.node_id, peer = %config.peer_addr, api = %config.api_addr, "Agent started");

    bootstrap(&config, &raft, &shared, &tls).await;
    // Both listeners serve: tell systemd (Type=notify) and pet its watchdog from now on.
    let notify = crate::notify::run(
        crate::notify::Notifier::from_env(),
        crate::notify::watchdog_interval(),
        shutdown.clone(),
    );
    tasks.spawn(notify);

    shutdown.cancelled().await;
    info!(node = config.node_id, "Agent stopping");
    if let Err(error) = raft.shutdown().await {
        warn!(%error, "Raft did not shut down cleanly");
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Runs a task the agent cannot do its job without, until `shutdown`. If it panics, or
/// ends while the agent is not stopping, the whole agent stops (fail-stop): a node whose
/// master loop or executor died would keep its Raft role and its leases but do nothing
/// with them; stopped, it is a crashed node the survivors take over from, and the lease
/// watchdogs fence what it ran. (Release builds abort on any panic; this catches the
/// panics of debug builds and the tasks that return.)
pub(crate) fn spawn_critical<F>(
    tasks: &mut JoinSet<()>,
    name: &'static str,
    shutdown: &CancellationToken,
    task: F,
) where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let handle = tokio::spawn(task);
    let shutdown = shutdown.clone();
    tasks.spawn(async move {
        match handle.await {
            Err(error) if error.is_panic() => fail_stop(name, "it panicked"),
            // Cancelled only by the runtime shutting down.
            Err(_) => {}
            Ok(()) if shutdown.is_cancelled() => {}
            Ok(()) => fail_stop(name, "it ended while the agent was running"),
        }
    });
}

/// Stop the agent at once because a critical part of it failed: exit code 70 (EX_SOFTWARE),
/// no graceful shutdown (which would wait on the failed part); systemd restarts it.
pub(crate) fn fail_stop(task: &str, cause: &str) -> ! {
    tracing::error!(
        task,
        cause,
        "A critical task failed; the agent stops (fail-stop) and its leases lapse"
    );
    std::process::exit(70)
}

/// Any panic inside openraft stops the agent, in debug builds too (release builds abort on
/// every panic). Its core, state machine worker and replication streams are tasks of their
/// own: the core's death is also seen by `watch_raft_core`, but a dead state machine
/// worker would leave a node that answers and elects yet never applies (seen: a debug
/// assertion in its worker after a force-quorum).
fn exit_on_openraft_panic() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        if let Some(location) = info.location()
            && location.file().contains("/openraft-")
        {
            let cause = format!("openraft panicked at {location}");
            fail_stop("openraft", &cause);
        }
    }));
}

/// Ends (and the agent fail-stops) when openraft's core stops while the agent is running:
/// a storage error such as a full disk (`Fatal::StorageError`) or a panic inside openraft
/// (its metrics sender, owned by the core, is dropped). A node with a dead core would
/// keep answering with the last master and term it knew, forever.
async fn watch_raft_core(raft: Raft, shutdown: CancellationToken) {
    let mut metrics = raft.metrics();
    loop {
        let stopped = metrics.borrow_watched().running_state.clone().err();
        if let Some(fatal) = stopped {
            if shutdown.is_cancelled() {
                return;
            }
            fail_stop("Raft core", &format!("openraft's core stopped: {fatal}"));
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = metrics.changed() => if changed.is_err() {
                if shutdown.is_cancelled() {
                    return;
                }
                fail_stop("Raft core", "openraft's core ended without a result (a panic)");
            }
        }
    }
}

async fn bind(addr: &str, field: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {field} {addr}: is another agent running there?")
    })
}

/// On the node that creates the cluster: initialise Raft once, unless another member
/// already reports a master (then this node lost its data and must rejoin instead).
async fn bootstrap(config: &AgentConfig, raft: &Raft, shared: &SharedDb, tls: &NodeTls) {
    let Some(bootstrap) = &config.bootstrap else {
        return;
    };
    if raft.is_initialized().await.unwrap_or(true) || shared.read(|db| !db.meta.name.is_empty()) {
        return;
    }
    for member in bootstrap.members.iter().filter(|m| m.id != config.node_id) {
        let client = ::api::Client::new(
            &format!("https://{}", member.api_addr),
            tls.api_client.clone(),
            None,
        );
        let probe = tokio::time::timeout(Duration::from_millis(500), client.health()).await;
        if let Ok(Ok(health)) = probe
            && health.master.is_some()
        {
            info!(
                member = member.id,
                "Cluster already exists; not bootstrapping again"
            );
            return;
        }
    }
    let mut members: BTreeMap<u64, NodeInfo> = bootstrap
        .members
        .iter()
        .map(|m| {
            (
                m.id,
                NodeInfo {
                    name: m.name.clone(),
                    peer_addr: m.peer_addr.clone(),
                    api_addr: m.api_addr.clone(),
                },
            )
        })
        .collect();
    members.entry(config.node_id).or_insert_with(|| NodeInfo {
        name: config.name.clone(),
        peer_addr: config.peer_addr.clone(),
        api_addr: config.api_addr.clone(),
    });
    // The first voters_max members vote; the dynamic-quorum policy adds the rest later.
    let learners: BTreeMap<u64, NodeInfo> = members.split_off(
        &members
            .keys()
            .nth(config.voters_max)
            .copied()
            .unwrap_or(u64::MAX),
    );
    match raft.initialize(members).await {
        Ok(()) => info!(node = config.node_id, "Cluster initialised"),
        Err(error) => warn!(%error, "Cluster initialisation skipped"),
    }
    for (id, info) in learners {
        let raft = raft.clone();
        tokio::spawn(async move {
            for _ in 0..100 {
                if raft.add_learner(id, info.clone(), false).await.is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
}

/// Send a heartbeat to the master every interval, and at once when a new master appears,
/// outside the Raft log, and pass the lease it grants to this node's executor. The master
/// grants its own lease. A lease runs from when the heartbeat was sent, less the age of the
/// quorum acknowledgement the master granted it on (see `contact`).
async fn send_heartbeats(
    config: AgentConfig,
    raft: Raft,
    client: PeerClient,
    executor: ExecutorInputs,
    contact: Arc<LeaderContact>,
    loop_lag: Arc<crate::lag::LoopLag>,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(config.failure.heartbeat_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Server metrics change only with the vote, the leader or the membership.
    let mut server_rx = raft.server_metrics();
    let mut addressed: Option<(u64, u64)> = None;
    let mut addressed_since = tokio::time::Instant::now();
    let reported = peer::HeartbeatVersion {
        version: crate::upgrade::version(),
        format: cmdb::FORMAT_CURRENT,
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            () = loop_lag.tick(&mut ticker) => {}
            changed = server_rx.changed() => {
                let now_addressing = cmdb::read_metrics(&raft, |metrics| {
                    metrics.current_leader.map(|m| (m, metrics.current_term))
                });
                if changed.is_err() || now_addressing == addressed || now_addressing.is_none() {
                    continue;
                }
            }
        }
        // Read in place: the master's address only, not a copy of the whole membership.
        let (master, term, master_addr) = cmdb::read_metrics(&raft, |metrics| {
            let master = metrics.current_leader;
            let addr = master.and_then(|master| {
                let membership = metrics.membership_config.membership();
                membership
                    .get_node(&master)
                    .map(|node| node.peer_addr.clone())
            });
            (master, metrics.current_term, addr)
        });
        let Some(master) = master else {
            continue;
        };
        if addressed != Some((master, term)) {
            addressed = Some((master, term));
            addressed_since = tokio::time::Instant::now();
        }
        // Quick retries only just after a failover, not against a master cut off for good.
        let retry_soon = addressed_since.elapsed() < LEASE_RETRY_WINDOW;
        if master == config.node_id {
            if !grant_own_lease(&raft, &executor, &contact) && retry_soon {
                ticker.reset_after(LEASE_RETRY);
            }
            continue;
        }
        let Some(peer_addr) = master_addr else {
            continue;
        };
        let sent_at = boot_ms();
        let beat = heartbeat(config.node_id, term, &contact, sent_at);
        // --- upgrade --- The version follows the heartbeat (`peer::HeartbeatVersion`), and
        // the load follows the version (`peer::HeartbeatLoad`).
        let load = peer::HeartbeatLoad {
            loop_lag_ms: loop_lag.recent_ms(),
        };
        let beat = (beat, &reported, &load);
        let sent: Result<HeartbeatAck, _> = client
            .call(&peer_addr, "/peer/heartbeat", &beat, HEARTBEAT_TIMEOUT)
            .await;
        match sent {
            Ok(ack) if ack.lease_granted => executor.lease(LeaseGrant {
                valid_until: lease_end(
                    sent_at,
                    NODE_LEASE,
                    Duration::from_millis(ack.quorum_age_ms),
                ),
                required_index: ack.commit_index,
            }),
            // A master just elected grants once a quorum has acknowledged it, within a
            // Raft round trip: ask again soon rather than a whole interval later, since
            // this node's lease is running out across the failover.
            Ok(ack) if ack.is_master && retry_soon => ticker.reset_after(LEASE_RETRY),
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "Heartbeat not delivered"),
        }
    }
}

/// A heartbeat sent at `sent_at` to the master of `term`.
fn heartbeat(node_id: u64, term: u64, contact: &LeaderContact, sent_at: BootMs) -> Heartbeat {
    let older_contact_age = contact.age_before(term, sent_at);
    Heartbeat {
        node_id,
        term,
        older_contact_age_ms: u64::try_from(older_contact_age.as_millis()).unwrap_or(u64::MAX),
    }
}

/// The master's own lease: from its last quorum acknowledgement, like everyone else's.
/// Whether it was granted.
fn grant_own_lease(raft: &Raft, executor: &ExecutorInputs, contact: &LeaderContact) -> bool {
    let (age, term, required_index) = cmdb::read_metrics(raft, |metrics| {
        let committed = metrics.local_committed.map(|id| id.index).unwrap_or(0);
        let age = crate::master::quorum_ack_age(metrics);
        (age, metrics.current_term, committed)
    });
    let Some(age) = age else {
        return false;
    };
    let now = boot_ms();
    contact.record(term, now);
    executor.lease(LeaseGrant {
        valid_until: lease_end(now, NODE_LEASE, Duration::from_millis(age)),
        required_index,
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The environment variable that makes a test run as the child process.
    const CHILD: &str = "ENCLUSTER_TEST_CRITICAL_CHILD";

    /// In the child: run one critical task that `how` ends, and wait for the agent's tasks
    /// as `run` does. Returns only if the agent did not stop.
    fn child(how: &str) {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let shutdown = CancellationToken::new();
            let mut tasks = JoinSet::new();
            match how {
                "panic" => spawn_critical(&mut tasks, "executor", &shutdown, async {
                    panic!("a bug in the executor");
                }),
                _ => spawn_critical(&mut tasks, "executor", &shutdown, async {}),
            }
            while tasks.join_next().await.is_some() {}
        });
    }

    /// This test binary, run as a child on one test with `how` in its environment.
    fn run_child(test: &str, how: &str) -> std::process::Output {
        let exe = std::env::current_exe().expect("the test binary");
        std::process::Command::new(exe)
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(CHILD, how)
            .output()
            .expect("run the child")
    }

    /// A debug build unwinds, so a panic in a critical task (the executor, the master loop,
    /// a listener) would leave an agent that heartbeats with the task dead: the task's
    /// guard turns it into the fail-stop exit 70 (release builds abort on any panic).
    #[test]
    fn a_critical_task_that_panics_stops_the_agent_with_exit_70() {
        let name = "node::tests::a_critical_task_that_panics_stops_the_agent_with_exit_70";
        if let Ok(how) = std::env::var(CHILD) {
            child(&how);
            return;
        }
        let output = run_child(name, "panic");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(70), "{stderr}");
        assert!(stderr.contains("a bug in the executor"), "{stderr}");
    }

    /// A critical task that returns while the agent runs is as dead as one that panicked.
    #[test]
    fn a_critical_task_that_ends_early_stops_the_agent_with_exit_70() {
        let name = "node::tests::a_critical_task_that_ends_early_stops_the_agent_with_exit_70";
        if let Ok(how) = std::env::var(CHILD) {
            child(&how);
            return;
        }
        let output = run_child(name, "return");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(70), "{stderr}");
    }

    /// A critical task that ends because the agent is stopping is no failure.
    #[tokio::test]
    async fn a_critical_task_that_ends_on_shutdown_is_no_failure() {
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let stopped = shutdown.clone();
        spawn_critical(&mut tasks, "executor", &shutdown, async move {
            stopped.cancelled().await;
        });
        shutdown.cancel();
        while let Some(joined) = tasks.join_next().await {
            joined.expect("the guard ends cleanly");
        }
    }
}
