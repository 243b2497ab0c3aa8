//! How long the Raft log takes: each append until it is durable (the writer's group
//! commit with its fsync), and on the master each proposal from its append to its commit.
//!
//! Counted in fixed arrays of atomic buckets (the bounds of
//! `monitor::histogram::LATENCY_BOUNDS_SECONDS`, in microseconds, which the agent's test
//! checks), read by the agent's sampler as histograms. Only figures: nothing here is
//! persisted or changes what the log does.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Upper bounds of the buckets, in microseconds (0.5 ms to 10 s; a last one takes the rest).
pub const LATENCY_BOUNDS_MICROS: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

/// How many buckets: one per bound and one past the last.
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_MICROS.len() + 1;

/// The most proposals waiting for their commit that are timed; past it the newest are not
/// (a master that cannot commit must not grow this without bound).
pub const PROPOSALS_TIMED_MAX: usize = 4_096;

/// One histogram: atomic bucket counts and the sum, in microseconds.
#[derive(Debug, Default)]
pub struct LatencyCounts {
    buckets: [AtomicU64; LATENCY_BUCKETS],
    sum_micros: AtomicU64,
}

impl LatencyCounts {
    fn observe(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BOUNDS_MICROS.partition_point(|bound| *bound < micros);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The counts per bucket (not cumulative) and the sum in microseconds.
    pub fn read(&self) -> ([u64; LATENCY_BUCKETS], u64) {
        let counts = std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed));
        (counts, self.sum_micros.load(Ordering::Relaxed))
    }
}

/// The log's latencies, shared by the log store and the agent's sampler.
#[derive(Debug, Default)]
pub struct RaftLatency {
    /// Each append, from `append` until the writer's commit (with its fsync) returned.
    pub log_write: LatencyCounts,
    /// Each entry this node proposed as master, from its append to its commit.
    pub commit: LatencyCounts,
    /// When each entry proposed here was appended, by index, until it commits.
    proposed: Mutex<BTreeMap<u64, Instant>>,
}

impl RaftLatency {
    pub(crate) fn appended(&self, took: Duration) {
        self.log_write.observe(took);
    }

    /// Entries this node proposed were appended to its log at `at`.
    pub(crate) fn proposed(&self, indexes: impl Iterator<Item = u64>, at: Instant) {
        let mut proposed = self.lock();
        for index in indexes {
            if proposed.len() >= PROPOSALS_TIMED_MAX {
                break;
            }
            proposed.insert(index, at);
        }
    }

    /// Entries up to `index` are committed (at `at`).
    pub(crate) fn committed(&self, index: u64, at: Instant) {
        let mut proposed = self.lock();
        let later = proposed.split_off(&(index + 1));
        for appended_at in std::mem::replace(&mut *proposed, later).into_values() {
            self.commit
                .observe(at.saturating_duration_since(appended_at));
        }
    }

    /// Entries from `index` on were truncated: they will never commit.
    pub(crate) fn truncated(&self, index: u64) {
        drop(self.lock().split_off(&index));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Instant>> {
        // Figures only: a panic elsewhere while holding it leaves nothing unsafe to read.
        self.proposed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proposal_is_timed_once_from_its_append_to_its_commit_and_truncated_ones_never() {
        let latency = RaftLatency::default();
        let start = Instant::now();
        latency.proposed([1, 2].into_iter(), start);
        latency.proposed([3].into_iter(), start + Duration::from_millis(1));
        latency.truncated(3);
        latency.committed(2, start + Duration::from_millis(3));
        // Committed again (a later commit index): nothing is counted twice.
        latency.committed(3, start + Duration::from_millis(9));
        let (counts, sum) = latency.commit.read();
        assert_eq!(counts.iter().sum::<u64>(), 2);
        // 3 ms falls in the bucket up to 5 ms.
        assert_eq!(counts[3], 2);
        assert_eq!(sum, 6_000);
    }
}
