//! Last-traffic tracking for idle timeouts, shared by the TCP relay and HTTP connections.
//!
//! The time is kept in an atomic as milliseconds since the connection started, so that both
//! directions can touch it without a lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

pub(crate) struct Activity {
    origin: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Activity {
        Activity {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    pub(crate) fn touch(&self) {
        let elapsed = self.origin.elapsed().as_millis() as u64;
        self.last_ms.store(elapsed, Ordering::Relaxed);
    }

    /// Completes once nothing has touched the activity for `idle_timeout`.
    pub(crate) async fn idle_for(&self, idle_timeout: Duration) {
        loop {
            let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = self.origin + last + idle_timeout;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}
