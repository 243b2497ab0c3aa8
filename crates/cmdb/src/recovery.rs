//! Offline recovery after a majority of voters is lost for good (`encluster force-quorum`).
//!
//! With the agent stopped, this appends a membership entry that makes this node the only
//! voter (every other member stays, as a learner) under a term above any this node has
//! seen, and records a vote for itself in that term. On start the node elects itself with
//! its own single vote, commits the entry, and replicates it to the surviving learners,
//! which the dynamic-quorum policy then promotes. This is the Raft equivalent of etcd's
//! `--force-new-cluster` and WSFC's ForceQuorum: if a lost voter was in fact alive and
//! cut off, it may hold writes this node never saw, and those are discarded when it
//! rejoins. That is why the command demands explicit confirmation.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;

use openraft::entry::RaftEntry;
use openraft::storage::{RaftLogReader, RaftLogStorage, RaftStateMachine};
use openraft::vote::RaftLeaderId;
use openraft::{EntryPayload, StoredMembership};

use crate::log_store::LogStore;
use crate::state_machine::StateMachine;
use crate::types::{Entry, LogId, Membership, Vote};

/// What `force_single_voter` did.
#[derive(Debug)]
pub struct ForceReport {
    /// The voters before.
    pub voters_before: BTreeSet<u64>,
    /// The members that remain, as learners.
    pub learners_after: BTreeSet<u64>,
    /// The term of the new membership entry.
    pub term: u64,
    /// The index of the new membership entry.
    pub index: u64,
}

/// Make `me` the only voter of the cluster stored in `data_dir`. The agent must be stopped.
pub async fn force_single_voter(data_dir: &Path, me: u64) -> io::Result<ForceReport> {
    let report = rewrite_single_voter(data_dir, me, None).await?;
    write_marker(data_dir, FORCED_MARKER, report.term, report.index)?;
    Ok(report)
}

/// Make `me` the only voter after the witness granted it the two-voter membership whose
/// entry has log id `epoch` (term, leader, index). The agent must be stopped.
///
/// Refuses unless the newest membership in the log is still that one, with exactly two
/// voters, `me` among them: a rewrite already done, or a membership changed since, makes the
/// grant void. Unlike `force_single_voter` it records no `forced-quorum` point: with two
/// voters every committed entry is on both, so the peer's log, when it returns, contradicts
/// nothing committed and takes the survivor's history like any follower (its uncommitted
/// tail replaced), instead of being told to wipe its data.
pub async fn force_single_voter_granted(
    data_dir: &Path,
    me: u64,
    epoch: (u64, u64, u64),
) -> io::Result<ForceReport> {
    rewrite_single_voter(data_dir, me, Some(epoch)).await
}

async fn rewrite_single_voter(
    data_dir: &Path,
    me: u64,
    granted: Option<(u64, u64, u64)>,
) -> io::Result<ForceReport> {
    let mut log_store = LogStore::open(&data_dir.join("raft-log.redb"))?;
    let mut state_machine = StateMachine::open(data_dir)?;
    let state = log_store.get_log_state().await?;
    let last_log_id: Option<LogId> = state.last_log_id;
    let vote: Option<Vote> = log_store.read_vote().await?;
    let (_, snapshot_membership) = state_machine.applied_state().await?;
    let (membership_id, membership) = last_membership(
        &mut log_store,
        state.last_purged_log_id,
        snapshot_membership,
    )
    .await?;
    let nodes: BTreeMap<u64, model::NodeInfo> = membership
        .nodes()
        .map(|(id, node)| (*id, node.clone()))
        .collect();
    if !nodes.contains_key(&me) {
        return Err(io::Error::other(format!(
            "node {me} is not a member of the stored cluster"
        )));
    }
    let voters_before: BTreeSet<u64> = membership.voter_ids().collect();
    if let Some(epoch) = granted {
        check_granted(&membership, membership_id, me, epoch)?;
    }
    let term_seen = vote.map(|v| v.leader_id().term).unwrap_or(0);
    let term_logged = last_log_id.map(|id| id.leader_id.term).unwrap_or(0);
    let step = if granted.is_some() {
        GRANTED_TERM_STEP
    } else {
        1
    };
    let term = term_seen.max(term_logged) + step;
    let index = last_log_id.map(|id| id.index + 1).unwrap_or(0);
    let new_membership = Membership::new(vec![BTreeSet::from([me])], nodes.clone())
        .map_err(|e| io::Error::other(e.to_string()))?;
    let leader = openraft::impls::leader_id_adv::LeaderId::new(term, me).to_committed();
    let entry = Entry::new(
        LogId::new(leader, index),
        EntryPayload::Membership(new_membership),
    );
    log_store.append_now(vec![entry])?;
    log_store.save_vote(&Vote::new_committed(term, me)).await?;
    let learners_after = nodes.keys().copied().filter(|id| *id != me).collect();
    Ok(ForceReport {
        voters_before,
        learners_after,
        term,
        index,
    })
}

/// How far a rewrite granted by the witness raises the term. The other node, when it
/// restarts or comes back, campaigns in its own view of the two voters; each election
/// raises its term by one, and a candidate of the same term with a higher id would refuse
/// the survivor's appends. From a thousand terms ahead, the survivor's appends reach it
/// first.
pub const GRANTED_TERM_STEP: u64 = 1000;

/// The log id of a membership entry as the witness names it: (term, leader, index).
pub fn membership_epoch(id: &LogId) -> (u64, u64, u64) {
    (id.leader_id.term, id.leader_id.node_id, id.index)
}

/// The witness's grant holds only for the uniform two-voter membership it was asked for.
fn check_granted(
    membership: &Membership,
    membership_id: Option<LogId>,
    me: u64,
    epoch: (u64, u64, u64),
) -> io::Result<()> {
    let configs = membership.get_joint_config();
    let two_voters = configs.len() == 1 && configs[0].len() == 2 && configs[0].contains(&me);
    let same = membership_id.as_ref().map(membership_epoch) == Some(epoch);
    if two_voters && same {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "the witness's grant is for the membership at {epoch:?}, but the newest membership \
         is {configs:?} at {:?}: the grant is void",
        membership_id.as_ref().map(membership_epoch)
    )))
}

/// The file recording where this node's history was forced: `<term> <index>`.
const FORCED_MARKER: &str = "forced-quorum";

/// The file recording the newest force-quorum point this node learned from a leader whose
/// history contains it: `<term> <index>` (see [`record_forced_history`]).
const HISTORY_MARKER: &str = "forced-history";

/// Records `<term> <index>` in the marker file `name`, atomically and durably: the file
/// `forced-quorum` says that this node's log from `index` on (under `term`) was made by
/// force-quorum, so that the agent, when an old voter later sends a history that
/// contradicts it, knows that it is the survivor the operator chose, not the node left
/// behind.
fn write_marker(data_dir: &Path, name: &str, term: u64, index: u64) -> io::Result<()> {
    let path = data_dir.join(name);
    let staging = data_dir.join(format!("{name}.tmp"));
    let file = std::fs::File::create(&staging)?;
    io::Write::write_all(&mut &file, format!("{term} {index}\n").as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&staging, &path)?;
    std::fs::File::open(data_dir)?.sync_all()
}

/// Records that this node's history contains a force-quorum point, (term, index) of the
/// membership entry force-quorum wrote on another node: a leader's appends told it so
/// (`agent::recovery`). When this node leads, it passes the point on with its appends, so
/// that an old voter left behind by that force-quorum is refused by whichever node leads.
pub fn record_forced_history(data_dir: &Path, term: u64, index: u64) -> io::Result<()> {
    write_marker(data_dir, HISTORY_MARKER, term, index)
}

/// The newest force-quorum point this node learned from a leader ([`record_forced_history`]).
pub fn forced_history(data_dir: &Path) -> io::Result<Option<(u64, u64)>> {
    read_marker(data_dir, HISTORY_MARKER)
}

/// Where `encluster force-quorum` last forced this node's history: (term, index) of the
/// membership entry it wrote. None if it never ran here (or the data was wiped since).
pub fn forced_entry(data_dir: &Path) -> io::Result<Option<(u64, u64)>> {
    read_marker(data_dir, FORCED_MARKER)
}

/// Reads the marker file `name`: (term, index), or None if there is none.
fn read_marker(data_dir: &Path, name: &str) -> io::Result<Option<(u64, u64)>> {
    let text = match std::fs::read_to_string(data_dir.join(name)) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let mut words = text.split_whitespace().map(str::parse::<u64>);
    match (words.next(), words.next()) {
        (Some(Ok(term)), Some(Ok(index))) => Ok(Some((term, index))),
        _ => Err(io::Error::other(format!(
            "{name} in {} is not `<term> <index>`",
            data_dir.display()
        ))),
    }
}

/// The newest membership: the last membership entry in the log, else the snapshot's.
async fn last_membership(
    log_store: &mut LogStore,
    last_purged: Option<LogId>,
    snapshot_membership: StoredMembership<
        crate::alias::CommittedLeaderIdOf<crate::TypeConfig>,
        u64,
        model::NodeInfo,
    >,
) -> io::Result<(Option<LogId>, Membership)> {
    let from = last_purged.map(|id| id.index + 1).unwrap_or(0);
    let entries = log_store.try_get_log_entries(from..).await?;
    let logged = entries.iter().rev().find_map(|entry| match &entry.payload {
        EntryPayload::Membership(m) => Some((Some(entry.log_id()), m.clone())),
        _ => None,
    });
    Ok(logged.unwrap_or_else(|| {
        (
            *snapshot_membership.log_id(),
            snapshot_membership.membership().clone(),
        )
    }))
}

#[cfg(test)]
mod tests;
