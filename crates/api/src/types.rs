//! JSON request and response bodies of `/v1/...`.

use serde::{Deserialize, Serialize};

/// `GET /v1/health`: whether this agent is up, without authentication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// Always "ok" when the agent answers.
    pub status: String,
    /// This node's id.
    pub node_id: u64,
    /// The master this node knows of, if any: only one it has heard from recently (on the
    /// master itself, one a quorum acknowledged recently), never a master gone silent.
    pub master: Option<u64>,
    /// `has` when this node is in contact with a master backed by a quorum, `lost` when it
    /// is not (no writes are possible through it); absent from agents that predate it.
    #[serde(default)]
    pub quorum: Option<String>,
}

/// `GET /v1/status`: the cluster as seen by the answering node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Status {
    /// The cluster's name.
    pub cluster_name: String,
    /// The node that answered.
    pub answered_by: u64,
    /// The current master's node id, if one is known: only one the answering node has
    /// heard from recently (see `Health::master`).
    pub master: Option<u64>,
    /// The current Raft term.
    pub term: u64,
    /// The highest committed log index.
    pub commit_index: u64,
    /// The highest log index applied on the answering node.
    pub applied_index: u64,
    /// Every node of the cluster, ordered by id.
    pub nodes: Vec<NodeStatus>,
    /// Every resource with its state, ordered by name.
    #[serde(default)]
    pub resources: Vec<crate::ResourceView>,
    /// `has` or `lost`, as in `Health::quorum`.
    #[serde(default)]
    pub quorum: Option<String>,
    /// The master the answering node last knew of, even one gone silent.
    #[serde(default)]
    pub last_master: Option<u64>,
    /// Milliseconds since the answering node last heard from a master (on the master: since
    /// a quorum last acknowledged it); `None` if never.
    #[serde(default)]
    pub master_contact_ms: Option<u64>,
    /// Whose view this is: `master` when the master produced it (the answering node asked
    /// the master for it), `local` when it is the answering node's own replica because no
    /// master could be reached; absent from agents that predate it.
    #[serde(default)]
    pub view: Option<String>,
    /// The node the client asked, when that node forwarded the request to the master (then
    /// `answered_by` is the master).
    #[serde(default)]
    pub forwarded_by: Option<u64>,
    /// Why the answering node could not get the master's view, when a master is known but
    /// did not answer (`view` is then `local`).
    #[serde(default)]
    pub master_unreachable: Option<String>,
    /// Every failed operation still counted (until a cleanup), newest first.
    #[serde(default)]
    pub failed_actions: Vec<FailedAction>,
    /// Temporary and lasting move preferences (`resource move`, `group move`) still in
    /// force, by resource.
    #[serde(default)]
    pub moves: Vec<PendingMove>,
    /// Every group with its members in start order, by name.
    #[serde(default)]
    pub groups: Vec<crate::GroupSpec>,
    // --- remote ---
    /// The remote monitors' verdict on every target the master judges (issue 13 point 3);
    /// empty in a `local` view.
    #[serde(default)]
    pub remote_views: Vec<RemoteView>,
    // --- upgrade ---
    /// The cluster format: which persisted formats every node can read, raised by the
    /// master once every node reports a newer one (rolling upgrades; ARCHITECTURE.md
    /// "Persisted formats"). Absent from agents that predate it.
    #[serde(default)]
    pub format: Option<u32>,
    // --- rotate ---
    /// Certificates (of a node or the CA) that expire within 30 days, each naming the fix.
    #[serde(default)]
    pub cert_warnings: Vec<crate::CertWarning>,
    // --- witness ---
    /// The witness the answering node's config names (`[witness] address`), if any: a
    /// two-node cluster without one cannot survive the loss of its master by itself.
    #[serde(default)]
    pub witness: Option<String>,
}

/// One target of the remote monitors in `Status::remote_views`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RemoteView {
    /// `<kind>:<name>`: `resource:web`, `vip:v1`, `listener:web@10.0.0.5:80`, `node:2`.
    pub target: String,
    /// The node it runs on.
    pub node: u64,
    /// `reachable`; `unreachable` (healthy on its node, a majority of the other nodes
    /// cannot reach it); `failed_inside` (its own monitor fails, the others reach it);
    /// `down` (both agree it is down); `unknown` (no outside view yet).
    pub verdict: String,
    /// The other nodes with a fresh view of it.
    pub observers: u32,
    /// Of those, the ones that reached it.
    pub reachable: u32,
}

/// One failed operation in `Status::failed_actions`: what failed, where, when and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FailedAction {
    /// The resource.
    pub resource: String,
    /// The node it failed on.
    pub node: u64,
    /// `start`, `monitor` or `stop`, when the operation log still holds it.
    pub operation: Option<String>,
    /// When the failure was recorded, in milliseconds since the Unix epoch.
    pub at_ms: Option<u64>,
    /// The failure in plain words, as the resource agent reported it.
    pub reason: Option<String>,
    /// Failures of this resource on this node since the last cleanup.
    pub fail_count: u32,
}

/// One move preference in `Status::moves`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PendingMove {
    /// The resource (for a group, its first member carries the group's preference).
    pub resource: String,
    /// The node preferred (positive score) or avoided (negative).
    pub node: u64,
    /// The preference's score; `1000000` is INFINITY.
    pub score: i64,
    /// When it ends by itself, in milliseconds since the Unix epoch; `None` until cleared.
    pub expires_at_ms: Option<u64>,
}

/// One node in `Status` and `GET /v1/nodes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeStatus {
    /// The node's id.
    pub id: u64,
    /// The node's name.
    pub name: String,
    /// `online`, `suspect` or `down`, as decided by the master; `unknown` for the other
    /// nodes when the answering node has no master (see `recorded_state`).
    pub state: String,
    /// `voter`, `learner`, or `none` when not (yet) in the Raft membership.
    pub role: String,
    /// Whether this node is the master.
    pub is_master: bool,
    /// Milliseconds since the master last heard this node's heartbeat; `None` when the
    /// answering node is not the master and so has no heartbeat data.
    pub last_heartbeat_ms: Option<u64>,
    /// Peer listener address.
    pub peer_addr: String,
    /// API listener address.
    pub api_addr: String,
    /// When the answering node has no master: the state the last master recorded.
    #[serde(default)]
    pub recorded_state: Option<String>,
    /// In standby: it runs no resources (`node standby`).
    #[serde(default)]
    pub standby: bool,
    /// In maintenance: its resources are left alone (`node maintenance`).
    #[serde(default)]
    pub maintenance: bool,
    // --- upgrade ---
    /// The node's encluster version (`encluster --version`), as its heartbeats report it
    /// to the master; `None` in a view that is not the master's, and for an agent of
    /// 0.11.0 or older, which reports none.
    #[serde(default)]
    pub version: Option<String>,
    /// The highest cluster format the node can write, as its heartbeats report it (1 for
    /// an agent that reports none); `None` in a view that is not the master's, or before
    /// the node's first heartbeat to this master.
    #[serde(default)]
    pub format: Option<u32>,
}

/// One event of `GET /v1/events`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    /// Sequence number; increases by one per event.
    pub seq: u64,
    /// When it happened, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Machine-readable kind, e.g. `node_health`.
    pub kind: String,
    /// Human-readable description.
    pub message: String,
    /// The event's structured fields.
    pub detail: serde_json::Value,
    /// `info`, `warning` or `critical`.
    #[serde(default)]
    pub severity: String,
    /// Who did it, for operator actions: the API token's label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// `GET /v1/events`: events with `seq >= since`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Events {
    /// The events, oldest first.
    pub events: Vec<Event>,
    /// The `since` to ask for next to get only newer events.
    pub next: u64,
}

/// `GET /v1/kv/{key}`: a value and the revision that wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KvValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// The key/value revision of the write that set it.
    pub revision: u64,
}

/// `PUT /v1/kv/{key}` result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KvWritten {
    /// The key/value revision of this write.
    pub revision: u64,
}

/// `POST /v1/join` request: sent by `encluster join` with a join token as bearer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JoinRequest {
    /// The new node's name (unique in the cluster).
    pub name: String,
    /// Where the new node's peer listener will be.
    pub peer_addr: String,
    /// Where the new node's API listener will be.
    pub api_addr: String,
    /// A PEM certificate signing request made with the new node's own key.
    pub csr_pem: String,
}

/// `POST /v1/join` answer: the new node's identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JoinResponse {
    /// The id the cluster gave the node.
    pub node_id: u64,
    /// The cluster's name.
    pub cluster_name: String,
    /// The node's certificate, signed by the cluster CA.
    pub cert_pem: String,
    /// The cluster CA certificate.
    pub ca_pem: String,
    /// The API address of every member, the new node included, for its `cli.toml`.
    #[serde(default)]
    pub api_addrs: Vec<String>,
}

/// `POST /v1/tokens/join` request: store a new join token, of which only the hash travels
/// (the CLI makes the secret and prints it once).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewJoinToken {
    /// SHA-256 of the token, 64 lower-case hex digits (`auth::token_hash`).
    pub hash: String,
    /// A note for the operator.
    pub label: String,
}

/// `GET /v1/ca`: the cluster CA certificate (public), so a joining node can pin it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaCert {
    /// PEM of the CA certificate.
    pub ca_pem: String,
}

/// Every error answer: a status code plus this body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong and, where possible, how to fix it.
    pub error: String,
}

/// Why a key cannot be stored: it has a `.` or `..` segment, which URL parsers (the CLI's,
/// a forwarding node's) resolve away, so the key would not be addressed byte for byte.
/// The agent refuses such keys and the client does not send them.
pub fn check_kv_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("the key is empty; give a key such as `app/config`".into());
    }
    if key
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(format!(
            "key {key:?} has a `.` or `..` segment, which URLs resolve away; \
             rename the segment (e.g. `dot` or `_..`)"
        ));
    }
    Ok(())
}

// --- web ---

/// One message of `GET /v1/stream` (server-sent events, `event: state`): sent when the
/// answering node's replica changes (at most every 100 ms) and at least once a second, so
/// a browser learns of a change, or of a lost master, within a second without polling.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StreamState {
    /// The node that sends the stream.
    pub node_id: u64,
    /// A number that grows with every change the node's replica applied: when it moved,
    /// what the client shows may be stale and is fetched again.
    pub applied: u64,
    /// The `since` of `GET /v1/events` that returns only events newer than this message.
    pub next_event: u64,
    /// The master the node heard from recently, as in `Health::master`.
    pub master: Option<u64>,
    /// `has` or `lost`, as in `Health::quorum`.
    pub quorum: String,
    /// When the message was sent, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}
