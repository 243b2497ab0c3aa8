//! Read-only API views: health, CA, status, nodes and events.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use model::Event;
use serde::Deserialize;

use super::{ApiState, clamp_page, clamp_wait, detector_view};

pub(crate) async fn health(State(state): State<ApiState>) -> Json<::api::Health> {
    let master = cmdb::metrics(&state.raft).current_leader;
    Json(::api::Health {
        status: "ok".into(),
        node_id: state.node_id,
        master,
    })
}

pub(crate) async fn ca(State(state): State<ApiState>) -> Json<::api::CaCert> {
    Json(::api::CaCert {
        ca_pem: state.ca_pem.to_string(),
    })
}

pub(crate) async fn status(State(state): State<ApiState>) -> Json<::api::Status> {
    let metrics = cmdb::metrics(&state.raft);
    Json(::api::Status {
        cluster_name: state.cluster_name.clone(),
        answered_by: state.node_id,
        master: metrics.current_leader,
        term: metrics.current_term,
        commit_index: metrics.local_committed.map(|id| id.index).unwrap_or(0),
        applied_index: metrics.last_applied.map(|id| id.index).unwrap_or(0),
        nodes: node_list(&state),
        resources: super::resource_views::all_views(&state),
    })
}

pub(crate) async fn nodes(State(state): State<ApiState>) -> Json<Vec<::api::NodeStatus>> {
    Json(node_list(&state))
}

/// Every node known to the cmdb or the Raft membership, with role and health.
fn node_list(state: &ApiState) -> Vec<::api::NodeStatus> {
    let metrics = cmdb::metrics(&state.raft);
    let membership = metrics.membership_config.membership();
    let mut nodes: BTreeMap<u64, ::api::NodeStatus> = BTreeMap::new();
    let now = crate::clock::boot_ms();
    for (id, info) in membership.nodes() {
        nodes.insert(*id, blank_status(*id, info));
    }
    state.shared.read(|db| {
        for (id, record) in &db.nodes {
            let entry = nodes
                .entry(id.0)
                .or_insert_with(|| blank_status(id.0, &record.info));
            entry.state = record.health.to_string();
        }
    });
    for (id, node) in nodes.iter_mut() {
        node.role = if membership.voter_ids().any(|v| v == *id) {
            "voter".into()
        } else if membership.learner_ids().any(|l| l == *id) {
            "learner".into()
        } else {
            "none".into()
        };
        node.is_master = metrics.current_leader == Some(*id);
        if let Some((health, heard)) = detector_view(state, *id) {
            node.state = health.to_string();
            let age = now.saturating_since(heard);
            node.last_heartbeat_ms = Some(u64::try_from(age.as_millis()).unwrap_or(u64::MAX));
        }
    }
    nodes.into_values().collect()
}

fn blank_status(id: u64, info: &model::NodeInfo) -> ::api::NodeStatus {
    ::api::NodeStatus {
        id,
        name: info.name.clone(),
        state: "online".into(),
        role: "none".into(),
        is_master: false,
        last_heartbeat_ms: None,
        peer_addr: info.peer_addr.clone(),
        api_addr: info.api_addr.clone(),
    }
}

#[derive(Deserialize)]
pub(crate) struct EventsQuery {
    #[serde(default)]
    since: u64,
    #[serde(default)]
    wait_ms: u64,
    limit: Option<usize>,
}

pub(crate) async fn events(
    State(state): State<ApiState>,
    Query(query): Query<EventsQuery>,
) -> Response {
    let limit = clamp_page(query.limit);
    let deadline = tokio::time::Instant::now() + clamp_wait(query.wait_ms);
    let mut applied = state.shared.subscribe();
    loop {
        let (events, next_seq) = state
            .shared
            .read(|db| (db.events_since(query.since, limit), db.next_event_seq));
        if !events.is_empty() || query.wait_ms == 0 {
            let next = events.last().map(|e| e.seq + 1).unwrap_or(next_seq);
            let events = events.into_iter().map(to_wire).collect();
            return Json(::api::Events { events, next }).into_response();
        }
        if tokio::time::timeout_at(deadline, applied.changed())
            .await
            .is_err()
        {
            return Json(::api::Events {
                events: Vec::new(),
                next: query.since.max(next_seq),
            })
            .into_response();
        }
    }
}

fn to_wire(event: Event) -> ::api::Event {
    // Externally tagged: `{"node_health": {...}}`; the single key is the kind.
    let tagged = serde_json::to_value(&event.kind).unwrap_or(serde_json::Value::Null);
    let (kind, detail) = match tagged {
        serde_json::Value::Object(map) if map.len() == 1 => {
            let (kind, detail) = map.into_iter().next().expect("map has one entry");
            (kind, detail)
        }
        other => ("unknown".to_string(), other),
    };
    ::api::Event {
        seq: event.seq,
        at_ms: event.at_ms,
        kind,
        message: event.kind.describe(),
        detail,
    }
}
