//! The instances this node's applications may speak for: their tokens, identities,
//! reported health, open connections and pending questions, plus the record each leaves in
//! its state directory so a restarted agent still knows them.
//!
//! Plain data under one lock, never held across an await.

use app_sdk::protocol::{AgentEvent, Depth};
use model::ResourceId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::sync::{mpsc, oneshot};

const RECORD_FILE: &str = "app-instance.json";

/// What an instance's state directory records about it (`app-instance.json`, 0600).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InstanceRecord {
    pub(crate) resource: ResourceId,
    pub(crate) fencing_token: u64,
    pub(crate) unique: bool,
    /// The instance's secret, also in its environment.
    pub(crate) token: String,
    /// The parameters it runs with (updated when it accepts a change).
    pub(crate) params: BTreeMap<String, String>,
    /// An application of it has said hello: it speaks the protocol, so its promoted role
    /// is promoted, demoted and monitored through it.
    #[serde(default)]
    pub(crate) spoke: bool,
    /// It answered a promote as done, and no demote since.
    #[serde(default)]
    pub(crate) promoted: bool,
}

/// One instance this node runs.
#[derive(Debug)]
pub(crate) struct Instance {
    pub(crate) record: InstanceRecord,
    pub(crate) state_dir: PathBuf,
    /// The latest failure reported at each depth; a success clears its depth.
    pub(crate) health: BTreeMap<Depth, String>,
    /// The event senders of the connections that said hello as this instance.
    pub(crate) connections: BTreeMap<u64, mpsc::Sender<AgentEvent>>,
    /// A stop waiting for `stop_ready`.
    pub(crate) stop_ready: Option<oneshot::Sender<()>>,
    /// Parameter changes, promotes and demotes waiting for an answer, by change number.
    pub(crate) offers: BTreeMap<u64, oneshot::Sender<Result<(), String>>>,
    /// The node's lease was lost while it ran: it must not write checkpoints.
    pub(crate) lease_lost: bool,
}

impl Instance {
    pub(crate) fn new(record: InstanceRecord, state_dir: PathBuf) -> Instance {
        Instance {
            record,
            state_dir,
            health: BTreeMap::new(),
            connections: BTreeMap::new(),
            stop_ready: None,
            offers: BTreeMap::new(),
            lease_lost: false,
        }
    }

    /// Sends an event to every connection of the instance; a connection whose queue is
    /// full misses it (it is slow or stuck, and will be told of what matters again).
    pub(crate) fn broadcast(&mut self, event: &AgentEvent) -> usize {
        self.connections.retain(|_, sender| {
            !matches!(
                sender.try_send(event.clone()),
                Err(mpsc::error::TrySendError::Closed(_))
            )
        });
        self.connections.len()
    }
}

/// Writes the record into the state directory, readable by this user only, atomically.
pub(crate) fn write_record(state_dir: &Path, record: &InstanceRecord) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(state_dir)?;
    let temporary = state_dir.join(format!("{RECORD_FILE}.tmp"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(&serde_json::to_vec(record).map_err(std::io::Error::other)?)?;
    file.sync_all()?;
    std::fs::rename(&temporary, state_dir.join(RECORD_FILE))
}

/// Removes the record (the instance stopped).
pub(crate) fn remove_record(state_dir: &Path) {
    match std::fs::remove_file(state_dir.join(RECORD_FILE)) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            let dir = state_dir.display();
            tracing::warn!(error = %error, dir = %dir, "Cannot remove the instance record");
        }
        _ => {}
    }
}

/// The records left in `state_root/<resource>/` by instances still running (an agent
/// restart keeps them running).
pub(crate) fn scan_records(state_root: &Path) -> Vec<(InstanceRecord, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(state_root) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let dir = entry.path();
            let text = std::fs::read(dir.join(RECORD_FILE)).ok()?;
            let record = serde_json::from_slice::<InstanceRecord>(&text).ok()?;
            Some((record, dir))
        })
        .collect()
}

/// Whether `peer_pid` belongs to the process tree led by `leader`: it is the leader, is
/// in the leader's process group, or descends from it. `stat` gives a pid's parent and
/// process group (from `/proc`), `None` for a pid that is gone.
pub(crate) fn in_process_tree(
    peer_pid: u32,
    leader: u32,
    stat: impl Fn(u32) -> Option<(u32, u32)>,
) -> bool {
    let mut pid = peer_pid;
    // A bounded walk: process trees are shallow and pid 1 ends every chain.
    for _ in 0..64 {
        if pid == leader {
            return true;
        }
        let Some((parent, group)) = stat(pid) else {
            return false;
        };
        if group == leader {
            return true;
        }
        if parent <= 1 {
            return false;
        }
        pid = parent;
    }
    false
}

/// A pid's parent and process group, from `/proc/<pid>/stat`.
pub(crate) fn proc_parent_and_group(pid: u32) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: the fields follow the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let _state = fields.next()?;
    let parent = fields.next()?.parse().ok()?;
    let group = fields.next()?.parse().ok()?;
    Some((parent, group))
}

/// The pid that leads an instance's processes, when its resource agent records one (the
/// `process` type's `process.pid`); `None` when it cannot be told.
pub(crate) fn instance_leader(state_dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(state_dir.join("process.pid")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
