//! A node's side of the witness: watch for a lost quorum in a two-voter membership, claim
//! the witness's grant (`membership::claim_step`), and on a grant make this node the only
//! voter.
//!
//! The rewrite needs the log store closed, so a granted node records the grant durably in
//! its data directory (`witness-grant`: term, leader and index of the membership), and the
//! agent restarts itself in place (exec, the same process id): on start, before the store
//! opens, [`apply_pending`] rewrites the membership (`cmdb::force_single_voter_granted`)
//! and removes the record. A crash anywhere in between is the same: the next start finds
//! the record and finishes, or finds the rewrite done (the grant is then void) and removes
//! it. A restart is what the agent already survives: resources are fenced by their leases,
//! and the restarted master waits for its own old lease before starting anything.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use membership::{ClaimInput, ClaimStep, claim_step};
use model::{BootMs, NodeId};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::{ClaimReply, ClaimRequest, LINE_BYTES_MAX, epoch_tuple, write_durably};
use crate::clock::boot_ms;
use crate::config::AgentConfig;

/// The record of a grant not yet acted on, in the data directory.
const GRANT_RECORD: &str = "witness-grant";

/// How often the node looks at its quorum.
const TICK: Duration = Duration::from_millis(100);

/// Shortest time between two claims, so a refused or unreachable node does not hammer.
const RETRY: Duration = Duration::from_secs(1);

/// How long a claim may take, connection and handshake included.
const CLAIM_TIMEOUT: Duration = Duration::from_secs(2);

/// What the claim task needs.
pub struct ClaimSetup {
    pub me: u64,
    pub address: String,
    pub server_name: String,
    pub tls: Arc<rustls::ClientConfig>,
    pub master_wait: Duration,
    pub follower_wait: Duration,
    pub data_dir: PathBuf,
}

impl ClaimSetup {
    /// From the node config and its CA; `None` when the config names no witness.
    pub fn new(
        config: &AgentConfig,
        ca_pem: &str,
        tls: Arc<rustls::ClientConfig>,
    ) -> anyhow::Result<Option<ClaimSetup>> {
        let Some(witness) = &config.witness else {
            return Ok(None);
        };
        let fingerprint = auth::fingerprint_pem(ca_pem).context("the cluster CA certificate")?;
        Ok(Some(ClaimSetup {
            me: config.node_id,
            address: witness.address.clone(),
            server_name: super::server_name(&fingerprint),
            tls,
            master_wait: witness.master_wait,
            follower_wait: witness.follower_wait,
            data_dir: config.data_dir.clone(),
        }))
    }
}

/// Watches this node's quorum and claims the witness's grant when `claim_step` says so; on
/// a grant it restarts the agent, which then makes this node the only voter.
pub async fn run(setup: ClaimSetup, raft: cmdb::Raft, shutdown: CancellationToken) {
    let mut lost_since: Option<BootMs> = None;
    let mut was_master = false;
    let mut had_quorum = false;
    // Elections are off while the witness says the other node holds this node's epoch.
    let mut yielded: Option<membership::Epoch> = None;
    let mut next_claim = BootMs(0);
    let mut ticker = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let metrics = cmdb::metrics(&raft);
        let now = boot_ms();
        if has_quorum(&raft, &metrics, setup.me).await {
            lost_since = None;
            was_master = metrics.current_leader == Some(setup.me);
            had_quorum = true;
            resume_elections(&raft, &mut yielded);
            continue;
        }
        let since = *lost_since.get_or_insert(now);
        let stored = metrics.membership_config.clone();
        let Some(log_id) = stored.log_id() else {
            continue;
        };
        let configs = stored.membership().get_joint_config();
        let voters: BTreeSet<NodeId> = if configs.len() == 1 {
            configs[0].iter().copied().map(NodeId).collect()
        } else {
            BTreeSet::new()
        };
        let input = ClaimInput {
            me: NodeId(setup.me),
            voters: (configs.len() == 1).then_some(&voters),
            epoch: super::epoch_of(cmdb::membership_epoch(log_id)),
            quorum_lost_ms: Some(now.0.saturating_sub(since.0)),
            had_quorum,
            was_master,
            master_wait_ms: millis(setup.master_wait),
            follower_wait_ms: millis(setup.follower_wait),
        };
        if yielded.is_some_and(|at| at != input.epoch) {
            resume_elections(&raft, &mut yielded);
        }
        let ClaimStep::Claim(epoch) = claim_step(&input) else {
            continue;
        };
        if now < next_claim {
            continue;
        }
        next_claim = BootMs(now.0 + millis(RETRY));
        let request = ClaimRequest {
            epoch: epoch_tuple(epoch),
        };
        match claim(&setup, request).await {
            Ok(reply) if reply.granted => take_over(&setup, request),
            Ok(reply) => {
                warn!(
                    epoch = ?request.epoch,
                    holder = reply.node,
                    held = ?reply.epoch,
                    "The witness refused this node's claim: the other node holds the cluster; \
                     this node holds nothing and stops its elections until it hears from it"
                );
                // Its elections would only raise its term past the holder's and make it
                // refuse the holder's appends when they reach it.
                if yielded.is_none() {
                    raft.runtime_config().elect(false);
                    yielded = Some(epoch);
                }
            }
            Err(problem) => warn!(
                witness = %setup.address,
                %problem,
                "Without a quorum and cannot reach the witness: this node holds nothing"
            ),
        }
    }
}

/// Elections back on: this node has a quorum again, or a newer membership.
fn resume_elections(raft: &cmdb::Raft, yielded: &mut Option<membership::Epoch>) {
    if yielded.take().is_some() {
        raft.runtime_config().elect(true);
        info!("Elections resume on this node");
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// As master: a quorum acknowledged it lately enough to grant leases. Elsewhere: a master
/// other than this node touched its vote within the longest election timeout.
async fn has_quorum(raft: &cmdb::Raft, metrics: &cmdb::RaftMetrics, me: u64) -> bool {
    use openraft::Instant as _;
    if metrics.state.is_leader() {
        return crate::master::quorum_ack_age(metrics).is_some();
    }
    if metrics.current_leader.is_none_or(|leader| leader == me) {
        return false;
    }
    let silence_max = Duration::from_millis(raft.config().election_timeout_max);
    let touched = raft
        .with_raft_state(|state| state.vote_last_modified().map(|at| at.elapsed()))
        .await;
    touched.ok().flatten().is_some_and(|age| age <= silence_max)
}

/// One claim: TLS with the node certificate, the cluster named in the SNI, one line each
/// way.
pub(crate) async fn claim(setup: &ClaimSetup, request: ClaimRequest) -> Result<ClaimReply, String> {
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(&setup.address)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let name = rustls_pki_types::ServerName::try_from(setup.server_name.clone())
            .map_err(|e| e.to_string())?;
        let mut tls = tokio_rustls::TlsConnector::from(setup.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let mut line = serde_json::to_string(&request).map_err(|e| e.to_string())?;
        line.push('\n');
        tls.write_all(line.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        BufReader::new(tls.take(LINE_BYTES_MAX as u64))
            .read_line(&mut answer)
            .await
            .map_err(|e| format!("reading the answer: {e}"))?;
        serde_json::from_str::<ClaimReply>(answer.trim_end())
            .map_err(|e| format!("bad answer {answer:?}: {e}"))
    };
    tokio::time::timeout(CLAIM_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err("timed out".to_owned()))
}

/// The witness granted this node the cluster: record it, and restart to act on it.
fn take_over(setup: &ClaimSetup, request: ClaimRequest) -> ! {
    let (term, leader, index) = request.epoch;
    let record = format!("{term} {leader} {index}\n");
    if let Err(error) = write_durably(&setup.data_dir.join(GRANT_RECORD), record.as_bytes()) {
        crate::node::fail_stop(
            "witness",
            &format!("cannot record the witness's grant: {error}"),
        );
    }
    error!(
        epoch = ?request.epoch,
        "The witness granted this node the cluster: it restarts as the only voter"
    );
    restart()
}

/// Replaces this process with a fresh agent, same arguments, same process id.
fn restart() -> ! {
    use std::os::unix::process::CommandExt;
    let cause = match std::env::current_exe() {
        Ok(exe) => std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .exec()
            .to_string(),
        Err(error) => error.to_string(),
    };
    crate::node::fail_stop("witness", &format!("cannot restart the agent: {cause}"))
}

/// On start, before the store opens: act on a grant recorded by the previous run.
pub async fn apply_pending(data_dir: &Path, me: u64) -> anyhow::Result<()> {
    let path = data_dir.join(GRANT_RECORD);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let numbers: Vec<u64> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not a grant record", path.display()))?;
    let [term, leader, index] = numbers[..] else {
        anyhow::bail!("{} is not a grant record", path.display());
    };
    match cmdb::force_single_voter_granted(data_dir, me, (term, leader, index)).await {
        Ok(report) => warn!(
            voters_before = ?report.voters_before,
            term = report.term,
            index = report.index,
            "Granted by the witness: this node is now the only voter; the other rejoins as a \
             learner and votes again once it is back"
        ),
        Err(error) => info!(%error, "A witness grant recorded before is void"),
    }
    std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    std::fs::File::open(data_dir)?.sync_all()?;
    Ok(())
}
