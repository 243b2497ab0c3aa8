//! State-machine tests: feed events at given times and compare the exact commands.
//!
//! Method: `check` runs a script of `(now, event)` steps through a fresh executor and renders
//! every step with the commands it produced, one per line, against an `expect!` block
//! (`UPDATE_EXPECT=1` rewrites them). Resources monitor every second with 20 s timeouts
//! (stop: 5 s) and the fence margin is the default 150 ms, so the numbers stay readable.

use crate::{
    Assignment, Command, Event, Executor, ExecutorConfig, InstanceState, Now, OperationKind,
    Unconfirmed,
};
use expect_test::{Expect, expect};
use model::{BootMs, Millis, Resource, ResourceId, ResourceOptions};
use resource_agents::{Outcome, Severity};
use std::fmt::Write;
use std::time::Duration;

fn resource(id: &str, unique: bool) -> Resource {
    Resource {
        id: ResourceId(id.into()),
        type_name: "process".into(),
        params: [("command".to_owned(), "sleep".to_owned())].into(),
        options: ResourceOptions {
            monitor_interval: Duration::from_secs(1),
            stop_timeout: Duration::from_secs(5),
            ..ResourceOptions::default()
        },
        unique,
        clone: None,
        utilization: Default::default(),
    }
}

fn web(token: u64) -> Assignment {
    Assignment {
        resource: resource("web", false),
        fencing_token: token,
    }
}

fn vip(token: u64) -> Assignment {
    Assignment {
        resource: resource("vip", true),
        fencing_token: token,
    }
}

fn assign(assignments: &[Assignment]) -> Event {
    Event::Assignments(assignments.to_vec())
}

fn done(
    id: &str,
    operation: OperationKind,
    token: u64,
    outcome: Outcome,
    started_at: Millis,
) -> Event {
    Event::OperationDone {
        resource: ResourceId(id.into()),
        operation,
        fencing_token: token,
        outcome,
        started_at: BootMs(started_at),
        ended_at: None,
    }
}

/// A lease until `valid_until` on the boot clock.
fn lease(valid_until: Millis) -> Event {
    Event::Lease {
        valid_until: BootMs(valid_until),
    }
}

/// Both clocks at `at`: the scripts here never step the wall clock.
fn at(now: Millis) -> Now {
    Now {
        boot: BootMs(now),
        wall: now,
    }
}

fn crashed() -> Outcome {
    Outcome::failed(Severity::Soft, "killed by SIGKILL")
}

use OperationKind::{Monitor, Start, Stop};

fn check(steps: Vec<(Millis, Event)>, expected: Expect) {
    let mut executor = Executor::new(ExecutorConfig::default());
    let mut actual = String::new();
    for (now, event) in steps {
        let label = event_label(&event);
        writeln!(actual, "@{now} {label}").expect("write to a string");
        for command in executor.handle(event, at(now)) {
            writeln!(actual, "  {}", command_label(&command)).expect("write to a string");
        }
    }
    expected.assert_eq(&actual);
}

fn event_label(event: &Event) -> String {
    match event {
        Event::Assignments(list) => {
            let items: Vec<String> = list
                .iter()
                .map(|a| format!("{}#{}", a.resource.id, a.fencing_token))
                .collect();
            format!("assignments [{}]", items.join(", "))
        }
        Event::Lease { valid_until } => format!("lease until {}", valid_until.0),
        Event::OperationDone {
            resource,
            operation,
            fencing_token,
            outcome,
            started_at,
            ended_at,
        } => {
            let ended = ended_at
                .map(|at| format!(" (ended {at})"))
                .unwrap_or_default();
            let started_at = started_at.0;
            format!(
                "done {resource} {operation}#{fencing_token} (started {started_at}){ended}: \
                 {outcome}"
            )
        }
        Event::Exited(resource) => format!("exited {resource}"),
        Event::Found(list) => {
            let items: Vec<String> = list
                .iter()
                .map(|a| format!("{}#{}", a.resource.id, a.fencing_token))
                .collect();
            format!("found [{}]", items.join(", "))
        }
        Event::Spent(list) => {
            let items: Vec<String> = list
                .iter()
                .map(|a| format!("{}#{}", a.resource.id, a.fencing_token))
                .collect();
            format!("spent [{}]", items.join(", "))
        }
        Event::Tick => "tick".to_owned(),
        Event::Unconfirmed(list) => {
            let items: Vec<String> = list
                .iter()
                .map(|u| format!("{}#{}", u.resource, u.fencing_token))
                .collect();
            format!("unconfirmed [{}]", items.join(", "))
        }
        Event::Schema { type_name, schema } => {
            let reload = schema.as_ref().and_then(|s| s.reload.as_deref());
            format!("schema of {type_name}, reload {reload:?}")
        }
        Event::UserTypes(types) => {
            let names: Vec<&str> = types.iter().map(|t| t.definition.name.as_str()).collect();
            format!("user types [{}]", names.join(", "))
        }
    }
}

fn command_label(command: &Command) -> String {
    match command {
        Command::Run {
            resource,
            operation,
            fencing_token,
            timeout,
            interval,
            started_at,
            depth,
        } => {
            let depth = if *depth > 0 {
                format!(" depth={depth}")
            } else {
                String::new()
            };
            format!(
                "run {} {operation}#{fencing_token} timeout={timeout:?} interval={interval:?} \
                 at={}{depth}",
                resource.id, started_at.0
            )
        }
        Command::Cancel { resource } => format!("cancel {resource}"),
        Command::Report(record) => {
            let state = match &record.state_after {
                InstanceState::Failed { reason } => format!("failed\n    because {reason}"),
                other => other.to_string(),
            };
            format!(
                "report {} {}#{} {}..{}: {} -> {state}",
                record.resource,
                record.operation,
                record.fencing_token,
                record.started_at,
                record.finished_at,
                record.outcome,
            )
        }
    }
}

#[test]
fn assigned_resource_is_started_and_reported_running() {
    check(
        vec![
            (0, assign(&[web(1)])),
            (5, done("web", Start, 1, Outcome::Ok, 0)),
            (6, Event::Tick),
        ],
        expect![[r#"
            @0 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=0
            @5 done web start#1 (started 0): ok
              report web start#1 0..5: ok -> running
            @6 tick
        "#]],
    );
}

#[test]
fn nothing_is_started_before_the_first_assignment_set() {
    check(
        vec![(0, lease(10_000)), (20, Event::Tick)],
        expect![[r#"
            @0 lease until 10000
            @20 tick
        "#]],
    );
}

#[test]
fn unique_resource_waits_for_a_lease_longer_than_the_fence_margin() {
    check(
        vec![(0, assign(&[vip(1)])), (10, lease(160)), (20, lease(1_000))],
        expect![[r#"
            @0 assignments [vip#1]
            @10 lease until 160
            @20 lease until 1000
              run vip start#1 timeout=20s interval=0ns at=20
        "#]],
    );
}

#[test]
/// The stop under a standing grant spends it: the master, seeing it, may already have
/// granted the resource elsewhere, so a renewed lease alone must not restart it here.
fn unique_resource_is_stopped_before_the_lease_ends_and_restarts_only_under_a_new_grant() {
    check(
        vec![
            (0, lease(1_000)),
            (0, assign(&[vip(1)])),
            (5, done("vip", Start, 1, Outcome::Ok, 0)),
            (849, Event::Tick),
            (850, Event::Tick),
            (860, done("vip", Stop, 1, Outcome::Ok, 850)),
            (900, lease(2_000)),
            (950, assign(&[vip(2)])),
        ],
        expect![[r#"
            @0 lease until 1000
            @0 assignments [vip#1]
              run vip start#1 timeout=20s interval=0ns at=0
            @5 done vip start#1 (started 0): ok
              report vip start#1 0..5: ok -> running
            @849 tick
            @850 tick
              run vip stop#1 timeout=150ms interval=0ns at=850
            @860 done vip stop#1 (started 850): ok
              report vip stop#1 850..860: ok -> stopped
            @900 lease until 2000
            @950 assignments [vip#2]
              run vip start#2 timeout=20s interval=0ns at=950
        "#]],
    );
}

/// Issue 10: the lease is on the boot clock. NTP stepping the wall clock back an hour while
/// the lease runs does not lengthen it: the instance is fenced when the boot clock says,
/// and the report carries the wall-clock times people read.
#[test]
fn r10_a_wall_clock_step_back_does_not_lengthen_the_lease() {
    let hour: Millis = 3_600_000;
    let wall: Millis = 1_800_000_000_000;
    let now = |boot: u64, wall: Millis| Now {
        boot: BootMs(boot),
        wall,
    };
    let mut executor = Executor::new(ExecutorConfig::default());
    executor.handle(lease(1_000), now(0, wall));
    let started = executor.handle(assign(&[vip(1)]), now(0, wall));
    assert!(
        matches!(
            started[..],
            [Command::Run {
                operation: Start,
                ..
            }]
        ),
        "{started:?}"
    );
    executor.handle(done("vip", Start, 1, Outcome::Ok, 0), now(5, wall + 5));
    // The wall clock steps back an hour; the boot clock goes on to the fence margin.
    let before = executor.handle(Event::Tick, now(849, wall + 849 - hour));
    assert_eq!(before, Vec::new());
    let fenced = executor.handle(Event::Tick, now(850, wall + 850 - hour));
    assert!(
        matches!(
            fenced[..],
            [Command::Run {
                operation: Stop,
                ..
            }]
        ),
        "the lease must end by the boot clock, whatever the wall clock says: {fenced:?}"
    );
    let stopped = executor.handle(
        done("vip", Stop, 1, Outcome::Ok, 850),
        now(860, wall + 860 - hour),
    );
    let [Command::Report(record)] = &stopped[..] else {
        panic!("expected one report, got {stopped:?}");
    };
    assert_eq!(record.started_at, wall + 850 - hour);
    assert_eq!(record.finished_at, wall + 860 - hour);
    assert!(!executor.lease_ok(BootMs(860)));
}

/// A hung agent resumes long after its lease ended; its lease watchdog had already fenced
/// the instance at 900, so the stop reports that as the end, not the time it ran. A failed
/// stop keeps its own time: nothing is known to have ended.
#[test]
fn a_stop_after_the_watchdog_fenced_the_instance_reports_when_it_ended() {
    let stop_done = |at: Millis, outcome: Outcome| Event::OperationDone {
        resource: ResourceId("vip".into()),
        operation: Stop,
        fencing_token: 1,
        outcome,
        started_at: BootMs(at),
        ended_at: Some(900),
    };
    check(
        vec![
            (0, lease(1_000)),
            (0, assign(&[vip(1)])),
            (5, done("vip", Start, 1, Outcome::Ok, 0)),
            (5_000, Event::Tick),
            (
                5_010,
                stop_done(5_000, Outcome::failed(Severity::Soft, "busy")),
            ),
            (9_000, Event::Tick),
            (9_010, stop_done(9_000, Outcome::Ok)),
        ],
        expect![[r#"
            @0 lease until 1000
            @0 assignments [vip#1]
              run vip start#1 timeout=20s interval=0ns at=0
            @5 done vip start#1 (started 0): ok
              report vip start#1 0..5: ok -> running
            @5000 tick
              run vip stop#1 timeout=100ms interval=0ns at=5000
            @5010 done vip stop#1 (started 5000) (ended 900): failed (soft): busy
              report vip stop#1 5000..5010: failed (soft): busy -> failed
                because stop failed: busy
            @9000 tick
              run vip stop#1 timeout=100ms interval=0ns at=9000
            @9010 done vip stop#1 (started 9000) (ended 900): ok
              report vip stop#1 9000..900: ok -> stopped
        "#]],
    );
}

#[test]
fn self_fencing_abandons_a_running_start_or_monitor() {
    let mut vip2 = resource("vip2", true);
    vip2.options.monitor_interval = Duration::from_millis(800);
    let vip2 = Assignment {
        resource: vip2,
        fencing_token: 1,
    };
    check(
        vec![
            (0, lease(1_000)),
            (0, assign(&[vip(1), vip2])),
            (5, done("vip2", Start, 1, Outcome::Ok, 0)),
            (805, Event::Tick),
            (850, Event::Tick),
            (860, done("vip", Start, 1, Outcome::Ok, 0)),
            (861, done("vip2", Monitor, 1, Outcome::Ok, 805)),
        ],
        expect![[r#"
            @0 lease until 1000
            @0 assignments [vip#1, vip2#1]
              run vip start#1 timeout=20s interval=0ns at=0
              run vip2 start#1 timeout=20s interval=0ns at=0
            @5 done vip2 start#1 (started 0): ok
              report vip2 start#1 0..5: ok -> running
            @805 tick
              run vip2 monitor#1 timeout=20s interval=800ms at=805
            @850 tick
              cancel vip
              report vip start#1 0..850: failed (soft): abandoned: the lease was ending -> unknown
              cancel vip2
              run vip stop#1 timeout=150ms interval=0ns at=850
              run vip2 stop#1 timeout=150ms interval=0ns at=850
            @860 done vip start#1 (started 0): ok
            @861 done vip2 monitor#1 (started 805): ok
        "#]],
    );
}

#[test]
fn running_resource_is_monitored_every_interval() {
    check(
        vec![
            (0, assign(&[web(1)])),
            (5, done("web", Start, 1, Outcome::Ok, 0)),
            (1_004, Event::Tick),
            (1_005, Event::Tick),
            (1_010, done("web", Monitor, 1, Outcome::Ok, 1_005)),
            (2_009, Event::Tick),
            (2_010, Event::Tick),
        ],
        expect![[r#"
            @0 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=0
            @5 done web start#1 (started 0): ok
              report web start#1 0..5: ok -> running
            @1004 tick
            @1005 tick
              run web monitor#1 timeout=20s interval=1s at=1005
            @1010 done web monitor#1 (started 1005): ok
            @2009 tick
            @2010 tick
              run web monitor#1 timeout=20s interval=1s at=2010
        "#]],
    );
}

#[test]
fn process_exit_triggers_a_monitor_at_once() {
    check(
        vec![
            (0, assign(&[web(1)])),
            (5, done("web", Start, 1, Outcome::Ok, 0)),
            (300, Event::Exited(ResourceId("web".into()))),
        ],
        expect![[r#"
            @0 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=0
            @5 done web start#1 (started 0): ok
              report web start#1 0..5: ok -> running
            @300 exited web
              run web monitor#1 timeout=20s interval=1s at=300
        "#]],
    );
}

#[test]
fn monitor_failure_is_reported_cleaned_up_and_not_restarted() {
    check(
        vec![
            (0, assign(&[web(1)])),
            (5, done("web", Start, 1, Outcome::Ok, 0)),
            (300, Event::Exited(ResourceId("web".into()))),
            (302, done("web", Monitor, 1, crashed(), 300)),
            (305, done("web", Stop, 1, Outcome::Ok, 302)),
            (5_000, Event::Tick),
            (5_001, assign(&[web(1)])),
        ],
        expect![[r#"
            @0 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=0
            @5 done web start#1 (started 0): ok
              report web start#1 0..5: ok -> running
            @300 exited web
              run web monitor#1 timeout=20s interval=1s at=300
            @302 done web monitor#1 (started 300): failed (soft): killed by SIGKILL
              report web monitor#1 300..302: failed (soft): killed by SIGKILL -> failed
                because monitor failed: killed by SIGKILL
              run web stop#1 timeout=5s interval=0ns at=302
            @305 done web stop#1 (started 302): ok
              report web stop#1 302..305: ok -> stopped
            @5000 tick
            @5001 assignments [web#1]
        "#]],
    );
}

#[test]
fn new_fencing_token_restarts_in_place() {
    check(
        vec![
            (0, assign(&[web(1)])),
            (5, done("web", Start, 1, Outcome::Ok, 0)),
            (100, assign(&[web(2)])),
            (110, done("web", Stop, 1, Outcome::Ok, 100)),
            (120, done("web", Start, 2, Outcome::Ok, 110)),
        ],
        expect![[r#"
            @0 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=0
            @5 done web start#1 (started 0): ok
              report web start#1 0..5: ok -> running
            @100 assignments [web#2]
              run web stop#1 timeout=5s interval=0ns at=100
            @110 done web stop#1 (started 100): ok
              report web stop#1 100..110: ok -> stopped
              run web start#2 timeout=20s interval=0ns at=110
            @120 done web start#2 (started 110): ok
              report web start#2 110..120: ok -> running
        "#]],
    );
}

#[test]
fn restart_after_a_crash_needs_a_new_token() {
    check(
        vec![
            (0, assign(&[web(1)])),
            (5, done("web", Start, 1, Outcome::Ok, 0)),
            (300, Event::Exited(ResourceId("web".into()))),
            (302, done("web", Monitor, 1, crashed(), 300)),
            (303, assign(&[web(2)])),
            (305, done("web", Stop, 1, Outcome::Ok, 302)),
        ],
        expect![[r#"
            @0 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=0
            @5 done web start#1 (started 0): ok
              report web start#1 0..5: ok -> running
            @300 exited web
              run web monitor#1 timeout=20s interval=1s at=300
            @302 done web monitor#1 (started 300): failed (soft): killed by SIGKILL
              report web monitor#1 300..302: failed (soft): killed by SIGKILL -> failed
                because monitor failed: killed by SIGKILL
              run web stop#1 timeout=5s interval=0ns at=302
            @303 assignments [web#2]
            @305 done web stop#1 (started 302): ok
              report web stop#1 302..305: ok -> stopped
              run web start#2 timeout=20s interval=0ns at=305
        "#]],
    );
}

#[test]
fn unassigned_resource_is_stopped_and_forgotten() {
    check(
        vec![
            (0, assign(&[web(1)])),
            (5, done("web", Start, 1, Outcome::Ok, 0)),
            (100, assign(&[])),
            (110, done("web", Stop, 1, Outcome::Ok, 100)),
            (2_000, Event::Tick),
        ],
        expect![[r#"
            @0 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=0
            @5 done web start#1 (started 0): ok
              report web start#1 0..5: ok -> running
            @100 assignments []
              run web stop#1 timeout=5s interval=0ns at=100
            @110 done web stop#1 (started 100): ok
              report web stop#1 100..110: ok -> stopped
            @2000 tick
        "#]],
    );
}

#[test]
fn only_one_operation_runs_per_resource() {
    check(
        vec![
            (0, assign(&[web(1)])),
            (1, assign(&[web(2)])),
            (3, assign(&[web(3)])),
            (10, done("web", Start, 1, Outcome::Ok, 0)),
        ],
        expect![[r#"
            @0 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=0
            @1 assignments [web#2]
            @3 assignments [web#3]
            @10 done web start#1 (started 0): ok
              report web start#1 0..10: ok -> running
              run web stop#1 timeout=5s interval=0ns at=10
        "#]],
    );
}

#[test]
fn stale_operation_outcomes_are_ignored() {
    check(
        vec![
            (0, assign(&[web(2)])),
            (5, done("web", Start, 1, Outcome::Ok, 0)),
            (6, done("web", Start, 2, Outcome::Ok, 3)),
            (7, done("web", Stop, 2, Outcome::Ok, 0)),
            (8, done("db", Start, 2, Outcome::Ok, 0)),
            (9, done("web", Start, 2, Outcome::Ok, 0)),
        ],
        expect![[r#"
            @0 assignments [web#2]
              run web start#2 timeout=20s interval=0ns at=0
            @5 done web start#1 (started 0): ok
            @6 done web start#2 (started 3): ok
            @7 done web stop#2 (started 0): ok
            @8 done db start#2 (started 0): ok
            @9 done web start#2 (started 0): ok
              report web start#2 0..9: ok -> running
        "#]],
    );
}

#[test]
fn monitor_gives_way_to_a_stop_and_its_late_outcome_is_ignored() {
    check(
        vec![
            (0, assign(&[web(1)])),
            (5, done("web", Start, 1, Outcome::Ok, 0)),
            (1_005, Event::Tick),
            (1_006, assign(&[])),
            (1_010, done("web", Monitor, 1, Outcome::Ok, 1_005)),
        ],
        expect![[r#"
            @0 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=0
            @5 done web start#1 (started 0): ok
              report web start#1 0..5: ok -> running
            @1005 tick
              run web monitor#1 timeout=20s interval=1s at=1005
            @1006 assignments []
              cancel web
              run web stop#1 timeout=5s interval=0ns at=1006
            @1010 done web monitor#1 (started 1005): ok
        "#]],
    );
}

#[test]
fn failed_start_is_reported_then_stopped_to_clean_up() {
    check(
        vec![
            (0, assign(&[web(1)])),
            (20_000, done("web", Start, 1, Outcome::Timeout, 0)),
            (20_010, done("web", Stop, 1, Outcome::Ok, 20_000)),
            (20_020, Event::Tick),
        ],
        expect![[r#"
            @0 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=0
            @20000 done web start#1 (started 0): timed out
              report web start#1 0..20000: timed out -> failed
                because start timed out after 20s
              run web stop#1 timeout=5s interval=0ns at=20000
            @20010 done web stop#1 (started 20000): ok
              report web stop#1 20000..20010: ok -> stopped
            @20020 tick
        "#]],
    );
}

#[test]
fn failed_stop_is_reported_and_retried_with_backoff() {
    let stuck = Outcome::failed(Severity::Hard, "group survived SIGKILL");
    check(
        vec![
            (0, assign(&[web(1)])),
            (5, done("web", Start, 1, Outcome::Ok, 0)),
            (100, assign(&[])),
            (5_100, done("web", Stop, 1, stuck.clone(), 100)),
            (6_099, Event::Tick),
            (6_100, Event::Tick),
            (6_200, done("web", Stop, 1, stuck, 6_100)),
            (8_199, Event::Tick),
            (8_200, Event::Tick),
            (8_210, done("web", Stop, 1, Outcome::Ok, 8_200)),
        ],
        expect![[r#"
            @0 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=0
            @5 done web start#1 (started 0): ok
              report web start#1 0..5: ok -> running
            @100 assignments []
              run web stop#1 timeout=5s interval=0ns at=100
            @5100 done web stop#1 (started 100): failed (hard): group survived SIGKILL
              report web stop#1 100..5100: failed (hard): group survived SIGKILL -> failed
                because stop failed: group survived SIGKILL
            @6099 tick
            @6100 tick
              run web stop#1 timeout=5s interval=0ns at=6100
            @6200 done web stop#1 (started 6100): failed (hard): group survived SIGKILL
              report web stop#1 6100..6200: failed (hard): group survived SIGKILL -> failed
                because stop failed: group survived SIGKILL
            @8199 tick
            @8200 tick
              run web stop#1 timeout=5s interval=0ns at=8200
            @8210 done web stop#1 (started 8200): ok
              report web stop#1 8200..8210: ok -> stopped
        "#]],
    );
}

#[test]
fn found_resources_wait_for_assignments_then_are_adopted_or_stopped() {
    check(
        vec![
            (
                0,
                Event::Found(vec![
                    web(3),
                    Assignment {
                        resource: resource("db", false),
                        fencing_token: 2,
                    },
                ]),
            ),
            (20, Event::Tick),
            (
                40,
                assign(&[Assignment {
                    resource: resource("db", false),
                    fencing_token: 2,
                }]),
            ),
            (45, done("db", Monitor, 2, Outcome::Ok, 40)),
            (50, done("web", Stop, 3, Outcome::Ok, 40)),
        ],
        expect![[r#"
            @0 found [web#3, db#2]
            @20 tick
            @40 assignments [db#2]
              run web stop#3 timeout=5s interval=0ns at=40
              run db monitor#2 timeout=20s interval=0ns at=40
            @45 done db monitor#2 (started 40): ok
              report db monitor#2 40..45: ok -> running
            @50 done web stop#3 (started 40): ok
              report web stop#3 40..50: ok -> stopped
        "#]],
    );
}

#[test]
fn found_resource_not_running_is_started() {
    check(
        vec![
            (0, Event::Found(vec![web(3)])),
            (40, assign(&[web(3)])),
            (45, done("web", Monitor, 3, Outcome::NotRunning, 40)),
            (60, done("web", Start, 3, Outcome::Ok, 45)),
        ],
        expect![[r#"
            @0 found [web#3]
            @40 assignments [web#3]
              run web monitor#3 timeout=20s interval=0ns at=40
            @45 done web monitor#3 (started 40): not running
              report web monitor#3 40..45: not running -> stopped
              run web start#3 timeout=20s interval=0ns at=45
            @60 done web start#3 (started 45): ok
              report web start#3 45..60: ok -> running
        "#]],
    );
}

#[test]
fn found_unique_resource_without_a_lease_is_fenced_at_once() {
    check(
        vec![
            (0, Event::Found(vec![vip(4)])),
            (5, done("vip", Stop, 4, Outcome::Ok, 0)),
        ],
        expect![[r#"
            @0 found [vip#4]
              run vip stop#4 timeout=100ms interval=0ns at=0
            @5 done vip stop#4 (started 0): ok
              report vip stop#4 0..5: ok -> stopped
        "#]],
    );
}

/// Seed 73 of the simulator: a node stopped its unique resource under a grant that still
/// stood (its lease was running out), crashed and restarted. Its feed still shows that
/// grant, but the master already counts it released and may start the resource elsewhere:
/// the restarted executor must not start under it, only under a newer grant. It reports
/// the stop again (the earlier life may have crashed before its report left), so the
/// master sees the grant spent and grants anew (simulator seed 9, with the first fix).
#[test]
fn a_grant_stopped_under_before_a_restart_stays_spent() {
    check(
        vec![
            (0, lease(10_000)),
            (0, Event::Found(vec![])),
            (0, Event::Spent(vec![vip(4), web(2)])),
            (10, assign(&[vip(4), web(3)])),
            (20, assign(&[vip(5), web(3)])),
            (30, done("vip", Start, 5, Outcome::Ok, 20)),
        ],
        expect![[r#"
            @0 lease until 10000
            @0 found []
            @0 spent [vip#4, web#2]
            @10 assignments [vip#4, web#3]
              report vip stop#4 10..10: ok -> stopped
              run web start#3 timeout=20s interval=0ns at=10
            @20 assignments [vip#5, web#3]
              run vip start#5 timeout=20s interval=0ns at=20
            @30 done vip start#5 (started 20): ok
              report vip start#5 20..30: ok -> running
        "#]],
    );
}

#[test]
fn exit_during_start_is_checked_once_started() {
    check(
        vec![
            (0, assign(&[web(1)])),
            (2, Event::Exited(ResourceId("web".into()))),
            (5, done("web", Start, 1, Outcome::Ok, 0)),
        ],
        expect![[r#"
            @0 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=0
            @2 exited web
            @5 done web start#1 (started 0): ok
              report web start#1 0..5: ok -> running
              run web monitor#1 timeout=20s interval=1s at=5
        "#]],
    );
}

#[test]
fn found_resource_granted_anew_is_probed_then_restarted() {
    check(
        vec![
            (0, Event::Found(vec![web(3)])),
            (40, assign(&[web(4)])),
            (45, done("web", Monitor, 3, Outcome::Ok, 40)),
            (50, done("web", Stop, 3, Outcome::Ok, 45)),
        ],
        expect![[r#"
            @0 found [web#3]
            @40 assignments [web#4]
              run web monitor#3 timeout=20s interval=0ns at=40
            @45 done web monitor#3 (started 40): ok
              report web monitor#3 40..45: ok -> running
              run web stop#3 timeout=5s interval=0ns at=45
            @50 done web stop#3 (started 45): ok
              report web stop#3 45..50: ok -> stopped
              run web start#4 timeout=20s interval=0ns at=50
        "#]],
    );
}

#[test]
fn long_failure_reasons_are_cut() {
    let mut executor = Executor::new(ExecutorConfig::default());
    executor.handle(assign(&[web(1)]), at(0));
    let long = Outcome::failed(Severity::Soft, "é".repeat(5_000));
    let commands = executor.handle(done("web", Start, 1, long, 0), at(5));
    let Some(Command::Report(record)) = commands.first() else {
        panic!("expected a report first, got {commands:?}");
    };
    let Outcome::Failed { reason, .. } = &record.outcome else {
        panic!("expected a failure, got {:?}", record.outcome);
    };
    assert!(
        reason.len() <= crate::limits::REASON_BYTES_MAX,
        "reason is {} bytes",
        reason.len()
    );
    assert!(reason.starts_with("éé"));
}

#[test]
fn instances_show_state_token_and_running_operation() {
    let mut executor = Executor::new(ExecutorConfig::default());
    executor.handle(assign(&[web(1)]), at(0));
    executor.handle(done("web", Start, 1, Outcome::Ok, 0), at(5));
    executor.handle(Event::Tick, at(1_005));
    let views: Vec<String> = executor
        .instances()
        .map(|(id, view)| {
            format!(
                "{id}: {} token {} assigned {:?} running {:?} next monitor {:?}",
                view.state,
                view.fencing_token,
                view.assigned_token,
                view.operation,
                view.next_monitor_at.map(|at| at.0)
            )
        })
        .collect();
    expect![[r#"
        [
            "web: running token 1 assigned Some(1) running Some(Monitor) next monitor Some(1005)",
        ]
    "#]]
    .assert_debug_eq(&views);
}

#[test]
fn operations_beyond_the_in_flight_limit_wait_their_turn() {
    let max = crate::limits::OPERATIONS_IN_FLIGHT_MAX;
    let mut executor = Executor::new(ExecutorConfig::default());
    let many: Vec<Assignment> = (0..max + 10)
        .map(|i| Assignment {
            resource: resource(&format!("r{i:04}"), false),
            fencing_token: 1,
        })
        .collect();
    let runs = |commands: &[Command]| -> Vec<String> {
        commands
            .iter()
            .filter_map(|command| match command {
                Command::Run { resource, .. } => Some(resource.id.0.clone()),
                _ => None,
            })
            .collect()
    };
    let first = runs(&executor.handle(Event::Assignments(many), at(0)));
    assert_eq!(first.len(), max);
    assert_eq!(
        first.last().map(String::as_str),
        Some(format!("r{:04}", max - 1).as_str())
    );
    let next = runs(&executor.handle(done("r0000", Start, 1, Outcome::Ok, 0), at(5)));
    assert_eq!(
        next,
        vec![format!("r{max:04}")],
        "one finished, one more starts"
    );
}

#[test]
fn duplicate_assignments_keep_the_newest_grant() {
    check(
        vec![(0, assign(&[web(3), web(5), web(4)]))],
        expect![[r#"
            @0 assignments [web#3, web#5, web#4]
              run web start#5 timeout=20s interval=0ns at=0
        "#]],
    );
}

fn draining_web(token: u64) -> Assignment {
    let mut assignment = web(token);
    assignment.resource.options.drain = Duration::from_millis(500);
    assignment
}

fn draining_vip(token: u64) -> Assignment {
    let mut assignment = vip(token);
    assignment.resource.options.drain = Duration::from_millis(500);
    assignment
}

/// A withdrawn grant stops the instance only once its drain is over; monitors pause
/// meanwhile, and a grant coming back ends the drain without a stop.
#[test]
fn a_withdrawn_grant_stops_the_instance_after_its_drain() {
    check(
        vec![
            (0, assign(&[draining_web(1)])),
            (5, done("web", Start, 1, Outcome::Ok, 0)),
            (100, assign(&[])),
            (599, Event::Tick),
            (600, Event::Tick),
            (610, done("web", Stop, 1, Outcome::Ok, 600)),
            (700, assign(&[draining_web(2)])),
            (705, done("web", Start, 2, Outcome::Ok, 700)),
            (800, assign(&[])),
            (900, assign(&[draining_web(2)])),
            (1_400, Event::Tick),
        ],
        expect![[r#"
            @0 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=0
            @5 done web start#1 (started 0): ok
              report web start#1 0..5: ok -> running
            @100 assignments []
            @599 tick
            @600 tick
              run web stop#1 timeout=5s interval=0ns at=600
            @610 done web stop#1 (started 600): ok
              report web stop#1 600..610: ok -> stopped
            @700 assignments [web#2]
              run web start#2 timeout=20s interval=0ns at=700
            @705 done web start#2 (started 700): ok
              report web start#2 700..705: ok -> running
            @800 assignments []
            @900 assignments [web#2]
            @1400 tick
        "#]],
    );
}

/// A lease that is ending stops a draining unique resource at once: the drain never
/// outlives the right to run.
#[test]
fn a_lease_ending_cuts_a_drain_short() {
    check(
        vec![
            (0, lease(1_000)),
            (0, assign(&[draining_vip(1)])),
            (5, done("vip", Start, 1, Outcome::Ok, 0)),
            (700, assign(&[])),
            (849, Event::Tick),
            (850, Event::Tick),
        ],
        expect![[r#"
            @0 lease until 1000
            @0 assignments [vip#1]
              run vip start#1 timeout=20s interval=0ns at=0
            @5 done vip start#1 (started 0): ok
              report vip start#1 0..5: ok -> running
            @700 assignments []
            @849 tick
            @850 tick
              run vip stop#1 timeout=150ms interval=0ns at=850
        "#]],
    );
}

/// A drain set on a running resource (its definition updated under the same grant) applies
/// to the next planned stop, without a restart.
#[test]
fn a_drain_set_while_running_applies_to_the_next_stop() {
    check(
        vec![
            (0, assign(&[web(1)])),
            (5, done("web", Start, 1, Outcome::Ok, 0)),
            (50, assign(&[draining_web(1)])),
            (100, assign(&[])),
            (599, Event::Tick),
            (600, Event::Tick),
        ],
        expect![[r#"
            @0 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=0
            @5 done web start#1 (started 0): ok
              report web start#1 0..5: ok -> running
            @50 assignments [web#1]
            @100 assignments []
            @599 tick
            @600 tick
              run web stop#1 timeout=5s interval=0ns at=600
        "#]],
    );
}

fn unconfirmed(entries: &[(&str, u64)]) -> Event {
    Event::Unconfirmed(
        entries
            .iter()
            .map(|(id, token)| Unconfirmed {
                resource: ResourceId((*id).into()),
                fencing_token: *token,
            })
            .collect(),
    )
}

/// Issue 10: a start waiting on a probe that never answers outlived the deletion of its
/// resource (or a stop, or a move); it is now abandoned, reported, and the instance stopped
/// at once. Its late outcome is ignored.
#[test]
fn r10_a_start_whose_grant_is_withdrawn_is_abandoned_and_stopped_at_once() {
    check(
        vec![
            (0, assign(&[web(1)])),
            (5_000, assign(&[])),
            (5_010, done("web", Start, 1, Outcome::Timeout, 0)),
            (5_020, done("web", Stop, 1, Outcome::Ok, 5_000)),
            (5_030, Event::Tick),
        ],
        expect![[r#"
            @0 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=0
            @5000 assignments []
              cancel web
              report web start#1 0..5000: failed (soft): abandoned: grant withdrawn -> unknown
              run web stop#1 timeout=5s interval=0ns at=5000
            @5010 done web start#1 (started 0): timed out
            @5020 done web stop#1 (started 5000): ok
              report web stop#1 5000..5020: ok -> stopped
            @5030 tick
        "#]],
    );
}

/// Issue 10: new parameters while the start runs abandon it and stop the instance; the
/// grant is spent, so the instance starts again, with the new parameters, only under the
/// master's next grant. A change of options alone leaves the start alone.
#[test]
fn r10_a_start_whose_parameters_change_is_abandoned_and_restarts_under_a_new_grant() {
    let mut timeouts = web(1);
    timeouts.resource.options.stop_timeout = Duration::from_secs(6);
    let mut fixed = web(1);
    fixed.resource.params.insert("args".into(), "1000".into());
    let mut regranted = fixed.clone();
    regranted.fencing_token = 2;
    let steps = vec![
        (0, assign(&[web(1)])),
        (10, assign(&[timeouts])),
        (20, assign(&[fixed.clone()])),
        (30, done("web", Stop, 1, Outcome::Ok, 20)),
        (40, assign(&[fixed])),
        (50, assign(&[regranted.clone()])),
    ];
    check(
        steps.clone(),
        expect![[r#"
            @0 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=0
            @10 assignments [web#1]
            @20 assignments [web#1]
              cancel web
              report web start#1 0..20: failed (soft): abandoned: parameters changed -> unknown
              run web stop#1 timeout=6s interval=0ns at=20
            @30 done web stop#1 (started 20): ok
              report web stop#1 20..30: ok -> stopped
            @40 assignments [web#1]
            @50 assignments [web#2]
              run web start#2 timeout=20s interval=0ns at=50
        "#]],
    );
    let mut executor = Executor::new(ExecutorConfig::default());
    let mut last_run = None;
    for (now, event) in steps {
        for command in executor.handle(event, at(now)) {
            if let Command::Run { resource, .. } = command {
                last_run = Some(resource);
            }
        }
    }
    assert_eq!(
        last_run,
        Some(regranted.resource),
        "started with the new parameters"
    );
}

/// Issue 10: a grant withdrawn (or its resource deleted) before this node ever saw it left
/// the master waiting forever for a report; the executor now confirms what the cluster
/// doubts and it does not run, again while the doubt lasts.
#[test]
fn r10_a_doubted_resource_that_does_not_run_here_is_confirmed_stopped() {
    check(
        vec![
            (0, unconfirmed(&[("slow", 0)])),
            (1, assign(&[])),
            (2, Event::Tick),
            (5_000, Event::Tick),
            (5_001, Event::Tick),
            (5_002, unconfirmed(&[("slow", 0)])),
            (5_003, unconfirmed(&[])),
            (20_000, Event::Tick),
        ],
        expect![[r#"
            @0 unconfirmed [slow#0]
            @1 assignments []
              report slow stop#0 1..1: not running -> stopped
            @2 tick
            @5000 tick
            @5001 tick
              report slow stop#0 5001..5001: not running -> stopped
            @5002 unconfirmed [slow#0]
            @5003 unconfirmed []
            @20000 tick
        "#]],
    );
}

/// A doubted resource that still runs here is stopped like any unassigned one, and its own
/// stop report answers the doubt; it is confirmed again only if the doubt outlasts it.
#[test]
fn a_doubted_resource_that_runs_here_is_left_to_its_own_stop() {
    check(
        vec![
            (0, assign(&[web(1)])),
            (5, done("web", Start, 1, Outcome::Ok, 0)),
            (10, assign(&[])),
            (10, unconfirmed(&[("web", 1)])),
            (20, done("web", Stop, 1, Outcome::Ok, 10)),
            (4_000, Event::Tick),
            (5_020, Event::Tick),
        ],
        expect![[r#"
            @0 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=0
            @5 done web start#1 (started 0): ok
              report web start#1 0..5: ok -> running
            @10 assignments []
              run web stop#1 timeout=5s interval=0ns at=10
            @10 unconfirmed [web#1]
            @20 done web stop#1 (started 10): ok
              report web stop#1 10..20: ok -> stopped
            @4000 tick
            @5020 tick
              report web stop#1 5020..5020: not running -> stopped
        "#]],
    );
}

/// The type `process` as a reloading type for these tests: `args` is reloadable.
fn reloading_schema() -> Event {
    let schema = model::ParamSchema::new(vec![
        model::ParamSpec::new("command", model::ParamKind::String, "command"),
        model::ParamSpec::new("args", model::ParamKind::String, "args").reloadable(),
    ])
    .with_reload("reload");
    Event::Schema {
        type_name: "process".into(),
        schema: Some(schema),
    }
}

fn web_with_args(token: u64, args: &str) -> Assignment {
    let mut assignment = web(token);
    assignment
        .resource
        .params
        .insert("args".into(), args.into());
    assignment
}

/// Issue 11: a running instance kept its old parameters after an update. It is now stopped
/// under its grant (spending it), and the master's next grant starts the new definition:
/// old and new never run at once.
#[test]
fn r11_a_running_instance_whose_parameters_change_is_stopped_and_restarted_under_a_new_grant() {
    let steps = vec![
        (0, assign(&[web_with_args(1, "1000")])),
        (5, done("web", Start, 1, Outcome::Ok, 0)),
        (10, assign(&[web_with_args(1, "2000")])),
        (20, done("web", Stop, 1, Outcome::Ok, 10)),
        (30, assign(&[web_with_args(1, "2000")])),
        (40, assign(&[web_with_args(2, "2000")])),
    ];
    check(
        steps.clone(),
        expect![[r#"
            @0 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=0
            @5 done web start#1 (started 0): ok
              report web start#1 0..5: ok -> running
            @10 assignments [web#1]
              run web stop#1 timeout=5s interval=0ns at=10
            @20 done web stop#1 (started 10): ok
              report web stop#1 10..20: ok -> stopped
            @30 assignments [web#1]
            @40 assignments [web#2]
              run web start#2 timeout=20s interval=0ns at=40
        "#]],
    );
    let mut executor = Executor::new(ExecutorConfig::default());
    let mut runs = Vec::new();
    for (now, event) in steps {
        for command in executor.handle(event, at(now)) {
            if let Command::Run { resource, .. } = command {
                runs.push(resource.params["args"].clone());
            }
        }
    }
    assert_eq!(
        runs,
        ["1000", "1000", "2000"],
        "stopped as it ran, started anew"
    );
}

#[test]
fn a_reloadable_change_is_reloaded_under_the_same_grant() {
    check(
        vec![
            (0, reloading_schema()),
            (1, assign(&[web_with_args(1, "1000")])),
            (5, done("web", Start, 1, Outcome::Ok, 1)),
            (10, assign(&[web_with_args(1, "2000")])),
            (20, done("web", OperationKind::Reload, 1, Outcome::Ok, 10)),
            (1020, Event::Tick),
            (1030, assign(&[web_with_args(1, "2000")])),
        ],
        expect![[r#"
            @0 schema of process, reload Some("reload")
            @1 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=1
            @5 done web start#1 (started 1): ok
              report web start#1 1..5: ok -> running
            @10 assignments [web#1]
              run web reload#1 timeout=20s interval=0ns at=10
            @20 done web reload#1 (started 10): ok
              report web reload#1 10..20: ok -> running
            @1020 tick
              run web monitor#1 timeout=20s interval=1s at=1020
            @1030 assignments [web#1]
        "#]],
    );
}

#[test]
fn a_failed_reload_spends_the_grant_so_only_a_new_grant_restarts() {
    check(
        vec![
            (0, reloading_schema()),
            (1, assign(&[web_with_args(1, "1000")])),
            (5, done("web", Start, 1, Outcome::Ok, 1)),
            (10, assign(&[web_with_args(1, "2000")])),
            (20, done("web", OperationKind::Reload, 1, crashed(), 10)),
            (30, done("web", Stop, 1, Outcome::Ok, 20)),
            (40, assign(&[web_with_args(2, "2000")])),
        ],
        expect![[r#"
            @0 schema of process, reload Some("reload")
            @1 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=1
            @5 done web start#1 (started 1): ok
              report web start#1 1..5: ok -> running
            @10 assignments [web#1]
              run web reload#1 timeout=20s interval=0ns at=10
            @20 done web reload#1 (started 10): failed (soft): killed by SIGKILL
              report web reload#1 10..20: failed (soft): killed by SIGKILL -> failed
                because reload failed: killed by SIGKILL
              run web stop#1 timeout=5s interval=0ns at=20
            @30 done web stop#1 (started 20): ok
              report web stop#1 20..30: ok -> stopped
            @40 assignments [web#2]
              run web start#2 timeout=20s interval=0ns at=40
        "#]],
    );
}

#[test]
fn a_change_of_a_parameter_that_cannot_be_reloaded_restarts_even_when_the_type_reloads() {
    let mut changed = web_with_args(1, "1000");
    changed
        .resource
        .params
        .insert("command".into(), "other".into());
    check(
        vec![
            (0, reloading_schema()),
            (1, assign(&[web_with_args(1, "1000")])),
            (5, done("web", Start, 1, Outcome::Ok, 1)),
            (10, assign(&[changed])),
        ],
        expect![[r#"
            @0 schema of process, reload Some("reload")
            @1 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=1
            @5 done web start#1 (started 1): ok
              report web start#1 1..5: ok -> running
            @10 assignments [web#1]
              run web stop#1 timeout=5s interval=0ns at=10
        "#]],
    );
}

#[test]
fn changed_options_apply_to_a_running_instance_without_an_operation() {
    let mut slower = web(1);
    slower.resource.options.monitor_interval = Duration::from_secs(5);
    check(
        vec![
            (0, assign(&[web(1)])),
            (5, done("web", Start, 1, Outcome::Ok, 0)),
            (10, assign(&[slower])),
            (1005, Event::Tick),
            (1010, done("web", Monitor, 1, Outcome::Ok, 1005)),
            (2010, Event::Tick),
            (6010, Event::Tick),
        ],
        expect![[r#"
            @0 assignments [web#1]
              run web start#1 timeout=20s interval=0ns at=0
            @5 done web start#1 (started 0): ok
              report web start#1 0..5: ok -> running
            @10 assignments [web#1]
            @1005 tick
              run web monitor#1 timeout=20s interval=5s at=1005
            @1010 done web monitor#1 (started 1005): ok
            @2010 tick
            @6010 tick
              run web monitor#1 timeout=20s interval=5s at=6010
        "#]],
    );
}

// --- types ---

fn with_no_roles(definition: model::UserType) -> model::TypeWithRoles {
    model::TypeWithRoles {
        definition,
        roles: model::RolePrograms::default(),
    }
}

/// A user type checked cheaply every 1 s (timeout 500 ms) and thoroughly every 3 s
/// (timeout 2 s), running `command`.
fn checked_type(command: &str) -> model::UserType {
    let mut definition = model::UserType::new("checked", command);
    definition.looks_alive.interval = Duration::from_secs(1);
    definition.looks_alive.timeout = Duration::from_millis(500);
    definition.is_alive.interval = Duration::from_secs(3);
    definition.is_alive.timeout = Duration::from_secs(2);
    definition
}

fn checked(token: u64) -> Assignment {
    let mut resource = resource("app", false);
    resource.type_name = "checked".into();
    resource.params.clear();
    Assignment {
        resource,
        fencing_token: token,
    }
}

/// The two checks of a user type run at their own intervals, depths and timeouts (not the
/// resource's monitor options), and a failing thorough check is a monitor failure.
#[test]
fn user_type_checks_run_at_two_depths_and_a_deep_failure_fails_the_instance() {
    check(
        vec![
            (
                0,
                Event::UserTypes(vec![with_no_roles(checked_type("/bin/app"))]),
            ),
            (0, assign(&[checked(1)])),
            (5, done("app", Start, 1, Outcome::Ok, 0)),
            (1_005, Event::Tick),
            (1_010, done("app", Monitor, 1, Outcome::Ok, 1_005)),
            (2_010, Event::Tick),
            (2_020, done("app", Monitor, 1, Outcome::Ok, 2_010)),
            (3_005, Event::Tick),
            (3_010, done("app", Monitor, 1, crashed(), 3_005)),
        ],
        expect![[r#"
            @0 user types [checked]
            @0 assignments [app#1]
              run app start#1 timeout=20s interval=0ns at=0
            @5 done app start#1 (started 0): ok
              report app start#1 0..5: ok -> running
            @1005 tick
              run app monitor#1 timeout=500ms interval=1s at=1005
            @1010 done app monitor#1 (started 1005): ok
            @2010 tick
              run app monitor#1 timeout=500ms interval=1s at=2010
            @2020 done app monitor#1 (started 2010): ok
            @3005 tick
              run app monitor#1 timeout=2s interval=3s at=3005 depth=10
            @3010 done app monitor#1 (started 3005): failed (soft): killed by SIGKILL
              report app monitor#1 3005..3010: failed (soft): killed by SIGKILL -> failed
                because monitor failed: killed by SIGKILL
              run app stop#1 timeout=5s interval=0ns at=3010
        "#]],
    );
}

/// A changed command of a user type restarts its running instances: stopped under their
/// grant (spending it), so the master's next grant starts the new command.
#[test]
fn user_type_command_change_stops_running_instances_under_their_grant() {
    check(
        vec![
            (
                0,
                Event::UserTypes(vec![with_no_roles(checked_type("/bin/app"))]),
            ),
            (0, assign(&[checked(1)])),
            (5, done("app", Start, 1, Outcome::Ok, 0)),
            (
                10,
                Event::UserTypes(vec![with_no_roles(checked_type("/bin/app2"))]),
            ),
            (20, done("app", Stop, 1, Outcome::Ok, 10)),
            (30, assign(&[checked(2)])),
        ],
        expect![[r#"
            @0 user types [checked]
            @0 assignments [app#1]
              run app start#1 timeout=20s interval=0ns at=0
            @5 done app start#1 (started 0): ok
              report app start#1 0..5: ok -> running
            @10 user types [checked]
              run app stop#1 timeout=5s interval=0ns at=10
            @20 done app stop#1 (started 10): ok
              report app stop#1 10..20: ok -> stopped
            @30 assignments [app#2]
              run app start#2 timeout=20s interval=0ns at=30
        "#]],
    );
}
