//! `ui_cpu`: what five open browsers cost an agent (issue 14, point 7: the UI's streaming
//! must add under 1 % of a core).
//!
//! Method: a real one-node cluster (the `encluster` binary `ENCLUSTER_BIN` names, else the
//! debug build) with three `process` resources; a key is written once a second throughout,
//! so the live stream always has something to carry. The agent's CPU time (utime + stime
//! from `/proc/<pid>/stat`) is read around `SECS` seconds (default 30) with no browser,
//! then around `SECS` seconds with five windows of one headless Chromium signed in on the
//! dashboard and following `/v1/stream`; `ROUNDS` (default 3) such pairs, alternating.
//! Run with `ENCLUSTER_BIN=target/release/encluster cargo run -p e2e --bin ui_cpu`; it
//! prints one line per phase and the medians for bench/RESULTS.md.

use std::time::{Duration, Instant};

use anyhow::Context;
use e2e::Cluster;
use e2e::browser::Browser;

const WINDOWS: usize = 5;
const PASSWORD: &str = "a long enough bench password";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The process's CPU time so far, in clock ticks (fields 14 and 15 of its stat line).
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat.rsplit_once(')').context("a stat line")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11).context("utime")?.parse()?;
    let stime: u64 = fields.get(12).context("stime")?.parse()?;
    Ok(utime + stime)
}

fn ticks_per_second() -> anyhow::Result<f64> {
    let output = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().parse()?)
}

/// The agent's CPU use over `secs` seconds, as a percentage of one core.
async fn share(pid: u32, secs: u64, tick: f64) -> anyhow::Result<f64> {
    let before = cpu_ticks(pid)?;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let used = (cpu_ticks(pid)? - before) as f64 / tick;
    Ok(100.0 * used / started.elapsed().as_secs_f64())
}

/// Open `WINDOWS` windows of `browser` on the dashboard (signed in once: the windows share
/// the session cookie), each showing the cluster's node.
async fn open_windows(browser: &Browser, url: &str) -> anyhow::Result<()> {
    let client = &browser.client;
    browser.open(url).await?;
    browser.fill("#login-user", "ada").await?;
    browser.fill("#login-password", PASSWORD).await?;
    browser.click("#login-form button[type=submit]").await?;
    browser.wait_for("#logout", Duration::from_secs(30)).await?;
    for _ in 1..WINDOWS {
        let window = client.new_window(false).await?;
        client.switch_to_window(window.handle).await?;
        browser.open(url).await?;
        browser
            .wait_for("#dash-nodes tbody tr", Duration::from_secs(30))
            .await?;
    }
    Ok(())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let secs = env_number("SECS", 30);
    let rounds = env_number("ROUNDS", 3);
    let tick = ticks_per_second()?;
    let cluster = Cluster::start(1, 1, &[])?;
    let master = cluster.wait_master(Duration::from_secs(30)).await;
    let client = cluster.client(master);
    for name in ["one", "two", "three"] {
        let output = cluster.cli(
            master,
            &[
                "resource",
                "create",
                name,
                "--type",
                "process",
                "--param",
                "command=sleep",
                "--param",
                "args=3600",
            ],
        );
        anyhow::ensure!(output.status.success(), "{}", e2e::output_text(&output));
    }
    let user = api::NewUser {
        name: "ada".into(),
        role: "admin".into(),
        password: PASSWORD.into(),
    };
    client.add_user(&user).await?;
    let writer = {
        let client = client.clone();
        tokio::spawn(async move {
            for i in 0u64.. {
                let _ = client.kv_put("bench/tick", &i.to_string()).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let pid = cluster.pid(master).context("the agent's pid")?;
    let url = format!("https://{}/", cluster.nodes[0].api_addr);
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let idle = share(pid, secs, tick).await?;
        println!("round {round}: no browser: {idle:.2} % of a core over {secs} s");
        without.push(idle);
        let browser = Browser::start().await.context("start chromium")?;
        open_windows(&browser, &url).await?;
        let open = share(pid, secs, tick).await?;
        println!("round {round}: {WINDOWS} dashboards open: {open:.2} % of a core over {secs} s");
        with.push(open);
        browser.close().await?;
    }
    writer.abort();
    let (idle, open) = (median(without), median(with));
    println!(
        "median of {rounds}: {idle:.2} % without, {open:.2} % with {WINDOWS} dashboards; \
         the UI adds {:.2} % of a core",
        open - idle
    );
    Ok(())
}
