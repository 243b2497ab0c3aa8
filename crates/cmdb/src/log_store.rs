//! The Raft log, vote and committed log id, durable in redb.
//!
//! An append is acknowledged to openraft only after redb's commit has returned, and redb
//! commits with `Durability::Immediate` (fsync), so an acknowledged entry survives a crash;
//! so do the vote and the committed id. `last_purged` is written in the same transaction
//! that deletes the purged entries.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{OptionalSend, entry::RaftEntry};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use crate::codec::{decode, encode};
use crate::types::{Entry, LogId, TypeConfig, Vote};

const LOGS: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_LAST_PURGED: &str = "last_purged";

/// The Raft log store: one redb file per node. Cheap to clone (shares the database).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
}

impl LogStore {
    /// Open or create the log database at `path`.
    pub fn open(path: &Path) -> io::Result<LogStore> {
        let db = Database::create(path).map_err(io::Error::other)?;
        let txn = db.begin_write().map_err(io::Error::other)?;
        {
            txn.open_table(LOGS).map_err(io::Error::other)?;
            txn.open_table(META).map_err(io::Error::other)?;
        }
        txn.commit().map_err(io::Error::other)?;
        Ok(LogStore { db: Arc::new(db) })
    }

    fn meta_get<T: serde::de::DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        let txn = self.db.begin_read().map_err(io::Error::other)?;
        let table = txn.open_table(META).map_err(io::Error::other)?;
        match table.get(key).map_err(io::Error::other)? {
            Some(bytes) => Ok(Some(decode(bytes.value())?)),
            None => Ok(None),
        }
    }

    fn meta_put<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
        durability: Durability,
    ) -> io::Result<()> {
        let bytes = encode(value)?;
        let mut txn = self.db.begin_write().map_err(io::Error::other)?;
        txn.set_durability(durability).map_err(io::Error::other)?;
        {
            let mut table = txn.open_table(META).map_err(io::Error::other)?;
            table
                .insert(key, bytes.as_slice())
                .map_err(io::Error::other)?;
        }
        txn.commit().map_err(io::Error::other)
    }

    fn last_entry_log_id(&self) -> io::Result<Option<LogId>> {
        let txn = self.db.begin_read().map_err(io::Error::other)?;
        let table = txn.open_table(LOGS).map_err(io::Error::other)?;
        match table.last().map_err(io::Error::other)? {
            Some((_, bytes)) => Ok(Some(decode::<Entry>(bytes.value())?.log_id())),
            None => Ok(None),
        }
    }

    fn delete_range(&self, from: u64, to_inclusive: Option<u64>) -> io::Result<()> {
        let txn = self.db.begin_write().map_err(io::Error::other)?;
        {
            let mut table = txn.open_table(LOGS).map_err(io::Error::other)?;
            let keys: Vec<u64> = match to_inclusive {
                Some(to) => collect_keys(&table, from..=to)?,
                None => collect_keys(&table, from..)?,
            };
            for key in keys {
                table.remove(key).map_err(io::Error::other)?;
            }
        }
        txn.commit().map_err(io::Error::other)
    }
}

impl LogStore {
    /// Append entries synchronously (offline recovery only; Raft uses `append`).
    pub(crate) fn append_now(&self, entries: Vec<Entry>) -> io::Result<()> {
        let txn = self.db.begin_write().map_err(io::Error::other)?;
        {
            let mut table = txn.open_table(LOGS).map_err(io::Error::other)?;
            for entry in entries {
                let bytes = encode(&entry)?;
                table
                    .insert(entry.log_id().index(), bytes.as_slice())
                    .map_err(io::Error::other)?;
            }
        }
        txn.commit().map_err(io::Error::other)
    }
}

fn collect_keys<R: RangeBounds<u64>>(
    table: &redb::Table<u64, &[u8]>,
    range: R,
) -> io::Result<Vec<u64>> {
    let mut keys = Vec::new();
    for item in table.range(range).map_err(io::Error::other)? {
        let (key, _) = item.map_err(io::Error::other)?;
        keys.push(key.value());
    }
    Ok(keys)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<Entry>> {
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&i) => Some(i),
            Bound::Excluded(&0) => return Ok(Vec::new()),
            Bound::Excluded(&i) => Some(i - 1),
            Bound::Unbounded => None,
        };
        if end.is_some_and(|end| end < start) {
            return Ok(Vec::new());
        }
        let txn = self.db.begin_read().map_err(io::Error::other)?;
        let table = txn.open_table(LOGS).map_err(io::Error::other)?;
        let iter = match end {
            Some(end) => table.range(start..=end),
            None => table.range(start..),
        }
        .map_err(io::Error::other)?;
        let mut entries = Vec::new();
        for item in iter {
            let (_, bytes) = item.map_err(io::Error::other)?;
            entries.push(decode(bytes.value())?);
        }
        Ok(entries)
    }

    async fn read_vote(&mut self) -> io::Result<Option<Vote>> {
        self.meta_get(KEY_VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> io::Result<LogState<TypeConfig>> {
        let last_purged_log_id: Option<LogId> = self.meta_get(KEY_LAST_PURGED)?;
        let last_log_id = self.last_entry_log_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> io::Result<()> {
        self.meta_put(KEY_VOTE, vote, Durability::Immediate)
    }

    /// Without an fsync of its own (redb's `Durability::None`): the id becomes durable with
    /// the next log append or vote, which commit with an fsync, so a crash may leave an
    /// older id, and openraft then re-applies a few entries on restart. This takes the
    /// second fsync off every write. An old voter left behind by `encluster force-quorum`
    /// does not depend on this id to be refused: the leader's appends carry the forced
    /// point, and any difference before it stops the old voter
    /// (`agent::recovery::check_append`). Saved with an fsync, it was the second of two
    /// fsyncs on every write's path, in sequence after the first.
    async fn save_committed(&mut self, committed: Option<LogId>) -> io::Result<()> {
        self.meta_put(KEY_COMMITTED, &committed, Durability::None)
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogId>> {
        Ok(self.meta_get::<Option<LogId>>(KEY_COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> io::Result<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut encoded = Vec::new();
        for entry in entries {
            encoded.push((entry.log_id().index(), encode(&entry)?));
        }
        let db = self.db.clone();
        // The commit fsyncs; keep it off the async worker threads.
        let result = tokio::task::spawn_blocking(move || -> io::Result<()> {
            let txn = db.begin_write().map_err(io::Error::other)?;
            {
                let mut table = txn.open_table(LOGS).map_err(io::Error::other)?;
                for (index, bytes) in &encoded {
                    table
                        .insert(*index, bytes.as_slice())
                        .map_err(io::Error::other)?;
                }
            }
            txn.commit().map_err(io::Error::other)
        })
        .await
        .map_err(io::Error::other)?;
        match result {
            Ok(()) => {
                callback.io_completed(Ok(()));
                Ok(())
            }
            Err(error) => {
                callback.io_completed(Err(io::Error::new(error.kind(), error.to_string())));
                Err(error)
            }
        }
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> io::Result<()> {
        let from = last_log_id.map(|id| id.index() + 1).unwrap_or(0);
        self.delete_range(from, None)
    }

    async fn purge(&mut self, log_id: LogId) -> io::Result<()> {
        // Record the purge point first: a crash between the two steps leaves extra entries
        // below `last_purged`, which are harmless, never a gap.
        self.meta_put(KEY_LAST_PURGED, &log_id, Durability::Immediate)?;
        self.delete_range(0, Some(log_id.index()))
    }
}
