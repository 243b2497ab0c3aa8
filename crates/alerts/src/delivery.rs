//! Once-per-recipient delivery as a sans-IO state machine: the master's runtime tells it
//! what the cmdb holds (each recipient's cursor and the events it wants) and the outcome of
//! each delivery, with `now`; it answers with the deliveries to start, the cursors to
//! record and the alerts given up. One delivery per recipient is in flight at a time, in
//! event order, so recording a cursor after each success is enough for a new master to
//! resume without sending a delivered alert again.

use std::collections::BTreeMap;

/// Attempts per alert and recipient before it is given up (and recorded as an event).
pub const ATTEMPTS_MAX: u32 = 5;
/// The wait after the first failed attempt; it doubles after each further failure.
pub const RETRY_FIRST_MS: u64 = 1_000;
/// The longest wait between two attempts.
pub const RETRY_MAX_MS: u64 = 60_000;

const _: () = assert!(RETRY_FIRST_MS <= RETRY_MAX_MS);

/// What the cmdb says about one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientView {
    /// Its name.
    pub name: String,
    /// The first event not yet delivered to it, as recorded.
    pub cursor: u64,
    /// The events at or after `cursor` that pass its filters, ascending.
    pub wanted: Vec<u64>,
}

/// What the runtime must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Deliver event `seq`'s alert to `recipient`, and report the outcome.
    Send { recipient: String, seq: u64 },
    /// Record in the cmdb that `recipient` has every alert before `next_seq`.
    Record { recipient: String, next_seq: u64 },
    /// Record an event: event `seq`'s alert to `recipient` failed `attempts` times.
    GiveUp {
        recipient: String,
        seq: u64,
        attempts: u32,
        error: String,
    },
}

#[derive(Clone, Debug, Default)]
struct State {
    /// The first event not yet delivered, as this master knows it (ahead of the cmdb's
    /// while its record is being written).
    cursor: u64,
    in_flight: Option<u64>,
    failures: u32,
    retry_at_ms: u64,
}

/// The delivery state of one master's term; a new master starts a new one from the cmdb.
#[derive(Debug, Default)]
pub struct Deliverer {
    states: BTreeMap<String, State>,
}

impl Deliverer {
    /// A deliverer with nothing in flight.
    pub fn new() -> Deliverer {
        Deliverer::default()
    }

    /// Look at the cmdb's view at `now_ms`: start the next delivery of every recipient that
    /// has none in flight and is not waiting to retry. Recipients no longer configured are
    /// forgotten.
    pub fn poll(&mut self, views: &[RecipientView], now_ms: u64) -> Vec<Step> {
        self.states
            .retain(|name, _| views.iter().any(|view| &view.name == name));
        let mut steps = Vec::new();
        for view in views {
            let state = self.states.entry(view.name.clone()).or_default();
            state.cursor = state.cursor.max(view.cursor);
            if state.in_flight.is_some() || now_ms < state.retry_at_ms {
                continue;
            }
            if let Some(&seq) = view.wanted.iter().find(|&&seq| seq >= state.cursor) {
                state.in_flight = Some(seq);
                steps.push(Step::Send {
                    recipient: view.name.clone(),
                    seq,
                });
            }
        }
        steps
    }

    /// When the next retry is due, if one waits.
    pub fn next_retry_ms(&self) -> Option<u64> {
        self.states
            .values()
            .filter(|state| state.in_flight.is_none() && state.failures > 0)
            .map(|state| state.retry_at_ms)
            .min()
    }

    /// `recipient` accepted event `seq`'s alert.
    pub fn delivered(&mut self, recipient: &str, seq: u64) -> Vec<Step> {
        let Some(state) = self.in_flight(recipient, seq) else {
            return Vec::new();
        };
        state.in_flight = None;
        state.failures = 0;
        state.retry_at_ms = 0;
        state.cursor = state.cursor.max(seq + 1);
        vec![Step::Record {
            recipient: recipient.to_owned(),
            next_seq: seq + 1,
        }]
    }

    /// Delivering event `seq`'s alert to `recipient` failed at `now_ms`: retry after a
    /// doubling wait, or give up after `ATTEMPTS_MAX` attempts and go on with the next.
    pub fn failed(&mut self, recipient: &str, seq: u64, error: &str, now_ms: u64) -> Vec<Step> {
        let Some(state) = self.in_flight(recipient, seq) else {
            return Vec::new();
        };
        state.in_flight = None;
        state.failures += 1;
        if state.failures < ATTEMPTS_MAX {
            state.retry_at_ms = now_ms.saturating_add(retry_wait_ms(state.failures));
            return Vec::new();
        }
        let attempts = state.failures;
        state.failures = 0;
        state.retry_at_ms = 0;
        state.cursor = state.cursor.max(seq + 1);
        vec![
            Step::GiveUp {
                recipient: recipient.to_owned(),
                seq,
                attempts,
                error: error.to_owned(),
            },
            Step::Record {
                recipient: recipient.to_owned(),
                next_seq: seq + 1,
            },
        ]
    }

    fn in_flight(&mut self, recipient: &str, seq: u64) -> Option<&mut State> {
        self.states
            .get_mut(recipient)
            .filter(|state| state.in_flight == Some(seq))
    }
}

/// The wait after the `failures`-th failure in a row: 1 s, doubling, at most 60 s.
pub fn retry_wait_ms(failures: u32) -> u64 {
    let doublings = failures.saturating_sub(1).min(16);
    (RETRY_FIRST_MS << doublings).min(RETRY_MAX_MS)
}

#[cfg(test)]
mod tests;
