//! `encluster force-quorum`: the operator's explicit, loudly warned way out of a lost
//! majority. See `cmdb::force_single_voter` for what it does to the stored log.

use anyhow::{Context, bail};

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
