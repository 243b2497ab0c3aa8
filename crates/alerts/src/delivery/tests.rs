//! The delivery state machine, scripted: cmdb views and delivery outcomes in, steps out.
//! Times are plain numbers; nothing sleeps.

use super::*;

fn view(name: &str, cursor: u64, wanted: &[u64]) -> RecipientView {
    RecipientView {
        name: name.into(),
        cursor,
        wanted: wanted.to_vec(),
    }
}

fn send(recipient: &str, seq: u64) -> Step {
    Step::Send {
        recipient: recipient.into(),
        seq,
    }
}

fn record(recipient: &str, next_seq: u64) -> Step {
    Step::Record {
        recipient: recipient.into(),
        next_seq,
    }
}

#[test]
fn each_recipient_gets_its_alerts_in_order_one_at_a_time() {
    let mut deliverer = Deliverer::new();
    let views = [view("hook", 3, &[3, 5]), view("file", 4, &[5])];
    assert_eq!(
        deliverer.poll(&views, 0),
        [send("hook", 3), send("file", 5)]
    );
    assert_eq!(deliverer.poll(&views, 0), [], "one in flight per recipient");
    assert_eq!(deliverer.delivered("hook", 3), [record("hook", 4)]);
    // The cmdb has not recorded the cursor yet: the view still says 3.
    assert_eq!(deliverer.poll(&views, 0), [send("hook", 5)]);
    assert_eq!(deliverer.delivered("file", 5), [record("file", 6)]);
    assert_eq!(deliverer.delivered("hook", 5), [record("hook", 6)]);
    assert_eq!(deliverer.poll(&views, 0), [], "nothing is sent twice");
}

#[test]
fn a_failure_is_retried_with_doubling_waits_then_given_up_and_recorded() {
    let mut deliverer = Deliverer::new();
    let views = [view("hook", 0, &[7, 9])];
    let mut now = 1_000;
    assert_eq!(deliverer.poll(&views, now), [send("hook", 7)]);
    let mut waits = Vec::new();
    for _ in 1..ATTEMPTS_MAX {
        assert_eq!(deliverer.failed("hook", 7, "refused", now), []);
        let retry = deliverer.next_retry_ms().expect("a retry waits");
        waits.push(retry - now);
        assert_eq!(deliverer.poll(&views, retry - 1), [], "not before its time");
        now = retry;
        assert_eq!(deliverer.poll(&views, now), [send("hook", 7)]);
    }
    assert_eq!(waits, [1_000, 2_000, 4_000, 8_000]);
    assert_eq!(
        deliverer.failed("hook", 7, "refused", now),
        [
            Step::GiveUp {
                recipient: "hook".into(),
                seq: 7,
                attempts: ATTEMPTS_MAX,
                error: "refused".into()
            },
            record("hook", 8)
        ]
    );
    assert_eq!(
        deliverer.poll(&views, now),
        [send("hook", 9)],
        "the next alert goes at once"
    );
}

#[test]
fn a_new_master_resumes_from_the_recorded_cursor() {
    let mut old = Deliverer::new();
    let views = [view("hook", 10, &[10, 11, 12])];
    assert_eq!(old.poll(&views, 0), [send("hook", 10)]);
    assert_eq!(old.delivered("hook", 10), [record("hook", 11)]);
    // The old master's record committed; it died while sending 11.
    assert_eq!(old.poll(&views, 0), [send("hook", 11)]);
    let mut new = Deliverer::new();
    let views = [view("hook", 11, &[11, 12])];
    assert_eq!(new.poll(&views, 0), [send("hook", 11)]);
}

#[test]
fn stale_outcomes_and_removed_recipients_are_ignored() {
    let mut deliverer = Deliverer::new();
    assert_eq!(deliverer.poll(&[view("a", 0, &[1])], 0), [send("a", 1)]);
    assert_eq!(deliverer.delivered("a", 2), [], "not the alert in flight");
    assert_eq!(deliverer.poll(&[], 0), []);
    assert_eq!(deliverer.delivered("a", 1), [], "removed meanwhile");
    assert_eq!(deliverer.failed("b", 1, "x", 0), []);
}

#[test]
fn waits_double_up_to_the_cap() {
    let waits: Vec<u64> = (1..=9).map(retry_wait_ms).collect();
    assert_eq!(
        waits,
        [
            1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000
        ]
    );
}
