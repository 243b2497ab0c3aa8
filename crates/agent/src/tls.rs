//! Loading the node's certificate files into rustls configurations, and replacing them
//! while the node runs (`encluster cert rotate`, see `certs`).
//!
//! The configurations come from one [`auth::ReloadableTls`], so a renewed certificate or a
//! changed set of trusted CAs serves every new connection (peer and API, in and out) at
//! once, without a restart, while open connections keep theirs.
//!
//! Files are replaced crash-safely: the new key and certificate are written beside the old
//! (`*.new`), then the key is renamed into place and the certificate last. A crash between
//! the two renames leaves `node.pem.new`, and the next start completes the swap before it
//! reads anything.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::config::TlsFiles;

/// The TLS material of a running node.
pub struct NodeTls {
    /// The CA certificates trusted at start, PEM.
    pub ca_pem: String,
    /// Peer listener: client certificates from the CA required.
    pub peer_server: Arc<rustls::ServerConfig>,
    /// API listener: server certificate chain (node, then CA, so joiners can pin the CA).
    pub api_server: Arc<rustls::ServerConfig>,
    /// Outgoing peer connections: presents the node certificate, trusts only the CA.
    pub peer_client: Arc<rustls::ClientConfig>,
    /// Outgoing API connections (forwarding to the master): trusts only the CA.
    pub api_client: Arc<rustls::ClientConfig>,
    /// What all of the above read at each handshake.
    pub reloadable: Arc<auth::ReloadableTls>,
    /// Where the material lives on disk.
    pub files: TlsFiles,
}

fn read(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} file {}", path.display()))
}

/// The wall clock as rustls takes it.
pub(crate) fn unix_now() -> rustls::pki_types::UnixTime {
    rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_millis(
        crate::clock::now_ms(),
    ))
}

impl NodeTls {
    /// Load the files and build every configuration.
    pub fn load(files: &TlsFiles) -> anyhow::Result<NodeTls> {
        finish_swap(files)?;
        let material = auth::TlsMaterial {
            trust_pem: read(&files.ca_cert, "CA certificate")?,
            cert_pem: read(&files.cert, "node certificate")?,
            key_pem: read(&files.key, "node key")?,
        };
        let reloadable = auth::ReloadableTls::new(&material, unix_now())
            .context("the node certificate files do not form a valid TLS identity")?;
        Ok(NodeTls {
            peer_server: reloadable.peer_server_config()?,
            api_server: reloadable.api_server_config()?,
            peer_client: reloadable.client_config(true)?,
            api_client: reloadable.client_config(false)?,
            ca_pem: material.trust_pem,
            reloadable,
            files: files.clone(),
        })
    }
}

fn pending(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// Completes a replacement a crash interrupted (see the module docs).
fn finish_swap(files: &TlsFiles) -> anyhow::Result<()> {
    let cert_new = pending(&files.cert);
    if !cert_new.exists() {
        return Ok(());
    }
    let key_new = pending(&files.key);
    if key_new.exists() {
        std::fs::rename(&key_new, &files.key)
            .with_context(|| format!("cannot move {} into place", key_new.display()))?;
    }
    std::fs::rename(&cert_new, &files.cert)
        .with_context(|| format!("cannot move {} into place", cert_new.display()))
}

/// Writes `text` to `path` through a new file and a rename, so a reader sees the old or
/// the new content, never a part.
pub(crate) fn write_atomically(path: &Path, text: &str, secret: bool) -> anyhow::Result<()> {
    // The CA file may be shared (`init --local` gives every node `../ca.pem`): a name of
    // this process's own keeps two writers from renaming each other's file.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let serial = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}-{serial}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    write_new(&tmp, text, secret)?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}

fn write_new(path: &Path, text: &str, secret: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Replaces the node's key and certificate files (see the module docs for the order).
pub(crate) fn write_identity(
    files: &TlsFiles,
    cert_pem: &str,
    key_pem: &str,
) -> anyhow::Result<()> {
    let key_new = pending(&files.key);
    let cert_new = pending(&files.cert);
    write_new(&key_new, key_pem, true)?;
    write_new(&cert_new, cert_pem, false)?;
    std::fs::rename(&key_new, &files.key)
        .with_context(|| format!("cannot replace {}", files.key.display()))?;
    std::fs::rename(&cert_new, &files.cert)
        .with_context(|| format!("cannot replace {}", files.cert.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> TlsFiles {
        TlsFiles {
            ca_cert: dir.join("ca.pem"),
            cert: dir.join("node.pem"),
            key: dir.join("node.key"),
        }
    }

    #[test]
    fn a_replacement_interrupted_between_the_renames_is_completed_at_the_next_start() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let files = files(dir.path());
        let ca = auth::ClusterCa::generate("c").expect("a CA");
        let old = ca
            .issue_node(model::NodeId(1), &["localhost".into()])
            .expect("a cert");
        let new = ca
            .issue_node(model::NodeId(1), &["localhost".into()])
            .expect("a cert");
        std::fs::write(&files.ca_cert, ca.cert_pem()).expect("write");
        std::fs::write(&files.cert, &old.cert_pem).expect("write");
        // The crash: the new key is in place, the new certificate still beside the old.
        std::fs::write(&files.key, &new.key_pem).expect("write");
        std::fs::write(pending(&files.cert), &new.cert_pem).expect("write");
        let tls = NodeTls::load(&files).expect("the swap is completed and the files load");
        assert!(tls.reloadable.material().cert_pem == new.cert_pem);
        assert!(!pending(&files.cert).exists());
    }
}
