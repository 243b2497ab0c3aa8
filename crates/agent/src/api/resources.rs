//! Resource, group, constraint and node-mode endpoints. Reads come from the local replica;
//! changes are validated here (parameter schemas need the resource agents on this node)
//! and proposed on the master, forwarded there if needed.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use cmdb::{Command, CommandResult, StoredConstraint};
use model::{
    ColocationConstraint, Constraint, Group, GroupId, LocationConstraint, NodeConfig, NodeId,
    OrderConstraint, OrderKind, ResourceId, SCORE_INFINITY, TargetRole,
};
use serde::Deserialize;

use super::spec::to_resource;
use super::{ApiState, ForwardRequest, WriteId, error, on_master, path_of, propose};
use crate::clock::now_ms;
use crate::limits::API_BODY_BYTES_MAX;

/// The parts of a request every mutating handler needs.
pub(crate) struct Call {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    pub(crate) body: Bytes,
    /// The write's identity, fixed here where the request entered the cluster.
    write: WriteId,
}

impl axum::extract::FromRequest<ApiState> for Call {
    type Rejection = Response;

    /// Everything a handler may need to forward the request, the body read up to the
    /// API's body limit.
    async fn from_request(
        request: axum::extract::Request,
        state: &ApiState,
    ) -> Result<Call, Response> {
        let (parts, body) = request.into_parts();
        let write = WriteId::of(&parts.headers, state)?;
        let body = axum::body::to_bytes(body, API_BODY_BYTES_MAX)
            .await
            .map_err(|_| {
                let limit = API_BODY_BYTES_MAX;
                error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body above {limit} bytes"),
                )
            })?;
        Ok(Call {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
            write,
        })
    }
}

impl Call {
    pub(crate) fn forward(&self) -> ForwardRequest<'_> {
        ForwardRequest {
            method: self.method.clone(),
            path_and_query: path_of(&self.uri),
            headers: &self.headers,
            body: self.body.clone(),
            write: Some(&self.write),
        }
    }
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad request body: {e}")))
}

/// Propose commands on the master (one after another) and answer with `ok`.
pub(crate) async fn propose_all(
    state: &ApiState,
    call: &Call,
    commands: Vec<Command>,
    ok: impl Fn(&ApiState) -> Response,
) -> Response {
    on_master(state, &call.forward(), || async {
        for (part, command) in (0..).zip(commands.clone()) {
            match propose(state, call.write.command(part, command)).await? {
                Ok(CommandResult::Rejected(reason)) => {
                    return Some(error(StatusCode::BAD_REQUEST, reason));
                }
                Ok(_) => {}
                Err(response) => return Some(response),
            }
        }
        Some(ok(state))
    })
    .await
}

pub(crate) fn view_response(state: &ApiState, name: &str) -> Response {
    match views::resource_view(state, &ResourceId(name.to_string())) {
        Some(view) => Json(view).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("resource {name:?} does not exist"),
        ),
    }
}

/// `?name=NAME`: one resource by a name a URL path cannot carry (`.` and `..`, stored
/// before such names were refused).
#[derive(Deserialize)]
pub(crate) struct NameQuery {
    name: Option<String>,
}

pub(crate) async fn list(
    State(state): State<ApiState>,
    Query(query): Query<NameQuery>,
) -> Json<Vec<::api::ResourceView>> {
    let mut views = views::all_views(&state);
    if let Some(name) = &query.name {
        views.retain(|view| &view.spec.name == name);
    }
    Json(views)
}

/// `DELETE /v1/resources?name=NAME`: the delete of a resource whose name a URL path cannot
/// carry.
pub(crate) async fn delete_named(
    state: State<ApiState>,
    Query(query): Query<NameQuery>,
    call: Call,
) -> Response {
    match query.name {
        Some(name) => delete(state, Path(name), call).await,
        None => error(
            StatusCode::BAD_REQUEST,
            "name: give the resource to delete, as /v1/resources/NAME or ?name=NAME",
        ),
    }
}

pub(crate) async fn show(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    view_response(&state, &name)
}

async fn put_resource(
    state: &ApiState,
    call: Call,
    name: Option<String>,
    create: bool,
) -> Response {
    let mut spec: ::api::ResourceSpec = match parse(&call.body) {
        Ok(spec) => spec,
        Err(response) => return response,
    };
    if let Some(name) = name {
        if !spec.name.is_empty() && spec.name != name {
            return error(
                StatusCode::BAD_REQUEST,
                format!("name: body says {:?}, path says {name:?}", spec.name),
            );
        }
        spec.name = name;
    }
    let user_types = super::user_types::all_stored(state);
    let resource = match to_resource(&spec, &state.types, &user_types).await {
        Ok(resource) => resource,
        Err(errors) => return error(StatusCode::BAD_REQUEST, errors.join("; ")),
    };
    let name = spec.name.clone();
    let promoted_max = super::spec::promoted_max_of(&spec, &user_types);
    if !create {
        return update_resource(state, call, resource, promoted_max).await;
    }
    let command = put_command(resource, create, promoted_max);
    propose_all(state, &call, vec![command], |state| {
        view_response(state, &name)
    })
    .await
}

/// An update answers with what it does to running instances (`change::describe`, from
/// the state before the write); `?dry_run=true` answers that and writes nothing.
async fn update_resource(
    state: &ApiState,
    call: Call,
    resource: model::Resource,
    promoted_max: Option<u32>,
) -> Response {
    let id = resource.id.clone();
    let stored_type = state.shared.read(|db| {
        let stored = db.resources.resources.get(&id);
        stored.map(|r| r.type_name.clone())
    });
    let Some(stored_type) = stored_type else {
        return error(
            StatusCode::NOT_FOUND,
            format!("resource {:?} does not exist", id.0),
        );
    };
    let schema = match super::user_types::stored(state, &stored_type) {
        Some(definition) => Some(definition.schema),
        None => super::change::schema_of(&stored_type).await,
    };
    let dry_run = call
        .uri
        .query()
        .is_some_and(|query| query.split('&').any(|pair| pair == "dry_run=true"));
    let describe = |applied: bool| {
        state
            .shared
            .read(|db| super::change::describe(&db.resources, schema.as_ref(), &resource, applied))
    };
    let answer =
        |state: &ApiState, change: ::api::ResourceChange| match views::resource_view(state, &id) {
            Some(view) => Json(::api::ResourceUpdate {
                resource: view,
                change,
            })
            .into_response(),
            None => error(
                StatusCode::NOT_FOUND,
                format!("resource {:?} does not exist", id.0),
            ),
        };
    if dry_run {
        return answer(state, describe(false));
    }
    let change = describe(true);
    let command = put_command(resource.clone(), false, promoted_max);
    propose_all(state, &call, vec![command], |state| {
        answer(state, change.clone())
    })
    .await
}

/// The write of a resource: promotable when `promoted_max` is given.
fn put_command(resource: model::Resource, create: bool, promoted_max: Option<u32>) -> Command {
    match promoted_max {
        Some(promoted_max) => Command::PutPromotable {
            resource: Box::new(resource),
            create,
            promoted_max,
        },
        None => Command::PutResource { resource, create },
    }
}

pub(crate) async fn create(State(state): State<ApiState>, call: Call) -> Response {
    put_resource(&state, call, None, true).await
}

pub(crate) async fn update(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    call: Call,
) -> Response {
    put_resource(&state, call, Some(name), false).await
}

pub(crate) async fn delete(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    call: Call,
) -> Response {
    let command = Command::DeleteResource {
        id: ResourceId(name.clone()),
    };
    propose_all(&state, &call, vec![command], |_| {
        Json(serde_json::json!({ "deleted": name })).into_response()
    })
    .await
}

pub(crate) async fn action(
    State(state): State<ApiState>,
    Path((name, action)): Path<(String, String)>,
    call: Call,
) -> Response {
    let id = ResourceId(name.clone());
    // Moves, bans and clears also take a group's name.
    let takes_group = matches!(action.as_str(), "move" | "ban" | "clear");
    let exists = state.shared.read(|db| {
        db.resources.resources.contains_key(&id)
            || (takes_group && db.resources.groups.contains_key(&GroupId(name.clone())))
    });
    if !exists {
        return error(
            StatusCode::NOT_FOUND,
            format!("resource {name:?} does not exist"),
        );
    }
    let commands = match action.as_str() {
        "start" | "stop" => vec![Command::SetTargetRole {
            resource: id,
            role: if action == "start" {
                TargetRole::Started
            } else {
                TargetRole::Stopped
            },
        }],
        "cleanup" => vec![Command::Cleanup {
            resource: id,
            node: None,
        }],
        "manage" | "unmanage" => vec![Command::SetManaged {
            resource: id,
            managed: action == "manage",
        }],
        "move" => match super::preferences::move_commands(&state, &call.body, &id) {
            Ok(commands) => commands,
            Err(response) => return response,
        },
        "ban" => match super::preferences::ban_commands(&state, &call.body, &id) {
            Ok(commands) => commands,
            Err(response) => return response,
        },
        "clear" => return super::preferences::clear(&state, call, &id).await,
        "drain" | "enable" | "weight" => {
            return super::servers::runtime(&state, &name, &action, call).await;
        }
        other => {
            return error(
                StatusCode::NOT_FOUND,
                format!(
                    "unknown action {other:?}; use start, stop, cleanup, move, ban, clear, \
                    manage or unmanage (or, for a virtual service, drain, enable or weight)"
                ),
            );
        }
    };
    propose_all(&state, &call, commands, |state| {
        match views::resource_view(state, &ResourceId(name.clone())) {
            Some(view) => Json(view).into_response(),
            // A group's move or ban: there is no resource view to show.
            None => Json(serde_json::json!({ "group": name })).into_response(),
        }
    })
    .await
}

pub(crate) async fn explain(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    let id = ResourceId(name.clone());
    let health = crate::master::recorded_health(&state.shared);
    let (input, exists) = state.shared.read(|db| {
        (
            crate::placement::scheduler_input(&db.resources, &health, now_ms()),
            db.resources.resources.contains_key(&id),
        )
    });
    if !exists {
        return error(
            StatusCode::NOT_FOUND,
            format!("resource {name:?} does not exist"),
        );
    }
    let plan = scheduler::schedule(&input);
    let nodes = plan
        .placement
        .get(&id)
        .map(|n| n.iter().map(|n| n.0).collect())
        .unwrap_or_default();
    let reasons = scheduler::explain(&input, &id);
    Json(::api::Explanation {
        resource: name,
        nodes,
        reasons,
    })
    .into_response()
}

pub(crate) async fn create_group(State(state): State<ApiState>, call: Call) -> Response {
    let spec: ::api::GroupSpec = match parse(&call.body) {
        Ok(spec) => spec,
        Err(response) => return response,
    };
    if let Err(invalid) = model::check_name(model::NameKind::Group, &spec.name) {
        return error(StatusCode::BAD_REQUEST, invalid.to_string());
    }
    let group = Group {
        id: GroupId(spec.name.clone()),
        members: spec.members.into_iter().map(ResourceId).collect(),
    };
    propose_all(&state, &call, vec![Command::PutGroup { group }], |_| {
        Json(serde_json::json!({ "group": spec.name })).into_response()
    })
    .await
}

/// `PUT /v1/groups/{name}`: the group's members and their order, changed in place by one
/// `Command::UpdateGroup` (checked there exactly as a create is); members that stay keep
/// running. Takes the spec `POST /v1/groups` takes and answers the group as stored.
pub(crate) async fn update_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    call: Call,
) -> Response {
    let spec: ::api::GroupSpec = match parse(&call.body) {
        Ok(spec) => spec,
        Err(response) => return response,
    };
    if !spec.name.is_empty() && spec.name != name {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "name: body says {:?}, path says {name:?}: a group keeps its name (create \
                 the new one and delete this one to rename it)",
                spec.name
            ),
        );
    }
    let group = Group {
        id: GroupId(name.clone()),
        members: spec.members.into_iter().map(ResourceId).collect(),
    };
    propose_all(
        &state,
        &call,
        vec![Command::UpdateGroup { group }],
        |state| group_response(state, &name),
    )
    .await
}

/// A group as stored, in the spec `POST /v1/groups` takes.
fn group_response(state: &ApiState, name: &str) -> Response {
    let stored = state
        .shared
        .read(|db| db.resources.groups.get(&GroupId(name.to_owned())).cloned());
    match stored {
        Some(group) => Json(::api::GroupSpec {
            name: group.id.0,
            members: group.members.into_iter().map(|m| m.0).collect(),
        })
        .into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("group {name:?} does not exist"),
        ),
    }
}

pub(crate) async fn delete_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    call: Call,
) -> Response {
    let command = Command::DeleteGroup {
        id: GroupId(name.clone()),
    };
    propose_all(&state, &call, vec![command], |_| {
        Json(serde_json::json!({ "deleted": name })).into_response()
    })
    .await
}

pub(crate) async fn move_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    call: Call,
) -> Response {
    let id = ResourceId(name.clone());
    let exists = state
        .shared
        .read(|db| db.resources.groups.contains_key(&GroupId(name.clone())));
    if !exists {
        return error(
            StatusCode::NOT_FOUND,
            format!("group {name:?} does not exist"),
        );
    }
    let commands = match super::preferences::move_commands(&state, &call.body, &id) {
        Ok(commands) => commands,
        Err(response) => return response,
    };
    propose_all(&state, &call, commands, move |_| {
        Json(serde_json::json!({ "group": name })).into_response()
    })
    .await
}

pub(crate) fn to_constraint(spec: ::api::ConstraintSpec) -> Result<Constraint, String> {
    let score = |text: &str| -> Result<i64, String> {
        match text.trim() {
            "INFINITY" | "+INFINITY" | "inf" => Ok(SCORE_INFINITY),
            "-INFINITY" | "-inf" => Ok(-SCORE_INFINITY),
            other => other
                .parse::<i64>()
                .map_err(|_| format!("score: {other:?} is not a number or INFINITY")),
        }
    };
    Ok(match spec {
        ::api::ConstraintSpec::Order { first, then, kind } => {
            let kind = match kind.as_deref() {
                None | Some("mandatory") => OrderKind::Mandatory,
                Some("optional") => OrderKind::Optional,
                Some(other) => return Err(format!("kind: {other:?} is not mandatory or optional")),
            };
            Constraint::Order(OrderConstraint {
                first: ResourceId(first),
                then: ResourceId(then),
                kind,
            })
        }
        ::api::ConstraintSpec::Colocation {
            resource,
            with,
            score: s,
        } => Constraint::Colocation(ColocationConstraint {
            resource: ResourceId(resource),
            with: ResourceId(with),
            score: score(&s)?,
        }),
        ::api::ConstraintSpec::Location {
            resource,
            node,
            score: s,
        } => Constraint::Location(LocationConstraint {
            resource: ResourceId(resource),
            node: NodeId(node),
            score: score(&s)?,
            expires_at: None,
        }),
    })
}

pub(crate) async fn add_constraint(State(state): State<ApiState>, call: Call) -> Response {
    let spec: ::api::ConstraintSpec = match parse(&call.body) {
        Ok(spec) => spec,
        Err(response) => return response,
    };
    let constraint = match to_constraint(spec) {
        Ok(constraint) => StoredConstraint::from(constraint),
        Err(reason) => return error(StatusCode::BAD_REQUEST, reason),
    };
    propose_all(
        &state,
        &call,
        vec![Command::AddConstraint { constraint }],
        |_| Json(serde_json::json!({ "added": true })).into_response(),
    )
    .await
}

pub(crate) async fn node_mode(
    State(state): State<ApiState>,
    Path(node): Path<String>,
    call: Call,
) -> Response {
    let id = match super::node_ref(&state, &node) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let request: ::api::NodeModeRequest = match parse(&call.body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let node = NodeId(id);
    if !state.shared.read(|db| db.nodes.contains_key(&node)) {
        return error(StatusCode::NOT_FOUND, format!("node {id} is not a member"));
    }
    let mut config = state
        .shared
        .read(|db| db.resources.node_config.get(&node).cloned())
        .unwrap_or(NodeConfig {
            id: node,
            standby: false,
            maintenance: false,
            capacity: BTreeMap::new(),
        });
    match request.mode.as_str() {
        "standby" => config.standby = true,
        "online" => config.standby = false,
        "maintenance" => config.maintenance = true,
        "ready" => config.maintenance = false,
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("mode: {other:?} is not one of standby, online, maintenance, ready"),
            );
        }
    }
    let mode = request.mode.clone();
    propose_all(
        &state,
        &call,
        vec![Command::SetNodeConfig { node: config }],
        move |_| Json(serde_json::json!({ "node": id, "mode": mode })).into_response(),
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct ApplyQuery {
    #[serde(default)]
    dry_run: bool,
}

pub(crate) async fn apply(
    State(state): State<ApiState>,
    Query(query): Query<ApplyQuery>,
    call: Call,
) -> Response {
    let spec: ::api::ClusterSpec = match parse(&call.body) {
        Ok(spec) => spec,
        Err(response) => return response,
    };
    let (commands, changes) = match super::apply::plan(&state, spec).await {
        Ok(planned) => planned,
        Err(errors) => return error(StatusCode::BAD_REQUEST, errors.join("; ")),
    };
    if query.dry_run || changes.is_empty() {
        return Json(::api::ApplyResult {
            changes,
            applied: false,
        })
        .into_response();
    }
    propose_all(&state, &call, commands, move |_| {
        Json(::api::ApplyResult {
            changes: changes.clone(),
            applied: true,
        })
        .into_response()
    })
    .await
}

use super::resource_views as views;
