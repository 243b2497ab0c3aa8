//! The VIP watchdog: a small process, separate from the agent, that removes a VIP by itself
//! when the node's lease is about to end. The agent's executor already stops unique
//! resources before its lease ends, but a hung agent (stopped, starved, stuck) cannot; the
//! watchdog can, so a node whose agent hangs still gives its address up before the master
//! starts it elsewhere.
//!
//! It reads the lease the executor records in `executor-lease.json` next to the resources'
//! state directories (`{"format":1,"valid_until":<ms since the epoch>}`) every 50 ms, and
//! `ip addr del`s the address once `now >= valid_until - margin`. It is a bash loop that
//! forks only `sleep`, in its own process group, so signals to the agent do not reach it.
//! Without any readable lease for 10 s (no executor writes one) it exits.
//! A normal release kills it first. Its pid is kept in `vip-watchdog.pid`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Removes the address a little after the executor's own fencing (150 ms before the lease
/// end), so that with a healthy agent the executor always acts first.
pub const WATCHDOG_MARGIN: Duration = Duration::from_millis(100);
/// The name the watchdog shows in `ps`, and by which a pid file is trusted.
const NAME: &str = "encluster-vip-watchdog";
const PID_FILE: &str = "vip-watchdog.pid";

const SCRIPT: &str = r#"lease=$1 margin=$2 cidr=$3 dev=$4 misses=0
while :; do
  line=
  IFS= read -r line < "$lease" 2>/dev/null
  v=${line#*\"valid_until\":}
  v=${v%%[!0-9]*}
  if [[ -z $v ]]; then
    misses=$((misses + 1))
    if ((misses > 200)); then exit 0; fi
  else
    misses=0
    now=${EPOCHREALTIME/./}
    now=${now:0:13}
    if (( now >= v - margin )); then
      exec ip addr del "$cidr" dev "$dev"
    fi
  fi
  sleep 0.05
done"#;

/// Where the executor keeps the lease, given a resource's state directory.
pub fn lease_file(state_dir: &Path) -> PathBuf {
    state_dir
        .parent()
        .unwrap_or(state_dir)
        .join("executor-lease.json")
}

/// Start a watchdog for `ip/prefix_len` on `dev` (replacing a previous one).
pub fn start(state_dir: &Path, ip: IpAddr, prefix_len: u8, dev: &str) -> std::io::Result<()> {
    stop(state_dir);
    std::fs::create_dir_all(state_dir)?;
    let margin = WATCHDOG_MARGIN.as_millis().to_string();
    let lease = lease_file(state_dir);
    let mut child = tokio::process::Command::new("bash")
        .args(["-c", SCRIPT, NAME])
        .arg(&lease)
        .arg(margin)
        .arg(format!("{ip}/{prefix_len}"))
        .arg(dev)
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let pid = child.id().unwrap_or(0);
    std::fs::write(state_dir.join(PID_FILE), pid.to_string())?;
    // Reap it when it ends, so it never lingers as a zombie of a running agent.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    Ok(())
}

/// Stop the watchdog of this state directory, if one runs.
pub fn stop(state_dir: &Path) {
    let path = state_dir.join(PID_FILE);
    let pid = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| text.trim().parse::<i32>().ok());
    if let Some(pid) = pid.filter(|pid| *pid > 1) {
        // Trust the pid only if it still is our watchdog (never a recycled pid).
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(NAME) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    let _ = std::fs::remove_file(path);
}
