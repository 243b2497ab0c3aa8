//! `encluster force-quorum`: the operator's explicit, loudly warned way out of a lost
//! majority. See `cmdb::force_single_voter` for what it does to the stored log. Also the
//! other side of it: an old voter that returns after a force-quorum learns from the first
//! append that contradicts its log before the forced point (or its committed log), or from
//! a snapshot of the forced history when it has committed entries of its own, and stops,
//! telling the operator what to do.
//!
//! The forced point travels with the appends and snapshots: the survivor knows it from its own
//! `forced-quorum` record, every node that accepts its history records it too
//! ([`ForcedHistory`]), and whichever node leads sends it on. So an old voter is refused
//! whatever it knows of its own commits, and the committed log id needs no fsync of its own
//! on the write path (`cmdb::LogStore::save_committed`).

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, bail};
use cmdb::{LogId, TypeConfig};
use openraft::entry::RaftEntry;
use openraft::raft::AppendEntriesRequest;

use crate::config::AgentConfig;

const WARNING: &str = "\
WARNING: force-quorum makes THIS node the only voter of the cluster.
Use it only when a majority of voters is lost for good (hardware dead, disks wiped).
If a 'lost' voter is in fact alive behind a partition, it may hold writes this node
never saw; they are discarded when it rejoins, and until then two masters may exist.
Power off or isolate the lost voters before you start this node again.";

/// Rewrite this node's membership so that it alone votes. The agent must be stopped.
pub async fn force_quorum(config: &AgentConfig, confirmed: bool) -> anyhow::Result<()> {
    eprintln!("{WARNING}\n");
    if !confirmed {
        bail!(
            "not confirmed: rerun with --yes-i-understand-the-risk once the lost voters \
             are really gone"
        );
    }
    if std::net::TcpListener::bind(&config.peer_addr).is_err() {
        bail!(
            "{} is in use: stop this node's agent before running force-quorum",
            config.peer_addr
        );
    }
    let report = cmdb::force_single_voter(&config.data_dir, config.node_id)
        .await
        .with_context(|| format!("cannot rewrite the log in {}", config.data_dir.display()))?;
    println!(
        "forced quorum: voters {:?} -> [{}] at term {} (log index {}); other members {:?} are \
         learners and become voters again once they are online",
        report.voters_before, config.node_id, report.term, report.index, report.learners_after
    );
    println!("now start the agent: encluster agent --config <this node's config>");
    Ok(())
}

/// The force-quorum points this node knows, as (term, index) of the membership entry
/// force-quorum wrote: its own, if it is the survivor the operator chose, and the newest
/// one a leader's appends told it of (kept in the data directory).
pub struct ForcedHistory {
    data_dir: PathBuf,
    own: Option<(u64, u64)>,
    learned: Mutex<Option<(u64, u64)>>,
}

impl ForcedHistory {
    /// Reads both records from `data_dir`.
    pub fn load(data_dir: &Path) -> std::io::Result<ForcedHistory> {
        Ok(ForcedHistory {
            data_dir: data_dir.to_path_buf(),
            own: cmdb::forced_entry(data_dir)?,
            learned: Mutex::new(cmdb::forced_history(data_dir)?),
        })
    }

    /// Where force-quorum forced this node's own history, if it did.
    pub fn own(&self) -> Option<(u64, u64)> {
        self.own
    }

    /// The newest force-quorum point in this node's history, to send with its appends.
    /// A later force-quorum has a higher term, so the greater pair is the newer.
    pub fn known(&self) -> Option<(u64, u64)> {
        let learned = *self.learned.lock().expect("forced history lock poisoned");
        self.own.max(learned)
    }

    /// Records `point`, told by a leader whose append this node accepted, if it is newer
    /// than what this node knew; durably, before it is ever passed on.
    pub fn learn(&self, point: (u64, u64)) -> std::io::Result<()> {
        let mut learned = self.learned.lock().expect("forced history lock poisoned");
        if self.own.max(*learned) >= Some(point) {
            return Ok(());
        }
        cmdb::record_forced_history(&self.data_dir, point.0, point.1)?;
        *learned = Some(point);
        Ok(())
    }
}

/// Checks an append from a leader against this node's log. With the leader's newest
/// force-quorum point (`leader_forced`: term, index), an entry of this node's that differs
/// from the leader's at or before that index means this node was left behind by that
/// force-quorum: its log holds entries the survivor never had, which may have been
/// acknowledged to clients; it stops, saying what to do. Whatever the leader sends, no
/// correct Raft leader contradicts an entry this node committed (every committed entry is
/// in every later leader's log), so such a contradiction means the history was rewritten
/// by `encluster force-quorum`:
/// * where this node's own contradicted entry is at or after the entry force-quorum wrote
///   here (`forced`: term, index), this node is the survivor the operator chose and the
///   sender an old voter: the append is refused (the error says why) and this node goes on;
/// * otherwise this node is the one left behind, and it stops, saying what to do. Accepting
///   would silently replace data it already served (openraft only checks this with a debug
///   assertion).
pub(crate) async fn check_append(
    raft: &cmdb::Raft,
    request: &AppendEntriesRequest<TypeConfig>,
    forced: &ForcedHistory,
    leader_forced: Option<(u64, u64)>,
) -> Result<(), String> {
    if let Some((_, forced_index)) = leader_forced
        && let Some((theirs, ours)) = contradiction(raft, request, Some(forced_index)).await
    {
        left_behind(request.vote.leader_id().node_id, theirs, ours);
    }
    let Some((theirs, ours)) = contradiction(raft, request, None).await else {
        return Ok(());
    };
    let sender = request.vote.leader_id().node_id;
    if let Some((forced_term, forced_index)) = forced.own()
        && ours.index >= forced_index
    {
        tracing::warn!(
            node = sender,
            forced_term,
            forced_index,
            "Refused the log of an old voter back after force-quorum on this node"
        );
        return Err(format!(
            "node {sender} sends a log older than this cluster's force-quorum (term \
             {forced_term}, index {forced_index}); stop that node, delete its data \
             directory and start it again to rejoin"
        ));
    }
    left_behind(sender, theirs, ours)
}

/// Checks a snapshot from a leader (sent instead of appends when the entries this node
/// lacks are purged) against this node's history. A snapshot carries no entry ids to
/// compare, so where the leader's history was made by a force-quorum this node has not
/// learned of (`leader_forced` newer than [`ForcedHistory::known`]), a node that has
/// committed entries of its own is an old voter whose acknowledged writes the snapshot
/// could silently replace: it stops, saying what to do, as an old voter whose log an append
/// contradicts does. An empty node (just joined, or wiped as told) takes the snapshot and
/// learns the point. The other way round, a snapshot older than this node's own
/// force-quorum comes from an old voter acting as leader, and is refused.
pub(crate) fn check_snapshot(
    raft: &cmdb::Raft,
    vote: &cmdb::Vote,
    forced: &ForcedHistory,
    leader_forced: Option<(u64, u64)>,
) -> Result<(), String> {
    let metrics = cmdb::metrics(raft);
    if !matches!(
        vote.partial_cmp(&metrics.vote),
        Some(Ordering::Greater | Ordering::Equal)
    ) {
        return Ok(());
    }
    let sender = vote.leader_id().node_id;
    if let Some((forced_term, forced_index)) = forced.own()
        && leader_forced < Some((forced_term, forced_index))
    {
        tracing::warn!(
            node = sender,
            forced_term,
            forced_index,
            "Refused the snapshot of an old voter back after force-quorum on this node"
        );
        return Err(format!(
            "node {sender} sends a snapshot older than this cluster's force-quorum (term \
             {forced_term}, index {forced_index}); stop that node, delete its data \
             directory and start it again to rejoin"
        ));
    }
    if let Some(point) = leader_forced
        && forced.known() < Some(point)
        && let Some(committed) = metrics.local_committed
    {
        tracing::error!(
            master = sender,
            forced_term = point.0,
            forced_index = point.1,
            committed = %committed,
            fix = FIX,
            "The master sends a snapshot of a history recovered with `encluster force-quorum` \
             without this node, which has committed entries of its own: writes only this \
             node held may be gone from it; this node stops and must not serve with this \
             data again"
        );
        crate::node::fail_stop(
            "Raft log",
            "the master's snapshot comes from a force-quorum this node was not part of",
        );
    }
    Ok(())
}

/// What an old voter left behind by a force-quorum must do.
const FIX: &str = "keep this node's config, delete its data directory (data_dir in the \
                   config) and start the agent again: the master refills it; if the node \
                   was removed, join it anew with `encluster join` and a join token";

/// This node's log contradicts a current leader's where the leader's history was made by
/// force-quorum: say what happened and what to do, and stop.
fn left_behind(sender: u64, theirs: LogId, ours: LogId) -> ! {
    tracing::error!(
        master = sender,
        index = theirs.index,
        ours = %ours,
        theirs = %theirs,
        fix = FIX,
        "The master contradicts this node's log: the cluster was recovered with `encluster \
         force-quorum` without this node, and writes only this node held are gone from it; \
         this node stops and must not serve with this data again"
    );
    crate::node::fail_stop(
        "Raft log",
        "the master's history, recovered by force-quorum, contradicts this node's log",
    )
}

/// The first entry of a current leader's append that differs from one this node has: up to
/// `upto` (an index) if given, else among the entries this node has committed:
/// (theirs, ours).
async fn contradiction(
    raft: &cmdb::Raft,
    request: &AppendEntriesRequest<TypeConfig>,
    upto: Option<u64>,
) -> Option<(LogId, LogId)> {
    let metrics = cmdb::metrics(raft);
    // A deposed leader's append (a lower vote) is refused by openraft anyway, and may well
    // carry entries that lost to the committed ones: only a current leader's counts.
    let current = request.vote.partial_cmp(&metrics.vote);
    if !matches!(current, Some(Ordering::Greater | Ordering::Equal)) {
        return None;
    }
    let claims = |id: &LogId| match (upto, &metrics.local_committed) {
        (Some(upto), _) => id.index <= upto,
        (None, Some(committed)) => id.index <= committed.index && id != committed,
        (None, None) => false,
    };
    let claimed: Vec<LogId> = request
        .prev_log_id
        .iter()
        .cloned()
        .chain(request.entries.iter().map(|entry| entry.log_id()))
        .filter(claims)
        .collect();
    if claimed.is_empty() {
        return None;
    }
    let conflict = raft
        .with_raft_state(move |raft_state| {
            claimed.into_iter().find_map(|id| {
                let local = raft_state.log_ids.get(id.index)?;
                (local != id).then_some((id, local))
            })
        })
        .await;
    conflict.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::ForcedHistory;

    #[test]
    fn a_learned_forced_point_is_kept_durably_and_only_a_newer_one_replaces_it() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let history = ForcedHistory::load(dir.path()).expect("no records yet");
        assert_eq!(history.known(), None);
        history.learn((7, 120)).expect("record");
        history
            .learn((5, 300))
            .expect("an older force-quorum is ignored");
        assert_eq!(history.known(), Some((7, 120)));
        let reloaded = ForcedHistory::load(dir.path()).expect("reload");
        assert_eq!((reloaded.own(), reloaded.known()), (None, Some((7, 120))));
        history.learn((9, 400)).expect("a newer one replaces it");
        assert_eq!(
            ForcedHistory::load(dir.path()).expect("reload").known(),
            Some((9, 400))
        );
    }

    #[test]
    fn the_survivors_own_point_is_sent_until_a_newer_one_is_learned() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("forced-quorum"), "8 50\n").expect("own record");
        let history = ForcedHistory::load(dir.path()).expect("load");
        assert_eq!(
            (history.own(), history.known()),
            (Some((8, 50)), Some((8, 50)))
        );
        history.learn((8, 50)).expect("its own point again");
        assert!(!dir.path().join("forced-history").exists());
        history
            .learn((11, 90))
            .expect("a later force-quorum elsewhere");
        assert_eq!(
            (history.own(), history.known()),
            (Some((8, 50)), Some((11, 90)))
        );
    }
}
