//! Multi-process test harness: real `encluster` binaries on loopback.
//!
//! Each cluster gets its own 127.x.y.z addresses, so tests run in parallel without port
//! clashes, and its own temporary directory. Every child process is killed when the
//! `Cluster` is dropped, also when a test fails. Waits poll for the expected state with a
//! deadline instead of sleeping.

pub mod audit;
pub mod browser;
mod cluster;
pub mod linearizability;
pub mod logs;
pub mod netns;
pub mod previous;
pub mod site;
pub mod smallfs;
pub mod specs;
pub mod webhook;

pub use cluster::{Cluster, Node, binary, unique_base_ip, wait_until};

/// Held by each test that runs `encluster demo`: the demo takes fixed addresses (its VIPs,
/// backend ports), so two in one test process would clash. A sync test takes it with
/// `blocking_lock`, an async one with `lock().await`.
pub static ONE_DEMO: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A finished command's standard output then standard error, for assertion messages.
pub fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
