//! Medians and percentiles of measured samples.

/// Percentile `p` (0 to 100) of sorted samples, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A summary of trial durations in milliseconds.
pub struct Summary {
    sorted: Vec<f64>,
}

impl Summary {
    /// Summarise samples.
    pub fn of(mut samples: Vec<f64>) -> Summary {
        samples.sort_by(f64::total_cmp);
        Summary { sorted: samples }
    }

    /// `runs | median | p99 | min | max` for a Markdown row. Below 100 runs the nearest-rank
    /// p99 is the maximum, and the row says so (`594 (max)`), so a table of 12 runs never
    /// passes a maximum off as a percentile.
    pub fn row(&self) -> String {
        let s = &self.sorted;
        let p99 = percentile(s, 99.0);
        let p99 = if s.len() < 100 {
            format!("{p99:.0} (max)")
        } else {
            format!("{p99:.0}")
        };
        format!(
            "{} | {:.0} | {p99} | {:.0} | {:.0}",
            s.len(),
            percentile(s, 50.0),
            s.first().copied().unwrap_or(f64::NAN),
            s.last().copied().unwrap_or(f64::NAN),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Summary;

    #[test]
    fn a_p99_of_fewer_than_100_runs_is_named_the_maximum() {
        let few = Summary::of(vec![3.0, 1.0, 2.0]);
        assert_eq!(few.row(), "3 | 2 | 3 (max) | 1 | 3");
        let many = Summary::of((1..=200).map(f64::from).collect());
        assert_eq!(many.row(), "200 | 100 | 198 | 1 | 200");
    }
}
