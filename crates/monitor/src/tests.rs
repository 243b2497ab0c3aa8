//! The archive's rules: consolidation, counters, gaps, bounded storage, crash safety.

use crate::archive::{ArchiveSpec, Kind, Series, SeriesSpec};
use crate::query::{Range, fetch};
use crate::store::{FileStore, MemoryStore, ROW_BYTES, RowStore, file_bytes};
use crate::{MonitorError, Row};
use proptest::prelude::*;

/// Base step 1 s; archives of 1 s x 60, 5 s x 12 and 60 s x 10.
fn small(kind: Kind) -> SeriesSpec {
    SeriesSpec {
        kind,
        base_step_ms: 1_000,
        heartbeat_ms: 3_000,
        xff_per_mille: 500,
        archives: vec![
            ArchiveSpec {
                step_ms: 1_000,
                rows: 60,
            },
            ArchiveSpec {
                step_ms: 5_000,
                rows: 12,
            },
            ArchiveSpec {
                step_ms: 60_000,
                rows: 10,
            },
        ],
    }
}

fn feed(series: &mut Series, store: &mut dyn RowStore, samples: &[(u64, f64)]) {
    for (at, value) in samples {
        for write in series.update(*at, *value).expect("time advances") {
            store.put(write.archive, &write.row).expect("store");
        }
    }
}

#[test]
fn a_gauge_sampled_each_second_consolidates_to_min_mean_max_last() {
    let spec = small(Kind::Gauge);
    let mut series = Series::new(spec.clone()).expect("valid");
    let mut store = MemoryStore::new(&spec);
    let samples: Vec<(u64, f64)> = (0..=10).map(|i| (i * 1_000, i as f64)).collect();
    feed(&mut series, &mut store, &samples);
    // The value at t applies to (t-1, t]: PDP 0 (0..1 s) holds the sample taken at 1 s.
    assert_eq!(
        store.get(0, 0).expect("read"),
        Some(Row {
            slot: 0,
            min: 1.0,
            avg: 1.0,
            max: 1.0,
            last: 1.0
        })
    );
    assert_eq!(
        store.get(1, 1).expect("read"),
        Some(Row {
            slot: 1,
            min: 6.0,
            avg: 8.0,
            max: 10.0,
            last: 10.0
        })
    );
}

#[test]
fn a_counter_gives_its_rate_and_a_reset_is_unknown() {
    let spec = small(Kind::Counter);
    let mut series = Series::new(spec.clone()).expect("valid");
    let mut store = MemoryStore::new(&spec);
    feed(
        &mut series,
        &mut store,
        &[(0, 100.0), (1_000, 150.0), (2_000, 10.0), (3_000, 30.0)],
    );
    let avg = |slot| store.get(0, slot).expect("read").map(|row| row.avg);
    assert_eq!(avg(0), Some(50.0));
    assert_eq!(avg(1), None, "the counter went back: a reset");
    assert_eq!(avg(2), Some(20.0));
}

#[test]
fn a_gap_longer_than_the_heartbeat_is_unknown_and_a_long_one_costs_nothing() {
    let spec = small(Kind::Gauge);
    let mut series = Series::new(spec.clone()).expect("valid");
    let mut store = MemoryStore::new(&spec);
    feed(&mut series, &mut store, &[(0, 1.0), (1_000, 1.0)]);
    // Ten years later: no walk over every second, and every row of the gap unknown.
    let later = 10 * 365 * 86_400 * 1_000;
    let rows = series.update(later, 5.0).expect("time advances");
    assert!(rows.len() <= 3, "only the open rows finish: {rows:?}");
    for write in &rows {
        store.put(write.archive, &write.row).expect("store");
    }
    feed(&mut series, &mut store, &[(later + 1_000, 7.0)]);
    assert_eq!(store.get(0, 1).expect("read"), None);
    assert_eq!(
        store.get(0, later / 1_000).expect("read").map(|r| r.avg),
        Some(7.0)
    );
}

#[test]
fn samples_out_of_order_are_refused_and_change_nothing() {
    let mut series = Series::new(small(Kind::Gauge)).expect("valid");
    series.update(5_000, 1.0).expect("first");
    assert_eq!(
        series.update(5_000, 2.0),
        Err(MonitorError::TimeWentBack {
            last_at: 5_000,
            at: 5_000
        })
    );
    assert!(series.update(6_000, 2.0).expect("later").len() == 1);
}

#[test]
fn bad_specs_name_their_problem() {
    let mut spec = small(Kind::Gauge);
    spec.archives[1].step_ms = 1_500;
    let error = Series::new(spec).expect_err("not a multiple");
    assert!(
        error
            .to_string()
            .contains("not a multiple of the base step"),
        "{error}"
    );
    let mut spec = small(Kind::Gauge);
    spec.heartbeat_ms = 10;
    assert!(Series::new(spec).is_err());
}

#[test]
fn a_range_query_picks_the_finest_archive_that_reaches_back() {
    let spec = small(Kind::Gauge);
    let mut series = Series::new(spec.clone()).expect("valid");
    let mut store = MemoryStore::new(&spec);
    let samples: Vec<(u64, f64)> = (0..=300).map(|i| (i * 1_000, 2.0)).collect();
    feed(&mut series, &mut store, &samples);
    let now_ms = 300_000;
    let recent = Range {
        from_ms: 270_000,
        to_ms: 300_000,
        step_ms: 0,
        now_ms,
    };
    let fetched = fetch(&spec, &store, recent).expect("fetch");
    assert_eq!((fetched.archive, fetched.points.len()), (0, 30));
    assert!(fetched.points.iter().all(|p| p.avg == 2.0));
    let older = Range {
        from_ms: 0,
        ..recent
    };
    let fetched = fetch(&spec, &store, older).expect("fetch");
    assert_eq!((fetched.archive, fetched.step_ms), (2, 60_000));
    let backwards = Range {
        from_ms: 10,
        to_ms: 10,
        ..recent
    };
    assert!(matches!(
        fetch(&spec, &store, backwards),
        Err(MonitorError::BadRange(_))
    ));
    let huge = Range {
        from_ms: 0,
        to_ms: u64::MAX / 2,
        step_ms: 1,
        now_ms: 0,
    };
    let error = fetch(&spec, &store, huge).expect_err("too many points");
    assert!(error.to_string().contains("larger step"), "{error}");
}

#[test]
fn the_file_is_fixed_in_size_survives_reopening_and_reads_a_torn_row_as_unknown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cpu.rrd");
    let spec = small(Kind::Gauge);
    let mut series = Series::new(spec.clone()).expect("valid");
    {
        let mut store = FileStore::open(&path, &spec).expect("create");
        let samples: Vec<(u64, f64)> = (0..=200).map(|i| (i * 1_000, i as f64)).collect();
        feed(&mut series, &mut store, &samples);
        assert_eq!(
            store.get(0, 199).expect("read").map(|r| r.avg),
            Some(200.0),
            "rows not yet written are read from memory"
        );
        store.sync().expect("sync");
    }
    let size = std::fs::metadata(&path).expect("stat").len();
    assert_eq!(size, file_bytes(&spec));
    let store = FileStore::open(&path, &spec).expect("reopen");
    assert_eq!(store.get(0, 150).expect("read").map(|r| r.avg), Some(151.0));
    assert_eq!(
        store.get(0, 100).expect("read"),
        None,
        "overwritten by the ring"
    );
    // Tear row 150: flip a byte of its value.
    let place = 512 + (150 % 60) * ROW_BYTES + 20;
    let mut bytes = std::fs::read(&path).expect("read file");
    bytes[place as usize] ^= 0xff;
    std::fs::write(&path, &bytes).expect("write file");
    let store = FileStore::open(&path, &spec).expect("reopen");
    assert_eq!(store.get(0, 150).expect("read"), None);
    assert_eq!(store.get(0, 151).expect("read").map(|r| r.avg), Some(152.0));
    let mut other = spec.clone();
    other.archives[0].rows = 61;
    assert!(matches!(
        FileStore::open(&path, &other),
        Err(MonitorError::SpecMismatch(_))
    ));
}

proptest! {
    /// Every row of a coarser archive is the min, mean, max and last of the 1 s rows it
    /// covers, whatever the values and however many steps are missed (under the heartbeat).
    #[test]
    fn coarse_rows_consolidate_the_fine_rows_they_cover(
        values in proptest::collection::vec((1u64..=2, -1e6f64..1e6), 20..400)
    ) {
        let spec = small(Kind::Gauge);
        let mut series = Series::new(spec.clone()).expect("valid");
        let mut store = MemoryStore::new(&spec);
        let mut at = 0;
        let mut samples = vec![(0, 0.0)];
        for (gap, value) in &values {
            at += gap * 1_000;
            samples.push((at, *value));
        }
        feed(&mut series, &mut store, &samples);
        // The fine ring keeps 60 s: check the 5 s rows inside it.
        let last_slot = at / 5_000;
        for slot in last_slot.saturating_sub(10)..last_slot {
            let Some(row) = store.get(1, slot).expect("read") else { continue };
            let fine: Vec<Row> = (slot * 5..slot * 5 + 5)
                .filter_map(|s| store.get(0, s).expect("read"))
                .collect();
            prop_assert!(fine.len() * 2 >= 5, "a known row has at least half its PDPs");
            let min = fine.iter().map(|r| r.avg).fold(f64::INFINITY, f64::min);
            let max = fine.iter().map(|r| r.avg).fold(f64::NEG_INFINITY, f64::max);
            let mean = fine.iter().map(|r| r.avg).sum::<f64>() / fine.len() as f64;
            prop_assert_eq!(row.min, min);
            prop_assert_eq!(row.max, max);
            prop_assert!((row.avg - mean).abs() <= 1e-9 * mean.abs().max(1.0));
            prop_assert_eq!(row.last, fine.last().expect("known").avg);
        }
    }

    /// Whatever the samples, the open state stays the same size and every row lands in its
    /// ring: nothing grows without bound.
    #[test]
    fn nothing_grows_with_the_samples(
        gaps in proptest::collection::vec(1u64..100_000, 1..500),
        kind in prop_oneof![Just(Kind::Gauge), Just(Kind::Counter)],
    ) {
        let spec = small(kind);
        let mut series = Series::new(spec.clone()).expect("valid");
        let mut store = MemoryStore::new(&spec);
        let memory = series.memory_bytes();
        let mut at = 0;
        let mut total = 0.0;
        for gap in gaps {
            at += gap;
            total += gap as f64;
            let rows = series.update(at, total).expect("time advances");
            prop_assert!(rows.len() <= 3 * (gap as usize / 1_000 + 2));
            for write in rows {
                prop_assert!(write.row.min <= write.row.avg && write.row.avg <= write.row.max);
                store.put(write.archive, &write.row).expect("store");
            }
        }
        prop_assert_eq!(series.memory_bytes(), memory);
    }
}

/// The samplers against this machine's real /proc: every figure the issue names is there,
/// and counters do not go back between two rounds.
#[test]
fn the_samplers_read_this_machines_kernel_figures() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = crate::host::sample_host(dir.path());
    let value = |samples: &[crate::host::Sample], name: &str, label: Option<(&str, &str)>| {
        samples
            .iter()
            .find(|s| {
                s.name == name
                    && label
                        .is_none_or(|(k, v)| s.labels.iter().any(|(lk, lv)| *lk == k && lv == v))
            })
            .map(|s| s.value)
    };
    for mode in ["user", "system", "idle", "iowait", "steal"] {
        assert!(
            value(&first, "host_cpu_seconds", Some(("mode", mode))).is_some(),
            "cpu {mode}"
        );
    }
    assert!(value(&first, "host_memory_total_bytes", None).expect("memory") > 0.0);
    assert!(value(&first, "host_load1", None).expect("load") >= 0.0);
    assert!(value(&first, "host_data_disk_total_bytes", None).expect("disk") > 0.0);
    assert!(
        value(
            &first,
            "host_network_receive_bytes",
            Some(("interface", "lo"))
        )
        .is_some(),
        "loopback traffic"
    );
    let second = crate::host::sample_host(dir.path());
    for sample in first.iter().filter(|s| s.kind == Kind::Counter) {
        let later = second
            .iter()
            .find(|s| s.name == sample.name && s.labels == sample.labels)
            .expect("the same counters each round");
        assert!(later.value >= sample.value, "{} went back", sample.name);
    }
    let me = crate::host::sample_process();
    assert!(value(&me, "agent_resident_bytes", None).expect("rss") > 0.0);
    assert!(value(&me, "agent_open_files", None).expect("fds") >= 3.0);
    assert!(value(&me, "agent_cpu_seconds", None).is_some());
}

/// The recorder keeps one file per series, reopens them with their history, bounds the
/// number of series, and keeps label values from naming paths.
#[test]
fn the_recorder_keeps_history_across_a_restart_and_bounds_its_series() {
    use crate::host::Sample;
    use crate::recorder::{Recorder, SERIES_MAX, SeriesKey};
    let dir = tempfile::tempdir().expect("temp dir");
    let sample = |value: f64| Sample {
        name: "lb_requests",
        labels: vec![("service", "../../etc".to_owned())],
        kind: Kind::Counter,
        value,
    };
    let key = SeriesKey::of(&sample(0.0));
    assert_eq!(key.file_name(), "lb_requests%2Cservice%3D..%2F..%2Fetc.rrd");
    {
        let mut recorder = Recorder::new(Some(dir.path())).expect("recorder");
        for second in 0..=30u32 {
            let at = u64::from(second) * 1_000;
            recorder
                .record(at, &[sample(f64::from(second) * 10.0)])
                .expect("record");
        }
        recorder.sync().expect("sync");
    }
    let recorder = Recorder::new(Some(dir.path())).expect("recorder");
    assert!(
        recorder.keys().next().is_none(),
        "series open on their next sample"
    );
    let mut recorder = recorder;
    recorder.record(31_000, &[sample(310.0)]).expect("record");
    let range = Range {
        from_ms: 10_000,
        to_ms: 20_000,
        step_ms: 0,
        now_ms: 31_000,
    };
    let fetched = recorder.fetch(&key, range).expect("fetch");
    assert_eq!(fetched.points.len(), 10);
    assert!(fetched.points.iter().all(|p| p.avg == 10.0), "{fetched:?}");
    let mut memory = Recorder::new(None).expect("recorder");
    let many: Vec<Sample> = (0..SERIES_MAX + 5)
        .map(|i| Sample {
            name: "x",
            labels: vec![("i", i.to_string())],
            kind: Kind::Gauge,
            value: 1.0,
        })
        .collect();
    memory.record(0, &many).expect("record");
    assert_eq!((memory.keys().count(), memory.dropped), (SERIES_MAX, 5));
    let unknown = SeriesKey {
        name: "nope".into(),
        labels: vec![],
    };
    let error = memory.fetch(&unknown, range).expect_err("unknown");
    assert!(error.to_string().contains("/v1/metrics"), "{error}");
}

/// The Prometheus text has one family per name, the node's label on every sample, and
/// `_total` on counters.
#[test]
fn the_prometheus_text_labels_every_sample_with_its_node() {
    use crate::recorder::SeriesKey;
    let key = |name: &str, labels: &[(&str, &str)]| SeriesKey {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    let text = crate::prometheus::render(
        vec![
            (key("host_load1", &[]), Kind::Gauge, 0.5),
            (
                key("host_cpu_seconds", &[("mode", "user")]),
                Kind::Counter,
                12.0,
            ),
            (
                key("host_cpu_seconds", &[("mode", "system")]),
                Kind::Counter,
                3.0,
            ),
        ],
        &[],
        "node1",
    );
    assert!(text.contains("# TYPE host_load1 gauge\n"), "{text}");
    assert!(text.contains("host_load1{node=\"node1\"} 0.5\n"), "{text}");
    assert!(
        text.contains("# TYPE host_cpu_seconds_total counter\n"),
        "{text}"
    );
    assert!(
        text.contains("host_cpu_seconds_total{node=\"node1\",mode=\"user\"} 12.0\n"),
        "{text}"
    );
    assert_eq!(
        text.matches("# TYPE host_cpu_seconds_total").count(),
        1,
        "{text}"
    );
}

/// A latency histogram is one Prometheus histogram family: cumulative `_bucket`s ending in
/// `+Inf`, `_sum` and `_count`, with the node's label and its own.
#[test]
fn a_latency_histogram_is_rendered_as_a_prometheus_histogram() {
    let mut buckets = crate::histogram::Buckets::default();
    for ms in [2, 2, 200] {
        buckets.observe(std::time::Duration::from_millis(ms));
    }
    let histogram = crate::histogram::Histogram {
        name: "lb_server_response_seconds",
        labels: vec![("service", "web".to_owned()), ("server", "a".to_owned())],
        buckets,
    };
    let text = crate::prometheus::render(Vec::new(), &[histogram], "node1");
    assert!(
        text.contains("# TYPE lb_server_response_seconds histogram\n"),
        "{text}"
    );
    let labels = "node=\"node1\",server=\"a\",service=\"web\"";
    for line in [
        format!("lb_server_response_seconds_count{{{labels}}} 3\n"),
        format!("lb_server_response_seconds_bucket{{{labels},le=\"0.001\"}} 0\n"),
        format!("lb_server_response_seconds_bucket{{{labels},le=\"0.0025\"}} 2\n"),
        format!("lb_server_response_seconds_bucket{{{labels},le=\"0.25\"}} 3\n"),
        format!("lb_server_response_seconds_bucket{{{labels},le=\"+Inf\"}} 3\n"),
    ] {
        assert!(text.contains(&line), "{line} in {text}");
    }
}

/// The agent flushes every series under the recorder's lock, then makes the rows durable
/// with one `syncfs` on its own thread: a flush puts every waiting row in its file (a store
/// opened afresh reads it) and the sync needs nothing but the directory.
#[test]
fn a_flush_writes_every_waiting_row_and_one_sync_covers_them() {
    use crate::host::Sample;
    use crate::recorder::Recorder;
    let dir = tempfile::tempdir().expect("temp dir");
    let sample = |name: &'static str, value: f64| Sample {
        name,
        labels: Vec::new(),
        kind: Kind::Gauge,
        value,
    };
    let mut recorder = Recorder::new(Some(dir.path())).expect("recorder");
    for second in 0..=14u32 {
        let at = u64::from(second) * 1_000;
        let value = f64::from(second);
        recorder
            .record(at, &[sample("load", value), sample("swap", value * 2.0)])
            .expect("record");
    }
    recorder.flush().expect("flush");
    Recorder::sync_flushed(recorder.dir()).expect("sync");
    Recorder::sync_flushed(None).expect("nothing to sync in memory");
    let spec = SeriesSpec::per_second(Kind::Gauge);
    for (file, factor) in [("load.rrd", 1.0), ("swap.rrd", 2.0)] {
        let reopened = FileStore::open(&dir.path().join(file), &spec).expect("reopen");
        // Slot 13 is the step from 13 s to 14 s, whose sample came at 14 s.
        let row = reopened.get(0, 13).expect("read").map(|row| row.avg);
        assert_eq!(row, Some(14.0 * factor), "{file}");
    }
    let gone = dir.path().join("gone");
    let error = Recorder::sync_flushed(Some(&gone)).expect_err("no such directory");
    assert!(error.to_string().contains("gone"), "{error}");
}
