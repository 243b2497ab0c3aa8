//! Rules checked against sampled series: gauges by value, counters by rate.

use super::*;

fn key(name: &str, labels: &[(&str, &str)]) -> SeriesKey {
    SeriesKey {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

fn firing(events: &[EventKind]) -> Vec<(String, bool)> {
    events
        .iter()
        .map(|event| match event {
            EventKind::Threshold { series, firing, .. } => (series.clone(), *firing),
            other => panic!("not a threshold event: {other:?}"),
        })
        .collect()
}

#[test]
fn a_gauge_fires_and_resolves_and_a_counter_is_judged_by_its_rate() {
    let rules = vec![
        (
            "disk".to_owned(),
            Rule::parse("host_data_disk_used_ratio > 0.9").expect("rule"),
        ),
        (
            "errors".to_owned(),
            Rule::parse("lb_errors{service=web} > 10").expect("rule"),
        ),
    ];
    let disk = key("host_data_disk_used_ratio", &[]);
    let errors = key("lb_errors", &[("service", "web")]);
    let mut thresholds = Thresholds::default();
    let node = NodeId(2);
    let sample = |disk_value: f64, errors_total: f64| {
        vec![
            (disk.clone(), Kind::Gauge, disk_value),
            (errors.clone(), Kind::Counter, errors_total),
        ]
    };
    let first = thresholds.check(&rules, &sample(0.95, 1_000.0), 0, node);
    assert_eq!(
        firing(&first),
        [("host_data_disk_used_ratio".to_owned(), true)]
    );
    // 50 errors in one second: a rate of 50/s, above 10/s (the total alone says nothing).
    let second = thresholds.check(&rules, &sample(0.95, 1_050.0), 1_000, node);
    assert_eq!(
        firing(&second),
        [("lb_errors{service=web}".to_owned(), true)]
    );
    let third = thresholds.check(&rules, &sample(0.5, 1_051.0), 2_000, node);
    assert_eq!(
        firing(&third),
        [
            ("host_data_disk_used_ratio".to_owned(), false),
            ("lb_errors{service=web}".to_owned(), false)
        ]
    );
    assert_eq!(
        thresholds.check(&rules, &sample(0.5, 1_052.0), 3_000, node),
        []
    );
}

fn service(servers: &[(&str, bool)]) -> lb::ServiceSnapshot {
    lb::ServiceSnapshot {
        name: "web".into(),
        protocol: lb::Protocol::Tcp,
        connections_total: 0,
        connections_active: 0,
        connections_rejected: 0,
        bytes_in: 0,
        bytes_out: 0,
        requests_total: 0,
        errors_total: 0,
        sorry_total: 0,
        servers: servers
            .iter()
            .map(|(name, healthy)| lb::ServerSnapshot {
                name: (*name).into(),
                addr: "127.0.0.1:80".parse().expect("addr"),
                weight: 1,
                state: lb::ServerState::Active,
                healthy: *healthy,
                connections_total: 0,
                connections_active: 0,
                bytes_in: 0,
                bytes_out: 0,
                requests_total: 0,
                errors_total: 0,
                health_checks_failed: 0,
                drained: false,
                response_time: lb::LatencySnapshot::default(),
            })
            .collect(),
    }
}

fn health(events: &[EventKind]) -> Vec<(String, bool)> {
    events
        .iter()
        .map(|event| match event {
            EventKind::ServerHealth {
                server, healthy, ..
            } => (server.clone(), *healthy),
            other => panic!("not a director event: {other:?}"),
        })
        .collect()
}

#[test]
fn a_directors_server_health_changes_are_events_once_each() {
    let mut directors = Directors::default();
    let node = NodeId(1);
    let first = directors.check(&[service(&[("a", true), ("b", false)])], node);
    assert_eq!(
        health(&first),
        [("b".to_owned(), false)],
        "healthy at first is no news"
    );
    let second = directors.check(&[service(&[("a", false), ("b", true)])], node);
    assert_eq!(
        health(&second),
        [("a".to_owned(), false), ("b".to_owned(), true)]
    );
    assert_eq!(
        directors.check(&[service(&[("a", false), ("b", true)])], node),
        []
    );
    assert_eq!(directors.check(&[], node), [], "no longer directed");
    assert_eq!(
        directors.check(&[service(&[("a", true)])], node),
        [],
        "forgotten, then seen healthy"
    );
}
