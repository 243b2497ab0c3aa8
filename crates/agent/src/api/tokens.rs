//! `GET /v1/tokens`, `POST /v1/tokens/revoke` and `POST /v1/tokens/rotate` (issue 17): list
//! the stored tokens (never a secret: the cluster has only hashes), revoke them, and
//! replace an API token by a new one with the same label and role. Tokens live in the
//! cmdb, so a revoked one stops working on every node as soon as the change is applied
//! there; a request that still carries it is told it was revoked and what to do.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use cmdb::{ClusterDb, Command, CommandResult, TokenKind};
use model::Role;

use super::{ApiState, ForwardRequest, WriteId, error, on_master, propose};
use crate::clock::now_ms;

fn view(db: &ClusterDb, hash: &str) -> Option<::api::TokenView> {
    let record = db.tokens.get(hash)?;
    let (kind, role) = match record.kind {
        TokenKind::Admin => ("admin", Some(db.users.token_role(hash).name().to_owned())),
        TokenKind::Join => ("join", None),
    };
    Some(::api::TokenView {
        hash_prefix: cmdb::short(hash).to_owned(),
        kind: kind.into(),
        label: record.label.clone(),
        role,
        created_at_ms: record.created_at_ms,
    })
}

/// `GET /v1/tokens`.
pub(crate) async fn list(State(state): State<ApiState>) -> Json<Vec<::api::TokenView>> {
    Json(
        state
            .shared
            .read(|db| db.tokens.keys().filter_map(|hash| view(db, hash)).collect()),
    )
}

/// The hashes a revocation names, or why it names none.
fn select(db: &ClusterDb, request: &::api::RevokeTokens) -> Result<Vec<String>, Response> {
    let given = [
        request.label.is_some(),
        request.hash.is_some(),
        request.all_join,
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "name the tokens to revoke in one way: --label, --hash or --all-join",
        ));
    }
    let hashes: Vec<String> = db
        .tokens
        .iter()
        .filter(|(hash, record)| match (&request.label, &request.hash) {
            (Some(label), _) => record.label == label.trim(),
            (_, Some(prefix)) => prefix.len() >= 8 && hash.starts_with(prefix.trim()),
            _ => record.kind == TokenKind::Join,
        })
        .map(|(hash, _)| hash.clone())
        .collect();
    if hashes.is_empty() {
        return Err(error(
            StatusCode::NOT_FOUND,
            "no stored token matches (a hash needs at least 8 hex digits); \
             `encluster token list` shows them",
        ));
    }
    if request.hash.is_some() && hashes.len() > 1 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "the hash prefix names several tokens; give more digits",
        ));
    }
    let admins_left = db.tokens.iter().any(|(hash, record)| {
        record.kind == TokenKind::Admin
            && !hashes.contains(hash)
            && db.users.token_role(hash) == Role::Admin
    });
    let admin_users = db.users.users.values().any(|user| user.role == Role::Admin);
    if !admins_left && !admin_users {
        return Err(error(
            StatusCode::CONFLICT,
            "this would leave no administrator (no other admin token, no admin user); \
             rotate the token instead (`encluster token rotate --label ...`)",
        ));
    }
    Ok(hashes)
}

/// `POST /v1/tokens/revoke`.
pub(crate) async fn revoke(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: ::api::RevokeTokens = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad request: {e}")),
    };
    let hashes = match state.shared.read(|db| select(db, &request)) {
        Ok(hashes) => hashes,
        Err(response) => return response,
    };
    let revoked: Vec<::api::TokenView> = state
        .shared
        .read(|db| hashes.iter().filter_map(|hash| view(db, hash)).collect());
    let command = Command::RevokeTokens {
        hashes,
        at_ms: now_ms(),
    };
    let answer = Json(::api::RevokedTokens { revoked }).into_response();
    write(&state, &headers, "/v1/tokens/revoke", body, command, answer).await
}

/// `POST /v1/tokens/rotate`.
pub(crate) async fn rotate(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: ::api::RotateToken = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad request: {e}")),
    };
    let hex = request.hash.len() == 64
        && request
            .hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex {
        return error(
            StatusCode::BAD_REQUEST,
            "hash: must be the SHA-256 of the new token as 64 lower-case hex digits \
             (`encluster token rotate` makes one)",
        );
    }
    let old = state.shared.read(|db| {
        db.tokens
            .iter()
            .find(|(_, record)| record.kind == TokenKind::Admin && record.label == request.label)
            .map(|(hash, _)| hash.clone())
    });
    let Some(old) = old else {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "no API token is labelled {:?}; `encluster token list` shows them",
                request.label
            ),
        );
    };
    let command = Command::ReplaceToken {
        old,
        new: request.hash.clone(),
        at_ms: now_ms(),
    };
    let answer = Json(serde_json::json!({ "label": request.label })).into_response();
    write(&state, &headers, "/v1/tokens/rotate", body, command, answer).await
}

async fn write(
    state: &ApiState,
    headers: &HeaderMap,
    path: &str,
    body: Bytes,
    command: Command,
    answer: Response,
) -> Response {
    let write = match WriteId::of(headers, state) {
        Ok(write) => write,
        Err(response) => return response,
    };
    let forward = ForwardRequest {
        method: Method::POST,
        path_and_query: path.into(),
        headers,
        body,
        write: Some(&write),
    };
    let mut answer = Some(answer);
    on_master(state, &forward, || {
        let answer = answer.take();
        let command = command.clone();
        async {
            Some(match propose(state, write.command(0, command)).await? {
                Ok(CommandResult::Rejected(reason)) => error(StatusCode::CONFLICT, reason),
                Ok(_) => answer.unwrap_or_else(|| Json(serde_json::json!({})).into_response()),
                Err(response) => response,
            })
        }
    })
    .await
}
