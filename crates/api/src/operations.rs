//! JSON bodies of the operation log, `GET /v1/operations`: what every node's executor
//! reported, with fencing tokens and the reporting node's timestamps, for audits.

use serde::{Deserialize, Serialize};

/// One resource-agent operation as its node reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OperationRecord {
    /// The node that ran it.
    pub node: u64,
    /// That node's name; empty if the node is no longer known.
    pub node_name: String,
    /// The resource.
    pub resource: String,
    /// `start`, `stop` or `monitor`.
    pub operation: String,
    /// The grant the operation ran under.
    pub fencing_token: u64,
    /// Whether it succeeded.
    pub ok: bool,
    /// The instance's state afterwards, e.g. `running` or `stopped`.
    pub state_after: String,
    /// Why it failed, in plain words.
    pub reason: Option<String>,
    /// When it started, in milliseconds since the Unix epoch on the reporting node's clock.
    pub started_at_ms: u64,
    /// When it finished, on the same clock. For a stop, when the instance had ended: an
    /// outside watchdog may have ended it before the stop ran, and then this is earlier
    /// than `started_at_ms`.
    pub finished_at_ms: u64,
}

/// `GET /v1/operations`: the cluster's operation log, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Operations {
    /// The node whose replica answered (with `consistency=stale`, the node asked).
    pub answered_by: u64,
    /// The newest operations the cluster keeps, oldest first.
    pub operations: Vec<OperationRecord>,
}
