//! Loading the node's certificate files into rustls configurations.

use std::sync::Arc;

use anyhow::Context;

use crate::config::TlsFiles;

/// The TLS material of a running node.
pub struct NodeTls {
    /// The cluster CA certificate, PEM.
    pub ca_pem: String,
    /// Peer listener: client certificates from the CA required.
    pub peer_server: Arc<rustls::ServerConfig>,
    /// API listener: server certificate chain (node, then CA, so joiners can pin the CA).
    pub api_server: Arc<rustls::ServerConfig>,
    /// Outgoing peer connections: presents the node certificate, trusts only the CA.
    pub peer_client: Arc<rustls::ClientConfig>,
    /// Outgoing API connections (forwarding to the master): trusts only the CA.
    pub api_client: Arc<rustls::ClientConfig>,
}

fn read(path: &std::path::Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} file {}", path.display()))
}

impl NodeTls {
    /// Load the files and build every configuration.
    pub fn load(files: &TlsFiles) -> anyhow::Result<NodeTls> {
        let ca_pem = read(&files.ca_cert, "CA certificate")?;
        let cert_pem = read(&files.cert, "node certificate")?;
        let key_pem = read(&files.key, "node key")?;
        let chain = format!("{}\n{}", cert_pem.trim_end(), ca_pem);
        Ok(NodeTls {
            peer_server: auth::peer_server_config(&ca_pem, &cert_pem, &key_pem)
                .context("the node certificate files do not form a valid TLS identity")?,
            api_server: auth::api_server_config(&chain, &key_pem)
                .context("the node certificate files do not form a valid TLS identity")?,
            peer_client: auth::client_config(&ca_pem, Some((&cert_pem, &key_pem)))
                .context("the node certificate files do not form a valid TLS identity")?,
            api_client: auth::client_config(&ca_pem, None).context("bad CA certificate")?,
            ca_pem,
        })
    }
}
