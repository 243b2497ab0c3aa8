//! Resources and groups as the operator declares them: type, parameters, options, clone and
//! uniqueness flags, utilization, and groups of colocated, ordered members.
//!
//! These types are persisted in the Raft log: field names are stable and enums only ever
//! gain variants at the end.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::ResourceId;

/// A managed service: one instance cluster-wide, or one per eligible node for a clone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// The resource's name, unique in the cluster.
    pub id: ResourceId,
    /// The resource type that runs it, for example `process`, `ocf:heartbeat:Dummy`, `vip`
    /// or `lb`; its parameter schema validates `params`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The type's private properties, as validated strings (the schema gives their kinds).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Timeouts, monitor interval, stickiness and recovery policy.
    #[serde(default)]
    pub options: ResourceOptions,
    /// At most one instance may ever be active cluster-wide (a VIP, a singleton service): a
    /// node runs it only while it holds a valid lease, and a new instance starts elsewhere
    /// only after the old one is surely stopped.
    #[serde(default)]
    pub unique: bool,
    /// When set, the resource is a clone: one instance on every eligible node, up to a
    /// maximum. A clone is never unique and never a group member.
    #[serde(default)]
    pub clone: Option<CloneOptions>,
    /// How much of each node capacity (for example `memory`, `cpu`) one instance uses.
    #[serde(default)]
    pub utilization: BTreeMap<String, u64>,
}

/// How a clone spreads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CloneOptions {
    /// The most instances to run cluster-wide; `None` means one on every eligible node.
    #[serde(default)]
    pub max: Option<u32>,
}

/// Per-resource operation timeouts and recovery policy.
///
/// The defaults follow Pacemaker's conventions where they are sensible: a monitor every
/// 10 s with a 20 s timeout, 20 s start and stop timeouts, fail counts that never expire and
/// no migration threshold (restart in place forever). Stickiness defaults to 100 rather than
/// Pacemaker's 0, because an operator expects a healthy resource to stay where it is when a
/// failed node comes back (no failback) unless a location preference of more than 100 says
/// otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceOptions {
    /// How often the executor runs the monitor operation while the resource is active.
    #[serde(rename = "monitor_interval_ms", with = "duration_ms")]
    pub monitor_interval: Duration,
    /// How long one monitor operation may take before it counts as a failure.
    #[serde(rename = "monitor_timeout_ms", with = "duration_ms")]
    pub monitor_timeout: Duration,
    /// How long a start operation may take before it counts as a failure.
    #[serde(rename = "start_timeout_ms", with = "duration_ms")]
    pub start_timeout: Duration,
    /// How long a stop operation may take; past it, the process is killed.
    #[serde(rename = "stop_timeout_ms", with = "duration_ms")]
    pub stop_timeout: Duration,
    /// Score added to the node where the resource is active, so it stays there rather than
    /// move to an equally good node; a location preference must beat it to cause a failback.
    pub stickiness: i64,
    /// After this many failures on one node the resource is banned from that node (until
    /// the fail count expires or is cleaned up); 0 means never move, restart in place.
    pub migration_threshold: u32,
    /// A node's fail count stops counting once this long has passed since its last failure;
    /// `None` means failures never expire by themselves.
    #[serde(rename = "failure_timeout_ms", with = "option_duration_ms")]
    pub failure_timeout: Option<Duration>,
    /// Whether the operator wants the resource running.
    pub target_role: TargetRole,
    /// On a planned stop (its grant withdrawn: a move, a standby, a scale-down; not a
    /// failure, and never when the lease is ending), how long the node keeps the instance
    /// running before it stops it. Load balancers following the resource drain it from the
    /// moment the grant is withdrawn, so this is the time its requests in flight get to
    /// finish. Zero, the default, stops at once.
    #[serde(rename = "drain_ms", with = "duration_ms")]
    pub drain: Duration,
}

/// The default monitor interval: 10 s.
pub const MONITOR_INTERVAL_DEFAULT: Duration = Duration::from_secs(10);
/// The default timeout of a monitor, start or stop operation: 20 s.
pub const OPERATION_TIMEOUT_DEFAULT: Duration = Duration::from_secs(20);
/// The default stickiness: 100.
pub const STICKINESS_DEFAULT: i64 = 100;

impl Default for ResourceOptions {
    fn default() -> Self {
        ResourceOptions {
            monitor_interval: MONITOR_INTERVAL_DEFAULT,
            monitor_timeout: OPERATION_TIMEOUT_DEFAULT,
            start_timeout: OPERATION_TIMEOUT_DEFAULT,
            stop_timeout: OPERATION_TIMEOUT_DEFAULT,
            stickiness: STICKINESS_DEFAULT,
            migration_threshold: 0,
            failure_timeout: None,
            target_role: TargetRole::Started,
            drain: Duration::ZERO,
        }
    }
}

/// Whether the operator wants a resource running. Persisted: append variants only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TargetRole {
    /// Run it wherever the scheduler places it.
    #[default]
    Started,
    /// Keep it stopped everywhere.
    Stopped,
}

impl fmt::Display for TargetRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetRole::Started => "started",
            TargetRole::Stopped => "stopped",
        })
    }
}

/// A group's name, unique in the cluster (for example `web`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GroupId(pub String);

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Resources that always run together on one node, started in member order and stopped in
/// reverse (for example a VIP, then the application that binds to it).
///
/// Constraints naming any member apply to the whole group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// The group's name.
    pub id: GroupId,
    /// The members in start order; each resource belongs to at most one group.
    pub members: Vec<ResourceId>,
}

/// Serde for a `Duration` as whole milliseconds, the unit used throughout the cmdb.
mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        let millis = u64::try_from(value.as_millis()).unwrap_or(u64::MAX);
        s.serialize_u64(millis)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// Serde for an optional `Duration` as whole milliseconds.
mod option_duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => {
                s.serialize_some(&u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
            }
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}
