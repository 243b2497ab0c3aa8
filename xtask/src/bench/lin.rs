//! `cargo xtask bench-lin`: long linearizability runs of the key/value API under faults
//! (issue 10), on 3- and 5-node clusters, several seeds each.
//!
//! Each run is `e2e::linearizability::workload`: concurrent clients with their own write
//! sessions on random nodes, a seeded injector killing (kill -9), pausing (SIGSTOP/SIGCONT)
//! and restarting a minority of the nodes, the master often, then a final read of every key
//! and the Wing & Gong check. The report is one Markdown row per run (operations, faults,
//! anomalies, the checker's time) and every anomaly in full; the command fails when any run
//! found one. Settings from the environment: `NODES="3 5"`, `SEEDS="1 2 3"`, `DUR` (seconds
//! per run, default 120), `CLIENTS` (default 5), `KEYS` (default 3).

use std::time::{Duration, Instant};

use e2e::linearizability::workload::{self, Settings, Summary};

fn list(name: &str, default: &str) -> Vec<u64> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect()
}

fn number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Run every (nodes, seed) pair and print the report; `Err` if any run found an anomaly.
pub async fn run() -> anyhow::Result<()> {
    let duration = Duration::from_secs(number("DUR", 120));
    let clients = number("CLIENTS", 5) as usize;
    let keys = number("KEYS", 3) as usize;
    println!("# linearizability under faults (issue 10)\n");
    println!("machine: {}", super::machine());
    println!(
        "{clients} clients, {keys} keys, {} s per run; faults: kill -9, pause (SIGSTOP), \
         kill -9 and restart, of random nodes and the master, a minority at a time\n",
        duration.as_secs()
    );
    println!(
        "| nodes | seed | ops | writes ok | writes unknown | writes refused | reads ok | \
         reads unanswered | faults | anomalies | check s | run s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut failed = Vec::new();
    let mut details = Vec::new();
    for nodes in list("NODES", "3 5") {
        for seed in list("SEEDS", "1 2 3") {
            let settings = Settings {
                nodes: nodes as usize,
                clients,
                keys,
                duration,
                seed,
                faults: true,
            };
            let started = Instant::now();
            let summary = workload::run(&settings).await?;
            let total = started.elapsed().as_secs_f64();
            println!("{}", row(&summary, total));
            if !summary.report.is_clean() {
                failed.push((nodes, seed));
            }
            details.push(summary);
        }
    }
    println!("\n## fault logs and anomalies\n");
    for summary in &details {
        println!(
            "### {} nodes, seed {}\n",
            summary.settings.nodes, summary.settings.seed
        );
        println!("```\n{summary}");
        for line in &summary.fault_log {
            println!("  {line}");
        }
        println!("```\n");
    }
    anyhow::ensure!(
        failed.is_empty(),
        "anomalies in runs (nodes, seed): {failed:?}"
    );
    Ok(())
}

/// One run's Markdown row; `total_s` is the whole run (start, workload, heal, check).
fn row(summary: &Summary, total_s: f64) -> String {
    let get = |name: &str| summary.ops.get(name).copied().unwrap_or(0);
    let ops: usize = summary.ops.values().sum();
    let faults: usize = summary.faults.values().sum();
    format!(
        "| {} | {} | {ops} | {} | {} | {} | {} | {} | {faults} | {} | {:.2} | {total_s:.0} |",
        summary.settings.nodes,
        summary.settings.seed,
        get("write ok"),
        get("write unknown"),
        get("write refused"),
        get("read ok"),
        get("read unknown"),
        summary.report.anomalies.len(),
        summary.check_time.as_secs_f64(),
    )
}
