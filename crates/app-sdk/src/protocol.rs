//! The wire format of the application protocol, version 1 (see `docs/app-protocol.md`).
//!
//! Newline-delimited JSON over a Unix stream socket. The application sends [`Request`]s,
//! each with an `id` of its choosing; the agent answers each with a [`Reply`] carrying the
//! same `id`, and sends [`AgentEvent`]s, which have no `id`, whenever something happens.
//! Everything here is plain data and pure functions, shared by the agent and the SDK.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The protocol version this crate speaks; `hello` names it and the agent refuses others.
pub const PROTOCOL_VERSION: u32 = 1;

/// The environment variable that holds the agent's socket path.
pub const ENV_SOCKET: &str = "ENCLUSTER_APP_SOCKET";

/// The environment variable that holds this instance's token.
pub const ENV_TOKEN: &str = "ENCLUSTER_APP_TOKEN";

/// One message from the application to the agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Chosen by the application; echoed in the reply.
    pub id: u64,
    /// What is asked.
    #[serde(flatten)]
    pub op: Op,
}

/// What a [`Request`] asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Authenticate as an instance; must come first. Answered with a [`Hello`].
    Hello {
        /// [`PROTOCOL_VERSION`] of the client.
        version: u32,
        /// The instance's token, from [`ENV_TOKEN`].
        token: String,
    },
    /// The resource's current parameters, as a map of name to text.
    Params,
    /// The answer to a [`AgentEvent::ParamsChanged`]: accept (applied) or reject with a reason.
    ParamsAnswer {
        /// The `change` of the event.
        change: u64,
        /// Whether the application took the new parameters.
        accept: bool,
        /// Why not, when it rejects; shown to the operator.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The application's own health check; a failure is a monitor failure.
    Health {
        /// Which check this is.
        depth: Depth,
        /// Whether it passed.
        healthy: bool,
        /// Why not, when it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Store a checkpoint, replicated through the cluster database and fenced by the
    /// instance's fencing token.
    CheckpointPut {
        /// Letters, digits, `-`, `_` and `.`, at most `CHECKPOINT_NAME_BYTES_MAX` bytes.
        name: String,
        /// The contents, base64 (standard alphabet, padded).
        data: String,
    },
    /// Read a checkpoint; the result is `{"data": <base64 or null>}`.
    CheckpointGet {
        /// The checkpoint's name.
        name: String,
    },
    /// After [`AgentEvent::PrepareStop`]: the application has drained and may be stopped.
    StopReady,
    /// Does nothing; answered at once (for liveness and latency measurement).
    Ping,
    /// The answer to [`AgentEvent::Promote`] or [`AgentEvent::Demote`]: done, or failed
    /// with a reason. It is the result of the cluster's promote or demote action.
    RoleAnswer {
        /// The `change` of the event.
        change: u64,
        /// Whether the instance now runs in the asked role.
        done: bool,
        /// Why not, when it failed; recorded as the action's failure.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Sets this instance's promotion score (an instance of a promotable resource is
    /// promoted only where it set one; the highest wins), or clears it with `null`.
    PromotionScore {
        /// From -1000000 to 1000000 (Pacemaker's INFINITY), or `None` to clear it.
        score: Option<i64>,
    },
}

/// The two depths of a health check, as in MSCS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Depth {
    /// Cheap and frequent (MSCS's LooksAlive).
    LooksAlive,
    /// Thorough and rarer (MSCS's IsAlive).
    IsAlive,
}

/// One message from the agent to the application: a reply or an event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AgentMessage {
    /// The answer to a request.
    Reply(Reply),
    /// Something the application must know or do.
    Event(AgentEvent),
}

/// The answer to the request with the same `id`: exactly one of `ok` and `error`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The request's `id` (zero when the request could not be read at all).
    pub id: u64,
    /// The result, on success (`{}` when there is nothing to say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<serde_json::Value>,
    /// What went wrong, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ProtocolError>,
}

/// A refused request: a stable `code` for programs and a `message` for people that names
/// the problem and the fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ProtocolError {
    /// One of the `code` constants of [`codes`] (clients must accept unknown ones).
    pub code: String,
    /// For people.
    pub message: String,
}

/// The error codes of version 1.
pub mod codes {
    /// The line is not valid JSON, or not a request this version knows.
    pub const BAD_REQUEST: &str = "bad_request";
    /// The line is longer than `MESSAGE_BYTES_MAX`; the connection is closed.
    pub const TOO_LARGE: &str = "too_large";
    /// `hello` must come first.
    pub const HELLO_FIRST: &str = "hello_first";
    /// The token or the peer's credentials do not match a running instance.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// The client speaks another protocol version.
    pub const VERSION: &str = "version";
    /// The agent serves as many connections as it may; try again later.
    pub const BUSY: &str = "busy";
    /// The request is well formed but not allowed: a checkpoint over its limits, or
    /// written under a fencing token that no longer holds the resource.
    pub const REFUSED: &str = "refused";
    /// The cluster cannot answer now (no master); retrying may help.
    pub const UNAVAILABLE: &str = "unavailable";
    /// The instance this connection belonged to has stopped.
    pub const GONE: &str = "gone";
}

/// Events the agent sends without being asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AgentEvent {
    /// The operator changed the resource's parameters: check them and answer with
    /// [`Op::ParamsAnswer`] (validate-then-set). Without an answer in time the change
    /// counts as rejected and the instance is restarted with the new parameters.
    ParamsChanged {
        /// Names this offer in the answer.
        change: u64,
        /// All the parameters, as they would be.
        params: BTreeMap<String, String>,
    },
    /// The instance is about to be stopped: stop taking new work, finish what runs, and
    /// send [`Op::StopReady`]; the stop signal comes at the deadline at the latest.
    PrepareStop {
        /// Milliseconds from now until the stop signal.
        deadline_ms: u64,
    },
    /// Become the promoted (primary) instance, then answer with [`Op::RoleAnswer`].
    Promote {
        /// Names this request in the answer.
        #[serde(default)]
        change: u64,
    },
    /// Become an unpromoted (secondary) instance, then answer with [`Op::RoleAnswer`].
    Demote {
        /// Names this request in the answer.
        #[serde(default)]
        change: u64,
    },
    /// This node's lease is lost: stop serving now. Another instance may start elsewhere.
    LeaseLost {
        /// Why, for logs.
        reason: String,
    },
}

/// The answer to `hello`: who this instance is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol version the agent speaks.
    pub protocol: u32,
    /// The resource's name.
    pub resource: String,
    /// The node the instance runs on.
    pub node: String,
    /// This instance's name: `<resource>@<node>#<fencing token>`.
    pub instance: String,
    /// The fencing token (epoch) of the grant the instance runs under; a newer instance of
    /// the same resource always has a larger one.
    pub fencing_token: u64,
    /// Only one instance of the resource may run at a time.
    pub unique: bool,
    /// How long this node's lease still runs, in milliseconds (`None`: no lease yet).
    pub lease_ms: Option<u64>,
    /// The resource's parameters.
    pub params: BTreeMap<String, String>,
    /// The limits the agent enforces.
    pub limits: Limits,
}

/// The limits an agent enforces, sent in [`Hello`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// See `limits::MESSAGE_BYTES_MAX`.
    pub message_bytes_max: usize,
    /// See `limits::CHECKPOINT_BYTES_MAX`.
    pub checkpoint_bytes_max: usize,
    /// See `limits::CHECKPOINT_TOTAL_BYTES_MAX`.
    pub checkpoint_total_bytes_max: usize,
}

impl Limits {
    /// The limits of this crate's version.
    pub fn current() -> Limits {
        Limits {
            message_bytes_max: crate::limits::MESSAGE_BYTES_MAX,
            checkpoint_bytes_max: crate::limits::CHECKPOINT_BYTES_MAX,
            checkpoint_total_bytes_max: crate::limits::CHECKPOINT_TOTAL_BYTES_MAX,
        }
    }
}

impl ProtocolError {
    /// An error with `code` (one of [`codes`]) and a message.
    pub fn new(code: &str, message: impl Into<String>) -> ProtocolError {
        ProtocolError {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

impl Reply {
    /// A successful reply.
    pub fn ok(id: u64, result: serde_json::Value) -> Reply {
        Reply {
            id,
            ok: Some(result),
            error: None,
        }
    }

    /// A refusal.
    pub fn error(id: u64, error: ProtocolError) -> Reply {
        Reply {
            id,
            ok: None,
            error: Some(error),
        }
    }
}

/// Reads one request line (without its newline). A line that is not a request gets a
/// `bad_request` error naming the problem; its `id` is recovered when the line has one,
/// so the client can match the refusal.
pub fn parse_request(line: &[u8]) -> Result<Request, (u64, ProtocolError)> {
    serde_json::from_slice::<Request>(line).map_err(|error| {
        let id = serde_json::from_slice::<serde_json::Value>(line)
            .ok()
            .and_then(|value| value.get("id").and_then(serde_json::Value::as_u64))
            .unwrap_or(0);
        let message = format!(
            "not a request of protocol version {PROTOCOL_VERSION}: {error}; send one JSON \
             object per line with an integer \"id\" and an \"op\" (see docs/app-protocol.md)"
        );
        (id, ProtocolError::new(codes::BAD_REQUEST, message))
    })
}

/// One message as a line: its JSON and a newline.
pub fn encode_line(message: &impl Serialize) -> Vec<u8> {
    let mut line = serde_json::to_vec(message).expect("protocol messages always serialize");
    line.push(b'\n');
    line
}

/// Checks a checkpoint's name and size before it is sent or stored. Each problem is a
/// sentence naming the limit.
pub fn check_checkpoint(name: &str, data_len: usize) -> Result<(), String> {
    use crate::limits::{CHECKPOINT_BYTES_MAX, CHECKPOINT_NAME_BYTES_MAX};
    let valid_name = !name.is_empty()
        && name.len() <= CHECKPOINT_NAME_BYTES_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid_name {
        return Err(format!(
            "checkpoint name {name:?} is not valid: use 1 to {CHECKPOINT_NAME_BYTES_MAX} \
             letters, digits, '-', '_' or '.'"
        ));
    }
    if data_len > CHECKPOINT_BYTES_MAX {
        return Err(format!(
            "checkpoint {name:?} has {data_len} bytes, above the limit of \
             {CHECKPOINT_BYTES_MAX}: keep checkpoints small and put bulk data elsewhere"
        ));
    }
    Ok(())
}
