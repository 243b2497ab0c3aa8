//! `GET /v1/stream`: server-sent events that tell a client (the web UI) when to fetch
//! again. Each `state` message names the answering node's applied change counter, the next
//! event number, and the master and quorum it sees; it goes out when the replica changes
//! (at most every `STREAM_COALESCE`) and at least every `STREAM_BEAT`, so a browser sees a
//! change, or the loss of the master, within a second. The stream carries no cluster data
//! of its own: the client reads that from the ordinary endpoints, with the same checks.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::Stream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::views::master_seen;
use super::{ApiState, error};
use crate::clock::now_ms;
use crate::limits::{STREAM_BEAT, STREAM_COALESCE, STREAMS_MAX};

/// The streams open on this node; one permit each, at most `STREAMS_MAX`.
pub(crate) fn streams() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(STREAMS_MAX))
}

/// One open stream: what it needs between two messages.
struct Open {
    state: ApiState,
    applied: watch::Receiver<u64>,
    _permit: OwnedSemaphorePermit,
    first: bool,
}

pub(crate) async fn stream(State(state): State<ApiState>) -> Response {
    let Ok(permit) = state.streams.clone().try_acquire_owned() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{STREAMS_MAX} streams are open on this node already; close one or retry"),
        );
    };
    let open = Open {
        applied: state.shared.subscribe(),
        state,
        _permit: permit,
        first: true,
    };
    Sse::new(messages(open))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn messages(open: Open) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(open, |mut open| async move {
        if !open.first {
            // A change, or the beat: whichever comes first.
            let changed = tokio::time::timeout(STREAM_BEAT, open.applied.changed()).await;
            if let Ok(Err(_)) = changed {
                return None; // The cmdb is gone: the agent is stopping.
            }
            if changed.is_ok() {
                tokio::time::sleep(STREAM_COALESCE).await;
            }
        }
        open.first = false;
        let message = message(&open).await;
        Some((Ok(message), open))
    })
}

async fn message(open: &Open) -> Event {
    let applied = *open.applied.borrow();
    let seen = master_seen(&open.state).await;
    let next_event = open.state.shared.read(|db| db.next_event_seq);
    let wire = ::api::StreamState {
        node_id: open.state.node_id,
        applied,
        next_event,
        master: seen.master,
        quorum: seen.quorum_word().into(),
        at_ms: now_ms(),
    };
    Event::default()
        .event("state")
        .json_data(&wire)
        .expect("a StreamState always serializes")
}
