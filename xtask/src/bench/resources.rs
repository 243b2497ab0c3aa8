//! `cargo xtask bench-resources`: the resource failover benchmarks of issue 3 on a
//! three-node encluster cluster on loopback, with real `process` resources.
//!
//! (1) kill -9 of a resource's process until it runs again (restart in place);
//! (2) crash of the non-master node running it (agent and its processes) until it runs
//!     on a survivor;
//! (3) crash of the master node running it, likewise.
//! "Runs" means a live process whose pid file names it, polled every 2 ms from outside.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::stats::Summary;

struct Node {
    config: PathBuf,
    api: String,
    child: Option<Child>,
}

/// Whether `MONITORING=off` asks for agents without metrics and remote monitors
/// (`monitoring = false`), to compare failovers with monitoring on and off.
fn monitoring_off() -> bool {
    std::env::var("MONITORING").is_ok_and(|value| value == "off")
}

/// A three-node cluster for the resource benchmarks.
struct Cluster {
    binary: PathBuf,
    nodes: Vec<Node>,
}

fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(parent) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{parent}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in text
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
            {
                found.push(child);
                queue.push(child);
            }
        }
    }
    found
}

fn live_pid(path: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(path).ok()?;
    let pid: u32 = text.split_whitespace().next()?.parse().ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit(')').next()?.split_whitespace().next()?;
    (state != "Z").then_some(pid)
}

impl Cluster {
    async fn start(dir: &Path) -> anyhow::Result<Cluster> {
        let binary = super::cluster::encluster_binary();
        let out = Command::new(&binary)
            .args([
                "init",
                "--local",
                "3",
                "--base-ip",
                "127.0.12.1",
                "--cluster-name",
                "res",
            ])
            .arg("--dir")
            .arg(dir)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if monitoring_off() {
            for i in 1..=3 {
                let config = dir.join(format!("node{i}/encluster.toml"));
                let text = std::fs::read_to_string(&config)?;
                // A top-level key goes before the first table.
                std::fs::write(&config, format!("monitoring = false\n{text}"))?;
            }
        }
        let nodes = (1..=3)
            .map(|i| Node {
                config: dir.join(format!("node{i}/encluster.toml")),
                api: format!("127.0.12.{i}:7511"),
                child: None,
            })
            .collect();
        let mut cluster = Cluster { binary, nodes };
        for id in 1..=3 {
            cluster.spawn(id)?;
        }
        Ok(cluster)
    }

    fn spawn(&mut self, id: u64) -> anyhow::Result<()> {
        let node = &mut self.nodes[(id - 1) as usize];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.config.with_file_name("agent.log"))?;
        node.child = Some(
            Command::new(&self.binary)
                .arg("agent")
                .arg("--config")
                .arg(&node.config)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()?,
        );
        Ok(())
    }

    fn crash(&mut self, id: u64) {
        let node = &mut self.nodes[(id - 1) as usize];
        if let Some(mut child) = node.child.take() {
            for pid in descendants(child.id()) {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn pid_file(&self, id: u64, name: &str) -> PathBuf {
        self.nodes[(id - 1) as usize]
            .config
            .with_file_name("data")
            .join("resources")
            .join(name)
            .join("process.pid")
    }

    /// The node whose pid file names a live process, if any.
    fn running_on(&self, name: &str) -> Option<(u64, u32)> {
        (1..=3u64).find_map(|id| {
            self.nodes[(id - 1) as usize].child.as_ref()?;
            live_pid(&self.pid_file(id, name)).map(|pid| (id, pid))
        })
    }

    async fn master(&self) -> anyhow::Result<u64> {
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            let client = api::Client::new(&format!("https://{}", node.api), self.tls(), None);
            if let Ok(health) = client.health().await
                && let Some(master) = health.master
            {
                return Ok(master);
            }
        }
        bail!("no master")
    }

    fn tls(&self) -> std::sync::Arc<rustls::ClientConfig> {
        let dir = self.nodes[0]
            .config
            .parent()
            .and_then(Path::parent)
            .expect("cluster dir");
        let ca = std::fs::read_to_string(dir.join("ca.pem")).expect("ca");
        auth::client_config(&ca, None).expect("tls")
    }

    fn client_for(&self, id: u64) -> api::Client {
        let token = self.token();
        api::Client::new(
            &format!("https://{}", self.nodes[(id - 1) as usize].api),
            self.tls(),
            Some(token),
        )
    }

    fn token(&self) -> String {
        let dir = self.nodes[0]
            .config
            .parent()
            .and_then(Path::parent)
            .expect("cluster dir");
        let text = std::fs::read_to_string(dir.join("cli.toml")).expect("cli.toml");
        text.lines()
            .find_map(|l| l.strip_prefix("token = "))
            .map(|t| t.trim_matches('"').to_string())
            .expect("token")
    }

    /// Poll every 2 ms until `name` runs on a node other than `not_on` with a pid other
    /// than `not_pid`; the elapsed time since `since`.
    async fn wait_running(
        &self,
        name: &str,
        not_on: Option<u64>,
        not_pid: Option<u32>,
        since: Instant,
    ) -> anyhow::Result<f64> {
        let deadline = since + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some((node, pid)) = self.running_on(name)
                && Some(node) != not_on
                && Some(pid) != not_pid
            {
                return Ok(since.elapsed().as_secs_f64() * 1000.0);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        bail!("{name} did not run again within 30 s")
    }

    /// Wait until every node is back online and the master accepts writes.
    async fn settle(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(master) = self.master().await {
                let client = self.client_for(master);
                if let Ok(status) = client.status().await
                    && status.nodes.iter().all(|n| n.state == "online")
                    && client.kv_put("bench/settle", "ok").await.is_ok()
                {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("cluster did not settle")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in 1..=3 {
            self.crash(id);
        }
    }
}

fn spec() -> api::ResourceSpec {
    api::ResourceSpec {
        name: "bench".into(),
        type_name: "process".into(),
        params: [
            ("command".to_string(), "sleep".to_string()),
            ("args".to_string(), "100000".to_string()),
        ]
        .into(),
        monitor_interval: Some("1s".into()),
        stop_timeout: Some("2s".into()),
        ..Default::default()
    }
}

/// Run the resource benchmarks and print Markdown. On failure the agents' directory (with
/// their logs) is kept and named in the error.
pub async fn run(trials: usize) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let outcome = measure(trials, &scratch.path().join("c")).await;
    if outcome.is_err() {
        let kept = scratch.keep();
        return outcome.with_context(|| format!("agents' directory kept: {}", kept.display()));
    }
    outcome
}

async fn measure(trials: usize, dir: &Path) -> anyhow::Result<()> {
    let mut cluster = Cluster::start(dir).await?;
    cluster.settle().await?;
    let master = cluster.master().await?;
    cluster.client_for(master).create_resource(&spec()).await?;
    let since = Instant::now();
    cluster.wait_running("bench", None, None, since).await?;
    println!("# resource failover benchmark\n");
    println!("machine: {}\n", super::machine());
    let monitoring = if monitoring_off() { "off" } else { "on" };
    println!("monitoring: {monitoring} (MONITORING=off turns it off)\n");
    let mut crash = Vec::new();
    for trial in 1..=trials {
        let (_, pid) = cluster.running_on("bench").context("not running")?;
        let killed = Instant::now();
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL)?;
        crash.push(
            cluster
                .wait_running("bench", None, Some(pid), killed)
                .await
                .with_context(|| format!("kill -9 of the process, trial {trial}"))?,
        );
        // Each trial is one isolated crash: forget the failures, or the restart backoff
        // (1 s, 2 s, 4 s, ... after repeated failures, `model::restart_backoff`) is measured.
        let master = cluster.master().await?;
        cluster.client_for(master).cleanup_resource("bench").await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let non_master = node_loss(&mut cluster, trials, false).await?;
    let of_master = node_loss(&mut cluster, trials, true).await?;
    println!("| scenario | runs | median ms | p99 ms | min ms | max ms |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| process kill -9 until running again (in place) | {} |",
        Summary::of(crash).row()
    );
    println!(
        "| crash of the non-master node running it, until running on a survivor | {} |",
        Summary::of(non_master).row()
    );
    println!(
        "| crash of the master node running it, until running on a survivor | {} |",
        Summary::of(of_master).row()
    );
    Ok(())
}

async fn node_loss(
    cluster: &mut Cluster,
    trials: usize,
    on_master: bool,
) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::new();
    for trial in 1..=trials {
        cluster.settle().await?;
        let master = cluster.master().await?;
        let target = if on_master {
            master
        } else {
            (1..=3).find(|n| *n != master).expect("other")
        };
        let client = cluster.client_for(master);
        let request = api::MoveRequest {
            to: Some(target),
            for_duration: Some("2s".into()),
            clear: false,
        };
        client.move_resource("bench", &request).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while cluster.running_on("bench").map(|(n, _)| n) != Some(target) {
            anyhow::ensure!(
                Instant::now() < deadline,
                "could not place the resource on node {target}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(2500)).await; // let the move preference expire
        let crashed = Instant::now();
        cluster.crash(target);
        samples.push(
            cluster
                .wait_running("bench", Some(target), None, crashed)
                .await
                .with_context(|| format!("crash of node {target}, trial {trial}"))?,
        );
        cluster.spawn(target)?;
    }
    Ok(samples)
}
