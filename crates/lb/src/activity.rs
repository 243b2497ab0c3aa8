//! Traffic tracking for idle timeouts, shared by the TCP relay and HTTP connections.
//!
//! Marking traffic is one relaxed store of a flag, so the hot path reads no clock; the idle
//! watch wakes four times per timeout and closes the connection after four quiet quarters in a
//! row, that is between one and one and a quarter idle timeouts after the last byte.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Quarters of the idle timeout that must pass without traffic.
const QUIET_STEPS: u32 = 4;
/// The shortest step, so that a tiny timeout cannot make the watch spin.
const STEP_MIN: Duration = Duration::from_millis(1);

pub(crate) struct Activity {
    touched: AtomicBool,
}

impl Activity {
    pub(crate) fn new() -> Activity {
        Activity {
            touched: AtomicBool::new(false),
        }
    }

    pub(crate) fn touch(&self) {
        self.touched.store(true, Ordering::Relaxed);
    }

    /// Completes once nothing has touched the activity for at least `idle_timeout` (and at
    /// most a quarter more).
    pub(crate) async fn idle_for(&self, idle_timeout: Duration) {
        let step = (idle_timeout / QUIET_STEPS).max(STEP_MIN);
        let mut quiet = 0;
        loop {
            tokio::time::sleep(step).await;
            if self.touched.swap(false, Ordering::Relaxed) {
                quiet = 0;
            } else {
                quiet += 1;
                if quiet >= QUIET_STEPS {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
