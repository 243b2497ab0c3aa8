//! The server set of one service at one moment, and the algorithms that pick from it.
//!
//! A `Pool` is immutable apart from its atomics and the small smooth-weight table: the service
//! builds a new one when the configuration or a server's health changes, and each connection
//! takes the current one at its start. Picking a server takes a `ServerLease`, so limits hold
//! even when many connections pick at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::{Algorithm, ServerConfig, ServerState, ServiceConfig};
use crate::counters::{ServerCounters, ServerLease};
use crate::limits;
use crate::maglev;

/// The servers already tried for one connection or request, kept on the stack: a request
/// tries at most `CONNECT_ATTEMPTS_MAX` of them.
#[derive(Debug, Default)]
pub(crate) struct Tried {
    indices: [usize; limits::CONNECT_ATTEMPTS_MAX],
    len: usize,
}

impl Tried {
    pub(crate) fn push(&mut self, index: usize) {
        if let Some(slot) = self.indices.get_mut(self.len) {
            *slot = index;
            self.len += 1;
        }
    }

    pub(crate) fn as_slice(&self) -> &[usize] {
        &self.indices[..self.len]
    }
}

/// One real server as this pool sees it.
#[derive(Debug)]
pub(crate) struct PoolServer {
    pub(crate) config: ServerConfig,
    pub(crate) counters: Arc<ServerCounters>,
}

/// A chosen server with its connection slot.
#[derive(Debug)]
pub(crate) struct Picked {
    pub(crate) index: usize,
    pub(crate) lease: ServerLease,
}

#[derive(Debug)]
pub(crate) struct Pool {
    pub(crate) config: Arc<ServiceConfig>,
    pub(crate) servers: Vec<PoolServer>,
    /// Maglev lookup table of indices into `servers`, empty for other algorithms.
    maglev_table: Vec<u32>,
    cursor: AtomicUsize,
    /// nginx's "current weight" per server for smooth weighted round robin. The lock is held
    /// only for one pass over the servers and never across an await.
    smooth_weights: Mutex<Vec<i64>>,
}

impl Pool {
    /// Builds the pool; `counters` holds the counters of every server named in `config`.
    pub(crate) fn new(
        config: Arc<ServiceConfig>,
        counters: &HashMap<String, Arc<ServerCounters>>,
    ) -> Pool {
        let servers: Vec<PoolServer> = config
            .servers
            .iter()
            .map(|server| PoolServer {
                config: server.clone(),
                counters: Arc::clone(
                    counters
                        .get(&server.name)
                        .expect("the service made counters for each server"),
                ),
            })
            .collect();
        let maglev_table = if config.algorithm == Algorithm::Maglev {
            let up: Vec<usize> = (0..servers.len())
                .filter(|index| is_up(&servers[*index]))
                .collect();
            let weighted: Vec<(&str, u32)> = up
                .iter()
                .map(|index| {
                    (
                        servers[*index].config.name.as_str(),
                        servers[*index].config.weight,
                    )
                })
                .collect();
            let table = maglev::build_table(&weighted, maglev::table_len(servers.len()));
            table
                .into_iter()
                .map(|entry| up[entry as usize] as u32)
                .collect()
        } else {
            Vec::new()
        };
        let smooth_weights = Mutex::new(vec![0; servers.len()]);
        Pool {
            config,
            servers,
            maglev_table,
            cursor: AtomicUsize::new(0),
            smooth_weights,
        }
    }

    /// Whether some server is active and healthy, whatever its load; when none is, the sorry
    /// server takes over.
    pub(crate) fn any_up(&self) -> bool {
        self.servers.iter().any(is_up)
    }

    /// Picks a server for a client, skipping the servers in `tried`.
    pub(crate) fn pick(&self, client: IpAddr, tried: &[usize]) -> Option<Picked> {
        if self.servers.is_empty() {
            return None;
        }
        match self.config.algorithm {
            Algorithm::RoundRobin => self.pick_round_robin(tried),
            Algorithm::WeightedRoundRobin => self.pick_smooth_weighted(tried),
            Algorithm::LeastConnections => self.pick_least(false, tried),
            Algorithm::WeightedLeastConnections => self.pick_least(true, tried),
            Algorithm::SourceHash => self.pick_source_hash(client, tried),
            Algorithm::Maglev => self.pick_maglev(client, tried),
        }
    }

    /// Takes a slot on the named server if it may take new connections; used for persistence.
    pub(crate) fn pick_named(&self, name: &str, tried: &[usize]) -> Option<Picked> {
        let index = self
            .servers
            .iter()
            .position(|server| server.config.name == name)?;
        self.take(index, tried)
    }

    fn take(&self, index: usize, tried: &[usize]) -> Option<Picked> {
        let server = &self.servers[index];
        if !is_up(server) || tried.contains(&index) {
            return None;
        }
        let lease = server.counters.try_acquire(server.config.max_conns)?;
        Some(Picked { index, lease })
    }

    fn pick_round_robin(&self, tried: &[usize]) -> Option<Picked> {
        let count = self.servers.len();
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        (0..count).find_map(|offset| self.take((start + offset) % count, tried))
    }

    fn pick_smooth_weighted(&self, tried: &[usize]) -> Option<Picked> {
        let mut excluded = tried.to_vec();
        loop {
            let best = self.smooth_weighted_next(&excluded)?;
            match self.take(best, tried) {
                Some(picked) => return Some(picked),
                None => excluded.push(best),
            }
        }
    }

    /// One step of nginx's smooth weighted round robin over the servers not excluded.
    fn smooth_weighted_next(&self, excluded: &[usize]) -> Option<usize> {
        let mut current = self
            .smooth_weights
            .lock()
            .expect("no panic while holding the lock");
        let mut total = 0_i64;
        let mut best: Option<usize> = None;
        for (index, server) in self.servers.iter().enumerate() {
            if !is_up(server) || excluded.contains(&index) {
                continue;
            }
            let weight = i64::from(server.config.weight);
            current[index] += weight;
            total += weight;
            if best.is_none_or(|best| current[index] > current[best]) {
                best = Some(index);
            }
        }
        let best = best?;
        current[best] -= total;
        Some(best)
    }

    /// Fewest active connections per unit of weight, counting the new one, so that idle
    /// servers fill in weight order; ties go to the next server in turn.
    fn pick_least(&self, weighted: bool, tried: &[usize]) -> Option<Picked> {
        let count = self.servers.len();
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        let mut excluded = tried.to_vec();
        loop {
            let mut best: Option<(usize, u128, u128)> = None;
            for offset in 0..count {
                let index = (start + offset) % count;
                let server = &self.servers[index];
                if !is_up(server) || excluded.contains(&index) {
                    continue;
                }
                let load = u128::from(server.counters.active()) + 1;
                let weight = if weighted {
                    u128::from(server.config.weight)
                } else {
                    1
                };
                if best.is_none_or(|(_, best_load, best_weight)| {
                    load * best_weight < best_load * weight
                }) {
                    best = Some((index, load, weight));
                }
            }
            let (index, _, _) = best?;
            match self.take(index, tried) {
                Some(picked) => return Some(picked),
                None => excluded.push(index),
            }
        }
    }

    /// The hash picks a position in the full server list; if that server cannot take the
    /// connection, the next ones are tried in order (LVS `sh` with fallback).
    fn pick_source_hash(&self, client: IpAddr, tried: &[usize]) -> Option<Picked> {
        let count = self.servers.len();
        let start = (maglev::client_hash(client) % count as u64) as usize;
        (0..count).find_map(|offset| self.take((start + offset) % count, tried))
    }

    fn pick_maglev(&self, client: IpAddr, tried: &[usize]) -> Option<Picked> {
        let len = self.maglev_table.len();
        if len == 0 {
            return None;
        }
        let start = (maglev::client_hash(client) % len as u64) as usize;
        (0..len)
            .find_map(|offset| self.take(self.maglev_table[(start + offset) % len] as usize, tried))
    }
}

/// A server may take new connections: active, weighted above zero and passing its checks.
fn is_up(server: &PoolServer) -> bool {
    server.config.state == ServerState::Active
        && server.config.weight > 0
        && server.counters.is_healthy()
}

#[cfg(test)]
mod tests;
