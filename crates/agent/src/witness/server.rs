//! `encluster witness serve`: the tie-breaker of two-node clusters, on any third machine.
//!
//! Its directory holds one bundle per cluster served (`<anything>.json`, what `encluster
//! witness add` wrote) and, beside it, the grant it holds for that cluster
//! (`<cluster id>.grant`), written durably before a node is told it holds it, so a
//! restarted witness never grants an epoch again to another node. It holds no data of the
//! clusters, only that one record each.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use membership::{Grant, Verdict, judge_claim};
use model::NodeId;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{ClaimReply, ClaimRequest, LINE_BYTES_MAX, StoredGrant, epoch_of, write_durably};

/// How long a node has to finish its claim, handshake included.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// One cluster the witness serves.
struct Cluster {
    name: String,
    id: String,
    tls: Arc<rustls::ServerConfig>,
    grant_path: PathBuf,
    grant: tokio::sync::Mutex<Option<Grant>>,
}

/// Every cluster served, by the SNI name its nodes ask for.
pub struct Witness {
    clusters: BTreeMap<String, Arc<Cluster>>,
}

impl Witness {
    /// Reads every bundle in `dir`, and the grant stored beside each.
    pub fn load(dir: &Path) -> anyhow::Result<Witness> {
        let mut clusters = BTreeMap::new();
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the witness directory {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            let cluster = load_cluster(dir, &path)?;
            info!(
                cluster = %cluster.name,
                id = %cluster.id,
                grant = ?cluster.grant.try_lock().ok().map(|grant| *grant),
                "Witness serves a cluster"
            );
            clusters.insert(super::server_name(&cluster.id), Arc::new(cluster));
        }
        if clusters.is_empty() {
            bail!(
                "{} holds no cluster bundle (*.json): on the cluster, run `encluster witness \
                 add --out <file>` and copy the file here",
                dir.display()
            );
        }
        Ok(Witness { clusters })
    }

    /// The ids of the clusters served.
    pub fn clusters(&self) -> Vec<String> {
        self.clusters.values().map(|c| c.id.clone()).collect()
    }
}

fn load_cluster(dir: &Path, path: &Path) -> anyhow::Result<Cluster> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the bundle {}", path.display()))?;
    let bundle: ::api::WitnessBundle = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a witness bundle written by `encluster witness add`",
            path.display()
        )
    })?;
    let id = auth::fingerprint_pem(&bundle.ca_cert_pem)
        .with_context(|| format!("the CA certificate in {}", path.display()))?;
    if id != bundle.cluster {
        bail!(
            "{}: the cluster id does not match its CA certificate",
            path.display()
        );
    }
    let tls = auth::peer_server_config(&bundle.ca_cert_pem, &bundle.cert_pem, &bundle.key_pem)
        .with_context(|| format!("the certificate in {}", path.display()))?;
    let grant_path = dir.join(format!("{id}.grant"));
    let grant = match std::fs::read(&grant_path) {
        Ok(bytes) => {
            let stored: StoredGrant = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a grant record", grant_path.display()))?;
            Some(Grant::from(stored))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", grant_path.display()));
        }
    };
    Ok(Cluster {
        name: bundle.cluster_name,
        id,
        tls,
        grant_path,
        grant: tokio::sync::Mutex::new(grant),
    })
}

/// Serves claims on `listener` until `shutdown`.
pub async fn serve(
    witness: Witness,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let witness = Arc::new(witness);
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            accepted = listener.accept() => accepted.context("accept failed")?,
        };
        let witness = witness.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(CONNECTION_TIMEOUT, handle(&witness, stream)).await {
                Ok(Ok(())) => {}
                Ok(Err(problem)) => warn!(%peer, problem, "Witness refused a connection"),
                Err(_) => warn!(%peer, "Witness connection timed out"),
            }
        });
    }
}

async fn handle(witness: &Witness, stream: TcpStream) -> Result<(), String> {
    let acceptor =
        tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
    let start = acceptor.await.map_err(|e| format!("TLS hello: {e}"))?;
    let name = start.client_hello().server_name().map(str::to_owned);
    let Some(cluster) = name.as_ref().and_then(|name| witness.clusters.get(name)) else {
        return Err(format!("no cluster served under the name {name:?}"));
    };
    let mut tls = start
        .into_stream(cluster.tls.clone())
        .await
        .map_err(|e| format!("TLS handshake for cluster {}: {e}", cluster.name))?;
    let node = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(|cert| auth::node_id_from_cert_der(cert))
        .ok_or("the client certificate names no node")?;
    let mut line = String::new();
    let mut reader = BufReader::new((&mut tls).take(LINE_BYTES_MAX as u64));
    reader
        .read_line(&mut line)
        .await
        .map_err(|e| format!("reading the claim: {e}"))?;
    let request: ClaimRequest =
        serde_json::from_str(line.trim_end()).map_err(|e| format!("bad claim: {e}"))?;
    let reply = decide(cluster, node, request)
        .await
        .map_err(|e| format!("cannot store the grant: {e}"))?;
    let mut text = serde_json::to_string(&reply).map_err(|e| e.to_string())?;
    text.push('\n');
    tls.write_all(text.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    tls.shutdown().await.map_err(|e| e.to_string())
}

/// Judges a claim; a new grant is on disk before the answer goes out.
async fn decide(
    cluster: &Cluster,
    node: NodeId,
    request: ClaimRequest,
) -> std::io::Result<ClaimReply> {
    let mut held = cluster.grant.lock().await;
    let verdict = judge_claim(*held, node, epoch_of(request.epoch));
    let (granted, grant) = match verdict {
        Verdict::Granted(grant) => {
            let stored = serde_json::to_vec(&StoredGrant::from(grant))?;
            write_durably(&cluster.grant_path, &stored)?;
            *held = Some(grant);
            info!(cluster = %cluster.name, %node, epoch = ?request.epoch, "Witness granted");
            (true, grant)
        }
        Verdict::Held(grant) => (true, grant),
        Verdict::Refused { held } => {
            warn!(
                cluster = %cluster.name,
                %node,
                epoch = ?request.epoch,
                holder = %held.node,
                held = ?held.epoch,
                "Witness refused a claim: another node holds the grant"
            );
            (false, held)
        }
    };
    let stored = StoredGrant::from(grant);
    Ok(ClaimReply {
        granted,
        node: stored.node,
        epoch: stored.epoch,
    })
}
