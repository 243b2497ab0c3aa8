//! JSON bodies of the resource-type catalog: `GET /v1/types` and `GET /v1/types/{name}`.
//!
//! A type's class says where it comes from: `builtin` (`process`, `vip`, `lb`), `ocf` (an
//! OCF resource agent installed on the answering node) and `user` (defined by an operator,
//! stored in the cmdb: [`TypeSpec`], `POST /v1/types`).

use serde::{Deserialize, Serialize};

/// `GET /v1/types`: every type the answering node knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct TypeList {
    /// The types, built-in first, then OCF agents by name.
    pub types: Vec<TypeSummary>,
    /// The node that answered: OCF agents are those installed there.
    pub node: u64,
    /// Where that node looks for OCF agents (`$OCF_ROOT`, usually `/usr/lib/ocf`).
    pub ocf_root: String,
}

/// One type in a [`TypeList`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct TypeSummary {
    /// The name given as `--type`, e.g. `process` or `ocf:heartbeat:Dummy`.
    pub name: String,
    /// `builtin`, `ocf` or `user`.
    pub class: String,
    /// One line, when known without running the agent (OCF agents: once described).
    pub description: String,
}

/// `GET /v1/types/{name}`: a type with every parameter and action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct TypeDetail {
    /// The name given as `--type`.
    pub name: String,
    /// `builtin` or `ocf`.
    pub class: String,
    /// One line: what a resource of this type is.
    pub description: String,
    /// The parameters, in the order the type declares them.
    pub parameters: Vec<TypeParameter>,
    /// The operations the type supports, with their recommended timeouts.
    pub actions: Vec<TypeAction>,
    // --- types ---
    /// For a user-defined type, its whole definition (what `type create` was given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<TypeSpec>,
}

/// One parameter of a type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct TypeParameter {
    /// The name, as given in `--param NAME=VALUE`.
    pub name: String,
    /// `string`, `integer`, `boolean`, `enum`, `duration`, `ip_address`, `port` or `path`.
    pub kind: String,
    /// The accepted words of an `enum`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// A resource cannot be created without it.
    #[serde(default)]
    pub required: bool,
    /// The value used when none is given.
    pub default: Option<String>,
    /// The smallest accepted number.
    pub min: Option<i64>,
    /// The largest accepted number.
    pub max: Option<i64>,
    /// No two resources of the type may share its value.
    #[serde(default)]
    pub unique: bool,
    /// A change is applied to a running instance without a restart.
    #[serde(default)]
    pub reloadable: bool,
    /// What it does.
    #[serde(default)]
    pub description: String,
}

/// One operation of a type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct TypeAction {
    /// `start`, `stop`, `monitor`, `reload`, ...
    pub name: String,
    /// The recommended timeout, e.g. `20s`.
    pub timeout: Option<String>,
    /// The recommended interval of a recurring monitor.
    pub interval: Option<String>,
    /// The monitor's check depth.
    pub depth: Option<u32>,
}

// --- types ---

/// A user-defined resource type, as `POST /v1/types`, `PUT /v1/types/{name}`, the
/// `[[type]]` sections of a cluster file and `type create` give it. Durations are text
/// (`5s`, `1m`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeSpec {
    /// The name resources give as their type; not `process`, `vip`, `lb` or `ocf:...`.
    #[serde(default)]
    pub name: String,
    /// One line: what an instance is.
    #[serde(default)]
    pub description: String,
    /// The program an instance runs: an absolute path or a name in `PATH`.
    #[serde(default)]
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables of the instance and its checks.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// `unique` (the default), `clone` or `promotable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// How long a start may take (default 20s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timeout: Option<String>,
    /// How long a stop may take (default 20s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<String>,
    /// The cheap, frequent check (MSCS's LooksAlive; default: the process lives, every 5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub looks_alive: Option<CheckSpec>,
    /// The thorough, rarer check (IsAlive; default: the process lives, every 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_alive: Option<CheckSpec>,
    /// A program that applies reloadable parameters to a running instance (exit 0: done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload: Option<String>,
    /// The reload program's arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reload_args: Vec<String>,
    /// The parameters, in order.
    #[serde(default, rename = "param")]
    pub params: Vec<TypeParameter>,
    // --- roles ---
    /// For a promotable type: the program that promotes a running instance whose
    /// application is not connected through the application protocol (exit 0: done). Run
    /// with the instance's environment, as the checks are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote: Option<RoleSpec>,
    /// For a promotable type: the program that demotes a promoted instance; also what the
    /// lease watchdog runs when the node cannot demote in time. Given with `promote`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demote: Option<RoleSpec>,
    /// For a promotable type: the program told of the clone's starts, stops, promotions
    /// and demotions, before and after each, with Pacemaker's
    /// `OCF_RESKEY_CRM_meta_notify_*` variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<RoleSpec>,
}

/// A promote, demote or notify program of a [`TypeSpec`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// The program: an absolute path or a name in `PATH`.
    pub command: String,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Its own environment variables, on top of the instance's.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub env: std::collections::BTreeMap<String, String>,
    /// How long it may run (default 20s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// One health check of a [`TypeSpec`]: at most one of `command`, `tcp` and `http`; none
/// means "the process lives".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// How often it runs, e.g. `5s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// How long one check may take (default 20s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// A program run with the instance's environment: exit status 0 means healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// `host:port` that must accept a TCP connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<String>,
    /// `http://host:port/path` that must answer 2xx or 3xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
}
