//! `cargo xtask bench-query`: a one-hour range query at 1-second resolution of one node's
//! series, asked of another node (issue 13, point 9; target p99 under 50 ms), on a
//! three-node cluster on loopback.
//!
//! Node 2 forwards each query to node 1, which reads 3,600 points from its finest archive;
//! the time is the client's, from the request to the whole answer. A fresh cluster's hour
//! is mostly unknown points, which cost the same to read and send as known ones.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use super::stats::Summary;

fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// Runs `trials` queries one after another and prints a Markdown row:
/// runs | p50 | p99 | min | max (ms).
pub async fn run(trials: usize) -> anyhow::Result<()> {
    let cluster = e2e::Cluster::start(3, 5, &[])?;
    cluster.wait_master(Duration::from_secs(30)).await;
    let client = cluster.client(2);
    let query = |to_ms: u64| api::MetricQuery {
        name: "host_memory_total_bytes".into(),
        node: Some(1),
        // The 1 s archive keeps 3,600 rows: an hour less its newest second still fits it.
        from_ms: Some(to_ms - 3_599_000),
        to_ms: Some(to_ms),
        step_ms: Some(1_000),
        ..api::MetricQuery::default()
    };
    // Node 1 has sampled at least once when node 2 can read its series.
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.metric_range(&query(now_ms())).await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "node 1's series never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut latencies = Vec::with_capacity(trials);
    for trial in 0..trials {
        let started = Instant::now();
        let range = client
            .metric_range(&query(now_ms()))
            .await
            .with_context(|| format!("query {trial}"))?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(range.step_ms == 1_000, "step {} ms, not 1 s", range.step_ms);
        anyhow::ensure!(range.points.len() >= 3_598, "{} points", range.points.len());
    }
    println!("machine: {}\n", super::machine());
    println!("1-hour range at 1 s from another node (ms): runs | p50 | p99 | min | max");
    println!("{}", Summary::of(latencies).row());
    Ok(())
}
