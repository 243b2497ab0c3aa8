//! `GET /v1/lb/{name}/stats[?node=N]`: a virtual service's counters. Only a node running the
//! `lb` resource has them, so another node forwards the request to one that does: node N when
//! asked (a service with several VIPs runs on several nodes, each with its own counters), or
//! else any.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use model::{NodeId, ResourceId, ResourceState};

use super::{ApiState, ForwardRequest, error, forward};

fn to_wire(node: u64, service: lb::ServiceSnapshot) -> ::api::LbStats {
    let servers = service
        .servers
        .into_iter()
        .map(|s| ::api::LbServerStats {
            name: s.name,
            addr: s.addr.to_string(),
            state: match s.state {
                lb::ServerState::Active => "active",
                lb::ServerState::Draining => "draining",
                lb::ServerState::Disabled => "disabled",
            }
            .to_string(),
            healthy: s.healthy,
            weight: s.weight,
            connections_active: s.connections_active,
            connections_total: s.connections_total,
            requests_total: s.requests_total,
            errors_total: s.errors_total,
            drained: s.drained,
        })
        .collect();
    ::api::LbStats {
        service: service.name,
        node,
        connections_total: service.connections_total,
        connections_active: service.connections_active,
        connections_rejected: service.connections_rejected,
        bytes_in: service.bytes_in,
        bytes_out: service.bytes_out,
        requests_total: service.requests_total,
        errors_total: service.errors_total,
        servers,
    }
}

pub(crate) async fn stats(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let query = uri.query().unwrap_or("");
    let wanted = match query_value(query, "node").map(str::parse::<u64>) {
        None => None,
        Some(Ok(node)) => Some(node),
        Some(Err(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "node must be a node id, for example ?node=2".to_string(),
            );
        }
    };
    if wanted.is_none_or(|node| node == state.node_id)
        && let Some(lb) = &state.lb
        && let Some(service) = lb.stats(&name).await
    {
        return Json(to_wire(state.node_id, service)).into_response();
    }
    // A forwarded request carries `local`: answer from here or not at all, so two nodes
    // with different views never pass it back and forth.
    let forwarded = query_value(query, "local") == Some("1");
    let id = ResourceId(name.clone());
    let director = state.shared.read(|db| {
        let node = db
            .resources
            .status
            .get(&id)?
            .iter()
            .filter(|(node, _)| wanted.is_none_or(|wanted| node.0 == wanted))
            .find(|(_, s)| s.state == ResourceState::Running)
            .map(|(node, _)| *node)?;
        let api_addr = db.nodes.get(&node)?.info.api_addr.clone();
        Some((node, api_addr))
    });
    match director {
        Some((NodeId(node), api_addr)) if node != state.node_id && !forwarded => {
            let request = ForwardRequest {
                method: Method::GET,
                path_and_query: format!("{}?local=1", uri.path()),
                headers: &headers,
                body: Bytes::new(),
                write: None,
            };
            forward(&state, node, &api_addr, &request)
                .await
                .unwrap_or_else(|failure| failure)
        }
        _ => match wanted {
            Some(node) => error(
                StatusCode::NOT_FOUND,
                format!(
                    "node {node} does not serve {name:?} now; `encluster lb show {name}` \
                         lists the nodes that do"
                ),
            ),
            None => error(
                StatusCode::NOT_FOUND,
                format!("no director serves {name:?} now: is it an lb resource, and running?"),
            ),
        },
    }
}

/// The value of `key` in a query string such as `node=2&local=1`.
fn query_value<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}
