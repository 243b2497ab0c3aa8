//! `encluster cert ...` and the token commands of issue 17: `cert status`, `cert rotate`,
//! the two-step `cert ca begin` / `cert ca finish`, and `token list`, `token revoke`,
//! `token rotate`.
//!
//! The nodes renew their certificates themselves; these commands ask for it and wait until
//! every node reports that it has. The CLI trusts the CAs in its own CA file, so `cert ca
//! begin` writes both CAs there and `cert ca finish` only the new one (atomically: a
//! reader sees the old or the new file, never a part).

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::config::{Origin, Target, client_for};
use crate::errors::explain;
use crate::render::render_json;

/// `encluster cert ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum CertCommand {
    /// Show every node's certificate (issuer, expiry, renewal), the CA, a CA change in
    /// progress, and the certificates that expire within 30 days.
    Status {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Renew every node's certificate without an outage: each node issues itself a new
    /// certificate and uses it for new connections at once (open ones keep working).
    /// Waits until every node reports its new certificate.
    Rotate {
        /// The new certificates' validity (default about 5 years); for tests of the expiry
        /// warning.
        #[arg(long, hide = true, value_parser = humantime::parse_duration)]
        valid_for: Option<Duration>,
        /// How long to wait for every node.
        #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Replace the cluster CA in two steps: `begin` (both CAs trusted, every node moves to
    /// a certificate from the new one), then `finish` (only the new CA trusted).
    #[command(subcommand)]
    Ca(CaCommand),
}

/// `encluster cert ca ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum CaCommand {
    /// Step 1: make a new CA (or use --ca-cert/--ca-key), trust it beside the old one on
    /// every node and in this CLI's CA file, and wait until every node has a certificate
    /// from it. Nodes with old and new certificates keep talking meanwhile.
    Begin {
        /// A CA certificate to use instead of a new one (PEM).
        #[arg(long, requires = "ca_key")]
        ca_cert: Option<std::path::PathBuf>,
        /// Its private key (PEM).
        #[arg(long, requires = "ca_cert")]
        ca_key: Option<std::path::PathBuf>,
        /// The new CA's validity (default 10 years); for tests of the expiry warning.
        #[arg(long, hide = true, value_parser = humantime::parse_duration)]
        valid_for: Option<Duration>,
        /// How long to wait for every node.
        #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Step 2: the new CA replaces the old everywhere; certificates of the old CA are
    /// refused from now on, and join tokens (they pin the old CA) are revoked. Refused
    /// unless every node has a certificate from the new CA.
    Finish {
        /// How long to wait for every node to drop the old CA.
        #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
}

/// Runs `encluster cert ...`.
pub(crate) async fn run_cert(
    client: &api::Client,
    target: &Target,
    command: CertCommand,
) -> anyhow::Result<()> {
    match command {
        CertCommand::Status { json } => {
            let status = client.certs().await.map_err(|e| explain(e, target))?;
            let text = if json {
                render_json(&status)
            } else {
                render_certs(&status)
            };
            print(&text)
        }
        CertCommand::Rotate { valid_for, timeout } => {
            let request = api::RotateCerts {
                valid_for_s: valid_for.map(|d| d.as_secs()),
            };
            let answer = client
                .rotate_certs(&request)
                .await
                .map_err(|e| explain(e, target))?;
            let status = wait_current(client, target, timeout, "renew").await?;
            print(&format!(
                "every node renewed its certificate (generation {})\n{}",
                answer.generation,
                render_certs(&status)
            ))
        }
        CertCommand::Ca(CaCommand::Begin {
            ca_cert,
            ca_key,
            valid_for,
            timeout,
        }) => {
            begin(
                client,
                target,
                ca_cert.as_deref(),
                ca_key.as_deref(),
                valid_for,
                timeout,
            )
            .await
        }
        CertCommand::Ca(CaCommand::Finish { timeout }) => {
            let answer = client
                .finish_ca_change()
                .await
                .map_err(|e| explain(e, target))?;
            write_ca_file(target, &answer.trust_pem)?;
            let client = client_for(target)?;
            let status = wait_current(&client, target, timeout, "drop the old CA").await?;
            print(&format!(
                "the cluster CA is now {}; the old CA is trusted no more, and join tokens \
                 were revoked (issue new ones with `encluster token join`)\n{}",
                short(&answer.fingerprint),
                render_certs(&status)
            ))
        }
    }
}

async fn begin(
    client: &api::Client,
    target: &Target,
    ca_cert: Option<&Path>,
    ca_key: Option<&Path>,
    valid_for: Option<Duration>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let read = |path: &Path, what: &str| {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the {what} file {}", path.display()))
    };
    let (cert_pem, key_pem) = match (ca_cert, ca_key) {
        (Some(cert), Some(key)) => {
            let (cert_pem, key_pem) = (read(cert, "CA certificate")?, read(key, "CA key")?);
            auth::ClusterCa::from_pem(&cert_pem, &key_pem).with_context(|| {
                format!(
                    "{} and {} are not a usable CA",
                    cert.display(),
                    key.display()
                )
            })?;
            (Some(cert_pem), Some(key_pem))
        }
        _ => (None, None),
    };
    let request = api::BeginCaChange {
        valid_for_s: valid_for.map(|d| d.as_secs()),
        ca_cert_pem: cert_pem,
        ca_key_pem: key_pem,
    };
    let answer = client
        .begin_ca_change(&request)
        .await
        .map_err(|e| explain(e, target))?;
    // Trust both before any node presents a certificate from the new CA.
    write_ca_file(target, &answer.trust_pem)?;
    let client = client_for(target)?;
    let status = wait_current(&client, target, timeout, "move to the new CA").await?;
    print(&format!(
        "every node trusts the new CA {} and has a certificate from it; {} trusts both \
         CAs; run `encluster cert ca finish` to stop trusting the old one\n{}",
        short(&answer.fingerprint),
        target.ca.display(),
        render_certs(&status)
    ))
}

/// Waits until every node reports a current certificate; the error names those behind.
async fn wait_current(
    client: &api::Client,
    target: &Target,
    timeout: Duration,
    what: &str,
) -> anyhow::Result<api::CertStatus> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let status = client.certs().await.map_err(|e| explain(e, target))?;
        let behind: Vec<&str> = status
            .nodes
            .iter()
            .filter(|n| !n.current)
            .map(|n| n.name.as_str())
            .collect();
        if behind.is_empty() {
            return Ok(status);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "node(s) {} did not {what} within {}: are they up? \
                 `encluster cert status` shows where each node is; they catch up when \
                 they return",
                behind.join(", "),
                humantime::format_duration(timeout)
            );
        }
        tokio::time::sleep(crate::limits::CERT_POLL_INTERVAL).await;
    }
}

/// Replaces the CLI's CA file with `pem`, through a new file and a rename.
fn write_ca_file(target: &Target, pem: &str) -> anyhow::Result<()> {
    let path = &target.ca;
    let fix = match &target.ca_origin {
        Origin::Argument => "--ca / ENCLUSTER_CA".to_string(),
        Origin::File(file) => format!("`ca` in {}", file.display()),
    };
    // The agents of a local cluster may be writing the same file: a name of our own.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    let written = std::fs::File::create(&tmp)
        .and_then(|mut file| {
            file.write_all(pem.as_bytes())
                .and_then(|()| file.sync_all())
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    written.with_context(|| {
        format!(
            "the cluster changed its CAs, but the CLI's CA file {} (from {fix}) could not \
             be replaced: write this there yourself:\n{pem}",
            path.display()
        )
    })
}

fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", text.trim_end()).context("cannot write to standard output")
}

fn short(hex: &str) -> &str {
    &hex[..hex.len().min(16)]
}

/// `cert status` as a table.
pub(crate) fn render_certs(status: &api::CertStatus) -> String {
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::NOTHING);
    table.set_header(["NODE", "ISSUER", "EXPIRES", "GENERATION", "CURRENT"]);
    for node in &status.nodes {
        let (issuer, expires) = if node.reported {
            (short(&node.issuer).to_owned(), node.expires_at.clone())
        } else {
            ("(not reported)".to_owned(), String::new())
        };
        let current = if node.current { "yes" } else { "no" };
        table.add_row([
            node.name.clone(),
            issuer,
            expires,
            node.generation.to_string(),
            current.to_owned(),
        ]);
    }
    let mut text = format!(
        "CA {} expires {}\n",
        short(&status.ca.fingerprint),
        status.ca.expires_at
    );
    if let Some(next) = &status.next_ca {
        text.push_str(&format!(
            "CA change in progress ({}): new CA {} expires {}\n",
            status.ca_change,
            short(&next.fingerprint),
            next.expires_at
        ));
    }
    text.push_str(&format!("{table}\n"));
    for warning in &status.warnings {
        text.push_str(&format!("WARNING: {}\n", warning.message));
    }
    text
}

// --- tokens ---

/// `encluster token list`.
pub(crate) async fn list_tokens(
    client: &api::Client,
    target: &Target,
    json: bool,
) -> anyhow::Result<()> {
    let tokens = client.tokens().await.map_err(|e| explain(e, target))?;
    if json {
        return print(&render_json(&tokens));
    }
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::NOTHING);
    table.set_header(["HASH", "KIND", "ROLE", "LABEL"]);
    for token in &tokens {
        let role = token.role.clone().unwrap_or_default();
        table.add_row([
            token.hash_prefix.clone(),
            token.kind.clone(),
            role,
            token.label.clone(),
        ]);
    }
    print(&table.to_string())
}

/// `encluster token revoke`.
pub(crate) async fn revoke_tokens(
    client: &api::Client,
    target: &Target,
    request: api::RevokeTokens,
) -> anyhow::Result<()> {
    let answer = client
        .revoke_tokens(&request)
        .await
        .map_err(|e| explain(e, target))?;
    let lines: Vec<String> = answer
        .revoked
        .iter()
        .map(|t| format!("revoked {} token {} ({:?})", t.kind, t.hash_prefix, t.label))
        .collect();
    print(&lines.join("\n"))
}

/// `encluster token rotate`: a new token for `label` (default: the caller's own), printed
/// once; the old one stops working on every node. When it was the CLI config file's own
/// token, the file gets the new one.
pub(crate) async fn rotate_token(
    client: &api::Client,
    target: &Target,
    label: Option<String>,
) -> anyhow::Result<()> {
    let own = client.session().await.map_err(|e| explain(e, target))?.user;
    let label = label.unwrap_or_else(|| own.clone());
    let token = auth::generate_api_token();
    let request = api::RotateToken {
        label: label.clone(),
        hash: auth::token_hash(&token),
    };
    client
        .rotate_token(&request)
        .await
        .map_err(|e| explain(e, target))?;
    if label == own
        && let Some(Origin::File(path)) = &target.token_origin
    {
        replace_config_token(path, &token).with_context(|| {
            format!(
                "the token was rotated, but {} could not be updated: put the new token \
                 there yourself: {token}",
                path.display()
            )
        })?;
        eprintln!("{} now holds the new token", path.display());
    }
    print(&token)
}

/// Rewrites the `token = "..."` line of a CLI config file, through a rename.
fn replace_config_token(path: &Path, token: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let mut lines: Vec<String> = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("token"))
        .map(str::to_owned)
        .collect();
    lines.insert(0, format!("token = \"{token}\""));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = std::path::PathBuf::from(tmp);
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(format!("{}\n", lines.join("\n")).as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(current: bool) -> api::CertStatus {
        let ca = api::CaInfo {
            fingerprint: "a".repeat(64),
            expires_at_ms: 0,
            expires_at: "2036-12-04T10:05:17Z".into(),
        };
        api::CertStatus {
            ca: ca.clone(),
            next_ca: Some(api::CaInfo {
                fingerprint: "b".repeat(64),
                ..ca
            }),
            ca_change: "renewing".into(),
            generation: 2,
            nodes: vec![api::NodeCertView {
                node: 1,
                name: "node1".into(),
                reported: true,
                fingerprint: "c".repeat(64),
                issuer: "b".repeat(64),
                expires_at_ms: 0,
                expires_at: "2026-12-17T10:05:17Z".into(),
                generation: 2,
                trusts_next: true,
                current,
            }],
            warnings: vec![api::CertWarning {
                subject: "node node1".into(),
                node: Some(1),
                expires_at_ms: 0,
                expires_at: "2026-12-17T10:05:17Z".into(),
                fix: "encluster cert rotate".into(),
                message: "the certificate of node node1 expires on 2026-12-17T10:05:17Z \
                          (in 9 days); run `encluster cert rotate`"
                    .into(),
            }],
        }
    }

    #[test]
    fn cert_status_shows_each_node_the_ca_change_and_the_warnings() {
        let text = render_certs(&status(false));
        assert!(
            text.contains("CA aaaaaaaaaaaaaaaa expires 2036-12-04T10:05:17Z"),
            "{text}"
        );
        assert!(
            text.contains("CA change in progress (renewing): new CA bbbbbbbbbbbbbbbb"),
            "{text}"
        );
        assert!(text.contains("node1"), "{text}");
        assert!(
            text.contains("WARNING: the certificate of node node1 expires on"),
            "{text}"
        );
    }

    #[test]
    fn a_cli_config_file_gets_the_rotated_token_and_keeps_the_rest() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("cli.toml");
        std::fs::write(
            &path,
            "apis = [\"https://a:1\"]\ntoken = \"old\"\nca = \"ca.pem\"\n",
        )
        .expect("write");
        replace_config_token(&path, "new").expect("rewrite");
        let file = crate::config::load_config_file(&path).expect("still a CLI config");
        assert_eq!(file.token.as_deref(), Some("new"));
        assert_eq!(file.apis, vec!["https://a:1".to_string()]);
        assert_eq!(file.ca, Some(std::path::PathBuf::from("ca.pem")));
    }
}
