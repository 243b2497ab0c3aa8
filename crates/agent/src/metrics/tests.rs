//! The sampler's own parts: the latency buckets of the lb, the cmdb and `monitor` agree,
//! and the executor's figures become restarts and monitor histograms.

use std::collections::BTreeSet;
use std::time::Duration;

use executor::OperationKind;
use executor::runtime::OperationObserver;
use model::ResourceId;

use super::InstanceFigures;

#[test]
fn the_lb_and_the_cmdb_count_in_the_buckets_monitor_renders() {
    let seconds: Vec<u64> = monitor::histogram::LATENCY_BOUNDS_SECONDS
        .iter()
        .map(|bound| (bound * 1e6).round() as u64)
        .collect();
    assert_eq!(seconds, lb::LATENCY_BOUNDS_MICROS);
    assert_eq!(seconds, cmdb::latency::LATENCY_BOUNDS_MICROS);
}

#[test]
fn an_instance_restarted_twice_shows_two_restarts_and_each_monitor_in_its_histogram() {
    let figures = InstanceFigures::default();
    let web = ResourceId("web".into());
    let gone = ResourceId("gone".into());
    for _ in 0..3 {
        figures.finished(&web, OperationKind::Start, true, Duration::from_millis(40));
    }
    // A failed start is not a restart.
    figures.finished(&web, OperationKind::Start, false, Duration::from_millis(40));
    figures.finished(&web, OperationKind::Monitor, true, Duration::from_millis(3));
    figures.finished(
        &web,
        OperationKind::Monitor,
        false,
        Duration::from_millis(700),
    );
    figures.finished(&gone, OperationKind::Start, true, Duration::from_millis(1));
    let here = BTreeSet::from([web.clone()]);
    let (samples, histograms) = figures.sample(&here);
    assert_eq!(samples.len(), 1, "{samples:?}");
    assert_eq!(samples[0].name, "resource_restarts");
    assert_eq!(samples[0].value, 2.0);
    assert_eq!(
        histograms.len(),
        1,
        "the resource gone from this node is forgotten"
    );
    let histogram = &histograms[0];
    assert_eq!(histogram.name, "resource_monitor_duration_seconds");
    assert_eq!(histogram.labels, vec![("resource", "web".to_owned())]);
    assert_eq!(histogram.buckets.count(), 2);
    assert!((histogram.buckets.sum_seconds - 0.703).abs() < 1e-9);
}
