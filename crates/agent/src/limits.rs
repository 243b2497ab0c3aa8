//! Limits of the agent, in one place. The `const` assertions at the end check how the
//! lease constants relate; `config/timing.rs` checks their relations with config values
//! when a config is loaded.

use std::time::Duration;

/// Largest API request body (key/value writes, joins).
pub const API_BODY_BYTES_MAX: usize = 256 * 1024;
/// The longest drain of a resource: a planned stop waits at most this long.
pub const DRAIN_MAX: Duration = Duration::from_secs(600);
/// Largest peer request body (Raft appends and snapshots).
pub const PEER_BODY_BYTES_MAX: usize = 256 * 1024 * 1024;
/// Time a client gets to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout of a forwarded write or read on the peer channel.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of a non-master's request for the master's status view; past it, the node
/// answers with its own view and says the master did not answer.
pub const STATUS_FORWARD_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest `alert test` waits for its recipient, so the answer comes back through a
/// forwarding node before the forward gives up.
pub const ALERT_TEST_TIMEOUT_MAX: Duration = Duration::from_secs(8);
/// Timeout of one heartbeat request.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_millis(300);
/// Longest an events request may wait for new events.
pub const EVENTS_WAIT_MAX: Duration = Duration::from_secs(30);
/// Most events one events request returns.
pub const EVENTS_PAGE_MAX: usize = 1000;
/// Most OCF agents `GET /v1/types` lists (Debian's resource-agents has about 150).
pub const OCF_AGENTS_MAX: usize = 2000;
/// Most resource agents the API keeps for their described types; past it, it starts anew.
pub const TYPE_CACHE_MAX: usize = 512;
/// How often the master's loop checks the failure detector.
pub const MASTER_TICK: Duration = Duration::from_millis(20);
/// Attempts of a master write while a fresh master is not yet accepting writes.
pub const MASTER_WRITE_ATTEMPTS: u32 = 50;
/// Longest wait for a voter change to commit before the master re-plans.
pub const MEMBERSHIP_CHANGE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a node may run unique resources after the heartbeat that renewed its lease
/// was sent (on its boot clock). Longer than a master election (twice the election timeout
/// maximum) plus a heartbeat interval plus the fence margin, so that a master failover does
/// not make every node stop its unique resources: 600 + 100 + 150 ms with the defaults.
pub const NODE_LEASE: Duration = Duration::from_millis(900);
/// Added to a lease before the master treats it as ended (clock-rate drift, scheduling).
pub const LEASE_MARGIN: Duration = Duration::from_millis(50);
/// A master grants leases only while its last quorum acknowledgement is at most this old;
/// kept below the election timeout so that a deposed master stops granting before a new
/// master can be elected.
pub const QUORUM_FRESH: Duration = Duration::from_millis(100);
/// How long a new master waits for a node to check in before it may treat the node as
/// down (once its lease has surely ended); two heartbeat intervals.
pub const UNHEARD_GRACE: Duration = Duration::from_millis(200);
/// How long a new master keeps a voter whose agent it has not heard from in its term, but
/// whose Raft side acknowledges it, before it may replace the voter however the detector
/// judges it: a follower whose first heartbeats are slow (a cluster starting on a loaded
/// machine) must not be dropped from the voter set at start-up. A voter that acknowledges
/// nothing (the old master, dead) or that was heard in the term and then lost is replaced
/// at the detector's speed; resources never wait for this.
pub const UNHEARD_VOTER_GRACE: Duration = Duration::from_secs(5);
/// How soon a node asks again when a master did not renew its lease (a master just
/// elected renews once a quorum has acknowledged it).
pub const LEASE_RETRY: Duration = Duration::from_millis(15);
/// For how long after a new master appears a node retries that quickly.
pub const LEASE_RETRY_WINDOW: Duration = Duration::from_millis(500);
/// Attempts to deliver one operation report to the master.
pub const REPORT_ATTEMPTS: u32 = 100;
/// Longest interval between scheduling rounds when nothing changed (expiring moves).
pub const SCHEDULE_INTERVAL_MAX: Duration = Duration::from_millis(250);

const _: () = assert!(HEARTBEAT_TIMEOUT.as_millis() < FORWARD_TIMEOUT.as_millis());
const _: () = assert!(ALERT_TEST_TIMEOUT_MAX.as_millis() < FORWARD_TIMEOUT.as_millis());
const _: () = assert!(
    QUORUM_FRESH.as_millis() + executor::FENCE_MARGIN_DEFAULT.as_millis() < NODE_LEASE.as_millis(),
    "a lease granted on the stalest acknowledgement still outlasts the fence margin"
);
const _: () = assert!(
    HEARTBEAT_TIMEOUT.as_millis()
        + QUORUM_FRESH.as_millis()
        + executor::FENCE_MARGIN_DEFAULT.as_millis()
        < NODE_LEASE.as_millis(),
    "a lease from the slowest answered heartbeat still leaves time to run"
);
const _: () = assert!(
    LEASE_MARGIN.as_millis() > 0,
    "the master waits past a lease"
);
const _: () = assert!(
    LEASE_RETRY.as_millis() < LEASE_RETRY_WINDOW.as_millis(),
    "quick lease retries happen within their window"
);
const _: () = assert!(
    LEASE_RETRY_WINDOW.as_millis() < NODE_LEASE.as_millis(),
    "a failover's quick retries end before the lease would"
);

// --- app ---
/// Application protocol connections served at once; one more is told `busy` and closed.
pub(crate) const APP_CONNECTIONS_MAX: usize = 128;
/// Events queued for one application connection before the slowest are dropped.
pub(crate) const APP_EVENTS_PER_CONNECTION_MAX: usize = 32;
/// How long a checkpoint write waits for this node's replica to apply it.
pub(crate) const CHECKPOINT_APPLY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

// --- hostile ---
/// First wait after a failed accept (out of file descriptors); it doubles while accepts fail.
pub(crate) const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
/// Longest wait after failed accepts.
pub(crate) const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Refused connections being told why at once; past it, one more is closed unanswered.
pub(crate) const REFUSALS_MAX: usize = 64;
/// Longest request head (request line and fields) the API reads; hyper answers 431 past it.
pub(crate) const REQUEST_HEAD_BYTES_MAX: usize = 64 * 1024;
/// HTTP/2 streams one API connection may have open at once.
pub(crate) const H2_STREAMS_MAX: u32 = 128;
/// Largest `POST /v1/join` body: a name, two addresses and a CSR of about 1 KB.
pub(crate) const JOIN_BODY_BYTES_MAX: usize = 16 * 1024;
/// Default time a client has to send an API request head.
pub(crate) const API_HEADER_READ_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
/// Default time a client has to send a whole API request body.
pub(crate) const API_BODY_READ_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);
/// Default API connections served at once.
pub(crate) const API_CONNECTIONS_MAX_DEFAULT: usize = 1024;
/// Default API connections served at once from one client address.
pub(crate) const API_CONNECTIONS_PER_CLIENT_MAX_DEFAULT: usize = 128;
/// Peer connections served at once (every member holds a few to every other).
pub(crate) const PEER_CONNECTIONS_MAX: usize = 1024;
/// Time a peer has to send a request head.
pub(crate) const PEER_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Shortest and longest read timeouts the config file may set.
pub(crate) const READ_TIMEOUT_MIN: Duration = Duration::from_secs(1);
pub(crate) const READ_TIMEOUT_MAX: Duration = Duration::from_secs(600);

const _: () = assert!(ACCEPT_BACKOFF_MIN.as_millis() < ACCEPT_BACKOFF_MAX.as_millis());
const _: () = assert!(JOIN_BODY_BYTES_MAX < API_BODY_BYTES_MAX);
const _: () = assert!(API_CONNECTIONS_PER_CLIENT_MAX_DEFAULT <= API_CONNECTIONS_MAX_DEFAULT);
// --- users ---
/// Failed logins in a row that cost nothing; the next one locks the user name.
pub(crate) const LOGIN_FAILURES_FREE: u32 = 5;
/// The first lockout; each further failure doubles it.
pub(crate) const LOGIN_LOCKOUT_FIRST: std::time::Duration = std::time::Duration::from_secs(30);
/// The longest lockout.
pub(crate) const LOGIN_LOCKOUT_MAX: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// Failures this long past their lockout are forgotten.
pub(crate) const LOGIN_FAILURES_FORGET: std::time::Duration =
    std::time::Duration::from_secs(60 * 60);
/// User names whose failures the master remembers; the oldest is forgotten first.
pub(crate) const LOGIN_NAMES_MAX: usize = 4096;
/// Password checks (argon2id, 19 MiB each) running at once on one node.
pub(crate) const PASSWORD_CHECKS_MAX: usize = 2;
/// A login session's lifetime unless the login asks for a shorter one.
pub(crate) const LOGIN_LIFETIME_DEFAULT: std::time::Duration =
    std::time::Duration::from_secs(8 * 60 * 60);
/// The longest login session a login may ask for.
pub(crate) const LOGIN_LIFETIME_MAX: std::time::Duration =
    std::time::Duration::from_secs(24 * 60 * 60);

const _: () = assert!(LOGIN_LOCKOUT_FIRST.as_secs() < LOGIN_LOCKOUT_MAX.as_secs());
const _: () = assert!(LOGIN_LIFETIME_DEFAULT.as_secs() <= LOGIN_LIFETIME_MAX.as_secs());

// --- web ---
/// Most `GET /v1/stream` connections one node serves at once (browsers of the web UI).
pub const STREAMS_MAX: usize = 64;
/// The longest a stream stays silent: it says that nothing changed (and who is master) at
/// least this often, so a browser notices a lost master within a second.
pub const STREAM_BEAT: Duration = Duration::from_millis(900);
/// How long a stream gathers changes before it sends one message for all of them.
pub const STREAM_COALESCE: Duration = Duration::from_millis(100);
const _: () = assert!(STREAM_COALESCE.as_millis() < STREAM_BEAT.as_millis());
const _: () = assert!(STREAM_BEAT.as_millis() + STREAM_COALESCE.as_millis() <= 1000);
