//! The incident book as a state machine: scripted events and reports in, incident records
//! out. Each script is what the cmdb would record, in log order, with the commands' times;
//! no clock and no timing is involved.

use expect_test::{Expect, expect};
use model::{Event, EventKind, NodeHealth, NodeId, ResourceId, ResourceState};

use super::{Incident, Incidents};
use crate::resources::OperationReport;

/// One line of a script: `T health N to`, `T action R N what`, `T report R N op ok state`.
fn run(script: &str) -> Incidents {
    let mut incidents = Incidents::default();
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at: u64 = words[0].parse().expect("time");
        match words[1] {
            "health" => {
                let to = match words[3] {
                    "online" => NodeHealth::Online,
                    "suspect" => NodeHealth::Suspect,
                    _ => NodeHealth::Down,
                };
                let kind = EventKind::NodeHealth {
                    node: node(words[2]),
                    from: NodeHealth::Online,
                    to,
                    silence_ms: 0,
                };
                incidents.on_event(&Event {
                    seq: 0,
                    at_ms: at,
                    kind,
                });
            }
            "action" => {
                let kind = EventKind::ResourceAction {
                    resource: ResourceId(words[2].into()),
                    node: node(words[3]),
                    action: words[4..].join(" "),
                    reason: String::new(),
                };
                incidents.on_event(&Event {
                    seq: 0,
                    at_ms: at,
                    kind,
                });
            }
            "report" => {
                let state_after = match words[6] {
                    "running" => ResourceState::Running,
                    "failed" => ResourceState::Failed,
                    _ => ResourceState::Stopped,
                };
                let report = OperationReport {
                    resource: ResourceId(words[2].into()),
                    operation: words[4].into(),
                    fencing_token: 1,
                    ok: words[5] == "ok",
                    state_after,
                    reason: None,
                    started_at: at,
                    finished_at: at,
                };
                incidents.on_report(node(words[3]), &report, at);
            }
            other => panic!("unknown script word {other}"),
        }
    }
    incidents
}

fn node(word: &str) -> NodeId {
    NodeId(word.trim_start_matches('n').parse().expect("node id"))
}

fn render(incident: &Incident) -> String {
    let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
    let cause = match &incident.cause {
        super::IncidentCause::NodeLost { node } => format!("node {node} lost"),
        super::IncidentCause::ResourceFailed { resource, node } => {
            format!("{resource} failed on {node}")
        }
    };
    let mut out = format!(
        "#{} {cause}: detected {} down {} lease {} closed {}\n",
        incident.id,
        incident.detected_at,
        opt(incident.down_at),
        opt(incident.lease_ended_at),
        incident.closed
    );
    for r in &incident.resources {
        out.push_str(&format!(
            "  {} stopped {} started {} on {} healthy {} given_up {}\n",
            r.resource,
            opt(r.stopped_at),
            opt(r.started_at),
            r.started_on.map_or("-".to_owned(), |n| n.to_string()),
            opt(r.healthy_at),
            r.given_up
        ));
    }
    out
}

fn check(script: &str, expected: Expect) {
    let incidents = run(script);
    let text: String = incidents.list.iter().map(render).collect();
    expected.assert_eq(&text);
}

#[test]
fn a_killed_node_has_every_phase_in_order() {
    check(
        "100 health n2 suspect
         300 health n2 down
         1050 action vip n2 lost
         1050 action web n2 lost
         1060 action vip n3 start
         1060 action web n3 start
         1200 report vip n3 start ok running
         1400 report web n3 start ok running",
        expect![[r#"
            #0 node 2 lost: detected 100 down 300 lease 1050 closed true
              vip stopped 1050 started 1060 on 3 healthy 1200 given_up false
              web stopped 1050 started 1060 on 3 healthy 1400 given_up false
        "#]],
    );
}

#[test]
fn a_suspect_node_that_comes_back_is_no_incident() {
    check(
        "100 health n2 suspect
         250 health n2 online",
        expect![""],
    );
}

#[test]
fn a_node_declared_down_at_once_is_detected_and_down_together() {
    check(
        "500 health n1 down
         1400 action db n1 lost
         1410 action db n2 start
         1500 report db n2 start ok running",
        expect![[r#"
            #0 node 1 lost: detected 500 down 500 lease 1400 closed true
              db stopped 1400 started 1410 on 2 healthy 1500 given_up false
        "#]],
    );
}

#[test]
fn a_failed_resource_stops_then_starts_elsewhere() {
    check(
        "100 action db n1 failed
         100 report db n1 monitor failed failed
         150 action db n1 stop
         220 report db n1 stop ok stopped
         230 action db n2 start
         400 report db n2 start ok running",
        expect![[r#"
            #0 db failed on 1: detected 100 down - lease - closed true
              db stopped 220 started 230 on 2 healthy 400 given_up false
        "#]],
    );
}

#[test]
fn a_crashed_process_restarts_in_place() {
    check(
        "100 action p n1 failed
         100 report p n1 monitor failed stopped
         120 action p n1 restart
         300 report p n1 start ok running",
        expect![[r#"
            #0 p failed on 1: detected 100 down - lease - closed true
              p stopped 100 started 120 on 1 healthy 300 given_up false
        "#]],
    );
}

#[test]
fn a_resource_given_up_closes_its_incident_without_a_start() {
    check(
        "100 action p n1 failed
         100 report p n1 start failed failed
         130 action p n1 give up
         150 report p n1 stop ok stopped",
        expect![[r#"
            #0 p failed on 1: detected 100 down - lease - closed true
              p stopped - started - on - healthy - given_up true
        "#]],
    );
}

#[test]
fn reports_from_the_old_node_or_before_the_start_do_not_count_as_healthy() {
    check(
        "100 health n2 down
         900 action db n2 lost
         910 report db n2 monitor ok running
         920 action db n3 start
         925 report db n2 start ok running
         990 report db n3 start ok running",
        expect![[r#"
            #0 node 2 lost: detected 100 down 100 lease 900 closed true
              db stopped 900 started 920 on 3 healthy 990 given_up false
        "#]],
    );
}

#[test]
fn a_down_node_that_ran_nothing_closes_when_it_returns() {
    check(
        "100 health n2 suspect
         300 health n2 down
         5000 health n2 online",
        expect![[r#"
            #0 node 2 lost: detected 100 down 300 lease - closed true
        "#]],
    );
}

#[test]
fn the_book_keeps_only_the_newest_incidents() {
    let mut script = String::new();
    for i in 0..(crate::limits::INCIDENTS_MAX as u64 + 5) {
        script.push_str(&format!("{i} action p{i} n1 failed\n"));
    }
    let incidents = run(&script);
    assert_eq!(incidents.list.len(), crate::limits::INCIDENTS_MAX);
    assert_eq!(incidents.list[0].id, 5, "the oldest five were dropped");
    assert_eq!(
        incidents.next_id,
        crate::limits::INCIDENTS_MAX as u64 + 5,
        "ids are never reused"
    );
}
