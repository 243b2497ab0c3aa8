//! Monitoring: round-robin time series with rrdtool's semantics and the samplers that feed
//! them, and the Prometheus text of their last samples; later the remote checks.
//!
//! [`host`] samples the host and the agent's process; [`archive`] turns samples into
//! consolidated rows without IO; [`store`] keeps the rows
//! in memory or in one fixed-size, crash-safe file per series; [`query`] answers range
//! queries. The memory and disk of a series follow from its [`SeriesSpec`] alone: a few
//! hundred bytes of open accumulators in memory, [`store::file_bytes`] on disk.

pub mod archive;
pub mod histogram;
pub mod host;
pub mod prometheus;
pub mod query;
pub mod recorder;
pub mod remote;
pub mod store;
pub mod threshold;

#[cfg(test)]
mod tests;

pub use archive::{ArchiveSpec, Kind, Row, RowWrite, Series, SeriesSpec};
pub use query::{Fetched, Point, Range, fetch};
pub use recorder::{Recorder, SeriesKey};
pub use store::{FileStore, MemoryStore, RowStore};

/// What can go wrong with a series, a query or its file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MonitorError {
    /// The spec is not usable; the text names the problem.
    #[error("bad series spec: {0}")]
    BadSpec(String),
    /// A sample older than the last one.
    #[error("sample at {at} ms is not after the last one at {last_at} ms")]
    TimeWentBack {
        /// The last sample's time.
        last_at: u64,
        /// The refused sample's time.
        at: u64,
    },
    /// The range query is not usable; the text names the problem and the fix.
    #[error("bad range: {0}")]
    BadRange(String),
    /// A series file made for another spec.
    #[error("series file {0} was made for another spec; move it away to start it anew")]
    SpecMismatch(String),
    /// No series has this name and these labels.
    #[error("no series {0}; `GET /v1/metrics` lists them")]
    UnknownSeries(String),
    /// Reading or writing a series file failed.
    #[error("series file: {0}")]
    Io(String),
}
