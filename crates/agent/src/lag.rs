//! The agent's own event-loop lag (issue 18, point 1): how late its timers fire.
//!
//! A probe asks to wake every [`PROBE_EVERY`] and measures how much later than asked it
//! ran. On a healthy machine that is well under a millisecond; on a starved one (both cores
//! busy, swapping, a paused VM) it is what makes this node's heartbeats late. The agent
//! sends the recent maximum with every heartbeat, so the master can tell a slow node from a
//! dead one (`membership::Detector::report_lag`), and records it as the
//! `agent_loop_lag_ms` series.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often the probe asks to wake.
pub const PROBE_EVERY: Duration = Duration::from_millis(50);

/// The lag reported is the maximum over the current window and the one before it, so one
/// late wake-up is reported for between one and two windows.
const WINDOW_PROBES: u32 = 20;

/// The recent maximum lag of this agent's runtime, in milliseconds.
#[derive(Debug, Default)]
pub struct LoopLag {
    current_ms: AtomicU64,
    previous_ms: AtomicU64,
}

impl LoopLag {
    /// The largest lag seen in the last one to two windows (one to two seconds).
    pub fn recent_ms(&self) -> u64 {
        let current = self.current_ms.load(Ordering::Relaxed);
        current.max(self.previous_ms.load(Ordering::Relaxed))
    }

    /// Counts one probe's lag.
    pub fn observe(&self, lag: Duration) {
        let ms = u64::try_from(lag.as_millis()).unwrap_or(u64::MAX);
        self.current_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// Ends a window: the current maximum becomes the previous one.
    pub fn roll(&self) {
        let current = self.current_ms.swap(0, Ordering::Relaxed);
        self.previous_ms.store(current, Ordering::Relaxed);
    }
}

/// Probes until `shutdown`.
pub async fn run(lag: Arc<LoopLag>, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(PROBE_EVERY);
    // A late wake-up is measured once; the next one is asked for a whole period later.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut probes: u32 = 0;
    loop {
        let asked = tokio::select! {
            () = shutdown.cancelled() => return,
            asked = ticker.tick() => asked,
        };
        lag.observe(tokio::time::Instant::now().saturating_duration_since(asked));
        probes += 1;
        if probes == WINDOW_PROBES {
            probes = 0;
            lag.roll();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::LoopLag;

    #[test]
    fn the_recent_maximum_lasts_one_to_two_windows() {
        let lag = LoopLag::default();
        lag.observe(Duration::from_millis(3));
        lag.observe(Duration::from_millis(120));
        lag.observe(Duration::from_millis(7));
        assert_eq!(lag.recent_ms(), 120);
        lag.roll();
        lag.observe(Duration::from_millis(2));
        assert_eq!(lag.recent_ms(), 120, "still within the window after it");
        lag.roll();
        assert_eq!(lag.recent_ms(), 2);
        lag.roll();
        assert_eq!(lag.recent_ms(), 0);
    }

    /// A runtime blocked for 300 ms reports it: the probe's next wake-up comes that late.
    #[tokio::test(flavor = "current_thread")]
    async fn a_blocked_runtime_reports_its_lag() {
        let lag = std::sync::Arc::new(LoopLag::default());
        let shutdown = tokio_util::sync::CancellationToken::new();
        let probe = tokio::spawn(super::run(lag.clone(), shutdown.clone()));
        // Let the probe take its first (immediate) tick, then block the only thread.
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(300));
        // The probe runs at the next await and measures the wake-up it asked for 50 ms in.
        let reported = tokio::time::timeout(Duration::from_secs(5), async {
            while lag.recent_ms() < 200 {
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(reported.is_ok(), "reported only {} ms", lag.recent_ms());
        shutdown.cancel();
        probe.await.expect("probe task");
    }
}
