//! The agents' logs of a failed test: copied out of the test's temporary directory (which
//! is removed with it) and their tails printed, so a failure under CI, where only the
//! output survives, still shows what the agents did.

use std::path::{Path, PathBuf};

/// How many of each log's last lines a failed test prints.
const TAIL_LINES: usize = 40;

/// Copies each `(node id, log file)` to a new directory named after `label` and prints
/// the last lines of each; returns the directory.
pub fn keep_failed(label: &str, logs: &[(u64, PathBuf)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("encluster-{label}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    for (id, log) in logs {
        let _ = std::fs::copy(log, dir.join(format!("node{id}.log")));
        eprintln!("---- last {TAIL_LINES} lines of node {id}'s agent log ----");
        eprintln!("{}", tail(log));
    }
    eprintln!("agent logs of the failed test: {}", dir.display());
    dir
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}
