//! Server edits of a virtual service (`lb` resource): `POST
//! /v1/resources/{name}/drain|enable|weight` (through `resources::action`, an operator's
//! runtime change) and `POST /v1/resources/{name}/servers`, `DELETE
//! /v1/resources/{name}/servers/{server}` (an administrator's). Each is one
//! `Command::EditServer`, applied to the service as it is when the command commits, so two
//! edits at once never undo one another; the result is checked here first against the
//! `lb` type like any update, so a bad address is refused before anything is written.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use cmdb::Command;
use model::{ResourceId, ServerEdit};

use super::resource_views as views;
use super::resources::{Call, parse, propose_all, view_response};
use super::spec::to_resource;
use super::{ApiState, error};

/// `drain`, `enable` or `weight` of `resources::action`: the edit its body asks for.
pub(crate) async fn runtime(state: &ApiState, name: &str, action: &str, call: Call) -> Response {
    let request: ::api::ServerAction = match parse(&call.body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let server = request.server;
    let edit = match (action, request.weight) {
        ("drain", None) => ServerEdit::Drain { server },
        ("enable", None) => ServerEdit::Enable { server },
        ("weight", Some(weight)) => ServerEdit::Weight { server, weight },
        ("weight", None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "weight: missing; give the server's new weight, e.g. \
                 {\"server\":\"a\",\"weight\":2}",
            );
        }
        (_, Some(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("weight: {action} takes no weight; use the weight action to set one"),
            );
        }
        _ => return error(StatusCode::NOT_FOUND, format!("unknown action {action:?}")),
    };
    edit_server(state, name, edit, call).await
}

/// `POST /v1/resources/{name}/servers`.
pub(crate) async fn add(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    call: Call,
) -> Response {
    let request: ::api::NewServer = match parse(&call.body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let edit = ServerEdit::Add {
        server: request.server,
        addr: request.addr,
        weight: request.weight,
    };
    edit_server(&state, &name, edit, call).await
}

/// `DELETE /v1/resources/{name}/servers/{server}`.
pub(crate) async fn remove(
    State(state): State<ApiState>,
    Path((name, server)): Path<(String, String)>,
    call: Call,
) -> Response {
    edit_server(&state, &name, ServerEdit::Remove { server }, call).await
}

async fn edit_server(state: &ApiState, name: &str, edit: ServerEdit, call: Call) -> Response {
    let id = ResourceId(name.to_string());
    let Some(view) = views::resource_view(state, &id) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("resource {name:?} does not exist"),
        );
    };
    if view.spec.type_name != "lb" {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "{name} is a {} resource, not a virtual service (lb)",
                view.spec.type_name
            ),
        );
    }
    let mut spec = view.spec;
    spec.params = match edit.apply(&spec.params) {
        Ok(params) => params,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem),
    };
    let user_types = super::user_types::all_stored(state);
    if let Err(errors) = to_resource(&spec, &state.types, &user_types).await {
        return error(StatusCode::BAD_REQUEST, errors.join("; "));
    }
    let command = Command::EditServer { resource: id, edit };
    let name = name.to_string();
    propose_all(state, &call, vec![command], |state| {
        view_response(state, &name)
    })
    .await
}
