//! `sim`: replay one seed (`--seed N`), or run many and print seeds per second
//! (`--seeds COUNT [--from FIRST]`); `--chaos-ms` and `--quiesce-ms` set the phases;
//! `--promotable` mixes promotable clones in; `--witness` runs two nodes with a witness;
//! `--fencing always|never` gives every seed fencing devices, or none (by default half the
//! seeds have them).
//! `--scale 64,128,256,1000` runs healthy clusters of those sizes instead (issue 18; three
//! seeds each, `--seeds` to change) and prints a Markdown table of what the master's machine
//! costs, the messages it handles, false downs and the detection time of a kill.
//! Exits non-zero on the first failing seed, after printing how to replay it.

use std::process::ExitCode;

use sim::{FenceStats, Fencing, RunOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| {
                v.parse::<u64>()
                    .unwrap_or_else(|_| panic!("{name} takes a number, got {v}"))
            })
    };
    let mut options = RunOptions::default();
    options.chaos_ms = value("--chaos-ms").unwrap_or(options.chaos_ms);
    options.quiesce_ms = value("--quiesce-ms").unwrap_or(options.quiesce_ms);
    options.trace = args.iter().any(|a| a == "--trace");
    options.promotable = args.iter().any(|a| a == "--promotable");
    options.witness = args.iter().any(|a| a == "--witness");
    if let Some(at) = args.iter().position(|a| a == "--fencing") {
        options.fencing = match args.get(at + 1).map(String::as_str) {
            Some("always") => Fencing::Always,
            Some("never") => Fencing::Never,
            other => panic!("--fencing takes always or never, got {other:?}"),
        };
    }
    if let Some(sizes) = args.iter().position(|a| a == "--scale") {
        let sizes: Vec<u64> = (args.get(sizes + 1).map(String::as_str).unwrap_or(""))
            .split(',')
            .map(|n| {
                n.parse()
                    .unwrap_or_else(|_| panic!("--scale takes sizes like 64,128"))
            })
            .collect();
        return scale(&sizes, value("--seeds").unwrap_or(3));
    }
    if let Some(seed) = value("--seed") {
        return match sim::run(seed, options) {
            Ok(report) => {
                println!("seed {seed} passed: {report:?}");
                ExitCode::SUCCESS
            }
            Err(failure) => {
                eprintln!("{failure}");
                ExitCode::FAILURE
            }
        };
    }
    let Some(count) = value("--seeds") else {
        eprintln!(
            "usage: sim --seed N [--trace] | --seeds COUNT [--from FIRST] [--keep-going] \
             [--chaos-ms MS] [--quiesce-ms MS] [--promotable] [--witness] \
             [--fencing always|never]"
        );
        return ExitCode::from(2);
    };
    let keep_going = args.iter().any(|a| a == "--keep-going");
    sweep(value("--from").unwrap_or(0), count, options, keep_going)
}

#[allow(
    clippy::disallowed_methods,
    reason = "the sweep's own wall time, for seeds per second"
)]
fn sweep(from: u64, count: u64, options: RunOptions, keep_going: bool) -> ExitCode {
    let started = std::time::Instant::now();
    let mut steps: u64 = 0;
    let mut failed = Vec::new();
    let (mut fenced_seeds, mut fences) = (0, FenceStats::default());
    for seed in from..from + count {
        match sim::run(seed, options) {
            Ok(report) => {
                steps += report.steps;
                fenced_seeds += u64::from(report.fencing);
                fences.requested += report.fences.requested;
                fences.confirmed += report.fences.confirmed;
                fences.failed += report.fences.failed;
                fences.timed_out += report.fences.timed_out;
            }
            Err(failure) => {
                eprintln!("{failure}");
                failed.push(seed);
                if !keep_going {
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{count} seeds ({from}..{}) run in {seconds:.1} s: {:.1} seeds/s, {:.0} steps/s, \
         {} simulated s per seed, {} failed",
        from + count,
        count as f64 / seconds,
        steps as f64 / seconds,
        (options.chaos_ms + options.quiesce_ms) / 1000,
        failed.len()
    );
    println!(
        "fencing: {fenced_seeds} passing seeds with devices; fences requested {}, confirmed {}, \
         failed {}, timed out {}",
        fences.requested, fences.confirmed, fences.failed, fences.timed_out
    );
    if failed.is_empty() {
        return ExitCode::SUCCESS;
    }
    println!("{} seeds failed: {failed:?}", failed.len());
    ExitCode::FAILURE
}

#[allow(
    clippy::disallowed_methods,
    reason = "the wall time of each size, for the report"
)]
fn scale(sizes: &[u64], seeds: u64) -> ExitCode {
    println!(
        "| nodes | seed | master machine ms per simulated s | messages to / from master per s \
         | false downs | kill -9 to down ms | silence at down ms | steps | wall s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &nodes in sizes {
        for seed in 0..seeds {
            let started = std::time::Instant::now();
            match sim::scale(seed, nodes) {
                Ok(report) if report.detection_ms.is_none() || report.terms > 1 => {
                    eprintln!(
                        "{nodes} nodes, seed {seed}: {} terms; at the end: {}",
                        report.terms,
                        report.end_state.chars().take(600).collect::<String>()
                    );
                    print_row(nodes, seed, &report, started.elapsed().as_secs_f64());
                }
                Ok(report) => print_row(nodes, seed, &report, started.elapsed().as_secs_f64()),
                Err(failure) => {
                    eprintln!("{failure}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    ExitCode::SUCCESS
}

fn print_row(nodes: u64, seed: u64, report: &sim::ScaleReport, wall_s: f64) {
    println!(
        "| {nodes} | {seed} | {:.2} | {:.0} / {:.0} | {} | {} | {} | {} | {:.1} |",
        report.machine_ms_per_s,
        report.to_master_per_s,
        report.from_master_per_s,
        report.false_downs,
        report
            .detection_ms
            .map_or("not seen".into(), |ms| ms.to_string()),
        report.silence_ms.map_or("-".into(), |ms| ms.to_string()),
        report.steps,
        wall_s
    );
}
