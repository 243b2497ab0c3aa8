//! `cargo xtask bench-alerts`: alert delivery latency (issue 13, point 9), from an event to
//! the webhook that receives it, on a three-node cluster on loopback.
//!
//! Each trial writes one key through the API (the write is an operator action, so an
//! event), and a webhook receiver in this process notes when the alert arrives; the
//! latency is the arrival time less the event's own time (`startsAt`, the API node's
//! clock; one machine, one clock). Trials run one after another, so each measures one
//! alert alone.
//!
//! With `bad` (`BAD=1`), three hostile recipients get the same alerts beside the webhook:
//! an alert agent that hangs (killed at its 2 s timeout), one that floods its output, and a
//! webhook that accepts and never answers. The run then also prints the master's loop lag
//! (`agent_loop_lag_seconds`, its max over the run) and the node health changes in the
//! event log, to show whether they slowed the heartbeat or the good webhook.
//!
//! Meanwhile the data plane carries a steady load: a director (`lb`, HTTP) in front of a
//! server in this process, asked once every 5 ms on a new connection; the run prints its
//! request latency, so the two runs show whether hostile recipients reach the data plane.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::stats::Summary;

type Arrivals = Arc<Mutex<BTreeMap<String, u64>>>;

fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// Runs `trials` trials and prints a Markdown row: runs | p50 | p99 | min | max (ms).
pub async fn run(trials: usize, bad: bool) -> anyhow::Result<()> {
    let arrivals: Arrivals = Arc::default();
    let url = receiver(arrivals.clone()).await?;
    let cluster = e2e::Cluster::start(3, 5, &[])?;
    let master = cluster.wait_master(Duration::from_secs(30)).await;
    let client = cluster.client(master);
    let started_ms = now_ms();
    let spec = api::AlertSpec {
        name: "bench".into(),
        webhook: Some(url),
        kinds: vec!["attribute".into()],
        ..Default::default()
    };
    client.put_alert(&spec).await.context("add the webhook")?;
    if bad {
        for spec in hostile(&cluster.cluster_dir()).await? {
            client.put_alert(&spec).await.context("add a hostile recipient")?;
        }
    }
    let octets = cluster.base_ip.octets();
    let listen = format!("{}.{}.{}.70:8080", octets[0], octets[1], octets[2]);
    let director = api::ResourceSpec {
        name: "web".into(),
        type_name: "lb".into(),
        params: BTreeMap::from([
            ("listen".into(), listen.clone()),
            ("servers".into(), format!("a={}", backend().await?)),
            ("protocol".into(), "http".into()),
        ]),
        ..Default::default()
    };
    client.create_resource(&director).await.context("add the director")?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while request(&listen).await.is_none() {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the director never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = tokio::spawn(data_plane(listen, stop.clone()));
    for trial in 0..trials {
        let before = arrivals.lock().expect("lock").len();
        client
            .kv_put(&format!("bench/{trial}"), "x")
            .await
            .context("write a key")?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if arrivals.lock().expect("lock").len() > before {
                break;
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "trial {trial}: no alert within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let mut latencies: Vec<f64> = Vec::new();
    latencies.extend(
        arrivals
            .lock()
            .expect("lock")
            .values()
            .map(|latency| *latency as f64),
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (answered, failed) = load.await.context("the data-plane load")?;
    println!("alert delivery, event to webhook (ms): runs | p50 | p99 | min | max");
    println!("{}", Summary::of(latencies).row());
    println!("data plane, one request every 5 ms (us): runs | p50 | p99 | min | max; {} failed",
        failed);
    println!("{}", Summary::of(answered).row());
    let lag = api::MetricQuery {
        name: "agent_loop_lag_seconds".into(),
        node: Some(master),
        from_ms: Some(started_ms),
        to_ms: Some(now_ms()),
        step_ms: Some(1_000),
        consolidation: Some("max".into()),
        ..api::MetricQuery::default()
    };
    let lag = client.metric_range(&lag).await.context("the master's loop lag")?;
    let worst = (lag.points.iter().flatten())
        .map(|point| point.max)
        .fold(0.0_f64, f64::max);
    let events = client.events(0, 0).await.context("the event log")?.events;
    let health = (events.iter())
        .filter(|event| event.kind == "node_health" && event.at_ms >= started_ms)
        .count();
    println!(
        "hostile recipients: {}; master's loop lag, max over the run: {:.0} ms; node health \
         changes: {health}",
        if bad { "3" } else { "none" },
        worst * 1_000.0
    );
    Ok(())
}

/// An HTTP server on loopback answering every request `200 ok`; its address.
async fn backend() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 2048];
                let _ = stream.read(&mut buffer).await;
                let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    Ok(address)
}

/// One GET through the director on a new connection: its latency in µs if answered 200.
async fn request(listen: &str) -> Option<f64> {
    let began = std::time::Instant::now();
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(listen).await.ok()?;
        let ask = "GET / HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n";
        stream.write_all(ask.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        answer.starts_with(b"HTTP/1.1 200").then_some(())
    };
    tokio::time::timeout(Duration::from_secs(2), attempt).await.ok()??;
    Some(began.elapsed().as_secs_f64() * 1e6)
}

/// Requests through the director every 5 ms until `stop`: the latencies answered (µs),
/// and the count of requests that failed.
async fn data_plane(
    listen: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> (Vec<f64>, usize) {
    let mut answered = Vec::new();
    let mut failed = 0;
    let mut ticks = tokio::time::interval(Duration::from_millis(5));
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        ticks.tick().await;
        match request(&listen).await {
            Some(latency) => answered.push(latency),
            None => failed += 1,
        }
    }
    (answered, failed)
}

/// Three recipients that misbehave: an agent that hangs, one that floods its output, and a
/// webhook that never answers, each with a 2 s timeout.
async fn hostile(dir: &std::path::Path) -> anyhow::Result<Vec<api::AlertSpec>> {
    let mut specs = Vec::new();
    for (name, body) in [
        ("hangs", "#!/bin/sh\nexec sleep 3600\n"),
        ("floods", "#!/bin/sh\nexec yes flood\n"),
    ] {
        let path = dir.join(format!("alert-{name}.sh"));
        std::fs::write(&path, body)?;
        let mut permissions = std::fs::metadata(&path)?.permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&path, permissions)?;
        specs.push(api::AlertSpec {
            name: name.into(),
            executable: Some(path.display().to_string()),
            kinds: vec!["attribute".into()],
            timeout: Some("2s".into()),
            ..Default::default()
        });
    }
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/silent", silent.local_addr()?);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    specs.push(api::AlertSpec {
        name: "silent".into(),
        webhook: Some(url),
        kinds: vec!["attribute".into()],
        timeout: Some("2s".into()),
        ..Default::default()
    });
    Ok(specs)
}

/// A webhook receiver on loopback: for each alert, its latency (arrival less `startsAt`),
/// keyed by fingerprint.
async fn receiver(arrivals: Arrivals) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let arrivals = arrivals.clone();
            tokio::spawn(async move {
                let Some(body) = e2e::webhook::request_body(&mut stream).await else {
                    return;
                };
                let arrived = now_ms();
                let _ = stream.write_all(e2e::webhook::OK_EMPTY.as_bytes()).await;
                let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) else {
                    return;
                };
                for alert in json["alerts"].as_array().cloned().unwrap_or_default() {
                    let Some(starts) = alert["startsAt"].as_str().and_then(parse_rfc3339_ms) else {
                        continue;
                    };
                    let id = alert["fingerprint"].as_str().unwrap_or_default().to_owned();
                    arrivals
                        .lock()
                        .expect("lock")
                        .insert(id, arrived.saturating_sub(starts));
                }
            });
        }
    });
    Ok(url)
}

/// `2026-12-06T23:50:01.123Z` as ms since the epoch.
fn parse_rfc3339_ms(text: &str) -> Option<u64> {
    let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
    let mut date_parts = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (
        date_parts.next()??,
        date_parts.next()??,
        date_parts.next()??,
    );
    let (hms, millis) = time.split_once('.').unwrap_or((time, "0"));
    let mut hms_parts = hms.split(':').map(|p| p.parse::<u64>().ok());
    let (hh, mm, ss) = (hms_parts.next()??, hms_parts.next()??, hms_parts.next()??);
    // Howard Hinnant's days-from-civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    Some(((days * 86_400 + hh * 3_600 + mm * 60 + ss) * 1_000) + millis.parse::<u64>().ok()?)
}
