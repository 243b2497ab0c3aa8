//! The Raft state machine: applies commands to the in-memory [`ClusterDb`] and persists it
//! through versioned snapshot files.
//!
//! The state lives in memory and is rebuilt at start from the newest snapshot plus the log
//! entries after it (openraft replays them), so no separate state file is needed.

use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use futures::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftStateMachine, Snapshot};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::codec::{decode_db, decode_snapshot, encode_db, encode_snapshot};
use crate::command::CommandResult;
use crate::db::ClusterDb;
use crate::types::{LogId, SnapshotMeta, StoredMembership, TypeConfig};

type SnapshotOf = crate::types::alias::SnapshotOf<TypeConfig, Cursor<Vec<u8>>>;

/// The cluster database shared between the state machine (writer) and readers such as the
/// API, plus a watch of the last applied log index for anyone who wants to follow changes.
#[derive(Clone)]
pub struct SharedDb {
    db: Arc<RwLock<ClusterDb>>,
    applied: Arc<watch::Sender<u64>>,
}

impl SharedDb {
    fn new() -> SharedDb {
        let (applied, _) = watch::channel(0);
        SharedDb {
            db: Arc::new(RwLock::new(ClusterDb::default())),
            applied: Arc::new(applied),
        }
    }

    /// Read the local replica (possibly stale). Never hold the result across an await.
    pub fn read<R>(&self, f: impl FnOnce(&ClusterDb) -> R) -> R {
        let guard = self
            .db
            .read()
            .expect("cmdb lock poisoned: a reader panicked");
        f(&guard)
    }

    /// A receiver that changes whenever a log entry has been applied locally.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    fn write<R>(&self, f: impl FnOnce(&mut ClusterDb) -> R) -> R {
        let mut guard = self
            .db
            .write()
            .expect("cmdb lock poisoned: a reader panicked");
        f(&mut guard)
    }
}

/// What a snapshot file holds.
#[derive(Serialize, Deserialize)]
pub(crate) struct SnapshotFile {
    pub(crate) last_log_id: Option<LogId>,
    pub(crate) membership: StoredMembership,
    /// The cluster database, encoded by `codec::encode_db`.
    pub(crate) db: Vec<u8>,
}

/// The state machine handed to openraft.
pub struct StateMachine {
    shared: SharedDb,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    snapshot_path: PathBuf,
}

impl StateMachine {
    /// Open the state machine whose snapshot lives in `dir`, loading the newest snapshot.
    pub fn open(dir: &Path) -> io::Result<StateMachine> {
        let mut state_machine = StateMachine {
            shared: SharedDb::new(),
            last_applied: None,
            membership: StoredMembership::default(),
            snapshot_path: dir.join("snapshot.bin"),
        };
        if let Some(file) = state_machine.read_snapshot_file()? {
            state_machine.load(file)?;
        }
        Ok(state_machine)
    }

    /// The shared database handle, for readers.
    pub fn shared(&self) -> SharedDb {
        self.shared.clone()
    }

    fn read_snapshot_file(&self) -> io::Result<Option<SnapshotFile>> {
        match std::fs::read(&self.snapshot_path) {
            Ok(bytes) => Ok(Some(decode_snapshot(&bytes)?)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn load(&mut self, file: SnapshotFile) -> io::Result<()> {
        let db = decode_db(&file.db)?;
        self.shared.write(|current| *current = db);
        self.last_applied = file.last_log_id;
        self.membership = file.membership;
        self.shared
            .applied
            .send_replace(file.last_log_id.map(|id| id.index).unwrap_or(0));
        Ok(())
    }

    /// A copy of the state for a snapshot. Only the copy is taken on the apply path; the
    /// builder encodes and writes it on a blocking thread, so a large database delays
    /// applies by a copy, not by its encoding and fsync.
    fn snapshot_now(&self) -> (SnapshotMeta, ClusterDb) {
        let db = self.shared.read(ClusterDb::clone);
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
        };
        (meta, db)
    }
}

/// Write a snapshot file atomically: temporary file, fsync, rename, fsync the directory.
fn write_snapshot_file(path: &Path, file: &SnapshotFile) -> io::Result<()> {
    let bytes = encode_snapshot(file)?;
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut out = std::fs::File::create(&tmp)?;
        out.write_all(&bytes)?;
        out.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Builds a snapshot from a copy taken under the lock; serialises and writes outside it.
pub struct SnapshotBuilder {
    meta: SnapshotMeta,
    db: Option<ClusterDb>,
    path: PathBuf,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn build_snapshot(&mut self) -> io::Result<SnapshotOf> {
        let db = self
            .db
            .take()
            .ok_or_else(|| io::Error::other("a snapshot builder builds once"))?;
        let (meta, path) = (self.meta.clone(), self.path.clone());
        let db = tokio::task::spawn_blocking(move || -> io::Result<Vec<u8>> {
            let file = SnapshotFile {
                last_log_id: meta.last_log_id,
                membership: meta.last_membership.clone(),
                db: encode_db(&db)?,
            };
            write_snapshot_file(&path, &file)?;
            Ok(file.db)
        })
        .await
        .map_err(io::Error::other)??;
        Ok(Snapshot {
            meta: self.meta.clone(),
            snapshot: Cursor::new(db),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = Cursor<Vec<u8>>;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> io::Result<(Option<LogId>, StoredMembership)> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> io::Result<()>
    where
        Strm: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + OptionalSend,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            self.last_applied = Some(entry.log_id);
            let result = match entry.payload {
                EntryPayload::Blank => CommandResult::Ok,
                EntryPayload::Normal(command) => self.shared.write(|db| db.apply(command)),
                EntryPayload::Membership(membership) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), membership);
                    CommandResult::Ok
                }
            };
            self.shared.applied.send_replace(entry.log_id.index);
            if let Some(responder) = responder {
                responder.send(result);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        let (meta, db) = self.snapshot_now();
        SnapshotBuilder {
            meta,
            db: Some(db),
            path: self.snapshot_path.clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Self::SnapshotData,
    ) -> io::Result<()> {
        let file = SnapshotFile {
            last_log_id: meta.last_log_id,
            membership: meta.last_membership.clone(),
            db: snapshot.into_inner(),
        };
        // Validate before replacing anything: a corrupt snapshot must not wipe the state.
        decode_db(&file.db)?;
        write_snapshot_file(&self.snapshot_path, &file)?;
        self.load(file)
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<SnapshotOf>> {
        let Some(file) = self.read_snapshot_file()? else {
            return Ok(None);
        };
        let meta = SnapshotMeta {
            last_log_id: file.last_log_id,
            last_membership: file.membership,
        };
        Ok(Some(Snapshot {
            meta,
            snapshot: Cursor::new(file.db),
        }))
    }
}
