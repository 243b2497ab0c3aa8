//! The agent's only clocks.
//!
//! * [`boot_ms`], the boot clock (`CLOCK_BOOTTIME`, as [`BootMs`]): leases, heartbeat ages,
//!   the failure detector and every other timing decision. It never steps, counts suspend,
//!   and is the same for the executor's lease watchdogs and across agent restarts.
//! * [`now_ms`], the wall clock (ms since the Unix epoch, as `Millis`): only for what people
//!   read and what is compared with times people gave (event times, the operation log,
//!   expiring moves).
//!
//! Core crates never read clocks; the runtime reads these and passes `now` in. Clippy bans
//! every other way of reading a clock in this crate (`clippy.toml`).

use model::{BootMs, Millis};

/// Milliseconds since the Unix epoch (wall clock): for people, never for leases.
#[allow(clippy::disallowed_methods, reason = "the agent's wall clock")]
pub fn now_ms() -> Millis {
    executor::wall_clock_ms()
}

/// Milliseconds on the boot clock: for leases, ages and deadlines.
#[allow(clippy::disallowed_methods, reason = "the agent's boot clock")]
pub fn boot_ms() -> BootMs {
    executor::boot_clock_ms()
}
