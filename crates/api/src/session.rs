//! Exactly-once writes: the headers that name a write's client session and number.
//!
//! A client that may retry a write (after a timeout, a broken connection, or against
//! another node) sends every write with its session and a number that grows by one per
//! new write; a retry repeats the number. The cluster applies each (session, number) at
//! most once and answers a repeat with the first answer. One request at a time per
//! session; a client with several requests in flight uses several sessions. Sessions are
//! forgotten after five minutes without a write.

/// Header naming a client's session: 1 to 16 hex digits, not all zero.
pub const SESSION_HEADER: &str = "encluster-session";
/// Header with the write's number in its session, from 1.
pub const SEQ_HEADER: &str = "encluster-seq";
/// Header with the lowest number of the session still waiting for its answer (defaults to
/// the request's own number).
pub const FLOOR_HEADER: &str = "encluster-floor";

/// One client session: an id and the number of its next write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteSession {
    /// The session's id (not zero).
    pub id: u64,
    /// The number the next new write gets.
    pub next_seq: u64,
}

impl WriteSession {
    /// A session with the given id (0 becomes 1), numbering from 1.
    pub fn new(id: u64) -> WriteSession {
        WriteSession {
            id: id.max(1),
            next_seq: 1,
        }
    }

    /// The number for a new write; a retry of it reuses the returned number.
    pub fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }
}
