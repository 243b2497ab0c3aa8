//! `GET /v1/status`: the cluster as the master sees it, from any node.
//!
//! Only the master hears heartbeats and decides node health, so a node that is not the
//! master asks the master for its view (`?local=true`, so the master never forwards again)
//! and relays it, naming itself in `forwarded_by`. When no master is known or the master
//! does not answer, the node answers with its own replica and says so (`view: local`,
//! `master_unreachable`), so the CLI can warn at the top instead of showing an old view as
//! current.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use serde::Deserialize;

use super::ApiState;
use super::views::{MasterSeen, master_seen, node_list};
use crate::clock::now_ms;
use crate::limits::STATUS_FORWARD_TIMEOUT;

#[derive(Deserialize)]
pub(crate) struct StatusQuery {
    /// Answer with this node's own view, never the master's.
    #[serde(default)]
    local: bool,
}

pub(crate) async fn status(
    State(state): State<ApiState>,
    Query(query): Query<StatusQuery>,
    headers: HeaderMap,
) -> Json<::api::Status> {
    let seen = master_seen(&state).await;
    let master = seen.master.filter(|master| *master != state.node_id);
    let Some(master) = master.filter(|_| !query.local) else {
        let mut status = local_status(&state, &seen);
        let is_master = seen.master == Some(state.node_id);
        status.view = Some(if is_master { "master" } else { "local" }.into());
        return Json(status);
    };
    match master_status(&state, master, &headers).await {
        Ok(mut status) => {
            status.forwarded_by = Some(state.node_id);
            Json(status)
        }
        Err(problem) => {
            let mut status = local_status(&state, &seen);
            status.view = Some("local".into());
            status.master_unreachable = Some(problem);
            Json(status)
        }
    }
}

/// Asks `master` for its own view, with the client's token; `Err` says why it failed.
async fn master_status(
    state: &ApiState,
    master: u64,
    headers: &HeaderMap,
) -> Result<::api::Status, String> {
    let Some((_, api_addr)) = super::master_api(state).filter(|(id, _)| *id == master) else {
        return Err(format!("master {master} changed while its view was asked"));
    };
    let mut request = state
        .forward
        .get(format!("https://{api_addr}/v1/status?local=true"))
        .timeout(STATUS_FORWARD_TIMEOUT);
    // The caller's credentials: a bearer token, or a browser's session cookie (web UI).
    for name in [header::AUTHORIZATION, header::COOKIE] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value.clone());
        }
    }
    let answer = request
        .send()
        .await
        .map_err(|error| format!("master {master} at {api_addr} did not answer: {error}"))?;
    let code = answer.status();
    let bytes = answer
        .bytes()
        .await
        .map_err(|error| format!("master {master} at {api_addr} broke off: {error}"))?;
    if !code.is_success() {
        let body = String::from_utf8_lossy(&bytes);
        return Err(format!("master {master} answered HTTP {code}: {body}"));
    }
    serde_json::from_slice(&bytes)
        .map_err(|error| format!("master {master} sent an unreadable status: {error}"))
}

/// This node's own view from its replica (and, on the master, its failure detector).
fn local_status(state: &ApiState, seen: &MasterSeen) -> ::api::Status {
    let metrics = cmdb::metrics(&state.raft);
    let now = now_ms();
    let mut status = ::api::Status {
        cluster_name: state.cluster_name.clone(),
        answered_by: state.node_id,
        master: seen.master,
        term: metrics.current_term,
        commit_index: metrics.local_committed.map(|id| id.index).unwrap_or(0),
        applied_index: metrics.last_applied.map(|id| id.index).unwrap_or(0),
        nodes: node_list(state, seen),
        resources: super::resource_views::all_views(state),
        quorum: Some(seen.quorum_word().into()),
        last_master: seen.last_master,
        master_contact_ms: seen
            .contact_age
            .map(|age| u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
        view: None,
        forwarded_by: None,
        master_unreachable: None,
        failed_actions: state.shared.read(|db| failed_actions(&db.resources)),
        moves: state.shared.read(|db| pending_moves(&db.resources, now)),
        groups: state.shared.read(|db| groups(&db.resources)),
        remote_views: Vec::new(),
        format: Some(state.shared.read(|db| db.cluster_format())),
        cert_warnings: state.shared.read(|db| crate::certs::cert_warnings(db, now)),
        witness: state.witness.clone(),
    };
    if let Some(remote) = &state.remote {
        add_remote_views(&mut status, &remote.verdicts());
    }
    status
}

/// The remote monitors' verdicts (the master's; none elsewhere), and each resource
/// instance whose inside and outside views disagree marked with the verdict.
fn add_remote_views(
    status: &mut ::api::Status,
    verdicts: &[(
        monitor::remote::Target,
        monitor::remote::Verdict,
        monitor::remote::Outside,
    )],
) {
    for (target, verdict, outside) in verdicts {
        status.remote_views.push(::api::RemoteView {
            target: target.id.clone(),
            node: target.owner.0,
            verdict: verdict.word().to_owned(),
            observers: outside.observers,
            reachable: outside.reachable,
        });
        if !verdict.is_split() {
            continue;
        }
        let name = target.id.split_once(':').map_or("", |(_, name)| name);
        let instance = status
            .resources
            .iter_mut()
            .filter(|view| view.spec.name == name)
            .flat_map(|view| view.instances.iter_mut())
            .find(|instance| instance.node == target.owner.0);
        if let Some(instance) = instance {
            instance.remote = Some(verdict.word().to_owned());
        }
    }
}

/// Every instance with a failure still counted, newest first, with the operation that
/// failed when the (bounded) operation log still holds it.
pub(crate) fn failed_actions(resources: &cmdb::ResourceDb) -> Vec<::api::FailedAction> {
    let mut actions = Vec::new();
    for (resource, nodes) in &resources.status {
        for (node, status) in nodes {
            if status.fail_count == 0 && status.last_failure.is_none() {
                continue;
            }
            let operation = resources
                .operations
                .iter()
                .rev()
                .find(|entry| {
                    entry.node == *node && entry.report.resource == *resource && !entry.report.ok
                })
                .map(|entry| entry.report.operation.clone());
            actions.push(::api::FailedAction {
                resource: resource.0.clone(),
                node: node.0,
                operation,
                at_ms: status.last_failure_at,
                reason: status.last_failure.clone(),
                fail_count: status.fail_count,
            });
        }
    }
    actions.sort_by_key(|action| std::cmp::Reverse(action.at_ms));
    actions
}

/// The move preferences still in force at `now`.
pub(crate) fn pending_moves(resources: &cmdb::ResourceDb, now: u64) -> Vec<::api::PendingMove> {
    resources
        .moves
        .iter()
        .flat_map(|(resource, constraints)| {
            constraints
                .iter()
                .filter(|constraint| constraint.is_active(now))
                .map(|constraint| ::api::PendingMove {
                    resource: resource.0.clone(),
                    node: constraint.node.0,
                    score: constraint.score,
                    expires_at_ms: constraint.expires_at,
                })
        })
        .collect()
}

/// Every group with its members in start order.
fn groups(resources: &cmdb::ResourceDb) -> Vec<::api::GroupSpec> {
    resources
        .groups
        .values()
        .map(|group| ::api::GroupSpec {
            name: group.id.0.clone(),
            members: group
                .members
                .iter()
                .map(|member| member.0.clone())
                .collect(),
        })
        .collect()
}
