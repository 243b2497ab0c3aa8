//! Limits of the cmdb, in one place so their relations can be checked at compile time.

/// Events kept in the replicated event log; older ones are dropped first.
pub const EVENTS_MAX: usize = 1000;
/// Largest key of the key/value table, in bytes.
pub const KEY_BYTES_MAX: usize = 512;
/// Largest value of the key/value table, in bytes.
pub const VALUE_BYTES_MAX: usize = 64 * 1024;
/// Largest number of keys in the key/value table.
pub const KEYS_MAX: usize = 1_000_000;
/// Largest number of nodes in a cluster at cluster format 2 and later, as many as a
/// cluster configuration may name (`model::NODE_COUNT_MAX`, issue 18).
pub const NODES_MAX: usize = 1_000;
/// Largest number of nodes at cluster format 1 (encluster 0.11.0): every replica must
/// reject the same registrations, so the higher limit waits for the format.
pub const NODES_MAX_FORMAT_1: usize = 256;
/// Largest number of stored API and join tokens.
pub const TOKENS_MAX: usize = 1024;
/// Revoked tokens remembered (to tell their users why); the oldest is forgotten first.
pub const REVOKED_TOKENS_MAX: usize = 1024;
/// Operation reports kept in the operation log.
pub const OPERATIONS_MAX: usize = 5000;
/// Events one command may record.
pub const EVENTS_PER_COMMAND_MAX: usize = 64;
/// Log entries since the last snapshot that trigger a new snapshot.
pub const SNAPSHOT_LOGS_SINCE_LAST: u64 = 5000;
/// Log entries kept behind a snapshot, so a slightly slow follower catches up from the log.
pub const LOGS_KEPT_BEHIND_SNAPSHOT: u64 = 1000;

/// Client sessions remembered for exactly-once writes; the idlest is forgotten first.
pub const SESSIONS_MAX: usize = 4096;
/// Results remembered per session (requests of one session that may be in flight at once).
pub const SESSION_RESULTS_MAX: usize = 1024;
/// A session idle this long (by the masters' clocks) is forgotten: far longer than any
/// retry of a write lasts (the API gives up forwarding after 10 s).
pub const SESSION_IDLE_MS: u64 = 5 * 60 * 1000;
/// Largest number of user-defined resource types.
pub const USER_TYPES_MAX: usize = 256;

const _: () = assert!(EVENTS_PER_COMMAND_MAX <= EVENTS_MAX);
const _: () = assert!(KEY_BYTES_MAX < VALUE_BYTES_MAX);
const _: () = assert!(LOGS_KEPT_BEHIND_SNAPSHOT < SNAPSHOT_LOGS_SINCE_LAST);

// --- app ---
/// Largest application checkpoint, in bytes (the application protocol states the same).
pub const CHECKPOINT_BYTES_MAX: usize = 64 * 1024;
/// Most checkpoint bytes one resource may hold, all names together.
pub const CHECKPOINT_TOTAL_BYTES_MAX: usize = 1024 * 1024;
/// Longest checkpoint name, in bytes.
pub const CHECKPOINT_NAME_BYTES_MAX: usize = 64;
const _: () = assert!(CHECKPOINT_BYTES_MAX <= CHECKPOINT_TOTAL_BYTES_MAX);
// --- mon ---
/// Incidents kept; older ones are dropped first.
pub const INCIDENTS_MAX: usize = 200;
/// Resources one incident follows (a node running more still gets its incident).
pub const INCIDENT_RESOURCES_MAX: usize = 256;
/// Alert recipients and threshold rules.
pub const ALERTS_MAX: usize = 64;
/// Longest alert name, target (path, URL or rule) and recipient value, in bytes.
pub const ALERT_TEXT_BYTES_MAX: usize = 1024;
/// Longest an alert executable or webhook may take: Pacemaker's default is 30 s.
pub const ALERT_TIMEOUT_MS_MAX: u64 = 5 * 60 * 1000;
/// Longest operator name recorded with an action.
pub const ACTOR_BYTES_MAX: usize = 128;

const _: () = assert!(INCIDENTS_MAX <= EVENTS_MAX);
// --- users ---
/// Largest number of users.
pub const USERS_MAX: usize = 256;
/// Largest number of open login sessions; the oldest gives way to a new one.
pub const LOGINS_MAX: usize = 4096;
/// Largest number of open login sessions of one user; its oldest gives way to a new one.
pub const LOGINS_PER_USER_MAX: usize = 64;
/// Longest stored password hash (an argon2id PHC string is about 100 bytes).
pub const PASSWORD_HASH_BYTES_MAX: usize = 512;

const _: () = assert!(LOGINS_PER_USER_MAX <= LOGINS_MAX);
const _: () = assert!(USERS_MAX <= TOKENS_MAX);

const _: () = assert!(NODES_MAX_FORMAT_1 <= NODES_MAX);
const _: () = assert!(NODES_MAX == model::NODE_COUNT_MAX);
