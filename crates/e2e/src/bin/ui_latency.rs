//! `ui_latency`: how soon the open dashboard shows a change made through the API (issue 14,
//! point 4: "updates live, within 1 s"), measured in headless Chromium against a real
//! cluster.
//!
//! Method: a real three-node cluster (agents from `ENCLUSTER_BIN`, else the `encluster`
//! beside this binary); one Chromium signed in on the dashboard of a node that is not the
//! master, so its reads are forwarded as an operator's would be. `CHANGES` times (default
//! 20), one second apart, a resource is created through the master's API; a
//! `MutationObserver` in the page records when its row first appears, and the delay is
//! that time minus the moment the API call began (both wall clocks of this machine). Run
//! with `ENCLUSTER_BIN=target/release/encluster cargo run -p e2e --bin ui_latency`; it
//! prints each delay and the percentiles for bench/RESULTS.md.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use e2e::Cluster;
use e2e::browser::Browser;

const PASSWORD: &str = "a long enough bench password";
/// How long a change may take to show before the run fails (a sanity bound only).
const SHOWN_MAX: Duration = Duration::from_secs(15);

/// The agents' binary: `ENCLUSTER_BIN`, else `encluster` in this binary's directory.
fn program() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("ENCLUSTER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name("encluster");
    anyhow::ensure!(
        path.exists(),
        "{} is missing: cargo build -p encluster",
        path.display()
    );
    Ok(path)
}

fn now_ms() -> f64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH);
    since.expect("after 1970").as_secs_f64() * 1000.0
}

/// The value at `percent` of sorted `values` (nearest rank).
fn percentile(sorted: &[f64], percent: f64) -> f64 {
    let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn sign_in(browser: &Browser, url: &str) -> anyhow::Result<()> {
    browser.open(url).await?;
    browser.fill("#login-user", "ada").await?;
    browser.fill("#login-password", PASSWORD).await?;
    browser.click("#login-form button[type=submit]").await?;
    browser
        .wait_text("#dash-nodes tbody", SHOWN_MAX, "three nodes", |text| {
            text.lines().count() == 3
        })
        .await?;
    Ok(())
}

/// Create `count` resources one second apart; each one's delay until the page shows it.
async fn measure(browser: &Browser, client: &api::Client, count: u64) -> anyhow::Result<Vec<f64>> {
    let mut delays = Vec::new();
    for i in 1..=count {
        let name = format!("lat-{i:03}");
        browser
            .watch(&name, "#dash-resources tbody tr", &[&name])
            .await?;
        let began = now_ms();
        client.create_resource(&e2e::specs::sleeper(&name)).await?;
        let shown = browser.seen_at_ms(&name, SHOWN_MAX).await?;
        let delay = shown - began;
        println!("change {i}: {name} shown after {delay:.0} ms");
        delays.push(delay);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(delays)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let count = std::env::var("CHANGES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(20);
    let cluster = Cluster::start_with(&program()?, 3, 3, &[])?;
    let master = cluster.wait_master(Duration::from_secs(30)).await;
    let client = cluster.client(master);
    let user = api::NewUser {
        name: "ada".into(),
        role: "admin".into(),
        password: PASSWORD.into(),
    };
    client.add_user(&user).await?;
    let serving = if master == 1 { 2 } else { 1 };
    let url = format!("https://{}/", cluster.nodes[serving as usize - 1].api_addr);
    let browser = Browser::start().await.context("start chromium")?;
    let outcome = async {
        sign_in(&browser, &url).await?;
        measure(&browser, &client, count).await
    }
    .await;
    browser.close().await?;
    let mut delays = outcome?;
    delays.sort_by(f64::total_cmp);
    println!(
        "{} resources created through the master's API, shown on the dashboard of node \
         {serving} (not the master): p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms, \
         min {:.0} ms",
        delays.len(),
        percentile(&delays, 50.0),
        percentile(&delays, 90.0),
        percentile(&delays, 99.0),
        delays[delays.len() - 1],
        delays[0]
    );
    Ok(())
}
