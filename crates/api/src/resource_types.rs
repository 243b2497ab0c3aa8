//! JSON bodies of the resource-type catalog: `GET /v1/types` and `GET /v1/types/{name}`.
//!
//! A type's class says where it comes from: `builtin` (`process`, `vip`, `lb`), `ocf` (an
//! OCF resource agent installed on the answering node), and later user-defined types.

use serde::{Deserialize, Serialize};

/// `GET /v1/types`: every type the answering node knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TypeList {
    /// The types, built-in first, then OCF agents by name.
    pub types: Vec<TypeSummary>,
    /// The node that answered: OCF agents are those installed there.
    pub node: u64,
    /// Where that node looks for OCF agents (`$OCF_ROOT`, usually `/usr/lib/ocf`).
    pub ocf_root: String,
}

/// One type in a [`TypeList`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TypeSummary {
    /// The name given as `--type`, e.g. `process` or `ocf:heartbeat:Dummy`.
    pub name: String,
    /// `builtin` or `ocf`.
    pub class: String,
    /// One line, when known without running the agent (OCF agents: once described).
    pub description: String,
}

/// `GET /v1/types/{name}`: a type with every parameter and action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
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
}

/// One parameter of a type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TypeParameter {
    /// The name, as given in `--param NAME=VALUE`.
    pub name: String,
    /// `string`, `integer`, `boolean`, `enum`, `duration`, `ip_address`, `port` or `path`.
    pub kind: String,
    /// The accepted words of an `enum`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// A resource cannot be created without it.
    pub required: bool,
    /// The value used when none is given.
    pub default: Option<String>,
    /// The smallest accepted number.
    pub min: Option<i64>,
    /// The largest accepted number.
    pub max: Option<i64>,
    /// No two resources of the type may share its value.
    pub unique: bool,
    /// A change is applied to a running instance without a restart.
    pub reloadable: bool,
    /// What it does.
    pub description: String,
}

/// One operation of a type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
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
