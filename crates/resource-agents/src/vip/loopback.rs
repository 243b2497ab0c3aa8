//! Loopback ownership of a virtual IP: a claim file per address in a per-host directory.

use super::{VipBackend, VipClaim};
use crate::operation::{BoxFuture, Outcome, Severity};
use std::io::{self, Write};
use std::path::PathBuf;

/// Owns 127.0.0.0/8 and `::1` addresses through claim files in `claim_dir`.
pub struct LoopbackVip {
    claim_dir: PathBuf,
}

/// Who holds an address, as read from its claim file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Holder {
    node_name: String,
    resource: String,
    fencing_token: u64,
}

impl LoopbackVip {
    /// A backend keeping its claims in `claim_dir`, created on first use.
    pub fn new(claim_dir: PathBuf) -> Self {
        LoopbackVip { claim_dir }
    }

    fn claim_path(&self, claim: &VipClaim) -> PathBuf {
        self.claim_dir.join(format!("{}.claim", claim.ip))
    }

    fn read_holder(&self, claim: &VipClaim) -> io::Result<Option<Holder>> {
        match std::fs::read_to_string(self.claim_path(claim)) {
            Ok(text) => Ok(Some(parse_holder(&text))),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn acquire_now(&self, claim: &VipClaim) -> Outcome {
        if !claim.ip.is_loopback() {
            let ip = claim.ip;
            return Outcome::failed(
                Severity::Fatal,
                format!(
                    "{ip} is not a loopback address; loopback mode manages only 127.0.0.0/8 and ::1"
                ),
            );
        }
        // Binding proves the address is usable on this host (IPv6 may be disabled).
        if let Err(error) = std::net::TcpListener::bind((claim.ip, 0)) {
            return Outcome::failed(
                Severity::Hard,
                format!("cannot use {} here: {error}", claim.ip),
            );
        }
        if let Err(error) = std::fs::create_dir_all(&self.claim_dir) {
            let dir = self.claim_dir.display();
            return Outcome::failed(
                Severity::Hard,
                format!("cannot create claim directory {dir}: {error}"),
            );
        }
        match self.create_claim(claim) {
            Ok(()) => return Outcome::Ok,
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) => return claim_io_failure(claim, &error),
        }
        let holder = match self.read_holder(claim) {
            Ok(holder) => holder,
            Err(error) => return claim_io_failure(claim, &error),
        };
        match holder {
            Some(holder)
                if !is_ours(&holder, claim) && holder.fencing_token >= claim.fencing_token =>
            {
                Outcome::failed(
                    Severity::Hard,
                    format!("{} is already {}", claim.ip, describe(&holder)),
                )
            }
            other => {
                if let Some(previous) = other.filter(|holder| !is_ours(holder, claim)) {
                    let previous = describe(&previous);
                    tracing::warn!(ip = %claim.ip, %previous, "Taking over an older VIP claim");
                }
                self.replace_claim(claim)
                    .map_or_else(|error| claim_io_failure(claim, &error), |()| Outcome::Ok)
            }
        }
    }

    fn create_claim(&self, claim: &VipClaim) -> io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.claim_path(claim))?;
        file.write_all(claim_text(claim).as_bytes())?;
        file.sync_all()
    }

    /// Replaces the claim atomically, so a reader never sees half a file.
    fn replace_claim(&self, claim: &VipClaim) -> io::Result<()> {
        let temporary =
            self.claim_dir
                .join(format!("{}.claim.{}.tmp", claim.ip, std::process::id()));
        std::fs::write(&temporary, claim_text(claim))?;
        std::fs::rename(&temporary, self.claim_path(claim))
    }

    fn release_now(&self, claim: &VipClaim) -> Outcome {
        match self.read_holder(claim) {
            Ok(Some(holder)) if is_ours(&holder, claim) => {
                match std::fs::remove_file(self.claim_path(claim)) {
                    Err(error) if error.kind() != io::ErrorKind::NotFound => {
                        claim_io_failure(claim, &error)
                    }
                    _ => Outcome::Ok,
                }
            }
            // Not ours to remove: someone else took it over, or nobody holds it.
            Ok(_) => Outcome::Ok,
            Err(error) => claim_io_failure(claim, &error),
        }
    }

    fn check_now(&self, claim: &VipClaim) -> Outcome {
        match self.read_holder(claim) {
            Ok(None) => Outcome::NotRunning,
            Ok(Some(holder)) if is_ours(&holder, claim) => Outcome::Ok,
            Ok(Some(holder)) => Outcome::failed(
                Severity::Soft,
                format!(
                    "{} is no longer ours: it is now {}",
                    claim.ip,
                    describe(&holder)
                ),
            ),
            Err(error) => claim_io_failure(claim, &error),
        }
    }
}

impl VipBackend for LoopbackVip {
    fn acquire<'a>(&'a self, claim: &'a VipClaim) -> crate::operation::BoxFuture<'a, Outcome> {
        Box::pin(async move { self.acquire_now(claim) })
    }

    fn release<'a>(&'a self, claim: &'a VipClaim) -> BoxFuture<'a, Outcome> {
        Box::pin(async move { self.release_now(claim) })
    }

    fn check<'a>(&'a self, claim: &'a VipClaim) -> BoxFuture<'a, Outcome> {
        Box::pin(async move { self.check_now(claim) })
    }
}

fn is_ours(holder: &Holder, claim: &VipClaim) -> bool {
    holder.node_name == claim.node_name && holder.resource == claim.resource.0
}

fn describe(holder: &Holder) -> String {
    format!(
        "claimed by resource {} on node {} (fencing token {})",
        holder.resource, holder.node_name, holder.fencing_token
    )
}

fn claim_text(claim: &VipClaim) -> String {
    format!(
        "node={}\nresource={}\nfencing_token={}\n",
        claim.node_name, claim.resource.0, claim.fencing_token
    )
}

/// Parses a claim file. An unreadable claim counts as the oldest possible one, so a
/// valid claim can replace it.
fn parse_holder(text: &str) -> Holder {
    let mut holder = Holder {
        node_name: String::new(),
        resource: String::new(),
        fencing_token: 0,
    };
    for line in text.lines() {
        match line.split_once('=') {
            Some(("node", value)) => holder.node_name = value.to_owned(),
            Some(("resource", value)) => holder.resource = value.to_owned(),
            Some(("fencing_token", value)) => holder.fencing_token = value.parse().unwrap_or(0),
            _ => {}
        }
    }
    holder
}

fn claim_io_failure(claim: &VipClaim, error: &io::Error) -> Outcome {
    Outcome::failed(
        Severity::Hard,
        format!("cannot manage the claim on {}: {error}", claim.ip),
    )
}
