//! The peer channel: node-to-node traffic over mutually authenticated TLS.
//!
//! Raft RPCs, heartbeats to the master, and writes forwarded to the master all travel as
//! postcard bodies in HTTP POSTs. Only clients with a node certificate from the cluster CA
//! get past the TLS handshake, and handlers refuse certificates that name no node.

mod client;
mod network;
mod server;

pub use client::PeerClient;
pub use network::Network;
pub use server::{PeerState, router};

use model::BootMs;
use serde::{Deserialize, Serialize};

/// A heartbeat from a node to the master.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The sender.
    pub node_id: u64,
    /// The term of the master the sender addresses.
    pub term: u64,
    /// Milliseconds since the sender last received anything from a leader of an older
    /// term (or since its agent started): see `contact`.
    pub older_contact_age_ms: u64,
}

// --- upgrade ---
/// What a heartbeat carries after the `Heartbeat` itself: the sender's version and the
/// highest cluster format it can write. An agent of 0.11.0 sends none and, as a master,
/// reads the heartbeat and ignores what follows (postcard reads a value and leaves the
/// rest), so old and new agents understand each other during a rolling upgrade.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HeartbeatVersion {
    /// `encluster --version` of the sender.
    pub version: String,
    /// The highest cluster format it can write (`cmdb::FORMAT_CURRENT`).
    pub format: u32,
}

/// What a heartbeat carries after the version: how loaded the sender is. An agent of
/// 0.12.0 or older sends none, and as a master reads the version and ignores the rest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HeartbeatLoad {
    /// The sender's recent event-loop lag (`lag::LoopLag::recent_ms`), in milliseconds.
    pub loop_lag_ms: u64,
}

/// A heartbeat as the master loop sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeartbeatSeen {
    /// The sender.
    pub node: u64,
    /// The term it addressed.
    pub term: u64,
    /// Its newest contact with a leader of an older term, on the master's boot clock (an
    /// upper bound: the heartbeat's transit only makes the time later).
    pub older_contact: BootMs,
    /// The event-loop lag it reported (0 from an agent that reports none).
    pub loop_lag_ms: u64,
    /// When the peer listener received it: the master loop may read it much later (it
    /// awaits its writes), and the detector must count the heartbeat when it arrived.
    pub received: BootMs,
}

/// The master's answer to a heartbeat.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HeartbeatAck {
    /// Whether the receiver is still the master.
    pub is_master: bool,
    /// Whether the master renewed the sender's lease (only a master with a fresh quorum
    /// acknowledgement does).
    pub lease_granted: bool,
    /// The master's committed log index when it answered; the sender uses the lease only
    /// after applying this far, so it has seen every assignment made before the grant.
    pub commit_index: u64,
    /// Age of the quorum acknowledgement the grant rests on: the sender's lease runs from
    /// when it sent the heartbeat minus this, so that it ends no later than the lease
    /// measured from the acknowledged Raft message.
    pub quorum_age_ms: u64,
}

/// A read forwarded to the master for a linearizable answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ForwardedRead {
    /// The key to read.
    pub key: String,
}

// --- remote ---
/// A node's newest remote-monitor views, sent to the master once a second.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RemoteReport {
    /// The observer.
    pub node_id: u64,
    /// Its newest view of each target it watches.
    pub views: Vec<RemoteViewWire>,
}

/// One observer's view of one target.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RemoteViewWire {
    /// The target's id (`resource:web`).
    pub target: String,
    /// The node the target ran on when probed.
    pub owner: u64,
    /// Whether the probe succeeded.
    pub reachable: bool,
    /// Why it failed.
    pub detail: String,
}
