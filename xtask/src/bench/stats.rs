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

    /// `runs | median | p99 | min | max` for a Markdown row.
    pub fn row(&self) -> String {
        let s = &self.sorted;
        format!(
            "{} | {:.0} | {:.0} | {:.0} | {:.0}",
            s.len(),
            percentile(s, 50.0),
            percentile(s, 99.0),
            s.first().copied().unwrap_or(f64::NAN),
            s.last().copied().unwrap_or(f64::NAN),
        )
    }
}
