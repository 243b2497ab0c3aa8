//! `scale`: many real agents on this machine (issue 18, points 1 and 4). For each size in
//! `SCALE_NODES` (default `16 32 48 64`) it starts that many agents on loopback (at most 5
//! voters, the rest learners), waits until the master sees every node online (formation,
//! timed), then watches the cluster for `SCALE_SECS` (default 600) with nothing failing on
//! purpose: every node health change and every new master is a false alarm. Meanwhile it
//! reads every agent's CPU time and resident memory from /proc. One Markdown row per size
//! goes to stdout.
//!
//! Run with `ENCLUSTER_BIN=target/release/encluster cargo run --release -p e2e --bin scale`.
//! Formation fails the run after `SCALE_FORM_SECS` (default 300): a cluster that never forms
//! is the result, not a reason to wait forever.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use e2e::Cluster;

/// What one size's run saw.
#[derive(Debug, Default)]
struct Seen {
    formed_s: Option<f64>,
    suspect: u64,
    down: u64,
    elections: u64,
    flapping_nodes: usize,
    cpu_total_pct: f64,
    cpu_master_pct: f64,
    cpu_other_pct: f64,
    rss_master_mib: f64,
    rss_other_mib: f64,
    states_at_end: BTreeMap<String, usize>,
}

fn main() -> anyhow::Result<()> {
    let sizes: Vec<usize> = std::env::var("SCALE_NODES")
        .unwrap_or_else(|_| "16 32 48 64".into())
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("SCALE_NODES: node counts separated by spaces")?;
    let secs: u64 = std::env::var("SCALE_SECS").map_or(Ok(600), |s| s.parse())?;
    let form_secs: u64 = std::env::var("SCALE_FORM_SECS").map_or(Ok(300), |s| s.parse())?;
    let runtime = tokio::runtime::Runtime::new()?;
    println!(
        "| agents | formed in s | watched s | suspect | down | nodes that flapped | new masters \
         | CPU all agents % of a core | master % | other agent mean % | master RSS MiB \
         | other agent mean RSS MiB | states at the end |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for n in sizes {
        let seen = runtime.block_on(watch(n, Duration::from_secs(secs), form_secs))?;
        let formed = seen
            .formed_s
            .map_or("never".to_string(), |s| format!("{s:.1}"));
        let states: Vec<String> = (seen.states_at_end.iter())
            .map(|(state, count)| format!("{count} {state}"))
            .collect();
        println!(
            "| {n} | {formed} | {secs} | {} | {} | {} | {} | {:.1} | {:.1} | {:.2} | {:.1} | \
             {:.1} | {} |",
            seen.suspect,
            seen.down,
            seen.flapping_nodes,
            seen.elections,
            seen.cpu_total_pct,
            seen.cpu_master_pct,
            seen.cpu_other_pct,
            seen.rss_master_mib,
            seen.rss_other_mib,
            states.join(", ")
        );
    }
    Ok(())
}

async fn watch(n: usize, length: Duration, form_secs: u64) -> anyhow::Result<Seen> {
    let started = Instant::now();
    let cluster = Cluster::start(n, 5, &[])?;
    let mut seen = Seen::default();
    let master = cluster.wait_master(Duration::from_secs(form_secs)).await;
    let client = cluster.client(master);
    let deadline = started + Duration::from_secs(form_secs);
    loop {
        let status = client.status().await.ok();
        let online = status.as_ref().map_or(0, |status| {
            (status.nodes.iter())
                .filter(|node| node.state == "online" && node.role != "none")
                .count()
        });
        if online == n {
            seen.formed_s = Some(started.elapsed().as_secs_f64());
            break;
        }
        if Instant::now() > deadline {
            eprintln!("{n} agents: {online} online after {form_secs} s; not formed");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let since = client.events(0, 0).await.context("events")?.next;
    let pids: BTreeMap<u64, u32> = (1..=n as u64)
        .filter_map(|id| Some((id, cluster.pid(id)?)))
        .collect();
    let before = cpu_ticks(&pids);
    let watch_started = Instant::now();
    tokio::time::sleep(length).await;
    let elapsed = watch_started.elapsed().as_secs_f64();
    let after = cpu_ticks(&pids);
    let now_master = cluster.wait_master(Duration::from_secs(60)).await;
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let mut other_cpu = Vec::new();
    for (id, start) in &before {
        let Some(end) = after.get(id) else { continue };
        let pct = (end - start) as f64 / ticks_per_s / elapsed * 100.0;
        seen.cpu_total_pct += pct;
        if *id == now_master {
            seen.cpu_master_pct = pct;
        } else {
            other_cpu.push(pct);
        }
    }
    seen.cpu_other_pct = mean(&other_cpu);
    let mut other_rss = Vec::new();
    for (id, pid) in &pids {
        let rss = rss_mib(*pid);
        if *id == now_master {
            seen.rss_master_mib = rss;
        } else {
            other_rss.push(rss);
        }
    }
    seen.rss_other_mib = mean(&other_rss);
    let client = cluster.client(now_master);
    let events = client.events(since, 0).await.context("events")?;
    let mut flapped = std::collections::BTreeSet::new();
    for event in events.events {
        let field = |name: &str| event.detail[name].as_str().unwrap_or_default().to_owned();
        match (event.kind.as_str(), field("to").as_str()) {
            ("node_health", "suspect") => seen.suspect += 1,
            ("node_health", "down") => {
                seen.down += 1;
                flapped.insert(event.detail["node"].to_string());
            }
            ("master_elected", _) => seen.elections += 1,
            _ => continue,
        }
        eprintln!("{n} agents, false alarm: {}", event.message);
    }
    seen.flapping_nodes = flapped.len();
    let status = client.status().await.context("status")?;
    for node in status.nodes {
        *seen.states_at_end.entry(node.state).or_default() += 1;
    }
    Ok(seen)
}

/// utime + stime of each agent, in clock ticks.
fn cpu_ticks(pids: &BTreeMap<u64, u32>) -> BTreeMap<u64, u64> {
    pids.iter()
        .filter_map(|(id, pid)| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // Fields after the command (which may hold spaces) start after the last ')'.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some((*id, utime + stime))
        })
        .collect()
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().sum::<f64>() / values.len() as f64
}
