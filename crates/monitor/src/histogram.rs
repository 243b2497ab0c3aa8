//! Latency histograms: fixed buckets read from their owners (the load balancer's real
//! servers, the Raft log, the executor's monitors), exported on `/metrics` as Prometheus
//! histograms and kept in the round-robin archives as the 50th and 99th percentile of the
//! observations of each sampling interval.
//!
//! The owners count into fixed arrays (atomics on the data plane, no lock, no allocation
//! per observation); this module only reads copies of them. A quantile is interpolated
//! linearly inside its bucket, as Prometheus' `histogram_quantile` does, so it is exact to
//! a bucket's width.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::archive::Kind;
use crate::host::Sample;
use crate::recorder::SeriesKey;

/// Upper bounds of the latency buckets, in seconds, for every histogram of a node (from
/// half a millisecond to ten seconds; a last bucket, `+Inf`, takes the rest).
pub const LATENCY_BOUNDS_SECONDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How many buckets a latency histogram has: one per bound and `+Inf`.
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_SECONDS.len() + 1;

/// The bucket of an observation of `seconds` (the first whose bound is not below it).
pub fn bucket_of(seconds: f64) -> usize {
    LATENCY_BOUNDS_SECONDS.partition_point(|bound| *bound < seconds)
}

/// Counts of one histogram: per bucket (not cumulative) and the sum of the observations.
#[derive(Clone, Debug, PartialEq)]
pub struct Buckets {
    /// Observations per bucket, [`LATENCY_BUCKETS`] of them, the last one `+Inf`.
    pub counts: [u64; LATENCY_BUCKETS],
    /// The sum of every observation, in seconds.
    pub sum_seconds: f64,
}

impl Default for Buckets {
    fn default() -> Buckets {
        Buckets {
            counts: [0; LATENCY_BUCKETS],
            sum_seconds: 0.0,
        }
    }
}

impl Buckets {
    /// Counts one observation (for owners off the data plane, behind their own lock).
    pub fn observe(&mut self, took: Duration) {
        let seconds = took.as_secs_f64();
        self.counts[bucket_of(seconds)] += 1;
        self.sum_seconds += seconds;
    }

    /// Adds `other`'s counts to these (a service's histogram is the sum of its servers').
    pub fn add(&mut self, other: &Buckets) {
        for (count, more) in self.counts.iter_mut().zip(other.counts) {
            *count += more;
        }
        self.sum_seconds += other.sum_seconds;
    }

    /// How many observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The observations made since `earlier` (a copy of the same histogram); `None` if the
    /// counts went back (the owner started again), as a counter reset.
    pub fn since(&self, earlier: &Buckets) -> Option<Buckets> {
        let mut counts = [0; LATENCY_BUCKETS];
        for (i, count) in counts.iter_mut().enumerate() {
            *count = self.counts[i].checked_sub(earlier.counts[i])?;
        }
        Some(Buckets {
            counts,
            sum_seconds: (self.sum_seconds - earlier.sum_seconds).max(0.0),
        })
    }

    /// The `q` quantile (0 to 1) in seconds, interpolated inside its bucket; `None` with no
    /// observation. One in the `+Inf` bucket reads as the last finite bound.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        for (i, count) in self.counts.iter().enumerate() {
            let through = below + count;
            if *count > 0 && through as f64 >= rank {
                let Some(upper) = LATENCY_BOUNDS_SECONDS.get(i) else {
                    return LATENCY_BOUNDS_SECONDS.last().copied();
                };
                let lower = if i == 0 {
                    0.0
                } else {
                    LATENCY_BOUNDS_SECONDS[i - 1]
                };
                let within = (rank - below as f64) / *count as f64;
                return Some(lower + (upper - lower) * within.clamp(0.0, 1.0));
            }
            below = through;
        }
        LATENCY_BOUNDS_SECONDS.last().copied()
    }
}

/// One histogram at one moment: its name (`lb_server_response_seconds`), labels and counts.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// The name, without the `_bucket`/`_sum`/`_count` suffixes.
    pub name: &'static str,
    /// Labels beside the node's.
    pub labels: Vec<(&'static str, String)>,
    /// The counts.
    pub buckets: Buckets,
}

impl Histogram {
    /// Its identity, as a series'.
    pub fn key(&self) -> SeriesKey {
        SeriesKey::of(&Sample {
            name: self.name,
            labels: self.labels.clone(),
            kind: Kind::Gauge,
            value: 0.0,
        })
    }
}

/// The names of the percentile series kept for a histogram named `name`.
pub fn percentile_names(name: &'static str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "lb_response_seconds" => ("lb_response_seconds_p50", "lb_response_seconds_p99"),
        "lb_server_response_seconds" => (
            "lb_server_response_seconds_p50",
            "lb_server_response_seconds_p99",
        ),
        "resource_monitor_duration_seconds" => (
            "resource_monitor_duration_seconds_p50",
            "resource_monitor_duration_seconds_p99",
        ),
        "agent_raft_commit_seconds" => (
            "agent_raft_commit_seconds_p50",
            "agent_raft_commit_seconds_p99",
        ),
        "agent_raft_log_write_seconds" => (
            "agent_raft_log_write_seconds_p50",
            "agent_raft_log_write_seconds_p99",
        ),
        _ => return None,
    })
}

/// Turns each sampling round's histograms into archive samples: the 50th and 99th
/// percentile of the observations since the previous round (gauges; none in a round with
/// no observation, which the archive keeps as unknown).
#[derive(Debug, Default)]
pub struct Percentiles {
    previous: BTreeMap<SeriesKey, Buckets>,
}

impl Percentiles {
    /// The samples of this round's `histograms`; forgets histograms that went away.
    pub fn samples(&mut self, histograms: &[Histogram]) -> Vec<Sample> {
        let mut out = Vec::new();
        let mut seen = BTreeMap::new();
        for histogram in histograms {
            let key = histogram.key();
            let Some((p50, p99)) = percentile_names(histogram.name) else {
                continue;
            };
            let interval = match self.previous.get(&key) {
                Some(earlier) => histogram.buckets.since(earlier),
                None => None,
            };
            if let Some(interval) = interval {
                for (name, q) in [(p50, 0.5), (p99, 0.99)] {
                    if let Some(value) = interval.quantile(q) {
                        out.push(Sample {
                            name,
                            labels: histogram.labels.clone(),
                            kind: Kind::Gauge,
                            value,
                        });
                    }
                }
            }
            seen.insert(key, histogram.buckets.clone());
        }
        self.previous = seen;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(millis: &[u64]) -> Buckets {
        let mut buckets = Buckets::default();
        for ms in millis {
            buckets.observe(Duration::from_millis(*ms));
        }
        buckets
    }

    #[test]
    fn an_observation_goes_to_the_first_bucket_whose_bound_is_not_below_it() {
        assert_eq!(bucket_of(0.0), 0);
        assert_eq!(bucket_of(0.0005), 0);
        assert_eq!(bucket_of(0.0006), 1);
        assert_eq!(bucket_of(10.0), 13);
        assert_eq!(bucket_of(11.0), 14);
    }

    #[test]
    fn quantiles_fall_in_the_bucket_of_the_ranked_observation() {
        // 98 fast (2 ms, bucket 2.5 ms) and 2 slow (200 ms, bucket 250 ms).
        let mut millis = vec![2; 98];
        millis.extend([200, 200]);
        let buckets = observed(&millis);
        let p50 = buckets.quantile(0.5).expect("observations");
        assert!((0.001..=0.0025).contains(&p50), "p50 {p50}");
        let p99 = buckets.quantile(0.99).expect("observations");
        assert!((0.1..=0.25).contains(&p99), "p99 {p99}");
        assert_eq!(Buckets::default().quantile(0.5), None);
        assert_eq!(observed(&[60_000]).quantile(0.5), Some(10.0));
    }

    #[test]
    fn each_round_keeps_the_percentiles_of_its_own_observations_only() {
        let mut percentiles = Percentiles::default();
        let histogram = |millis: &[u64]| Histogram {
            name: "lb_server_response_seconds",
            labels: vec![("service", "web".to_owned()), ("server", "a".to_owned())],
            buckets: observed(millis),
        };
        // The first round has nothing to compare with.
        assert_eq!(percentiles.samples(&[histogram(&[300, 300])]), vec![]);
        // The second adds fast observations only: the slow ones of the first are not in it.
        let samples = percentiles.samples(&[histogram(&[300, 300, 1, 1, 1])]);
        let names: Vec<_> = samples.iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "lb_server_response_seconds_p50",
                "lb_server_response_seconds_p99"
            ]
        );
        assert!(samples.iter().all(|s| s.value <= 0.001), "{samples:?}");
        // A round without observations keeps no percentile (unknown, not zero).
        assert_eq!(
            percentiles.samples(&[histogram(&[300, 300, 1, 1, 1])]),
            vec![]
        );
        // Counts that went back (the owner restarted) are a reset, not a negative interval.
        assert_eq!(percentiles.samples(&[histogram(&[1])]), vec![]);
    }
}
