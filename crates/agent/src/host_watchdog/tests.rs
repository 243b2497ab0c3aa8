//! The petting rule and the device writes, with a plain file standing in for the device.

use std::time::Duration;

use model::BootMs;

use super::*;

const INTERVAL: Duration = Duration::from_millis(100);

fn check(lease: Option<u64>, now: u64, alive: bool, expected: bool) {
    assert_eq!(
        should_pet(lease.map(BootMs), BootMs(now), INTERVAL, alive),
        expected,
        "lease {lease:?} now {now} alive {alive}"
    );
}

#[test]
fn pets_only_inside_a_lease_with_a_live_executor() {
    check(Some(1_000), 500, true, true);
    check(Some(1_000), 500, false, false);
    check(None, 500, true, false);
    check(Some(1_000), 900, true, false);
    check(Some(1_000), 1_200, true, false);
}

#[test]
fn a_file_stands_in_for_the_device_and_gets_pets_and_the_magic_close() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("watchdog");
    std::fs::write(&path, b"").expect("create");
    let mut watchdog = DeviceWatchdog::open(&path).expect("open");
    watchdog.pet().expect("pet");
    watchdog.pet().expect("pet");
    watchdog.disarm().expect("disarm");
    assert_eq!(std::fs::read(&path).expect("read"), b"\0\0V");
}

#[tokio::test]
async fn run_pets_while_the_lease_runs_and_disarms_at_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("watchdog");
    std::fs::write(&path, b"").expect("create");
    let watchdog = Box::new(DeviceWatchdog::open(&path).expect("open"));
    let far = crate::clock::boot_ms().saturating_add(Duration::from_secs(3_600));
    let (_lease_tx, lease_rx) = watch::channel(Some(far));
    let shutdown = CancellationToken::new();
    let interval = Duration::from_millis(10);
    let task = tokio::spawn(run(watchdog, lease_rx, || true, interval, shutdown.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while std::fs::read(&path).expect("read").len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no pets within 10 s"
        );
        tokio::time::sleep(interval).await;
    }
    shutdown.cancel();
    task.await.expect("watchdog task");
    let written = std::fs::read(&path).expect("read");
    let (last, pets) = written.split_last().expect("pets and the close");
    assert_eq!(*last, b'V');
    assert!(pets.iter().all(|b| *b == 0), "{written:?}");
}
