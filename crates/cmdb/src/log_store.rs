//! The Raft log, vote and committed log id, durable in redb.
//!
//! An append is reported flushed to openraft (`IOFlushed`) only after redb's commit has
//! returned, and redb commits with `Durability::Immediate` (fsync), so an acknowledged
//! entry survives a crash; so does the vote. But `append` itself returns as soon as the
//! entries are readable from memory (`pending`), as openraft's storage contract allows: a
//! leader then sends them to its followers while its own fsync runs, instead of after it
//! (the Raft thesis, section 10.2.1), which takes one fsync off every write's latency.
//!
//! Every change goes through one writer thread, in the order openraft asked for it; the
//! writer commits all the changes waiting at once in one transaction (group commit), then
//! reports each append flushed. Truncate, purge and vote wait for their commit. The
//! committed log id is written without an fsync (see `save_committed`).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{OptionalSend, entry::RaftEntry};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use crate::codec::{decode, encode};
use crate::latency::RaftLatency;
use crate::types::{Entry, LogId, TypeConfig, Vote};

const LOGS: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_LAST_PURGED: &str = "last_purged";

/// The Raft log store: one redb file per node. Cheap to clone (shares the database, the
/// entries not yet committed and the writer).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
    /// Entries handed to `append` whose commit may not have finished, by index: readable at
    /// once. Removed once committed (if not replaced meanwhile).
    pending: Arc<Mutex<BTreeMap<u64, Entry>>>,
    /// The committed log id last saved, for `read_committed` while its write is queued.
    committed: Arc<Mutex<Option<Option<LogId>>>>,
    writer: mpsc::Sender<Job>,
    /// This node, to tell its own proposals (entries of its leadership) from others'.
    node_id: Option<u64>,
    /// How long appends and commits take.
    latency: Arc<RaftLatency>,
}

/// A change for the writer thread.
enum Job {
    /// Insert these encoded entries; report to openraft once durable.
    Append {
        entries: Vec<(LogId, Vec<u8>)>,
        callback: IOFlushed<TypeConfig>,
        /// When `append` queued it.
        queued: Instant,
    },
    /// Delete the entries from `from` on (truncate) or up to `upto` (purge, recording
    /// `last_purged` first), or set a meta key; answer once durable.
    Change {
        change: Change,
        done: tokio::sync::oneshot::Sender<io::Result<()>>,
    },
    /// Record the committed log id; durable with the next commit that syncs.
    Committed(Vec<u8>),
}

/// A change other than an append.
enum Change {
    Truncate { from: u64 },
    Purge { upto: LogId, encoded: Vec<u8> },
    Vote(Vec<u8>),
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
        let db = Arc::new(db);
        let pending = Arc::new(Mutex::new(BTreeMap::new()));
        let (writer, jobs) = mpsc::channel();
        let (thread_db, thread_pending) = (Arc::downgrade(&db), pending.clone());
        let latency = Arc::new(RaftLatency::default());
        let thread_latency = latency.clone();
        std::thread::Builder::new()
            .name("raft-log-writer".into())
            .spawn(move || write_jobs(&thread_db, &thread_pending, &jobs, &thread_latency))?;
        Ok(LogStore {
            db,
            pending,
            committed: Arc::new(Mutex::new(None)),
            writer,
            node_id: None,
            latency,
        })
    }

    /// The store of node `node_id`, which then times the commits of its own proposals.
    pub fn of_node(self, node_id: u64) -> LogStore {
        LogStore {
            node_id: Some(node_id),
            ..self
        }
    }

    /// How long its appends and commits take.
    pub fn latency(&self) -> Arc<RaftLatency> {
        self.latency.clone()
    }

    /// Queue `change` for the writer and wait for its commit.
    async fn change(&self, change: Change) -> io::Result<()> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.writer
            .send(Job::Change { change, done })
            .map_err(|_| io::Error::other("the raft log writer has stopped"))?;
        result
            .await
            .map_err(|_| io::Error::other("the raft log writer has stopped"))?
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.pending.lock().expect("pending entries lock poisoned")
    }

    fn meta_get<T: serde::de::DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        let txn = self.db.begin_read().map_err(io::Error::other)?;
        let table = txn.open_table(META).map_err(io::Error::other)?;
        match table.get(key).map_err(io::Error::other)? {
            Some(bytes) => Ok(Some(decode(bytes.value())?)),
            None => Ok(None),
        }
    }

    fn last_entry_log_id(&self) -> io::Result<Option<LogId>> {
        let txn = self.db.begin_read().map_err(io::Error::other)?;
        let table = txn.open_table(LOGS).map_err(io::Error::other)?;
        match table.last().map_err(io::Error::other)? {
            Some((_, bytes)) => Ok(Some(decode::<Entry>(bytes.value())?.log_id())),
            None => Ok(None),
        }
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
        // The entries not yet committed first: one removed from there after this read has
        // been committed before it was removed, so the read of redb below finds it.
        let overlay: Vec<Entry> = match end {
            Some(end) => self
                .pending()
                .range(start..=end)
                .map(|(_, e)| e.clone())
                .collect(),
            None => self
                .pending()
                .range(start..)
                .map(|(_, e)| e.clone())
                .collect(),
        };
        let txn = self.db.begin_read().map_err(io::Error::other)?;
        let table = txn.open_table(LOGS).map_err(io::Error::other)?;
        let iter = match end {
            Some(end) => table.range(start..=end),
            None => table.range(start..),
        }
        .map_err(io::Error::other)?;
        let mut entries = BTreeMap::new();
        for item in iter {
            let (index, bytes) = item.map_err(io::Error::other)?;
            entries.insert(index.value(), decode(bytes.value())?);
        }
        for entry in overlay {
            entries.insert(entry.log_id().index(), entry);
        }
        Ok(entries.into_values().collect())
    }

    async fn read_vote(&mut self) -> io::Result<Option<Vote>> {
        self.meta_get(KEY_VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> io::Result<LogState<TypeConfig>> {
        let last_purged_log_id: Option<LogId> = self.meta_get(KEY_LAST_PURGED)?;
        let pending = self.pending().last_key_value().map(|(_, e)| e.log_id());
        let stored = self.last_entry_log_id()?;
        let newest = [pending, stored]
            .into_iter()
            .flatten()
            .max_by_key(|id| id.index());
        let last_log_id = newest.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> io::Result<()> {
        self.change(Change::Vote(encode(vote)?)).await
    }

    /// Without an fsync of its own (redb's `Durability::None`): the id becomes durable with
    /// the next log append or vote, which commit with an fsync, so a crash may leave an
    /// older id, and openraft then re-applies a few entries on restart. This takes the
    /// second fsync off every write. An old voter left behind by `encluster force-quorum`
    /// does not depend on this id to be refused: the leader's appends carry the forced
    /// point, and any difference before it stops the old voter
    /// (`agent::recovery::check_append`). Saved with an fsync, it was the second of two
    /// fsyncs on every write's path, in sequence after the first.
    ///
    /// Queued for the writer without waiting; `read_committed` answers from memory.
    async fn save_committed(&mut self, committed: Option<LogId>) -> io::Result<()> {
        let bytes = encode(&committed)?;
        if let Some(id) = committed {
            self.latency.committed(id.index(), Instant::now());
        }
        *self.committed.lock().expect("committed lock poisoned") = Some(committed);
        self.writer
            .send(Job::Committed(bytes))
            .map_err(|_| io::Error::other("the raft log writer has stopped"))
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogId>> {
        if let Some(committed) = *self.committed.lock().expect("committed lock poisoned") {
            return Ok(committed);
        }
        Ok(self.meta_get::<Option<LogId>>(KEY_COMMITTED)?.flatten())
    }

    /// Returns once the entries are readable; `callback` hears when they are durable.
    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> io::Result<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut encoded = Vec::new();
        let mut readable = Vec::new();
        for entry in entries {
            encoded.push((entry.log_id(), encode(&entry)?));
            readable.push(entry);
        }
        let queued = Instant::now();
        if let Some(node_id) = self.node_id {
            let own = encoded.iter().map(|(id, _)| id);
            let own = own.filter(|id| id.leader_id.node_id == node_id);
            self.latency.proposed(own.map(|id| id.index()), queued);
        }
        {
            let mut pending = self.pending();
            for entry in readable {
                pending.insert(entry.log_id().index(), entry);
            }
        }
        let job = Job::Append {
            entries: encoded,
            callback,
            queued,
        };
        self.writer
            .send(job)
            .map_err(|_| io::Error::other("the raft log writer has stopped"))
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> io::Result<()> {
        let from = last_log_id.map(|id| id.index() + 1).unwrap_or(0);
        drop(self.pending().split_off(&from));
        self.latency.truncated(from);
        self.change(Change::Truncate { from }).await
    }

    /// `last_purged` and the deletion commit in one transaction.
    async fn purge(&mut self, log_id: LogId) -> io::Result<()> {
        let encoded = encode(&log_id)?;
        self.pending().retain(|index, _| *index > log_id.index());
        self.change(Change::Purge {
            upto: log_id,
            encoded,
        })
        .await
    }
}

/// The writer thread: takes every job waiting, applies them in order in one transaction,
/// commits it (with an fsync unless it holds only committed ids), then answers each job.
/// Holds the database only while it writes, so that it closes when the store is dropped.
fn write_jobs(
    db: &std::sync::Weak<Database>,
    pending: &Mutex<BTreeMap<u64, Entry>>,
    jobs: &mpsc::Receiver<Job>,
    latency: &RaftLatency,
) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        batch.extend(jobs.try_iter());
        let result = match db.upgrade() {
            Some(db) => commit_batch(&db, &batch),
            None => Err(io::Error::other("the raft log database was closed")),
        };
        if result.is_ok() {
            let done = Instant::now();
            for job in &batch {
                if let Job::Append { queued, .. } = job {
                    latency.appended(done.saturating_duration_since(*queued));
                }
            }
        }
        answer_batch(batch, &result, pending);
    }
}

fn commit_batch(db: &Database, batch: &[Job]) -> io::Result<()> {
    let mut txn = db.begin_write().map_err(io::Error::other)?;
    if batch.iter().all(|job| matches!(job, Job::Committed(_))) {
        txn.set_durability(Durability::None)
            .map_err(io::Error::other)?;
    }
    {
        let mut logs = txn.open_table(LOGS).map_err(io::Error::other)?;
        let mut meta = txn.open_table(META).map_err(io::Error::other)?;
        for job in batch {
            match job {
                Job::Append { entries, .. } => {
                    for (id, bytes) in entries {
                        (logs.insert(id.index(), bytes.as_slice())).map_err(io::Error::other)?;
                    }
                }
                Job::Committed(bytes) => {
                    (meta.insert(KEY_COMMITTED, bytes.as_slice())).map_err(io::Error::other)?;
                }
                Job::Change { change, .. } => apply_change(&mut logs, &mut meta, change)?,
            }
        }
    }
    txn.commit().map_err(io::Error::other)
}

fn apply_change(
    logs: &mut redb::Table<u64, &[u8]>,
    meta: &mut redb::Table<&str, &[u8]>,
    change: &Change,
) -> io::Result<()> {
    let doomed = match change {
        Change::Truncate { from } => collect_keys(logs, *from..)?,
        Change::Purge { upto, encoded } => {
            (meta.insert(KEY_LAST_PURGED, encoded.as_slice())).map_err(io::Error::other)?;
            collect_keys(logs, 0..=upto.index())?
        }
        Change::Vote(bytes) => {
            (meta.insert(KEY_VOTE, bytes.as_slice())).map_err(io::Error::other)?;
            Vec::new()
        }
    };
    for key in doomed {
        logs.remove(key).map_err(io::Error::other)?;
    }
    Ok(())
}

/// Reports the batch's outcome to each job; committed entries leave `pending` unless a
/// truncation replaced them there meanwhile.
fn answer_batch(batch: Vec<Job>, result: &io::Result<()>, pending: &Mutex<BTreeMap<u64, Entry>>) {
    let outcome = || match result {
        Ok(()) => Ok(()),
        Err(error) => Err(io::Error::new(error.kind(), error.to_string())),
    };
    for job in batch {
        match job {
            Job::Append {
                entries, callback, ..
            } => {
                if result.is_ok() {
                    let mut pending = pending.lock().expect("pending entries lock poisoned");
                    for (id, _) in &entries {
                        if pending.get(&id.index()).is_some_and(|e| e.log_id() == *id) {
                            pending.remove(&id.index());
                        }
                    }
                }
                callback.io_completed(outcome());
            }
            Job::Change { done, .. } => {
                let _ = done.send(outcome());
            }
            Job::Committed(_) => {}
        }
    }
}
