//! Range queries over a series' archives, as rrdtool's `fetch`: pick the finest archive
//! that still covers the start and is at least as coarse as the step asked for, then read
//! one point per row, unknown where the ring holds no current row.

use crate::MonitorError;
use crate::archive::SeriesSpec;
use crate::store::RowStore;

/// The most points one query returns; a longer range needs a coarser step.
pub const POINTS_MAX: u64 = 10_000;

/// What a range query asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// Start, inclusive (ms since the epoch).
    pub from_ms: u64,
    /// End, exclusive.
    pub to_ms: u64,
    /// The finest step wanted; 0 for the finest there is.
    pub step_ms: u64,
    /// The time of the query, which decides what each ring still covers.
    pub now_ms: u64,
}

/// One point of a query's answer; NaN where unknown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Smallest value in the step.
    pub min: f64,
    /// Mean.
    pub avg: f64,
    /// Largest.
    pub max: f64,
    /// Last.
    pub last: f64,
}

impl Point {
    const UNKNOWN: Point = Point {
        min: f64::NAN,
        avg: f64::NAN,
        max: f64::NAN,
        last: f64::NAN,
    };
}

/// A query's answer: point `i` covers `[start_ms + i * step_ms, start_ms + (i+1) * step_ms)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fetched {
    /// The archive read.
    pub archive: usize,
    /// The step of its rows.
    pub step_ms: u64,
    /// The start of the first point.
    pub start_ms: u64,
    /// The points.
    pub points: Vec<Point>,
}

/// Answers `range` from `store`; the error names what is wrong with the range.
pub fn fetch(
    spec: &SeriesSpec,
    store: &dyn RowStore,
    range: Range,
) -> Result<Fetched, MonitorError> {
    if range.from_ms >= range.to_ms {
        return Err(MonitorError::BadRange(format!(
            "from ({}) must be before to ({})",
            range.from_ms, range.to_ms
        )));
    }
    let archive = choose(spec, range);
    let step = spec.archives[archive].step_ms;
    let first = range.from_ms / step;
    let end = range.to_ms.div_ceil(step);
    let count = end - first;
    if count > POINTS_MAX {
        return Err(MonitorError::BadRange(format!(
            "{count} points at a {step} ms step; at most {POINTS_MAX}: ask for a larger step \
             or a shorter range"
        )));
    }
    let rows = store
        .get_range(archive, first, count)
        .map_err(|error| MonitorError::Io(error.to_string()))?;
    let points = rows
        .into_iter()
        .map(|row| {
            row.map_or(Point::UNKNOWN, |row| Point {
                min: row.min,
                avg: row.avg,
                max: row.max,
                last: row.last,
            })
        })
        .collect();
    Ok(Fetched {
        archive,
        step_ms: step,
        start_ms: first * step,
        points,
    })
}

/// The finest archive at least as coarse as the step asked for whose ring still reaches
/// back to the start; the coarsest one if none does.
fn choose(spec: &SeriesSpec, range: Range) -> usize {
    let last = spec.archives.len() - 1;
    (0..spec.archives.len())
        .find(|&index| {
            let archive = spec.archives[index];
            let reach = archive.step_ms.saturating_mul(u64::from(archive.rows));
            archive.step_ms >= range.step_ms && range.now_ms.saturating_sub(reach) <= range.from_ms
        })
        .unwrap_or(last)
}
