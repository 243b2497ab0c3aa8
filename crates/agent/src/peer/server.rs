//! The peer listener's handlers. Every route requires a node certificate.

use std::io::Cursor;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Router, middleware};
use cmdb::{Command, CommandResult, Raft, SharedDb, SnapshotMeta, TypeConfig, Vote};
use openraft::ReadPolicy;
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest};
use openraft::vote::RaftLeaderId;
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::mpsc;

use super::{
    ForwardedRead, Heartbeat, HeartbeatAck, HeartbeatLoad, HeartbeatSeen, HeartbeatVersion,
};
use crate::clock::boot_ms;
use crate::contact::LeaderContact;
use crate::limits::PEER_BODY_BYTES_MAX;
use crate::recovery::{self, ForcedHistory};
use crate::serve::PeerIdentity;
use model::BootMs;

/// What the peer handlers need.
#[derive(Clone)]
pub struct PeerState {
    /// This node's Raft instance.
    pub raft: Raft,
    /// The local replica.
    pub shared: SharedDb,
    /// Heartbeats go to the master loop; full means it is busy, and a dropped heartbeat is
    /// harmless because the next one follows within one interval.
    pub heartbeats: mpsc::Sender<HeartbeatSeen>,
    /// When leaders of each term were last heard from.
    pub contact: Arc<LeaderContact>,
    /// The force-quorum points this node knows (`recovery::ForcedHistory`).
    pub forced: Arc<ForcedHistory>,
    /// The remote monitors' views (`remote::Remote`), fed by every node's reports.
    pub remote: Arc<crate::remote::Remote>,
    // --- upgrade ---
    /// The versions and formats the heartbeats report (`upgrade`).
    pub reports: crate::upgrade::NodeReports,
    // --- notify, status ---
    /// This node's executor runtime's queue of clone notifications (`clone_notify`).
    pub notify_inbox: mpsc::Sender<executor::NotifyCall>,
    /// The instances' status texts (`status_texts`), fed by every node's reports.
    pub status_texts: Arc<crate::status_texts::StatusTexts>,
}

/// The peer router.
pub fn router(state: PeerState) -> Router {
    Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/pre-vote", post(pre_vote))
        .route("/raft/snapshot", post(snapshot))
        .route("/peer/heartbeat", post(heartbeat))
        .route("/peer/write", post(write))
        .route("/peer/read", post(read))
        .route("/peer/remote-views", post(remote_views))
        .route("/peer/notify", post(notify))
        .route("/peer/instance-status", post(instance_status))
        .layer(middleware::from_fn(require_node))
        .layer(DefaultBodyLimit::max(PEER_BODY_BYTES_MAX))
        .with_state(state)
}

async fn require_node(
    Extension(identity): Extension<PeerIdentity>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    match identity.0 {
        Some(_) => next.run(request).await,
        None => (
            StatusCode::FORBIDDEN,
            "a node certificate from the cluster CA is required",
        )
            .into_response(),
    }
}

fn decode<T: DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    postcard::from_bytes(body)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("undecodable body: {e}")).into_response())
}

fn encode<T: Serialize>(value: &T) -> Response {
    match postcard::to_stdvec(value) {
        Ok(bytes) => (StatusCode::OK, bytes).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

fn answer<T: Serialize, E: std::fmt::Display>(result: Result<T, E>) -> Response {
    encode(&result.map_err(|e| e.to_string()))
}

async fn append(State(state): State<PeerState>, body: Bytes) -> Response {
    let (request, leader_forced) = match decode_append(&body) {
        Ok(decoded) => decoded,
        Err(response) => return response,
    };
    let leader = request.vote.leader_id();
    (state.contact).record_from(leader.term(), leader.node_id, boot_ms());
    let check = recovery::check_append(&state.raft, &request, &state.forced, leader_forced);
    if let Err(refusal) = check.await {
        return answer::<AppendEntriesResponse<TypeConfig>, _>(Err(refusal));
    }
    let answered = state.raft.append_entries(request).await;
    // Only a history this node now holds: its log matches the leader's up to the append.
    if matches!(answered, Ok(AppendEntriesResponse::Success))
        && let Some(point) = leader_forced
        && let Err(error) = state.forced.learn(point)
    {
        crate::node::fail_stop(
            "Raft log",
            &format!("cannot record the forced point: {error}"),
        );
    }
    answer(answered)
}

/// An append request and the leader's newest force-quorum point, which an agent that
/// predates it does not send (`network::Connection::append_entries`).
type AppendBody = (AppendEntriesRequest<TypeConfig>, Option<(u64, u64)>);

fn decode_append(body: &Bytes) -> Result<AppendBody, Response> {
    decode_with_forced(body)
}

/// A request followed, from agents that know it, by the leader's newest force-quorum
/// point; an older agent's body ends after the request.
fn decode_with_forced<T: DeserializeOwned>(
    body: &Bytes,
) -> Result<(T, Option<(u64, u64)>), Response> {
    let undecodable = |e: postcard::Error| {
        (StatusCode::BAD_REQUEST, format!("undecodable body: {e}")).into_response()
    };
    let (request, rest) = postcard::take_from_bytes(body).map_err(undecodable)?;
    if rest.is_empty() {
        return Ok((request, None));
    }
    Ok((request, postcard::from_bytes(rest).map_err(undecodable)?))
}

async fn vote(State(state): State<PeerState>, body: Bytes) -> Response {
    let request: VoteRequest<TypeConfig> = match decode(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    answer(state.raft.vote(request).await)
}

async fn pre_vote(State(state): State<PeerState>, body: Bytes) -> Response {
    let request: VoteRequest<TypeConfig> = match decode(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    answer(state.raft.pre_vote(request).await)
}

async fn snapshot(State(state): State<PeerState>, body: Bytes) -> Response {
    let ((vote, meta, data), leader_forced) = match decode_snapshot(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let leader = vote.leader_id();
    (state.contact).record_from(leader.term(), leader.node_id, boot_ms());
    let check = recovery::check_snapshot(&state.raft, &vote, &state.forced, leader_forced);
    if let Err(refusal) = check {
        return answer::<SnapshotResponse<TypeConfig>, _>(Err(refusal));
    }
    let snapshot = openraft::storage::Snapshot {
        meta,
        snapshot: Cursor::new(data),
    };
    let answered = state.raft.install_full_snapshot(vote, snapshot).await;
    // This node now holds the leader's history, forced point included.
    if answered.is_ok()
        && let Some(point) = leader_forced
        && let Err(error) = state.forced.learn(point)
    {
        crate::node::fail_stop(
            "Raft log",
            &format!("cannot record the forced point: {error}"),
        );
    }
    answer(answered)
}

/// A full snapshot and the leader's newest force-quorum point, which an agent that
/// predates it does not send (`network::Connection::full_snapshot`).
type SnapshotBody = ((Vote, SnapshotMeta, Vec<u8>), Option<(u64, u64)>);

fn decode_snapshot(body: &Bytes) -> Result<SnapshotBody, Response> {
    decode_with_forced(body)
}

async fn heartbeat(
    State(state): State<PeerState>,
    Extension(identity): Extension<PeerIdentity>,
    body: Bytes,
) -> Response {
    let (beat, reported, load) = match decode_heartbeat(&body) {
        Ok(decoded) => decoded,
        Err(response) => return response,
    };
    if identity.0 != Some(beat.node_id) {
        return (StatusCode::FORBIDDEN, "heartbeat for another node's id").into_response();
    }
    let now = boot_ms();
    record_report(&state, beat.node_id, reported, now);
    let older_contact_age = std::time::Duration::from_millis(beat.older_contact_age_ms);
    let _ = state.heartbeats.try_send(HeartbeatSeen {
        node: beat.node_id,
        term: beat.term,
        older_contact: now.saturating_sub(older_contact_age),
        loop_lag_ms: load.map_or(0, |load| load.loop_lag_ms),
        received: now,
    });
    let (commit_index, term, quorum_age) = cmdb::read_metrics(&state.raft, |metrics| {
        let commit_index = metrics.local_committed.map(|id| id.index).unwrap_or(0);
        let quorum_age = crate::master::quorum_ack_age(metrics);
        (commit_index, metrics.current_term, quorum_age)
    });
    let is_master = state.raft.is_leader();
    // A grant under this term: this master's loop, which may see the heartbeat later, must
    // count it (and it is refused to a node the loop judged down), and a later master must
    // count it among older leaders' leases.
    let quorum_age = quorum_age
        .filter(|_| is_master)
        .filter(|_| state.contact.grant(term, beat.node_id, now));
    if quorum_age.is_some() {
        state.contact.record(term, now);
    }
    encode(&HeartbeatAck {
        is_master,
        lease_granted: quorum_age.is_some(),
        commit_index,
        quorum_age_ms: quorum_age.unwrap_or(0),
    })
}

// --- upgrade ---
/// A heartbeat and what follows it: the sender's version, which an agent of 0.11.0 does
/// not send (`None`), and its load, which one of 0.12.0 does not send.
type DecodedHeartbeat = (Heartbeat, Option<HeartbeatVersion>, Option<HeartbeatLoad>);

fn decode_heartbeat(body: &Bytes) -> Result<DecodedHeartbeat, Response> {
    let undecodable = |e: postcard::Error| {
        (StatusCode::BAD_REQUEST, format!("undecodable body: {e}")).into_response()
    };
    let (beat, rest) = postcard::take_from_bytes(body).map_err(undecodable)?;
    if rest.is_empty() {
        return Ok((beat, None, None));
    }
    let (version, rest) = postcard::take_from_bytes(rest).map_err(undecodable)?;
    if rest.is_empty() {
        return Ok((beat, Some(version), None));
    }
    let load = postcard::from_bytes(rest).map_err(undecodable)?;
    Ok((beat, Some(version), Some(load)))
}

/// Keep the newest report of `node`; no version means format 1.
fn record_report(state: &PeerState, node: u64, reported: Option<HeartbeatVersion>, now: BootMs) {
    let report = crate::upgrade::NodeReport {
        format: reported.as_ref().map_or(cmdb::FORMAT_OLDEST, |r| r.format),
        version: reported.map(|r| r.version),
        at: now,
    };
    let mut reports = state.reports.lock().expect("node reports lock poisoned");
    reports.insert(node, report);
}

async fn write(State(state): State<PeerState>, body: Bytes) -> Response {
    let command: Command = match decode(&body) {
        Ok(command) => command,
        Err(response) => return response,
    };
    // The format gate (`cmdb::ClusterDb::admits`): refused like any invalid command.
    if let Err(reason) = state.shared.read(|db| db.admits(&command)) {
        return encode(&Ok::<_, String>(CommandResult::Rejected(reason)));
    }
    let result: Result<CommandResult, String> = match state.raft.client_write(command).await {
        Ok(response) => Ok(response.data),
        Err(error) => Err(error.to_string()),
    };
    encode(&result)
}

async fn read(State(state): State<PeerState>, body: Bytes) -> Response {
    let request: ForwardedRead = match decode(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let result: Result<Option<(String, u64)>, String> =
        match state.raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(_) => Ok(state.shared.read(|db| db.kv.get(&request.key).cloned())),
            Err(error) => Err(error.to_string()),
        };
    encode(&result)
}

async fn remote_views(
    State(state): State<PeerState>,
    Extension(identity): Extension<PeerIdentity>,
    body: Bytes,
) -> Response {
    let report: super::RemoteReport = match decode(&body) {
        Ok(report) => report,
        Err(response) => return response,
    };
    if identity.0 != Some(report.node_id) {
        return (StatusCode::FORBIDDEN, "remote views for another node's id").into_response();
    }
    state.remote.record(&report);
    encode(&())
}

/// A clone notification for this node's instance, from the node whose instance acts.
async fn notify(State(state): State<PeerState>, body: Bytes) -> Response {
    let request: crate::clone_notify::NotifyRequest = match decode(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let answer = crate::clone_notify::deliver(&state.notify_inbox, request).await;
    encode(&answer)
}

/// A node's status texts, kept by the master (`status_texts`).
async fn instance_status(
    State(state): State<PeerState>,
    Extension(identity): Extension<PeerIdentity>,
    body: Bytes,
) -> Response {
    let report: crate::status_texts::StatusTextReport = match decode(&body) {
        Ok(report) => report,
        Err(response) => return response,
    };
    if identity.0 != Some(report.node_id) {
        return (StatusCode::FORBIDDEN, "status texts for another node's id").into_response();
    }
    state.status_texts.record(&report, boot_ms());
    encode(&())
}

#[cfg(test)]
mod tests {
    use super::decode_append;
    use axum::body::Bytes;
    use cmdb::{TypeConfig, Vote};
    use openraft::raft::AppendEntriesRequest;

    fn request() -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest {
            vote: Vote::new_committed(3, 1),
            prev_log_id: None,
            entries: Vec::new(),
            leader_commit: None,
        }
    }

    #[test]
    fn an_append_reads_with_and_without_the_leaders_forced_point() {
        let old = postcard::to_stdvec(&request()).expect("encode");
        let (decoded, forced) = decode_append(&Bytes::from(old)).expect("an older agent's body");
        assert_eq!((decoded.vote, forced), (request().vote, None));
        let new = postcard::to_stdvec(&(request(), Some((7u64, 120u64)))).expect("encode");
        let new = Bytes::from(new);
        assert_eq!(decode_append(&new).expect("decode").1, Some((7, 120)));
        // An agent that predates the point reads the request and ignores what follows.
        let read: AppendEntriesRequest<TypeConfig> = postcard::from_bytes(&new).expect("decode");
        assert_eq!((read.vote, read.entries.len()), (request().vote, 0));
        assert!(decode_append(&Bytes::from_static(&[0xff, 0xff])).is_err());
    }

    #[test]
    fn a_snapshot_reads_with_and_without_the_leaders_forced_point() {
        use super::{SnapshotMeta, Vote, decode_snapshot};
        let parts = (request().vote, SnapshotMeta::default(), vec![1u8, 2, 3]);
        let old = Bytes::from(postcard::to_stdvec(&parts).expect("encode"));
        let ((vote, _, data), forced) = decode_snapshot(&old).expect("an older agent's body");
        assert_eq!((vote, data, forced), (request().vote, vec![1, 2, 3], None));
        let (vote, meta, data) = parts;
        let new = (vote, meta, data, Some((7u64, 120u64)));
        let new = Bytes::from(postcard::to_stdvec(&new).expect("encode"));
        assert_eq!(decode_snapshot(&new).expect("decode").1, Some((7, 120)));
        // An agent that predates the point reads the three parts and ignores what follows.
        let read: (Vote, SnapshotMeta, Vec<u8>) = postcard::from_bytes(&new).expect("decode");
        assert_eq!(read.2, vec![1, 2, 3]);
        assert!(decode_snapshot(&Bytes::from_static(&[0xff, 0xff])).is_err());
    }

    // --- upgrade ---
    #[test]
    fn a_heartbeat_reads_with_and_without_the_senders_version_and_load() {
        use super::super::{Heartbeat, HeartbeatLoad, HeartbeatVersion};
        use super::decode_heartbeat;
        let beat = Heartbeat {
            node_id: 2,
            term: 5,
            older_contact_age_ms: 40,
        };
        // An agent of 0.11.0 sends the heartbeat alone: format 1, no version.
        let old = Bytes::from(postcard::to_stdvec(&beat).expect("encode"));
        let (read, version, load) = decode_heartbeat(&old).expect("an older agent's heartbeat");
        assert_eq!((read.node_id, read.term, version.is_none()), (2, 5, true));
        assert!(load.is_none());
        let reported = HeartbeatVersion {
            version: "0.11.0 (commit 0123456789ab)".into(),
            format: cmdb::FORMAT_CURRENT,
        };
        let new = Bytes::from(postcard::to_stdvec(&(&beat, &reported)).expect("encode"));
        let (_, version, load) = decode_heartbeat(&new).expect("decode");
        assert!(load.is_none(), "an agent of 0.12.0 sends no load");
        let version = version.expect("the version follows");
        assert_eq!(version.format, cmdb::FORMAT_CURRENT);
        assert_eq!(version.version, reported.version);
        // A master of 0.11.0 reads the heartbeat and ignores the version after it.
        let read: Heartbeat = postcard::from_bytes(&new).expect("decode");
        assert_eq!((read.node_id, read.older_contact_age_ms), (2, 40));
        // This build sends its load after the version; a master of 0.12.0 reads the version
        // and ignores the load, one of 0.11.0 the heartbeat alone.
        let load = HeartbeatLoad { loop_lag_ms: 180 };
        let newest = postcard::to_stdvec(&(&beat, &reported, &load)).expect("encode");
        let newest = Bytes::from(newest);
        let (_, version, read_load) = decode_heartbeat(&newest).expect("decode");
        assert_eq!(version.expect("version").format, cmdb::FORMAT_CURRENT);
        assert_eq!(read_load.expect("the load follows").loop_lag_ms, 180);
        let (read, version): (Heartbeat, HeartbeatVersion) =
            postcard::from_bytes(&newest).expect("a master of 0.12.0 decodes");
        assert_eq!((read.term, version.version), (5, reported.version.clone()));
        let read: Heartbeat = postcard::from_bytes(&newest).expect("a master of 0.11.0 decodes");
        assert_eq!(read.node_id, 2);
        let garbled = postcard::to_stdvec(&(&beat, 7u8)).expect("encode");
        assert!(decode_heartbeat(&Bytes::from(garbled)).is_err());
    }
}
