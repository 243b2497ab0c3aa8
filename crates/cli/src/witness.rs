//! `encluster witness add`: a certificate for the cluster's witness from the cluster CA,
//! written to a file (0600, it holds the witness's key) that `encluster witness serve`
//! reads on the witness's machine (issue 16).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;

use crate::ApiArgs;
use crate::config::connect_target;
use crate::errors::explain;

/// Asks the cluster for a witness certificate and writes the bundle to `out`, which must
/// not exist yet.
pub async fn add(api: &ApiArgs, out: &Path) -> anyhow::Result<()> {
    let (client, target) = connect_target(api)?;
    let bundle = client
        .add_witness()
        .await
        .map_err(|error| explain(error, &target))?;
    let text = serde_json::to_string_pretty(&bundle)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| {
            format!(
                "cannot create {} (it must not exist yet; choose another file)",
                out.display()
            )
        })?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    println!(
        "wrote the witness bundle of cluster {} to {} (secret: it holds the witness's key)\n\
         on the witness's machine: put it in the witness directory and run\n  \
         encluster witness serve --dir <directory> --listen <ip:port>\n\
         on every node: add to the node config\n  [witness]\n  address = \"<ip:port>\"",
        bundle.cluster_name,
        out.display()
    );
    Ok(())
}
