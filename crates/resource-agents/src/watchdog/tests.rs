//! The lease watchdog against real processes and a real lease file: it kills a process
//! group when the lease is about to end and records when; it leaves a process alone while
//! the lease is renewed; it exits by itself once its process is gone.
//!
//! Method: each test writes `executor-lease.json` in a temporary directory the way the
//! executor does, starts `sleep` in its own process group and a watchdog for it, and polls
//! `/proc` with a deadline.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::unistd::Pid;

use super::{Fence, PID_FILE, lease_file, start, stop, take_fenced_at};
use crate::child::{pid_of, proc_stat};

const DEADLINE: Duration = Duration::from_secs(5);

fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    u64::try_from(since.as_millis()).expect("milliseconds fit in u64")
}

fn write_lease(state_dir: &Path, valid_until: u64) {
    let text = format!("{{\"format\":1,\"valid_until\":{valid_until}}}\n");
    std::fs::write(lease_file(state_dir), text).expect("write the lease");
}

/// `sleep 30` leading its own process group, and the watchdog's fence for it.
fn sleeper() -> (Child, Fence) {
    use std::os::unix::process::CommandExt;
    let child = Command::new("sleep")
        .arg("30")
        .process_group(0)
        .spawn()
        .expect("spawn sleep");
    let pid = pid_of(child.id());
    let start_ticks = proc_stat(pid)
        .expect("the new process is in /proc")
        .start_ticks;
    (child, Fence::KillGroup { pid, start_ticks })
}

/// Whether `child` has ended (reaping it if so), polled until `deadline`.
fn ends_before(child: &mut Child, deadline: Instant) -> bool {
    loop {
        if child.try_wait().expect("wait for the child").is_some() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn watchdog_pid(state_dir: &Path) -> Option<Pid> {
    let text = std::fs::read_to_string(state_dir.join(PID_FILE)).ok()?;
    Some(Pid::from_raw(text.trim().parse().ok()?))
}

fn gone(pid: Pid) -> bool {
    proc_stat(pid).is_none_or(|stat| stat.zombie)
}

#[tokio::test]
async fn kills_the_group_just_before_the_lease_ends_and_records_when() {
    let root = tempfile::tempdir().expect("temporary directory");
    let state_dir = root.path().join("web");
    let valid_until = now_ms() + 600;
    write_lease(&state_dir, valid_until);
    let (mut child, fence) = sleeper();
    start(&state_dir, &fence).expect("start the watchdog");
    assert!(
        ends_before(&mut child, Instant::now() + DEADLINE),
        "the watchdog did not kill the process"
    );
    // The time is recorded just after the kill; a stop waits for it the same way.
    super::settle(&state_dir).await;
    let killed_seen_at = now_ms();
    let fenced_at = take_fenced_at(&state_dir).expect("the watchdog recorded when it fenced");
    let margin = u64::try_from(super::WATCHDOG_MARGIN.as_millis()).expect("small");
    assert!(
        fenced_at >= valid_until - margin,
        "fenced at {fenced_at}, before the lease end {valid_until} less the margin"
    );
    assert!(
        fenced_at < valid_until,
        "fenced at {fenced_at}, after the lease ended"
    );
    assert!(fenced_at <= killed_seen_at);
    // The record describes one instance: it is gone once taken.
    assert_eq!(take_fenced_at(&state_dir), None);
}

#[tokio::test]
async fn a_renewed_lease_keeps_the_process_and_stop_ends_the_watchdog() {
    let root = tempfile::tempdir().expect("temporary directory");
    let state_dir = root.path().join("web");
    write_lease(&state_dir, now_ms() + 400);
    let (mut child, fence) = sleeper();
    start(&state_dir, &fence).expect("start the watchdog");
    // Renew the lease as the executor would, past the first end, for a while.
    let until = Instant::now() + Duration::from_millis(800);
    while Instant::now() < until {
        write_lease(&state_dir, now_ms() + 400);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !ends_before(&mut child, Instant::now()),
        "the process was killed although the lease was renewed"
    );
    let watchdog = watchdog_pid(&state_dir).expect("the watchdog's pid is recorded");
    stop(&state_dir);
    let deadline = Instant::now() + DEADLINE;
    while !gone(watchdog) {
        assert!(Instant::now() < deadline, "the watchdog outlived stop");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!state_dir.join(PID_FILE).exists());
    assert_eq!(take_fenced_at(&state_dir), None);
    child.kill().expect("kill sleep");
    child.wait().expect("reap sleep");
}

#[tokio::test]
async fn the_watchdog_exits_once_its_process_is_gone() {
    let root = tempfile::tempdir().expect("temporary directory");
    let state_dir = root.path().join("web");
    write_lease(&state_dir, now_ms() + 60_000);
    let (mut child, fence) = sleeper();
    start(&state_dir, &fence).expect("start the watchdog");
    let watchdog = watchdog_pid(&state_dir).expect("the watchdog's pid is recorded");
    child.kill().expect("kill sleep");
    child.wait().expect("reap sleep");
    let deadline = Instant::now() + DEADLINE;
    while !gone(watchdog) {
        assert!(
            Instant::now() < deadline,
            "the watchdog outlived its process"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(take_fenced_at(&state_dir), None);
}
