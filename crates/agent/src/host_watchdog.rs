//! The self-fencing watchdog seam (issue 16, point 2), SBD-style: a [`Watchdog`] is petted
//! only while this node holds a valid lease and its executor is alive, so a host whose
//! agent hangs, or that lost the cluster while it still ran unique resources, is reset by
//! the watchdog's hardware (or the kernel's `softdog`) when it stops being petted.
//!
//! Off by default: the agent arms a watchdog only when its config names one
//! (`[watchdog] device`); on real hosts that is `/dev/watchdog`, whose timeout is the
//! driver's (`softdog soft_margin=`, or the BMC's). Tests and CI never open
//! `/dev/watchdog`: they name a file that a user-space stand-in of the test bed watches,
//! which kills the host's processes when the pets stop (`e2e::netns::watchdog`).
//!
//! The decision is the pure [`should_pet`]; [`run`] is the IO around it. A clean stop of
//! the agent writes the magic close character `V`, so the driver disarms; a crash or a
//! hang does not, and the host is reset.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use model::BootMs;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// Something that resets the host unless petted in time.
pub trait Watchdog: Send {
    /// Tells it the host is healthy.
    fn pet(&mut self) -> io::Result<()>;
    /// Disarms it on a clean stop (the magic close).
    fn disarm(&mut self) -> io::Result<()>;
}

/// A Linux watchdog device (`/dev/watchdog`), or any file standing in for one: each pet
/// writes one byte, the magic close writes `V`.
pub struct DeviceWatchdog {
    path: PathBuf,
    file: std::fs::File,
}

impl DeviceWatchdog {
    /// Opens (and so arms) the device.
    pub fn open(path: &Path) -> io::Result<DeviceWatchdog> {
        let file = std::fs::OpenOptions::new().write(true).open(path)?;
        Ok(DeviceWatchdog {
            path: path.to_path_buf(),
            file,
        })
    }
}

impl Watchdog for DeviceWatchdog {
    fn pet(&mut self) -> io::Result<()> {
        self.file.write_all(b"\0")?;
        self.file.flush()
    }

    fn disarm(&mut self) -> io::Result<()> {
        info!(device = %self.path.display(), "Disarming the watchdog");
        self.file.write_all(b"V")?;
        self.file.flush()
    }
}

/// Whether to pet now: only while the lease the executor holds runs past `now` by more
/// than one petting `interval` (so the last pet falls inside the lease), and the executor
/// is alive.
pub fn should_pet(
    lease_valid_until: Option<BootMs>,
    now: BootMs,
    interval: Duration,
    executor_alive: bool,
) -> bool {
    executor_alive && lease_valid_until.is_some_and(|end| now.saturating_add(interval) < end)
}

/// Pets `watchdog` every `interval` while [`should_pet`] says so, until `shutdown`; then
/// disarms it. `lease` is the lease the executor was given; `executor_alive` whether its
/// runtime still takes events.
pub async fn run(
    mut watchdog: Box<dyn Watchdog>,
    lease: watch::Receiver<Option<BootMs>>,
    executor_alive: impl Fn() -> bool + Send,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    let mut petting = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let now = crate::clock::boot_ms();
        let pet = should_pet(*lease.borrow(), now, interval, executor_alive());
        if pet != petting {
            info!(petting = pet, "Watchdog petting changed");
            petting = pet;
        }
        if pet && let Err(e) = watchdog.pet() {
            error!(error = %e, "Cannot pet the watchdog; the host will be reset");
        }
    }
    if let Err(e) = watchdog.disarm() {
        warn!(error = %e, "Cannot disarm the watchdog");
    }
}

/// Opens the configured device and pets it until `shutdown` (see [`run`]); returns at once,
/// failing the agent (a critical task), if the device cannot be opened: an operator who
/// asked for a watchdog must not run without one.
pub async fn arm(
    config: crate::config::WatchdogConfig,
    lease: watch::Receiver<Option<BootMs>>,
    executor_alive: impl Fn() -> bool + Send,
    shutdown: CancellationToken,
) {
    let watchdog = match DeviceWatchdog::open(&config.device) {
        Ok(watchdog) => watchdog,
        Err(e) => {
            error!(device = %config.device.display(), error = %e, "Cannot arm the watchdog");
            return;
        }
    };
    info!(device = %config.device.display(), "Watchdog armed");
    run(
        Box::new(watchdog),
        lease,
        executor_alive,
        config.interval,
        shutdown,
    )
    .await;
}

#[cfg(test)]
mod tests;
