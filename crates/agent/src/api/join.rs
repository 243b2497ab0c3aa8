//! `POST /v1/join`: admit a new node with a join token. Runs on the master (forwarded
//! there otherwise): checks the token before it reads the body, checks the request and
//! the CSR, spends the token (a join token admits one node), reserves a node id, signs
//! the node's CSR with the cluster CA, records the node and adds it as a Raft learner.
//! The dynamic-quorum policy promotes it to voter once its heartbeats show it online.
//!
//! `POST /v1/tokens/join` (admin only) stores another join token. The CLI makes the token
//! (a random secret that also pins the CA, `auth::generate_join_token`) and sends only its
//! hash, so the secret never crosses the network and is printed once, where it was made;
//! the cluster stores only hashes, as for the token `init` printed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use cmdb::{Command, CommandResult, TokenKind};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use model::NodeInfo;

use super::{ApiState, ForwardRequest, WriteId, bearer, error, on_master, propose, token_valid};
use crate::clock::now_ms;
use crate::limits::JOIN_BODY_BYTES_MAX;

pub(crate) async fn join(State(state): State<ApiState>, request: Request) -> Response {
    if state.shared.read(|db| db.meta.name.is_empty()) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the cluster is still starting; retry",
        );
    }
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let Some(token) = bearer(&headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing join token: pass --token to `encluster join`",
        );
    };
    // The token is checked before a byte of the body is read: an unauthenticated client
    // never makes a node buffer anything. A token issued a moment ago may not have reached
    // this replica yet, so a node that is not the master waits briefly for it.
    if !join_token_known(&state, token).await {
        // --- rotate ---
        if let Some(message) = revoked_join_token(&state, token) {
            return error(StatusCode::UNAUTHORIZED, message);
        }
        return error(
            StatusCode::UNAUTHORIZED,
            "the join token was refused: it was used already or never issued \
             (a join token admits one node; issue one with `encluster token join`)",
        );
    }
    let body = match Limited::new(body, JOIN_BODY_BYTES_MAX).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(failure) if failure.is::<LengthLimitError>() => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a join request is at most {JOIN_BODY_BYTES_MAX} bytes"),
            );
        }
        Err(failure) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("cannot read the join request: {failure}"),
            );
        }
    };
    let write = match WriteId::of(&headers, &state) {
        Ok(write) => write,
        Err(response) => return response,
    };
    let forward = ForwardRequest {
        method: Method::POST,
        path_and_query: "/v1/join".into(),
        headers: &headers,
        body: body.clone(),
        write: Some(&write),
    };
    let hash = auth::token_hash(token);
    on_master(&state, &forward, || async {
        Some(admit(&state, &write, &hash, &body).await)
    })
    .await
}

/// Whether `token` is a join token this replica knows, waiting up to
/// [`TOKEN_REPLICATION_WAIT`] for it to be applied here when this node is not the master.
async fn join_token_known(state: &ApiState, token: &str) -> bool {
    use openraft::async_runtime::WatchReceiver as _;
    if token_valid(&state.shared, token, TokenKind::Join) {
        return true;
    }
    if state.raft.is_leader() {
        return false;
    }
    let deadline = tokio::time::Instant::now() + TOKEN_REPLICATION_WAIT;
    let mut metrics = state.raft.metrics();
    // Every applied entry changes the metrics, so this wakes once per replicated change.
    while let Ok(Ok(())) = tokio::time::timeout_at(deadline, metrics.changed()).await {
        if token_valid(&state.shared, token, TokenKind::Join) {
            return true;
        }
    }
    token_valid(&state.shared, token, TokenKind::Join)
}

// --- rotate ---
/// Why a join token that is no longer stored stopped working, if it was revoked.
fn revoked_join_token(state: &ApiState, token: &str) -> Option<String> {
    let hash = auth::token_hash(token);
    let revoked = state
        .shared
        .read(|db| db.certs.revoked.get(&hash).cloned())?;
    Some(format!(
        "the join token was {} ({}); issue a new one with `encluster token join`",
        if revoked.reason == "CA replaced" {
            "revoked when the cluster CA was replaced, since it pins the old CA"
        } else {
            "revoked"
        },
        crate::certs::date(revoked.revoked_at_ms)
    ))
}

/// How long a node that is not the master waits for a join token to be replicated to it.
const TOKEN_REPLICATION_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

async fn admit(state: &ApiState, write: &WriteId, token_hash: &str, body: &Bytes) -> Response {
    let request: ::api::JoinRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad join request: {e}")),
    };
    for (field, value) in [
        ("peer_addr", &request.peer_addr),
        ("api_addr", &request.api_addr),
    ] {
        if value.parse::<std::net::SocketAddr>().is_err() {
            return error(
                StatusCode::BAD_REQUEST,
                format!("{field}: {value:?} is not host:port"),
            );
        }
    }
    if let Err(invalid) = model::check_name(model::NameKind::Node, &request.name) {
        return error(StatusCode::BAD_REQUEST, invalid.to_string());
    }
    if state
        .shared
        .read(|db| db.nodes.values().any(|n| n.info.name == request.name))
    {
        return error(
            StatusCode::CONFLICT,
            format!("node name {:?} is taken", request.name),
        );
    }
    // --- rotate --- A joiner pins one CA, and during a change the servers move between two.
    if state.shared.read(|db| db.certs.next_ca.is_some()) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "a CA change is in progress: finish it (`encluster cert ca finish`), then \
             issue a new join token (`encluster token join`) and join with it",
        );
    }
    let Some((ca_cert, ca_key)) = state.shared.read(|db| {
        (!db.meta.ca_key_pem.is_empty())
            .then(|| (db.meta.ca_cert_pem.clone(), db.meta.ca_key_pem.clone()))
    }) else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the cluster CA is not in the cmdb yet; retry",
        );
    };
    // A CSR that cannot be signed is refused before the token is spent or an id reserved.
    if let Err(e) = auth::ClusterCa::check_csr(&request.csr_pem) {
        return error(StatusCode::BAD_REQUEST, format!("bad CSR: {e}"));
    }
    let spend = Command::UseJoinToken {
        hash: token_hash.to_owned(),
    };
    match propose(state, write.command(0, spend)).await {
        Some(Ok(CommandResult::Rejected(reason))) => {
            return error(
                StatusCode::UNAUTHORIZED,
                format!("the join token was refused: {reason}"),
            );
        }
        Some(Ok(_)) => {}
        Some(Err(response)) => return response,
        None => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "master changed during the join; retry",
            );
        }
    }
    let node_id = match propose(state, write.command(1, Command::AllocateNodeId)).await {
        Some(Ok(CommandResult::NodeId(id))) => id,
        Some(Err(response)) => return response,
        _ => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "master changed during the join; retry",
            );
        }
    };
    let ca = match auth::ClusterCa::from_pem(&ca_cert, &ca_key) {
        Ok(ca) => ca,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cluster CA unusable: {e}"),
            );
        }
    };
    let sans = sans_of(&request);
    let cert_pem = match ca.sign_node_csr(&request.csr_pem, node_id, &sans) {
        Ok(cert) => cert,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad CSR: {e}")),
    };
    let info = NodeInfo {
        name: request.name.clone(),
        peer_addr: request.peer_addr,
        api_addr: request.api_addr,
    };
    let upsert = Command::UpsertNode {
        id: node_id,
        info: info.clone(),
        at_ms: now_ms(),
    };
    match propose(state, write.command(2, upsert)).await {
        Some(Ok(CommandResult::Rejected(reason))) => return error(StatusCode::CONFLICT, reason),
        Some(Ok(_)) => {}
        Some(Err(response)) => return response,
        None => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "master changed during the join; retry",
            );
        }
    }
    if let Err(e) = add_learner(state, node_id.0, info).await {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot add the learner: {e}"),
        );
    }
    let answer = ::api::JoinResponse {
        node_id: node_id.0,
        cluster_name: state.cluster_name.clone(),
        cert_pem,
        ca_pem: ca_cert,
        api_addrs: member_api_addrs(state),
    };
    Json(answer).into_response()
}

/// Every member's API address, for the new node's `cli.toml`.
fn member_api_addrs(state: &ApiState) -> Vec<String> {
    state.shared.read(|db| {
        db.nodes
            .values()
            .map(|record| record.info.api_addr.clone())
            .collect()
    })
}

/// Certificate names for a joining node: the IPs of its listeners, and localhost.
fn sans_of(request: &::api::JoinRequest) -> Vec<String> {
    let mut sans = vec!["localhost".to_string()];
    for addr in [&request.peer_addr, &request.api_addr] {
        if let Ok(socket) = addr.parse::<std::net::SocketAddr>() {
            let ip = socket.ip().to_string();
            if !sans.contains(&ip) {
                sans.push(ip);
            }
        }
    }
    sans
}

/// `POST /v1/tokens/join`: store the hash of a new join token (admin only, on the master).
pub(crate) async fn add_join_token(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    add_token(state, headers, body, TokenKind::Join).await
}

/// `POST /v1/tokens/admin`: store the hash of a new admin token for a named operator (admin
/// only, on the master); the label is the name its changes are recorded under.
pub(crate) async fn add_admin_token(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    add_token(state, headers, body, TokenKind::Admin).await
}

async fn add_token(state: ApiState, headers: HeaderMap, body: Bytes, kind: TokenKind) -> Response {
    let request: ::api::NewJoinToken = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("bad join token request: {e}; expected {{\"hash\": ..., \"label\": ...}}"),
            );
        }
    };
    let hex = request.hash.len() == 64
        && request
            .hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex {
        return error(
            StatusCode::BAD_REQUEST,
            "hash: must be the SHA-256 of the token as 64 lower-case hex digits \
             (`encluster token join` makes one)",
        );
    }
    if request.label.len() > LABEL_BYTES_MAX {
        return error(
            StatusCode::BAD_REQUEST,
            format!("label: longer than {LABEL_BYTES_MAX} bytes"),
        );
    }
    if kind == TokenKind::Admin
        && let Err(problem) = admin_label_free(&state, &request.label)
    {
        return error(StatusCode::BAD_REQUEST, problem);
    }
    let path = match kind {
        TokenKind::Admin => "/v1/tokens/admin",
        TokenKind::Join => "/v1/tokens/join",
    };
    let write = match WriteId::of(&headers, &state) {
        Ok(write) => write,
        Err(response) => return response,
    };
    let forward = ForwardRequest {
        method: Method::POST,
        path_and_query: path.into(),
        headers: &headers,
        body: body.clone(),
        write: Some(&write),
    };
    on_master(&state, &forward, || async {
        let command = Command::AddToken {
            hash: request.hash.clone(),
            kind,
            label: request.label.clone(),
            at_ms: now_ms(),
        };
        Some(match propose(&state, write.command(0, command)).await? {
            Ok(CommandResult::Rejected(reason)) => error(StatusCode::CONFLICT, reason),
            Ok(_) => Json(serde_json::json!({})).into_response(),
            Err(response) => response,
        })
    })
    .await
}

// --- users ---
/// Checks a new role-bound API token (`POST /v1/tokens`): its hash, and a label that names
/// its operator and is no other API token's.
pub(crate) fn check_api_token(state: &ApiState, hash: &str, label: &str) -> Result<(), String> {
    let hex = hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex {
        return Err(
            "hash: must be the SHA-256 of the token as 64 lower-case hex digits \
                    (`encluster token create` makes one)"
                .into(),
        );
    }
    if label.len() > LABEL_BYTES_MAX {
        return Err(format!("label: longer than {LABEL_BYTES_MAX} bytes"));
    }
    admin_label_free(state, label)
}

/// An admin token's label names its operator in every event: it must be given and be no
/// other admin token's.
fn admin_label_free(state: &ApiState, label: &str) -> Result<(), String> {
    let label = label.trim();
    if label.is_empty() {
        return Err(
            "label: an admin token needs the name of its operator, e.g. --label alice".into(),
        );
    }
    let taken = state.shared.read(|db| {
        db.tokens
            .values()
            .any(|record| record.kind == TokenKind::Admin && record.label == label)
    });
    if taken {
        return Err(format!(
            "label: another admin token is already labelled {label:?}; \
             changes would not say which operator made them"
        ));
    }
    Ok(())
}

/// Longest label of a join token.
const LABEL_BYTES_MAX: usize = 200;

/// How long a join waits for a membership change in progress (the master adapting the
/// voter set, often just after the cluster starts) before it gives up.
const MEMBERSHIP_CHANGE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Adds the joining node as a learner. A membership change already in progress is
/// transient (openraft allows one at a time), so the join waits for it, retrying every
/// 50 ms for at most [`MEMBERSHIP_CHANGE_WAIT`], instead of refusing the operator.
async fn add_learner(
    state: &ApiState,
    node: u64,
    info: NodeInfo,
) -> Result<
    (),
    openraft::error::RaftError<
        cmdb::TypeConfig,
        openraft::error::ClientWriteError<cmdb::TypeConfig>,
    >,
> {
    let deadline = tokio::time::Instant::now() + MEMBERSHIP_CHANGE_WAIT;
    loop {
        match state.raft.add_learner(node, info.clone(), false).await {
            Ok(_) => return Ok(()),
            Err(e) => {
                let in_progress = matches!(
                    e.api_error(),
                    Some(openraft::error::ClientWriteError::ChangeMembershipError(
                        openraft::error::ChangeMembershipError::InProgress(_)
                    ))
                );
                if !in_progress || tokio::time::Instant::now() >= deadline {
                    return Err(e);
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
