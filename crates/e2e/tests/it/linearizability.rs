//! Issue 10: the key/value API stays linearizable, and loses no acknowledged write, while
//! nodes and the master are killed, paused and restarted.
//!
//! Method: five clients, each with its own write session, read and write three keys through
//! random nodes of a real 3-node cluster for 25 s while a seeded injector kills (kill -9),
//! pauses (SIGSTOP/SIGCONT) and restarts one node at a time; then every fault is healed, each
//! key is read once more, and the history goes to the Wing & Gong checker
//! (`e2e::linearizability`). `LIN_SEED` repeats a run's workload and faults; longer runs on 3
//! and 5 nodes are `bench/linearizability.sh`.

use std::time::Duration;

use e2e::linearizability::workload::{self, Settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_api_is_linearizable_under_kills_and_pauses_r10() {
    let seed = std::env::var("LIN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::from(std::process::id()) * 7919 + 1);
    eprintln!("linearizability workload seed {seed} (repeat with LIN_SEED={seed})");
    let settings = Settings {
        nodes: 3,
        clients: 5,
        keys: 3,
        duration: Duration::from_secs(25),
        seed,
        faults: true,
    };
    let summary = workload::run(&settings).await.expect("run the workload");
    eprintln!("{summary}");
    for line in &summary.fault_log {
        eprintln!("  {line}");
    }
    assert!(
        summary.report.is_clean(),
        "seed {seed}: the checker found anomalies:\n{}",
        summary.report
    );
    let acknowledged = summary.ops.get("write ok").copied().unwrap_or(0);
    assert!(
        acknowledged > 0,
        "seed {seed}: no write was acknowledged, so nothing was checked: {summary}"
    );
    assert!(
        summary.faults.values().sum::<usize>() > 0,
        "seed {seed}: no fault was injected: {summary}"
    );
}
