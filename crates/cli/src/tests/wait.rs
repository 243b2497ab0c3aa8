//! `--wait` decisions: when each goal is reached, which progress lines a pipe gets, and the
//! timeout message, by feeding `Goal::check` the views a poll would return.

use std::time::Duration;

use expect_test::expect;

use super::check;
use super::resources::{instance, names, view};
use crate::views::NodeNames;
use crate::wait::{Goal, Watcher, progress_line, timeout_message};

/// The lines a pipe shows for successive polls, each 200 ms apart, and whether the last
/// poll reached the goal.
fn progress(goal: &Goal, polls: &[Vec<api::ResourceView>]) -> (String, bool) {
    let mut watcher = Watcher::default();
    let mut lines = Vec::new();
    let mut done = false;
    for (index, views) in polls.iter().enumerate() {
        let result = goal.check(views, &names());
        if watcher.changed(&result.summary) {
            let elapsed = Duration::from_millis(200 * index as u64);
            lines.push(progress_line(elapsed, &result.summary, result.done));
        }
        done = result.done;
    }
    (lines.join("\n"), done)
}

fn web(instances: Vec<api::InstanceView>) -> Vec<api::ResourceView> {
    vec![view("web", instances)]
}

#[test]
fn move_to_a_node_prints_each_change_once_until_it_runs_there() {
    let goal = Goal::RunningOn {
        resources: vec!["web".to_string()],
        node: 2,
    };
    let polls = [
        web(vec![instance(1, "running", true)]),
        web(vec![
            instance(1, "running", false),
            instance(2, "stopped", true),
        ]),
        web(vec![
            instance(1, "running", false),
            instance(2, "stopped", true),
        ]),
        web(vec![
            instance(1, "stopped", false),
            instance(2, "stopped", true),
        ]),
        web(vec![
            instance(1, "stopped", false),
            instance(2, "running", true),
        ]),
    ];
    let (lines, done) = progress(&goal, &polls);
    assert!(done);
    check(
        lines,
        expect![[r#"
            0.0s  waiting: web: running on n1
            0.2s  waiting: web: moving on n1 (stopping), n2 (starting)
            0.6s  waiting: web: starting on n2
            0.8s  done: web: running on n2"#]],
    );
}

#[test]
fn move_is_not_done_while_the_old_node_still_runs_it() {
    let goal = Goal::RunningOn {
        resources: vec!["web".to_string()],
        node: 2,
    };
    let both = web(vec![
        instance(1, "running", true),
        instance(2, "running", true),
    ]);
    assert!(!goal.check(&both, &names()).done);
    let missing = goal.check(&[], &names());
    assert_eq!(
        (missing.done, missing.summary.as_str()),
        (false, "web: not found")
    );
}

#[test]
fn move_away_is_done_when_it_runs_on_another_node() {
    let goal = Goal::MovedAway {
        resources: vec!["web".to_string()],
        from: vec![1],
    };
    let stopped = web(vec![instance(1, "stopped", false)]);
    let elsewhere = web(vec![
        instance(1, "stopped", false),
        instance(3, "running", true),
    ]);
    let back = web(vec![instance(1, "running", true)]);
    assert!(!goal.check(&stopped, &names()).done, "stopped is not moved");
    assert!(goal.check(&elsewhere, &names()).done);
    assert!(!goal.check(&back, &names()).done);
}

#[test]
fn group_move_waits_for_every_member() {
    let goal = Goal::RunningOn {
        resources: vec!["vip".to_string(), "web".to_string()],
        node: 3,
    };
    let half = vec![
        view("vip", vec![instance(3, "running", true)]),
        view("web", vec![instance(3, "stopped", true)]),
    ];
    let result = goal.check(&half, &names());
    assert!(!result.done);
    assert_eq!(result.summary, "vip: running on n3; web: starting on n3");
}

#[test]
fn start_stop_and_cleanup_goals() {
    let running = web(vec![instance(1, "running", true)]);
    let starting = web(vec![instance(1, "stopped", true)]);
    let stopping = web(vec![instance(1, "running", false)]);
    let stopped = web(vec![instance(1, "stopped", false)]);
    let mut failed = web(vec![instance(1, "running", true)]);
    failed[0].instances[0].fail_count = 1;
    let start = Goal::Running {
        resource: "web".to_string(),
    };
    let stop = Goal::Stopped {
        resource: "web".to_string(),
    };
    let cleanup = Goal::Cleaned {
        resource: "web".to_string(),
    };
    let table: Vec<[bool; 3]> = [&running, &starting, &stopping, &stopped, &failed]
        .iter()
        .map(|views| [&start, &stop, &cleanup].map(|goal| goal.check(views, &names()).done))
        .collect();
    assert_eq!(
        table,
        [
            [true, false, true],
            [false, false, false],
            [false, false, false],
            [false, true, false],
            [true, false, false],
        ]
    );
}

#[test]
fn cleanup_of_a_disabled_resource_is_done_without_running() {
    let mut views = web(vec![instance(1, "stopped", false)]);
    views[0].spec.target_role = Some("stopped".to_string());
    let goal = Goal::Cleaned {
        resource: "web".to_string(),
    };
    assert!(goal.check(&views, &names()).done);
}

#[test]
fn standby_drain_counts_what_is_still_active_on_the_node() {
    let goal = Goal::Drained { node: 1 };
    let mut busy: Vec<api::ResourceView> = (0..7)
        .map(|index| {
            view(
                &format!("r{index}"),
                vec![instance(1, "running", index % 2 == 0)],
            )
        })
        .collect();
    busy.push(view("elsewhere", vec![instance(2, "running", true)]));
    let result = goal.check(&busy, &names());
    assert!(!result.done);
    check(
        super::wrap(&result.summary),
        expect![[r#"
            n1: 7 still active: r0 (running), r1 (stopping), r2 (running), r3 (stopping), r4
            (running) and 2 more"#]],
    );
    let drained = vec![
        view(
            "r0",
            vec![instance(1, "stopped", false), instance(2, "running", true)],
        ),
        view("elsewhere", vec![instance(2, "running", true)]),
    ];
    let result = goal.check(&drained, &names());
    assert_eq!(
        (result.done, result.summary.as_str()),
        (true, "n1: drained, no resource is active there")
    );
}

#[test]
fn timeout_message_says_what_was_awaited_what_was_seen_and_where_to_look() {
    let goal = Goal::RunningOn {
        resources: vec!["web".to_string()],
        node: 2,
    };
    let drain = Goal::Drained { node: 4 };
    let messages = [
        timeout_message(
            &goal,
            &names(),
            Duration::from_secs(60),
            Some("web: starting on n2"),
            &[(
                "web".to_string(),
                vec![
                    "process, unique; target role started".to_string(),
                    "node 2: -INFINITY: ban by location constraint".to_string(),
                ],
            )],
        ),
        timeout_message(
            &drain,
            &NodeNames::new(),
            Duration::from_secs(90),
            None,
            &[],
        ),
    ];
    check(
        messages.map(|message| super::wrap(&message)).join("\n"),
        expect![[r#"
            timed out after 1m waiting for web to run on n2; last seen: web: starting on n2;
            it may still get there: see `encluster resource show web` and `encluster explain
            web`
            why web is not there yet (explain):
              process, unique; target role started

            node 2: -INFINITY: ban by location constraint
            timed out after 1m 30s waiting for node 4 to drain; last seen: no answer from
            the API; it may still get there: see `encluster resource list` and `encluster
            explain NAME`"#]],
    );
}

#[test]
fn group_move_away_leaves_the_node_all_members_shared() {
    let together = [
        view("vip", vec![instance(1, "running", true)]),
        view(
            "web",
            vec![instance(1, "running", true), instance(2, "failed", false)],
        ),
    ];
    assert_eq!(crate::resource_commands::group_nodes(&together), [1]);
    // Members grouped while apart share no node, so any settled placement counts as moved.
    let apart = [
        view("vip", vec![instance(1, "running", true)]),
        view("web", vec![instance(2, "running", true)]),
    ];
    let from = crate::resource_commands::group_nodes(&apart);
    assert!(from.is_empty());
    let goal = Goal::MovedAway {
        resources: vec!["vip".to_string(), "web".to_string()],
        from,
    };
    let moved = [
        view("vip", vec![instance(2, "running", true)]),
        view("web", vec![instance(2, "running", true)]),
    ];
    assert!(goal.check(&moved, &names()).done);
}

#[test]
fn a_terminal_redraws_one_line_and_a_pipe_gets_one_line_each() {
    use crate::wait::progress_text;
    let terminal = [
        progress_text(true, "0.0s  web: running on n1", false),
        progress_text(true, "0.2s  web: running on n2", true),
    ];
    assert_eq!(
        terminal.concat(),
        "\r\x1b[2K0.0s  web: running on n1\r\x1b[2K0.2s  web: running on n2\n"
    );
    assert_eq!(progress_text(false, "0.0s  x", false), "0.0s  x\n");
    assert_eq!(progress_text(false, "0.2s  y", true), "0.2s  y\n");
}
