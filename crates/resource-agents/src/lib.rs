//! Resource agents: the code that starts, stops and monitors one kind of resource on this node.
//!
//! One trait, [`ResourceAgent`], with three built-in implementations: `process` (any
//! command, supervised, with optional TCP or HTTP probes), `ocf` (an existing OCF resource
//! agent script, run unmodified) and `vip` (a virtual IP address: netlink mode for real
//! hosts, loopback mode for local clusters). [`builtin`] maps a resource type name to its agent.
//! [`UserTypeAgent`] runs a user-defined type (`model::UserType`) with the `process`
//! agent's supervision and the type's two health checks.
//!
//! This crate turns an operation request into an outcome and nothing more. It must never
//! know about the cmdb, the scheduler or assignments, and a failed operation is never a
//! Rust error: it is an [`Outcome`] with a reason in plain words, which the executor
//! records. Every operation is bounded by the request's timeout, and any process it
//! starts for an operation is killed, with its whole process group, when that runs out.

mod child;
pub mod fence;
// --- openapi --- The fuzz targets' entry points (issue 15).
#[doc(hidden)]
pub mod fuzzing;
mod limits;
mod notify_env;
mod ocf;
mod operation;
pub mod priority;
mod process;
mod promoted;
mod registry;
mod user_type;
mod vip;
mod watchdog;

pub use notify_env::{
    CloneNotice, NotifyInstance, NotifyKind, NotifyOperation, notify_environment,
};
pub use ocf::{OcfAgent, OcfType, promotion_score, set_promotion_score};
pub use operation::{
    BoxFuture, DEPTH_THOROUGH, MetaError, OperationRequest, Outcome, ResourceAgent, Severity,
};
pub use process::ProcessAgent;
pub use promoted::PromotedRole;
pub use registry::{UnknownType, builtin};
pub use user_type::{
    UndefinedTypeAgent, UserTypeAgent, describe as describe_user_type, instance_environment,
};
pub use vip::{
    LoopbackVip, NetlinkVip, NetlinkVipConfig, VIP_CLAIM_DIR_DEFAULT, VipAgent, VipBackend,
    VipClaim,
};
pub use watchdog::{FencedAt, RunFence, WATCHDOG_MARGIN, WATCHDOG_RUN_MARGIN, take_fenced_at};
