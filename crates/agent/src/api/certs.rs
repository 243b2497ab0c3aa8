//! `/v1/certs`: every node's certificate, `cert rotate` and the two-step CA change
//! (issue 17). The nodes renew their certificates themselves (see `crate::certs`); these
//! handlers only change what the cmdb asks of them, on the master.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use cmdb::{ClusterDb, Command, CommandResult};
use std::time::Duration;

use super::{ApiState, ForwardRequest, WriteId, error, on_master, propose};
use crate::certs::{cert_warnings, date, generation_of, wanted};
use crate::clock::now_ms;

/// Shortest validity `cert rotate` and `cert ca begin` accept: shorter ones would expire
/// before an operator could act on the warning.
const VALIDITY_S_MIN: u64 = 60 * 60;
/// Longest: twenty years.
const VALIDITY_S_MAX: u64 = 20 * 365 * 24 * 60 * 60;

/// `GET /v1/certs`.
pub(crate) async fn show(State(state): State<ApiState>) -> Response {
    let now = now_ms();
    match state.shared.read(|db| cert_status(db, now)) {
        Some(status) => Json(status).into_response(),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the cluster is still starting; retry",
        ),
    }
}

fn ca_info(pem: &str) -> Option<::api::CaInfo> {
    let (_, not_after_s) = auth::cert_validity(pem).ok()?;
    let expires_at_ms = u64::try_from(not_after_s).ok()?.saturating_mul(1000);
    Some(::api::CaInfo {
        fingerprint: auth::fingerprint_pem(pem).ok()?,
        expires_at_ms,
        expires_at: date(expires_at_ms),
    })
}

fn cert_status(db: &ClusterDb, now: u64) -> Option<::api::CertStatus> {
    let ca = ca_info(&db.meta.ca_cert_pem)?;
    let next_ca = db
        .certs
        .next_ca
        .as_ref()
        .and_then(|next| ca_info(&next.cert_pem));
    let mut nodes = Vec::new();
    for (id, node) in &db.nodes {
        let wanted = wanted(db, *id)?;
        let record = db.certs.nodes.get(id);
        let trusts_next = match (&next_ca, record) {
            (Some(next), Some(cert)) => cert.trusted.contains(&next.fingerprint),
            _ => false,
        };
        let current = record.is_some_and(|cert| {
            cert.issuer == wanted.issuer
                && generation_of(&wanted, &cert.fingerprint) >= wanted.generation
                && cert.trusted == wanted.trust
        });
        nodes.push(::api::NodeCertView {
            node: id.0,
            name: node.info.name.clone(),
            reported: record.is_some(),
            fingerprint: record.map(|c| c.fingerprint.clone()).unwrap_or_default(),
            issuer: record.map(|c| c.issuer.clone()).unwrap_or_default(),
            expires_at_ms: record.map(|c| c.not_after_ms).unwrap_or(0),
            expires_at: record.map(|c| date(c.not_after_ms)).unwrap_or_default(),
            generation: record.map(|c| c.generation).unwrap_or(0),
            trusts_next,
            current,
        });
    }
    let ca_change = match &next_ca {
        None => "none",
        Some(_) if nodes.iter().any(|n| !n.trusts_next) => "trusting",
        Some(next) if !db.nodes_not_on(&next.fingerprint).is_empty() => "renewing",
        Some(_) => "ready",
    };
    Some(::api::CertStatus {
        ca,
        next_ca,
        ca_change: ca_change.into(),
        generation: db.certs.generation,
        nodes,
        warnings: cert_warnings(db, now),
    })
}

fn parse<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad request: {e}")))
}

fn check_validity(valid_for_s: Option<u64>) -> Result<(), Response> {
    match valid_for_s {
        Some(s) if !(VALIDITY_S_MIN..=VALIDITY_S_MAX).contains(&s) => Err(error(
            StatusCode::BAD_REQUEST,
            format!(
                "valid_for_s: {s} s is outside {VALIDITY_S_MIN}..={VALIDITY_S_MAX} \
                 (one hour to twenty years)"
            ),
        )),
        _ => Ok(()),
    }
}

/// Proposes what `command` makes, as this request's write, on the master; `answer` turns
/// the result into the response.
async fn write(
    state: &ApiState,
    headers: &HeaderMap,
    path: &str,
    body: Bytes,
    command: impl Fn(&ApiState) -> Result<Command, Response>,
    answer: impl Fn(&ApiState, CommandResult) -> Response,
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
    on_master(state, &forward, || async {
        let command = match command(state) {
            Ok(command) => command,
            Err(response) => return Some(response),
        };
        Some(match propose(state, write.command(0, command)).await? {
            Ok(CommandResult::Rejected(reason)) => error(StatusCode::CONFLICT, reason),
            Ok(result) => answer(state, result),
            Err(response) => response,
        })
    })
    .await
}

/// `POST /v1/certs/rotate`.
pub(crate) async fn rotate(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: ::api::RotateCerts = match parse(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    if let Err(response) = check_validity(request.valid_for_s) {
        return response;
    }
    let command = |_: &ApiState| {
        Ok(Command::RotateCerts {
            validity_s: request.valid_for_s,
            at_ms: now_ms(),
        })
    };
    let answer = |state: &ApiState, _| {
        let generation = state.shared.read(|db| db.certs.generation);
        Json(::api::RotateAnswer { generation }).into_response()
    };
    write(&state, &headers, "/v1/certs/rotate", body, command, answer).await
}

/// The new CA of a `begin` request: the one given, checked, or a new one.
fn new_ca(state: &ApiState, request: &::api::BeginCaChange) -> Result<auth::ClusterCa, Response> {
    let bad = |message: String| error(StatusCode::BAD_REQUEST, message);
    let ca = match (&request.ca_cert_pem, &request.ca_key_pem) {
        (Some(cert), Some(key)) => auth::ClusterCa::from_pem(cert, key)
            .map_err(|e| bad(format!("the new CA is not usable: {e}")))?,
        (None, None) => {
            let validity = request
                .valid_for_s
                .map(Duration::from_secs)
                .unwrap_or_else(auth::ca_validity_default);
            auth::ClusterCa::generate_valid_for(&state.cluster_name, validity).map_err(|e| {
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot make a CA: {e}"),
                )
            })?
        }
        _ => {
            return Err(bad(
                "give both the new CA's certificate and its key, or neither".into(),
            ));
        }
    };
    let (_, not_after_s) = auth::cert_validity(&ca.cert_pem())
        .map_err(|e| bad(format!("the new CA is not usable: {e}")))?;
    let now_s = i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX);
    if not_after_s <= now_s + i64::try_from(VALIDITY_S_MIN).unwrap_or(0) {
        return Err(bad(format!(
            "the new CA expires on {}: give one valid for longer",
            date(u64::try_from(not_after_s).unwrap_or(0) * 1000)
        )));
    }
    let current = state
        .shared
        .read(|db| auth::fingerprint_pem(&db.meta.ca_cert_pem).ok());
    if current.as_deref() == Some(ca.fingerprint().as_str()) {
        return Err(bad(
            "this is the CA the cluster uses already; give a new one".into(),
        ));
    }
    Ok(ca)
}

/// `POST /v1/certs/ca/begin`.
pub(crate) async fn begin_ca(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: ::api::BeginCaChange = match parse(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    if let Err(response) = check_validity(request.valid_for_s) {
        return response;
    }
    let command = |state: &ApiState| {
        if let Some(pending) = state.shared.read(|db| db.certs.next_ca.clone()) {
            return Err(error(
                StatusCode::CONFLICT,
                format!(
                    "a CA change is already in progress (new CA {}); finish it with \
                     `encluster cert ca finish` first",
                    cmdb::short(&pending.fingerprint)
                ),
            ));
        }
        let ca = new_ca(state, &request)?;
        Ok(Command::BeginCaChange {
            ca_cert_pem: ca.cert_pem(),
            ca_key_pem: ca.key_pem(),
            fingerprint: ca.fingerprint(),
            at_ms: now_ms(),
        })
    };
    write(
        &state,
        &headers,
        "/v1/certs/ca/begin",
        body,
        command,
        change_answer,
    )
    .await
}

/// `POST /v1/certs/ca/finish`.
pub(crate) async fn finish_ca(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let command = |_: &ApiState| Ok(Command::FinishCaChange { at_ms: now_ms() });
    write(
        &state,
        &headers,
        "/v1/certs/ca/finish",
        body,
        command,
        change_answer,
    )
    .await
}

/// What clients trust after a begin or finish, read back from the replica.
fn change_answer(state: &ApiState, _: CommandResult) -> Response {
    let answer = state.shared.read(|db| {
        let pem = db
            .certs
            .next_ca
            .as_ref()
            .map_or(&db.meta.ca_cert_pem, |n| &n.cert_pem);
        Some(::api::CaChangeAnswer {
            fingerprint: auth::fingerprint_pem(pem).ok()?,
            trust_pem: trust_pem(db),
        })
    });
    match answer {
        Some(answer) => Json(answer).into_response(),
        None => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the CA in the cmdb is unreadable",
        ),
    }
}

/// The CAs a client should trust now: the cluster CA, and the new one during a change.
pub(crate) fn trust_pem(db: &ClusterDb) -> String {
    match &db.certs.next_ca {
        Some(next) => format!("{}\n{}", db.meta.ca_cert_pem.trim_end(), next.cert_pem),
        None => db.meta.ca_cert_pem.clone(),
    }
}
