//! The monitor's cost, for `bench/monitor.sh`: 500 series recorded once a (simulated)
//! second for an hour into real files, as an agent does (flush and syncfs every 10 s),
//! then one-hour range queries at a 1 s step. Prints the CPU time per sampling round (so the
//! share of a core at one round a second), the resident memory the recorder added, the
//! disk per series, and the range query's latency percentiles.

use std::time::Instant;

use monitor::host::Sample;
use monitor::{Kind, Range, Recorder, SeriesKey};

const SERIES: usize = 500;
const ROUNDS: u64 = 3_600;

fn cpu_seconds() -> f64 {
    let stat = procfs::process::Process::myself()
        .and_then(|p| p.stat())
        .expect("own stat");
    (stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64
}

fn rss_bytes() -> u64 {
    let stat = procfs::process::Process::myself()
        .and_then(|p| p.stat())
        .expect("own stat");
    stat.rss * procfs::page_size()
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rss_before = rss_bytes();
    let mut recorder = Recorder::new(Some(dir.path())).expect("recorder");
    let names: Vec<String> = (0..SERIES).map(|i| format!("{i}")).collect();
    let start_ms = 1_800_000_000_000u64;
    let cpu_before = cpu_seconds();
    let mut flush_ms = Vec::new();
    for round in 0..ROUNDS {
        let samples: Vec<Sample> = names
            .iter()
            .enumerate()
            .map(|(i, name)| Sample {
                name: if i % 2 == 0 {
                    "bench_gauge"
                } else {
                    "bench_counter"
                },
                labels: vec![("i", name.clone())],
                kind: if i % 2 == 0 {
                    Kind::Gauge
                } else {
                    Kind::Counter
                },
                value: (round * (i as u64 + 1)) as f64,
            })
            .collect();
        recorder
            .record(start_ms + round * 1_000, &samples)
            .expect("record");
        if round % 10 == 0 {
            // As the agent does: flush, then sync the written files with no lock held.
            let began = Instant::now();
            recorder.flush().expect("flush");
            Recorder::sync_flushed(recorder.dir()).expect("sync");
            flush_ms.push(began.elapsed().as_secs_f64() * 1_000.0);
        }
    }
    flush_ms.sort_by(f64::total_cmp);
    recorder.sync().expect("sync");
    let cpu = cpu_seconds() - cpu_before;
    let rss_after = rss_bytes();
    let disk: u64 = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").metadata().expect("stat").len())
        .sum();
    let now_ms = start_ms + ROUNDS * 1_000;
    let key = SeriesKey {
        name: "bench_gauge".into(),
        labels: vec![("i".into(), "0".into())],
    };
    let mut latencies = Vec::new();
    for _ in 0..200 {
        let range = Range {
            from_ms: now_ms - 3_600_000,
            to_ms: now_ms,
            step_ms: 1_000,
            now_ms,
        };
        let began = Instant::now();
        let fetched = recorder.fetch(&key, range).expect("fetch");
        latencies.push(began.elapsed().as_secs_f64() * 1_000.0);
        assert_eq!(fetched.points.len(), 3_600);
    }
    latencies.sort_by(f64::total_cmp);
    let per_round_ms = cpu / ROUNDS as f64 * 1_000.0;
    println!("series {SERIES}, rounds {ROUNDS} (one simulated hour)");
    println!(
        "cpu per round {per_round_ms:.3} ms = {:.3} % of one core at one round a second",
        per_round_ms / 10.0
    );
    println!(
        "flush and syncfs every 10 rounds (wall): p50 {:.1} ms, p99 {:.1} ms",
        flush_ms[flush_ms.len() / 2],
        flush_ms[flush_ms.len() * 99 / 100]
    );
    println!(
        "rss added {:.1} MB",
        rss_after.saturating_sub(rss_before) as f64 / 1e6
    );
    println!(
        "disk {:.1} MB in all, {:.0} KB per series",
        disk as f64 / 1e6,
        disk as f64 / SERIES as f64 / 1e3
    );
    println!(
        "1-hour range query at 1 s (3,600 points, local file): \
         p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms over {} queries",
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
        latencies[latencies.len() - 1],
        latencies.len()
    );
}
