//! Client sessions: exactly-once application of client writes (the Raft thesis, §6.3).
//!
//! A write that may be retried (a client's retry, an API node forwarding again after a
//! change of master, a re-proposal after openraft discarded an entry whose fate it could
//! not know) travels as `Command::Session { session, seq, floor, .. }`. The state machine
//! remembers, per session, the results of the newest sequence numbers it applied; a
//! duplicate is answered with the original result and changes nothing.
//!
//! A session may have several requests in flight (an API node numbers all the requests it
//! admits in one session), so they may be applied out of order: `floor` is the lowest
//! sequence number the client still waits for, so every result below it may be forgotten,
//! and a number below it that was never applied is refused rather than applied late.
//! Everything here is a pure function of the log: expiry uses the masters' timestamps in
//! the commands, never a clock.

use std::collections::{BTreeMap, BTreeSet};

use model::Millis;
use serde::{Deserialize, Serialize};

use crate::command::CommandResult;
use crate::limits::{SESSION_IDLE_MS, SESSION_RESULTS_MAX, SESSIONS_MAX};

/// One client session's memory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SessionRecord {
    /// Every sequence number below this was answered (or is refused if it arrives late).
    pub floor: u64,
    /// Results of applied sequence numbers at or above `floor`, at most
    /// `SESSION_RESULTS_MAX` of them.
    pub results: BTreeMap<u64, CommandResult>,
    /// When the session last wrote (the master's clock, from the command).
    pub last_ms: Millis,
}

/// The sessions the state machine remembers, bounded in number and in idle time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Sessions {
    /// Session id to its record.
    pub by_id: BTreeMap<u64, SessionRecord>,
    /// (last write, session id) of every session, to expire the idlest first.
    pub by_age: BTreeSet<(Millis, u64)>,
    /// The newest master timestamp seen; time never runs backwards here, even when a new
    /// master's clock is behind the old one's.
    pub clock_ms: Millis,
}

/// What to do with a session write.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Apply the command, then [`Sessions::record`] its result.
    Apply,
    /// Already applied: answer with this result and change nothing.
    Duplicate(CommandResult),
}

impl Sessions {
    /// Decide whether `seq` of `session` is new. Forgets what `floor` allows, expires idle
    /// sessions first.
    pub fn admit(&mut self, session: u64, seq: u64, floor: u64, at_ms: Millis) -> Admission {
        self.clock_ms = self.clock_ms.max(at_ms);
        self.expire();
        let Some(record) = self.by_id.get_mut(&session) else {
            return Admission::Apply;
        };
        if floor > record.floor {
            record.floor = floor;
            record.results = record.results.split_off(&floor);
        }
        if let Some(result) = record.results.get(&seq) {
            return Admission::Duplicate(result.clone());
        }
        if seq < record.floor {
            return Admission::Duplicate(CommandResult::Rejected(format!(
                "write {seq} of session {session:016x} arrived after the session moved past \
                 it; its outcome is unknown: read the current state and retry with a new \
                 sequence number"
            )));
        }
        Admission::Apply
    }

    /// Remember the result of a write that [`Sessions::admit`] let through.
    pub fn record(&mut self, session: u64, seq: u64, floor: u64, result: &CommandResult) {
        let now = self.clock_ms;
        let record = self.by_id.entry(session).or_insert_with(|| SessionRecord {
            floor,
            ..SessionRecord::default()
        });
        self.by_age.remove(&(record.last_ms, session));
        record.last_ms = now;
        self.by_age.insert((now, session));
        record.results.insert(seq, result.clone());
        while record.results.len() > SESSION_RESULTS_MAX {
            // Too many answers kept for one session: forget the oldest, and refuse it
            // (rather than apply it again) should it ever be retried.
            if let Some((oldest, _)) = record.results.pop_first() {
                record.floor = record.floor.max(oldest + 1);
            }
        }
        while self.by_id.len() > SESSIONS_MAX {
            let Some((_, idlest)) = self.by_age.pop_first() else {
                break;
            };
            self.by_id.remove(&idlest);
        }
        debug_assert_eq!(
            self.by_id.len(),
            self.by_age.len(),
            "session index out of step"
        );
    }

    fn expire(&mut self) {
        while let Some(&(last_ms, id)) = self.by_age.first() {
            if last_ms.saturating_add(SESSION_IDLE_MS) >= self.clock_ms {
                break;
            }
            self.by_age.pop_first();
            self.by_id.remove(&id);
        }
    }
}
