//! The cluster's vocabulary: ids, node descriptions, node health, events.
//!
//! Plain data only. This crate must never do IO, read a clock, use randomness or
//! hold global state: time arrives as a value from the caller (`Millis` since the Unix
//! epoch for what people read, [`BootMs`] for leases and deadlines), so everything built
//! on it stays deterministic and testable.

mod change;
mod cluster_config;
mod constraint;
mod event;
pub mod fence;
mod ids;
mod input;
mod node;
mod observed;
pub mod promotable;
mod resource;
mod resource_type;
mod role;
mod schema;
pub mod servers;
mod user_type;

pub use change::{ChangeEffect, change_effect};
pub use cluster_config::{
    CONSTRAINT_COUNT_MAX, ClusterConfig, ConfigError, GroupEnd, NODE_COUNT_MAX, NodeConfig,
    RESOURCE_COUNT_MAX, SchedulerInput,
};
pub use constraint::{
    ColocationConstraint, Constraint, LocationConstraint, OrderConstraint, OrderKind,
    SCORE_INFINITY, score_add, score_display,
};
pub use event::{Event, EventKind, Severity};
pub use fence::{FenceAction, FenceDevice};
pub use ids::{NodeId, ResourceId};
pub use input::{
    InvalidDuration, InvalidName, NAME_LENGTH_MAX, NameKind, UnknownNode, check_name,
    parse_duration_text, resolve_node,
};
pub use node::{NodeHealth, NodeInfo, NodeRole};
pub use observed::{
    FAILURE_STREAK_RESET, ObservedState, RESTART_BACKOFF_INITIAL, RESTART_BACKOFF_MAX,
    ResourceState, ResourceStatus, restart_backoff,
};
pub use resource::{
    CloneOptions, Group, GroupId, MONITOR_INTERVAL_DEFAULT, OPERATION_TIMEOUT_DEFAULT, Resource,
    ResourceOptions, STICKINESS_DEFAULT, TargetRole,
};
pub use resource_type::{ActionSpec, TypeClass, TypeInfo};
pub use role::{Permission, ROLES, Role, UnknownRole};
pub use schema::{ParamError, ParamKind, ParamSchema, ParamSpec, parse_bool, parse_duration};
pub use servers::ServerEdit;
pub use user_type::{
    BUILTIN_TYPE_NAMES, CHECK_INTERVAL_MAX, CHECK_INTERVAL_MIN, CommandSpec, HealthCheck,
    HealthProbe, IS_ALIVE_INTERVAL_DEFAULT, LOOKS_ALIVE_INTERVAL_DEFAULT, ROLE_TIMEOUT_DEFAULT,
    RoleProgram, RolePrograms, TYPE_PARAM_COUNT_MAX, TYPE_TIMEOUT_MAX, TypeKind, TypeWithRoles,
    UserType, param_environment,
};

/// Wall-clock time as milliseconds since the Unix epoch, supplied by a runtime module.
///
/// The core crates never read a clock themselves; they take `now: Millis` instead.
pub type Millis = u64;

/// Time on the machine's boot clock (Linux `CLOCK_BOOTTIME`), in milliseconds, supplied by
/// a runtime module: monotonic (an NTP step does not move it), counting suspend, and the
/// same for every process on one machine, so it survives an agent restart and a separate
/// watchdog process reads the same clock. It means nothing on another machine or after a
/// reboot: only durations (ages) cross the network.
///
/// Leases, fencing deadlines, heartbeat ages and every other timing decision use it;
/// wall-clock [`Millis`] is only for what people read (events, the operation log). A
/// newtype, so that the two cannot be mixed silently.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct BootMs(pub u64);

impl BootMs {
    /// This time plus `duration`, saturating.
    pub fn saturating_add(self, duration: std::time::Duration) -> BootMs {
        BootMs(self.0.saturating_add(duration_ms(duration)))
    }

    /// This time less `duration`, saturating at zero.
    pub fn saturating_sub(self, duration: std::time::Duration) -> BootMs {
        BootMs(self.0.saturating_sub(duration_ms(duration)))
    }

    /// How long after `earlier` this time is; zero if it is not later.
    pub fn saturating_since(self, earlier: BootMs) -> std::time::Duration {
        std::time::Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl std::fmt::Display for BootMs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ms after boot", self.0)
    }
}

/// Whole milliseconds of `duration`, saturating.
fn duration_ms(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
