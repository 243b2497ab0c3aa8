//! Fencing endpoints (issue 16): `GET|POST /v1/fence`, `GET|DELETE /v1/fence/{name}`,
//! `POST /v1/fence/{name}/test` (the master runs the device's `monitor`) and
//! `POST /v1/nodes/{node}/fence` (the master fences the node through its levels and
//! records the attempt, `manual`, in the events and the fencing history).
//!
//! A device is checked where the request enters: `model::FenceDevice::check`, then its
//! parameters against the schema read from the agent's meta-data on this node (as OCF
//! parameters are), so an unknown parameter or a missing required one is refused with the
//! agent's own words. The state machine checks the device again on every replica.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cmdb::Command;
use model::fence::{FENCE_TIMEOUT_DEFAULT, FenceOutcome, fence_levels, parse_host_map};
use model::{EventKind, FenceAction, FenceDevice, NodeId};
use resource_agents::fence::levels::FenceRun;
use resource_agents::fence::{FenceCall, FenceEnd, fence_type_info};

use super::resources::{Call, propose_all};
use super::{ApiState, error, node_ref, on_master, propose};
use crate::clock::now_ms;

pub(crate) async fn list(State(state): State<ApiState>) -> Response {
    let devices = state.shared.read(|db| {
        let devices = db.fencing.devices.values().map(to_spec).collect();
        let history = db
            .fencing
            .history
            .iter()
            .map(|record| ::api::FenceRecordView {
                node: record.node.0,
                node_name: db
                    .nodes
                    .get(&record.node)
                    .map(|n| n.info.name.clone())
                    .unwrap_or_default(),
                reason: record.reason.clone(),
                incident: record.incident,
                started_at_ms: record.started_at,
                finished_at_ms: record.finished_at,
                outcome: record.outcome.to_string(),
                detail: record.detail.clone(),
            })
            .collect();
        ::api::FenceDevices { devices, history }
    });
    Json(devices).into_response()
}

pub(crate) async fn show(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    let Some(device) = state
        .shared
        .read(|db| db.fencing.devices.get(&name).cloned())
    else {
        return not_found(&name);
    };
    let (description, parameters) = match fence_type_info(&device.agent).await {
        Ok(info) => {
            let parameters = info
                .schema
                .params
                .iter()
                .map(|spec| ::api::FenceParameter {
                    name: spec.name.clone(),
                    required: spec.required,
                    default: spec.default.clone(),
                    description: spec.description.clone(),
                })
                .collect();
            (info.description, parameters)
        }
        Err(problem) => (
            format!("(meta-data unavailable on this node: {problem})"),
            vec![],
        ),
    };
    Json(::api::FenceDeviceView {
        spec: to_spec(&device),
        description,
        parameters,
    })
    .into_response()
}

pub(crate) async fn put(State(state): State<ApiState>, call: Call) -> Response {
    let spec: ::api::FenceDeviceSpec = match serde_json::from_slice(&call.body) {
        Ok(spec) => spec,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad fence device: {e}")),
    };
    let device = match to_device(&spec).await {
        Ok(device) => device,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem),
    };
    let name = device.name.clone();
    let command = Command::PutFenceDevice { device };
    propose_all(&state, &call, vec![command], move |_| {
        Json(serde_json::json!({ "name": name })).into_response()
    })
    .await
}

pub(crate) async fn remove(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    call: Call,
) -> Response {
    if !state
        .shared
        .read(|db| db.fencing.devices.contains_key(&name))
    {
        return not_found(&name);
    }
    let command = Command::RemoveFenceDevice { name: name.clone() };
    propose_all(&state, &call, vec![command], move |_| {
        Json(serde_json::json!({ "removed": name })).into_response()
    })
    .await
}

/// The master runs the device's `monitor` action and says what it answered.
pub(crate) async fn test(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    call: Call,
) -> Response {
    let Some(device) = state
        .shared
        .read(|db| db.fencing.devices.get(&name).cloned())
    else {
        return not_found(&name);
    };
    on_master(&state, &call.forward(), || async {
        if !state.raft.is_leader() {
            return None;
        }
        let monitor = FenceCall {
            agent: device.agent.clone(),
            action: "monitor".into(),
            params: device.params.clone(),
            plug: None,
            timeout: device.timeout,
        };
        let answer = monitor.run().await;
        let detail = format!(
            "{name}: monitor {}",
            resource_agents::fence::levels::describe(&answer)
        );
        let ok = answer.end == FenceEnd::Exited(0);
        Some(Json(::api::FenceResult { ok, detail }).into_response())
    })
    .await
}

/// The master fences the node through its levels, recording the attempt as `manual`.
pub(crate) async fn fence_node(
    State(state): State<ApiState>,
    Path(node): Path<String>,
    call: Call,
) -> Response {
    let id = match node_ref(&state, &node) {
        Ok(id) => NodeId(id),
        Err(response) => return response,
    };
    let found = state.shared.read(|db| {
        let record = db.nodes.get(&id)?;
        let levels = fence_levels(db.fencing.devices.values(), &record.info.name);
        let covered = !levels.is_empty();
        Some((covered, FenceRun::new(&levels, &record.info.name)))
    });
    let Some((covered, run)) = found else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no node {node} in the cluster"),
        );
    };
    if !covered {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "no fence device covers node {node}; add one with `encluster fence add ... \
                 --hosts {node}`"
            ),
        );
    }
    on_master(&state, &call.forward(), || {
        let (state, run) = (state.clone(), run.clone());
        async move {
            if !state.raft.is_leader() {
                return None;
            }
            record(&state, id, FenceOutcome::Started, "operator request".into()).await;
            let (ok, detail) = crate::master::run_fence(run).await;
            let outcome = if ok {
                FenceOutcome::Confirmed
            } else {
                FenceOutcome::Failed
            };
            record(&state, id, outcome, detail.clone()).await;
            Some(Json(::api::FenceResult { ok, detail }).into_response())
        }
    })
    .await
}

async fn record(state: &ApiState, node: NodeId, outcome: FenceOutcome, detail: String) {
    let event = EventKind::Fencing {
        node,
        outcome,
        reason: "manual".into(),
        detail,
    };
    let events = vec![event];
    let command = Command::RecordEvents {
        at_ms: now_ms(),
        events,
    };
    if let Some(Err(_)) | None = propose(state, command).await {
        tracing::warn!(node = node.0, "Could not record a manual fence");
    }
}

fn not_found(name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no fence device named {name:?}; `encluster fence list` shows them"),
    )
}

/// The wire form of a stored device.
pub(crate) fn to_spec(device: &FenceDevice) -> ::api::FenceDeviceSpec {
    let hosts: Vec<String> = device
        .hosts
        .iter()
        .map(|(host, plug)| {
            if host == plug {
                host.clone()
            } else {
                format!("{host}:{plug}")
            }
        })
        .collect();
    ::api::FenceDeviceSpec {
        name: device.name.clone(),
        agent: device.agent.clone(),
        hosts: hosts.join(","),
        params: device.params.clone(),
        level: Some(device.level),
        timeout: Some(humantime::format_duration(device.timeout).to_string()),
        action: Some(device.action.to_string()),
    }
}

/// The stored form of a device spec, its parameters checked against the agent's meta-data
/// on this node; the error names the problem and the fix.
pub(crate) async fn to_device(spec: &::api::FenceDeviceSpec) -> Result<FenceDevice, String> {
    let timeout = match &spec.timeout {
        Some(text) => model::parse_duration_text(text).map_err(|e| format!("timeout: {e}"))?,
        None => FENCE_TIMEOUT_DEFAULT,
    };
    let action = match &spec.action {
        Some(text) => FenceAction::parse(text)?,
        None => FenceAction::Off,
    };
    let device = FenceDevice {
        name: spec.name.trim().to_string(),
        agent: spec.agent.trim().to_string(),
        params: spec.params.clone(),
        hosts: parse_host_map(&spec.hosts)?,
        level: spec.level.unwrap_or(1),
        timeout,
        action,
    };
    device.check()?;
    let info = fence_type_info(&device.agent).await?;
    let params = info.schema.validate(&device.params).map_err(|errors| {
        let problems: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!(
            "fence device {} ({}): {}",
            device.name,
            device.agent,
            problems.join("; ")
        )
    })?;
    // Keep what the operator gave; defaults stay the agent's own.
    debug_assert!(device.params.keys().all(|key| params.contains_key(key)));
    Ok(device)
}
