//! Certificate renewal and CA changes on this node, and expiry warnings (issue 17).
//!
//! Every node keeps its own certificate current: whenever what it reads in the cmdb
//! changes (and once a minute), it compares what the cmdb asks for with what it has, and
//! * trusts the cluster CA, plus the new CA while a change is in progress;
//! * renews its certificate when `encluster cert rotate` raised the generation past its
//!   own, or when its certificate is not from the CA it should use: the new CA once every
//!   node reports that it trusts it, the cluster CA otherwise. Its replica holds the CA
//!   keys, so it signs locally; no request crosses the network;
//! * swaps the TLS material in place ([`auth::ReloadableTls`]) after writing the files, so
//!   new connections use it at once and a restart finds it;
//! * reports its certificate and trust with `ReportNodeCert`.
//!
//! The master also records a `CertExpiring` event, once per certificate, when a node's
//! certificate or the CA expires within [`WARN_BEFORE_MS`]; `status` shows the same
//! warnings ([`cert_warnings`]).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cmdb::{ClusterDb, Command, NodeCert, Raft, SharedDb};
use model::{Millis, NodeId};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{AgentConfig, TlsFiles};
use crate::peer::PeerClient;
use crate::tls::{unix_now, write_atomically, write_identity};

/// How long before expiry a certificate is warned about.
pub(crate) const WARN_BEFORE_MS: Millis = 30 * 24 * 60 * 60 * 1000;
/// How often a node checks its certificate without a cmdb change.
const CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// What the cmdb asks of one node's TLS.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Wanted {
    /// The CAs to trust, PEM, the cluster CA first.
    pub(crate) trust_pem: String,
    /// Their fingerprints.
    pub(crate) trust: Vec<String>,
    /// The CA to issue from: certificate and key.
    pub(crate) issuer_cert_pem: String,
    pub(crate) issuer_key_pem: String,
    pub(crate) issuer: String,
    /// The renewal generation.
    pub(crate) generation: u64,
    /// The validity of a certificate issued now.
    pub(crate) validity: Duration,
    /// What the node reported last.
    pub(crate) record: Option<NodeCert>,
}

/// What the cmdb asks of `node`; `None` before the cluster has a CA.
pub(crate) fn wanted(db: &ClusterDb, node: NodeId) -> Option<Wanted> {
    if db.meta.ca_cert_pem.is_empty() {
        return None;
    }
    let ca = auth::fingerprint_pem(&db.meta.ca_cert_pem).ok()?;
    let mut trust = vec![ca.clone()];
    let mut trust_pem = db.meta.ca_cert_pem.clone();
    let mut issuer = (db.meta.ca_cert_pem.clone(), db.meta.ca_key_pem.clone(), ca);
    if let Some(next) = &db.certs.next_ca {
        trust.push(next.fingerprint.clone());
        trust_pem = format!("{}\n{}", trust_pem.trim_end(), next.cert_pem);
        let all_trust_next = db.nodes.keys().all(|id| {
            db.certs
                .nodes
                .get(id)
                .is_some_and(|cert| cert.trusted.contains(&next.fingerprint))
        });
        if all_trust_next {
            issuer = (
                next.cert_pem.clone(),
                next.key_pem.clone(),
                next.fingerprint.clone(),
            );
        }
    }
    Some(Wanted {
        trust_pem,
        trust,
        issuer_cert_pem: issuer.0,
        issuer_key_pem: issuer.1,
        issuer: issuer.2,
        generation: db.certs.generation,
        validity: db
            .certs
            .validity_s
            .map(Duration::from_secs)
            .unwrap_or_else(auth::leaf_validity_default),
        record: db.certs.nodes.get(&node).cloned(),
    })
}

/// The generation of the certificate with fingerprint `current`: the one reported with
/// it, or (never reported: just made or joined) the generation asked for.
pub(crate) fn generation_of(wanted: &Wanted, current: &str) -> u64 {
    match &wanted.record {
        Some(record) if record.fingerprint == current => record.generation,
        _ => wanted.generation,
    }
}

/// Everything in the cmdb a certificate check reads, and whether this node is master
/// (which adds the expiry warnings): when none of it changed, a check would find nothing
/// new. Time-driven changes (a certificate entering its warning window) wait for the tick.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CertInputs {
    ca_cert_pem: String,
    ca_key_pem: String,
    certs: cmdb::CertDb,
    nodes: Vec<(NodeId, String)>,
    master: bool,
}

impl CertInputs {
    pub(crate) fn of(db: &ClusterDb, master: bool) -> CertInputs {
        CertInputs {
            ca_cert_pem: db.meta.ca_cert_pem.clone(),
            ca_key_pem: db.meta.ca_key_pem.clone(),
            certs: db.certs.clone(),
            nodes: db
                .nodes
                .iter()
                .map(|(id, node)| (*id, node.info.name.clone()))
                .collect(),
            master,
        }
    }
}

/// Keeps this node's certificate current (see the module docs).
pub(crate) struct CertKeeper {
    pub(crate) node: NodeId,
    pub(crate) sans: Vec<String>,
    pub(crate) files: TlsFiles,
    pub(crate) tls: Arc<auth::ReloadableTls>,
    pub(crate) raft: Raft,
    pub(crate) shared: SharedDb,
    pub(crate) client: PeerClient,
}

impl CertKeeper {
    /// The keeper of the node `config` describes.
    pub(crate) fn new(
        config: &AgentConfig,
        tls: &crate::tls::NodeTls,
        raft: Raft,
        shared: SharedDb,
        client: PeerClient,
    ) -> CertKeeper {
        CertKeeper {
            node: NodeId(config.node_id),
            sans: crate::setup::node_sans(&config.peer_addr, &config.api_addr),
            files: tls.files.clone(),
            tls: tls.reloadable.clone(),
            raft,
            shared,
            client,
        }
    }

    /// Runs until `shutdown`.
    ///
    /// A change of the cmdb that leaves everything a check reads alone ([`CertInputs`], most
    /// writes) is skipped: a check parses PEM and verifies a signature, which on every
    /// write cost the master about a third of a write's CPU time (`perf`, 2026-12-08).
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let mut applied = self.shared.subscribe();
        let mut tick = tokio::time::interval(CHECK_INTERVAL);
        let mut checked: Option<CertInputs> = None;
        loop {
            let inputs = self
                .shared
                .read(|db| CertInputs::of(db, self.raft.is_leader()));
            if checked.as_ref() != Some(&inputs) {
                checked = self.check().await.then_some(inputs);
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = applied.changed() => if changed.is_err() { return },
                _ = tick.tick() => checked = None,
            }
        }
    }

    /// One check; `false` when part of it failed (the next change or tick checks again).
    async fn check(&self) -> bool {
        let mut done = true;
        if let Err(error) = self.reconcile().await {
            let error = format!("{error:#}");
            warn!(%error, "Cannot bring the node certificate up to date");
            done = false;
        }
        if self.raft.is_leader()
            && let Err(error) = self.warn_expiry().await
        {
            warn!(%error, "Cannot record a certificate expiry warning");
            done = false;
        }
        done
    }

    async fn reconcile(&self) -> anyhow::Result<()> {
        let Some(wanted) = self.shared.read(|db| wanted(db, self.node)) else {
            return Ok(());
        };
        let now = unix_now();
        let mut material = self.tls.material();
        let current = auth::fingerprint_pem(&material.cert_pem)?;
        let mut generation = generation_of(&wanted, &current);
        let from_issuer = auth::issued_by(&material.cert_pem, &wanted.issuer_cert_pem, now);
        let renew = !from_issuer || generation < wanted.generation;
        let trusted = auth::bundle_fingerprints(&material.trust_pem)?;
        let retrust = trusted != wanted.trust;
        if renew {
            let ca = auth::ClusterCa::from_pem(&wanted.issuer_cert_pem, &wanted.issuer_key_pem)
                .context("the CA in the cmdb is unusable")?;
            let issued = ca.issue_node_valid_for(self.node, &self.sans, wanted.validity)?;
            material.cert_pem = issued.cert_pem;
            material.key_pem = issued.key_pem;
            generation = wanted.generation;
        }
        if renew || retrust {
            material.trust_pem = wanted.trust_pem.clone();
            // Checked in full before a file is touched.
            auth::ReloadableTls::new(&material, now)?;
            if renew {
                write_identity(&self.files, &material.cert_pem, &material.key_pem)?;
            }
            if retrust {
                write_atomically(&self.files.ca_cert, &material.trust_pem, false)?;
            }
            self.tls.reload(&material, now)?;
            info!(
                renewed = renew,
                trusted_cas = wanted.trust.len(),
                generation,
                "Node certificate updated"
            );
        }
        let (_, not_after_s) = auth::cert_validity(&material.cert_pem)?;
        let report = NodeCert {
            fingerprint: auth::fingerprint_pem(&material.cert_pem)?,
            issuer: wanted.issuer.clone(),
            not_after_ms: u64::try_from(not_after_s).unwrap_or(0).saturating_mul(1000),
            generation,
            trusted: wanted.trust.clone(),
        };
        if wanted.record.as_ref() != Some(&report) {
            let command = Command::ReportNodeCert {
                node: self.node,
                cert: report,
            };
            crate::resources::propose(&self.raft, &self.shared, &self.client, &command)
                .await
                .map_err(|error| anyhow::anyhow!("cannot report the certificate: {error}"))?;
        }
        Ok(())
    }

    /// On the master: an event for each certificate that newly falls within the warning.
    async fn warn_expiry(&self) -> Result<(), String> {
        let now = crate::clock::now_ms();
        let due: Vec<_> = self.shared.read(|db| {
            cert_warnings(db, now)
                .into_iter()
                .filter(|w| db.certs.warned.get(&w.subject) != Some(&w.expires_at_ms))
                .collect()
        });
        for warning in due {
            let (subject, expires_at) = (&warning.subject, &warning.expires_at);
            warn!(%subject, %expires_at, "Certificate expires soon");
            let command = Command::CertExpiryWarned {
                subject: warning.subject,
                expires_at_ms: warning.expires_at_ms,
                fix: warning.fix,
                at_ms: now,
            };
            crate::resources::propose(&self.raft, &self.shared, &self.client, &command).await?;
        }
        Ok(())
    }
}

/// An RFC 3339 date (UTC, seconds) for `at_ms`.
pub(crate) fn date(at_ms: Millis) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_millis(at_ms))
        .to_string()
}

fn ca_expiry_ms(pem: &str) -> Option<Millis> {
    let (_, not_after_s) = auth::cert_validity(pem).ok()?;
    Some(u64::try_from(not_after_s).ok()?.saturating_mul(1000))
}

/// Every node certificate and CA that expires within [`WARN_BEFORE_MS`] of `now_ms`.
pub(crate) fn cert_warnings(db: &ClusterDb, now_ms: Millis) -> Vec<::api::CertWarning> {
    let soon = now_ms.saturating_add(WARN_BEFORE_MS);
    let mut warnings = Vec::new();
    for (id, node) in &db.nodes {
        if let Some(cert) = db.certs.nodes.get(id).filter(|c| c.not_after_ms <= soon) {
            let subject = format!("node {}", node.info.name);
            warnings.push(warning(
                subject,
                Some(id.0),
                cert.not_after_ms,
                now_ms,
                ROTATE,
            ));
        }
    }
    let ca_fix = match db.certs.next_ca {
        Some(_) => "encluster cert ca finish",
        None => "encluster cert ca begin",
    };
    if let Some(at) = ca_expiry_ms(&db.meta.ca_cert_pem).filter(|at| *at <= soon) {
        warnings.push(warning("CA".into(), None, at, now_ms, ca_fix));
    }
    let next = db.certs.next_ca.as_ref();
    if let Some(at) = next
        .and_then(|n| ca_expiry_ms(&n.cert_pem))
        .filter(|at| *at <= soon)
    {
        let fix = "encluster cert ca begin (after finishing the change in progress)";
        warnings.push(warning("new CA".into(), None, at, now_ms, fix));
    }
    warnings
}

const ROTATE: &str = "encluster cert rotate";

fn warning(
    subject: String,
    node: Option<u64>,
    expires_at_ms: Millis,
    now_ms: Millis,
    fix: &str,
) -> ::api::CertWarning {
    let expires_at = date(expires_at_ms);
    let when = if expires_at_ms <= now_ms {
        format!("expired on {expires_at}")
    } else {
        let days = (expires_at_ms - now_ms) / (24 * 60 * 60 * 1000);
        format!("expires on {expires_at} (in {days} days)")
    };
    ::api::CertWarning {
        message: format!("the certificate of {subject} {when}; run `{fix}`"),
        subject,
        node,
        expires_at_ms,
        expires_at,
        fix: fix.to_owned(),
    }
}

#[cfg(test)]
mod tests;
