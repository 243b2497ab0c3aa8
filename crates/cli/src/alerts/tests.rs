//! The incident and alert tables, pinned.

use expect_test::expect_file;

use super::*;

fn incident_of_a_killed_node() -> api::Incident {
    let at = 1_763_692_812_000;
    api::Incident {
        id: 3,
        cause: "node_lost".into(),
        node: 2,
        node_name: "node2".into(),
        resource: None,
        detected_at_ms: at,
        down_at_ms: Some(at + 200),
        lease_ended_at_ms: Some(at + 610),
        fence_confirmed_at_ms: None,
        stopped_at_ms: Some(at + 610),
        started_at_ms: Some(at + 625),
        healthy_at_ms: Some(at + 900),
        closed: true,
        resources: Vec::new(),
    }
}

#[test]
fn incidents_show_each_phase_after_the_one_before() {
    let failed = api::Incident {
        id: 4,
        cause: "resource_failed".into(),
        resource: Some("db".into()),
        down_at_ms: None,
        lease_ended_at_ms: None,
        healthy_at_ms: None,
        closed: false,
        ..incident_of_a_killed_node()
    };
    // Fenced: the device confirmed the node off before its lease ended, and the lease
    // column counts from the fence.
    let fenced = api::Incident {
        id: 5,
        fence_confirmed_at_ms: Some(1_763_692_812_450),
        ..incident_of_a_killed_node()
    };
    expect_file!["../../test_data/incidents.txt"].assert_eq(&render_incidents(&[
        incident_of_a_killed_node(),
        failed,
        fenced,
    ]));
    assert_eq!(render_incidents(&[]), "no incidents\n");
}

#[test]
fn alerts_list_their_target_filter_and_delivery() {
    let hook = api::AlertView {
        spec: api::AlertSpec {
            name: "pager".into(),
            webhook: Some("http://127.0.0.1:9093/hook".into()),
            kinds: vec!["node".into()],
            severity: Some("warning".into()),
            timeout: Some("30000ms".into()),
            ..Default::default()
        },
        next_event: 42,
        pending: 1,
    };
    let rule = api::AlertView {
        spec: api::AlertSpec {
            name: "disk".into(),
            rule: Some("host_data_disk_used_ratio > 0.9 for 1m".into()),
            ..Default::default()
        },
        next_event: 0,
        pending: 0,
    };
    expect_file!["../../test_data/alerts.txt"].assert_eq(&render_alerts(&[hook, rule]));
}

#[test]
fn a_delivered_test_alert_says_where_and_how_fast() {
    let result = api::AlertTestResult {
        name: "pager".into(),
        delivered: true,
        error: None,
        elapsed_ms: 12,
        sent_by: 1,
    };
    assert_eq!(
        render_test(&result),
        "test alert delivered to pager in 12 ms (sent by node 1)"
    );
}

#[test]
fn the_tables_fit_100_columns() {
    for text in [
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/test_data/incidents.txt"
        )),
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/test_data/alerts.txt")),
    ] {
        let text = text.expect("golden file");
        for line in text.lines() {
            assert!(line.chars().count() <= 100, "{line}");
        }
    }
}
