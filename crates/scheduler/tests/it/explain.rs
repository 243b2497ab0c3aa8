//! `explain` on scenario files: the lines an operator sees for `encluster explain R`, built
//! from the same reasons as the plan.

use expect_test::{Expect, expect};
use model::ResourceId;

use crate::fixture;

fn check(scenario: &str, resource: &str, expected: Expect) {
    let path = format!("{}/test_data/{scenario}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).expect("scenario is readable");
    let input = fixture::parse(&text);
    let lines = scheduler::explain(&input, &ResourceId(resource.to_owned()));
    let wrapped: Vec<String> = lines.iter().map(|line| wrap(line)).collect();
    expected.assert_eq(&wrapped.join("\n"));
}

/// Wraps a long line at spaces so the expectations fit the source width; continuation
/// lines are indented by two spaces.
fn wrap(line: &str) -> String {
    const WIDTH: usize = 80;
    let mut out = String::new();
    let mut current = String::new();
    for word in line.split(' ') {
        if !current.is_empty() && current.len() + 1 + word.len() > WIDTH {
            out.push_str(&current);
            out.push_str("\n ");
            current = String::new();
        }
        current.push(' ');
        current.push_str(word);
    }
    out.push_str(&current);
    out.trim_start().to_owned()
}

#[test]
fn explain_migration_threshold_names_the_failures_and_the_move() {
    check(
        "migration-threshold-reached",
        "web",
        expect![[r#"
            web is a process resource; stickiness 100, migration threshold 3
            observed on node 1: failed, 3 failures (last: exit code 1)
            node 1: cannot run it: migration threshold 3 reached on node 1 (3 failures of
              web)
            node 2: score 0 (location 0, colocation 0, stickiness 0)
            decision: on node 2: node 2 is the only node that can run it
            planned: stop web on node 1: migration threshold 3 reached on node 1 (3
              failures of web)
            planned: start web on node 2: moves from node 1: migration threshold 3 reached
              on node 1 (3 failures of web)"#]],
    );
}

#[test]
fn explain_stickiness_shows_every_score() {
    check(
        "stickiness-prevents-failback",
        "web",
        expect![[r#"
            web is a process resource; stickiness 100
            observed on node 2: running
            node 1: score 50 (location 50, colocation 0, stickiness 0)
            node 2: score 100 (location 0, colocation 0, stickiness 100)
            decision: on node 2: stickiness keeps it on node 2 (score 100; next best node
              1: 50)"#]],
    );
}

#[test]
fn explain_stopped_group_member_says_why() {
    check(
        "group-member-target-stopped",
        "app",
        expect![[r#"
            app is a process resource, in group web (vip, fs, app); stickiness 100
            observed on node 1: running
            node 1: score 100 (location 0, colocation 0, stickiness 100)
            node 2: score 0 (location 0, colocation 0, stickiness 0)
            decision: stopped: group web: fs, earlier in the group, is stopped
            planned: stop app on node 1: group web: fs, earlier in the group, is stopped"#]],
    );
}

#[test]
fn explain_anti_colocation_names_the_other_resource() {
    check(
        "anti-colocation-infinity-no-room",
        "replica-b",
        expect![[r#"
            replica-b is a process resource; stickiness 100
            observed on node 2: running
            node 1: cannot run it: replica-b must never run with replica-a, which is on
              node 1
            node 2: cannot run it: node 2 is down
            decision: stopped: no node can run it"#]],
    );
}
