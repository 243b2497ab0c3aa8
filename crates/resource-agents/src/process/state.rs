//! What a `process` resource leaves in its state directory: the pid file and the log.
//!
//! The pid file holds the pid (which is also the process group id, since the child leads
//! its own group) and the kernel's start time of that process. The start time tells our
//! process apart from an unrelated one that later reused the pid, so an agent restarted
//! after a crash can still monitor and stop the process an earlier agent started.

use crate::child::{ProcStat, pid_of, proc_stat};
use crate::limits::OUTPUT_TAIL_BYTES;
use nix::unistd::Pid;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

const PID_FILE: &str = "process.pid";
const LOG_FILE: &str = "process.log";

/// The contents of a pid file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PidRecord {
    pub(crate) pid: Pid,
    pub(crate) start_ticks: u64,
}

/// Where the leader of a recorded process group stands now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Leader {
    /// The recorded process still runs.
    Alive,
    /// It ended but nobody reaped it yet.
    Zombie,
    /// It is gone, or its pid now belongs to another process.
    Gone,
}

pub(crate) fn log_path(state_dir: &Path) -> PathBuf {
    state_dir.join(LOG_FILE)
}

/// Reads the pid file; `None` if there is none or it is not ours to trust.
pub(crate) fn read_pid_file(state_dir: &Path) -> Option<PidRecord> {
    let text = std::fs::read_to_string(state_dir.join(PID_FILE)).ok()?;
    let mut words = text.split_whitespace();
    let pid: u32 = words.next()?.parse().ok()?;
    let start_ticks = words.next()?.parse().ok()?;
    // A pid below 2 would make killpg hit everything or nothing: never trust it.
    (pid > 1).then(|| PidRecord {
        pid: pid_of(pid),
        start_ticks,
    })
}

/// Writes the pid file atomically, so a crash never leaves half a record.
pub(crate) fn write_pid_file(state_dir: &Path, pid: Pid) -> io::Result<PidRecord> {
    let stat = proc_stat(pid).ok_or_else(|| io::Error::other("the new process vanished"))?;
    let record = PidRecord {
        pid,
        start_ticks: stat.start_ticks,
    };
    let temporary = state_dir.join(format!("{PID_FILE}.tmp"));
    std::fs::write(
        &temporary,
        format!("{} {}\n", pid.as_raw(), stat.start_ticks),
    )?;
    std::fs::rename(&temporary, state_dir.join(PID_FILE))?;
    Ok(record)
}

pub(crate) fn remove_pid_file(state_dir: &Path) -> io::Result<()> {
    match std::fs::remove_file(state_dir.join(PID_FILE)) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Looks the recorded leader up in `/proc`.
pub(crate) fn leader(record: &PidRecord) -> Leader {
    match proc_stat(record.pid) {
        Some(ProcStat { start_ticks, .. }) if start_ticks != record.start_ticks => Leader::Gone,
        Some(ProcStat { zombie: true, .. }) => Leader::Zombie,
        Some(_) => Leader::Alive,
        None => Leader::Gone,
    }
}

/// The last lines the process wrote, for a failure reason; empty if there is no log.
pub(crate) fn log_tail(state_dir: &Path) -> String {
    let read = || -> io::Result<String> {
        let mut file = std::fs::File::open(log_path(state_dir))?;
        let length = file.metadata()?.len();
        let tail_bytes = u64::try_from(OUTPUT_TAIL_BYTES).expect("a small constant fits in u64");
        file.seek(SeekFrom::Start(length.saturating_sub(tail_bytes)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    read()
        .map(|text| crate::child::last_lines(&text, 3))
        .unwrap_or_default()
}
