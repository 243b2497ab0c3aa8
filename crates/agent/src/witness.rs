//! The witness of a two-node cluster (issue 16, point 3): `encluster witness serve`
//! ([`server`]), a node's claims ([`claim`]), the bundle `encluster witness add` gets
//! ([`issue_bundle`]) and the wire format between them.
//!
//! A node opens a TLS connection with its node certificate, naming the cluster in the SNI
//! ([`server_name`]); the witness picks that cluster's certificate and CA, so a node of
//! another cluster fails the handshake. The node sends one line of JSON ([`ClaimRequest`])
//! and reads one back ([`ClaimReply`]). The decisions are `membership::judge_claim` (the
//! witness's) and `membership::claim_step` (the node's); the argument is in
//! ARCHITECTURE.md, "Two-node clusters and the witness".

pub mod claim;
pub mod server;

use std::io::Write;
use std::path::Path;

use membership::{Epoch, Grant};
use model::NodeId;
use serde::{Deserialize, Serialize};

/// The longest line either side sends.
pub(crate) const LINE_BYTES_MAX: usize = 1024;

/// What a node asks the witness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRequest {
    /// The log id of the two-voter membership the node claims (term, leader, index).
    pub epoch: (u64, u64, u64),
}

/// The witness's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimReply {
    /// Whether the node holds the grant for the epoch it asked.
    pub granted: bool,
    /// The grant the witness holds for the cluster now (the node's, or the one that
    /// refused it).
    pub node: u64,
    /// Its epoch.
    pub epoch: (u64, u64, u64),
}

/// The SNI name of a cluster at its witness: the CA's SHA-256 fingerprint (64 hex digits)
/// in two DNS labels.
pub fn server_name(fingerprint: &str) -> String {
    let (first, second) = fingerprint.split_at(fingerprint.len().min(32));
    format!("{first}.{second}.witness.encluster")
}

pub(crate) fn epoch_of(epoch: (u64, u64, u64)) -> Epoch {
    Epoch {
        term: epoch.0,
        leader: epoch.1,
        index: epoch.2,
    }
}

pub(crate) fn epoch_tuple(epoch: Epoch) -> (u64, u64, u64) {
    (epoch.term, epoch.leader, epoch.index)
}

/// A grant as the witness keeps it on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredGrant {
    pub(crate) node: u64,
    pub(crate) epoch: (u64, u64, u64),
}

impl From<Grant> for StoredGrant {
    fn from(grant: Grant) -> StoredGrant {
        StoredGrant {
            node: grant.node.0,
            epoch: epoch_tuple(grant.epoch),
        }
    }
}

impl From<StoredGrant> for Grant {
    fn from(stored: StoredGrant) -> Grant {
        Grant {
            node: NodeId(stored.node),
            epoch: epoch_of(stored.epoch),
        }
    }
}

/// What `POST /v1/witness` answers: a witness certificate from the cluster CA.
pub fn issue_bundle(meta: &cmdb::ClusterMeta) -> anyhow::Result<::api::WitnessBundle> {
    let ca = auth::ClusterCa::from_pem(&meta.ca_cert_pem, &meta.ca_key_pem)?;
    let cluster = ca.fingerprint();
    let name = server_name(&cluster);
    let issued = ca.issue_witness(&name)?;
    Ok(::api::WitnessBundle {
        cluster_name: meta.name.clone(),
        cluster,
        server_name: name,
        ca_cert_pem: meta.ca_cert_pem.clone(),
        cert_pem: issued.cert_pem,
        key_pem: issued.key_pem,
    })
}

/// Writes `contents` to `path` atomically and durably (a synced temporary file renamed
/// over it, then the directory synced), with mode 0600.
pub(crate) fn write_durably(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let staging = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&staging)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&staging, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;
