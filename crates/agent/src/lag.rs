//! The agent's own event-loop lag (issue 18, point 1): how late its timers fire.
//!
//! The heartbeat loop asks to wake every `failure.heartbeat_interval` and measures how much
//! later than asked it ran ([`LoopLag::tick`]). On a healthy machine that is well under a
//! millisecond; on a starved one (both cores busy, swapping, a paused VM) it is what makes
//! this node's heartbeats late. The agent sends the recent maximum with every heartbeat, so
//! the master can tell a slow node from a dead one (`membership::Detector::report_lag`),
//! and records it as the `agent_loop_lag_seconds` series. Measuring on the heartbeat's own timer
//! costs no wake-up of its own: an idle agent's CPU is mostly wake-ups (issue 18, point 2).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// The lag reported is the maximum over the current window of this many timer wake-ups
/// and the one before it, so one late wake-up is reported for one to two windows (one to
/// two seconds at the default heartbeat interval).
const WINDOW_WAKEUPS: u32 = 10;

/// The recent maximum lag of this agent's runtime, in milliseconds.
#[derive(Debug, Default)]
pub struct LoopLag {
    current_ms: AtomicU64,
    previous_ms: AtomicU64,
    wakeups: AtomicU32,
}

impl LoopLag {
    /// The largest lag seen in the current window and the one before it.
    pub fn recent_ms(&self) -> u64 {
        let current = self.current_ms.load(Ordering::Relaxed);
        current.max(self.previous_ms.load(Ordering::Relaxed))
    }

    /// Counts one wake-up `lag` later than asked; every [`WINDOW_WAKEUPS`] ends a window.
    pub fn observe(&self, lag: Duration) {
        let ms = u64::try_from(lag.as_millis()).unwrap_or(u64::MAX);
        self.current_ms.fetch_max(ms, Ordering::Relaxed);
        if self.wakeups.fetch_add(1, Ordering::Relaxed) + 1 >= WINDOW_WAKEUPS {
            self.wakeups.store(0, Ordering::Relaxed);
            let current = self.current_ms.swap(0, Ordering::Relaxed);
            self.previous_ms.store(current, Ordering::Relaxed);
        }
    }

    /// Waits for `ticker`'s next tick and counts how late it came.
    pub async fn tick(&self, ticker: &mut tokio::time::Interval) {
        let asked = ticker.tick().await;
        self.observe(tokio::time::Instant::now().saturating_duration_since(asked));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::LoopLag;

    #[test]
    fn the_recent_maximum_lasts_one_to_two_windows() {
        let lag = LoopLag::default();
        let observe = |ms: u64, times: u32| {
            for _ in 0..times {
                lag.observe(Duration::from_millis(ms));
            }
        };
        observe(3, 1);
        observe(120, 1);
        observe(7, 1);
        assert_eq!(lag.recent_ms(), 120);
        observe(1, super::WINDOW_WAKEUPS - 3); // the first window ends
        assert_eq!(lag.recent_ms(), 120, "kept through the window after it");
        observe(2, 1);
        assert_eq!(lag.recent_ms(), 120);
        observe(1, super::WINDOW_WAKEUPS - 1); // the second window ends
        assert_eq!(lag.recent_ms(), 2);
        observe(0, super::WINDOW_WAKEUPS);
        assert_eq!(lag.recent_ms(), 0);
    }

    /// A runtime blocked for 300 ms reports it: the timer's next wake-up comes that late.
    #[tokio::test(flavor = "current_thread")]
    async fn a_blocked_runtime_reports_its_lag() {
        let lag = LoopLag::default();
        let mut ticker = tokio::time::interval(Duration::from_millis(50));
        lag.tick(&mut ticker).await; // the first tick is immediate
        // Block the runtime's only thread past the next tick, as a starved machine would.
        std::thread::sleep(Duration::from_millis(300));
        lag.tick(&mut ticker).await;
        assert!(
            lag.recent_ms() >= 200,
            "reported only {} ms",
            lag.recent_ms()
        );
    }
}
