//! Certificate and token rotation (issue 17): the wire types of `/v1/certs` and of token
//! listing, revocation and rotation under `/v1/tokens`.
//!
//! `POST /v1/certs/rotate` asks every node to renew its certificate; the nodes do it
//! themselves and report to the cmdb, which `GET /v1/certs` shows. A CA is replaced in two
//! steps: `POST /v1/certs/ca/begin` (both CAs trusted; nodes move to the new one) and
//! `POST /v1/certs/ca/finish` (only the new CA trusted).

use serde::{Deserialize, Serialize};

/// A certificate that expires within 30 days (in `Status::cert_warnings` and
/// `CertStatus::warnings`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CertWarning {
    /// `node <name>` or `CA`.
    pub subject: String,
    /// The node, for a node certificate.
    pub node: Option<u64>,
    /// When it expires (ms since the Unix epoch).
    pub expires_at_ms: u64,
    /// The same, as an RFC 3339 date (UTC).
    pub expires_at: String,
    /// The command that fixes it.
    pub fix: String,
    /// A sentence for the operator naming all of the above.
    pub message: String,
}

/// A CA certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaInfo {
    /// SHA-256 of its DER, hex.
    pub fingerprint: String,
    /// When it expires (ms since the Unix epoch).
    pub expires_at_ms: u64,
    /// The same, as an RFC 3339 date.
    pub expires_at: String,
}

/// One node's certificate as the node reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeCertView {
    /// The node.
    pub node: u64,
    /// Its name.
    pub name: String,
    /// Whether it reported at all (a node down since before it could has not).
    pub reported: bool,
    /// The certificate's fingerprint.
    pub fingerprint: String,
    /// The fingerprint of the CA that issued it.
    pub issuer: String,
    /// When it expires (ms since the Unix epoch).
    pub expires_at_ms: u64,
    /// The same, as an RFC 3339 date.
    pub expires_at: String,
    /// The renewal generation it answers.
    pub generation: u64,
    /// Whether the node trusts the new CA (during a CA change).
    pub trusts_next: bool,
    /// Whether the node is done: renewed for the current generation and issued by the CA
    /// it should be (the new one once every node trusts it).
    pub current: bool,
}

/// `GET /v1/certs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CertStatus {
    /// The cluster CA.
    pub ca: CaInfo,
    /// The CA replacing it, during a change.
    pub next_ca: Option<CaInfo>,
    /// `none`, or during a CA change `trusting` (nodes learn to trust the new CA),
    /// `renewing` (nodes move to certificates from it) or `ready` (finish it now).
    pub ca_change: String,
    /// The renewal generation asked for (`cert rotate` raises it).
    pub generation: u64,
    /// Every node.
    pub nodes: Vec<NodeCertView>,
    /// Certificates that expire within 30 days.
    pub warnings: Vec<CertWarning>,
}

/// `POST /v1/certs/rotate` request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RotateCerts {
    /// The new certificates' validity in seconds (default about 5 years).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_for_s: Option<u64>,
}

/// `POST /v1/certs/rotate` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RotateAnswer {
    /// The generation every node now renews to.
    pub generation: u64,
}

/// `POST /v1/certs/ca/begin` request: a new CA made by the master, or one given.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BeginCaChange {
    /// The new CA's validity in seconds, when the master makes it (default 10 years).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_for_s: Option<u64>,
    /// A CA certificate to use instead (PEM), with its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert_pem: Option<String>,
    /// The key of `ca_cert_pem` (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_key_pem: Option<String>,
}

impl std::fmt::Debug for BeginCaChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BeginCaChange")
            .field("valid_for_s", &self.valid_for_s)
            .field("ca_key_pem", &"<secret>")
            .finish_non_exhaustive()
    }
}

/// `POST /v1/certs/ca/begin` and `/v1/certs/ca/finish` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaChangeAnswer {
    /// The new CA's fingerprint.
    pub fingerprint: String,
    /// What clients should trust now (PEM): both CAs during the change, the new one after.
    pub trust_pem: String,
}

/// A stored token, without its secret (`GET /v1/tokens`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenView {
    /// The first 16 hex digits of the token's hash: enough to name it.
    pub hash_prefix: String,
    /// `admin` (an API token) or `join`.
    pub kind: String,
    /// Its label (an API token's operator).
    pub label: String,
    /// An API token's role.
    pub role: Option<String>,
    /// When it was made (ms since the Unix epoch).
    pub created_at_ms: u64,
}

/// `POST /v1/tokens/revoke` request: name the tokens by label, by hash (or its first 16
/// hex digits), or every join token.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RevokeTokens {
    /// Every token with this label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The token with this hash or hash prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Every join token.
    #[serde(default)]
    pub all_join: bool,
}

/// `POST /v1/tokens/revoke` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RevokedTokens {
    /// The tokens that stopped working.
    pub revoked: Vec<TokenView>,
}

/// `POST /v1/tokens/rotate` request: the API token labelled `label` is replaced by the
/// token whose hash is `hash` (made by the client, which alone sees the secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RotateToken {
    /// The label of the token to replace.
    pub label: String,
    /// SHA-256 of the new token, 64 lower-case hex digits.
    pub hash: String,
}
