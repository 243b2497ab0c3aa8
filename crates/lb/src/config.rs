//! The configuration of virtual services as the data plane sees it, and its validation.
//!
//! A snapshot is immutable: the control plane builds a new one and sends it, and the director
//! compares it with the running one.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::limits;

/// Every virtual service this director runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LbConfig {
    /// The services; names and listen addresses are unique across all of them.
    pub services: Vec<ServiceConfig>,
}

/// One virtual service: a listen address and the real servers behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceConfig {
    /// Unique name, used in counters and logs.
    pub name: String,
    /// Addresses the service listens on, one listener each; any may be a VIP this node does
    /// not hold (yet), so that every node can listen on every VIP of the service and the
    /// node holding a VIP is its director. Written as one address or a list.
    #[serde(deserialize_with = "one_or_many")]
    pub listen: Vec<SocketAddr>,
    /// Whether connections are proxied as bytes or as HTTP/1.1 requests.
    pub protocol: Protocol,
    /// The real servers.
    pub servers: Vec<ServerConfig>,
    /// How a real server is chosen.
    pub algorithm: Algorithm,
    /// Client-address affinity: a client goes back to its last server until this much time
    /// passes without a new connection from it.
    #[serde(default, with = "humantime_serde")]
    pub persistence: Option<Duration>,
    /// How each real server is checked.
    pub health: HealthCheck,
    /// Server used when no real server is healthy.
    #[serde(default)]
    pub sorry_server: Option<SocketAddr>,
    /// Most concurrent client connections for the whole service; more are refused.
    #[serde(default)]
    pub max_conns: Option<u32>,
    /// A proxied connection with no traffic either way for this long is closed (checked in
    /// quarters, so it closes within a quarter more).
    #[serde(default = "idle_timeout_default", with = "humantime_serde")]
    pub idle_timeout: Duration,
}

/// Reads `listen` given as `"ip:port"` or as `["ip:port", ...]`.
fn one_or_many<'de, D>(deserializer: D) -> Result<Vec<SocketAddr>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(SocketAddr),
        Many(Vec<SocketAddr>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(addr) => vec![addr],
        OneOrMany::Many(addrs) => addrs,
    })
}

fn idle_timeout_default() -> Duration {
    limits::IDLE_TIMEOUT_DEFAULT
}

/// How client connections are proxied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Bytes in both directions, one real server per client connection.
    Tcp,
    /// HTTP/1.1: one real server per request, X-Forwarded-For added, upgrades passed through.
    Http,
}

/// One real server of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerConfig {
    /// Name unique within the service; it identifies the server across snapshots.
    pub name: String,
    /// Where the real server listens.
    pub addr: SocketAddr,
    /// Relative share of connections for weighted algorithms; 0 takes no new connections.
    #[serde(default = "weight_default")]
    pub weight: u32,
    /// Whether the server takes new connections.
    #[serde(default = "state_default")]
    pub state: ServerState,
    /// Most concurrent connections (requests in HTTP mode) to this server.
    #[serde(default)]
    pub max_conns: Option<u32>,
}

fn weight_default() -> u32 {
    1
}

fn state_default() -> ServerState {
    ServerState::Active
}

/// Administrative state of a real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerState {
    /// Takes new connections while healthy.
    Active,
    /// Takes no new connections; connections in flight finish.
    Draining,
    /// Takes no new connections and is not health-checked.
    Disabled,
}

/// How a real server is chosen for a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Each server in turn.
    RoundRobin,
    /// Smooth weighted round robin, as nginx does it.
    WeightedRoundRobin,
    /// The server with the fewest active connections.
    LeastConnections,
    /// The server with the fewest active connections per unit of weight.
    WeightedLeastConnections,
    /// A hash of the client address picks the server.
    SourceHash,
    /// Maglev consistent hashing of the client address: most clients keep their server when
    /// another server comes or goes.
    Maglev,
}

/// How each real server is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// What one check does.
    pub kind: HealthCheckKind,
    /// Time between the starts of two checks.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Time one check may take before it counts as failed.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Consecutive successes that bring a down server up.
    pub rise: u32,
    /// Consecutive failures that take an up server down.
    pub fall: u32,
}

/// What one health check does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HealthCheckKind {
    /// A TCP connection to the server's address succeeds.
    Tcp,
    /// An HTTP/1.1 GET of `path` answers `expect_status` and, if set, a body containing
    /// `body_contains` within its first bytes.
    Http {
        /// Request path, starting with `/`.
        path: String,
        /// Expected response status code.
        expect_status: u16,
        /// Substring the response body must contain.
        #[serde(default)]
        body_contains: Option<String>,
    },
}

/// Why a configuration snapshot was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("too many services: {count} (max {max})")]
    TooManyServices { count: usize, max: usize },
    #[error("duplicate service name {service:?}")]
    DuplicateService { service: String },
    #[error("services {first:?} and {second:?} both listen on {listen}")]
    DuplicateListen {
        first: String,
        second: String,
        listen: SocketAddr,
    },
    #[error("service {service:?}: {reason}")]
    Service { service: String, reason: String },
    #[error("service {service:?} server {server:?}: {reason}")]
    Server {
        service: String,
        server: String,
        reason: String,
    },
}

impl LbConfig {
    /// Checks every service and that names and listen addresses are unique.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.services.len() > limits::SERVICES_MAX {
            return Err(ConfigError::TooManyServices {
                count: self.services.len(),
                max: limits::SERVICES_MAX,
            });
        }
        let mut names = HashSet::new();
        let mut listens: Vec<(SocketAddr, &str)> = Vec::new();
        for service in &self.services {
            service.validate()?;
            if !names.insert(service.name.as_str()) {
                return Err(ConfigError::DuplicateService {
                    service: service.name.clone(),
                });
            }
            for listen in &service.listen {
                if let Some((_, first)) = listens.iter().find(|(addr, _)| addr == listen) {
                    return Err(ConfigError::DuplicateListen {
                        first: (*first).to_owned(),
                        second: service.name.clone(),
                        listen: *listen,
                    });
                }
                listens.push((*listen, &service.name));
            }
        }
        Ok(())
    }
}

impl ServiceConfig {
    /// Checks names, limits, health-check settings and each server.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |reason: String| ConfigError::Service {
            service: self.name.clone(),
            reason,
        };
        check_name(&self.name).map_err(fail)?;
        if self.listen.is_empty() || self.listen.len() > limits::LISTEN_ADDRS_MAX {
            return Err(fail(format!(
                "listen needs 1..={} addresses, got {}",
                limits::LISTEN_ADDRS_MAX,
                self.listen.len()
            )));
        }
        let distinct: HashSet<&SocketAddr> = self.listen.iter().collect();
        if distinct.len() != self.listen.len() {
            return Err(fail("listen names one address twice".to_owned()));
        }
        if self.servers.len() > limits::SERVERS_PER_SERVICE_MAX {
            return Err(fail(format!(
                "too many servers: {} (max {})",
                self.servers.len(),
                limits::SERVERS_PER_SERVICE_MAX
            )));
        }
        if self.max_conns == Some(0) {
            return Err(fail("max_conns must be at least 1".to_owned()));
        }
        if self.persistence == Some(Duration::ZERO) {
            return Err(fail("persistence timeout must be positive".to_owned()));
        }
        if self.idle_timeout.is_zero() {
            return Err(fail("idle_timeout must be positive".to_owned()));
        }
        self.health.validate().map_err(fail)?;
        let mut names = HashSet::new();
        for server in &self.servers {
            let fail_server = |reason: String| ConfigError::Server {
                service: self.name.clone(),
                server: server.name.clone(),
                reason,
            };
            server.validate().map_err(fail_server)?;
            if !names.insert(server.name.as_str()) {
                return Err(fail_server("duplicate server name".to_owned()));
            }
        }
        Ok(())
    }
}

impl ServerConfig {
    fn validate(&self) -> Result<(), String> {
        check_name(&self.name)?;
        if self.weight > limits::WEIGHT_MAX {
            return Err(format!(
                "weight {} above {}",
                self.weight,
                limits::WEIGHT_MAX
            ));
        }
        if self.max_conns == Some(0) {
            return Err("max_conns must be at least 1".to_owned());
        }
        if self.addr.port() == 0 {
            return Err("address needs a port".to_owned());
        }
        Ok(())
    }
}

impl HealthCheck {
    fn validate(&self) -> Result<(), String> {
        if self.interval < limits::HEALTH_INTERVAL_MIN {
            return Err(format!(
                "health interval {:?} below {:?}",
                self.interval,
                limits::HEALTH_INTERVAL_MIN
            ));
        }
        if self.timeout.is_zero() || self.timeout > self.interval {
            return Err("health timeout must be positive and at most the interval".to_owned());
        }
        for (what, count) in [("rise", self.rise), ("fall", self.fall)] {
            if count == 0 || count > limits::HEALTH_COUNT_MAX {
                return Err(format!(
                    "health {what} must be in 1..={}",
                    limits::HEALTH_COUNT_MAX
                ));
            }
        }
        if let HealthCheckKind::Http {
            path,
            expect_status,
            body_contains,
        } = &self.kind
        {
            if !path.starts_with('/') || path.len() > limits::HEALTH_TEXT_LEN_MAX {
                return Err("health path must start with / and be short".to_owned());
            }
            if path
                .bytes()
                .any(|byte| byte.is_ascii_whitespace() || byte.is_ascii_control())
            {
                return Err("health path must not contain spaces or control characters".to_owned());
            }
            if !(100..=599).contains(expect_status) {
                return Err(format!(
                    "expected status {expect_status} is not an HTTP status"
                ));
            }
            let body_len = body_contains.as_ref().map_or(0, String::len);
            if body_len > limits::HEALTH_TEXT_LEN_MAX {
                return Err("expected body substring too long".to_owned());
            }
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let valid_chars = name
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(&byte));
    if name.is_empty() || name.len() > limits::NAME_LEN_MAX || !valid_chars {
        return Err(format!(
            "name {name:?} must be 1..={} characters of [A-Za-z0-9-_.:]",
            limits::NAME_LEN_MAX
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
