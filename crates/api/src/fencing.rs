//! Fencing devices and fencing history (issue 16): `GET|POST /v1/fence`,
//! `GET|DELETE /v1/fence/{name}`, `POST /v1/fence/{name}/test` and
//! `POST /v1/nodes/{node}/fence`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A fencing device as `POST /v1/fence` takes it and `config export` writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FenceDeviceSpec {
    /// Its name.
    pub name: String,
    /// The fence agent: `fence_ipmilan` (under /usr/sbin) or an absolute path.
    pub agent: String,
    /// The nodes it covers: `node1,node2` or `node1:plug1;node2:plug2`.
    pub hosts: String,
    /// The agent's parameters, checked against its meta-data.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// Its fencing level, 1 (tried first) to 9; 1 when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u32>,
    /// How long one call may take, e.g. `20s` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// `off` (the default) or `reboot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// One fencing attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FenceRecordView {
    /// The node fenced.
    pub node: u64,
    /// Its name.
    pub node_name: String,
    /// `lost` (the master fenced a lost node) or `manual`.
    pub reason: String,
    /// The node-loss incident it belongs to.
    pub incident: Option<u64>,
    /// When it started (ms since the epoch).
    pub started_at_ms: u64,
    /// When it was confirmed or failed.
    pub finished_at_ms: Option<u64>,
    /// `started`, `confirmed` or `failed`.
    pub outcome: String,
    /// What each device answered.
    pub detail: String,
}

/// `GET /v1/fence`: the devices and the newest fencing attempts, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FenceDevices {
    /// The devices.
    pub devices: Vec<FenceDeviceSpec>,
    /// The fencing history.
    pub history: Vec<FenceRecordView>,
}

/// `GET /v1/fence/{name}`: a device with its agent's description and parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FenceDeviceView {
    /// The device.
    pub spec: FenceDeviceSpec,
    /// The agent's one-line description, from its meta-data on the answering node.
    pub description: String,
    /// The agent's parameters: name, whether required, description.
    pub parameters: Vec<FenceParameter>,
}

/// One parameter of a fence agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FenceParameter {
    /// Its name.
    pub name: String,
    /// Whether it must be given.
    pub required: bool,
    /// Its default, if any.
    pub default: Option<String>,
    /// What it is.
    pub description: String,
}

/// The answer of `POST /v1/fence/{name}/test` (the agent's `monitor`) and of
/// `POST /v1/nodes/{node}/fence`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FenceResult {
    /// Whether it succeeded (the device answered, or the node was confirmed off).
    pub ok: bool,
    /// What each device answered.
    pub detail: String,
}
