//! `cargo xtask bench-core`: the cluster-core benchmarks of issue 2, encluster and etcd
//! side by side on this machine in one run, with the same Rust load generator for both.
//!
//! (a) closed-loop durable writes: writes/s, p50 and p99 latency, 1/16/64 clients, to the
//!     master only and spread over all members, interleaved rounds;
//! (b) kill -9 of the master until the first successful write issued after the kill;
//! (c) kill -9 of a non-master until the master records it `down` (encluster only: etcd
//!     has no such event);
//! (d) idle resident memory of each member.
//! Both systems fsync every commit (etcd's WAL; encluster's redb). etcd runs with
//! election timeout 300 ms and heartbeat 50 ms, close to encluster's 150-300 ms / 50 ms.

pub mod alerts;
mod cluster;
pub mod hosts;
pub mod lin;
mod load;
pub mod query;
pub mod resources;
mod stats;

use std::time::Duration;

use cluster::Cluster;
use stats::Summary;

/// Benchmark settings.
pub struct Settings {
    /// Client counts for the write benchmark.
    pub clients: Vec<usize>,
    /// Seconds per write run.
    pub duration: Duration,
    /// Interleaved rounds of the write benchmark.
    pub rounds: usize,
    /// Failover and down-detection trials per system.
    pub trials: usize,
}

impl Settings {
    /// From `--quick` and the environment (`CLIENTS`, `DUR`, `ROUNDS`, `TRIALS`).
    pub fn from_env(quick: bool) -> Settings {
        let get = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let clients = std::env::var("CLIENTS")
            .ok()
            .map(|v| {
                v.split_whitespace()
                    .filter_map(|c| c.parse().ok())
                    .collect()
            })
            .unwrap_or_else(|| if quick { vec![16] } else { vec![1, 16, 64] });
        Settings {
            clients,
            duration: Duration::from_secs(get("DUR", if quick { 3 } else { 10 }) as u64),
            rounds: get("ROUNDS", if quick { 1 } else { 3 }),
            trials: get("TRIALS", if quick { 3 } else { 12 }),
        }
    }
}

/// Run every benchmark and print the results as Markdown.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let mut encluster = Cluster::encluster(scratch.path()).await?;
    let mut etcd = Cluster::etcd(scratch.path()).await?;
    println!("# cluster core benchmark\n");
    println!("machine: {}", machine());
    let etcd_tls = std::env::var("ETCD_TLS").is_ok_and(|v| v == "1");
    println!(
        "etcd: {}\n",
        if etcd_tls {
            "clients and peers over TLS (ETCD_TLS=1)"
        } else {
            "plain HTTP (ETCD_TLS=1 for TLS, as encluster always uses)"
        }
    );
    let sections =
        std::env::var("SECTIONS").unwrap_or_else(|_| "memory writes failover down".into());
    if sections.contains("memory") {
        memory(&encluster, &etcd).await;
    }
    if sections.contains("writes") {
        writes(&settings, &encluster, &etcd).await?;
    }
    if sections.contains("failover") {
        let ours = failover(&mut encluster, settings.trials).await?;
        let theirs = failover(&mut etcd, settings.trials).await?;
        println!("\n## (b) kill -9 of the master until the first successful write\n");
        println!("| system | runs | median ms | p99 ms | min ms | max ms |");
        println!("|---|---|---|---|---|---|");
        println!("| encluster | {} |", ours.row());
        println!("| etcd | {} |", theirs.row());
    }
    if sections.contains("down") {
        let down = down_detection(&mut encluster, settings.trials).await?;
        println!("\n## (c) kill -9 of a non-master until its `down` event\n");
        println!("| system | runs | median ms | p99 ms | min ms | max ms |");
        println!("|---|---|---|---|---|---|");
        println!("| encluster | {} |", down.row());
        println!("| etcd | no equivalent (etcd records no member-down event) |");
    }
    Ok(())
}

pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.to_string())
        })
        .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cores} cores, {cpu}")
}

async fn memory(encluster: &Cluster, etcd: &Cluster) {
    tokio::time::sleep(Duration::from_secs(5)).await;
    println!("\n## (d) idle resident memory per member (after 5 s idle)\n");
    println!("| system | member RSS MiB |");
    println!("|---|---|");
    for (name, rss) in [("encluster", encluster.rss_mib()), ("etcd", etcd.rss_mib())] {
        let list: Vec<String> = rss.iter().map(|r| format!("{r:.1}")).collect();
        println!("| {name} | {} |", list.join(", "));
    }
}

async fn writes(settings: &Settings, encluster: &Cluster, etcd: &Cluster) -> anyhow::Result<()> {
    println!(
        "\n## (a) closed-loop durable writes, 256-byte values, {} s per run\n",
        settings.duration.as_secs()
    );
    println!(
        "| system | clients | target | writes/s (median of rounds) | p50 ms | p99 ms | errors |"
    );
    println!("|---|---|---|---|---|---|---|");
    for &clients in &settings.clients {
        for master_only in [true, false] {
            let mut results: Vec<(&str, Vec<load::LoadResult>)> =
                vec![("encluster", Vec::new()), ("etcd", Vec::new())];
            for _ in 0..settings.rounds {
                let system_list: [&Cluster; 2] = [encluster, etcd];
                for (index, system) in system_list.into_iter().enumerate() {
                    let targets = system.write_targets(master_only).await?;
                    let result =
                        load::closed_loop(system, &targets, clients, settings.duration).await;
                    results[index].1.push(result);
                }
            }
            let target = if master_only { "master" } else { "all" };
            for (name, rounds) in &results {
                let merged = load::LoadResult::median_of(rounds);
                println!(
                    "| {name} | {clients} | {target} | {:.0} | {:.2} | {:.2} | {} |",
                    merged.writes_per_second, merged.p50_ms, merged.p99_ms, merged.errors
                );
            }
        }
    }
    Ok(())
}

async fn failover(system: &mut Cluster, trials: usize) -> anyhow::Result<Summary> {
    let mut samples = Vec::new();
    for _ in 0..trials {
        system.settle().await?;
        let master = system.master().await?;
        let survivors = system.write_targets_except(master).await?;
        let gap = load::kill_and_probe(system, master, &survivors).await?;
        samples.push(gap);
        system.restart(master).await?;
    }
    Ok(Summary::of(samples))
}

async fn down_detection(encluster: &mut Cluster, trials: usize) -> anyhow::Result<Summary> {
    let mut samples = Vec::new();
    for trial in 0..trials {
        encluster.settle().await?;
        encluster.wait_all_online().await?;
        let master = encluster.master().await?;
        // Alternate the victim: killing one node again and again meets the flap damping
        // (a node that keeps failing must stay up longer before it counts as online).
        let others: Vec<u64> = (1..=3).filter(|id| *id != master).collect();
        let victim = others[trial % others.len()];
        samples.push(encluster.kill_until_down(master, victim).await?);
        encluster.restart(victim).await?;
    }
    Ok(Summary::of(samples))
}
