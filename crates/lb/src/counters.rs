//! Per-service and per-server counters: atomics on the hot path, plain snapshots for readers.
//!
//! Counters only ever go up, except the `active` gauges, which a lease guard decrements when a
//! connection (or, in HTTP mode, a request to a real server) ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::config::{Protocol, ServerState};
use crate::upstream::IdleConns;

/// Counters of one virtual service.
#[derive(Debug, Default)]
pub(crate) struct ServiceCounters {
    pub(crate) connections_total: AtomicU64,
    pub(crate) connections_active: AtomicU64,
    pub(crate) connections_rejected: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) requests_total: AtomicU64,
    pub(crate) errors_total: AtomicU64,
    pub(crate) sorry_total: AtomicU64,
}

/// Counters and health of one real server, and its idle HTTP connections; it lives as long as
/// the server stays in the config with the same address.
#[derive(Debug)]
pub(crate) struct ServerCounters {
    pub(crate) connections_total: AtomicU64,
    pub(crate) connections_active: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) requests_total: AtomicU64,
    pub(crate) errors_total: AtomicU64,
    pub(crate) health_checks_failed: AtomicU64,
    pub(crate) healthy: AtomicBool,
    /// Response times: HTTP, from the request sent to the response head read; TCP, the
    /// connect time.
    pub(crate) response_time: Latency,
    /// Kept-alive HTTP connections to this server, waiting for a request.
    pub(crate) idle: Arc<IdleConns>,
}

impl ServerCounters {
    /// A server starts healthy, as in HAProxy, and goes down after `fall` failed checks.
    pub(crate) fn new() -> ServerCounters {
        ServerCounters {
            connections_total: AtomicU64::new(0),
            connections_active: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            requests_total: AtomicU64::new(0),
            errors_total: AtomicU64::new(0),
            health_checks_failed: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
            response_time: Latency::default(),
            idle: Arc::new(IdleConns::new()),
        }
    }

    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub(crate) fn active(&self) -> u64 {
        self.connections_active.load(Ordering::Relaxed)
    }

    /// Takes a connection slot if the server is below `max_conns`.
    pub(crate) fn try_acquire(self: &Arc<Self>, max_conns: Option<u32>) -> Option<ServerLease> {
        let limit = max_conns.map_or(u64::MAX, u64::from);
        self.connections_active
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |active| {
                (active < limit).then_some(active + 1)
            })
            .ok()?;
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        Some(ServerLease {
            counters: Arc::clone(self),
        })
    }
}

/// One active connection (or request) to a real server; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct ServerLease {
    pub(crate) counters: Arc<ServerCounters>,
}

impl Drop for ServerLease {
    fn drop(&mut self) {
        self.counters
            .connections_active
            .fetch_sub(1, Ordering::AcqRel);
    }
}

/// One active client connection to a service; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct ServiceLease {
    pub(crate) counters: Arc<ServiceCounters>,
}

impl ServiceCounters {
    /// Takes a client-connection slot if the service is below `max_conns`.
    pub(crate) fn try_acquire(self: &Arc<Self>, max_conns: Option<u32>) -> Option<ServiceLease> {
        let limit = max_conns.map_or(u64::MAX, u64::from);
        let acquired =
            self.connections_active
                .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |active| {
                    (active < limit).then_some(active + 1)
                });
        if acquired.is_err() {
            self.connections_rejected.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        Some(ServiceLease {
            counters: Arc::clone(self),
        })
    }
}

impl Drop for ServiceLease {
    fn drop(&mut self) {
        self.counters
            .connections_active
            .fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counters of every service, read at one moment (each value is read atomically on its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbSnapshot {
    /// One entry per running service, in configuration order.
    pub services: Vec<ServiceSnapshot>,
}

/// Counters of one virtual service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSnapshot {
    pub name: String,
    pub protocol: Protocol,
    /// Client connections accepted since the service started.
    pub connections_total: u64,
    /// Client connections open now.
    pub connections_active: u64,
    /// Client connections refused by the service's `max_conns` or because every server was full.
    pub connections_rejected: u64,
    /// Bytes received from clients.
    pub bytes_in: u64,
    /// Bytes sent to clients.
    pub bytes_out: u64,
    /// HTTP requests received (HTTP mode only).
    pub requests_total: u64,
    /// Failed connects, proxy errors and error responses made by the director.
    pub errors_total: u64,
    /// Connections or requests sent to the sorry server.
    pub sorry_total: u64,
    pub servers: Vec<ServerSnapshot>,
}

/// Counters and health of one real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSnapshot {
    pub name: String,
    pub addr: std::net::SocketAddr,
    pub weight: u32,
    pub state: ServerState,
    /// Whether the health check currently passes.
    pub healthy: bool,
    pub connections_total: u64,
    /// Connections (requests in HTTP mode) in flight now.
    pub connections_active: u64,
    /// Bytes sent to the server.
    pub bytes_in: u64,
    /// Bytes received from the server.
    pub bytes_out: u64,
    pub requests_total: u64,
    pub errors_total: u64,
    pub health_checks_failed: u64,
    /// The server is draining and has no connection in flight: it can be removed.
    pub drained: bool,
    /// Response times (HTTP: to the response head; TCP: connect time).
    pub response_time: LatencySnapshot,
}

/// Upper bounds of the response-time buckets, in microseconds (0.5 ms to 10 s; a last
/// bucket takes the rest). The same as `monitor::histogram::LATENCY_BOUNDS_SECONDS`, which
/// the agent's test of the two checks.
pub const LATENCY_BOUNDS_MICROS: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

/// How many response-time buckets: one per bound and one past the last.
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_MICROS.len() + 1;

/// A response-time histogram on the data plane: one relaxed atomic increment in a fixed
/// array and one to the sum per observation; no lock, no allocation.
#[derive(Debug, Default)]
pub(crate) struct Latency {
    buckets: [AtomicU64; LATENCY_BUCKETS],
    sum_micros: AtomicU64,
}

impl Latency {
    pub(crate) fn observe(&self, took: std::time::Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BOUNDS_MICROS.partition_point(|bound| *bound < micros);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> LatencySnapshot {
        LatencySnapshot {
            counts: std::array::from_fn(|i| read(&self.buckets[i])),
            sum_micros: read(&self.sum_micros),
        }
    }
}

/// A response-time histogram read at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencySnapshot {
    /// Observations per bucket (not cumulative), the last past [`LATENCY_BOUNDS_MICROS`].
    pub counts: [u64; LATENCY_BUCKETS],
    /// The sum of the observations, in microseconds.
    pub sum_micros: u64,
}

pub(crate) fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}
