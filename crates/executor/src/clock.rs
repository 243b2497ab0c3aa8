//! The runtime's clocks: the boot clock for every timing decision, the wall clock for the
//! times people read in reports.
//!
//! The state machine never reads a clock; the runtime reads the one it is given.

use model::{BootMs, Millis};
use nix::time::{ClockId, clock_gettime};
use std::time::{SystemTime, UNIX_EPOCH};

/// One reading of both clocks, as the state machine takes `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// For leases, fencing, monitors, drains and retries: never steps.
    pub boot: BootMs,
    /// For the `started_at` and `finished_at` of reports only: what people read, and what
    /// the operation log shows.
    pub wall: Millis,
}

/// Reads both clocks: the runtime's default clock.
pub fn system_now() -> Now {
    Now {
        boot: boot_clock_ms(),
        wall: wall_clock_ms(),
    }
}

/// Milliseconds on `CLOCK_BOOTTIME`: monotonic, counting suspend, the same for every
/// process on this machine and across agent restarts (not across reboots).
#[allow(
    clippy::disallowed_methods,
    reason = "the one place that reads the boot clock"
)]
pub fn boot_clock_ms() -> BootMs {
    // CLOCK_BOOTTIME exists on every Linux since 2.6.39; without it nothing here is safe.
    let time = clock_gettime(ClockId::CLOCK_BOOTTIME).expect("CLOCK_BOOTTIME is readable");
    let seconds = u64::try_from(time.tv_sec()).unwrap_or(0);
    let millis = u64::try_from(time.tv_nsec() / 1_000_000).unwrap_or(0);
    BootMs(seconds.saturating_mul(1_000).saturating_add(millis))
}

/// Milliseconds since the Unix epoch, the clock of `model::Millis`: for people only.
#[allow(
    clippy::disallowed_methods,
    reason = "the one place that reads the wall clock"
)]
pub fn wall_clock_ms() -> Millis {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}
