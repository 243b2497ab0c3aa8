//! Load generation: a closed loop of writers, and a failover prober.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::sync::Mutex;

use super::cluster::Cluster;
use super::stats::percentile;

/// One write run's result.
#[derive(Clone, Debug)]
pub struct LoadResult {
    /// Successful writes per second.
    pub writes_per_second: f64,
    /// Median latency of successful writes.
    pub p50_ms: f64,
    /// 99th-percentile latency of successful writes.
    pub p99_ms: f64,
    /// Failed writes.
    pub errors: u64,
}

impl LoadResult {
    /// The round with the median throughput (rounds are interleaved between systems).
    pub fn median_of(rounds: &[LoadResult]) -> LoadResult {
        let mut sorted = rounds.to_vec();
        sorted.sort_by(|a, b| a.writes_per_second.total_cmp(&b.writes_per_second));
        sorted[sorted.len() / 2].clone()
    }
}

/// `clients` writers, each on its own connection, writing back to back for `duration`.
pub async fn closed_loop(
    cluster: &Cluster,
    targets: &[String],
    clients: usize,
    duration: Duration,
) -> LoadResult {
    let value = "v".repeat(256);
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let workers = (0..clients).map(|worker| {
        let target = targets[worker % targets.len()].clone();
        let value = value.clone();
        let writer = cluster.writer();
        async move {
            let client = writer.http_client();
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut n = 0u64;
            while Instant::now() < deadline {
                let key = format!("bench/{worker}/{}", n % 10_000);
                n += 1;
                let sent = Instant::now();
                match writer.put(&client, &target, &key, &value).await {
                    Ok(()) => latencies.push(sent.elapsed().as_secs_f64() * 1000.0),
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        }
    });
    let results = futures::future::join_all(workers).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies: Vec<f64> = Vec::new();
    let mut errors = 0;
    for (worker_latencies, worker_errors) in results {
        latencies.extend(worker_latencies);
        errors += worker_errors;
    }
    latencies.sort_by(f64::total_cmp);
    LoadResult {
        writes_per_second: latencies.len() as f64 / elapsed,
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        errors,
    }
}

/// Writes every 10 ms, alternating between the survivors, each on a kept-alive
/// connection; SIGKILL the master after 500 ms of steady writes. Returns the time from
/// the kill to the completion of the first successful write issued after it.
pub async fn kill_and_probe(
    cluster: &mut Cluster,
    master: u64,
    survivors: &[String],
) -> anyhow::Result<f64> {
    let pid = cluster
        .pid(master)
        .ok_or_else(|| anyhow::anyhow!("master {master} not running"))?;
    let clients: Vec<reqwest::Client> = survivors.iter().map(|_| cluster.http_client()).collect();
    let first_success: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let started = Instant::now();
    let mut killed_at: Option<Instant> = None;
    let mut n = 0usize;
    let mut in_flight = tokio::task::JoinSet::new();
    let value = "v".repeat(256);
    loop {
        if killed_at.is_none() && started.elapsed() >= Duration::from_millis(500) {
            kill(Pid::from_raw(pid as i32), Signal::SIGKILL)?;
            killed_at = Some(Instant::now());
        }
        if let Some(killed) = killed_at
            && (first_success.lock().await.is_some() || killed.elapsed() > Duration::from_secs(15))
        {
            break;
        }
        let index = n % survivors.len();
        let (client, endpoint) = (clients[index].clone(), survivors[index].clone());
        let issued_after_kill = killed_at.is_some();
        let first_success = first_success.clone();
        let (writer, value) = (cluster.writer(), value.clone());
        in_flight.spawn(async move {
            let key = format!("bench/failover/{n}");
            let ok = writer.put(&client, &endpoint, &key, &value).await.is_ok();
            if ok && issued_after_kill {
                let mut first = first_success.lock().await;
                if first.is_none() {
                    *first = Some(Instant::now());
                }
            }
        });
        n += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    in_flight.abort_all();
    cluster.kill(master);
    let killed = killed_at.expect("the kill happened");
    let first = first_success
        .lock()
        .await
        .ok_or_else(|| anyhow::anyhow!("no write succeeded within 15 s"))?;
    Ok(first.duration_since(killed).as_secs_f64() * 1000.0)
}
