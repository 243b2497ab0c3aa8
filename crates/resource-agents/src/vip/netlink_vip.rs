//! Netlink ownership of a virtual IP: a real address on a real interface, announced to
//! the link with gratuitous ARP (IPv4) or unsolicited neighbour advertisements (IPv6).
//!
//! The parameters follow `ocf:heartbeat:IPaddr2` (`ip`, `cidr_netmask`, `nic`,
//! `iflabel`, `arp_count`), so an operator can move a resource from IPaddr2 to `vip`
//! without relearning it. Unlike IPaddr2, the prefix length defaults to a host route
//! (/32 or /128) instead of the matching interface's prefix: a host address never adds
//! a second connected route for a subnet the node already has.
//!
//! Ownership here is the address on the interface and nothing else: exclusivity comes
//! from the cluster's leases, and the fencing token is not recorded.

use super::announce::announce_burst;
use super::netlink::{InterfaceAddress, Link, NetlinkError, Rtnl};
use super::{VipBackend, VipClaim};
use crate::operation::{BoxFuture, Outcome, Severity};
use crate::watchdog::{self, Fence};
use std::collections::BTreeMap;
use std::net::IpAddr;

#[cfg(test)]
mod tests;

/// Announcements after a takeover: at 0, 50, 150, 350, 750 and 1550 ms, so the last ones
/// come after Linux's one-second ARP lock time, within which a neighbour ignores a second
/// update (a VIP that moved twice within a second would otherwise stay on the first mover).
const ARP_COUNT_DEFAULT: u32 = 6;

/// The longest interface name or address label Linux accepts (IFNAMSIZ minus the NUL).
pub(crate) const LABEL_LEN_MAX: usize = 15;

/// How an address is placed on an interface; checked when the request is planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetlinkVipConfig {
    /// The interface; `None` picks the one with an address in a subnet containing the VIP.
    pub nic: Option<String>,
    pub prefix_len: u8,
    /// The label suffix: the address is labelled `<nic>:<iflabel>` (IPv4 only).
    pub iflabel: Option<String>,
    /// How many announcements to send after adding the address.
    pub arp_count: u32,
}

/// Owns addresses on real interfaces through netlink.
pub struct NetlinkVip {
    config: NetlinkVipConfig,
}

impl NetlinkVipConfig {
    /// Reads the validated parameters of a `vip` resource for address `ip`; `Err` says
    /// in plain words which parameter is wrong.
    pub fn from_params(ip: IpAddr, params: &BTreeMap<String, String>) -> Result<Self, String> {
        let text = |name: &str| {
            params
                .get(name)
                .map(|value| value.trim())
                .filter(|value| !value.is_empty())
        };
        let prefix_len = match text("cidr_netmask") {
            None if ip.is_ipv4() => 32,
            None => 128,
            Some(netmask) => parse_prefix_len(ip, netmask)?,
        };
        let nic = text("nic").map(str::to_owned);
        if let Some(nic) = &nic
            && (nic.len() > LABEL_LEN_MAX || nic.contains(['/', ':', ' ']))
        {
            return Err(format!("nic: {nic:?} is not a valid interface name"));
        }
        let iflabel = text("iflabel").map(str::to_owned);
        if iflabel.is_some() && ip.is_ipv6() {
            return Err("iflabel: Linux labels only IPv4 addresses".into());
        }
        if let (Some(nic), Some(iflabel)) = (&nic, &iflabel) {
            label(nic, iflabel)?;
        }
        let arp_count = match text("arp_count") {
            None => ARP_COUNT_DEFAULT,
            Some(count) => count
                .parse::<u32>()
                .ok()
                .filter(|count| *count <= super::announce::ANNOUNCE_COUNT_MAX)
                .ok_or_else(|| {
                    let max = super::announce::ANNOUNCE_COUNT_MAX;
                    format!("arp_count: {count:?} is not a number from 0 to {max}")
                })?,
        };
        Ok(NetlinkVipConfig {
            nic,
            prefix_len,
            iflabel,
            arp_count,
        })
    }
}

/// A prefix length (`24`) or, for IPv4, a dotted netmask (`255.255.255.0`), as IPaddr2
/// accepts both.
fn parse_prefix_len(ip: IpAddr, netmask: &str) -> Result<u8, String> {
    let bits_max: u8 = if ip.is_ipv4() { 32 } else { 128 };
    if let Ok(prefix_len) = netmask.parse::<u8>() {
        if (1..=bits_max).contains(&prefix_len) {
            return Ok(prefix_len);
        }
    } else if let (true, Ok(mask)) = (ip.is_ipv4(), netmask.parse::<std::net::Ipv4Addr>()) {
        let bits = u32::from(mask);
        if bits.leading_ones() + bits.trailing_zeros() == 32 && bits != 0 {
            return Ok(bits.leading_ones() as u8);
        }
    }
    Err(format!(
        "cidr_netmask: {netmask:?} is not a prefix length from 1 to {bits_max}{}",
        if ip.is_ipv4() { " or a netmask" } else { "" }
    ))
}

/// The label `<nic>:<iflabel>`, which the kernel limits to 15 bytes.
pub(crate) fn label(nic: &str, iflabel: &str) -> Result<String, String> {
    let label = format!("{nic}:{iflabel}");
    if label.len() > LABEL_LEN_MAX {
        return Err(format!(
            "iflabel: the label {label:?} is longer than {LABEL_LEN_MAX} characters"
        ));
    }
    Ok(label)
}

/// Whether `network/prefix_len` contains `ip` (both of the same family).
pub(crate) fn subnet_contains(network: IpAddr, prefix_len: u8, ip: IpAddr) -> bool {
    match (network, ip) {
        (IpAddr::V4(network), IpAddr::V4(ip)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix_len))
                .unwrap_or(0);
            u32::from(network) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(network), IpAddr::V6(ip)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix_len))
                .unwrap_or(0);
            u128::from(network) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

/// The interface for a new address without `nic`, like IPaddr2's findif: the one with
/// the most specific address whose subnet contains `ip`, not counting `ip` itself.
pub(crate) fn find_interface(addresses: &[InterfaceAddress], ip: IpAddr) -> Option<u32> {
    addresses
        .iter()
        .filter(|address| address.ip != ip && subnet_contains(address.ip, address.prefix_len, ip))
        .max_by_key(|address| address.prefix_len)
        .map(|address| address.index)
}

impl NetlinkVip {
    pub fn new(config: NetlinkVipConfig) -> Self {
        NetlinkVip { config }
    }

    async fn acquire_now(&self, claim: &VipClaim) -> Result<Outcome, NetlinkError> {
        let rtnl = Rtnl::connect()?;
        let links = rtnl.links().await?;
        let addresses = rtnl.addresses().await?;
        let link = match self.target_link(&links, &addresses, claim.ip) {
            Ok(link) => link,
            Err(outcome) => return Ok(outcome),
        };
        let label = match &self.config.iflabel {
            Some(iflabel) => match label(&link.name, iflabel) {
                Ok(label) => Some(label),
                Err(reason) => return Ok(Outcome::failed(Severity::Fatal, reason)),
            },
            None => None,
        };
        let held = addresses
            .iter()
            .any(|address| address.index == link.index && address.ip == claim.ip);
        if !held {
            let prefix_len = self.config.prefix_len;
            rtnl.add_address(link.index, claim.ip, prefix_len, label.as_deref())
                .await?;
            tracing::info!(ip = %claim.ip, prefix_len, nic = %link.name, "Added the VIP");
        }
        // A watchdog process gives the address up on its own if this agent hangs past its
        // lease (see `watchdog`).
        let prefix_len = self.config.prefix_len;
        let fence = Fence::DeleteAddress {
            ip: claim.ip,
            prefix_len,
            dev: link.name.clone(),
        };
        if let Err(error) = watchdog::start(&claim.state_dir, &fence) {
            return Ok(Outcome::failed(
                Severity::Soft,
                format!("cannot start the VIP watchdog for {}: {error}", claim.ip),
            ));
        }
        // Announce even if the address was there already: a start after a partial
        // failure must still tell the neighbours where the address lives. The first
        // announcement goes out before the start returns; the rest of the burst follows in
        // the background, so that what starts after the VIP (a group's next member) does
        // not wait for the gaps between announcements.
        let count = self.config.arp_count;
        let (nic, ip) = (link.name.clone(), claim.ip);
        let held = move || async move { held_anywhere(ip).await };
        if let Err(error) = announce_burst(&nic, ip, 0..count.min(1), held).await {
            return Ok(Outcome::failed(
                Severity::Soft,
                format!(
                    "{} is on {} but was not announced: {error}",
                    claim.ip, link.name
                ),
            ));
        }
        if count > 1 {
            tokio::spawn(async move {
                if let Err(error) = announce_burst(&nic, ip, 1..count, held).await {
                    tracing::warn!(%ip, %error, "VIP announcement not sent");
                }
            });
        }
        Ok(Outcome::Ok)
    }

    async fn release_now(&self, claim: &VipClaim) -> Result<Outcome, NetlinkError> {
        // A watchdog that has just begun to fence is let record when.
        watchdog::settle(&claim.state_dir).await;
        watchdog::stop(&claim.state_dir);
        let rtnl = Rtnl::connect()?;
        for index in self.holding_links(&rtnl, claim.ip).await? {
            if rtnl.delete_address(index, claim.ip).await? {
                tracing::info!(ip = %claim.ip, index, "Removed the VIP");
            }
        }
        Ok(Outcome::Ok)
    }

    async fn check_now(&self, claim: &VipClaim) -> Result<Outcome, NetlinkError> {
        let rtnl = Rtnl::connect()?;
        if self.holding_links(&rtnl, claim.ip).await?.is_empty() {
            Ok(Outcome::NotRunning)
        } else {
            Ok(Outcome::Ok)
        }
    }

    /// The interfaces that hold `ip`: only `nic` if it is configured, otherwise any.
    async fn holding_links(&self, rtnl: &Rtnl, ip: IpAddr) -> Result<Vec<u32>, NetlinkError> {
        let nic_index = match &self.config.nic {
            Some(nic) => match rtnl
                .links()
                .await?
                .into_iter()
                .find(|link| &link.name == nic)
            {
                Some(link) => Some(link.index),
                // A missing interface holds nothing.
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let mut indexes: Vec<u32> = rtnl
            .addresses()
            .await?
            .into_iter()
            .filter(|address| address.ip == ip && nic_index.is_none_or(|n| n == address.index))
            .map(|address| address.index)
            .collect();
        indexes.sort_unstable();
        indexes.dedup();
        Ok(indexes)
    }

    /// The interface to add `ip` to, or the outcome saying why there is none.
    fn target_link<'a>(
        &self,
        links: &'a [Link],
        addresses: &[InterfaceAddress],
        ip: IpAddr,
    ) -> Result<&'a Link, Outcome> {
        let found = match &self.config.nic {
            Some(nic) => links.iter().find(|link| &link.name == nic).ok_or_else(|| {
                Outcome::failed(
                    Severity::Hard,
                    format!("interface {nic} does not exist on this node"),
                )
            })?,
            None => find_interface(addresses, ip)
                .and_then(|index| links.iter().find(|link| link.index == index))
                .ok_or_else(|| {
                    Outcome::failed(
                        Severity::Hard,
                        format!(
                            "no interface has an address in a subnet containing {ip}; \
                             set the nic parameter"
                        ),
                    )
                })?,
        };
        Ok(found)
    }
}

fn netlink_failure(claim: &VipClaim, error: &NetlinkError) -> Outcome {
    Outcome::failed(
        Severity::Soft,
        format!("cannot manage {}: {error}", claim.ip),
    )
}

impl VipBackend for NetlinkVip {
    fn acquire<'a>(&'a self, claim: &'a VipClaim) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            self.acquire_now(claim)
                .await
                .unwrap_or_else(|error| netlink_failure(claim, &error))
        })
    }

    fn release<'a>(&'a self, claim: &'a VipClaim) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            self.release_now(claim)
                .await
                .unwrap_or_else(|error| netlink_failure(claim, &error))
        })
    }

    fn check<'a>(&'a self, claim: &'a VipClaim) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            self.check_now(claim)
                .await
                .unwrap_or_else(|error| netlink_failure(claim, &error))
        })
    }
}

/// Whether any interface of this network namespace still holds `ip` (false when netlink
/// cannot say: an announcement is then better not sent).
async fn held_anywhere(ip: IpAddr) -> bool {
    let Ok(rtnl) = Rtnl::connect() else {
        return false;
    };
    rtnl.addresses()
        .await
        .is_ok_and(|addresses| addresses.iter().any(|address| address.ip == ip))
}
