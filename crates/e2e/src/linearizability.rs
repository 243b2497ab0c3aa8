//! A linearizability checker for the key/value API, and the randomized fault workload that
//! feeds it (`workload`).
//!
//! The checker is Wing & Gong's search with Lowe's memoisation, as in Knossos and Porcupine:
//! find an order of the operations that respects real time (an operation that returned
//! before another was called comes first) and in which every read returns the value of the
//! latest write. Each key is a register checked on its own (linearizability is compositional,
//! Herlihy & Wing). A write whose answer never came may have taken effect at any moment after
//! its call, or never; a read without an answer tells nothing and is dropped; a write refused
//! for sure did not happen.
//!
//! Next to the search, cheaper checks name the anomaly in words: a value seen with two
//! revisions (a write applied twice), a read of an overwritten value (stale, or a write that
//! came back), and acknowledged writes lost at the end (the final read of a key must not show
//! an older value than an acknowledged write).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

mod wgl;
pub mod workload;

#[cfg(test)]
mod tests;

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered with success at `return_ns`.
    Ok { return_ns: u64 },
    /// Refused for sure: it did not take effect.
    Failed,
    /// No answer: a write may or may not have taken effect, at any moment after its call.
    Unknown,
}

/// What an operation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Set the key to `value` (unique in the history); `revision` is the acknowledged one.
    Write {
        value: String,
        revision: Option<u64>,
    },
    /// Read the key: its value and the revision that set it, `None` if absent.
    Read { value: Option<(String, u64)> },
}

/// One client operation on one key, with the times on the test's single monotonic clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// The client (one session per client).
    pub client: u32,
    /// The key.
    pub key: String,
    /// When the client called (first attempt).
    pub call_ns: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// What it did or saw.
    pub action: Action,
    /// A read of the final state, after every fault was healed.
    pub final_read: bool,
}

impl Op {
    fn return_ns(&self) -> Option<u64> {
        match self.outcome {
            Outcome::Ok { return_ns } => Some(return_ns),
            _ => None,
        }
    }

    fn written(&self) -> Option<&str> {
        match &self.action {
            Action::Write { value, .. } => Some(value),
            Action::Read { .. } => None,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |ns: u64| ns as f64 / 1e6;
        let end = match self.outcome {
            Outcome::Ok { return_ns } => format!("{:.1} ms", ms(return_ns)),
            Outcome::Failed => "refused".to_string(),
            Outcome::Unknown => "no answer".to_string(),
        };
        let what = match &self.action {
            Action::Write { value, revision } => match revision {
                Some(revision) => format!("write {value:?} (revision {revision})"),
                None => format!("write {value:?}"),
            },
            Action::Read {
                value: Some((value, revision)),
            } => {
                format!("read {value:?} (revision {revision})")
            }
            Action::Read { value: None } => "read <absent>".to_string(),
        };
        let final_read = if self.final_read { " final" } else { "" };
        write!(
            f,
            "client {}{final_read} {what} of {:?} [{:.1} ms .. {end}]",
            self.client,
            self.key,
            ms(self.call_ns)
        )
    }
}

/// One violation, described for a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// The key.
    pub key: String,
    /// The kind, for counting and for tests.
    pub kind: AnomalyKind,
    /// What happened, with the operations involved.
    pub description: String,
}

/// The kinds of anomaly the checker reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AnomalyKind {
    /// No linearization exists (the search's verdict).
    NotLinearizable,
    /// The search gave up within its budget: neither proven nor refuted.
    Undecided,
    /// A value seen with two different revisions: the write was applied twice.
    AppliedTwice,
    /// A read returned a value no write wrote.
    PhantomRead,
    /// A read returned a value overwritten before the read began.
    StaleRead,
    /// An acknowledged write's value is gone at the end, replaced by an older one.
    LostWrite,
}

/// The checker's findings over a whole history.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Keys checked.
    pub keys: usize,
    /// Operations that entered the search (refused writes and unanswered reads excluded).
    pub ops_checked: usize,
    /// Every anomaly; empty when the history is linearizable with no lost write.
    pub anomalies: Vec<Anomaly>,
}

impl Report {
    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.anomalies.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} keys, {} operations checked, {} anomalies",
            self.keys,
            self.ops_checked,
            self.anomalies.len()
        )?;
        for anomaly in &self.anomalies {
            writeln!(
                f,
                "- {:?} on {:?}: {}",
                anomaly.kind, anomaly.key, anomaly.description
            )?;
        }
        Ok(())
    }
}

/// Search steps per key before the search gives up (reported as `Undecided`).
pub const STEPS_MAX: u64 = 20_000_000;

/// Check `history`: linearizability per key, writes applied twice, stale reads and lost
/// acknowledged writes.
pub fn check(history: &[Op]) -> Report {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in history {
        by_key.entry(&op.key).or_default().push(op);
    }
    let mut report = Report {
        keys: by_key.len(),
        ..Report::default()
    };
    for (key, ops) in by_key {
        let mut found = Vec::new();
        found.extend(applied_twice(key, &ops));
        found.extend(bad_reads(key, &ops));
        found.extend(lost_writes(key, &ops));
        let (checked, verdict) = wgl::check_key(&ops, STEPS_MAX);
        report.ops_checked += checked;
        if let Err((kind, description)) = verdict {
            found.push(Anomaly {
                key: key.to_string(),
                kind,
                description,
            });
        }
        report.anomalies.extend(found);
    }
    report
}

/// Every revision a value was seen with, and by which operation.
fn revisions_seen<'a>(ops: &[&'a Op]) -> HashMap<&'a str, Vec<(u64, &'a Op)>> {
    let mut seen: HashMap<&str, Vec<(u64, &Op)>> = HashMap::new();
    for op in ops {
        let pair = match (&op.action, op.outcome) {
            (
                Action::Write {
                    value,
                    revision: Some(r),
                },
                Outcome::Ok { .. },
            ) => Some((value, *r)),
            (
                Action::Read {
                    value: Some((value, r)),
                },
                Outcome::Ok { .. },
            ) => Some((value, *r)),
            _ => None,
        };
        if let Some((value, revision)) = pair {
            seen.entry(value).or_default().push((revision, op));
        }
    }
    seen
}

fn applied_twice(key: &str, ops: &[&Op]) -> Vec<Anomaly> {
    let mut found = Vec::new();
    let mut seen: Vec<_> = revisions_seen(ops).into_iter().collect();
    seen.sort_by_key(|(value, _)| *value);
    for (value, sightings) in seen {
        let (first_revision, first_op) = sightings[0];
        if let Some((revision, op)) = sightings.iter().find(|(r, _)| *r != first_revision) {
            found.push(Anomaly {
                key: key.to_string(),
                kind: AnomalyKind::AppliedTwice,
                description: format!(
                    "value {value:?} has revision {first_revision} in `{first_op}` and \
                     {revision} in `{op}`: its write was applied twice"
                ),
            });
        }
    }
    found
}

/// Reads of values nobody wrote, and reads of a value whose write was followed, in real
/// time, by another write that completed before the read began.
fn bad_reads(key: &str, ops: &[&Op]) -> Vec<Anomaly> {
    let writes: HashMap<&str, &Op> = ops
        .iter()
        .filter(|op| op.outcome != Outcome::Failed)
        .filter_map(|op| op.written().map(|value| (value, *op)))
        .collect();
    let mut found = Vec::new();
    for read in ops {
        let (
            Action::Read {
                value: Some((value, _)),
            },
            Outcome::Ok { .. },
        ) = (&read.action, read.outcome)
        else {
            continue;
        };
        let Some(write) = writes.get(value.as_str()) else {
            found.push(Anomaly {
                key: key.to_string(),
                kind: AnomalyKind::PhantomRead,
                description: format!(
                    "`{read}` saw a value no operation wrote (or whose write was refused)"
                ),
            });
            continue;
        };
        if let Some(newer) = overwriter_before(ops, write, read.call_ns) {
            found.push(Anomaly {
                key: key.to_string(),
                kind: AnomalyKind::StaleRead,
                description: format!(
                    "`{read}` saw the value of `{write}`, which `{newer}` had overwritten \
                     before the read began (a stale read, or an old write applied again)"
                ),
            });
        }
    }
    found
}

/// An acknowledged write that began after `write` returned and returned before `before_ns`.
fn overwriter_before<'a>(ops: &[&'a Op], write: &Op, before_ns: u64) -> Option<&'a Op> {
    let written_ns = write.return_ns()?;
    ops.iter().copied().find(|op| {
        op.written().is_some()
            && op.call_ns > written_ns
            && op.return_ns().is_some_and(|r| r < before_ns)
    })
}

/// Acknowledged writes the final read of the key does not reflect: the final value is
/// absent, or older (by revision or in real time) than the acknowledged write.
fn lost_writes(key: &str, ops: &[&Op]) -> Vec<Anomaly> {
    let final_read = ops
        .iter()
        .filter(|op| op.final_read && matches!(op.outcome, Outcome::Ok { .. }))
        .max_by_key(|op| op.call_ns);
    let Some(final_read) = final_read else {
        return Vec::new();
    };
    let Action::Read { value: final_value } = &final_read.action else {
        return Vec::new();
    };
    let final_write = final_value
        .as_ref()
        .and_then(|(value, _)| ops.iter().find(|op| op.written() == Some(value.as_str())));
    let mut found = Vec::new();
    for write in ops {
        let (Action::Write { value, revision }, Outcome::Ok { .. }) =
            (&write.action, write.outcome)
        else {
            continue;
        };
        if final_value.as_ref().is_some_and(|(v, _)| v == value) {
            continue;
        }
        let lost = match (final_value, final_write) {
            (None, _) => true,
            (Some((_, final_revision)), final_write) => {
                revision.is_some_and(|r| r > *final_revision)
                    || final_write
                        .and_then(|w| w.return_ns())
                        .is_some_and(|r| r < write.call_ns)
            }
        };
        if lost {
            found.push(Anomaly {
                key: key.to_string(),
                kind: AnomalyKind::LostWrite,
                description: format!(
                    "acknowledged `{write}` is gone: after every fault was healed, \
                     `{final_read}`"
                ),
            });
        }
    }
    found
}
