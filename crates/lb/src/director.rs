//! The director: runs the services of the latest configuration snapshot and changes them in
//! place when a new snapshot arrives.
//!
//! A service whose listen address and protocol stay the same keeps its listener and only gets
//! a new pool; connections in flight are never cut by a change, only by shutdown.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, LbConfig, ServiceConfig};
use crate::counters::LbSnapshot;
use crate::limits;
use crate::relay::TcpRelay;
use crate::service::{RetiredService, Service, ServiceShared};

/// How the director runs, fixed for its lifetime.
#[derive(Debug, Clone)]
pub struct DirectorOptions {
    /// How TCP-mode bytes are moved.
    pub tcp_relay: TcpRelay,
    /// How long shutdown waits for connections in flight before cutting them.
    pub shutdown_grace: Duration,
    /// Time an HTTP client has to send a request head.
    pub header_read_timeout: Duration,
    /// Longest pause an HTTP client may make within a request body.
    pub body_read_timeout: Duration,
}

impl DirectorOptions {
    /// Copying, because on loopback it beat splice(2) with four concurrent large transfers
    /// while splice won only for a single one (crates/lb/BENCH.md), and a director serves many.
    pub fn recommended() -> DirectorOptions {
        DirectorOptions {
            tcp_relay: TcpRelay::Copy,
            shutdown_grace: limits::SHUTDOWN_GRACE,
            header_read_timeout: limits::HEADER_READ_TIMEOUT,
            body_read_timeout: limits::BODY_READ_TIMEOUT,
        }
    }
}

/// Why a snapshot was not (fully) applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Nothing was changed.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] ConfigError),
    /// The other services were applied; these could not bind their listen address.
    #[error("{} service(s) could not listen: {}", failures.len(), describe(failures))]
    Bind { failures: Vec<BindFailure> },
}

/// A service whose listener could not be bound.
#[derive(Debug)]
pub struct BindFailure {
    pub service: String,
    pub listen: SocketAddr,
    pub error: io::Error,
}

fn describe(failures: &[BindFailure]) -> String {
    let described: Vec<String> = failures
        .iter()
        .map(|failure| {
            format!(
                "{} on {}: {}",
                failure.service, failure.listen, failure.error
            )
        })
        .collect();
    described.join("; ")
}

/// A cloneable reader of every running service's counters, for the monitor and the API.
#[derive(Clone)]
pub struct LbCounters {
    services: Arc<Mutex<Vec<Arc<ServiceShared>>>>,
}

impl LbCounters {
    /// Reads the counters; never touches a lock the hot path takes.
    pub fn snapshot(&self) -> LbSnapshot {
        let services = self
            .services
            .lock()
            .expect("no panic while holding the lock")
            .clone();
        LbSnapshot {
            services: services.iter().map(|service| service.snapshot()).collect(),
        }
    }
}

/// Owns the listeners of the virtual services on this node.
pub struct Director {
    options: DirectorOptions,
    services: Vec<Service>,
    retired: Vec<RetiredService>,
    kill: CancellationToken,
    counters: LbCounters,
}

impl Director {
    pub fn new(options: DirectorOptions) -> Director {
        Director {
            options,
            services: Vec::new(),
            retired: Vec::new(),
            kill: CancellationToken::new(),
            counters: LbCounters {
                services: Arc::new(Mutex::new(Vec::new())),
            },
        }
    }

    /// Makes the running services match `config`: starts new ones, stops removed ones (their
    /// connections finish), restarts a listener only when its address or protocol changed, and
    /// hands every other change to the running service without touching its listener.
    pub async fn apply(&mut self, config: &LbConfig) -> Result<(), ApplyError> {
        config.validate()?;
        self.retired.retain(|retired| !retired.tasks.is_empty());
        let mut running: HashMap<String, Service> = self
            .services
            .drain(..)
            .map(|service| (service.shared.name.clone(), service))
            .collect();
        // Listeners that go away are closed first, so that a moved service can take their
        // address in the same snapshot.
        let wanted: HashMap<&str, &ServiceConfig> = config
            .services
            .iter()
            .map(|service| (service.name.as_str(), service))
            .collect();
        let names: Vec<String> = running.keys().cloned().collect();
        for name in names {
            let keep = wanted.get(name.as_str()).is_some_and(|new| {
                let old = running[&name].config();
                old.listen == new.listen && old.protocol == new.protocol
            });
            if !keep {
                let service = running.remove(&name).expect("name comes from the map");
                let mut retired = service.stop();
                retired.join_control().await;
                self.retired.push(retired);
            }
        }
        let mut failures = Vec::new();
        for service_config in &config.services {
            let new_config = Arc::new(service_config.clone());
            if let Some(mut service) = running.remove(&service_config.name) {
                if *service.config() != *service_config {
                    service.update(new_config);
                }
                self.services.push(service);
                continue;
            }
            match Service::start(new_config, &self.options, self.kill.clone()) {
                Ok(service) => self.services.push(service),
                Err(error) => {
                    tracing::error!(
                        service = %service_config.name, listen = %error.listen, %error.error,
                        "Service could not listen"
                    );
                    failures.push(BindFailure {
                        service: service_config.name.clone(),
                        listen: error.listen,
                        error: error.error,
                    });
                }
            }
        }
        let shared = self
            .services
            .iter()
            .map(|service| Arc::clone(&service.shared))
            .collect();
        *self
            .counters
            .services
            .lock()
            .expect("no panic while holding the lock") = shared;
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ApplyError::Bind { failures })
        }
    }

    /// The address a service's first listener is bound to (useful when it listens on port 0).
    pub fn local_addr(&self, service: &str) -> Option<SocketAddr> {
        self.local_addrs(service)?.first().copied()
    }

    /// The addresses a service's listeners are bound to, in `listen` order.
    pub fn local_addrs(&self, service: &str) -> Option<Vec<SocketAddr>> {
        self.services
            .iter()
            .find(|running| running.shared.name == service)
            .map(|running| running.local_addrs.clone())
    }

    pub fn counters(&self) -> LbCounters {
        self.counters.clone()
    }

    pub fn snapshot(&self) -> LbSnapshot {
        self.counters.snapshot()
    }

    /// Closes every listener, waits up to the grace period for connections in flight, then
    /// cuts the rest and waits for every task to end.
    pub async fn shutdown(mut self) {
        for service in self.services.drain(..) {
            self.retired.push(service.stop());
        }
        for retired in &mut self.retired {
            retired.join_control().await;
        }
        let all_done = async {
            for retired in &self.retired {
                retired.tasks.wait().await;
            }
        };
        if tokio::time::timeout(self.options.shutdown_grace, all_done)
            .await
            .is_err()
        {
            tracing::warn!("Connections cut at shutdown after the grace period");
            self.kill.cancel();
            for retired in &self.retired {
                retired.tasks.wait().await;
            }
        }
        self.counters
            .services
            .lock()
            .expect("no panic while holding the lock")
            .clear();
    }
}

/// Applies every snapshot from `config_rx` until `stop` is cancelled or the sender is gone, then
/// shuts the director down. A snapshot that fails is logged and the next one is awaited.
pub async fn run(
    mut director: Director,
    mut config_rx: watch::Receiver<Arc<LbConfig>>,
    stop: CancellationToken,
) {
    loop {
        let config = Arc::clone(&config_rx.borrow_and_update());
        if let Err(error) = director.apply(&config).await {
            tracing::error!(%error, "Load-balancer configuration not fully applied");
        }
        tokio::select! {
            () = stop.cancelled() => break,
            changed = config_rx.changed() => if changed.is_err() { break },
        }
    }
    director.shutdown().await;
}
