//! The leader-contact bound on old leases and the scheduling health built on it.

use std::collections::BTreeMap;

use super::*;

#[test]
fn nothing_heard_means_the_process_start() {
    let contact = LeaderContact::new(1_000);
    assert_eq!(contact.newest_before(5), 1_000);
    assert_eq!(contact.age_before(5, 1_300), 300);
}

#[test]
fn only_older_terms_count_and_the_newest_receipt_wins() {
    let contact = LeaderContact::new(0);
    contact.record(3, 100);
    contact.record(3, 250);
    contact.record(3, 200);
    contact.record(4, 900);
    assert_eq!(contact.newest_before(4), 250);
    assert_eq!(contact.newest_before(5), 900);
    assert_eq!(contact.newest_before(3), 0);
}

#[test]
fn a_late_message_from_a_stale_leader_still_counts_after_folding() {
    let contact = LeaderContact::new(0);
    contact.record(1, 5_000);
    for term in 2..20 {
        contact.record(term, term * 10);
    }
    // Term 1 was folded away, but its late receipt must still bound every newer term.
    assert_eq!(contact.newest_before(20), 5_000);
    assert_eq!(contact.newest_before(15), 5_000);
}

#[test]
fn bound_needs_a_majority_and_takes_the_majoritys_newest() {
    let voters = vec![vec![1, 2, 3]];
    let mut reported = BTreeMap::from([(2, 1_000)]);
    assert_eq!(older_leaders_bound(&reported, &voters), None);
    reported.insert(3, 1_040);
    assert_eq!(older_leaders_bound(&reported, &voters), Some(1_040));
    // A third, older report makes a majority with an earlier newest time.
    reported.insert(1, 900);
    assert_eq!(older_leaders_bound(&reported, &voters), Some(1_000));
}

#[test]
fn joint_configs_each_need_a_majority() {
    let configs = vec![vec![1, 2, 3], vec![3, 4, 5]];
    let mut reported = BTreeMap::from([(1, 100), (2, 200)]);
    assert_eq!(older_leaders_bound(&reported, &configs), None);
    reported.insert(4, 300);
    reported.insert(5, 400);
    assert_eq!(older_leaders_bound(&reported, &configs), Some(400));
}

#[test]
fn reports_from_non_voters_do_not_count() {
    let voters = vec![vec![1, 2, 3]];
    let reported = BTreeMap::from([(1, 10), (7, 20), (8, 30)]);
    assert_eq!(older_leaders_bound(&reported, &voters), None);
}

const FACTS: LeaseFacts = LeaseFacts {
    term_start_ms: 1_500,
    older_leases_from: 1_000,
    lease_ms: 850,
    unheard_grace_ms: 200,
};

#[test]
fn a_node_heard_in_this_term_is_down_only_a_lease_after_it_was_last_heard() {
    let down = Some(NodeHealth::Down);
    assert_eq!(
        scheduling_health(down, Some(2_000), &FACTS, 2_849),
        NodeHealth::Suspect
    );
    assert_eq!(
        scheduling_health(down, Some(2_000), &FACTS, 2_850),
        NodeHealth::Down
    );
    let suspect = Some(NodeHealth::Suspect);
    assert_eq!(
        scheduling_health(suspect, Some(2_000), &FACTS, 9_000),
        NodeHealth::Suspect
    );
}

#[test]
fn an_unheard_node_is_down_once_older_leases_are_surely_over() {
    // The old master crashed at 1000 (the voters' last contact); this term began at 1500.
    for detected in [NodeHealth::Online, NodeHealth::Suspect] {
        let health = |now| scheduling_health(Some(detected), None, &FACTS, now);
        assert_eq!(health(1_849), detected);
        assert_eq!(health(1_850), NodeHealth::Down);
    }
    assert_eq!(scheduling_health(None, None, &FACTS, 0), NodeHealth::Down);
}

#[test]
fn an_unheard_node_gets_its_grace_even_when_older_leases_ended_long_ago() {
    let facts = LeaseFacts {
        older_leases_from: 0,
        ..FACTS
    };
    let online = Some(NodeHealth::Online);
    assert_eq!(
        scheduling_health(online, None, &facts, 1_699),
        NodeHealth::Online
    );
    assert_eq!(
        scheduling_health(online, None, &facts, 1_700),
        NodeHealth::Down
    );
}
