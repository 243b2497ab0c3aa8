//! systemd's notify protocol for unchanged applications (`sd_notify(3)`), per instance.
//!
//! With `notify=true`, a `process` instance gets `NOTIFY_SOCKET`, a datagram socket in its
//! state directory that only this node's user can reach. `READY=1` completes the start,
//! `STATUS=` is kept and shown with failures, `WATCHDOG=1` proves liveness within the
//! `watchdog` interval (`WATCHDOG_USEC` in the environment, as systemd sets it),
//! `WATCHDOG=trigger` is a failure, and `EXTEND_TIMEOUT_USEC=` extends the start by that
//! long from the moment it arrives, up to `NOTIFY_EXTEND_MAX` past the start timeout.
//!
//! [`parse`] is pure; [`NotifySocket`] owns the socket and its reader task.

use crate::limits::{NOTIFY_DATAGRAM_BYTES_MAX, NOTIFY_STATUS_BYTES_MAX};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UnixDatagram;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const SOCKET_FILE: &str = "notify.sock";

/// One assignment of a notify message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Notice {
    Ready,
    Status(String),
    Watchdog,
    WatchdogTrigger,
    ExtendTimeout(Duration),
    Stopping,
}

/// Reads a notify datagram: newline-separated `KEY=VALUE` assignments; unknown keys and
/// malformed lines are ignored, as systemd does.
pub(crate) fn parse(datagram: &[u8]) -> Vec<Notice> {
    let text = String::from_utf8_lossy(datagram);
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            match (key, value) {
                ("READY", "1") => Some(Notice::Ready),
                ("STOPPING", "1") => Some(Notice::Stopping),
                ("STATUS", status) => {
                    let mut status = status.to_owned();
                    if status.len() > NOTIFY_STATUS_BYTES_MAX {
                        let mut end = NOTIFY_STATUS_BYTES_MAX;
                        while !status.is_char_boundary(end) {
                            end -= 1;
                        }
                        status.truncate(end);
                    }
                    Some(Notice::Status(status))
                }
                ("WATCHDOG", "1") => Some(Notice::Watchdog),
                ("WATCHDOG", "trigger") => Some(Notice::WatchdogTrigger),
                ("EXTEND_TIMEOUT_USEC", usec) => usec
                    .parse::<u64>()
                    .ok()
                    .map(|usec| Notice::ExtendTimeout(Duration::from_micros(usec))),
                _ => None,
            }
        })
        .collect()
}

/// What the instance has said so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NotifyState {
    pub(crate) ready: bool,
    pub(crate) stopping: bool,
    pub(crate) status: Option<String>,
    /// When the last `WATCHDOG=1` (or `READY=1`, which starts the watchdog) arrived.
    pub(crate) alive_at: Option<Instant>,
    pub(crate) watchdog_triggered: bool,
    /// A start may run until then (from `EXTEND_TIMEOUT_USEC`).
    pub(crate) extended_until: Option<Instant>,
}

impl NotifyState {
    fn apply(&mut self, notice: Notice, now: Instant) {
        match notice {
            Notice::Ready => {
                self.ready = true;
                self.alive_at = Some(now);
            }
            Notice::Status(status) => self.status = Some(status),
            Notice::Watchdog => self.alive_at = Some(now),
            Notice::WatchdogTrigger => self.watchdog_triggered = true,
            Notice::ExtendTimeout(by) => self.extended_until = Some(now + by),
            Notice::Stopping => self.stopping = true,
        }
    }

    /// Why the instance counts as failed by its watchdog, if it does.
    pub(crate) fn watchdog_failure(&self, interval: Duration, now: Instant) -> Option<String> {
        if self.watchdog_triggered {
            return Some("the process asked for a watchdog failure (WATCHDOG=trigger)".into());
        }
        let alive_at = self.alive_at?;
        let silent = now.saturating_duration_since(alive_at);
        (silent > interval).then(|| {
            format!(
                "no WATCHDOG=1 for {} ms, above the watchdog interval of {} ms",
                silent.as_millis(),
                interval.as_millis()
            )
        })
    }
}

/// The bound socket of one instance and the task that reads it.
pub(crate) struct NotifySocket {
    path: PathBuf,
    state: Arc<Mutex<NotifyState>>,
    changed: watch::Receiver<u64>,
    reader: JoinHandle<()>,
}

impl NotifySocket {
    /// Binds `notify.sock` in `state_dir` (replacing a stale one) and starts reading it.
    /// `since` counts as the last sign of life, so an adopted instance gets one interval.
    pub(crate) fn bind(state_dir: &Path, since: Option<Instant>) -> std::io::Result<NotifySocket> {
        use std::os::unix::fs::PermissionsExt;
        let path = state_dir.join(SOCKET_FILE);
        match std::fs::remove_file(&path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        let socket = UnixDatagram::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let state = Arc::new(Mutex::new(NotifyState {
            alive_at: since,
            ..NotifyState::default()
        }));
        let (changed_tx, changed) = watch::channel(0u64);
        let reader_state = Arc::clone(&state);
        let reader = tokio::spawn(async move {
            let mut buffer = vec![0u8; NOTIFY_DATAGRAM_BYTES_MAX];
            while let Ok(length) = socket.recv(&mut buffer).await {
                let notices = parse(&buffer[..length]);
                let now = Instant::now();
                let mut state = reader_state.lock().expect("notify lock is never poisoned");
                for notice in notices {
                    tracing::debug!(notice = ?notice, "Notify message");
                    state.apply(notice, now);
                }
                drop(state);
                changed_tx.send_modify(|count| *count += 1);
            }
        });
        Ok(NotifySocket {
            path,
            state,
            changed,
            reader,
        })
    }

    /// The socket's path, for `NOTIFY_SOCKET`.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// A copy of what the instance has said.
    pub(crate) fn state(&self) -> NotifyState {
        self.state
            .lock()
            .expect("notify lock is never poisoned")
            .clone()
    }

    /// Completes when a new message arrived (or after `within`).
    pub(crate) async fn changed(&self, within: Duration) {
        let mut changed = self.changed.clone();
        let _ = tokio::time::timeout(within, changed.changed()).await;
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        self.reader.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}
