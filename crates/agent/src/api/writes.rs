//! Exactly-once writes through the API: every write is proposed as a session write
//! (`cmdb::Command::Session`), numbered once where the request enters the cluster, so that
//! forwarding it again to a new master, or proposing it again after openraft could not say
//! whether an entry survived a change of master, never applies it twice.
//!
//! A client may bring its own session (`Encluster-Session: <16 hex digits>`,
//! `Encluster-Seq: <n>`, one request at a time per session, a retry repeating its number);
//! otherwise the node that receives the request numbers it in the node's own session, which
//! has many requests in flight, so it also sends the lowest number still in flight
//! (`Encluster-Floor`). One request may propose up to `PARTS_MAX` commands, numbered
//! `seq * PARTS_MAX + part`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ::api::{FLOOR_HEADER, SEQ_HEADER, SESSION_HEADER};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use cmdb::Command;

use super::{ApiState, error};
use crate::clock::now_ms;

/// Commands one request may propose.
pub const PARTS_MAX: u64 = 16;
/// Highest request number, so that its parts' numbers do not overflow.
const SEQ_MAX: u64 = u64::MAX / PARTS_MAX - 1;

/// This node's own session, for requests that come without one.
pub(crate) struct NodeSession {
    id: u64,
    next: AtomicU64,
    in_flight: Mutex<BTreeSet<u64>>,
}

impl NodeSession {
    /// A new session with a random id: a restarted agent never reuses its old numbers.
    pub(crate) fn new() -> Arc<NodeSession> {
        Arc::new(NodeSession {
            id: rand::random::<u64>().max(1),
            next: AtomicU64::new(1),
            in_flight: Mutex::new(BTreeSet::new()),
        })
    }

    fn admit(self: &Arc<NodeSession>) -> WriteId {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let mut in_flight = self.in_flight.lock().expect("session lock poisoned");
        in_flight.insert(seq);
        let floor = in_flight.first().copied().unwrap_or(seq);
        WriteId {
            session: self.id,
            seq,
            floor,
            actor: None,
            _in_flight: Some(InFlight {
                session: self.clone(),
                seq,
            }),
        }
    }
}

/// Marks a node-session request in flight until its answer is sent.
struct InFlight {
    session: Arc<NodeSession>,
    seq: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut in_flight) = self.session.in_flight.lock() {
            in_flight.remove(&self.seq);
        }
    }
}

/// The identity of one write request, fixed where it entered the cluster.
pub(crate) struct WriteId {
    pub(crate) session: u64,
    pub(crate) seq: u64,
    pub(crate) floor: u64,
    /// Who sent it: its API token's label or its login session's user, recorded with the
    /// change.
    pub(crate) actor: Option<String>,
    _in_flight: Option<InFlight>,
}

impl WriteId {
    /// The request's identity from its headers, or a new number in this node's session.
    pub(crate) fn of(headers: &HeaderMap, state: &ApiState) -> Result<WriteId, Response> {
        let mut write = WriteId::numbered(headers, &state.session)?;
        write.actor = super::actor(state, headers);
        Ok(write)
    }

    fn numbered(headers: &HeaderMap, node: &Arc<NodeSession>) -> Result<WriteId, Response> {
        let Some(session) = headers.get(SESSION_HEADER) else {
            return Ok(node.admit());
        };
        let session = session
            .to_str()
            .ok()
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            .filter(|s| *s != 0)
            .ok_or_else(|| {
                bad(format!(
                    "{SESSION_HEADER} must be 1 to 16 hex digits, not all zero"
                ))
            })?;
        let number = |name: &str| -> Result<Option<u64>, Response> {
            let Some(value) = headers.get(name) else {
                return Ok(None);
            };
            let parsed = value.to_str().ok().and_then(|v| v.parse::<u64>().ok());
            match parsed {
                Some(n) if (1..=SEQ_MAX).contains(&n) => Ok(Some(n)),
                _ => Err(bad(format!("{name} must be a number from 1 to {SEQ_MAX}"))),
            }
        };
        let seq = number(SEQ_HEADER)?
            .ok_or_else(|| bad(format!("{SESSION_HEADER} needs {SEQ_HEADER} too")))?;
        let floor = number(FLOOR_HEADER)?.unwrap_or(seq);
        if floor > seq {
            return Err(bad(format!(
                "{FLOOR_HEADER} must not be above {SEQ_HEADER}"
            )));
        }
        Ok(WriteId {
            session,
            seq,
            floor,
            actor: None,
            _in_flight: None,
        })
    }

    /// Part `part` of this request as a session write, audited with its operator's name.
    pub(crate) fn command(&self, part: u64, command: Command) -> Command {
        debug_assert!(
            part < PARTS_MAX,
            "a request proposes at most PARTS_MAX commands"
        );
        // Recorded events name what happened themselves; every other change is audited.
        let command = match &self.actor {
            Some(actor) if !matches!(command, Command::RecordEvents { .. }) => Command::Audited {
                actor: actor.clone(),
                at_ms: now_ms(),
                command: Box::new(command),
            },
            _ => command,
        };
        Command::Session {
            session: self.session,
            seq: self.seq * PARTS_MAX + part.min(PARTS_MAX - 1),
            floor: self.floor * PARTS_MAX,
            at_ms: now_ms(),
            command: Box::new(command),
        }
    }

    /// The headers that carry this identity to the master.
    pub(crate) fn headers(&self) -> [(&'static str, String); 3] {
        [
            (SESSION_HEADER, format!("{:016x}", self.session)),
            (SEQ_HEADER, self.seq.to_string()),
            (FLOOR_HEADER, self.floor.to_string()),
        ]
    }
}

fn bad(message: String) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}
