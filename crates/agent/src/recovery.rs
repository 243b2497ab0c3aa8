//! `encluster force-quorum`: the operator's explicit, loudly warned way out of a lost
//! majority. See `cmdb::force_single_voter` for what it does to the stored log. Also the
//! other side of it: an old voter that returns after a force-quorum learns from the first
//! append that contradicts its committed log, and stops, telling the operator what to do.

use std::cmp::Ordering;

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

/// Checks an append from a leader against the entries this node has committed. No
/// correct Raft leader contradicts one (every committed entry is in every later leader's
/// log), so a contradiction means the history was rewritten by `encluster force-quorum`:
/// * where this node's own contradicted entry is at or after the entry force-quorum wrote
///   here (`forced`: term, index), this node is the survivor the operator chose and the
///   sender an old voter: the append is refused (the error says why) and this node goes on;
/// * otherwise this node is the one left behind, and it stops, saying what to do. Accepting
///   would silently replace data it already served (openraft only checks this with a debug
///   assertion).
pub(crate) async fn check_append(
    raft: &cmdb::Raft,
    request: &AppendEntriesRequest<TypeConfig>,
    forced: Option<(u64, u64)>,
) -> Result<(), String> {
    let Some((theirs, ours)) = contradiction(raft, request).await else {
        return Ok(());
    };
    let sender = request.vote.leader_id().node_id;
    if let Some((forced_term, forced_index)) = forced
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
    tracing::error!(
        master = sender,
        index = theirs.index,
        ours = %ours,
        theirs = %theirs,
        fix = "keep this node's config, delete its data directory (data_dir in the config) \
               and start the agent again: the master refills it; if the node was removed, \
               join it anew with `encluster join` and a join token",
        "The master contradicts a log entry this node committed: the cluster was recovered \
         with `encluster force-quorum` without this node, and writes only this node held \
         are gone from it; this node stops and must not serve with this data again"
    );
    crate::node::fail_stop(
        "Raft log",
        "the master rewrote entries this node had committed",
    )
}

/// The first entry of a current leader's append that differs from one this node has
/// committed: (theirs, ours).
async fn contradiction(
    raft: &cmdb::Raft,
    request: &AppendEntriesRequest<TypeConfig>,
) -> Option<(LogId, LogId)> {
    let metrics = cmdb::metrics(raft);
    // A deposed leader's append (a lower vote) is refused by openraft anyway, and may well
    // carry entries that lost to the committed ones: only a current leader's counts.
    let current = request.vote.partial_cmp(&metrics.vote);
    if !matches!(current, Some(Ordering::Greater | Ordering::Equal)) {
        return None;
    }
    let committed = metrics.local_committed?;
    let claimed: Vec<LogId> = request
        .prev_log_id
        .iter()
        .cloned()
        .chain(request.entries.iter().map(|entry| entry.log_id()))
        .filter(|id| id.index <= committed.index && *id != committed)
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
