//! The leader-contact bound on old leases and the scheduling health built on it.

use std::collections::BTreeMap;

use super::*;

/// A time on the boot clock.
const fn b(ms: u64) -> BootMs {
    BootMs(ms)
}

#[test]
fn nothing_heard_means_the_process_start() {
    let contact = LeaderContact::new(b(1_000));
    assert_eq!(contact.newest_before(5), b(1_000));
    assert_eq!(contact.age_before(5, b(1_300)), Duration::from_millis(300));
}

#[test]
fn only_older_terms_count_and_the_newest_receipt_wins() {
    let contact = LeaderContact::new(b(0));
    contact.record(3, b(100));
    contact.record(3, b(250));
    contact.record(3, b(200));
    contact.record(4, b(900));
    assert_eq!(contact.newest_before(4), b(250));
    assert_eq!(contact.newest_before(5), b(900));
    assert_eq!(contact.newest_before(3), b(0));
}

#[test]
fn a_late_message_from_a_stale_leader_still_counts_after_folding() {
    let contact = LeaderContact::new(b(0));
    contact.record(1, b(5_000));
    for term in 2..20 {
        contact.record(term, b(term * 10));
    }
    // Term 1 was folded away, but its late receipt must still bound every newer term.
    assert_eq!(contact.newest_before(20), b(5_000));
    assert_eq!(contact.newest_before(15), b(5_000));
}

#[test]
fn bound_needs_a_majority_and_takes_the_majoritys_newest() {
    let voters = vec![vec![1, 2, 3]];
    let mut reported = BTreeMap::from([(2, b(1_000))]);
    assert_eq!(older_leaders_bound(&reported, &voters), None);
    reported.insert(3, b(1_040));
    assert_eq!(older_leaders_bound(&reported, &voters), Some(b(1_040)));
    // A third, older report makes a majority with an earlier newest time.
    reported.insert(1, b(900));
    assert_eq!(older_leaders_bound(&reported, &voters), Some(b(1_000)));
}

#[test]
fn joint_configs_each_need_a_majority() {
    let configs = vec![vec![1, 2, 3], vec![3, 4, 5]];
    let mut reported = BTreeMap::from([(1, b(100)), (2, b(200))]);
    assert_eq!(older_leaders_bound(&reported, &configs), None);
    reported.insert(4, b(300));
    reported.insert(5, b(400));
    assert_eq!(older_leaders_bound(&reported, &configs), Some(b(400)));
}

#[test]
fn reports_from_non_voters_do_not_count() {
    let voters = vec![vec![1, 2, 3]];
    let reported = BTreeMap::from([(1, b(10)), (7, b(20)), (8, b(30))]);
    assert_eq!(older_leaders_bound(&reported, &voters), None);
}

/// The master's term in these tests.
const TERM: u64 = 2;

const FACTS: LeaseFacts = LeaseFacts {
    term_start: b(1_500),
    older_leases_from: b(1_000),
    lease: Duration::from_millis(850),
    unheard_grace: Duration::from_millis(200),
};

#[test]
fn a_node_heard_in_this_term_is_down_only_a_lease_after_it_was_last_heard() {
    let down = Some(NodeHealth::Down);
    assert_eq!(
        scheduling_health(down, Some(b(2_000)), &FACTS, b(2_849)),
        NodeHealth::Suspect
    );
    assert_eq!(
        scheduling_health(down, Some(b(2_000)), &FACTS, b(2_850)),
        NodeHealth::Down
    );
    let suspect = Some(NodeHealth::Suspect);
    assert_eq!(
        scheduling_health(suspect, Some(b(2_000)), &FACTS, b(9_000)),
        NodeHealth::Suspect
    );
}

#[test]
fn an_unheard_node_is_down_once_older_leases_are_surely_over() {
    // The old master crashed at 1000 (the voters' last contact); this term began at 1500.
    for detected in [NodeHealth::Online, NodeHealth::Suspect] {
        let health = |now| scheduling_health(Some(detected), None, &FACTS, b(now));
        assert_eq!(health(1_849), detected);
        assert_eq!(health(1_850), NodeHealth::Down);
    }
    assert_eq!(
        scheduling_health(None, None, &FACTS, b(0)),
        NodeHealth::Down
    );
}

#[test]
fn an_unheard_node_gets_its_grace_even_when_older_leases_ended_long_ago() {
    let facts = LeaseFacts {
        older_leases_from: b(0),
        ..FACTS
    };
    let online = Some(NodeHealth::Online);
    assert_eq!(
        scheduling_health(online, None, &facts, b(1_699)),
        NodeHealth::Online
    );
    assert_eq!(
        scheduling_health(online, None, &facts, b(1_700)),
        NodeHealth::Down
    );
}

/// Issue 10: a lease is computed on the boot clock from the heartbeat's sending time less
/// the age of the quorum acknowledgement; no wall-clock time enters, so an NTP step cannot
/// lengthen it.
#[test]
fn r10_a_lease_runs_from_the_acknowledged_message_on_the_boot_clock() {
    let lease = Duration::from_millis(900);
    let age = Duration::from_millis(30);
    assert_eq!(lease_end(b(10_000), lease, age), b(10_870));
    assert_eq!(lease_end(b(10_000), lease, Duration::ZERO), b(10_900));
    // An acknowledgement older than the lease grants nothing usable.
    assert_eq!(lease_end(b(10), lease, Duration::from_secs(5)), b(0));
}

/// Issue 10 (two VIP holders at first placement): the master loop, busy writing, saw a
/// node's heartbeats late, judged its lease over and started its VIP elsewhere, while the
/// heartbeat handler had already granted that node a fresh lease on those heartbeats. The
/// handler now records each grant, and the master judges with the newest grant.
#[test]
fn r10_grants_are_remembered_per_term_and_the_newest_wins() {
    let contact = LeaderContact::new(b(0));
    let seen = |term| {
        let mut seen = None;
        contact.judge(term, |granted| {
            seen = granted(4);
            BTreeMap::new()
        });
        seen
    };
    assert_eq!(seen(3), None);
    assert!(contact.grant(3, 4, b(1_000)));
    assert!(contact.grant(3, 4, b(900)));
    assert_eq!(seen(3), Some(b(1_000)));
    // Only this term's grants count; a later term forgets them, and a stale handler still
    // answering under an older term grants nothing.
    assert_eq!(seen(2), None);
    assert!(contact.grant(4, 5, b(2_000)));
    assert_eq!(seen(4), None);
    assert!(!contact.grant(3, 4, b(3_000)));
    assert_eq!(seen(4), None);
}

/// The master's detector last heard node 4 at 2000; its heartbeat handler granted node 4 a
/// lease at 3000 on a heartbeat the loop has not processed: the node is not down before
/// that lease is over.
#[test]
fn r10_a_node_granted_a_lease_the_loop_has_not_seen_is_not_down() {
    let contact = LeaderContact::new(b(0));
    assert!(contact.grant(TERM, 4, b(3_000)));
    let health_at = |now| {
        contact.judge(TERM, |granted| {
            let heard_at = Some(b(2_000)).max(granted(4));
            let health = scheduling_health(Some(NodeHealth::Down), heard_at, &FACTS, b(now));
            BTreeMap::from([(NodeId(4), health)])
        })[&NodeId(4)]
    };
    assert_eq!(health_at(3_849), NodeHealth::Suspect);
    assert_eq!(health_at(3_850), NodeHealth::Down);
}

/// Once judged down (its resources may start elsewhere), a node gets no lease until a
/// judgement finds it up again: a lease granted after the judgement, before the write that
/// withdraws its resources, would let it keep running them.
#[test]
fn r10_a_node_judged_down_is_refused_leases_until_judged_up() {
    let contact = LeaderContact::new(b(0));
    let judge = |health| contact.judge(2, |_| BTreeMap::from([(NodeId(4), health)]));
    judge(NodeHealth::Down);
    assert!(!contact.grant(2, 4, b(5_000)));
    assert!(
        contact.grant(2, 5, b(5_000)),
        "other nodes still get leases"
    );
    judge(NodeHealth::Suspect);
    assert!(contact.grant(2, 4, b(5_100)));
}
