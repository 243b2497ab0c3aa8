//! A node's set of series: samples in, rows into one file per series, range queries out.
//!
//! A series is named by its sample's name and labels ([`SeriesKey`]) and created on its
//! first sample, with the default archives ([`SeriesSpec::per_second`]), up to
//! [`SERIES_MAX`]; samples of further series are counted and dropped, so a flood of new
//! labels cannot grow the node's memory or disk past a bound known in advance. Series
//! files are reopened on start (the history survives a restart; the open accumulators,
//! at most a few seconds of samples, do not).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::MonitorError;
use crate::archive::{Series, SeriesSpec};
use crate::host::Sample;
use crate::query::{Fetched, Range, fetch};
use crate::store::{FileStore, MemoryStore, RowStore};

/// The most series one node keeps.
pub const SERIES_MAX: usize = 2_000;

/// A series' identity: its name and labels (sorted by key).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// The name.
    pub name: String,
    /// The labels, sorted by key.
    pub labels: Vec<(String, String)>,
}

impl SeriesKey {
    /// The key of `sample`.
    pub fn of(sample: &Sample) -> SeriesKey {
        let mut labels: Vec<(String, String)> = sample
            .labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        labels.sort();
        SeriesKey {
            name: sample.name.to_owned(),
            labels,
        }
    }

    /// A file name for the series: its name and labels with every byte outside
    /// `[A-Za-z0-9_.-]` written as `%XX`, so no key can name a path outside the directory.
    pub fn file_name(&self) -> String {
        let mut text = self.name.clone();
        for (key, value) in &self.labels {
            text.push_str(&format!(",{key}={value}"));
        }
        let mut out = String::new();
        for byte in text.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-') {
                out.push(byte as char);
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
        out.push_str(".rrd");
        out
    }
}

struct Entry {
    series: Series,
    store: Box<dyn RowStore + Send>,
}

/// Every series of a node.
pub struct Recorder {
    /// Where the series files live; `None` keeps everything in memory (tests, tools).
    dir: Option<PathBuf>,
    series: BTreeMap<SeriesKey, Entry>,
    /// Samples dropped because [`SERIES_MAX`] series exist.
    pub dropped: u64,
}

impl Recorder {
    /// A recorder keeping its files in `dir` (created if missing), or in memory.
    pub fn new(dir: Option<&Path>) -> Result<Recorder, MonitorError> {
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir)
                .map_err(|error| MonitorError::Io(format!("{}: {error}", dir.display())))?;
        }
        Ok(Recorder {
            dir: dir.map(Path::to_path_buf),
            series: BTreeMap::new(),
            dropped: 0,
        })
    }

    /// Records `samples` taken at `at_ms`. A sample the archive refuses (its time did not
    /// advance) is skipped; a series file that cannot be opened is an error naming it.
    pub fn record(&mut self, at_ms: u64, samples: &[Sample]) -> Result<(), MonitorError> {
        for sample in samples {
            let key = SeriesKey::of(sample);
            if !self.series.contains_key(&key) {
                if self.series.len() >= SERIES_MAX {
                    self.dropped += 1;
                    continue;
                }
                let entry = self.open(&key, SeriesSpec::per_second(sample.kind))?;
                self.series.insert(key.clone(), entry);
            }
            let entry = self.series.get_mut(&key).expect("inserted above");
            let Ok(rows) = entry.series.update(at_ms, sample.value) else {
                continue;
            };
            for write in rows {
                entry
                    .store
                    .put(write.archive, &write.row)
                    .map_err(|error| MonitorError::Io(format!("{}: {error}", key.file_name())))?;
            }
        }
        Ok(())
    }

    fn open(&self, key: &SeriesKey, spec: SeriesSpec) -> Result<Entry, MonitorError> {
        let store: Box<dyn RowStore + Send> = match &self.dir {
            Some(dir) => {
                let path = dir.join(key.file_name());
                match FileStore::open(&path, &spec) {
                    Ok(store) => Box::new(store),
                    // A file of an older spec: start the series anew rather than stop.
                    Err(MonitorError::SpecMismatch(_)) => {
                        std::fs::remove_file(&path)
                            .map_err(|error| MonitorError::Io(error.to_string()))?;
                        Box::new(FileStore::open(&path, &spec)?)
                    }
                    Err(error) => return Err(error),
                }
            }
            None => Box::new(MemoryStore::new(&spec)),
        };
        Ok(Entry {
            series: Series::new(spec)?,
            store,
        })
    }

    /// The last sample of every series: its key, kind and raw value.
    pub fn latest(&self) -> Vec<(SeriesKey, crate::Kind, f64)> {
        self.series
            .iter()
            .filter_map(|(key, entry)| {
                let (_, value) = entry.series.last()?;
                Some((key.clone(), entry.series.spec().kind, value))
            })
            .collect()
    }

    /// Every series, by key.
    pub fn keys(&self) -> impl Iterator<Item = &SeriesKey> {
        self.series.keys()
    }

    /// Answers a range query on the series `key`.
    pub fn fetch(&self, key: &SeriesKey, range: Range) -> Result<Fetched, MonitorError> {
        let entry = self
            .series
            .get(key)
            .ok_or_else(|| MonitorError::UnknownSeries(key.file_name()))?;
        fetch(entry.series.spec(), entry.store.as_ref(), range)
    }

    /// Writes every series' waiting rows to its file (a crash of the agent then loses
    /// nothing recorded so far).
    pub fn flush(&mut self) -> Result<(), MonitorError> {
        for (key, entry) in &mut self.series {
            entry
                .store
                .flush()
                .map_err(|error| MonitorError::Io(format!("{}: {error}", key.file_name())))?;
        }
        Ok(())
    }

    /// Makes every row flushed so far durable, against a machine crash too, with one
    /// `syncfs(2)` of the filesystem holding the series (one journal commit and one cache
    /// flush, where an `fdatasync` per file costs one of each per series: 500 series took
    /// 0.1 to 2 s here). Needs no lock on the recorder: the caller runs it on its own
    /// thread after `flush`. Nothing to do in memory.
    pub fn sync_flushed(dir: Option<&Path>) -> Result<(), MonitorError> {
        let Some(dir) = dir else { return Ok(()) };
        let io = |error: std::io::Error| MonitorError::Io(format!("{}: {error}", dir.display()));
        let handle = std::fs::File::open(dir).map_err(io)?;
        nix::unistd::syncfs(&handle).map_err(|errno| io(errno.into()))
    }

    /// Where the series files live (`None` in memory).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Flushes and makes every row recorded so far durable (against a machine crash too).
    pub fn sync(&mut self) -> Result<(), MonitorError> {
        for (key, entry) in &mut self.series {
            entry
                .store
                .sync()
                .map_err(|error| MonitorError::Io(format!("{}: {error}", key.file_name())))?;
        }
        Ok(())
    }
}
