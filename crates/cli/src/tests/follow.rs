//! `events --follow` decisions: which events print, when to warn, and how long to back off.
//!
//! The `Follower` is sans-IO, so the tests feed it answers and failures and check each step.

use std::collections::VecDeque;
use std::time::Duration;

use crate::events::{AnswerStep, FailureStep, Follower, keep_last};

fn event(seq: u64) -> api::Event {
    api::Event {
        seq,
        at_ms: 1_000 + seq,
        kind: "test".to_string(),
        message: format!("event {seq}"),
        detail: serde_json::Value::Null,
        severity: "info".into(),
        actor: None,
    }
}

fn answer(seqs: &[u64], next: u64) -> api::Events {
    api::Events {
        events: seqs.iter().copied().map(event).collect(),
        next,
    }
}

fn seqs(events: &[api::Event]) -> Vec<u64> {
    events.iter().map(|event| event.seq).collect()
}

#[test]
fn follower_prints_new_events_and_asks_for_the_next_ones() {
    let mut follower = Follower::new(5);
    let step = follower.on_answer(answer(&[5, 6], 7));
    assert_eq!(seqs(&step.events), [5, 6]);
    assert_eq!(step.notice, None);
    assert_eq!(follower.since(), 7);
    let step = follower.on_answer(answer(&[], 7));
    assert_eq!(
        step,
        AnswerStep {
            events: vec![],
            notice: None
        }
    );
    assert_eq!(follower.since(), 7);
}

#[test]
fn follower_skips_events_already_printed_and_never_goes_back() {
    let mut follower = Follower::new(7);
    // Another agent answered after a reconnection and sent older events too.
    let step = follower.on_answer(answer(&[5, 6, 7, 8], 9));
    assert_eq!(seqs(&step.events), [7, 8]);
    assert_eq!(follower.since(), 9);
    // A lagging agent's `next` must not make the follower print events twice.
    let step = follower.on_answer(answer(&[], 4));
    assert!(step.events.is_empty());
    assert_eq!(follower.since(), 9);
}

#[test]
fn follower_warns_once_per_outage_and_backs_off_up_to_a_second() {
    let mut follower = Follower::new(0);
    let steps: Vec<FailureStep> = (0..7)
        .map(|_| follower.on_failure("cannot reach the encluster API at X"))
        .collect();
    let delays: Vec<u128> = steps.iter().map(|step| step.delay.as_millis()).collect();
    assert_eq!(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
    assert_eq!(
        steps[0].warning.as_deref(),
        Some("warning: cannot reach the encluster API at X; retrying")
    );
    assert!(steps[1..].iter().all(|step| step.warning.is_none()));
    assert_eq!(follower.since(), 0, "a failure does not move since");

    let step = follower.on_answer(answer(&[0], 1));
    assert_eq!(step.notice.as_deref(), Some("reconnected"));
    let step = follower.on_failure("again");
    assert_eq!(
        step,
        FailureStep {
            warning: Some("warning: again; retrying".to_string()),
            delay: Duration::from_millis(100),
        }
    );
}

#[test]
fn keep_last_keeps_the_newest_events_from_since() {
    let mut kept = VecDeque::new();
    keep_last(&mut kept, answer(&[3, 4, 5], 6).events, 4, 3);
    keep_last(&mut kept, answer(&[6, 7], 8).events, 4, 3);
    assert_eq!(seqs(&Vec::from(kept)), [5, 6, 7]);

    let mut kept = VecDeque::new();
    keep_last(&mut kept, answer(&[0, 1], 2).events, 2, 0);
    assert!(kept.is_empty());
}
