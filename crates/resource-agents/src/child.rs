//! Running child processes in their own process group: with a timeout, with a bounded
//! tail of their output, and killing the whole group when they overrun.

use crate::limits::{GROUP_POLL_INTERVAL, OUTPUT_DRAIN_GRACE, OUTPUT_TAIL_BYTES};
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::io;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How a bounded run of a child ended.
#[derive(Debug)]
pub(crate) enum RunEnd {
    Exited(ExitStatus),
    /// The timeout ran out; the group was killed with SIGKILL.
    TimedOut,
}

/// The result of [`run_bounded`].
#[derive(Debug)]
pub(crate) struct RunResult {
    pub(crate) end: RunEnd,
    /// The last `stdout_bytes_max` bytes of stdout.
    pub(crate) stdout: String,
    /// The last [`OUTPUT_TAIL_BYTES`] of stderr.
    pub(crate) stderr: String,
}

/// Runs `command` in a new process group, keeps the tail of its output and kills the
/// whole group if it is still running after `timeout`. Returns an error only if the
/// command could not be spawned.
pub(crate) async fn run_bounded(
    command: Command,
    timeout: Duration,
    stdout_bytes_max: usize,
) -> io::Result<RunResult> {
    run_bounded_with_input(command, None, timeout, stdout_bytes_max).await
}

/// [`run_bounded`] with `input` written to the child's standard input (then closed), as
/// fence agents read their parameters.
pub(crate) async fn run_bounded_with_input(
    mut command: Command,
    input: Option<Vec<u8>>,
    timeout: Duration,
    stdout_bytes_max: usize,
) -> io::Result<RunResult> {
    let stdin = if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    command
        .process_group(0)
        // The agent's systemd notify socket is its own, not its agents' and probes'.
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    crate::priority::child_to_normal(child.id());
    let stdout_tail = Arc::new(Mutex::new(Tail::new(stdout_bytes_max)));
    let stderr_tail = Arc::new(Mutex::new(Tail::new(OUTPUT_TAIL_BYTES)));
    let mut readers = JoinSet::new();
    if let (Some(mut stdin), Some(input)) = (child.stdin.take(), input) {
        readers.spawn(async move {
            use tokio::io::AsyncWriteExt;
            // An agent that exits without reading all of it is not an error here: its
            // exit status says what happened.
            let _ = stdin.write_all(&input).await;
        });
    }
    if let Some(stdout) = child.stdout.take() {
        readers.spawn(read_into(stdout, Arc::clone(&stdout_tail)));
    }
    if let Some(stderr) = child.stderr.take() {
        readers.spawn(read_into(stderr, Arc::clone(&stderr_tail)));
    }
    let pgid = child.id().map(pid_of);
    let end = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => RunEnd::Exited(status?),
        Err(_elapsed) => {
            if let Some(pgid) = pgid {
                signal_group(pgid, Signal::SIGKILL);
            }
            // SIGKILL cannot be ignored; waiting reaps the leader so no zombie stays.
            let _ = tokio::time::timeout(crate::limits::KILL_WAIT, child.wait()).await;
            RunEnd::TimedOut
        }
    };
    // Background daemons may keep the pipes open, so stop reading after a short grace.
    let _ = tokio::time::timeout(OUTPUT_DRAIN_GRACE, async {
        while readers.join_next().await.is_some() {}
    })
    .await;
    readers.abort_all();
    let text = |tail: &Mutex<Tail>| tail.lock().expect("tail lock is never poisoned").text();
    Ok(RunResult {
        end,
        stdout: text(&stdout_tail),
        stderr: text(&stderr_tail),
    })
}

async fn read_into(mut reader: impl AsyncRead + Unpin, tail: Arc<Mutex<Tail>>) {
    let mut buffer = [0u8; 4096];
    while let Ok(count) = reader.read(&mut buffer).await {
        if count == 0 {
            break;
        }
        tail.lock()
            .expect("tail lock is never poisoned")
            .push(&buffer[..count]);
    }
}

/// The last bytes of a stream, so that chatty output cannot grow memory.
struct Tail {
    bytes: Vec<u8>,
    bytes_max: usize,
}

impl Tail {
    fn new(bytes_max: usize) -> Self {
        Tail {
            bytes: Vec::new(),
            bytes_max,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        self.bytes.extend_from_slice(chunk);
        if self.bytes.len() > self.bytes_max {
            let excess = self.bytes.len() - self.bytes_max;
            self.bytes.drain(..excess);
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Converts a child id from the standard library into a nix `Pid`.
pub(crate) fn pid_of(id: u32) -> Pid {
    Pid::from_raw(i32::try_from(id).expect("Linux process ids fit in an i32"))
}

/// Sends `signal` to every process in the group `pgid`. Returns whether the group existed.
pub(crate) fn signal_group(pgid: Pid, signal: Signal) -> bool {
    assert!(
        pgid.as_raw() > 1,
        "never signal group 0, 1 or all processes"
    );
    match killpg(pgid, signal) {
        Ok(()) => true,
        Err(Errno::ESRCH) => false,
        // EPERM means the group exists but belongs to someone else: treat it as existing.
        Err(_) => true,
    }
}

/// Whether any process (zombies included) is still in the group `pgid`.
pub(crate) fn group_exists(pgid: Pid) -> bool {
    assert!(pgid.as_raw() > 1, "never probe group 0, 1 or all processes");
    !matches!(killpg(pgid, None), Err(Errno::ESRCH))
}

/// Polls until the group `pgid` is gone or `deadline` passes. Returns whether it is gone.
///
/// With `reap_leader`, also reaps the group's leader if it is an unsupervised child of
/// this process (one whose reaper task is gone), since its zombie would keep the group
/// alive. Never set it for a supervised child: its reaper task must collect the status.
pub(crate) async fn wait_group_gone(pgid: Pid, deadline: Instant, reap_leader: bool) -> bool {
    loop {
        if reap_leader {
            try_reap(pgid);
        }
        if !group_exists(pgid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(GROUP_POLL_INTERVAL).await;
    }
}

/// Reaps `pid` if it is an exited child of this process; does nothing otherwise.
pub(crate) fn try_reap(pid: Pid) {
    use nix::sys::wait::{WaitPidFlag, waitpid};
    // ECHILD (not our child) and "still running" are both fine: there is nothing to reap.
    let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
}

/// Describes how a process ended, in plain words.
pub(crate) fn describe_exit(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => match Signal::try_from(signal) {
            Ok(signal) => format!("was killed by signal {signal}"),
            Err(_) => format!("was killed by signal {signal}"),
        },
        (None, None) => "ended in an unknown way".to_owned(),
    }
}

/// The last `lines_max` non-empty lines of `output`, joined with " | ", for a reason.
pub(crate) fn last_lines(output: &str, lines_max: usize) -> String {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let start = lines.len().saturating_sub(lines_max);
    lines[start..].join(" | ")
}

/// Information from `/proc/<pid>/stat`: enough to tell a live process from a zombie and
/// to tell our process from a later one that reused its pid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub(crate) zombie: bool,
    /// Start time in clock ticks since boot; differs when the pid was reused.
    pub(crate) start_ticks: u64,
}

/// Reads `/proc/<pid>/stat`, or `None` if there is no such process.
pub(crate) fn proc_stat(pid: Pid) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw())).ok()?;
    parse_proc_stat(&text)
}

/// Parses the fields after the command name, which may itself contain spaces and ')'.
pub(crate) fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let after_name = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Field 3 (state) is index 0 here, so field 22 (starttime) is index 19.
    let state = fields.first()?;
    let start_ticks = fields.get(19)?.parse().ok()?;
    Some(ProcStat {
        zombie: *state == "Z" || *state == "X",
        start_ticks,
    })
}

#[cfg(test)]
mod tests;
