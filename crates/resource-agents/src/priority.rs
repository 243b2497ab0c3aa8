//! Scheduling priority. The agent runs above normal priority (`failure.nice`, -10 by
//! default), so that its heartbeats, failure detection and Raft keep their timing on a
//! host whose cores are saturated; Corosync goes further and runs real-time. What the
//! agent starts (resources, monitors, OCF and fence agents, probes, alert agents) must not
//! inherit that priority: each child's process group is put back to normal (nice 0) as
//! soon as it is spawned, before it has done more than start its program.

use std::io;

use rustix::process::{Pid, setpriority_pgrp, setpriority_process};

/// The nice value of children: normal.
const CHILD_NICE: i32 = 0;

/// Sets the calling thread's nice value; threads it starts afterwards inherit it, so call
/// it before the runtime's threads exist. Lowering the value needs root or
/// `CAP_SYS_NICE`.
pub fn raise(nice: i32) -> io::Result<()> {
    setpriority_process(None, nice).map_err(io::Error::from)
}

/// Puts a child just spawned (and its process group, if it leads one) back to normal
/// priority. A child that already exited is no error.
pub fn child_to_normal(pid: Option<u32>) {
    let Some(pid) = pid
        .and_then(|pid| i32::try_from(pid).ok())
        .and_then(Pid::from_raw)
    else {
        return;
    };
    let _ = setpriority_process(Some(pid), CHILD_NICE);
    let _ = setpriority_pgrp(Some(pid), CHILD_NICE);
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;

    use super::*;

    /// A child started by a thread above normal priority runs at normal priority. Needs
    /// root (or CAP_SYS_NICE) to raise the thread; it runs in a thread of its own so that
    /// the test harness's other threads keep their priority.
    #[test]
    fn a_child_of_a_raised_agent_runs_at_normal_priority() {
        let root = rustix::process::geteuid().is_root();
        if !root && std::env::var_os("CI").is_none() {
            return;
        }
        assert!(root, "CI runs the tests as root; this test needs it");
        std::thread::spawn(|| {
            raise(-5).expect("raise the thread");
            let mut child = std::process::Command::new("sleep")
                .arg("5")
                .process_group(0)
                .spawn()
                .expect("spawn");
            child_to_normal(Some(child.id()));
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id()))
                .expect("the child's stat");
            let _ = child.kill();
            let _ = child.wait();
            // Field 19 of /proc/PID/stat is the nice value.
            let after_name = stat.rsplit(')').next().expect("fields");
            let nice = after_name.split_whitespace().nth(16).expect("nice");
            let nice: i32 = nice.parse().expect("a number");
            assert_eq!(nice, CHILD_NICE, "{stat}");
        })
        .join()
        .expect("the test thread");
    }
}
