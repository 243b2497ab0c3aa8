//! One running virtual service: its listener, its current pool, its health tasks and the
//! connections it serves.
//!
//! The control side (`Service`) is owned by the director and changes the service only by
//! publishing a new pool; the data side (`ServiceShared`) is what each connection holds.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{HealthCheck, Protocol, ServerState, ServiceConfig};
use crate::counters::{
    self, ServerCounters, ServerSnapshot, ServiceCounters, ServiceLease, ServiceSnapshot,
};
use crate::health::HealthTask;
use crate::http;
use crate::limits;
use crate::persistence::AffinityTable;
use crate::pool::{Picked, Pool};
use crate::relay::{self, Tally, TcpRelay};
use crate::upstream::IdleConns;

/// What every connection of a service shares.
pub(crate) struct ServiceShared {
    pub(crate) name: String,
    pub(crate) counters: Arc<ServiceCounters>,
    pub(crate) affinity: AffinityTable,
    pool: watch::Receiver<Arc<Pool>>,
    pub(crate) relay: TcpRelay,
    /// Time an HTTP client has to send a request head.
    pub(crate) header_read_timeout: Duration,
    /// Longest pause an HTTP client may make within a request body.
    pub(crate) body_read_timeout: Duration,
    /// Kept-alive HTTP connections to the sorry server.
    pub(crate) sorry_idle: Arc<IdleConns>,
    /// Connections and their helper tasks; the director waits for them on shutdown.
    pub(crate) tasks: TaskTracker,
    /// Cancelled only when the director gives up waiting for connections at shutdown.
    pub(crate) kill: CancellationToken,
}

/// Where a new connection or request goes.
pub(crate) enum Choice {
    Server(Picked),
    Sorry(SocketAddr),
    Unavailable,
}

impl ServiceShared {
    /// The current pool; taken once per connection (per request in HTTP mode).
    pub(crate) fn pool(&self) -> Arc<Pool> {
        Arc::clone(&self.pool.borrow())
    }

    /// Persistence first, then the algorithm, then the sorry server if no server is up.
    pub(crate) fn choose(&self, pool: &Pool, client: IpAddr, tried: &[usize]) -> Choice {
        let picked = match pool.config.persistence {
            Some(timeout) => {
                let now = Instant::now();
                let remembered = self.affinity.lookup(client, timeout, now);
                let picked = remembered
                    .and_then(|server| pool.pick_named(&server, tried))
                    .or_else(|| pool.pick(client, tried));
                if let Some(picked) = &picked {
                    let server = &pool.servers[picked.index].config.name;
                    self.affinity.record(client, server, timeout, now);
                }
                picked
            }
            None => pool.pick(client, tried),
        };
        match (picked, pool.config.sorry_server) {
            (Some(picked), _) => Choice::Server(picked),
            (None, Some(sorry)) if !pool.any_up() => Choice::Sorry(sorry),
            (None, _) => Choice::Unavailable,
        }
    }

    pub(crate) fn snapshot(&self) -> ServiceSnapshot {
        let pool = self.pool();
        let counters = &self.counters;
        ServiceSnapshot {
            name: self.name.clone(),
            protocol: pool.config.protocol,
            connections_total: counters::read(&counters.connections_total),
            connections_active: counters::read(&counters.connections_active),
            connections_rejected: counters::read(&counters.connections_rejected),
            bytes_in: counters::read(&counters.bytes_in),
            bytes_out: counters::read(&counters.bytes_out),
            requests_total: counters::read(&counters.requests_total),
            errors_total: counters::read(&counters.errors_total),
            sorry_total: counters::read(&counters.sorry_total),
            servers: pool.servers.iter().map(server_snapshot).collect(),
        }
    }
}

fn server_snapshot(server: &crate::pool::PoolServer) -> ServerSnapshot {
    let counters = &server.counters;
    let active = counters.active();
    ServerSnapshot {
        name: server.config.name.clone(),
        addr: server.config.addr,
        weight: server.config.weight,
        state: server.config.state,
        healthy: counters.is_healthy(),
        connections_total: counters::read(&counters.connections_total),
        connections_active: active,
        bytes_in: counters::read(&counters.bytes_in),
        bytes_out: counters::read(&counters.bytes_out),
        requests_total: counters::read(&counters.requests_total),
        errors_total: counters::read(&counters.errors_total),
        health_checks_failed: counters::read(&counters.health_checks_failed),
        drained: server.config.state == ServerState::Draining && active == 0,
        response_time: counters.response_time.snapshot(),
    }
}

/// The control side of a running service.
pub(crate) struct Service {
    pub(crate) shared: Arc<ServiceShared>,
    pool_tx: Arc<watch::Sender<Arc<Pool>>>,
    pub(crate) local_addrs: Vec<SocketAddr>,
    stop: CancellationToken,
    control_tasks: Vec<JoinHandle<()>>,
    health_tasks: HashMap<String, HealthHandle>,
    health_changed: Arc<Notify>,
}

struct HealthHandle {
    addr: SocketAddr,
    check: HealthCheck,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// A stopped service whose connections may still be running.
pub(crate) struct RetiredService {
    pub(crate) tasks: TaskTracker,
    control_tasks: Vec<JoinHandle<()>>,
}

impl RetiredService {
    pub(crate) async fn join_control(&mut self) {
        for task in self.control_tasks.drain(..) {
            let _ = task.await;
        }
    }
}

/// A listen address that could not be bound.
pub(crate) struct ListenError {
    pub(crate) listen: SocketAddr,
    pub(crate) error: io::Error,
}

/// Binds every listen address, or none: a listener already bound is closed when a later one
/// fails, so that a failed start leaves nothing half-open.
fn bind_all(listen: &[SocketAddr]) -> Result<Vec<(TcpListener, SocketAddr)>, ListenError> {
    listen
        .iter()
        .map(|&addr| {
            let listener = bind_listener(addr).map_err(|error| ListenError {
                listen: addr,
                error,
            })?;
            let local = listener.local_addr().map_err(|error| ListenError {
                listen: addr,
                error,
            })?;
            Ok((listener, local))
        })
        .collect()
}

impl Service {
    /// Binds the listeners and starts their accept loops, the pool rebuilder and health checks.
    pub(crate) fn start(
        config: Arc<ServiceConfig>,
        options: &crate::DirectorOptions,
        kill: CancellationToken,
    ) -> Result<Service, ListenError> {
        let listeners = bind_all(&config.listen)?;
        let local_addrs: Vec<SocketAddr> = listeners.iter().map(|(_, local)| *local).collect();
        let server_counters = new_counters(&config, None);
        let pool = Arc::new(Pool::new(Arc::clone(&config), &server_counters));
        let (pool_tx, pool_rx) = watch::channel(pool);
        let shared = Arc::new(ServiceShared {
            name: config.name.clone(),
            counters: Arc::new(ServiceCounters::default()),
            affinity: AffinityTable::new(),
            pool: pool_rx,
            relay: options.tcp_relay,
            header_read_timeout: options.header_read_timeout,
            body_read_timeout: options.body_read_timeout,
            sorry_idle: Arc::new(IdleConns::new()),
            tasks: TaskTracker::new(),
            kill,
        });
        let stop = CancellationToken::new();
        let pool_tx = Arc::new(pool_tx);
        let health_changed = Arc::new(Notify::new());
        let mut control_tasks: Vec<JoinHandle<()>> = listeners
            .into_iter()
            .map(|(listener, _)| {
                tokio::spawn(accept_loop(
                    listener,
                    Arc::clone(&shared),
                    config.protocol,
                    stop.clone(),
                ))
            })
            .collect();
        control_tasks.push(tokio::spawn(rebuild_loop(
            Arc::clone(&pool_tx),
            Arc::clone(&health_changed),
            stop.clone(),
        )));
        if config.protocol == Protocol::Http {
            control_tasks.push(tokio::spawn(prune_loop(Arc::clone(&shared), stop.clone())));
        }
        tracing::info!(service = %config.name, listen = ?local_addrs, "Service started");
        let mut service = Service {
            shared,
            pool_tx,
            local_addrs,
            stop,
            control_tasks,
            health_tasks: HashMap::new(),
            health_changed,
        };
        service.reconcile_health(&config);
        Ok(service)
    }

    pub(crate) fn config(&self) -> Arc<ServiceConfig> {
        Arc::clone(&self.shared.pool().config)
    }

    /// Publishes a new configuration with the same listener and protocol; connections in
    /// flight keep the pool they started with.
    pub(crate) fn update(&mut self, config: Arc<ServiceConfig>) {
        let old_pool = self.shared.pool();
        let server_counters = new_counters(&config, Some(&old_pool));
        publish(&self.pool_tx, Some((Arc::clone(&config), server_counters)));
        self.reconcile_health(&config);
        tracing::info!(service = %config.name, "Service updated");
    }

    /// Closes the listener and stops health checks; connections in flight go on.
    pub(crate) fn stop(mut self) -> RetiredService {
        self.stop.cancel();
        for (_, health) in self.health_tasks.drain() {
            health.cancel.cancel();
            self.control_tasks.push(health.task);
        }
        self.shared.tasks.close();
        tracing::info!(service = %self.shared.name, "Service stopped");
        RetiredService {
            tasks: self.shared.tasks.clone(),
            control_tasks: self.control_tasks,
        }
    }

    /// One task per checked server; a task is replaced when its address or check changes.
    fn reconcile_health(&mut self, config: &ServiceConfig) {
        let pool = self.shared.pool();
        let wanted: HashMap<&str, &crate::pool::PoolServer> = pool
            .servers
            .iter()
            .filter(|server| server.config.state != ServerState::Disabled)
            .map(|server| (server.config.name.as_str(), server))
            .collect();
        self.health_tasks.retain(|name, health| {
            let keep = wanted.get(name.as_str()).is_some_and(|server| {
                server.config.addr == health.addr && config.health == health.check
            });
            if !keep {
                health.cancel.cancel();
            }
            keep
        });
        for (name, server) in wanted {
            if self.health_tasks.contains_key(name) {
                continue;
            }
            let cancel = self.stop.child_token();
            let task = HealthTask {
                service: config.name.clone(),
                server: name.to_owned(),
                addr: server.config.addr,
                check: config.health.clone(),
                counters: Arc::clone(&server.counters),
                changed: Arc::clone(&self.health_changed),
            };
            let handle = tokio::spawn(task.run(cancel.clone()));
            self.health_tasks.insert(
                name.to_owned(),
                HealthHandle {
                    addr: server.config.addr,
                    check: config.health.clone(),
                    cancel,
                    task: handle,
                },
            );
        }
    }
}

/// Counters for each server of `config`, kept from `old` for a server with the same name and
/// address so that counts and health survive re-weighting and draining.
fn new_counters(config: &ServiceConfig, old: Option<&Pool>) -> CountersByName {
    config
        .servers
        .iter()
        .map(|server| {
            let kept = old.and_then(|pool| {
                pool.servers.iter().find(|old_server| {
                    old_server.config.name == server.name && old_server.config.addr == server.addr
                })
            });
            let counters = kept
                .map(|old_server| Arc::clone(&old_server.counters))
                .unwrap_or_else(|| Arc::new(ServerCounters::new()));
            (server.name.clone(), counters)
        })
        .collect()
}

/// Counters of each server of a pool, by server name.
type CountersByName = HashMap<String, Arc<ServerCounters>>;

/// Builds a pool off the lock and swaps it in only if nobody published in between, so the
/// health rebuilder never overwrites a newer configuration and readers never wait for a build.
fn publish(
    pool_tx: &watch::Sender<Arc<Pool>>,
    replacement: Option<(Arc<ServiceConfig>, CountersByName)>,
) {
    let (config, server_counters) = match replacement {
        Some(replacement) => replacement,
        None => {
            let current = Arc::clone(&pool_tx.borrow());
            let counters = current
                .servers
                .iter()
                .map(|server| (server.config.name.clone(), Arc::clone(&server.counters)))
                .collect();
            (Arc::clone(&current.config), counters)
        }
    };
    loop {
        let base = Arc::clone(&pool_tx.borrow());
        let pool = Arc::new(Pool::new(Arc::clone(&config), &server_counters));
        let swapped = pool_tx.send_if_modified(|current| {
            let unchanged = Arc::ptr_eq(current, &base);
            if unchanged {
                *current = Arc::clone(&pool);
            }
            unchanged
        });
        if swapped {
            return;
        }
        // Another publisher won: a health rebuild must then use the newer configuration.
        let current = Arc::clone(&pool_tx.borrow());
        if !Arc::ptr_eq(&current.config, &config) {
            return publish(pool_tx, None);
        }
    }
}

async fn rebuild_loop(
    pool_tx: Arc<watch::Sender<Arc<Pool>>>,
    health_changed: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = health_changed.notified() => publish(&pool_tx, None),
        }
    }
}

/// Closes upstream HTTP connections left idle for longer than the upstream idle timeout; the
/// request path prunes only the servers it visits.
async fn prune_loop(shared: Arc<ServiceShared>, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(limits::UPSTREAM_IDLE_TIMEOUT / 4);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            now = ticks.tick() => {
                for server in &shared.pool().servers {
                    server.counters.idle.prune(now);
                }
                shared.sorry_idle.prune(now);
            }
        }
    }
}

/// Binds with SO_REUSEADDR, and IP_FREEBIND so that a director can listen on a VIP before the
/// VIP arrives on this node.
fn bind_listener(listen: SocketAddr) -> io::Result<TcpListener> {
    let domain = socket2::Domain::for_address(listen);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if listen.is_ipv4() {
        socket.set_freebind_v4(true)?;
    } else {
        socket.set_freebind_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&listen.into())?;
    socket.listen(limits::LISTEN_BACKLOG)?;
    TcpListener::from_std(socket.into())
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<ServiceShared>,
    protocol: Protocol,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Running out of descriptors must not spin the loop.
                tracing::warn!(service = %shared.name, %error, "Accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        // One task type per protocol, so that a TCP connection's task is only as large as
        // the TCP relay's future, not the HTTP client loop's.
        let connection_shared = Arc::clone(&shared);
        match protocol {
            Protocol::Tcp => spawn_connection(&shared, peer, move || {
                serve_tcp(connection_shared, stream, peer)
            }),
            Protocol::Http => spawn_connection(&shared, peer, move || {
                serve_http(connection_shared, stream, peer)
            }),
        }
    }
}

/// Runs one client connection as a task of the service until it ends or the service's
/// connections are cut. The connection's future is made inside the task (`serve` is called
/// there): a future passed in would be stored twice in the task, once as captured and once
/// where it is polled.
fn spawn_connection<F, S>(shared: &ServiceShared, peer: SocketAddr, serve: S)
where
    F: Future<Output = ()> + Send + 'static,
    S: FnOnce() -> F + Send + 'static,
{
    let kill = shared.kill.clone();
    let span = tracing::debug_span!("lb_connection", service = %shared.name, %peer);
    let connection = async move {
        tokio::select! {
            () = kill.cancelled() => {}
            () = serve() => {}
        }
    };
    shared
        .tasks
        .spawn(tracing::Instrument::instrument(connection, span));
}

/// Counts a client connection against the service's limit (`None`: refused, the stream is
/// dropped) and turns Nagle off, as the proxy forwards whole writes.
fn admit(shared: &ServiceShared, pool: &Pool, stream: &TcpStream) -> Option<ServiceLease> {
    let lease = shared.counters.try_acquire(pool.config.max_conns)?;
    let _ = stream.set_nodelay(true);
    Some(lease)
}

async fn serve_http(shared: Arc<ServiceShared>, stream: TcpStream, peer: SocketAddr) {
    let lease = admit(&shared, &shared.pool(), &stream);
    if let Some(_lease) = lease {
        http::serve(shared, stream, peer).await;
    }
}

async fn serve_tcp(shared: Arc<ServiceShared>, client: TcpStream, peer: SocketAddr) {
    let pool = shared.pool();
    let Some(_lease) = admit(&shared, &pool, &client) else {
        return;
    };
    let Some((server, picked)) = connect_tcp(&shared, &pool, peer.ip()).await else {
        return;
    };
    let server_counters = picked.as_ref().map(|picked| &picked.lease.counters);
    let up = Tally {
        service: &shared.counters.bytes_in,
        server: server_counters.map(|counters| &counters.bytes_in),
    };
    let down = Tally {
        service: &shared.counters.bytes_out,
        server: server_counters.map(|counters| &counters.bytes_out),
    };
    let result = relay::relay(
        &client,
        &server,
        shared.relay,
        pool.config.idle_timeout,
        up,
        down,
    )
    .await;
    if let Err(error) = result {
        tracing::debug!(service = %shared.name, %peer, %error, "Connection ended with an error");
    }
}

/// Connects to a chosen server, trying others when a connect fails.
async fn connect_tcp(
    shared: &ServiceShared,
    pool: &Pool,
    client: IpAddr,
) -> Option<(TcpStream, Option<Picked>)> {
    let mut tried = Vec::new();
    for _ in 0..limits::CONNECT_ATTEMPTS_MAX {
        match shared.choose(pool, client, &tried) {
            Choice::Server(picked) => match timed_connect(&pool.servers[picked.index]).await {
                Ok((stream, took)) => {
                    picked.lease.counters.response_time.observe(took);
                    return Some((stream, Some(picked)));
                }
                Err(_) => {
                    picked
                        .lease
                        .counters
                        .errors_total
                        .fetch_add(1, Ordering::Relaxed);
                    shared.counters.errors_total.fetch_add(1, Ordering::Relaxed);
                    tried.push(picked.index);
                }
            },
            Choice::Sorry(addr) => {
                shared.counters.sorry_total.fetch_add(1, Ordering::Relaxed);
                let stream = connect(addr).await;
                if stream.is_err() {
                    shared.counters.errors_total.fetch_add(1, Ordering::Relaxed);
                }
                return stream.ok().map(|stream| (stream, None));
            }
            Choice::Unavailable => break,
        }
    }
    shared
        .counters
        .connections_rejected
        .fetch_add(1, Ordering::Relaxed);
    None
}

/// Connects to a real server, and says how long it took (its response time in TCP mode).
async fn timed_connect(
    server: &crate::pool::PoolServer,
) -> io::Result<(TcpStream, std::time::Duration)> {
    let began = std::time::Instant::now();
    let stream = connect(server.config.addr).await?;
    Ok((stream, began.elapsed()))
}

/// Connects within the connect timeout, with Nagle off as the proxy forwards whole writes.
pub(crate) async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = tokio::time::timeout(limits::CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timeout"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}
