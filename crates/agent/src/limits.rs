//! Limits of the agent, in one place.

use std::time::Duration;

/// Largest API request body (key/value writes, joins).
pub const API_BODY_BYTES_MAX: usize = 256 * 1024;
/// Largest peer request body (Raft appends and snapshots).
pub const PEER_BODY_BYTES_MAX: usize = 256 * 1024 * 1024;
/// Time a client gets to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout of a forwarded write or read on the peer channel.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of one heartbeat request.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_millis(300);
/// Longest an events request may wait for new events.
pub const EVENTS_WAIT_MAX: Duration = Duration::from_secs(30);
/// Most events one events request returns.
pub const EVENTS_PAGE_MAX: usize = 1000;
/// How often the master's loop checks the failure detector.
pub const MASTER_TICK: Duration = Duration::from_millis(20);
/// Attempts of a master write while a fresh master is not yet accepting writes.
pub const MASTER_WRITE_ATTEMPTS: u32 = 50;
/// Longest wait for a voter change to commit before the master re-plans.
pub const MEMBERSHIP_CHANGE_TIMEOUT: Duration = Duration::from_secs(5);

const _: () = assert!(HEARTBEAT_TIMEOUT.as_millis() < FORWARD_TIMEOUT.as_millis());
