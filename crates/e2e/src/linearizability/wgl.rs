//! The search for a linearization of one key's history: Wing & Gong's algorithm with Lowe's
//! memoisation of (set of operations linearized, register state), as in Porcupine.
//!
//! The history becomes a doubly linked list of call and return events in time order. The
//! search walks it from the head: at a call it tries to apply that operation to the register
//! now (lifting its call and return out of the list); at a return it has met an operation that
//! must already have taken effect, so it backtracks. A write without an answer returns at
//! infinity: when the first return left in the list is such a one, every answered operation
//! has been placed, and the unanswered writes not placed never happened.

use std::collections::HashSet;

use super::{Action, AnomalyKind, Op, Outcome};

const NIL: usize = usize::MAX;

/// A value of the register: an index into the written values, `None` when absent.
type State = Option<u32>;

struct Entry {
    op: usize,
    is_call: bool,
    /// The other event of the same operation.
    partner: usize,
    prev: usize,
    next: usize,
}

/// One operation as the search sees it.
struct Step {
    /// `Some(v)`: a write of value v; `None`: a read.
    write: Option<u32>,
    /// What a read saw.
    read: State,
    /// Whether it has an answer (a return before infinity).
    answered: bool,
}

/// A growable bit set of operation indices.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(len: usize) -> Bits {
        Bits(vec![0; len.div_ceil(64)])
    }
    fn flip(&mut self, i: usize) {
        self.0[i / 64] ^= 1 << (i % 64);
    }
}

/// Check one key's operations; the number that entered the search, and `Err` with the
/// anomaly's kind and description when no linearization exists (or the budget ran out).
pub(crate) fn check_key(ops: &[&Op], steps_max: u64) -> (usize, Result<(), (AnomalyKind, String)>) {
    let read: HashSet<&str> = ops
        .iter()
        .filter_map(|op| match (&op.action, op.outcome) {
            (
                Action::Read {
                    value: Some((v, _)),
                },
                Outcome::Ok { .. },
            ) => Some(v.as_str()),
            _ => None,
        })
        .collect();
    let kept: Vec<&Op> = ops
        .iter()
        .copied()
        .filter(|op| enters_search(op, &read))
        .collect();
    let mut values: Vec<&str> = kept.iter().filter_map(|op| op.written()).collect();
    values.sort_unstable();
    values.dedup();
    let index = |value: &str| values.binary_search(&value).ok().map(|i| i as u32);
    let mut steps = Vec::with_capacity(kept.len());
    for op in &kept {
        let step = match &op.action {
            Action::Write { value, .. } => Step {
                write: index(value),
                read: None,
                answered: op.return_ns().is_some(),
            },
            Action::Read { value } => Step {
                write: None,
                // A value nobody wrote matches no state: the read cannot be placed.
                read: value.as_ref().map(|(v, _)| index(v).unwrap_or(u32::MAX)),
                answered: true,
            },
        };
        steps.push(step);
    }
    let mut list = build_list(&kept);
    let verdict = search(&mut list, &steps, steps_max).map_err(|failure| match failure {
        Failure::Budget => (
            AnomalyKind::Undecided,
            format!(
                "the search gave up after {steps_max} steps over {} operations",
                kept.len()
            ),
        ),
        Failure::Stuck(deepest) => (
            AnomalyKind::NotLinearizable,
            describe(&kept, &values, &deepest),
        ),
    });
    (kept.len(), verdict)
}

/// Refused writes never happened and unanswered reads tell nothing: both are left out. A
/// write without an answer whose value nobody saw is left out too: placing it or not changes
/// no read (values are unique), and leaving it out keeps the search small.
fn enters_search(op: &Op, read: &HashSet<&str>) -> bool {
    match (&op.action, op.outcome) {
        (_, Outcome::Failed) => false,
        (Action::Read { .. }, Outcome::Unknown) => false,
        (Action::Write { value, .. }, Outcome::Unknown) => read.contains(value.as_str()),
        _ => true,
    }
}

/// The events in time order (calls before returns at the same instant, so that touching
/// operations count as concurrent), linked behind a head at index 0.
fn build_list(ops: &[&Op]) -> Vec<Entry> {
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        events.push((op.call_ns, false, i));
        events.push((op.return_ns().unwrap_or(u64::MAX), true, i));
    }
    // (time, is_return, op): calls sort before returns at equal times.
    events.sort_unstable();
    let mut list = vec![Entry {
        op: NIL,
        is_call: false,
        partner: NIL,
        prev: NIL,
        next: NIL,
    }];
    let mut call_of = vec![NIL; ops.len()];
    for (position, &(_, is_return, op)) in events.iter().enumerate() {
        let here = position + 1;
        list.push(Entry {
            op,
            is_call: !is_return,
            partner: NIL,
            prev: here - 1,
            next: if position + 1 < events.len() {
                here + 1
            } else {
                NIL
            },
        });
        if is_return {
            let call = call_of[op];
            list[call].partner = here;
            list[here].partner = call;
        } else {
            call_of[op] = here;
        }
    }
    list[0].next = if events.is_empty() { NIL } else { 1 };
    list
}

fn lift(list: &mut [Entry], call: usize) {
    let ret = list[call].partner;
    for entry in [call, ret] {
        let (prev, next) = (list[entry].prev, list[entry].next);
        list[prev].next = next;
        if next != NIL {
            list[next].prev = prev;
        }
    }
}

fn unlift(list: &mut [Entry], call: usize) {
    let ret = list[call].partner;
    for entry in [ret, call] {
        let (prev, next) = (list[entry].prev, list[entry].next);
        list[prev].next = entry;
        if next != NIL {
            list[next].prev = entry;
        }
    }
}

/// How the search failed.
enum Failure {
    Budget,
    /// The deepest partial linearization (operations in order, the state after them) and
    /// the operation that could not be placed after it.
    Stuck(Deepest),
}

struct Deepest {
    order: Vec<usize>,
    state: State,
    blocked: usize,
}

fn search(list: &mut [Entry], steps: &[Step], steps_max: u64) -> Result<(), Failure> {
    let mut state: State = None;
    let mut linearized = Bits::new(steps.len());
    let mut cache: HashSet<(Bits, State)> = HashSet::new();
    let mut stack: Vec<(usize, State)> = Vec::new();
    let mut deepest: Option<Deepest> = None;
    let mut entry = list[0].next;
    let mut count = 0u64;
    while entry != NIL {
        count += 1;
        if count > steps_max {
            return Err(Failure::Budget);
        }
        let op = list[entry].op;
        let step = &steps[op];
        if list[entry].is_call {
            let next_state = match step.write {
                Some(value) => Some(Some(value)),
                None => (step.read == state).then_some(state),
            };
            if let Some(next_state) = next_state {
                let mut next_bits = linearized.clone();
                next_bits.flip(op);
                if cache.insert((next_bits.clone(), next_state)) {
                    stack.push((entry, state));
                    state = next_state;
                    linearized = next_bits;
                    lift(list, entry);
                    entry = list[0].next;
                    continue;
                }
            }
            entry = list[entry].next;
            continue;
        }
        if !step.answered {
            // Only unanswered writes are left unplaced: they never happened.
            return Ok(());
        }
        if deepest.as_ref().is_none_or(|d| stack.len() > d.order.len()) {
            deepest = Some(Deepest {
                order: stack.iter().map(|(call, _)| list[*call].op).collect(),
                state,
                blocked: op,
            });
        }
        let Some((call, previous)) = stack.pop() else {
            return Err(Failure::Stuck(deepest.expect("set just above")));
        };
        linearized.flip(list[call].op);
        state = previous;
        unlift(list, call);
        entry = list[call].next;
    }
    Ok(())
}

fn describe(ops: &[&Op], values: &[&str], deepest: &Deepest) -> String {
    let state = match deepest.state {
        Some(v) => format!("{:?}", values[v as usize]),
        None => "<absent>".to_string(),
    };
    let mut text = format!(
        "no order of the operations respects real time and the register: the longest valid \
         order places {} of {} operations, leaving the value {state}, and then `{}` cannot be \
         placed; the last operations of that order:",
        deepest.order.len(),
        ops.len(),
        ops[deepest.blocked]
    );
    let tail = deepest.order.len().saturating_sub(4);
    for op in &deepest.order[tail..] {
        text.push_str(&format!("\n    {}", ops[*op]));
    }
    text
}
