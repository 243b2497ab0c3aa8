//! The lease watchdog: a small process, separate from the agent, that fences a unique
//! resource by itself when the node's lease is about to end. The agent's executor already
//! stops unique resources before its lease ends, but a hung agent (stopped, starved, stuck)
//! cannot; the watchdog can, so a node whose agent hangs still gives its VIP up and kills
//! its unique processes before the master starts them elsewhere.
//!
//! It reads the lease the executor records in `executor-lease.json` next to the resources'
//! state directories (`{"format":2,"boot_id":"<id>","valid_until_boot_ms":<ms>}`) every
//! 50 ms, and acts once `now >= valid_until - margin` (a demote earlier than the other
//! fences: [`WATCHDOG_RUN_MARGIN`]), or at once if the lease is of
//! another boot. Its `now` is the boot clock, like the executor's: `/proc/uptime` is
//! `CLOCK_BOOTTIME` in hundredths of a second, read rounded up, so a wall-clock step never
//! lengthens the lease and the watchdog never acts later than it should. For a VIP it
//! `ip addr del`s the address, for a process it sends SIGKILL to the process group. Then it
//! writes the time it acted to `fenced-at` in the state directory (wall-clock ms since the
//! epoch, for the operation log, then boot-clock ms) and exits. The next stop reports that
//! time as when the instance ended ([`take_fenced_at`]), so the operation log does not
//! claim the instance ran until the resumed agent got round to stopping it. It marks the
//! start of its action with `fenced-at.tmp`, so a stop racing with it waits for the time
//! ([`settle`]).
//!
//! It is a bash loop that forks only `sleep`, in its own process group, so signals to the
//! agent do not reach it. Without any readable lease for 10 s (no executor writes one) it
//! exits; a process watchdog also exits once its process is gone (the start time in
//! `/proc` tells a reused pid apart). A normal stop kills it first. Its pid is kept in
//! `watchdog.pid`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use model::{BootMs, Millis};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::limits::{FENCING_SETTLE_MAX, GROUP_POLL_INTERVAL};

/// Acts a little after the executor's own fencing (150 ms before the lease end), so that
/// with a healthy agent the executor always acts first.
pub const WATCHDOG_MARGIN: Duration = Duration::from_millis(100);
/// How long before the lease end the watchdog begins a demote ([`Fence::Run`]). Deleting an
/// address or killing a group is done in a few milliseconds, but a demote is a program
/// (an OCF agent's shell script) that under load took longer than the 150 ms between
/// [`WATCHDOG_MARGIN`] and the master's end of the lease (lease margin 50 ms): one run of
/// the suite saw the old promoted role end 22 ms after the new one began. So a demote
/// begins 400 ms before the lease end, 450 ms before the master may promote elsewhere.
/// The cost: with no lease renewal for 500 ms (a 900 ms lease), the role is demoted while
/// the executor still counts it promoted; its next monitor then reports the change and
/// the cluster recovers it. Safe over fast; a demote slower than 450 ms still needs a
/// fencing device (issue 16) to be safe.
pub const WATCHDOG_RUN_MARGIN: Duration = Duration::from_millis(400);
/// The name the watchdog shows in `ps`, and by which a pid file is trusted.
const NAME: &str = "encluster-watchdog";
const PID_FILE: &str = "watchdog.pid";
/// Where the watchdog records when it fenced the resource.
const FENCED_AT_FILE: &str = "fenced-at";

/// What the watchdog does when the lease ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fence {
    /// Remove `ip/prefix_len` from `dev`.
    DeleteAddress {
        ip: IpAddr,
        prefix_len: u8,
        dev: String,
    },
    /// SIGKILL the process group led by `pid`, while that pid still has `start_ticks`.
    KillGroup { pid: Pid, start_ticks: u64 },
    // --- promo ---
    /// Run `program argument` with `env` (at most 10 s): the `demote` of a promoted role.
    Run(RunFence),
}

/// A command the watchdog runs to fence: an OCF agent's `demote`, with its environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFence {
    /// The program, for example the OCF agent's script.
    pub program: PathBuf,
    /// Its one argument, for example `demote`.
    pub argument: String,
    /// The variables it needs besides the watchdog's own.
    pub env: Vec<(String, String)>,
}

/// `$1` lease file, `$2` margin, `$3` fenced-at file, `$4` action (`addr`, `group` or
/// `run`), then `$5 $6`: address and device, pid and start time, or program and argument.
const SCRIPT: &str = r#"lease=$1 margin=$2 fenced=$3 action=$4 a=$5 b=$6 misses=0
IFS= read -r boot_id < /proc/sys/kernel/random/boot_id
boot_ms() {
  local up rest
  read -r up rest < /proc/uptime
  up=${up/./}
  now=$(( 10#$up * 10 + 10 ))
}
ours() {
  local stat rest
  IFS= read -r stat 2>/dev/null < "/proc/$a/stat" || return 1
  rest=${stat##*) }
  set -- $rest
  [[ ${20} == "$b" ]]
}
while :; do
  if [[ $action == group ]] && ! ours; then exit 0; fi
  line=
  IFS= read -r line 2>/dev/null < "$lease"
  v=${line#*\"valid_until_boot_ms\":}
  v=${v%%[!0-9]*}
  id=${line#*\"boot_id\":\"}
  id=${id%%\"*}
  if [[ -z $v ]]; then
    misses=$((misses + 1))
    if ((misses > 200)); then exit 0; fi
  else
    misses=0
    [[ $id == "$boot_id" ]] || v=0
    boot_ms
    if (( now >= v - margin )); then
      : > "$fenced.tmp"
      if [[ $action == group ]]; then kill -KILL -- "-$a"
      elif [[ $action == run ]]; then timeout -s KILL 10 "$a" "$b" > /dev/null 2>&1
      else ip addr del "$a" dev "$b"; fi
      wall=${EPOCHREALTIME/./}
      boot_ms
      printf '%s %s\n' "${wall:0:13}" "$now" > "$fenced.tmp" && mv -f "$fenced.tmp" "$fenced"
      exit 0
    fi
  fi
  sleep 0.05
done"#;

/// How long before the lease end the watchdog acts for `fence`.
fn margin(fence: &Fence) -> Duration {
    match fence {
        Fence::Run(_) => WATCHDOG_RUN_MARGIN,
        Fence::DeleteAddress { .. } | Fence::KillGroup { .. } => WATCHDOG_MARGIN,
    }
}

/// Where the executor keeps the lease, given a resource's state directory.
pub fn lease_file(state_dir: &Path) -> PathBuf {
    state_dir
        .parent()
        .unwrap_or(state_dir)
        .join("executor-lease.json")
}

/// Start a watchdog for the resource of `state_dir` (replacing a previous one, and
/// forgetting an earlier fencing time: a new instance runs).
pub(crate) fn start(state_dir: &Path, fence: &Fence) -> std::io::Result<()> {
    stop(state_dir);
    std::fs::create_dir_all(state_dir)?;
    for name in [FENCED_AT_FILE.to_string(), format!("{FENCED_AT_FILE}.tmp")] {
        match std::fs::remove_file(state_dir.join(name)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
    }
    let mut env = Vec::new();
    let (action, a, b) = match fence {
        Fence::Run(run) => {
            env.clone_from(&run.env);
            let program = run.program.to_string_lossy().into_owned();
            ("run", program, run.argument.clone())
        }
        Fence::DeleteAddress {
            ip,
            prefix_len,
            dev,
        } => ("addr", format!("{ip}/{prefix_len}"), dev.clone()),
        Fence::KillGroup { pid, start_ticks } => {
            ("group", pid.as_raw().to_string(), start_ticks.to_string())
        }
    };
    let mut child = tokio::process::Command::new("bash")
        .args(["-c", SCRIPT, NAME])
        .arg(lease_file(state_dir))
        .arg(margin(fence).as_millis().to_string())
        .arg(state_dir.join(FENCED_AT_FILE))
        .args([action, &a, &b])
        .envs(env)
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

/// Waits (at most [`FENCING_SETTLE_MAX`]) for a watchdog that has begun to fence to record
/// when it did, so a stop that raced with it still finds the time.
pub(crate) async fn settle(state_dir: &Path) {
    let begun = state_dir.join(format!("{FENCED_AT_FILE}.tmp"));
    let deadline = tokio::time::Instant::now() + FENCING_SETTLE_MAX;
    while begun.exists() && running(state_dir) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(GROUP_POLL_INTERVAL).await;
    }
}

/// Whether the watchdog of this state directory runs.
pub(crate) fn running(state_dir: &Path) -> bool {
    recorded_pid(state_dir).is_some()
}

/// The recorded watchdog's pid, only if that process still is our watchdog (never a
/// recycled pid).
fn recorded_pid(state_dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(state_dir.join(PID_FILE)).ok()?;
    let pid = text.trim().parse::<i32>().ok().filter(|pid| *pid > 1)?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let zombie = stat
        .rsplit(')')
        .next()
        .is_some_and(|rest| rest.trim_start().starts_with('Z'));
    (String::from_utf8_lossy(&cmdline).contains(NAME) && !zombie).then_some(pid)
}

/// Stop the watchdog of this state directory, if one runs.
pub(crate) fn stop(state_dir: &Path) {
    if let Some(pid) = recorded_pid(state_dir) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = std::fs::remove_file(state_dir.join(PID_FILE));
}

/// When a watchdog fenced a resource, just after it acted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FencedAt {
    /// Wall clock, for the operation log.
    pub wall: Millis,
    /// Boot clock, the lease's clock.
    pub boot: BootMs,
}

/// When a watchdog fenced the resource of `state_dir`, if it did since the instance
/// started; the record is removed, so it describes one instance only. The executor calls
/// it after a successful stop and reports the wall-clock time as the instance's end.
pub fn take_fenced_at(state_dir: &Path) -> Option<FencedAt> {
    let path = state_dir.join(FENCED_AT_FILE);
    let text = std::fs::read_to_string(&path).ok()?;
    let _ = std::fs::remove_file(&path);
    let mut words = text.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(wall)), Some(Ok(boot))) = (words.next(), words.next()) else {
        return None;
    };
    Some(FencedAt {
        wall,
        boot: BootMs(boot),
    })
}

#[cfg(test)]
mod tests;
