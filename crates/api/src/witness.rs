//! The witness of a two-node cluster (issue 16): `POST /v1/witness` answers what
//! `encluster witness serve` needs to serve this cluster.

use serde::{Deserialize, Serialize};

/// A certificate for a witness, issued by the cluster CA, with what the witness needs to
/// check the nodes. Secret: it holds the witness's private key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WitnessBundle {
    /// The cluster's name, for people.
    pub cluster_name: String,
    /// The cluster's id: SHA-256 of its CA certificate, lower-case hex.
    pub cluster: String,
    /// The name the nodes ask for (TLS SNI) and the certificate is issued to.
    pub server_name: String,
    /// The cluster CA certificate, PEM; the witness accepts only nodes it issued.
    pub ca_cert_pem: String,
    /// The witness's certificate, PEM.
    pub cert_pem: String,
    /// The witness's private key, PEM.
    pub key_pem: String,
}

impl std::fmt::Debug for WitnessBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitnessBundle")
            .field("cluster", &self.cluster)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}
