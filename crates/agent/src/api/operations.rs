//! `GET /v1/operations`: the cluster's operation log (start, stop and monitor outcomes with
//! their fencing tokens and the reporting node's timestamps), for audits such as "no unique
//! resource ran on two nodes at once". Like a key read, it is linearizable by default
//! (answered by the master after a read-index check) and `consistency=stale` answers from
//! this node's own replica, which is how an audit compares the replicas.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use cmdb::OperationEntry;
use model::ResourceId;
use openraft::ReadPolicy;
use serde::Deserialize;

use super::{ApiState, ForwardRequest, error, on_master, path_of};

#[derive(Deserialize)]
pub(crate) struct OperationsQuery {
    resource: Option<String>,
    consistency: Option<String>,
}

pub(crate) async fn list(
    State(state): State<ApiState>,
    Query(query): Query<OperationsQuery>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let stale = match query.consistency.as_deref() {
        None | Some("linearizable") => false,
        Some("stale") => true,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("consistency {other:?} is unknown; use linearizable or stale"),
            );
        }
    };
    let resource = query.resource.map(ResourceId);
    if stale {
        return Json(read(&state, resource.as_ref())).into_response();
    }
    let request = ForwardRequest {
        method,
        path_and_query: path_of(&uri),
        headers: &headers,
        body: Bytes::new(),
        write: None,
    };
    on_master(&state, &request, || async {
        match state.raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(_) => Some(Json(read(&state, resource.as_ref())).into_response()),
            Err(e) if e.forward_to_leader().is_some() => None,
            Err(e) => Some(error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("read not confirmed: {e}"),
            )),
        }
    })
    .await
}

/// The log from this node's replica, of one resource or of all, oldest first.
fn read(state: &ApiState, resource: Option<&ResourceId>) -> ::api::Operations {
    let operations = state.shared.read(|db| {
        db.resources
            .operations
            .iter()
            .filter(|entry| resource.is_none_or(|id| entry.report.resource == *id))
            .map(|entry| {
                let node_name = db
                    .nodes
                    .get(&entry.node)
                    .map(|record| record.info.name.clone())
                    .unwrap_or_default();
                to_wire(entry, node_name)
            })
            .collect()
    });
    ::api::Operations {
        answered_by: state.node_id,
        operations,
    }
}

fn to_wire(entry: &OperationEntry, node_name: String) -> ::api::OperationRecord {
    let report = &entry.report;
    ::api::OperationRecord {
        node: entry.node.0,
        node_name,
        resource: report.resource.0.clone(),
        operation: report.operation.clone(),
        fencing_token: report.fencing_token,
        ok: report.ok,
        state_after: report.state_after.to_string(),
        reason: report.reason.clone(),
        started_at_ms: report.started_at,
        finished_at_ms: report.finished_at,
    }
}
