//! The checker on small hand-written histories, each with the anomalies it must find.
//! Times are in milliseconds; `None` as a return time means no answer.

use super::{Action, AnomalyKind, Op, Outcome, check};

const MS: u64 = 1_000_000;

fn outcome(return_ms: Option<u64>) -> Outcome {
    match return_ms {
        Some(ms) => Outcome::Ok { return_ns: ms * MS },
        None => Outcome::Unknown,
    }
}

/// A write of `value` by `client` over [call, return]; its revision when acknowledged.
fn write(client: u32, value: &str, call_ms: u64, return_ms: Option<u64>, revision: u64) -> Op {
    Op {
        client,
        key: "k".into(),
        call_ns: call_ms * MS,
        outcome: outcome(return_ms),
        action: Action::Write {
            value: value.into(),
            revision: return_ms.map(|_| revision),
        },
        final_read: false,
    }
}

/// A read by `client` over [call, return] that saw `value` at `revision` ("" = absent).
fn read(client: u32, value: &str, revision: u64, call_ms: u64, return_ms: Option<u64>) -> Op {
    Op {
        client,
        key: "k".into(),
        call_ns: call_ms * MS,
        outcome: outcome(return_ms),
        action: Action::Read {
            value: (!value.is_empty()).then(|| (value.to_string(), revision)),
        },
        final_read: false,
    }
}

fn final_read(value: &str, revision: u64, call_ms: u64, return_ms: u64) -> Op {
    Op {
        final_read: true,
        ..read(9, value, revision, call_ms, Some(return_ms))
    }
}

fn check_kinds(history: &[Op], expected: &[AnomalyKind]) {
    let report = check(history);
    let mut kinds: Vec<AnomalyKind> = report.anomalies.iter().map(|a| a.kind).collect();
    kinds.sort();
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(kinds, expected, "report:\n{report}");
}

#[test]
fn sequential_history_is_linearizable() {
    check_kinds(
        &[
            read(1, "", 0, 0, Some(1)),
            write(1, "a", 2, Some(3), 1),
            read(2, "a", 1, 4, Some(5)),
            write(2, "b", 6, Some(7), 2),
            read(1, "b", 2, 8, Some(9)),
            final_read("b", 2, 10, 11),
        ],
        &[],
    );
}

#[test]
fn stale_read_is_not_linearizable() {
    check_kinds(
        &[
            write(1, "a", 0, Some(1), 1),
            write(2, "b", 2, Some(3), 2),
            read(3, "a", 1, 4, Some(5)),
        ],
        &[AnomalyKind::StaleRead, AnomalyKind::NotLinearizable],
    );
}

#[test]
fn issue_10_write_reappears_after_a_later_write() {
    // Client 1's acknowledged write of "a" comes back, at a newer revision, after client 2's
    // later write of "b" was acknowledged and read.
    check_kinds(
        &[
            write(1, "a", 0, Some(10), 1),
            write(2, "b", 11, Some(12), 2),
            read(3, "b", 2, 13, Some(14)),
            read(3, "a", 3, 15, Some(16)),
            final_read("a", 3, 20, 21),
        ],
        &[
            AnomalyKind::AppliedTwice,
            AnomalyKind::StaleRead,
            AnomalyKind::StaleRead,
            AnomalyKind::NotLinearizable,
            AnomalyKind::LostWrite,
        ],
    );
}

#[test]
fn concurrent_writes_may_be_ordered_either_way() {
    let writes = [write(1, "a", 0, Some(10), 1), write(2, "b", 1, Some(9), 2)];
    for (seen, revision) in [("a", 1), ("b", 2)] {
        let mut history = writes.to_vec();
        history.push(read(3, seen, revision, 2, Some(8)));
        history.push(read(3, seen, revision, 11, Some(12)));
        check_kinds(&history, &[]);
    }
    // But once a read saw "b" after both completed, no later read may see "a".
    let mut history = writes.to_vec();
    history.push(read(3, "b", 2, 11, Some(12)));
    history.push(read(4, "a", 1, 13, Some(14)));
    check_kinds(&history, &[AnomalyKind::NotLinearizable]);
}

#[test]
fn reads_concurrent_with_a_write_may_flip_only_once() {
    // Two sequential reads during one write: old then new is fine, new then old is not.
    let base = [write(0, "a", 0, Some(1), 1), write(1, "b", 2, Some(20), 2)];
    let mut fine = base.to_vec();
    fine.extend([read(2, "a", 1, 3, Some(4)), read(2, "b", 2, 5, Some(6))]);
    check_kinds(&fine, &[]);
    let mut flipped = base.to_vec();
    flipped.extend([read(2, "b", 2, 3, Some(4)), read(2, "a", 1, 5, Some(6))]);
    check_kinds(&flipped, &[AnomalyKind::NotLinearizable]);
}

#[test]
fn unanswered_write_may_take_effect_late_or_never() {
    // "b" never answered: it may take effect after its call, even after later operations...
    let late = [
        write(1, "a", 0, Some(1), 1),
        write(2, "b", 2, None, 0),
        read(3, "a", 1, 10, Some(11)),
        read(3, "b", 5, 20, Some(21)),
        final_read("b", 5, 30, 31),
    ];
    check_kinds(&late, &[]);
    // ...or never.
    let never = [
        write(1, "a", 0, Some(1), 1),
        write(2, "b", 2, None, 0),
        read(3, "a", 1, 10, Some(11)),
        final_read("a", 1, 30, 31),
    ];
    check_kinds(&never, &[]);
    // But not before its call.
    let early = [read(3, "b", 5, 0, Some(1)), write(2, "b", 2, None, 0)];
    check_kinds(&early, &[AnomalyKind::NotLinearizable]);
}

#[test]
fn unanswered_read_and_refused_write_are_dropped() {
    let mut refused = write(2, "b", 2, Some(3), 2);
    refused.outcome = Outcome::Failed;
    check_kinds(
        &[
            write(1, "a", 0, Some(1), 1),
            refused,
            read(3, "zzz", 7, 4, None),
            read(3, "a", 1, 5, Some(6)),
        ],
        &[],
    );
    // A refused write that is seen anyway was applied after all.
    let mut refused = write(2, "b", 2, Some(3), 2);
    refused.outcome = Outcome::Failed;
    check_kinds(
        &[
            write(1, "a", 0, Some(1), 1),
            refused,
            read(3, "b", 2, 5, Some(6)),
        ],
        &[AnomalyKind::PhantomRead, AnomalyKind::NotLinearizable],
    );
}

#[test]
fn lost_acknowledged_write_is_reported() {
    // The final read shows an older value than an acknowledged write: the write was lost.
    check_kinds(
        &[
            write(1, "a", 0, Some(1), 1),
            write(2, "b", 2, Some(3), 2),
            final_read("a", 1, 10, 11),
        ],
        &[
            AnomalyKind::StaleRead,
            AnomalyKind::NotLinearizable,
            AnomalyKind::LostWrite,
        ],
    );
    // The key is gone altogether.
    check_kinds(
        &[write(1, "a", 0, Some(1), 1), final_read("", 0, 10, 11)],
        &[AnomalyKind::NotLinearizable, AnomalyKind::LostWrite],
    );
}

#[test]
fn keys_are_checked_separately() {
    let mut other = write(2, "x", 0, Some(1), 1);
    other.key = "other".into();
    let report = check(&[
        other,
        write(1, "a", 2, Some(3), 2),
        read(3, "a", 2, 4, Some(5)),
    ]);
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.keys, 2);
    assert_eq!(report.ops_checked, 3);
}

#[test]
fn many_concurrent_clients_are_checked_quickly() {
    // 20 clients, each writing then reading its own value while all overlap: the
    // memoisation keeps this small; a correct history must pass.
    let mut history = Vec::new();
    for client in 0..20u32 {
        let value = format!("v{client}");
        let start = u64::from(client);
        history.push(write(
            client,
            &value,
            start,
            Some(100 + start),
            1 + u64::from(client),
        ));
    }
    history.push(read(99, "v19", 20, 200, Some(201)));
    check_kinds(&history, &[]);
}

#[test]
fn description_names_the_blocking_operation() {
    let report = check(&[
        write(1, "a", 0, Some(1), 1),
        write(2, "b", 2, Some(3), 2),
        read(3, "a", 1, 4, Some(5)),
    ]);
    let search = report
        .anomalies
        .iter()
        .find(|a| a.kind == AnomalyKind::NotLinearizable)
        .expect("a search verdict");
    assert!(
        search.description.contains("client 3 read \"a\""),
        "{}",
        search.description
    );
}
