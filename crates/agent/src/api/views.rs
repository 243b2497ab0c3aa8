//! Read-only API views: health, CA, nodes and events (status is in `status.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use model::Event;
use serde::Deserialize;

use super::{ApiState, clamp_page, clamp_wait, detector_view};

pub(crate) async fn health(State(state): State<ApiState>) -> Json<::api::Health> {
    let seen = master_seen(&state).await;
    Json(::api::Health {
        status: "ok".into(),
        node_id: state.node_id,
        master: seen.master,
        quorum: Some(seen.quorum_word().into()),
    })
}

/// How long a master may stay silent before this node stops calling it its master: twice
/// the longest election timeout (a voter would have started an election long before), and
/// at least a second, so that a busy machine does not make status flicker.
fn master_silence_max(raft: &cmdb::Raft) -> Duration {
    let election_timeout_max = Duration::from_millis(raft.config().election_timeout_max);
    (2 * election_timeout_max).max(Duration::from_secs(1))
}

/// What this node can truthfully say about its master right now.
pub(crate) struct MasterSeen {
    /// The master, only if heard from within `master_silence_max`.
    pub(crate) master: Option<u64>,
    /// The master it last knew of, even a silent one.
    pub(crate) last_master: Option<u64>,
    /// How long ago it last heard from that master (on the master: its quorum's last
    /// acknowledgement).
    pub(crate) contact_age: Option<Duration>,
}

impl MasterSeen {
    pub(crate) fn quorum_word(&self) -> &'static str {
        if self.master.is_some() { "has" } else { "lost" }
    }
}

/// On the master: when a quorum last acknowledged it (a single voter is its own quorum).
/// Elsewhere: when the master last touched this node's vote, which openraft does on every
/// message from the leader (its leader lease). A learner never starts an election, so
/// without this it would name a dead master forever.
pub(crate) async fn master_seen(state: &ApiState) -> MasterSeen {
    use openraft::Instant as _;
    let metrics = cmdb::metrics(&state.raft);
    let last_master = metrics.current_leader;
    let contact_age = if metrics.state.is_leader() {
        let voters: Vec<u64> = metrics.membership_config.membership().voter_ids().collect();
        if voters == [state.node_id] {
            Some(Duration::ZERO)
        } else {
            metrics.last_quorum_acked.as_ref().map(|at| at.elapsed())
        }
    } else if last_master.is_some() {
        let touched = state
            .raft
            .with_raft_state(|raft_state| raft_state.vote_last_modified().map(|at| at.elapsed()))
            .await;
        // A stopped core answers nothing: then there is no master to speak of.
        touched.ok().flatten()
    } else {
        None
    };
    let fresh = contact_age.is_some_and(|age| age <= master_silence_max(&state.raft));
    MasterSeen {
        master: last_master.filter(|_| fresh),
        last_master,
        contact_age,
    }
}

pub(crate) async fn ca(State(state): State<ApiState>) -> Json<::api::CaCert> {
    // The CAs trusted now (both during a CA change), or the file's before the cmdb has one.
    let ca_pem = state
        .shared
        .read(|db| (!db.meta.ca_cert_pem.is_empty()).then(|| super::certs::trust_pem(db)));
    Json(::api::CaCert {
        ca_pem: ca_pem.unwrap_or_else(|| state.ca_pem.to_string()),
    })
}

pub(crate) async fn nodes(State(state): State<ApiState>) -> Json<Vec<::api::NodeStatus>> {
    let seen = master_seen(&state).await;
    Json(node_list(&state, &seen))
}

/// Every node known to the cmdb or the Raft membership, with role and health. Without a
/// master, nobody decides the others' health: they are `unknown`, with the last master's
/// record beside it, and the answering node is online since it answers.
pub(crate) fn node_list(state: &ApiState, seen: &MasterSeen) -> Vec<::api::NodeStatus> {
    let metrics = cmdb::metrics(&state.raft);
    let membership = metrics.membership_config.membership();
    let mut nodes: BTreeMap<u64, ::api::NodeStatus> = BTreeMap::new();
    let now = crate::clock::boot_ms();
    for (id, info) in membership.nodes() {
        nodes.insert(*id, blank_status(*id, info));
    }
    state.shared.read(|db| {
        for (id, record) in &db.nodes {
            let entry = nodes
                .entry(id.0)
                .or_insert_with(|| blank_status(id.0, &record.info));
            entry.state = record.health.to_string();
        }
        for (id, config) in &db.resources.node_config {
            if let Some(entry) = nodes.get_mut(&id.0) {
                entry.standby = config.standby;
                entry.maintenance = config.maintenance;
            }
        }
    });
    for (id, node) in nodes.iter_mut() {
        node.role = if membership.voter_ids().any(|v| v == *id) {
            "voter".into()
        } else if membership.learner_ids().any(|l| l == *id) {
            "learner".into()
        } else {
            "none".into()
        };
        node.is_master = seen.master == Some(*id);
        if let Some((health, heard)) = detector_view(state, *id) {
            node.state = health.to_string();
            let age = now.saturating_since(heard);
            node.last_heartbeat_ms = Some(u64::try_from(age.as_millis()).unwrap_or(u64::MAX));
        }
        if seen.master.is_none() {
            let recorded = std::mem::replace(&mut node.state, "unknown".into());
            node.recorded_state = Some(recorded);
            if *id == state.node_id {
                node.state = "online".into();
            }
        }
    }
    add_versions(state, seen, &mut nodes);
    nodes.into_values().collect()
}

// --- upgrade ---
/// The versions and formats the nodes report: this node's own always, the others' only on
/// the master, which hears their heartbeats.
fn add_versions(state: &ApiState, seen: &MasterSeen, nodes: &mut BTreeMap<u64, ::api::NodeStatus>) {
    if let Some(own) = nodes.get_mut(&state.node_id) {
        own.version = Some(crate::upgrade::version());
        own.format = Some(cmdb::FORMAT_CURRENT);
    }
    if seen.master != Some(state.node_id) {
        return;
    }
    let reports = state.reports.lock().expect("node reports lock poisoned");
    for (id, node) in nodes.iter_mut() {
        if let Some(report) = reports.get(id).filter(|_| *id != state.node_id) {
            node.version = report.version.clone();
            node.format = Some(report.format);
        }
    }
}

fn blank_status(id: u64, info: &model::NodeInfo) -> ::api::NodeStatus {
    ::api::NodeStatus {
        id,
        name: info.name.clone(),
        state: "online".into(),
        role: "none".into(),
        is_master: false,
        last_heartbeat_ms: None,
        peer_addr: info.peer_addr.clone(),
        api_addr: info.api_addr.clone(),
        recorded_state: None,
        standby: false,
        maintenance: false,
        version: None,
        format: None,
    }
}

#[derive(Deserialize)]
pub(crate) struct EventsQuery {
    #[serde(default)]
    since: u64,
    #[serde(default)]
    wait_ms: u64,
    limit: Option<usize>,
}

pub(crate) async fn events(
    State(state): State<ApiState>,
    Query(query): Query<EventsQuery>,
) -> Response {
    let limit = clamp_page(query.limit);
    let deadline = tokio::time::Instant::now() + clamp_wait(query.wait_ms);
    let mut applied = state.shared.subscribe();
    loop {
        let (events, next_seq) = state
            .shared
            .read(|db| (db.events_since(query.since, limit), db.next_event_seq));
        if !events.is_empty() || query.wait_ms == 0 {
            let next = events.last().map(|e| e.seq + 1).unwrap_or(next_seq);
            let events = events.into_iter().map(to_wire).collect();
            return Json(::api::Events { events, next }).into_response();
        }
        if tokio::time::timeout_at(deadline, applied.changed())
            .await
            .is_err()
        {
            return Json(::api::Events {
                events: Vec::new(),
                next: query.since.max(next_seq),
            })
            .into_response();
        }
    }
}

fn to_wire(event: Event) -> ::api::Event {
    // Externally tagged: `{"node_health": {...}}`; the single key is the kind.
    let tagged = serde_json::to_value(&event.kind).unwrap_or(serde_json::Value::Null);
    let (kind, detail) = match tagged {
        serde_json::Value::Object(map) if map.len() == 1 => {
            let (kind, detail) = map.into_iter().next().expect("map has one entry");
            (kind, detail)
        }
        other => ("unknown".to_string(), other),
    };
    ::api::Event {
        seq: event.seq,
        at_ms: event.at_ms,
        kind,
        message: event.kind.describe(),
        detail,
        severity: event.kind.severity().word().to_owned(),
        actor: event.kind.actor().map(str::to_owned),
    }
}
