//! Detector tests: feed a script of heartbeats and ticks, and compare every emitted transition
//! (time, node, change, silence) with the expected log, so nothing extra or missing can hide.

use std::collections::{BTreeMap, BTreeSet};

use model::{EventKind, Millis, NodeHealth, NodeId};

use crate::{Detector, DetectorConfig, Transition};

#[derive(Clone, Copy)]
enum Step {
    Beat(u64, Millis),
    Tick(Millis),
}
use Step::{Beat, Tick};

/// Runs `steps` on a detector that has watched nodes 1, 2 and 3 since time 0.
fn run(detector: &mut Detector, steps: &[Step]) -> String {
    let mut log = String::new();
    for &step in steps {
        let (now, transitions) = match step {
            Beat(node, now) => (
                now,
                detector.heartbeat(NodeId(node), now).into_iter().collect(),
            ),
            Tick(now) => (now, detector.tick(now)),
        };
        for Transition {
            node,
            from,
            to,
            silence_ms,
        } in transitions
        {
            log.push_str(&format!(
                "{now} n{node} {from} -> {to} after {silence_ms}ms\n"
            ));
        }
    }
    log
}

fn check(steps: &[Step], expected: &str) {
    let mut detector = Detector::with_nodes(DetectorConfig::default(), 0, [1, 2, 3].map(NodeId));
    let steps: Vec<Step> = steps.to_vec();
    // Nodes 2 and 3 heartbeat steadily so that each test only sees node 1's story.
    let last = steps
        .iter()
        .map(|&s| match s {
            Beat(_, t) | Tick(t) => t,
        })
        .max()
        .unwrap_or(0);
    let mut all = Vec::new();
    for t in (0..=last).step_by(100) {
        all.push(Beat(2, t));
        all.push(Beat(3, t));
        all.extend(
            steps
                .iter()
                .filter(|&&s| matches!(s, Beat(_, b) | Tick(b) if b >= t && b < t + 100)),
        );
    }
    assert_eq!(run(&mut detector, &all), expected);
}

/// A tick every millisecond from `from` to `to`, to show nothing happens early.
fn ticks(from: Millis, to: Millis) -> Vec<Step> {
    (from..=to).map(Tick).collect()
}

/// Node 1 heartbeats every 100 ms from `from` to `to`, with a tick after each heartbeat.
fn steady(from: Millis, to: Millis) -> Vec<Step> {
    (from..=to)
        .step_by(100)
        .flat_map(|t| [Beat(1, t), Tick(t)])
        .collect()
}

#[test]
fn silence_makes_node_suspect_at_300ms_and_down_at_500ms_and_not_before() {
    check(
        &ticks(1, 700),
        "300 n1 online -> suspect after 300ms\n500 n1 suspect -> down after 500ms\n",
    );
}

#[test]
fn steady_heartbeats_cause_no_transitions() {
    check(&[steady(0, 5_000), ticks(5_001, 5_299)].concat(), "");
}

#[test]
fn heartbeat_while_suspect_makes_node_online_at_once() {
    check(
        &[Tick(300), Beat(1, 350), Tick(400), Tick(649), Tick(650)],
        "300 n1 online -> suspect after 300ms\n350 n1 suspect -> online after 350ms\n\
         650 n1 online -> suspect after 300ms\n",
    );
}

#[test]
fn infrequent_tick_moves_online_node_straight_to_down() {
    check(
        &[Tick(200), Tick(500)],
        "500 n1 online -> down after 500ms\n",
    );
}

/// Issue 18: a master starved of CPU for 2 s ticks late; heartbeats wait unread in its
/// sockets. Without the excuse every node went down at once (1,000 health changes a
/// minute at 48 agents); now its own lateness beyond `suspect_after` is nobody's silence.
#[test]
fn a_late_master_excuses_its_own_lateness() {
    check(
        &[
            steady(0, 1_000),
            vec![Tick(3_000), Beat(1, 3_001), Tick(3_020)],
        ]
        .concat(),
        "3000 n1 online -> suspect after 300ms\n3001 n1 suspect -> online after 2001ms\n",
    );
}

#[test]
fn a_node_that_died_while_the_master_was_late_is_still_found_down() {
    let after: Vec<Step> = (3_020..=3_300).step_by(20).map(Tick).collect();
    check(
        &[steady(0, 1_000), vec![Tick(3_000)], after].concat(),
        "3000 n1 online -> suspect after 300ms\n3200 n1 suspect -> down after 500ms\n",
    );
}

#[test]
fn a_heartbeat_ends_the_excuse() {
    // Excused 1,700 ms at 3,000; heard at 3,001; silent since: down 500 ms later.
    let after: Vec<Step> = (3_020..=3_520).step_by(20).map(Tick).collect();
    check(
        &[steady(0, 1_000), vec![Tick(3_000), Beat(1, 3_001)], after].concat(),
        "3000 n1 online -> suspect after 300ms\n3001 n1 suspect -> online after 2001ms\n\
         3320 n1 online -> suspect after 319ms\n3520 n1 suspect -> down after 519ms\n",
    );
}

#[test]
fn down_node_stays_down_until_heartbeats_are_steady_for_rejoin_stable() {
    check(
        &[
            vec![Tick(300), Tick(500)],
            steady(1_000, 1_200),
            vec![Beat(1, 1_299), Tick(1_299), Beat(1, 1_300)],
        ]
        .concat(),
        "300 n1 online -> suspect after 300ms\n500 n1 suspect -> down after 500ms\n\
         1300 n1 down -> online after 1ms\n",
    );
}

#[test]
fn gap_during_probation_restarts_it() {
    // The gap from 1100 to 1400 would have made an online node suspect, so the probation
    // starts again at 1400 and ends at 1700 instead of 1300.
    check(
        &[
            vec![Tick(300), Tick(500)],
            steady(1_000, 1_100),
            steady(1_400, 1_700),
        ]
        .concat(),
        "300 n1 online -> suspect after 300ms\n500 n1 suspect -> down after 500ms\n\
         1700 n1 down -> online after 100ms\n",
    );
}

#[test]
fn down_is_reported_once_while_node_stays_silent() {
    check(
        &[Tick(300), Tick(500), Tick(600), Tick(10_000)],
        "300 n1 online -> suspect after 300ms\n500 n1 suspect -> down after 500ms\n",
    );
}

/// Lets node 1 go down at `start + 500`, then heartbeats every 100 ms from `start + 600` and
/// returns how long the probation lasted and when the node came back.
fn flap(detector: &mut Detector, start: Millis) -> (u64, Millis) {
    // The master ticks on time (a late tick would excuse the silence); suspect at +300.
    for now in (start + 100..start + 500).step_by(100) {
        detector.tick(now);
    }
    let down = detector.tick(start + 500);
    assert_eq!(down.len(), 1);
    assert_eq!(down[0].to, NodeHealth::Down);
    let first_beat = start + 600;
    for now in (first_beat..).step_by(100) {
        if let Some(transition) = detector.heartbeat(NodeId(1), now) {
            assert_eq!(transition.to, NodeHealth::Online);
            return (now - first_beat, now);
        }
        assert!(detector.tick(now).is_empty());
    }
    unreachable!("the probation is bounded by rejoin_stable_max")
}

#[test]
fn flapping_doubles_probation_up_to_rejoin_stable_max() {
    let mut detector = Detector::with_nodes(DetectorConfig::default(), 0, [NodeId(1)]);
    let mut now = 0;
    let mut probations = Vec::new();
    for _ in 0..8 {
        let (probation, online_at) = flap(&mut detector, now);
        probations.push(probation);
        now = online_at;
    }
    assert_eq!(
        probations,
        [300, 600, 1_200, 2_400, 4_800, 9_600, 10_000, 10_000]
    );
}

#[test]
fn flaps_older_than_flap_window_no_longer_count() {
    let mut detector = Detector::with_nodes(DetectorConfig::default(), 0, [NodeId(1)]);
    let (first, now) = flap(&mut detector, 0);
    let (second, now) = flap(&mut detector, now);
    // A minute of steady heartbeats ages both flaps out of the window.
    let quiet_until = now + 60_000;
    for t in (now..=quiet_until).step_by(100) {
        assert_eq!(detector.heartbeat(NodeId(1), t), None);
        assert!(detector.tick(t).is_empty());
    }
    let (third, _) = flap(&mut detector, quiet_until);
    assert_eq!([first, second, third], [300, 600, 300]);
}

#[test]
fn transitions_are_ordered_by_node_id() {
    let mut detector = Detector::new(DetectorConfig::default(), 0);
    for node in [7, 3, 5, 1] {
        detector.track(NodeId(node), 0);
    }
    assert_eq!(detector.heartbeat(NodeId(5), 100), None);
    let log = run(&mut detector, &[Tick(300), Tick(500)]);
    assert_eq!(
        log,
        "300 n1 online -> suspect after 300ms\n300 n3 online -> suspect after 300ms\n\
         300 n7 online -> suspect after 300ms\n500 n1 suspect -> down after 500ms\n\
         500 n3 suspect -> down after 500ms\n500 n5 online -> suspect after 400ms\n\
         500 n7 suspect -> down after 500ms\n"
    );
}

#[test]
fn new_master_detector_gives_known_nodes_a_grace_period() {
    // A master elected at 10 s has heard nothing yet: its nodes start online, heard now.
    let mut detector = Detector::with_nodes(DetectorConfig::default(), 10_000, [1, 2].map(NodeId));
    assert!(detector.tick(10_299).is_empty());
    let nodes: Vec<_> = detector.nodes().collect();
    assert_eq!(
        nodes,
        [
            (NodeId(1), NodeHealth::Online, 10_000),
            (NodeId(2), NodeHealth::Online, 10_000)
        ]
    );
    assert_eq!(detector.tick(10_300).len(), 2);
}

#[test]
fn heartbeat_from_unknown_node_is_ignored() {
    let mut detector = Detector::with_nodes(DetectorConfig::default(), 0, [NodeId(1)]);
    assert_eq!(detector.heartbeat(NodeId(9), 100), None);
    assert_eq!(detector.health(NodeId(9)), None);
    assert_eq!(detector.last_heard(NodeId(9)), None);
    assert_eq!(detector.nodes().count(), 1);
}

#[test]
fn tracking_a_watched_node_again_keeps_its_state() {
    let mut detector = Detector::with_nodes(DetectorConfig::default(), 0, [NodeId(1)]);
    assert_eq!(detector.tick(300).len(), 1);
    detector.track(NodeId(1), 350);
    assert_eq!(detector.health(NodeId(1)), Some(NodeHealth::Suspect));
    assert_eq!(detector.last_heard(NodeId(1)), Some(0));
}

#[test]
fn untracked_node_is_forgotten() {
    let mut detector = Detector::with_nodes(DetectorConfig::default(), 0, [1, 2].map(NodeId));
    detector.untrack(NodeId(1));
    assert_eq!(detector.health(NodeId(1)), None);
    assert_eq!(detector.heartbeat(NodeId(1), 100), None);
    let down: Vec<NodeId> = detector.tick(500).into_iter().map(|t| t.node).collect();
    assert_eq!(down, [NodeId(2)]);
}

#[test]
fn clock_stepping_back_does_not_age_last_heard() {
    let mut detector = Detector::with_nodes(DetectorConfig::default(), 1_000, [NodeId(1)]);
    assert_eq!(detector.heartbeat(NodeId(1), 900), None);
    assert_eq!(detector.last_heard(NodeId(1)), Some(1_000));
    assert!(detector.tick(900).is_empty());
}

#[test]
fn transition_becomes_a_node_health_event() {
    let transition = Transition {
        node: NodeId(4),
        from: NodeHealth::Suspect,
        to: NodeHealth::Down,
        silence_ms: 500,
    };
    assert_eq!(
        transition.to_event_kind(),
        EventKind::NodeHealth {
            node: NodeId(4),
            from: NodeHealth::Suspect,
            to: NodeHealth::Down,
            silence_ms: 500
        }
    );
}

#[test]
fn health_map_lists_every_tracked_node() {
    let mut detector = Detector::with_nodes(DetectorConfig::default(), 0, [1, 2].map(NodeId));
    assert_eq!(detector.heartbeat(NodeId(2), 250), None);
    assert_eq!(detector.tick(300).len(), 1);
    let health = detector.health_map();
    assert_eq!(health.get(&NodeId(1)), Some(&NodeHealth::Suspect));
    assert_eq!(health.get(&NodeId(2)), Some(&NodeHealth::Online));
}

// --- issue 18: corroborated downs ---

/// A detector watching nodes 1..=`count` since time 0, node 1 (the master) heard at every
/// tick; the others fall silent at 0. Ticks every 10 ms up to `until` with `fresh` as the
/// nodes whose Raft side answers, and returns, per node, its health changes as
/// `(time, to)`.
fn silent_cluster(
    count: u64,
    until: Millis,
    fresh: &BTreeSet<NodeId>,
    lag: &[(u64, u64)],
) -> BTreeMap<u64, Vec<(Millis, NodeHealth)>> {
    let mut detector = Detector::with_nodes(DetectorConfig::default(), 0, (1..=count).map(NodeId));
    for &(node, lag_ms) in lag {
        detector.report_lag(NodeId(node), lag_ms);
    }
    let mut seen: BTreeMap<u64, Vec<(Millis, NodeHealth)>> = BTreeMap::new();
    for now in (10..=until).step_by(10) {
        assert_eq!(detector.heartbeat(NodeId(1), now), None);
        for transition in detector.tick_with(now, fresh) {
            seen.entry(transition.node.0)
                .or_default()
                .push((now, transition.to));
        }
    }
    seen
}

fn downs_at(seen: &BTreeMap<u64, Vec<(Millis, NodeHealth)>>) -> Vec<Millis> {
    let mut downs: Vec<Millis> = seen
        .values()
        .flatten()
        .filter(|(_, to)| *to == NodeHealth::Down)
        .map(|(at, _)| *at)
        .collect();
    downs.sort_unstable();
    downs
}

/// Sixteen nodes whose heartbeats stop while their Raft side still answers (the master's
/// heartbeat queue full, or the heartbeats late on the wire): two (one in eight) may go
/// down at `down_after`, the rest wait for clear evidence at twice `down_after`, when the
/// leases they could hold have run out anyway.
#[test]
fn ambiguous_silences_beyond_the_budget_wait_for_clear_evidence() {
    let fresh: BTreeSet<NodeId> = (2..=16).map(NodeId).collect();
    let seen = silent_cluster(16, 1_200, &fresh, &[]);
    let mut expected = vec![500, 500];
    expected.extend([1_000; 13]);
    assert_eq!(downs_at(&seen), expected);
    // Every one was suspect first, at `suspect_after`.
    for node in 2..=16 {
        assert_eq!(seen[&node][0], (300, NodeHealth::Suspect), "node {node}");
    }
}

/// The same silence with the Raft side silent too is corroborated: all fifteen go down at
/// `down_after`, unbounded, as a real failure of many nodes must.
#[test]
fn corroborated_silences_are_not_bounded() {
    let seen = silent_cluster(16, 1_200, &BTreeSet::new(), &[]);
    assert_eq!(downs_at(&seen), vec![500; 15]);
}

/// The budget is per `down_after`: a second wave of ambiguous silences, after the first
/// was spent, gets its own.
#[test]
fn the_budget_of_uncorroborated_downs_refills_after_down_after() {
    let mut detector = Detector::with_nodes(DetectorConfig::default(), 0, (1..=3).map(NodeId));
    let fresh: BTreeSet<NodeId> = [2, 3].map(NodeId).into();
    let mut downs = Vec::new();
    for now in (10..=1_500).step_by(10) {
        detector.heartbeat(NodeId(1), now);
        if now < 600 {
            detector.heartbeat(NodeId(3), now); // node 3 falls silent at 600
        }
        for transition in detector.tick_with(now, &fresh) {
            if transition.to == NodeHealth::Down {
                downs.push((now, transition.node.0));
            }
        }
    }
    // Node 2 spends the budget at 500; node 3's silence is due at 1,090, after it refilled.
    assert_eq!(downs, vec![(500, 2), (1_090, 3)]);
}

/// A node that reported event-loop lag gets that much longer; the allowance stops at
/// `down_after`, so even a node reporting seconds of lag is down at twice `down_after`.
#[test]
fn a_node_that_reported_lag_waits_that_much_longer_up_to_down_after() {
    let seen = silent_cluster(3, 1_200, &BTreeSet::new(), &[(2, 200), (3, 5_000)]);
    assert_eq!(
        seen[&2],
        vec![(300, NodeHealth::Suspect), (700, NodeHealth::Down)]
    );
    assert_eq!(
        seen[&3],
        vec![(300, NodeHealth::Suspect), (1_000, NodeHealth::Down)]
    );
}

/// A held node that heartbeats again is online at once: it never went down, so nothing
/// moved and no probation applies. `held` names it only while it is held.
#[test]
fn a_held_node_that_heartbeats_is_online_with_no_down() {
    let mut detector = Detector::with_nodes(DetectorConfig::default(), 0, (1..=3).map(NodeId));
    let fresh: BTreeSet<NodeId> = [2, 3].map(NodeId).into();
    let mut log = Vec::new();
    for now in (10..=800).step_by(10) {
        detector.heartbeat(NodeId(1), now);
        for transition in detector.tick_with(now, &fresh) {
            log.push((now, transition.node.0, transition.to));
        }
    }
    // Node 2 took the budget; node 3 is held.
    assert_eq!(detector.held().collect::<Vec<_>>(), vec![NodeId(3)]);
    let back = detector.heartbeat(NodeId(3), 810).expect("a transition");
    assert_eq!(
        (back.from, back.to),
        (NodeHealth::Suspect, NodeHealth::Online)
    );
    assert_eq!(detector.held().count(), 0);
    assert_eq!(
        log,
        vec![
            (300, 2, NodeHealth::Suspect),
            (300, 3, NodeHealth::Suspect),
            (500, 2, NodeHealth::Down),
        ]
    );
}

/// A node that died among healthy ones, with no lag reported and its Raft side silent, is
/// down at `down_after` exactly as before the corroboration rules.
#[test]
fn a_dead_node_among_healthy_ones_is_down_at_down_after() {
    let mut detector = Detector::with_nodes(DetectorConfig::default(), 0, (1..=5).map(NodeId));
    let mut downs = Vec::new();
    for now in (10..=800).step_by(10) {
        for node in 1..=4 {
            detector.heartbeat(NodeId(node), now);
        }
        let fresh: BTreeSet<NodeId> = (1..=4).map(NodeId).collect();
        for transition in detector.tick_with(now, &fresh) {
            downs.push((now, transition.node.0, transition.to));
        }
    }
    assert_eq!(
        downs,
        vec![(300, 5, NodeHealth::Suspect), (500, 5, NodeHealth::Down)]
    );
}

/// Lag under `LAG_NOTICED_MS` is timer noise: the node is judged as one that reported none.
#[test]
fn lag_under_the_noticed_bound_counts_as_none() {
    let seen = silent_cluster(3, 1_200, &BTreeSet::new(), &[(2, 49), (3, 50)]);
    assert_eq!(
        seen[&2],
        vec![(300, NodeHealth::Suspect), (500, NodeHealth::Down)]
    );
    assert_eq!(
        seen[&3],
        vec![(300, NodeHealth::Suspect), (550, NodeHealth::Down)]
    );
}

/// The runtime reads heartbeats that queued while it awaited a write before its next tick,
/// at the times they arrived (issue 18: at 48 agents a loop blocked in a voter change read
/// them late and found every node silent). The master's lateness is then excused only
/// since the node was last heard: a node heard just before the late tick that dies is down
/// `down_after` after that heartbeat, not after the whole excuse.
#[test]
fn a_heartbeat_that_arrived_while_the_master_was_late_ends_the_excuse_at_its_arrival() {
    let after: Vec<Step> = (3_020..=3_600).step_by(20).map(Tick).collect();
    check(
        &[steady(0, 1_000), vec![Beat(1, 2_900), Tick(3_000)], after].concat(),
        "3300 n1 online -> suspect after 300ms\n3500 n1 suspect -> down after 500ms\n",
    );
}

/// The budget follows the tracked nodes: after nodes leave, downs already counted in the
/// window may exceed the smaller budget, and the next ambiguous silence waits.
#[test]
fn a_budget_spent_before_nodes_left_holds_the_next_ambiguous_silence() {
    let mut detector = Detector::with_nodes(DetectorConfig::default(), 0, (1..=16).map(NodeId));
    let fresh: BTreeSet<NodeId> = (2..=16).map(NodeId).collect();
    for now in (10..=490).step_by(10) {
        detector.heartbeat(NodeId(1), now);
        for node in 4..=16 {
            detector.heartbeat(NodeId(node), now);
        }
        detector.tick_with(now, &fresh);
    }
    detector.heartbeat(NodeId(1), 500);
    let downs = detector.tick_with(500, &fresh);
    assert_eq!(downs.iter().filter(|t| t.to == NodeHealth::Down).count(), 2);
    // Eight nodes leave: the budget falls to one, and two are spent in this window.
    for node in 9..=16 {
        detector.untrack(NodeId(node));
    }
    // Node 4 has been silent since 490: due at 990, inside the window of those two downs.
    for now in (510..=990).step_by(10) {
        detector.heartbeat(NodeId(1), now);
        for node in 5..=8 {
            detector.heartbeat(NodeId(node), now);
        }
        let transitions = detector.tick_with(now, &fresh);
        assert!(
            transitions.iter().all(|t| t.to != NodeHealth::Down),
            "{now}: {transitions:?}"
        );
    }
    assert_eq!(detector.held().collect::<Vec<_>>(), vec![NodeId(4)]);
}
