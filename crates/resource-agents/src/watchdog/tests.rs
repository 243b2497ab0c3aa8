//! The lease watchdog against real processes and a real lease file: it kills a process
//! group when the lease is about to end and records when; it leaves a process alone while
//! the lease is renewed; it exits by itself once its process is gone.
//!
//! Method: each test writes `executor-lease.json` in a temporary directory the way the
//! executor does, starts `sleep` in its own process group and a watchdog for it, and polls
//! `/proc` with a deadline.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use nix::time::{ClockId, clock_gettime};
use nix::unistd::Pid;

use super::{Fence, PID_FILE, lease_file, start, stop, take_fenced_at};
use crate::child::{pid_of, proc_stat};

const DEADLINE: Duration = Duration::from_secs(5);

/// The boot clock, in ms, as the executor reads it.
fn now_ms() -> u64 {
    let time = clock_gettime(ClockId::CLOCK_BOOTTIME).expect("read CLOCK_BOOTTIME");
    let seconds = u64::try_from(time.tv_sec()).expect("after boot");
    let millis = u64::try_from(time.tv_nsec() / 1_000_000).expect("below a second");
    seconds * 1_000 + millis
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .expect("read the boot id")
        .trim()
        .to_owned()
}

fn write_lease_of_boot(state_dir: &Path, boot_id: &str, valid_until: u64) {
    let text = format!(
        "{{\"format\":2,\"boot_id\":\"{boot_id}\",\"valid_until_boot_ms\":{valid_until}}}\n"
    );
    std::fs::create_dir_all(state_dir.parent().expect("a parent")).expect("create the root");
    std::fs::write(lease_file(state_dir), text).expect("write the lease");
}

/// Writes the lease the way the executor does: its end on the boot clock, this boot.
fn write_lease(state_dir: &Path, valid_until: u64) {
    write_lease_of_boot(state_dir, &boot_id(), valid_until);
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
    let fenced_at = take_fenced_at(&state_dir)
        .expect("the watchdog recorded when it fenced")
        .boot
        .0;
    let margin = u64::try_from(super::WATCHDOG_MARGIN.as_millis()).expect("small");
    assert!(
        fenced_at >= valid_until - margin,
        "fenced at {fenced_at}, before the lease end {valid_until} less the margin"
    );
    assert!(
        fenced_at < valid_until,
        "fenced at {fenced_at}, after the lease ended"
    );
    // The watchdog reads the boot clock in hundredths of a second, rounded up.
    assert!(fenced_at <= killed_seen_at + 10);
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

#[tokio::test]
async fn a_lease_of_another_boot_is_over() {
    let root = tempfile::tempdir().expect("temporary directory");
    let state_dir = root.path().join("web");
    // Far in the future on this boot's clock, but written in another boot: void.
    write_lease_of_boot(
        &state_dir,
        "00000000-0000-0000-0000-000000000000",
        now_ms() + 60_000,
    );
    let (mut child, fence) = sleeper();
    start(&state_dir, &fence).expect("start the watchdog");
    assert!(
        ends_before(&mut child, Instant::now() + DEADLINE),
        "the watchdog honoured a lease of another boot"
    );
    super::settle(&state_dir).await;
    assert!(take_fenced_at(&state_dir).is_some());
}

/// A demote ([`Fence::Run`]) begins [`super::WATCHDOG_RUN_MARGIN`] before the lease end,
/// earlier than the other fences, since the program takes time: the program's own record
/// of when it ran falls in that window, before the margin the other fences use.
#[tokio::test]
async fn a_demote_begins_earlier_than_the_other_fences() {
    let root = tempfile::tempdir().expect("temporary directory");
    let state_dir = root.path().join("db");
    let valid_until = now_ms() + 1_200;
    write_lease(&state_dir, valid_until);
    let ran = root.path().join("ran");
    let program = root.path().join("demote");
    std::fs::write(
        &program,
        "#!/bin/sh\nread -r up rest < /proc/uptime\necho \"$1 $up\" > \"$RAN\"\n",
    )
    .expect("write the program");
    std::fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("make it executable");
    let fence = Fence::Run(super::RunFence {
        program,
        argument: "demote".into(),
        env: vec![("RAN".into(), ran.to_string_lossy().into_owned())],
    });
    start(&state_dir, &fence).expect("start the watchdog");
    let deadline = Instant::now() + DEADLINE;
    while take_fenced_at(&state_dir).is_none() {
        assert!(
            Instant::now() < deadline,
            "the watchdog never ran the demote"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let record = std::fs::read_to_string(&ran).expect("the demote ran");
    let (argument, uptime) = record.trim().split_once(' ').expect("two words");
    assert_eq!(argument, "demote");
    // `/proc/uptime` in hundredths of a second: the demote ran within 10 ms of this.
    let ran_at = uptime.replace('.', "").parse::<u64>().expect("uptime") * 10;
    let run_margin = u64::try_from(super::WATCHDOG_RUN_MARGIN.as_millis()).expect("small");
    let margin = u64::try_from(super::WATCHDOG_MARGIN.as_millis()).expect("small");
    assert!(
        ran_at + 10 >= valid_until - run_margin,
        "the demote ran at {ran_at}, before the lease end {valid_until} less its margin"
    );
    assert!(
        ran_at < valid_until - margin,
        "the demote ran at {ran_at}, no earlier than the other fences would act"
    );
}
