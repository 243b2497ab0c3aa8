//! `/v1/users` and `/v1/tokens` (admin only): users with roles and argon2id password hashes,
//! and API tokens bound to a role (issue 14).
//!
//! A password reaches the API over TLS and is hashed there (argon2id, off the async
//! runtime); only the hash enters the cmdb, and no answer ever contains it. A new password
//! or a removed user ends the user's sessions on every node. As for join tokens, the CLI
//! makes an API token's secret and sends only its hash.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cmdb::{Command, CommandResult};
use model::Role;

use super::access::Principal;
use super::{ApiState, ForwardRequest, WriteId, error, on_master, path_of, propose};
use crate::clock::now_ms;

/// `GET /v1/users`: every user with its role and open sessions, never a hash.
pub(crate) async fn list(State(state): State<ApiState>) -> Response {
    let now = now_ms();
    let users: Vec<::api::UserInfo> = state.shared.read(|db| {
        db.users
            .users
            .iter()
            .map(|(name, record)| ::api::UserInfo {
                name: name.clone(),
                role: record.role.name().to_owned(),
                created_at_ms: record.created_at_ms,
                password_set_at_ms: record.password_set_at_ms,
                sessions: db
                    .users
                    .logins
                    .values()
                    .filter(|login| &login.user == name && login.expires_at_ms > now)
                    .count(),
            })
            .collect()
    });
    Json(users).into_response()
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes, expected: &str) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("bad request: {e}; expected {expected}"),
        )
    })
}

fn role(text: &str) -> Result<Role, Response> {
    text.parse::<Role>()
        .map_err(|unknown| error(StatusCode::BAD_REQUEST, format!("role: {unknown}")))
}

fn password_hash(password: &str) -> Result<(), Response> {
    auth::check_new_password(password)
        .map_err(|weak| error(StatusCode::BAD_REQUEST, weak.to_string()))
}

/// Hash a password off the async runtime (argon2id takes tens of milliseconds).
async fn hash(password: &str) -> String {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .expect("hashing a password does not panic")
}

/// `POST /v1/users`: add a user.
pub(crate) async fn add(
    State(state): State<ApiState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let request: ::api::NewUser = match parse(
        &body,
        "{\"name\": ..., \"role\": \"viewer|operator|admin\", \"password\": ...}",
    ) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let checked = model::check_name(model::NameKind::User, &request.name)
        .map_err(|invalid| error(StatusCode::BAD_REQUEST, invalid.to_string()))
        .and_then(|()| password_hash(&request.password))
        .and_then(|()| role(&request.role));
    let role = match checked {
        Ok(role) => role,
        Err(response) => return response,
    };
    if state
        .shared
        .read(|db| db.users.users.contains_key(&request.name))
    {
        return error(
            StatusCode::CONFLICT,
            format!(
                "user {:?} exists; change its password with `encluster user passwd {}`",
                request.name, request.name
            ),
        );
    }
    let password_hash = hash(&request.password).await;
    let command = Command::AddUser {
        name: request.name.clone(),
        role,
        password_hash,
        at_ms: now_ms(),
    };
    let answer = serde_json::json!({ "name": request.name, "role": role.name() });
    write(&state, &headers, Method::POST, &uri, body, command, answer).await
}

/// `PUT /v1/users/{name}/password`: set a user's password; its sessions end.
pub(crate) async fn passwd(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let request: ::api::NewPassword = match parse(&body, "{\"password\": ...}") {
        Ok(request) => request,
        Err(response) => return response,
    };
    if let Err(response) = password_hash(&request.password) {
        return response;
    }
    if let Err(response) = known(&state, &name) {
        return response;
    }
    let command = Command::SetPassword {
        name: name.clone(),
        password_hash: hash(&request.password).await,
        at_ms: now_ms(),
    };
    let answer = serde_json::json!({ "name": name });
    write(&state, &headers, Method::PUT, &uri, body, command, answer).await
}

/// `PUT /v1/users/{name}/role`: change a user's role.
pub(crate) async fn set_role(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let request: ::api::NewRole = match parse(&body, "{\"role\": \"viewer|operator|admin\"}") {
        Ok(request) => request,
        Err(response) => return response,
    };
    let role = match role(&request.role).and_then(|role| known(&state, &name).map(|()| role)) {
        Ok(role) => role,
        Err(response) => return response,
    };
    let command = Command::SetUserRole {
        name: name.clone(),
        role,
    };
    let answer = serde_json::json!({ "name": name, "role": role.name() });
    write(&state, &headers, Method::PUT, &uri, body, command, answer).await
}

/// `DELETE /v1/users/{name}`: remove a user; its sessions end on every node.
pub(crate) async fn remove(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if let Err(response) = known(&state, &name) {
        return response;
    }
    if principal.login.is_some() && principal.name == name {
        return error(
            StatusCode::BAD_REQUEST,
            format!("user {name:?} cannot remove itself; ask another admin"),
        );
    }
    let command = Command::RemoveUser { name: name.clone() };
    let answer = serde_json::json!({ "removed": name });
    let body = Bytes::new();
    write(
        &state,
        &headers,
        Method::DELETE,
        &uri,
        body,
        command,
        answer,
    )
    .await
}

fn known(state: &ApiState, name: &str) -> Result<(), Response> {
    if state.shared.read(|db| db.users.users.contains_key(name)) {
        return Ok(());
    }
    Err(error(
        StatusCode::NOT_FOUND,
        format!("user {name:?} does not exist; see `encluster user list`"),
    ))
}

/// `POST /v1/tokens`: store the hash of an API token bound to a role.
pub(crate) async fn add_token(
    State(state): State<ApiState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let request: ::api::NewRoleToken = match parse(
        &body,
        "{\"hash\": ..., \"role\": \"viewer|operator|admin\", \"label\": ...}",
    ) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let role = match role(&request.role) {
        Ok(role) => role,
        Err(response) => return response,
    };
    if let Err(problem) = super::join::check_api_token(&state, &request.hash, &request.label) {
        return error(StatusCode::BAD_REQUEST, problem);
    }
    let command = Command::AddRoleToken {
        hash: request.hash.clone(),
        role,
        label: request.label.trim().to_owned(),
        at_ms: now_ms(),
    };
    let answer = serde_json::json!({ "label": request.label.trim(), "role": role.name() });
    write(&state, &headers, Method::POST, &uri, body, command, answer).await
}

/// Propose `command` on the master as this request's write (audited with its principal);
/// answer `answer`, or the refusal.
async fn write(
    state: &ApiState,
    headers: &HeaderMap,
    method: Method,
    uri: &axum::http::Uri,
    body: Bytes,
    command: Command,
    answer: serde_json::Value,
) -> Response {
    let write = match WriteId::of(headers, state) {
        Ok(write) => write,
        Err(response) => return response,
    };
    let forward = ForwardRequest {
        method,
        path_and_query: path_of(uri),
        headers,
        body,
        write: Some(&write),
    };
    on_master(state, &forward, || async {
        Some(
            match propose(state, write.command(0, command.clone())).await? {
                Ok(CommandResult::Rejected(reason)) => error(StatusCode::CONFLICT, reason),
                Ok(_) => Json(answer.clone()).into_response(),
                Err(response) => response,
            },
        )
    })
    .await
}
