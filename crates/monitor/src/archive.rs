//! Round-robin archives with rrdtool's semantics, without IO: samples in, finished rows out.
//!
//! A series is sampled at irregular times. Each update turns the time since the previous
//! one into a value: the sample itself for a gauge, the rate per second for a counter
//! (unknown when the counter went backwards: a reset, as rrdtool's DERIVE with a minimum
//! of zero). An interval longer than the heartbeat is unknown. The values fill *primary
//! data points* (PDPs), one per base step, each the time-weighted mean of what is known of
//! its step, or unknown when more than the `xff` share of the step is unknown. Every
//! archive consolidates `step / base step` PDPs into one [`Row`] holding their minimum,
//! mean, maximum and last known value, or unknown when more than the `xff` share of them
//! is. A row is identified by its *slot*: the row's start time divided by the archive's
//! step, so its place in the ring is `slot % rows` and a stored row is current only if its
//! slot is the one asked for. Rows that are wholly unknown are never produced: a reader
//! finds an older slot in their place and reads "unknown", so a gap of any length costs
//! nothing, and a long gap is skipped without walking its steps.

use crate::MonitorError;

/// How a series' samples become values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The sample is the value (a temperature, a queue length, bytes in use).
    Gauge,
    /// The sample is a running total; the value is its rate per second.
    Counter,
}

/// One ring: `rows` rows of `step_ms` each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArchiveSpec {
    /// Time one row covers; a multiple of the series' base step.
    pub step_ms: u64,
    /// How many rows the ring keeps.
    pub rows: u32,
}

/// A series' shape, fixed at creation: it decides the memory and disk the series takes.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSpec {
    /// Gauge or counter.
    pub kind: Kind,
    /// The step of the primary data points.
    pub base_step_ms: u64,
    /// The longest interval between two updates that still counts as known.
    pub heartbeat_ms: u64,
    /// The largest share of unknown time (in a PDP) or PDPs (in a row) that still gives
    /// a known value, as rrdtool's `xff`: from 0 to 1, in thousandths.
    pub xff_per_mille: u16,
    /// The rings, finest first.
    pub archives: Vec<ArchiveSpec>,
}

/// The largest number of archives in one series.
pub const ARCHIVES_MAX: usize = 8;

/// The largest number of rows in one archive.
pub const ROWS_MAX: u32 = 1 << 20;

impl SeriesSpec {
    /// The default archives for a series sampled once a second: 1 s for 1 hour, 1 min for
    /// 2 days, 15 min for 2 weeks and 1 h for 90 days (9,984 rows).
    pub fn per_second(kind: Kind) -> SeriesSpec {
        const SECOND: u64 = 1_000;
        SeriesSpec {
            kind,
            base_step_ms: SECOND,
            heartbeat_ms: 5 * SECOND,
            xff_per_mille: 500,
            archives: vec![
                ArchiveSpec {
                    step_ms: SECOND,
                    rows: 3_600,
                },
                ArchiveSpec {
                    step_ms: 60 * SECOND,
                    rows: 2 * 24 * 60,
                },
                ArchiveSpec {
                    step_ms: 15 * 60 * SECOND,
                    rows: 14 * 24 * 4,
                },
                ArchiveSpec {
                    step_ms: 3_600 * SECOND,
                    rows: 90 * 24,
                },
            ],
        }
    }

    /// Checks that the spec makes sense; the error names the problem.
    pub fn validate(&self) -> Result<(), MonitorError> {
        let bad = |why: String| Err(MonitorError::BadSpec(why));
        if self.base_step_ms == 0 {
            return bad("the base step must be at least 1 ms".into());
        }
        if self.heartbeat_ms < self.base_step_ms {
            return bad("the heartbeat must be at least the base step".into());
        }
        if self.xff_per_mille > 1_000 {
            return bad("xff must be between 0 and 1000 per mille".into());
        }
        if self.archives.is_empty() || self.archives.len() > ARCHIVES_MAX {
            return bad(format!("a series has 1 to {ARCHIVES_MAX} archives"));
        }
        for archive in &self.archives {
            if archive.step_ms == 0 || archive.step_ms % self.base_step_ms != 0 {
                return bad(format!(
                    "archive step {} ms is not a multiple of the base step {} ms",
                    archive.step_ms, self.base_step_ms
                ));
            }
            if archive.rows == 0 || archive.rows > ROWS_MAX {
                return bad(format!("an archive has 1 to {ROWS_MAX} rows"));
            }
        }
        Ok(())
    }

    /// How many PDPs one row of `archive` consolidates.
    pub(crate) fn pdps_per_row(&self, archive: usize) -> u64 {
        self.archives[archive].step_ms / self.base_step_ms
    }

    fn xff(&self) -> f64 {
        f64::from(self.xff_per_mille) / 1_000.0
    }
}

/// One consolidated step of an archive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row {
    /// The row's start time divided by its archive's step.
    pub slot: u64,
    /// The smallest known PDP.
    pub min: f64,
    /// The mean of the known PDPs.
    pub avg: f64,
    /// The largest known PDP.
    pub max: f64,
    /// The last known PDP.
    pub last: f64,
}

/// A finished row of archive `archive`, for the store.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RowWrite {
    /// Index of the archive in the spec.
    pub archive: usize,
    /// The row.
    pub row: Row,
}

/// The row an archive is filling.
#[derive(Clone, Copy, Debug)]
struct Consolidation {
    /// PDPs taken into this row so far, known or not.
    taken: u64,
    known: u64,
    min: f64,
    max: f64,
    sum: f64,
    last: f64,
}

impl Consolidation {
    const EMPTY: Consolidation = Consolidation {
        taken: 0,
        known: 0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        sum: 0.0,
        last: f64::NAN,
    };
}

/// A series' state between updates: the open PDP and every archive's open row. This is
/// all that lives in memory (a few hundred bytes); finished rows go to the store.
#[derive(Clone, Debug)]
pub struct Series {
    spec: SeriesSpec,
    /// Time and raw sample of the last update.
    last: Option<(u64, f64)>,
    /// Known milliseconds and their value-weighted sum in the open PDP.
    pdp_known_ms: u64,
    pdp_sum: f64,
    open: Vec<Consolidation>,
}

impl Series {
    /// A series with no samples yet.
    pub fn new(spec: SeriesSpec) -> Result<Series, MonitorError> {
        spec.validate()?;
        let open = vec![Consolidation::EMPTY; spec.archives.len()];
        Ok(Series {
            spec,
            last: None,
            pdp_known_ms: 0,
            pdp_sum: 0.0,
            open,
        })
    }

    /// The series' spec.
    pub fn spec(&self) -> &SeriesSpec {
        &self.spec
    }

    /// The time and raw value of the last sample taken.
    pub fn last(&self) -> Option<(u64, f64)> {
        self.last
    }

    /// The memory the series holds, heap included: fixed by its spec.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Series>()
            + self.open.capacity() * std::mem::size_of::<Consolidation>()
            + self.spec.archives.capacity() * std::mem::size_of::<ArchiveSpec>()
    }

    /// Takes the sample `raw` at `at_ms` and returns the rows it finished. Samples must
    /// come in increasing time; an older or repeated time is refused and changes nothing.
    pub fn update(&mut self, at_ms: u64, raw: f64) -> Result<Vec<RowWrite>, MonitorError> {
        let Some((last_at, last_raw)) = self.last else {
            self.last = Some((at_ms, raw));
            self.skip_to(at_ms);
            return Ok(Vec::new());
        };
        if at_ms <= last_at {
            return Err(MonitorError::TimeWentBack { last_at, at: at_ms });
        }
        let elapsed = at_ms - last_at;
        let value = match self.spec.kind {
            _ if !raw.is_finite() || elapsed > self.spec.heartbeat_ms => f64::NAN,
            Kind::Gauge => raw,
            Kind::Counter if raw < last_raw => f64::NAN,
            Kind::Counter => (raw - last_raw) * 1_000.0 / elapsed as f64,
        };
        self.last = Some((at_ms, raw));
        let mut rows = Vec::new();
        self.fill(last_at, at_ms, value, &mut rows);
        Ok(rows)
    }

    /// Places the accumulators at `at_ms` with nothing known before it.
    fn skip_to(&mut self, at_ms: u64) {
        let base = self.spec.base_step_ms;
        let pdp = at_ms / base;
        for (index, open) in self.open.iter_mut().enumerate() {
            let per_row = self.spec.archives[index].step_ms / base;
            *open = Consolidation {
                taken: pdp % per_row,
                ..Consolidation::EMPTY
            };
        }
        self.pdp_known_ms = 0;
        self.pdp_sum = 0.0;
    }

    /// Spreads `value` over `[from, to)` and closes every PDP that ends in it.
    fn fill(&mut self, from: u64, to: u64, value: f64, rows: &mut Vec<RowWrite>) {
        let base = self.spec.base_step_ms;
        let mut at = from;
        while at < to {
            let pdp = at / base;
            let pdp_end = (pdp + 1) * base;
            let end = pdp_end.min(to);
            if !value.is_nan() {
                self.pdp_known_ms += end - at;
                self.pdp_sum += value * (end - at) as f64;
            }
            at = end;
            if end < pdp_end {
                break;
            }
            self.close_pdp(pdp, rows);
            // Whole unknown steps ahead: finish the open rows and jump.
            let whole = (to - at) / base;
            if value.is_nan() && whole > 0 {
                self.skip_unknown(pdp + 1, whole, rows);
                at += whole * base;
            }
        }
    }

    /// Closes PDP `pdp` and feeds it to every archive.
    fn close_pdp(&mut self, pdp: u64, rows: &mut Vec<RowWrite>) {
        let base = self.spec.base_step_ms;
        let unknown_ms = base - self.pdp_known_ms.min(base);
        let value = if self.pdp_known_ms == 0 || unknown_ms as f64 > self.spec.xff() * base as f64 {
            f64::NAN
        } else {
            self.pdp_sum / self.pdp_known_ms as f64
        };
        self.pdp_known_ms = 0;
        self.pdp_sum = 0.0;
        for archive in 0..self.open.len() {
            let open = &mut self.open[archive];
            open.taken += 1;
            if !value.is_nan() {
                open.known += 1;
                open.min = open.min.min(value);
                open.max = open.max.max(value);
                open.sum += value;
                open.last = value;
            }
            let per_row = self.spec.pdps_per_row(archive);
            if open.taken == per_row {
                let slot = pdp / per_row;
                if let Some(row) = self.finish(archive, slot) {
                    rows.push(RowWrite { archive, row });
                }
            }
        }
    }

    /// Ends archive `archive`'s open row as slot `slot`: the row, unless it is unknown.
    fn finish(&mut self, archive: usize, slot: u64) -> Option<Row> {
        let per_row = self.spec.pdps_per_row(archive);
        let open = std::mem::replace(&mut self.open[archive], Consolidation::EMPTY);
        let unknown = per_row - open.known;
        if open.known == 0 || unknown as f64 > self.spec.xff() * per_row as f64 {
            return None;
        }
        Some(Row {
            slot,
            min: open.min,
            avg: open.sum / open.known as f64,
            max: open.max,
            last: open.last,
        })
    }

    /// Feeds `count` unknown PDPs from `first` on in constant time per archive: each open
    /// row takes what it still lacks and is finished; the whole rows after it are unknown
    /// and produce nothing; the last, partial one is opened at its phase.
    fn skip_unknown(&mut self, first: u64, count: u64, rows: &mut Vec<RowWrite>) {
        let end = first + count;
        for archive in 0..self.open.len() {
            let per_row = self.spec.pdps_per_row(archive);
            let open_slot = first / per_row;
            let open_end = (open_slot + 1) * per_row;
            if end < open_end {
                self.open[archive].taken += count;
                continue;
            }
            self.open[archive].taken = per_row;
            if let Some(row) = self.finish(archive, open_slot) {
                rows.push(RowWrite { archive, row });
            }
            self.open[archive].taken = end % per_row;
        }
    }
}
