//! Where finished rows live: in memory, or in one fixed-size file per series.
//!
//! The file is a header block naming the spec, then each archive's ring of fixed-size
//! rows. A row is written in place (`pwrite` at `slot % rows`) with its slot and a CRC32,
//! so the file never grows, a write touches no other row, and a torn row reads as unknown
//! instead of corrupting anything older. Writes go to the page cache; [`RowStore::sync`]
//! (or `Recorder::sync_flushed` for every series at once) makes them durable, so a crash
//! of the machine loses at most what was written since the last sync, and a crash of the
//! agent loses nothing that was written.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::MonitorError;
use crate::archive::{Kind, Row, SeriesSpec};

/// Keeps the finished rows of one series.
pub trait RowStore {
    /// Stores `row` of archive `archive` in its ring, in place of whatever row was there.
    fn put(&mut self, archive: usize, row: &Row) -> io::Result<()>;
    /// The rows of slots `first..first + count` of archive `archive`, each `None` where the
    /// ring no longer (or never) held it.
    fn get_range(&self, archive: usize, first: u64, count: u64) -> io::Result<Vec<Option<Row>>>;
    /// The row of `slot` in archive `archive`, if the ring still holds it.
    fn get(&self, archive: usize, slot: u64) -> io::Result<Option<Row>> {
        Ok(self.get_range(archive, slot, 1)?.pop().flatten())
    }
    /// Writes the rows kept in memory to their place (nothing to do in memory).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Flushes, and makes every row durable (nothing to do in memory).
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Rows in memory: the rings of one series, filled as rows arrive (a series that never
/// got a row costs nothing).
#[derive(Clone, Debug)]
pub struct MemoryStore {
    /// Each ring's row count, and its rows by place.
    rings: Vec<(u64, BTreeMap<u64, Row>)>,
}

impl MemoryStore {
    /// Empty rings shaped by `spec`.
    pub fn new(spec: &SeriesSpec) -> MemoryStore {
        let rings = spec
            .archives
            .iter()
            .map(|archive| (u64::from(archive.rows), BTreeMap::new()))
            .collect();
        MemoryStore { rings }
    }
}

impl RowStore for MemoryStore {
    fn put(&mut self, archive: usize, row: &Row) -> io::Result<()> {
        let (rows, ring) = &mut self.rings[archive];
        ring.insert(row.slot % *rows, *row);
        Ok(())
    }

    fn get_range(&self, archive: usize, first: u64, count: u64) -> io::Result<Vec<Option<Row>>> {
        let (rows, ring) = &self.rings[archive];
        Ok((first..first + count)
            .map(|slot| {
                ring.get(&(slot % rows))
                    .copied()
                    .filter(|row| row.slot == slot)
            })
            .collect())
    }
}

const MAGIC: &[u8; 8] = b"ENCRRD\0\0";
const FORMAT: u32 = 1;
/// The header block: magic, format, the spec; the rest is zero.
const HEADER_BYTES: u64 = 512;
/// slot (8), min, avg, max, last (4 x f64), CRC32 of the preceding 40 bytes (4), padding (4).
pub const ROW_BYTES: u64 = 48;
/// The most rows a file store keeps in memory before it writes them out by itself.
pub const PENDING_MAX: usize = 256;

/// Rows in a file of fixed size: [`HEADER_BYTES`] plus [`ROW_BYTES`] per row.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    /// Where each archive's ring starts, and its row count.
    rings: Vec<(u64, u64)>,
    /// Rows not written yet, oldest first.
    pending: Vec<(usize, Row)>,
}

impl FileStore {
    /// Opens the series file at `path`, creating it for `spec` if it does not exist. A file
    /// made for another spec is refused: its rings would not line up.
    pub fn open(path: &Path, spec: &SeriesSpec) -> Result<FileStore, MonitorError> {
        spec.validate()?;
        let header = header(spec);
        let size = file_bytes(spec);
        let io = |error: io::Error| MonitorError::Io(format!("{}: {error}", path.display()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let length = file.metadata().map_err(io)?.len();
        if length == 0 {
            // A new file: header last, so a crash before it leaves a file that is refused
            // and recreated, never one that is read with a wrong shape.
            file.set_len(size).map_err(io)?;
            file.write_all_at(&header, 0).map_err(io)?;
            file.sync_all().map_err(io)?;
            // The file's name too, or a machine crash could lose the whole series.
            if let Some(dir) = path.parent() {
                File::open(dir).and_then(|dir| dir.sync_all()).map_err(io)?;
            }
        } else {
            let mut found = vec![0; header.len()];
            file.read_exact_at(&mut found, 0).map_err(io)?;
            if found != header || length != size {
                return Err(MonitorError::SpecMismatch(path.display().to_string()));
            }
        }
        let mut rings = Vec::new();
        let mut offset = HEADER_BYTES;
        for archive in &spec.archives {
            rings.push((offset, u64::from(archive.rows)));
            offset += u64::from(archive.rows) * ROW_BYTES;
        }
        Ok(FileStore {
            path: path.to_path_buf(),
            rings,
            pending: Vec::new(),
        })
    }

    fn place(&self, archive: usize, slot: u64) -> u64 {
        let (start, rows) = self.rings[archive];
        start + (slot % rows) * ROW_BYTES
    }

    /// Reads the rows of `first..first + count` from the file: the whole ring in one read
    /// when many are asked, else row by row.
    fn read_rows(&self, archive: usize, first: u64, count: u64) -> io::Result<Vec<Option<Row>>> {
        let file = File::open(&self.path)?;
        let (start, rows) = self.rings[archive];
        if count * 4 > rows {
            let mut ring = vec![0u8; (rows * ROW_BYTES) as usize];
            file.read_exact_at(&mut ring, start)?;
            return Ok((first..first + count)
                .map(|slot| {
                    let at = ((slot % rows) * ROW_BYTES) as usize;
                    decode(&ring[at..at + ROW_BYTES as usize], slot)
                })
                .collect());
        }
        let mut out = Vec::with_capacity(count as usize);
        let mut bytes = [0u8; ROW_BYTES as usize];
        for slot in first..first + count {
            file.read_exact_at(&mut bytes, self.place(archive, slot))?;
            out.push(decode(&bytes, slot));
        }
        Ok(out)
    }
}

impl RowStore for FileStore {
    fn put(&mut self, archive: usize, row: &Row) -> io::Result<()> {
        self.pending.push((archive, *row));
        if self.pending.len() >= PENDING_MAX {
            self.flush()?;
        }
        Ok(())
    }

    fn get_range(&self, archive: usize, first: u64, count: u64) -> io::Result<Vec<Option<Row>>> {
        let mut out = self.read_rows(archive, first, count)?;
        for (pending_archive, row) in &self.pending {
            if *pending_archive == archive && (first..first + count).contains(&row.slot) {
                out[(row.slot - first) as usize] = Some(*row);
            }
        }
        Ok(out)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let file = std::fs::OpenOptions::new().write(true).open(&self.path)?;
        for (archive, row) in &self.pending {
            file.write_all_at(&encode(row), self.place(*archive, row.slot))?;
        }
        self.pending.clear();
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        File::open(&self.path)?.sync_data()
    }
}

fn encode(row: &Row) -> [u8; ROW_BYTES as usize] {
    let mut bytes = [0u8; ROW_BYTES as usize];
    bytes[0..8].copy_from_slice(&row.slot.to_le_bytes());
    for (index, value) in [row.min, row.avg, row.max, row.last].iter().enumerate() {
        let at = 8 + index * 8;
        bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }
    let crc = crc32fast::hash(&bytes[0..40]);
    bytes[40..44].copy_from_slice(&crc.to_le_bytes());
    bytes
}

/// The row in `bytes` if it is intact and of `slot`.
fn decode(bytes: &[u8], slot: u64) -> Option<Row> {
    let word = |at: usize| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        word
    };
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[40..44]);
    let intact = u32::from_le_bytes(crc) == crc32fast::hash(&bytes[0..40]);
    if !intact || u64::from_le_bytes(word(0)) != slot {
        return None;
    }
    let value = |at| f64::from_le_bytes(word(at));
    Some(Row {
        slot,
        min: value(8),
        avg: value(16),
        max: value(24),
        last: value(32),
    })
}

/// The disk one series takes, known from its spec alone.
pub fn file_bytes(spec: &SeriesSpec) -> u64 {
    let rows: u64 = spec.archives.iter().map(|a| u64::from(a.rows)).sum();
    HEADER_BYTES + rows * ROW_BYTES
}

fn header(spec: &SeriesSpec) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.push(match spec.kind {
        Kind::Gauge => 0,
        Kind::Counter => 1,
    });
    out.extend_from_slice(&spec.base_step_ms.to_le_bytes());
    out.extend_from_slice(&spec.heartbeat_ms.to_le_bytes());
    out.extend_from_slice(&spec.xff_per_mille.to_le_bytes());
    out.push(spec.archives.len() as u8);
    for archive in &spec.archives {
        out.extend_from_slice(&archive.step_ms.to_le_bytes());
        out.extend_from_slice(&archive.rows.to_le_bytes());
    }
    out
}
