//! Scripted tests of the remote monitors' core: who observes what, when probes run, and
//! what the inside and outside views make together, fed with `now` as a value.

use model::NodeId;

use super::*;

fn nodes(ids: &[u64]) -> Vec<NodeId> {
    ids.iter().copied().map(NodeId).collect()
}

fn web(owner: u64) -> Target {
    Target::new(
        TargetKind::Resource,
        "web",
        NodeId(owner),
        Probe::tcp("127.0.0.1:8080").expect("valid"),
    )
}

fn view(target: &Target, reachable: bool) -> View {
    View {
        target: target.id.clone(),
        owner: target.owner,
        reachable,
        detail: String::new(),
    }
}

#[test]
fn observers_are_the_next_live_nodes_after_the_owner_never_the_owner() {
    assert_eq!(observers_of(NodeId(2), &nodes(&[1, 2, 3])), nodes(&[3, 1]));
    let many: Vec<NodeId> = (1..=32).map(NodeId).collect();
    assert_eq!(observers_of(NodeId(30), &many), nodes(&[31, 32, 1, 2, 3]));
    assert_eq!(observers_of(NodeId(1), &nodes(&[1])), nodes(&[]));
}

#[test]
fn every_target_of_a_32_node_cluster_has_at_most_five_observers_and_each_node_its_share() {
    let many: Vec<NodeId> = (1..=32).map(NodeId).collect();
    let mut watched_by = std::collections::BTreeMap::<NodeId, usize>::new();
    for owner in &many {
        let observers = observers_of(*owner, &many);
        assert_eq!(observers.len(), OBSERVERS_MAX);
        for observer in observers {
            *watched_by.entry(observer).or_default() += 1;
        }
    }
    assert!(watched_by.values().all(|count| *count == OBSERVERS_MAX));
}

#[test]
fn probes_are_spread_over_the_interval_and_repeat_once_per_interval() {
    let targets: Vec<Target> = (0..50)
        .map(|i| {
            Target::new(
                TargetKind::Resource,
                &format!("r{i}"),
                NodeId(2),
                Probe::tcp("127.0.0.1:1").expect("valid"),
            )
        })
        .collect();
    let mut planner = Planner::default();
    let mut probes_per_target = std::collections::BTreeMap::<String, u32>::new();
    let mut busiest_round = 0;
    for second in 0..(PROBE_INTERVAL_MS / 1000 * 4) {
        let due = planner.due(&targets, NodeId(1), second * 1000);
        busiest_round = busiest_round.max(due.len());
        for target in due {
            *probes_per_target.entry(target.id).or_default() += 1;
        }
    }
    assert!(busiest_round <= PROBES_PER_ROUND_MAX);
    // 50 targets over 5 rounds: spread, never all in one round.
    assert!(busiest_round < 50, "{busiest_round}");
    for (id, count) in probes_per_target {
        assert!(
            (3..=4).contains(&count),
            "{id} probed {count} times in 4 intervals"
        );
    }
}

#[test]
fn a_round_never_exceeds_its_bound_and_a_forgotten_target_is_dropped() {
    let targets: Vec<Target> = (0..200)
        .map(|i| {
            Target::new(
                TargetKind::Listener,
                &format!("s{i}"),
                NodeId(3),
                Probe::tcp("127.0.0.1:1").expect("valid"),
            )
        })
        .collect();
    let mut planner = Planner::default();
    for second in 0..20 {
        let due = planner.due(&targets, NodeId(1), second * 1000);
        assert!(due.len() <= PROBES_PER_ROUND_MAX);
    }
    let due = planner.due(&[], NodeId(1), 21_000);
    assert!(due.is_empty());
    assert!(planner.next_due_ms.is_empty());
}

#[test]
fn http_and_tcp_probes_parse_and_bad_ones_name_the_problem() {
    assert_eq!(
        Probe::http("http://10.0.0.5:8080/health").expect("valid"),
        Probe::Http {
            address: "10.0.0.5:8080".into(),
            path: "/health".into()
        }
    );
    assert_eq!(
        Probe::http("http://example").expect("valid"),
        Probe::Http {
            address: "example:80".into(),
            path: "/".into()
        }
    );
    assert!(
        Probe::http("https://x/")
            .expect_err("https")
            .contains("http://")
    );
    assert!(
        Probe::tcp("nohost")
            .expect_err("no port")
            .contains("host:port")
    );
}

fn check(healthy: bool, observers: u32, reachable: u32, expected: Verdict) {
    let outside = Outside {
        observers,
        reachable,
    };
    assert_eq!(Verdict::of(healthy, outside), expected, "{outside:?}");
}

#[test]
fn verdicts_combine_the_inside_with_the_majority_outside() {
    check(true, 2, 2, Verdict::Reachable);
    check(true, 2, 1, Verdict::Reachable);
    check(true, 2, 0, Verdict::Unreachable);
    check(true, 3, 1, Verdict::Unreachable);
    check(false, 3, 2, Verdict::FailedInside);
    check(false, 3, 1, Verdict::Down);
    check(true, 0, 0, Verdict::Unknown);
}

#[test]
fn a_service_healthy_inside_but_unreachable_outside_is_reported_once_and_again_when_it_heals() {
    let target = web(1);
    let mut book = Book::default();
    let mut judge = Judge::default();
    let insides = [(target.clone(), true)];
    book.record(NodeId(2), &[view(&target, true)], 0);
    book.record(NodeId(3), &[view(&target, true)], 0);
    assert_eq!(judge.judge(&insides, &book, 0), vec![]);
    book.record(NodeId(2), &[view(&target, false)], 5_000);
    book.record(NodeId(3), &[view(&target, false)], 5_000);
    let changes = judge.judge(&insides, &book, 5_000);
    assert_eq!(
        changes,
        vec![Change {
            target: target.clone(),
            from: Verdict::Reachable,
            to: Verdict::Unreachable,
            outside: Outside {
                observers: 2,
                reachable: 0
            },
        }]
    );
    assert_eq!(judge.judge(&insides, &book, 6_000), vec![]);
    assert_eq!(judge.verdicts()[&target.id].1, Verdict::Unreachable);
    book.record(NodeId(2), &[view(&target, true)], 10_000);
    let changes = judge.judge(&insides, &book, 10_000);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].to, Verdict::Reachable);
}

#[test]
fn a_failed_monitor_that_the_outside_still_reaches_is_reported_as_such() {
    let target = web(1);
    let mut book = Book::default();
    let mut judge = Judge::default();
    book.record(NodeId(2), &[view(&target, true)], 0);
    let changes = judge.judge(&[(target.clone(), false)], &book, 0);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].from, Verdict::Unknown);
    assert_eq!(changes[0].to, Verdict::FailedInside);
}

#[test]
fn the_owners_own_view_and_stale_views_do_not_count() {
    let target = web(1);
    let mut book = Book::default();
    let mut judge = Judge::default();
    book.record(NodeId(1), &[view(&target, false)], 0);
    book.record(NodeId(2), &[view(&target, false)], 0);
    let insides = [(target.clone(), true)];
    assert_eq!(judge.judge(&insides, &book, 0)[0].to, Verdict::Unreachable);
    // Node 2 stops reporting: its view goes stale, and the verdict stays as last known.
    let later = VIEW_STALE_MS + 1;
    assert_eq!(book.outside(&target, later), Outside::default());
    assert_eq!(judge.judge(&insides, &book, later), vec![]);
    book.expire(later);
    assert!(book.views.is_empty());
}

#[test]
fn agreeing_views_are_not_news() {
    let target = web(1);
    let mut book = Book::default();
    let mut judge = Judge::default();
    book.record(NodeId(2), &[view(&target, false)], 0);
    assert_eq!(judge.judge(&[(target.clone(), false)], &book, 0), vec![]);
    assert_eq!(judge.verdicts()[&target.id].1, Verdict::Down);
}

#[test]
fn views_of_a_moved_resource_do_not_count_for_its_new_node() {
    let mut book = Book::default();
    book.record(NodeId(3), &[view(&web(1), false)], 0);
    assert_eq!(book.outside(&web(2), 0), Outside::default());
    assert_eq!(
        book.outside(&web(1), 0),
        Outside {
            observers: 1,
            reachable: 0
        }
    );
}

fn grant_of(
    policy: recovery::RemoteFailure,
    token: u64,
) -> impl Fn(&str, NodeId) -> Option<(recovery::RemoteFailure, u64)> {
    move |resource, owner| (resource == "web" && owner == NodeId(1)).then_some((policy, token))
}

/// A service unreachable from outside fails once per grant when its resource asks for
/// recovery, never when it only warns; a restarted instance is judged on fresh views only,
/// and fails again under its new grant if it stays unreachable.
#[test]
fn an_unreachable_instance_is_failed_once_per_grant_only_when_its_resource_asks() {
    use recovery::{Recoveries, RemoteFailure};
    let target = web(1);
    let mut book = Book::default();
    let mut judge = Judge::default();
    let insides = [(target.clone(), true)];
    let mut recoveries = Recoveries::default();
    let cut_off = |book: &mut Book, at: u64| {
        book.record(NodeId(2), &[view(&target, false)], at);
        book.record(NodeId(3), &[view(&target, false)], at);
    };
    let recover = |token| grant_of(RemoteFailure::Recover, token);
    cut_off(&mut book, 0);
    judge.judge(&insides, &book, 0);
    // The default only warns.
    let mut warned = Recoveries::default();
    assert_eq!(
        warned.due(
            &judge.verdicts(),
            &book,
            0,
            grant_of(RemoteFailure::Warn, 7)
        ),
        vec![]
    );
    // Views from before the master saw the grant running do not count.
    assert_eq!(
        recoveries.due(&judge.verdicts(), &book, 0, recover(7)),
        vec![]
    );
    // Fresh ones do: one failure under the owner's grant, with the views in its reason.
    cut_off(&mut book, 8_000);
    judge.judge(&insides, &book, 8_000);
    let failed = recoveries.due(&judge.verdicts(), &book, 8_000, recover(7));
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].resource, "web");
    assert_eq!(failed[0].fencing_token, 7);
    assert!(
        failed[0]
            .reason()
            .contains("2 of 2 observers cannot reach resource:web"),
        "{}",
        failed[0].reason()
    );
    // Not twice for the same grant, even while it stays unreachable.
    assert_eq!(
        recoveries.due(&judge.verdicts(), &book, 9_000, recover(7)),
        vec![]
    );
    // A failure that was not written is tried again.
    recoveries.not_written(&failed[0]);
    let retried = recoveries.due(&judge.verdicts(), &book, 9_000, recover(7));
    assert_eq!(retried, failed);
    // Restarted under a new grant: the views of the instance before it do not fail it...
    assert_eq!(
        recoveries.due(&judge.verdicts(), &book, 10_000, recover(9)),
        vec![]
    );
    cut_off(&mut book, 16_000);
    judge.judge(&insides, &book, 16_000);
    assert_eq!(
        recoveries.due(&judge.verdicts(), &book, 16_000, recover(9)),
        vec![]
    );
    // ...views once every observer probed it again do, under that grant.
    cut_off(&mut book, 17_000);
    judge.judge(&insides, &book, 17_000);
    let again = recoveries.due(&judge.verdicts(), &book, 17_000, recover(9));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].fencing_token, 9);
    // Not granted to its owner any more (moved, stopped): nothing to fail there.
    assert_eq!(
        recoveries.due(&judge.verdicts(), &book, 18_000, |_, _| None),
        vec![]
    );
    // A reachable one is never failed.
    book.record(NodeId(2), &[view(&target, true)], 20_000);
    book.record(NodeId(3), &[view(&target, true)], 20_000);
    judge.judge(&insides, &book, 20_000);
    assert_eq!(
        recoveries.due(&judge.verdicts(), &book, 20_000, recover(11)),
        vec![]
    );
    book.record(NodeId(2), &[view(&target, true)], 30_000);
    book.record(NodeId(3), &[view(&target, true)], 30_000);
    judge.judge(&insides, &book, 30_000);
    assert_eq!(
        recoveries.due(&judge.verdicts(), &book, 30_000, recover(11)),
        vec![]
    );
}

#[test]
fn the_remote_failure_choice_is_recover_or_warn_and_a_typo_names_both() {
    use recovery::RemoteFailure;
    assert_eq!(RemoteFailure::parse(None), Ok(RemoteFailure::Warn));
    assert_eq!(RemoteFailure::parse(Some("warn")), Ok(RemoteFailure::Warn));
    assert_eq!(
        RemoteFailure::parse(Some("recover")),
        Ok(RemoteFailure::Recover)
    );
    let error = RemoteFailure::parse(Some("restart")).expect_err("not a choice");
    assert!(error.contains("\"restart\" is not a choice"), "{error}");
    assert!(
        error.contains("\"recover\"") && error.contains("\"warn\""),
        "{error}"
    );
}

#[test]
fn a_targets_resource_is_its_own_or_its_directors() {
    let probe = Probe::tcp("127.0.0.1:80").expect("valid");
    let target = |kind, name: &str| Target::new(kind, name, NodeId(1), probe.clone());
    let of = |t: &Target| recovery::resource_of(t).map(str::to_owned);
    assert_eq!(of(&target(TargetKind::Resource, "web")), Some("web".into()));
    assert_eq!(of(&target(TargetKind::Vip, "v1")), Some("v1".into()));
    let listener = target(TargetKind::Listener, "front@10.0.0.5:80");
    assert_eq!(of(&listener), Some("front".into()));
    assert_eq!(of(&target(TargetKind::Node, "2")), None);
}
