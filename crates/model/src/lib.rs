//! The cluster's vocabulary: ids, node descriptions, node health, events.
//!
//! Plain data only. This crate must never do IO, read a clock, use randomness or
//! hold global state: time arrives as a value (`Millis` since the Unix epoch) from
//! the caller, so everything built on it stays deterministic and testable.

mod cluster_config;
mod constraint;
mod event;
mod ids;
mod node;
mod observed;
mod resource;
mod schema;

pub use cluster_config::{
    CONSTRAINT_COUNT_MAX, ClusterConfig, ConfigError, NODE_COUNT_MAX, NodeConfig,
    RESOURCE_COUNT_MAX, SchedulerInput,
};
pub use constraint::{
    ColocationConstraint, Constraint, LocationConstraint, OrderConstraint, OrderKind,
    SCORE_INFINITY, score_add, score_display,
};
pub use event::{Event, EventKind};
pub use ids::{NodeId, ResourceId};
pub use node::{NodeHealth, NodeInfo, NodeRole};
pub use observed::{ObservedState, ResourceState, ResourceStatus};
pub use resource::{
    CloneOptions, Group, GroupId, MONITOR_INTERVAL_DEFAULT, OPERATION_TIMEOUT_DEFAULT, Resource,
    ResourceOptions, STICKINESS_DEFAULT, TargetRole,
};
pub use schema::{ParamError, ParamKind, ParamSchema, ParamSpec, parse_bool, parse_duration};

/// Wall-clock time as milliseconds since the Unix epoch, supplied by a runtime module.
///
/// The core crates never read a clock themselves; they take `now: Millis` instead.
pub type Millis = u64;
