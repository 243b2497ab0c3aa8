//! Incident and alert endpoints (issue 13, points 5 and 6): `GET /v1/incidents` from the
//! local replica; `GET|POST /v1/alerts` and `DELETE /v1/alerts/{name}` for recipients and
//! threshold rules, validated here and proposed on the master; `POST
//! /v1/alerts/{name}/test`, which the master answers by delivering one test alert.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cmdb::{AlertConfig, AlertTarget, ClusterDb, Command, IncidentCause};
use model::Severity;

use super::resources::{Call, propose_all};
use super::{ApiState, error, on_master};

/// Pacemaker's default timeout of an alert agent, also used for webhooks.
const TIMEOUT_DEFAULT: Duration = alerts::EXECUTABLE_TIMEOUT;

pub(crate) async fn incidents(State(state): State<ApiState>) -> Response {
    let incidents = state.shared.read(|db| {
        db.monitoring
            .incidents
            .list
            .iter()
            .map(|incident| to_wire(db, incident))
            .collect()
    });
    Json(::api::Incidents { incidents }).into_response()
}

/// When a fencing attempt that started during incident `id` confirmed its node off: the
/// fencing history names the incident open for the node when the attempt began.
fn fence_confirmed(db: &ClusterDb, id: u64) -> Option<u64> {
    (db.fencing.history.iter())
        .filter(|record| record.incident == Some(id))
        .filter(|record| record.outcome == model::fence::FenceOutcome::Confirmed)
        .filter_map(|record| record.finished_at)
        .min()
}

fn to_wire(db: &ClusterDb, incident: &cmdb::Incident) -> ::api::Incident {
    let (cause, resource) = match &incident.cause {
        IncidentCause::NodeLost { .. } => ("node_lost", None),
        IncidentCause::ResourceFailed { resource, .. } => {
            ("resource_failed", Some(resource.0.clone()))
        }
    };
    let node = incident.node();
    let last = |phase: fn(&cmdb::IncidentResource) -> Option<u64>| {
        let times: Vec<Option<u64>> = incident.resources.iter().map(phase).collect();
        if times.is_empty() || times.iter().any(Option::is_none) {
            return None;
        }
        times.into_iter().flatten().max()
    };
    let healthy_or_given_up = incident
        .resources
        .iter()
        .filter(|r| !r.given_up)
        .filter_map(|r| r.healthy_at)
        .max();
    ::api::Incident {
        id: incident.id,
        cause: cause.to_owned(),
        node: node.0,
        node_name: db
            .nodes
            .get(&node)
            .map(|n| n.info.name.clone())
            .unwrap_or_default(),
        resource,
        detected_at_ms: incident.detected_at,
        down_at_ms: incident.down_at,
        lease_ended_at_ms: incident.lease_ended_at,
        fence_confirmed_at_ms: fence_confirmed(db, incident.id),
        stopped_at_ms: last(|r| r.stopped_at),
        started_at_ms: last(|r| r.started_at),
        healthy_at_ms: if incident.closed {
            healthy_or_given_up
        } else {
            last(|r| r.healthy_at)
        },
        closed: incident.closed,
        resources: incident
            .resources
            .iter()
            .map(|r| ::api::IncidentResource {
                resource: r.resource.0.clone(),
                stopped_at_ms: r.stopped_at,
                started_on: r.started_on.map(|n| n.0),
                started_at_ms: r.started_at,
                healthy_at_ms: r.healthy_at,
                given_up: r.given_up,
            })
            .collect(),
    }
}

pub(crate) async fn list(State(state): State<ApiState>) -> Response {
    let alerts = state.shared.read(|db| {
        db.monitoring
            .alerts
            .values()
            .map(|record| {
                let pending = if record.config.is_recipient() {
                    db.events
                        .iter()
                        .filter(|e| e.seq >= record.next_seq)
                        .filter(|e| crate::alerting::wants(&record.config, e))
                        .count() as u64
                } else {
                    0
                };
                ::api::AlertView {
                    spec: to_spec(&record.config),
                    next_event: record.next_seq,
                    pending,
                }
            })
            .collect()
    });
    Json(::api::Alerts { alerts }).into_response()
}

pub(crate) async fn put(State(state): State<ApiState>, call: Call) -> Response {
    let spec: ::api::AlertSpec = match serde_json::from_slice(&call.body) {
        Ok(spec) => spec,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad alert: {e}")),
    };
    let config = match to_config(&spec) {
        Ok(config) => config,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem),
    };
    let name = config.name.clone();
    let command = Command::PutAlert { alert: config };
    propose_all(&state, &call, vec![command], move |_| {
        Json(serde_json::json!({ "name": name })).into_response()
    })
    .await
}

pub(crate) async fn remove(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    call: Call,
) -> Response {
    if !state
        .shared
        .read(|db| db.monitoring.alerts.contains_key(&name))
    {
        return error(
            StatusCode::NOT_FOUND,
            format!("no alert named {name:?}; `encluster alert list` shows them"),
        );
    }
    let command = Command::RemoveAlert { name: name.clone() };
    propose_all(&state, &call, vec![command], move |_| {
        Json(serde_json::json!({ "removed": name })).into_response()
    })
    .await
}

/// The master sends one test alert to the recipient and says what happened.
pub(crate) async fn test(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    call: Call,
) -> Response {
    let Some(config) = state
        .shared
        .read(|db| db.monitoring.alerts.get(&name).map(|r| r.config.clone()))
    else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no alert named {name:?}; `encluster alert list` shows them"),
        );
    };
    if !config.is_recipient() {
        return error(
            StatusCode::BAD_REQUEST,
            format!("{name} is a threshold rule, not a recipient; it has nothing to send to"),
        );
    }
    on_master(&state, &call.forward(), || async {
        if !state.raft.is_leader() {
            return None;
        }
        let result = crate::alerting::send_test(&state, &config).await;
        Some(Json(result).into_response())
    })
    .await
}

/// The stored form of an alert spec; the error names the field and the fix.
pub(crate) fn to_config(spec: &::api::AlertSpec) -> Result<AlertConfig, String> {
    let name = spec.name.trim();
    model::check_name(model::NameKind::Resource, name).map_err(|e| format!("alert name: {e}"))?;
    let target = match (&spec.executable, &spec.webhook, &spec.rule) {
        (Some(path), None, None) => AlertTarget::Executable {
            path: path.clone(),
            recipient: spec.recipient.clone().unwrap_or_default(),
        },
        (None, Some(url), None) => AlertTarget::Webhook { url: url.clone() },
        (None, None, Some(expr)) => {
            let rule = monitor::threshold::Rule::parse(expr)?;
            AlertTarget::Rule { expr: rule.text() }
        }
        _ => {
            return Err(format!(
                "alert {name}: give exactly one of executable, webhook or rule"
            ));
        }
    };
    if spec.recipient.is_some() && spec.executable.is_none() {
        return Err(format!(
            "alert {name}: recipient is the executable's CRM_alert_recipient; \
             it needs executable"
        ));
    }
    let severity_min = match &spec.severity {
        None => Severity::Info,
        Some(word) => Severity::parse(word).ok_or_else(|| {
            format!("alert {name}: severity {word:?}: use info, warning or critical")
        })?,
    };
    let timeout = match &spec.timeout {
        None => TIMEOUT_DEFAULT,
        Some(text) => {
            model::parse_duration_text(text).map_err(|e| format!("alert {name}: timeout: {e}"))?
        }
    };
    let config = AlertConfig {
        name: name.to_owned(),
        target,
        kinds: spec.kinds.clone(),
        severity_min,
        timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
    };
    config.check()?;
    Ok(config)
}

/// The spec of a stored alert, as `GET /v1/alerts` and `config export` show it.
pub(crate) fn to_spec(config: &AlertConfig) -> ::api::AlertSpec {
    let mut spec = ::api::AlertSpec {
        name: config.name.clone(),
        kinds: config.kinds.clone(),
        ..Default::default()
    };
    match &config.target {
        AlertTarget::Executable { path, recipient } => {
            spec.executable = Some(path.clone());
            spec.recipient = (!recipient.is_empty()).then(|| recipient.clone());
        }
        AlertTarget::Webhook { url } => spec.webhook = Some(url.clone()),
        AlertTarget::Rule { expr } => spec.rule = Some(expr.clone()),
    }
    if config.is_recipient() {
        spec.severity = Some(config.severity_min.word().to_owned());
        spec.timeout = Some(match config.timeout_ms {
            ms if ms % 1_000 == 0 => format!("{}s", ms / 1_000),
            ms => format!("{ms}ms"),
        });
    }
    spec
}
