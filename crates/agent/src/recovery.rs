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

/// Refuses an append from a leader that contradicts a log entry this node has committed,
/// and stops the agent: no correct Raft leader can do that (every committed entry is in
/// every later leader's log), so the cluster's history was rewritten without this node,
/// by `encluster force-quorum` on another node while this one was away (or by a voter
/// that forgot its vote). Accepting would silently replace data this node already served;
/// openraft itself only checks this with a debug assertion. The operator must choose.
pub(crate) async fn check_append(raft: &cmdb::Raft, request: &AppendEntriesRequest<TypeConfig>) {
    let metrics = cmdb::metrics(raft);
    // A deposed leader's append (a lower vote) is refused by openraft anyway, and may well
    // carry entries that lost to the committed ones: only a current leader's counts.
    let current = request.vote.partial_cmp(&metrics.vote);
    if !matches!(current, Some(Ordering::Greater | Ordering::Equal)) {
        return;
    }
    let Some(committed) = metrics.local_committed else {
        return;
    };
    let claimed: Vec<LogId> = request
        .prev_log_id
        .iter()
        .cloned()
        .chain(request.entries.iter().map(|entry| entry.log_id()))
        .filter(|id| id.index <= committed.index && *id != committed)
        .collect();
    if claimed.is_empty() {
        return;
    }
    let conflict = raft
        .with_raft_state(move |raft_state| {
            claimed.into_iter().find_map(|id| {
                let local = raft_state.log_ids.get(id.index)?;
                (local != id).then_some((id, local))
            })
        })
        .await;
    let Ok(Some((theirs, ours))) = conflict else {
        return;
    };
    tracing::error!(
        master = request.vote.leader_id().node_id,
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
