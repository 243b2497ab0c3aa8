//! The agent's configuration file (`encluster.toml`), with validation that names the field
//! and the fix, including the timing relations the lease argument rests on (`timing.rs`).

mod timing;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// One node's configuration. Paths are relative to the config file's directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The cluster's name (must match the cluster's).
    pub cluster_name: String,
    /// This node's id, given by `encluster init` or by the cluster at `join`.
    pub node_id: u64,
    /// This node's name, unique in the cluster.
    pub name: String,
    /// Where the Raft log, snapshots and local state live.
    pub data_dir: PathBuf,
    /// `host:port` of the mutually authenticated peer listener; also advertised to peers.
    pub peer_addr: String,
    /// `host:port` of the HTTPS API listener; also advertised.
    pub api_addr: String,
    /// Largest number of Raft voters (odd, 1 to 7); further nodes are learners.
    #[serde(default = "default_voters_max")]
    pub voters_max: usize,
    // --- remote --- (a plain value: TOML writes it before the tables)
    /// Whether the node samples its metrics and runs the remote monitors (default true);
    /// `monitoring = false` turns both off, for comparison in the failover benchmarks.
    #[serde(default = "monitoring_default", skip_serializing_if = "is_true")]
    pub monitoring: bool,
    /// Certificate files.
    pub tls: TlsFiles,
    /// Failure-detection timing.
    #[serde(default)]
    pub failure: FailureConfig,
    /// Raft timing.
    #[serde(default)]
    pub raft: RaftConfig,
    /// Present only on the node that creates the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<Bootstrap>,
    /// Bounds of the API listener's connections.
    #[serde(default)]
    pub api: ApiLimits,
    /// Bounds of the load balancer's HTTP client connections.
    #[serde(default)]
    pub lb: LbLimits,
    // --- fence ---
    /// The self-fencing watchdog (issue 16); off unless given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchdog: Option<WatchdogConfig>,
    // --- witness ---
    /// The witness of a two-node cluster (`encluster witness`); none unless given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<WitnessConfig>,
}

/// Where the cluster's witness listens (`[witness]`), and how long a node without a
/// quorum waits before it claims the witness's grant (`membership::claim_step`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// `host:port` of `encluster witness serve`.
    pub address: String,
    /// How long the last master waits without a quorum before it claims.
    #[serde(with = "humantime_serde", default = "default_witness_master_wait")]
    pub master_wait: Duration,
    /// How long any other node waits: longer, so that when both sides reach the witness
    /// the master's keeps the resources where they are.
    #[serde(with = "humantime_serde", default = "default_witness_follower_wait")]
    pub follower_wait: Duration,
}

/// Past the lease (900 ms): a master that claims has let every unique resource go.
fn default_witness_master_wait() -> Duration {
    Duration::from_secs(1)
}

fn default_witness_follower_wait() -> Duration {
    Duration::from_millis(1500)
}

/// How long API clients may take and how many connections they may hold (`[api]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiLimits {
    /// Time a client has to send a request head, after the TLS handshake or the previous
    /// request; past it the connection is closed.
    #[serde(with = "humantime_serde", default = "default_api_header_read")]
    pub header_read_timeout: Duration,
    /// Time a client has to send a whole request body; past it the answer is 408.
    #[serde(with = "humantime_serde", default = "default_api_body_read")]
    pub body_read_timeout: Duration,
    /// Connections served at once; one more is answered 503 and closed.
    #[serde(default = "default_api_connections")]
    pub connections_max: usize,
    /// Connections served at once from one client address; one more is answered 429.
    #[serde(default = "default_api_connections_per_client")]
    pub connections_per_client_max: usize,
}

/// How long load-balancer clients may take to send a request (`[lb]`, HTTP mode).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LbLimits {
    /// Time a client has to send a request head; past it the connection is closed.
    #[serde(with = "humantime_serde", default = "default_lb_header_read")]
    pub header_read_timeout: Duration,
    /// Longest pause within a request body; past it the request is answered 408.
    #[serde(with = "humantime_serde", default = "default_lb_body_read")]
    pub body_read_timeout: Duration,
}

fn monitoring_default() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

/// The self-fencing watchdog: petted only while the node holds a valid lease and its
/// executor is alive (`host_watchdog`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchdogConfig {
    /// The device: `/dev/watchdog` on a real host (its timeout is the driver's, e.g.
    /// `softdog soft_margin=`); tests give a file their stand-in watches.
    pub device: PathBuf,
    /// How often it is petted while the node may hold resources.
    #[serde(with = "humantime_serde", default = "default_watchdog_interval")]
    pub interval: Duration,
}

fn default_watchdog_interval() -> Duration {
    Duration::from_millis(100)
}

/// Certificate and key files of the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The cluster CA certificate.
    pub ca_cert: PathBuf,
    /// This node's certificate, signed by the cluster CA.
    pub cert: PathBuf,
    /// This node's private key.
    pub key: PathBuf,
}

/// Heartbeat and failure-detector timing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureConfig {
    /// How often this node sends a heartbeat to the master.
    #[serde(with = "humantime_serde", default = "default_heartbeat")]
    pub heartbeat_interval: Duration,
    /// Silence after which the master marks a node suspect.
    #[serde(with = "humantime_serde", default = "default_suspect")]
    pub suspect_after: Duration,
    /// Silence after which the master marks a node down.
    #[serde(with = "humantime_serde", default = "default_down")]
    pub down_after: Duration,
    /// The agent's nice value (-20 to 19; default -10): above normal priority, so that its
    /// heartbeats keep their timing on a saturated host (what it starts runs at 0). Needs
    /// root or CAP_SYS_NICE; without, the agent warns and runs at normal priority.
    #[serde(default = "default_nice")]
    pub nice: i32,
}

/// Raft election timing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaftConfig {
    /// How often the master sends Raft heartbeats.
    #[serde(with = "humantime_serde", default = "default_raft_heartbeat")]
    pub heartbeat_interval: Duration,
    /// Lower bound of the election timeout.
    #[serde(with = "humantime_serde", default = "default_election_min")]
    pub election_timeout_min: Duration,
    /// Upper bound of the election timeout.
    #[serde(with = "humantime_serde", default = "default_election_max")]
    pub election_timeout_max: Duration,
    /// Log entries after which a snapshot is taken and older entries are purged.
    #[serde(default = "default_snapshot_logs")]
    pub snapshot_logs_since_last: u64,
}

/// How the first node creates the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bootstrap {
    /// The CA private key file (copied into the cmdb so any master can admit nodes).
    pub ca_key: PathBuf,
    /// SHA-256 of the admin API token.
    pub admin_token_hash: String,
    /// SHA-256 of the join token.
    pub join_token_hash: String,
    /// The initial members (for `init --local`): id to (name, peer_addr, api_addr).
    #[serde(default)]
    pub members: Vec<BootstrapMember>,
}

/// A member known at bootstrap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapMember {
    /// Node id.
    pub id: u64,
    /// Node name.
    pub name: String,
    /// Peer address.
    pub peer_addr: String,
    /// API address.
    pub api_addr: String,
}

fn default_api_header_read() -> Duration {
    crate::limits::API_HEADER_READ_TIMEOUT_DEFAULT
}
fn default_api_body_read() -> Duration {
    crate::limits::API_BODY_READ_TIMEOUT_DEFAULT
}
fn default_api_connections() -> usize {
    crate::limits::API_CONNECTIONS_MAX_DEFAULT
}
fn default_api_connections_per_client() -> usize {
    crate::limits::API_CONNECTIONS_PER_CLIENT_MAX_DEFAULT
}
fn default_lb_header_read() -> Duration {
    lb::HEADER_READ_TIMEOUT
}
fn default_lb_body_read() -> Duration {
    lb::BODY_READ_TIMEOUT
}

impl Default for ApiLimits {
    fn default() -> ApiLimits {
        ApiLimits {
            header_read_timeout: default_api_header_read(),
            body_read_timeout: default_api_body_read(),
            connections_max: default_api_connections(),
            connections_per_client_max: default_api_connections_per_client(),
        }
    }
}

impl Default for LbLimits {
    fn default() -> LbLimits {
        LbLimits {
            header_read_timeout: default_lb_header_read(),
            body_read_timeout: default_lb_body_read(),
        }
    }
}

/// The read timeouts and connection bounds are within reason.
fn check_limits(api: &ApiLimits, lb: &LbLimits) -> anyhow::Result<()> {
    use crate::limits::{READ_TIMEOUT_MAX, READ_TIMEOUT_MIN};
    for (field, value) in [
        ("api.header_read_timeout", api.header_read_timeout),
        ("api.body_read_timeout", api.body_read_timeout),
        ("lb.header_read_timeout", lb.header_read_timeout),
        ("lb.body_read_timeout", lb.body_read_timeout),
    ] {
        if value < READ_TIMEOUT_MIN || value > READ_TIMEOUT_MAX {
            bail!(
                "{field}: {} is outside {} to {}; slow clients would hold connections or \
                 normal ones be cut",
                humantime::format_duration(value),
                humantime::format_duration(READ_TIMEOUT_MIN),
                humantime::format_duration(READ_TIMEOUT_MAX),
            );
        }
    }
    if !(16..=65_536).contains(&api.connections_max) {
        bail!(
            "api.connections_max: {} is outside 16 to 65536",
            api.connections_max
        );
    }
    if api.connections_per_client_max == 0 || api.connections_per_client_max > api.connections_max {
        bail!(
            "api.connections_per_client_max: {} must be at least 1 and at most \
             api.connections_max ({})",
            api.connections_per_client_max,
            api.connections_max
        );
    }
    Ok(())
}

fn default_voters_max() -> usize {
    5
}
fn default_heartbeat() -> Duration {
    Duration::from_millis(100)
}
fn default_suspect() -> Duration {
    Duration::from_millis(300)
}
fn default_down() -> Duration {
    Duration::from_millis(500)
}
fn default_nice() -> i32 {
    -10
}
fn default_raft_heartbeat() -> Duration {
    Duration::from_millis(50)
}
fn default_election_min() -> Duration {
    Duration::from_millis(150)
}
fn default_election_max() -> Duration {
    Duration::from_millis(300)
}
fn default_snapshot_logs() -> u64 {
    5000
}

impl Default for FailureConfig {
    fn default() -> FailureConfig {
        FailureConfig {
            heartbeat_interval: default_heartbeat(),
            suspect_after: default_suspect(),
            down_after: default_down(),
            nice: default_nice(),
        }
    }
}

impl Default for RaftConfig {
    fn default() -> RaftConfig {
        RaftConfig {
            heartbeat_interval: default_raft_heartbeat(),
            election_timeout_min: default_election_min(),
            election_timeout_max: default_election_max(),
            snapshot_logs_since_last: default_snapshot_logs(),
        }
    }
}

impl AgentConfig {
    /// Read and validate a config file; relative paths are resolved against its directory.
    pub fn load(path: &Path) -> anyhow::Result<AgentConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let mut config: AgentConfig = toml::from_str(&text).map_err(|error| {
            anyhow::anyhow!(
                "config file {} is not valid: {}\nfix the file, or write a new one with \
                 `encluster init`",
                path.display(),
                error.to_string().trim_end()
            )
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        config
            .validate()
            .with_context(|| format!("config file {} is not valid", path.display()))?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.data_dir);
        resolve(&mut self.tls.ca_cert);
        resolve(&mut self.tls.cert);
        resolve(&mut self.tls.key);
        if let Some(bootstrap) = &mut self.bootstrap {
            resolve(&mut bootstrap.ca_key);
        }
    }

    /// Check relations between fields.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.node_id == 0 {
            bail!("node_id: 0 is reserved; use the id `encluster init` or `join` gave");
        }
        if self.name.trim().is_empty() {
            bail!("name: must not be empty");
        }
        for (field, value) in [("peer_addr", &self.peer_addr), ("api_addr", &self.api_addr)] {
            value.parse::<std::net::SocketAddr>().map_err(|_| {
                anyhow::anyhow!("{field}: {value:?} is not an address like 127.0.0.1:7500")
            })?;
        }
        if self.voters_max == 0 || self.voters_max > 7 || self.voters_max.is_multiple_of(2) {
            bail!(
                "voters_max: {} must be odd and between 1 and 7",
                self.voters_max
            );
        }
        timing::check(&self.failure, &self.raft).map_err(anyhow::Error::msg)?;
        if !(-20..=19).contains(&self.failure.nice) {
            bail!(
                "failure.nice: {} is outside -20 to 19 (lower runs the agent at a higher \
                 priority; the default is -10)",
                self.failure.nice
            );
        }
        check_limits(&self.api, &self.lb)?;
        let r = &self.raft;
        if r.snapshot_logs_since_last < 10 {
            bail!(
                "raft.snapshot_logs_since_last: {} is below the minimum 10",
                r.snapshot_logs_since_last
            );
        }
        if let Some(witness) = &self.witness {
            check_witness(witness)?;
        }
        Ok(())
    }
}

/// The witness's address must be one, and a claim must come after the node's lease could
/// have ended, so a master never claims the cluster while it may still hold a resource.
fn check_witness(witness: &WitnessConfig) -> anyhow::Result<()> {
    witness
        .address
        .parse::<std::net::SocketAddr>()
        .map_err(|_| {
            anyhow::anyhow!(
                "witness.address: {:?} is not an address like 192.0.2.9:7480",
                witness.address
            )
        })?;
    let lease = crate::limits::NODE_LEASE;
    for (field, wait) in [
        ("master_wait", witness.master_wait),
        ("follower_wait", witness.follower_wait),
    ] {
        if wait < lease {
            bail!(
                "witness.{field}: {} is shorter than the node lease ({}): a node must claim \
                 the cluster only once its own lease has surely ended",
                humantime::format_duration(wait),
                humantime::format_duration(lease)
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
