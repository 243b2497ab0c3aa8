//! Certificates and token revocations (issue 17): a CA change in progress, the renewal the
//! operator asked for, what each node reports about its own certificate, the expiry
//! warnings already given, and the tokens revoked or replaced.
//!
//! The cluster CA itself stays in `ClusterMeta`; during a CA change the new CA waits here
//! (`next_ca`) and every node trusts both. Nodes renew their own certificates (their
//! replica holds the CA key) and report the result with `ReportNodeCert`; the change ends
//! with `FinishCaChange` only once every member's certificate comes from the new CA.

use std::collections::BTreeMap;

use model::{EventKind, Millis, NodeId};
use serde::{Deserialize, Serialize};

use crate::command::CommandResult;
use crate::db::{ClusterDb, TokenKind};
use crate::limits::{REVOKED_TOKENS_MAX, TOKENS_MAX};

/// The cmdb's certificate and revocation records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CertDb {
    /// The CA replacing the cluster CA, while a change is in progress.
    pub next_ca: Option<NextCa>,
    /// The renewal generation `encluster cert rotate` asked for; a node whose certificate
    /// is of an older generation renews it.
    pub generation: u64,
    /// The validity of certificates issued from now on (seconds); `None` is the default.
    pub validity_s: Option<u64>,
    /// What each node reported about its certificate.
    pub nodes: BTreeMap<NodeId, NodeCert>,
    /// Expiry warnings given: subject (`node <name>` or `CA`) to the expiry warned about.
    pub warned: BTreeMap<String, Millis>,
    /// Revoked token hashes, so a request with one is told what happened.
    pub revoked: BTreeMap<String, RevokedToken>,
}

/// A CA being introduced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextCa {
    /// Its certificate (public).
    pub cert_pem: String,
    /// Its private key (never served by the API).
    pub key_pem: String,
    /// Its fingerprint.
    pub fingerprint: String,
    /// When the change began (the master's clock).
    pub begun_at_ms: Millis,
}

/// What a node reports about its own certificate and trust.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCert {
    /// The certificate's fingerprint.
    pub fingerprint: String,
    /// The fingerprint of the CA that issued it.
    pub issuer: String,
    /// When it expires.
    pub not_after_ms: Millis,
    /// The renewal generation it answers.
    pub generation: u64,
    /// The fingerprints of the CAs the node trusts.
    pub trusted: Vec<String>,
}

/// A revoked or replaced token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedToken {
    /// What it allowed.
    pub kind: TokenKind,
    /// Its label.
    pub label: String,
    /// When it stopped working.
    pub revoked_at_ms: Millis,
    /// Why: `revoked`, `replaced` (rotated) or `CA replaced` (a join token pins the CA).
    pub reason: String,
}

fn rejected(reason: impl Into<String>) -> CommandResult {
    CommandResult::Rejected(reason.into())
}

impl ClusterDb {
    /// `RotateCerts`: every node renews its certificate; answers the new generation.
    pub(crate) fn rotate_certs(&mut self, validity_s: Option<u64>) -> CommandResult {
        self.certs.generation += 1;
        self.certs.validity_s = validity_s;
        CommandResult::Revision(self.certs.generation)
    }

    /// `BeginCaChange`: trust a new CA beside the current one.
    pub(crate) fn begin_ca_change(&mut self, next: NextCa) -> CommandResult {
        if let Some(pending) = &self.certs.next_ca {
            return rejected(format!(
                "a CA change is already in progress (new CA {}); finish it with \
                 `encluster cert ca finish` before beginning another",
                short(&pending.fingerprint)
            ));
        }
        if next.cert_pem.is_empty() || next.key_pem.is_empty() {
            return rejected("the new CA needs a certificate and a key");
        }
        self.certs.next_ca = Some(next);
        self.certs.validity_s = None;
        CommandResult::Ok
    }

    /// The members whose certificate is not (reported as) issued by `ca`.
    pub fn nodes_not_on(&self, ca: &str) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(id, _)| {
                self.certs
                    .nodes
                    .get(id)
                    .is_none_or(|cert| cert.issuer != ca)
            })
            .map(|(_, node)| node.info.name.clone())
            .collect()
    }

    /// `FinishCaChange`: the new CA becomes the cluster CA and the old one is trusted no
    /// more; join tokens, which pin the old CA, are revoked.
    pub(crate) fn finish_ca_change(&mut self, at_ms: Millis) -> CommandResult {
        let Some(next) = self.certs.next_ca.clone() else {
            return rejected(
                "no CA change is in progress: begin one with `encluster cert ca begin`",
            );
        };
        let behind = self.nodes_not_on(&next.fingerprint);
        if !behind.is_empty() {
            return rejected(format!(
                "node(s) {} have no certificate from the new CA yet; wait for them \
                 (`encluster cert status`) and finish again",
                behind.join(", ")
            ));
        }
        self.meta.ca_cert_pem = next.cert_pem;
        self.meta.ca_key_pem = next.key_pem;
        self.certs.next_ca = None;
        self.certs.warned.remove("CA");
        let joins: Vec<String> = self
            .tokens
            .iter()
            .filter(|(_, record)| record.kind == TokenKind::Join)
            .map(|(hash, _)| hash.clone())
            .collect();
        for hash in joins {
            self.revoke(&hash, at_ms, "CA replaced");
        }
        CommandResult::Ok
    }

    /// `ReportNodeCert`: a member's own certificate and trust.
    pub(crate) fn report_node_cert(&mut self, node: NodeId, cert: NodeCert) -> CommandResult {
        if !self.nodes.contains_key(&node) {
            return rejected(format!("node {node} is not a member"));
        }
        self.certs.nodes.insert(node, cert);
        CommandResult::Ok
    }

    /// `CertExpiryWarned`: record the warning once per subject and expiry.
    pub(crate) fn cert_expiry_warned(
        &mut self,
        subject: String,
        expires_at_ms: Millis,
        fix: String,
        at_ms: Millis,
    ) -> CommandResult {
        if self.certs.warned.get(&subject) == Some(&expires_at_ms) {
            return rejected(format!("the expiry of {subject} was warned about already"));
        }
        if self.certs.warned.len() >= TOKENS_MAX && !self.certs.warned.contains_key(&subject) {
            return rejected("too many expiry warnings remembered");
        }
        self.certs.warned.insert(subject.clone(), expires_at_ms);
        self.push_event(
            at_ms,
            EventKind::CertExpiring {
                subject,
                expires_at_ms,
                fix,
            },
        );
        CommandResult::Ok
    }

    /// `RevokeTokens`: all of them stop working, or none if one is unknown.
    pub(crate) fn revoke_tokens(&mut self, hashes: Vec<String>, at_ms: Millis) -> CommandResult {
        if hashes.is_empty() {
            return rejected("no token to revoke");
        }
        if let Some(unknown) = hashes.iter().find(|hash| !self.tokens.contains_key(*hash)) {
            return rejected(format!(
                "token {} is not a stored token (revoked already?)",
                short(unknown)
            ));
        }
        for hash in hashes {
            self.revoke(&hash, at_ms, "revoked");
        }
        CommandResult::Ok
    }

    /// `ReplaceToken`: the token `old` stops working and `new` takes its kind, label and role.
    pub(crate) fn replace_token(&mut self, old: &str, new: String, at_ms: Millis) -> CommandResult {
        let Some(mut record) = self.tokens.get(old).cloned() else {
            return rejected(format!(
                "token {} is not a stored token (revoked already?)",
                short(old)
            ));
        };
        if self.tokens.contains_key(&new) {
            return rejected("the new token is already stored; make a fresh one");
        }
        let role = self.users.token_roles.get(old).copied();
        self.revoke(old, at_ms, "replaced");
        record.created_at_ms = at_ms;
        self.tokens.insert(new.clone(), record);
        if let Some(role) = role {
            self.users.token_roles.insert(new, role);
        }
        CommandResult::Ok
    }

    fn revoke(&mut self, hash: &str, at_ms: Millis, reason: &str) {
        let Some(record) = self.tokens.remove(hash) else {
            return;
        };
        self.users.token_roles.remove(hash);
        let revoked = RevokedToken {
            kind: record.kind,
            label: record.label,
            revoked_at_ms: at_ms,
            reason: reason.to_owned(),
        };
        self.certs.revoked.insert(hash.to_owned(), revoked);
        while self.certs.revoked.len() > REVOKED_TOKENS_MAX {
            let oldest = self
                .certs
                .revoked
                .iter()
                .min_by_key(|(_, record)| record.revoked_at_ms)
                .map(|(hash, _)| hash.clone())
                .expect("the revocation list is not empty");
            self.certs.revoked.remove(&oldest);
        }
    }
}

/// The first 16 hex digits of a fingerprint or hash, as messages name them.
pub fn short(hex: &str) -> &str {
    &hex[..hex.len().min(16)]
}
