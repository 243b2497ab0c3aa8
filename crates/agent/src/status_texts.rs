//! The last status text of every running instance (systemd's `STATUS=`, which a `process`
//! with `notify=true` sends on `NOTIFY_SOCKET`): runtime state, never persisted and never a
//! Raft write. Each node's executor runtime publishes its instances' views with their
//! texts; this node's task keeps its own in the book and sends them to the master over the
//! peer channel (`/peer/instance-status`) when they change and every 2 s (so a new master
//! has them within a round), as the remote monitors' views travel. The API fills
//! `InstanceView::status_text` from the book: on the master every node's, elsewhere the
//! answering node's own (`status` is always the master's view). A report older than 10 s
//! counts as gone. Texts are cut to 120 characters and control characters are escaped
//! where they enter, so nothing an application sends can garble a terminal.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cmdb::Raft;
use executor::runtime::Status;
use model::{BootMs, NodeId, ResourceId};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::clock::boot_ms;
use crate::peer::PeerClient;

#[cfg(test)]
mod tests;

/// How often a node sends its texts although none changed.
const REFRESH: Duration = Duration::from_secs(2);
/// How long a node's report counts.
const STALE_AFTER_MS: u64 = 10_000;
/// The longest text kept, in characters (escapes included).
pub(crate) const STATUS_TEXT_CHARS_MAX: usize = 120;
/// The most texts one report carries.
const TEXTS_PER_REPORT_MAX: usize = 10_000;

/// One node's texts (`/peer/instance-status`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusTextReport {
    /// The reporting node.
    pub node_id: u64,
    /// Resource id and text of each running instance that has one.
    pub texts: Vec<(String, String)>,
}

/// One node's texts, by resource, and when they arrived.
type NodeTexts = (BootMs, BTreeMap<ResourceId, String>);

/// Every node's newest texts, as received, with when.
#[derive(Debug, Default)]
pub struct StatusTexts {
    book: Mutex<BTreeMap<NodeId, NodeTexts>>,
}

impl StatusTexts {
    /// Records a node's report, replacing its previous one.
    pub(crate) fn record(&self, report: &StatusTextReport, now: BootMs) {
        let texts = report
            .texts
            .iter()
            .take(TEXTS_PER_REPORT_MAX)
            .map(|(resource, text)| (ResourceId(resource.clone()), bounded(text)))
            .collect();
        let mut book = self
            .book
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        book.insert(NodeId(report.node_id), (now, texts));
    }

    /// The text of `resource`'s instance on `node`, unless its report is stale.
    pub(crate) fn text(&self, resource: &ResourceId, node: NodeId, now: BootMs) -> Option<String> {
        let book = self
            .book
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (at, texts) = book.get(&node)?;
        if now.0.saturating_sub(at.0) > STALE_AFTER_MS {
            return None;
        }
        texts.get(resource).cloned()
    }
}

/// `text` as shown: control characters escaped (`\n`, `\u{1b}`), cut to
/// [`STATUS_TEXT_CHARS_MAX`] characters with `…` where it was cut.
pub(crate) fn bounded(text: &str) -> String {
    let mut shown = String::new();
    let mut count = 0;
    for character in text.chars() {
        let piece: String = if character.is_control() {
            character.escape_default().collect()
        } else {
            character.to_string()
        };
        let length = piece.chars().count();
        if count + length > STATUS_TEXT_CHARS_MAX - 1 {
            shown.push('…');
            return shown;
        }
        shown.push_str(&piece);
        count += length;
    }
    shown
}

/// The texts of `status`'s running instances.
fn texts_of(status: &Status) -> Vec<(String, String)> {
    status
        .iter()
        .filter_map(|(id, view)| Some((id.0.clone(), view.status_text.clone()?)))
        .collect()
}

/// Keeps this node's texts in `book` and sends them to the master, until `shutdown`.
pub(crate) async fn run(
    book: Arc<StatusTexts>,
    node: NodeId,
    raft: Raft,
    client: PeerClient,
    mut status: watch::Receiver<Status>,
    shutdown: CancellationToken,
) {
    loop {
        let report = StatusTextReport {
            node_id: node.0,
            texts: texts_of(&status.borrow_and_update()),
        };
        book.record(&report, boot_ms());
        send(&raft, &client, node, &report).await;
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = status.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(REFRESH) => {}
        }
    }
}

/// Sends `report` to the master, unless this node is the master (its book has it).
async fn send(raft: &Raft, client: &PeerClient, node: NodeId, report: &StatusTextReport) {
    let metrics = cmdb::metrics(raft);
    let Some(master) = metrics.current_leader.filter(|master| *master != node.0) else {
        return;
    };
    let Some(target) = metrics.membership_config.membership().get_node(&master) else {
        return;
    };
    let sent: Result<(), _> = client
        .call(&target.peer_addr, "/peer/instance-status", report, REFRESH)
        .await;
    if let Err(error) = sent {
        tracing::debug!(%error, "Status texts not reported to the master");
    }
}
