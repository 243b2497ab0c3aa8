//! The HTTPS JSON API every node serves. Writes (and linearizable reads) that reach a node
//! that is not the master are forwarded to the master's API, so clients may talk to any node.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use cmdb::{Command, CommandResult, Raft, SharedDb, TokenKind};
use model::{NodeHealth, NodeId};
use openraft::{ChangeMembers, ReadPolicy};
use serde::Deserialize;

use crate::clock::now_ms;
use crate::config::AgentConfig;
use crate::limits::{API_BODY_BYTES_MAX, EVENTS_PAGE_MAX, EVENTS_WAIT_MAX, FORWARD_TIMEOUT};
use crate::master::DetectorView;
use crate::tls::NodeTls;

mod access;
mod alerts;
mod apply;
mod change;
mod constraints;
mod errors;
mod fencing;
mod join;
mod lb_stats;
mod metrics;
mod openapi;
mod operations;
mod preferences;
mod resource_views;
mod resources;
mod secrets;
mod servers;
mod spec;
mod status;
mod stream;
mod types;
mod user_types;
// --- witness ---
mod witness;

pub(crate) use spec::ocf_root;
pub(crate) use types::TypeCatalog;
mod views;
mod writes;
// --- users ---
mod login;
mod users;
// --- rotate ---
mod certs;
mod tokens;

pub(crate) use writes::{NodeSession, WriteId};

/// What the API handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub(crate) node_id: u64,
    pub(crate) cluster_name: String,
    pub(crate) raft: Raft,
    pub(crate) shared: SharedDb,
    pub(crate) view: DetectorView,
    pub(crate) ca_pem: Arc<String>,
    pub(crate) forward: reqwest::Client,
    pub(crate) lb: Option<std::sync::Arc<crate::lb_agent::LbAgent>>,
    /// This node's series, for `/v1/metrics`.
    pub(crate) metrics: Option<Arc<crate::metrics::Metrics>>,
    /// This node's session for writes that come without one of their own.
    pub(crate) session: Arc<NodeSession>,
    /// The resource types, with the OCF agents' meta-data cached.
    pub(crate) types: Arc<TypeCatalog>,
    /// The remote monitors, whose verdicts `status` shows on the master.
    pub(crate) remote: Option<Arc<crate::remote::Remote>>,
    /// The instances' status texts (`status_texts`): every node's on the master.
    pub(crate) status_texts: Option<Arc<crate::status_texts::StatusTexts>>,
    // --- users ---
    /// Failed logins (kept while master) and the bound on password checks.
    pub(crate) logins: Arc<login::LoginGate>,
    // --- web ---
    /// The `/v1/stream` connections open on this node (one permit each).
    pub(crate) streams: Arc<tokio::sync::Semaphore>,
    // --- upgrade ---
    /// The versions and formats the nodes report to this node while it is master.
    pub(crate) reports: crate::upgrade::NodeReports,
    // --- witness ---
    /// The witness this node's config names, for `status`.
    pub(crate) witness: Option<String>,
}

impl ApiState {
    /// State for one agent.
    pub fn new(
        config: &AgentConfig,
        raft: Raft,
        shared: SharedDb,
        view: DetectorView,
        tls: &NodeTls,
    ) -> ApiState {
        let forward = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls.api_client).clone())
            .timeout(FORWARD_TIMEOUT)
            .tcp_nodelay(true)
            .build()
            .expect("a reqwest client with a preconfigured rustls backend always builds");
        ApiState {
            node_id: config.node_id,
            cluster_name: config.cluster_name.clone(),
            raft,
            shared,
            view,
            ca_pem: Arc::new(tls.ca_pem.clone()),
            forward,
            lb: None,
            metrics: None,
            session: NodeSession::new(),
            types: Arc::new(TypeCatalog::new(ocf_root())),
            remote: None,
            status_texts: None,
            logins: login::LoginGate::new(),
            streams: stream::streams(),
            reports: Default::default(),
            witness: config.witness.as_ref().map(|w| w.address.clone()),
        }
    }

    /// Show the nodes' reported versions (on the master) in `status`.
    pub fn with_reports(mut self, reports: crate::upgrade::NodeReports) -> ApiState {
        self.reports = reports;
        self
    }

    /// Serve this node's series from `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> ApiState {
        self.metrics = Some(metrics);
        self
    }

    /// Show the instances' status texts (`status_texts`) in resource views.
    pub fn with_status_texts(
        mut self,
        status_texts: Arc<crate::status_texts::StatusTexts>,
    ) -> ApiState {
        self.status_texts = Some(status_texts);
        self
    }

    /// Show the remote monitors' verdicts (on the master) in `status`.
    pub fn with_remote(mut self, remote: Arc<crate::remote::Remote>) -> ApiState {
        self.remote = Some(remote);
        self
    }

    /// Serve this node's load-balancer counters from `lb`.
    pub fn with_lb(mut self, lb: std::sync::Arc<crate::lb_agent::LbAgent>) -> ApiState {
        self.lb = Some(lb);
        self
    }
}

/// A JSON error answer: `{"error": "..."}`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(::api::ErrorBody {
            error: message.into(),
        }),
    )
        .into_response()
}

/// The node a URL names by name or id, with the parser the CLI uses too
/// (`model::resolve_node`). A number that is no member passes, so the handler can say so
/// in its own words (a node may be in the Raft membership only).
pub(crate) fn node_ref(state: &ApiState, text: &str) -> Result<u64, Response> {
    let nodes: Vec<(NodeId, String)> = state.shared.read(|db| {
        db.nodes
            .iter()
            .map(|(id, node)| (*id, node.info.name.clone()))
            .collect()
    });
    let named = nodes.iter().map(|(id, name)| (*id, name.as_str()));
    match model::resolve_node(text, named) {
        Ok(id) => Ok(id.0),
        Err(unknown) => match text.trim().parse::<u64>() {
            Ok(id) => Ok(id),
            Err(_) => Err(error(StatusCode::NOT_FOUND, unknown.to_string())),
        },
    }
}

/// The API router.
pub fn router(state: ApiState) -> Router {
    let protected = Router::new()
        .route("/v1/status", get(status::status))
        .route("/v1/nodes", get(views::nodes))
        .route("/v1/nodes/{id}", delete(remove_node))
        .route("/v1/events", get(views::events))
        .route("/v1/kv/{*key}", get(kv_get).put(kv_put))
        .route(
            "/v1/resources",
            get(resources::list)
                .post(resources::create)
                .delete(resources::delete_named),
        )
        .route(
            "/v1/resources/{name}",
            get(resources::show)
                .put(resources::update)
                .delete(resources::delete),
        )
        .route("/v1/resources/{name}/explain", get(resources::explain))
        .route("/v1/resources/{name}/{action}", post(resources::action))
        .route("/v1/resources/{name}/servers", post(servers::add))
        .route(
            "/v1/resources/{name}/servers/{server}",
            delete(servers::remove),
        )
        .route("/v1/groups", post(resources::create_group))
        .route(
            "/v1/groups/{name}",
            axum::routing::put(resources::update_group).delete(resources::delete_group),
        )
        .route("/v1/groups/{name}/move", post(resources::move_group))
        .route(
            "/v1/constraints",
            get(constraints::list).post(resources::add_constraint),
        )
        .route(
            "/v1/constraints/{id}",
            axum::routing::put(constraints::update).delete(constraints::remove),
        )
        .route("/v1/config", get(apply::export))
        .route("/v1/nodes/{id}/mode", post(resources::node_mode))
        .route("/v1/apply", post(resources::apply))
        .route("/v1/tokens/join", post(join::add_join_token))
        .route("/v1/lb/{name}/stats", get(lb_stats::stats))
        .route("/v1/metrics", get(metrics::list))
        .route("/v1/metrics/query", get(metrics::query))
        .route("/metrics", get(metrics::prometheus))
        .route("/v1/operations", get(operations::list))
        .route("/v1/types", get(types::list))
        .route("/v1/types/{name}", get(types::show))
        // --- types ---
        .route("/v1/types", post(user_types::create))
        .route(
            "/v1/types/{name}",
            axum::routing::put(user_types::update).delete(user_types::delete),
        )
        // --- mon ---
        .route("/v1/incidents", get(alerts::incidents))
        .route("/v1/alerts", get(alerts::list).post(alerts::put))
        .route("/v1/alerts/{name}", delete(alerts::remove))
        .route("/v1/alerts/{name}/test", post(alerts::test))
        .route("/v1/tokens/admin", post(join::add_admin_token))
        // --- fence ---
        .route("/v1/fence", get(fencing::list).post(fencing::put))
        .route(
            "/v1/fence/{name}",
            get(fencing::show).delete(fencing::remove),
        )
        .route("/v1/fence/{name}/test", post(fencing::test))
        .route("/v1/nodes/{id}/fence", post(fencing::fence_node))
        // --- witness ---
        .route("/v1/witness", post(witness::add))
        // --- users ---
        .route(
            "/v1/session",
            post(login::login).get(login::show).delete(login::logout),
        )
        .route("/v1/users", get(users::list).post(users::add))
        .route("/v1/users/{name}", delete(users::remove))
        .route(
            "/v1/users/{name}/password",
            axum::routing::put(users::passwd),
        )
        .route("/v1/users/{name}/role", axum::routing::put(users::set_role))
        .route("/v1/tokens", post(users::add_token))
        // --- web ---
        .route("/v1/stream", get(stream::stream))
        // --- rotate ---
        .route("/v1/certs", get(certs::show))
        .route("/v1/certs/rotate", post(certs::rotate))
        .route("/v1/certs/ca/begin", post(certs::begin_ca))
        .route("/v1/certs/ca/finish", post(certs::finish_ca))
        .route("/v1/tokens", get(tokens::list))
        .route("/v1/tokens/revoke", post(tokens::revoke))
        .route("/v1/tokens/rotate", post(tokens::rotate))
        // Inside the check below: answers to non-administrators lose their secrets.
        .route_layer(middleware::from_fn(secrets::hide_for_non_admins))
        // Every route above needs the permission `access::ROUTES` gives it.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            access::authorize,
        ));
    Router::new()
        .route("/v1/health", get(views::health))
        .route("/v1/ca", get(views::ca))
        .route("/v1/join", post(join::join))
        // --- openapi ---
        .route("/v1/openapi.json", get(openapi::serve))
        .merge(protected)
        // --- web --- The browser UI at `/` (no API token: it holds only code).
        .merge(web::router())
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such API endpoint; see /v1/...") })
        .layer(DefaultBodyLimit::max(API_BODY_BYTES_MAX))
        // --- hostile ---
        // A declared length past the limit is refused before a byte of the body is read.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            API_BODY_BYTES_MAX,
        ))
        // ... and, unless it is huge, read away so that the client sees the 413.
        .layer(middleware::from_fn(errors::drain_oversized))
        .layer(middleware::from_fn(errors::json_errors))
        .with_state(state)
}

/// The bearer token of a request, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// Whether `token` is a stored token of `kind`.
pub(crate) fn token_valid(shared: &SharedDb, token: &str, kind: TokenKind) -> bool {
    let hash = auth::token_hash(token);
    shared.read(|db| {
        db.tokens
            .get(&hash)
            .is_some_and(|record| record.kind == kind)
    })
}

/// The operator a request acts for: its API token's label or its login session's user
/// (`None` without either, e.g. a join).
pub(crate) fn actor(state: &ApiState, headers: &HeaderMap) -> Option<String> {
    let principal = access::authenticate(state, headers, now_ms()).ok()?;
    Some(
        principal
            .name
            .chars()
            .take(cmdb::ACTOR_BYTES_MAX / 4)
            .collect(),
    )
}

/// Where the master's API is, if another node is the master right now.
fn master_api(state: &ApiState) -> Option<(u64, String)> {
    let metrics = cmdb::metrics(&state.raft);
    let master = metrics.current_leader?;
    if master == state.node_id {
        return None;
    }
    let node = metrics.membership_config.membership().get_node(&master)?;
    Some((master, node.api_addr.clone()))
}

/// Run `local` when this node is master, else forward the request to the master; while an
/// election is under way, wait (up to the forward timeout) instead of failing at once.
/// A forwarded request follows the master: when another node becomes master before the
/// answer came, or the master cannot be reached, the request goes to the new master (a
/// write carries its session number, so it is never applied twice).
pub(crate) async fn on_master<F, Fut>(
    state: &ApiState,
    request: &ForwardRequest<'_>,
    mut local: F,
) -> Response
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<Response>>,
{
    let deadline = tokio::time::Instant::now() + FORWARD_TIMEOUT;
    let mut last_failure = None;
    loop {
        if state.raft.is_leader()
            && let Some(response) = local().await
        {
            return response;
        }
        if let Some((master, api_addr)) = master_api(state) {
            let forwarded = tokio::time::timeout_at(
                deadline,
                forward_following(state, master, &api_addr, request),
            );
            match forwarded.await {
                Ok(Ok(response)) => return response,
                Ok(Err(failure)) => last_failure = Some(failure),
                Err(_) => return last_failure.unwrap_or_else(|| timed_out(master)),
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return last_failure.unwrap_or_else(|| {
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no master: the cluster has no quorum",
                )
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn timed_out(master: u64) -> Response {
    error(
        StatusCode::GATEWAY_TIMEOUT,
        format!("master {master} did not answer in time; the request's outcome is unknown"),
    )
}

/// Forward to `master` until it answers; `Err` when it cannot be reached or another node
/// became master meanwhile (then the caller sends the request again).
async fn forward_following(
    state: &ApiState,
    master: u64,
    api_addr: &str,
    request: &ForwardRequest<'_>,
) -> Result<Response, Response> {
    use openraft::async_runtime::WatchReceiver as _;
    let mut metrics = state.raft.metrics();
    let master_changed = async {
        loop {
            let leader = metrics.borrow_watched().current_leader;
            if leader.is_some() && leader != Some(master) {
                return;
            }
            if metrics.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        answer = forward(state, master, api_addr, request) => {
            match answer {
                Ok(response) => Ok(response),
                Err(failure) => {
                    // Unreachable: wait briefly for a master change rather than spin.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Err(failure)
                }
            }
        }
        () = master_changed => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("master {master} was replaced before it answered"),
        )),
    }
}

/// The parts of a request needed to forward it.
pub(crate) struct ForwardRequest<'a> {
    pub(crate) method: Method,
    pub(crate) path_and_query: String,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: Bytes,
    /// A write's identity, fixed where it entered the cluster; none for reads.
    pub(crate) write: Option<&'a WriteId>,
}

/// Send the request on to the master's API and relay its answer; `Err` when the master
/// could not be reached.
pub(crate) async fn forward(
    state: &ApiState,
    master: u64,
    api_addr: &str,
    request: &ForwardRequest<'_>,
) -> Result<Response, Response> {
    let (method, path_and_query, headers, body) = (
        request.method.clone(),
        &request.path_and_query,
        request.headers,
        request.body.clone(),
    );
    let mut outgoing = state
        .forward
        .request(method, format!("https://{api_addr}{path_and_query}"));
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        outgoing = outgoing.header(header::AUTHORIZATION, value.clone());
    }
    if let Some(value) = headers.get(header::CONTENT_TYPE) {
        outgoing = outgoing.header(header::CONTENT_TYPE, value.clone());
    }
    // --- users ---
    // The master authenticates the request again: a session travels in its cookie.
    for name in [header::COOKIE.as_str(), ::api::CSRF_HEADER] {
        for value in headers.get_all(name) {
            outgoing = outgoing.header(name, value.clone());
        }
    }
    for (name, value) in request.write.map(WriteId::headers).into_iter().flatten() {
        outgoing = outgoing.header(name, value);
    }
    let answer = outgoing.body(body).send().await;
    let unreachable = |e: reqwest::Error| {
        error(
            StatusCode::BAD_GATEWAY,
            format!("master {master} unreachable: {e}"),
        )
    };
    let answer = answer.map_err(unreachable)?;
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let relayed = relayed_headers(answer.headers());
    let bytes = answer.bytes().await.map_err(unreachable)?;
    let mut response =
        (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response();
    for (name, value) in relayed {
        response.headers_mut().append(name, value);
    }
    Ok(response)
}

/// The headers of the master's answer that the client must see: a login's cookie and a
/// lockout's `Retry-After`.
fn relayed_headers(
    headers: &reqwest::header::HeaderMap,
) -> Vec<(header::HeaderName, header::HeaderValue)> {
    [header::SET_COOKIE, header::RETRY_AFTER]
        .into_iter()
        .flat_map(|name| {
            headers
                .get_all(name.as_str())
                .iter()
                .filter_map(move |value| {
                    let value = header::HeaderValue::from_bytes(value.as_bytes()).ok()?;
                    Some((name.clone(), value))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Propose a command on the master; `None` means this node is not (or no longer) master.
pub(crate) async fn propose(
    state: &ApiState,
    command: Command,
) -> Option<Result<CommandResult, Response>> {
    if !state.raft.is_leader() {
        return None;
    }
    // --- upgrade --- The format gate: refused like any invalid command.
    if let Err(reason) = state.shared.read(|db| db.admits(&command)) {
        return Some(Ok(CommandResult::Rejected(reason)));
    }
    match state.raft.client_write(command).await {
        Ok(response) => Some(Ok(response.data)),
        Err(e) if e.forward_to_leader().is_some() => None,
        Err(e) => Some(Err(error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))),
    }
}

fn rejected_or(result: CommandResult, ok: impl FnOnce(CommandResult) -> Response) -> Response {
    match result {
        CommandResult::Rejected(reason) => error(StatusCode::BAD_REQUEST, reason),
        other => ok(other),
    }
}

#[derive(Deserialize)]
struct KvQuery {
    consistency: Option<String>,
}

async fn kv_get(
    State(state): State<ApiState>,
    Path(key): Path<String>,
    Query(query): Query<KvQuery>,
    method: Method,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if let Err(problem) = ::api::check_kv_key(&key) {
        return error(StatusCode::BAD_REQUEST, problem);
    }
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
    let read = || {
        let key = key.clone();
        match state.shared.read(|db| db.kv.get(&key).cloned()) {
            Some((value, revision)) => Json(::api::KvValue {
                key,
                value,
                revision,
            })
            .into_response(),
            None => error(StatusCode::NOT_FOUND, format!("key {key:?} not found")),
        }
    };
    if stale {
        return read();
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
            Ok(_) => Some(read()),
            Err(e) if e.forward_to_leader().is_some() => None,
            Err(e) => Some(error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("read not confirmed: {e}"),
            )),
        }
    })
    .await
}

pub(crate) fn path_of(uri: &axum::http::Uri) -> String {
    uri.path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| uri.path().to_string())
}

async fn kv_put(
    State(state): State<ApiState>,
    Path(key): Path<String>,
    method: Method,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    if let Err(problem) = ::api::check_kv_key(&key) {
        return error(StatusCode::BAD_REQUEST, problem);
    }
    let Ok(value) = String::from_utf8(body.to_vec()) else {
        return error(StatusCode::BAD_REQUEST, "the value must be UTF-8 text");
    };
    let write = match WriteId::of(&headers, &state) {
        Ok(write) => write,
        Err(response) => return response,
    };
    let request = ForwardRequest {
        method,
        path_and_query: path_of(&uri),
        headers: &headers,
        body,
        write: Some(&write),
    };
    on_master(&state, &request, || async {
        let command = write.command(
            0,
            Command::Put {
                key: key.clone(),
                value: value.clone(),
            },
        );
        let result = match propose(&state, command).await? {
            Ok(result) => result,
            Err(response) => return Some(response),
        };
        Some(rejected_or(result, |result| match result {
            CommandResult::Revision(revision) => {
                Json(::api::KvWritten { revision }).into_response()
            }
            other => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("unexpected {other:?}"),
            ),
        }))
    })
    .await
}

async fn remove_node(
    State(state): State<ApiState>,
    Path(node): Path<String>,
    method: Method,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let id = match node_ref(&state, &node) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let write = match WriteId::of(&headers, &state) {
        Ok(write) => write,
        Err(response) => return response,
    };
    let request = ForwardRequest {
        method,
        path_and_query: path_of(&uri),
        headers: &headers,
        body: Bytes::new(),
        write: Some(&write),
    };
    on_master(&state, &request, || async {
        Some(remove_node_here(&state, &write, id).await)
    })
    .await
}

async fn remove_node_here(state: &ApiState, write: &WriteId, id: u64) -> Response {
    if id == state.node_id {
        return error(
            StatusCode::BAD_REQUEST,
            format!("node {id} is the master; stop its agent first so another node takes over"),
        );
    }
    let metrics = cmdb::metrics(&state.raft);
    let membership = metrics.membership_config.membership();
    let known = state.shared.read(|db| db.nodes.contains_key(&NodeId(id)));
    if !known && membership.get_node(&id).is_none() {
        return error(
            StatusCode::NOT_FOUND,
            format!("node {id} is not a member; see `encluster node list`"),
        );
    }
    let change = if membership.voter_ids().any(|v| v == id) {
        ChangeMembers::RemoveVoters(BTreeSet::from([id]))
    } else {
        ChangeMembers::RemoveNodes(BTreeSet::from([id]))
    };
    if membership.get_node(&id).is_some()
        && let Err(e) = state.raft.change_membership(change, false).await
    {
        return error(
            StatusCode::CONFLICT,
            format!("cannot remove node {id} now: {e}"),
        );
    }
    let at_ms = now_ms();
    let remove = write.command(0, Command::RemoveNode { id: NodeId(id) });
    let _ = propose(state, remove).await;
    let event = model::EventKind::NodeRemoved {
        node: NodeId(id),
        reason: match &write.actor {
            Some(actor) => format!("removed by {actor}"),
            None => "operator".into(),
        },
    };
    let record = Command::RecordEvents {
        at_ms,
        events: vec![event],
    };
    let _ = propose(state, write.command(1, record)).await;
    Json(serde_json::json!({ "removed": id })).into_response()
}

/// The detector's view of a node, when this node is the master.
pub(crate) fn detector_view(state: &ApiState, id: u64) -> Option<(NodeHealth, model::BootMs)> {
    if !state.raft.is_leader() {
        return None;
    }
    state
        .view
        .lock()
        .expect("detector view lock poisoned")
        .get(&id)
        .copied()
}

/// Clamp a client's wait to the server's maximum.
pub(crate) fn clamp_wait(wait_ms: u64) -> Duration {
    Duration::from_millis(wait_ms).min(EVENTS_WAIT_MAX)
}

/// Clamp a client's page size.
pub(crate) fn clamp_page(limit: Option<usize>) -> usize {
    limit.unwrap_or(EVENTS_PAGE_MAX).min(EVENTS_PAGE_MAX)
}
