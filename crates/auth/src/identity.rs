//! How a certificate names a node: the subject CN and a SAN URI, and reading them back.
//!
//! The SAN URI is authoritative because SANs are what verifiers look at; the CN is a fallback
//! that also makes certificates readable with `openssl x509 -text`.

use model::NodeId;
use x509_parser::extensions::GeneralName;

const NODE_CN_PREFIX: &str = "encluster-node-";
const NODE_URI_PREFIX: &str = "encluster://node/";
const CLIENT_CN_PREFIX: &str = "encluster-client ";

pub(crate) fn node_common_name(node_id: NodeId) -> String {
    format!("{NODE_CN_PREFIX}{node_id}")
}

pub(crate) fn node_uri(node_id: NodeId) -> String {
    format!("{NODE_URI_PREFIX}{node_id}")
}

pub(crate) fn client_common_name(name: &str) -> String {
    format!("{CLIENT_CN_PREFIX}{name}")
}

/// The node id in a peer certificate (from the SAN URI, else the CN), if it is a node
/// certificate.
///
/// This does not verify the certificate: call it on certificates that rustls has already
/// verified against the cluster CA, such as `ServerConnection::peer_certificates()`.
/// Client-tool certificates and certificates that fail to parse give `None`.
pub fn node_id_from_cert_der(der: &[u8]) -> Option<NodeId> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    let san = certificate.subject_alternative_name().ok().flatten();
    let uris = san
        .iter()
        .flat_map(|extension| &extension.value.general_names);
    for general_name in uris {
        if let GeneralName::URI(uri) = general_name
            && let Some(node_id) = uri.strip_prefix(NODE_URI_PREFIX).and_then(parse_node_id)
        {
            return Some(node_id);
        }
    }
    let common_name = certificate
        .subject()
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?;
    common_name
        .strip_prefix(NODE_CN_PREFIX)
        .and_then(parse_node_id)
}

/// Accepts only plain decimal digits, so "+5" or " 5" never name a node.
fn parse_node_id(text: &str) -> Option<NodeId> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().map(NodeId)
}
