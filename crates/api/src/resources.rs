//! JSON bodies of the resource API: `/v1/resources`, `/v1/groups`, `/v1/constraints`,
//! node standby and maintenance, and explanations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A resource as the operator writes it (create and update). Durations are strings like
/// `10s` or `500ms`; unset options take the cluster defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    /// The resource's name, unique in the cluster.
    pub name: String,
    /// Its type: `process`, `vip`, or `ocf:<provider>:<agent>`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Parameters, checked against the type's schema.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Only one instance cluster-wide (a VIP, a singleton service). Defaults to true.
    #[serde(default)]
    pub unique: Option<bool>,
    /// Run one instance on every eligible node instead (at most `clone_max` if set).
    #[serde(default)]
    pub clone: bool,
    /// Largest number of clone instances.
    #[serde(default)]
    pub clone_max: Option<u32>,
    /// Monitor interval, e.g. `10s`.
    #[serde(default)]
    pub monitor_interval: Option<String>,
    /// Monitor timeout.
    #[serde(default)]
    pub monitor_timeout: Option<String>,
    /// Start timeout.
    #[serde(default)]
    pub start_timeout: Option<String>,
    /// Stop timeout.
    #[serde(default)]
    pub stop_timeout: Option<String>,
    /// Preference for staying where it runs.
    #[serde(default)]
    pub stickiness: Option<i64>,
    /// Failures on one node after which it moves away (0 = never).
    #[serde(default)]
    pub migration_threshold: Option<u32>,
    /// Fail counts older than this expire, e.g. `10m`.
    #[serde(default)]
    pub failure_timeout: Option<String>,
    /// On a planned stop, how long the instance keeps running while load balancers drain
    /// it, e.g. `5s`; absent or `0s` stops at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<String>,
    /// `started` or `stopped`.
    #[serde(default)]
    pub target_role: Option<String>,
    /// Resource utilization, e.g. `{"memory": 100}`, checked against node capacity.
    #[serde(default)]
    pub utilization: BTreeMap<String, u64>,
    // --- promo ---
    /// Makes the clone promotable: at most this many instances promoted at once (1 to
    /// 16); implies `clone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_max: Option<u32>,
}

/// A resource with its state, for `resource show` and `resource list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResourceView {
    /// The resource as configured, options filled with their effective values.
    pub spec: ResourceSpec,
    /// The group it belongs to, if any.
    pub group: Option<String>,
    /// Per node where it has state: running, stopped, failed, with fail counts.
    pub instances: Vec<InstanceView>,
    /// Whether the cluster manages it; `false` after `resource unmanage` (Pacemaker's
    /// `is-managed=false`): it is left where it runs, never started, stopped or recovered.
    #[serde(default = "managed_default")]
    pub managed: bool,
}

fn managed_default() -> bool {
    true
}

/// One node's view of a resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InstanceView {
    /// Node id.
    pub node: u64,
    /// `running`, `stopped`, `failed` or `unknown`.
    pub state: String,
    /// Failures counted towards the migration threshold.
    pub fail_count: u32,
    /// The last failure in plain words, if any.
    pub last_failure: Option<String>,
    /// When it last failed (ms since the Unix epoch).
    pub last_failure_at_ms: Option<u64>,
    /// Whether the master currently assigns it to this node, and the grant's fencing token.
    pub assigned_token: Option<u64>,
    // --- promo ---
    /// For a promotable resource: `promoted` where this node holds a promoted role and its
    /// instance runs promoted, `promoting` or `demoting` while a grant and the instance
    /// disagree, else `unpromoted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// For a promotable resource, the promotion score this node's instance set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_score: Option<i64>,
    // --- remote ---
    /// The remote monitors' verdict on this instance when it differs from its own monitor:
    /// `unreachable` (healthy here, unreachable from a majority of the other nodes) or
    /// `failed_inside`; set by the master only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    // --- status ---
    /// The last status text the running instance gave of itself (systemd's `STATUS=`),
    /// escaped and at most 120 characters; from the master's view of every node (any
    /// other node knows only its own instances' texts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_text: Option<String>,
}

/// `POST /v1/resources/{name}/move`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// Target node id; without it, the resource moves away from where it runs.
    #[serde(default)]
    pub to: Option<u64>,
    /// How long the temporary preference lasts, e.g. `10m`; without it, until cleared.
    #[serde(default)]
    pub for_duration: Option<String>,
    /// Remove the move's preference instead (`move --clear`); `to` and `for_duration` must
    /// then be absent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clear: bool,
}

/// `POST /v1/resources/{name}/ban`: keep a resource (or group) off a node, like `pcs
/// resource ban`, until `clear` or until it expires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BanRequest {
    /// The node id.
    pub node: u64,
    /// How long the ban lasts, e.g. `10m`; without it, until cleared.
    #[serde(default)]
    pub for_duration: Option<String>,
}

/// `POST /v1/resources/{name}/clear`: remove the moves and bans of a resource (or group),
/// like `pcs resource clear`; with `node`, only those naming that node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearRequest {
    /// Only the preferences for or against this node.
    #[serde(default)]
    pub node: Option<u64>,
}

/// `POST /v1/resources/{name}/clear`'s answer: the ids of what was removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct Cleared {
    /// The removed constraints' ids, as `constraint list` showed them.
    pub removed: Vec<String>,
}

/// One entry of `GET /v1/constraints`: a declared constraint, or a preference left by
/// `resource move` or `resource ban`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConstraintView {
    /// Stable id for `DELETE /v1/constraints/{id}`, derived from the content as pcs names
    /// its constraints: `location-db-2-INFINITY`, `colocation-web-db-INFINITY`,
    /// `order-db-web-mandatory`, `cli-prefer-db-on-2` (a move to node 2), `cli-avoid-db-on-1`
    /// (a move away from node 1), `cli-ban-db-on-3`; a duplicate gets `-2`, `-3`.
    pub id: String,
    /// `constraint` (declared with `constraint add` or `apply -f`), `move` or `ban`.
    pub origin: String,
    /// The constraint itself.
    pub constraint: ConstraintSpec,
    /// When it stops applying (ms since the Unix epoch), if it expires.
    pub expires_at_ms: Option<u64>,
}

/// A group: members colocated, started in order, stopped in reverse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// The group's name.
    pub name: String,
    /// Member resources, in start order.
    pub members: Vec<String>,
}

/// A constraint, as JSON: `{"type": "order", "first": "a", "then": "b"}`,
/// `{"type": "colocation", "resource": "a", "with": "b", "score": "INFINITY"}`,
/// `{"type": "location", "resource": "a", "node": 2, "score": "-INFINITY"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ConstraintSpec {
    /// Start `first` before `then`; stop in reverse.
    Order {
        /// Started first.
        first: String,
        /// Started after `first`.
        then: String,
        /// `mandatory` (default) or `optional`.
        #[serde(default)]
        kind: Option<String>,
    },
    /// Place `resource` relative to `with`; a negative score keeps them apart.
    Colocation {
        /// The resource placed.
        resource: String,
        /// The resource it follows.
        with: String,
        /// A number or `INFINITY` / `-INFINITY`.
        score: String,
    },
    /// Prefer (positive), avoid (negative) or ban (`-INFINITY`) a node.
    Location {
        /// The resource.
        resource: String,
        /// The node id.
        node: u64,
        /// A number or `INFINITY` / `-INFINITY`.
        score: String,
    },
}

/// `POST /v1/nodes/{id}/mode`: standby, online or maintenance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeModeRequest {
    /// `standby` (drain), `online` (take work again), `maintenance` (leave resources alone),
    /// or `ready` (end maintenance).
    pub mode: String,
}

/// `GET /v1/resources/{name}/explain`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Explanation {
    /// The resource.
    pub resource: String,
    /// Where it is placed (empty when stopped).
    pub nodes: Vec<u64>,
    /// Why, in plain words, one line each.
    pub reasons: Vec<String>,
}

/// The declarative cluster file of `encluster apply -f cluster.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// Resources.
    #[serde(default, rename = "resource")]
    pub resources: Vec<ResourceSpec>,
    /// Groups.
    #[serde(default, rename = "group")]
    pub groups: Vec<GroupSpec>,
    /// Constraints.
    #[serde(default, rename = "constraint")]
    pub constraints: Vec<ConstraintSpec>,
    // --- types ---
    /// User-defined resource types, applied before the resources; types the file does not
    /// list are left as they are.
    #[serde(default, rename = "type", skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<crate::TypeSpec>,
    /// Alert recipients and threshold rules (`[[alert]]`); the file's list replaces the
    /// configured one, as for the other sections.
    #[serde(default, rename = "alert", skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<crate::AlertSpec>,
    // --- fence ---
    /// Fencing devices (`[[fence]]`); the file's list replaces the configured one.
    #[serde(default, rename = "fence", skip_serializing_if = "Vec::is_empty")]
    pub fence: Vec<crate::FenceDeviceSpec>,
}

/// The result of `POST /v1/apply` (with `dry_run`, nothing is changed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApplyResult {
    /// One line per change, like `+ resource web`, `~ resource db: params.port 5432 -> 5433`.
    pub changes: Vec<String>,
    /// Whether the changes were made.
    pub applied: bool,
}

/// A parameter-schema violation, one per problem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValidationErrors {
    /// What is wrong, e.g. `MaxUser: 11 is above the maximum 10`.
    pub errors: Vec<String>,
}

/// `GET /v1/lb/{name}/stats`: a virtual service's counters, from its director node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LbStats {
    /// The lb resource.
    pub service: String,
    /// The node whose director answered.
    pub node: u64,
    /// Connections accepted since the director started serving it.
    pub connections_total: u64,
    /// Connections open now.
    pub connections_active: u64,
    /// Connections refused by limits.
    pub connections_rejected: u64,
    /// Bytes from clients.
    pub bytes_in: u64,
    /// Bytes to clients.
    pub bytes_out: u64,
    /// HTTP requests (http mode).
    pub requests_total: u64,
    /// Failed connections or requests.
    pub errors_total: u64,
    /// Per real server.
    pub servers: Vec<LbServerStats>,
}

/// One real server's counters and health.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LbServerStats {
    /// Server name.
    pub name: String,
    /// host:port.
    pub addr: String,
    /// `active`, `draining` or `disabled`.
    pub state: String,
    /// Whether its health check passes.
    pub healthy: bool,
    /// Weight.
    pub weight: u32,
    /// Connections open now.
    pub connections_active: u64,
    /// Connections since it was added.
    pub connections_total: u64,
    /// HTTP requests.
    pub requests_total: u64,
    /// Failures.
    pub errors_total: u64,
    /// Draining with no connection left: safe to remove.
    pub drained: bool,
}

/// What an update does to the running instances of the resource, decided by the server
/// (`model::change_effect`): the answer of `PUT /v1/resources/{name}` and of its dry run
/// (`?dry_run=true`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct ResourceChange {
    /// `restart`, `reload`, `options` (applied at once), `none`, or `not_running` (takes
    /// effect at the next start).
    pub effect: String,
    /// The ids of the nodes whose instances take the change.
    pub nodes: Vec<u64>,
    /// Members of the resource's group after it, which restart with it.
    pub group_restarts: Vec<String>,
    /// The same in plain words, e.g. `will restart p1 on node 2 (and group members web
    /// after it)`.
    pub summary: String,
    /// Whether the update was written (false for a dry run).
    pub applied: bool,
}

/// The answer of `PUT /v1/resources/{name}`: the resource (as it is now, or unchanged for a
/// dry run) and what the change does to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResourceUpdate {
    /// The resource.
    #[serde(flatten)]
    pub resource: ResourceView,
    /// What the update does to running instances (empty from a server that predates it).
    #[serde(default)]
    pub change: ResourceChange,
}
