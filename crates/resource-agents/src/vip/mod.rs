//! The `vip` resource agent: a virtual IP address owned by one node at a time.
//!
//! Two modes sit behind the [`VipBackend`] seam. `netlink` ([`NetlinkVip`]) adds a real
//! address to an interface, announces it with gratuitous ARP or unsolicited neighbour
//! advertisements, and monitors that it is still there; its parameters follow
//! `ocf:heartbeat:IPaddr2`. `loopback` is for
//! local clusters whose nodes are processes on one host: every 127.0.0.0/8 address is
//! already routable on `lo`, so ownership cannot be an address on an interface. It is a
//! claim file in a per-host directory ([`VIP_CLAIM_DIR_DEFAULT`] unless the `claim_dir`
//! parameter says otherwise), naming the node, the resource and the fencing token.
//!
//! The claim does not make loopback ownership exclusive by itself: exclusivity comes from
//! the cluster's leases, as for every unique resource. The claim makes a violation
//! visible: a second start with an older or equal fencing token fails, one with a newer
//! token takes the claim over, and the former holder's monitor then fails, naming the
//! new holder.

mod announce;
mod loopback;
mod netlink;
mod netlink_vip;

#[cfg(test)]
mod tests;

pub use loopback::LoopbackVip;
pub use netlink_vip::{NetlinkVip, NetlinkVipConfig};

use crate::operation::{BoxFuture, MetaError, OperationRequest, Outcome, ResourceAgent, Severity};
use model::{ParamKind, ParamSchema, ParamSpec, ResourceId};
use std::net::IpAddr;
use std::path::PathBuf;

/// Where loopback claims live when the resource does not say otherwise. Under `/run`, so
/// that claims vanish with a reboot, as the addresses themselves would.
pub const VIP_CLAIM_DIR_DEFAULT: &str = "/run/encluster-vip";

/// Who wants to hold an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipClaim {
    pub ip: IpAddr,
    pub resource: ResourceId,
    pub node_name: String,
    pub fencing_token: u64,
    /// The resource's state directory (the netlink mode keeps its watchdog's pid there).
    pub state_dir: std::path::PathBuf,
}

/// One way of owning an address: loopback claims or netlink addresses.
pub trait VipBackend: Send + Sync {
    /// Takes the address for `claim`; `Ok` if held afterwards (also if held already).
    fn acquire<'a>(&'a self, claim: &'a VipClaim) -> BoxFuture<'a, Outcome>;
    /// Gives the address up if `claim` holds it; `Ok` also if it was not held.
    fn release<'a>(&'a self, claim: &'a VipClaim) -> BoxFuture<'a, Outcome>;
    /// `Ok` if `claim` holds the address, `NotRunning` if nobody does, `Failed` if
    /// someone else does.
    fn check<'a>(&'a self, claim: &'a VipClaim) -> BoxFuture<'a, Outcome>;
}

/// The `vip` resource agent.
pub struct VipAgent;

fn schema() -> ParamSchema {
    ParamSchema::new(vec![
        ParamSpec::new("ip", ParamKind::IpAddr, "the virtual IP address").required(),
        ParamSpec::new(
            "mode",
            ParamKind::Enum(vec!["loopback".into(), "netlink".into()]),
            "loopback for local clusters on one host; netlink for real hosts",
        )
        .with_default("loopback"),
        ParamSpec::new(
            "cidr_netmask",
            ParamKind::String,
            "netlink: prefix length (or IPv4 netmask); default 32 for IPv4, 128 for IPv6",
        ),
        ParamSpec::new(
            "nic",
            ParamKind::String,
            "netlink: the interface; default: the one with an address in a subnet containing ip",
        ),
        ParamSpec::new(
            "iflabel",
            ParamKind::String,
            "netlink, IPv4 only: label the address <nic>:<iflabel> (15 characters at most)",
        ),
        ParamSpec::new(
            "arp_count",
            ParamKind::Integer,
            "netlink: gratuitous ARPs or neighbour advertisements sent after adding the address",
        )
        .with_default("6"),
        ParamSpec::new(
            "claim_dir",
            ParamKind::Path,
            "where loopback claims are kept; every node on the host must use the same one",
        )
        .with_default(VIP_CLAIM_DIR_DEFAULT),
    ])
}

impl VipAgent {
    /// The claim and the backend for a request, or the outcome explaining why not.
    fn plan(request: &OperationRequest) -> Result<(VipClaim, Box<dyn VipBackend>), Outcome> {
        let params = schema()
            .validate(&request.params)
            .map_err(|e| crate::operation::invalid_params(&e))?;
        let ip: IpAddr = params["ip"]
            .trim()
            .parse()
            .expect("the schema checked the address");
        let claim = VipClaim {
            ip,
            resource: request.resource.clone(),
            node_name: request.node_name.clone(),
            fencing_token: request.fencing_token,
            state_dir: request.state_dir.clone(),
        };
        match params["mode"].as_str() {
            "loopback" => {
                let claim_dir = PathBuf::from(&params["claim_dir"]);
                Ok((claim, Box::new(LoopbackVip::new(claim_dir))))
            }
            _ => {
                let config = NetlinkVipConfig::from_params(ip, &params)
                    .map_err(|reason| Outcome::failed(Severity::Fatal, reason))?;
                Ok((claim, Box::new(NetlinkVip::new(config))))
            }
        }
    }

    async fn operate(request: &OperationRequest, operation: Operation) -> Outcome {
        let (claim, backend) = match Self::plan(request) {
            Ok(plan) => plan,
            Err(outcome) => return outcome,
        };
        let work = async {
            match operation {
                Operation::Start => backend.acquire(&claim).await,
                Operation::Stop => backend.release(&claim).await,
                Operation::Monitor => backend.check(&claim).await,
            }
        };
        tokio::time::timeout(request.timeout, work)
            .await
            .unwrap_or(Outcome::Timeout)
    }
}

#[derive(Clone, Copy)]
enum Operation {
    Start,
    Stop,
    Monitor,
}

impl ResourceAgent for VipAgent {
    fn type_name(&self) -> &str {
        "vip"
    }

    fn meta(&self) -> BoxFuture<'_, Result<ParamSchema, MetaError>> {
        Box::pin(async { Ok(schema()) })
    }

    fn validate<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match Self::plan(request) {
                Ok(_) => Outcome::Ok,
                Err(outcome) => outcome,
            }
        })
    }

    fn start<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(Self::operate(request, Operation::Start))
    }

    fn stop<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(Self::operate(request, Operation::Stop))
    }

    fn monitor<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(Self::operate(request, Operation::Monitor))
    }
}
