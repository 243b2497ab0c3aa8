//! Telling the neighbours that an address moved: gratuitous ARP for IPv4, unsolicited
//! neighbour advertisements for IPv6, sent in a short burst after a takeover.
//!
//! Without an announcement, hosts on the link keep sending to the former holder's MAC
//! address until their neighbour entry expires (tens of seconds). One frame can be lost,
//! so a few are sent with growing gaps, as `send_arp` and keepalived do.
//!
//! The ARP frame goes out on an `AF_PACKET` raw socket. The workspace forbids unsafe
//! code and nix has no safe constructor for a link-layer socket address, so the address
//! (interface index and MAC) comes from `getifaddrs`, which returns one per interface.

use nix::sys::socket::{self, AddressFamily, LinkAddr, MsgFlags, SockFlag, SockType};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// The most announcements one acquisition sends, whatever `arp_count` says.
pub(crate) const ANNOUNCE_COUNT_MAX: u32 = 20;

/// The gap after the first announcement; each later gap doubles, up to
/// [`ANNOUNCE_GAP_MAX`]. The default count of 6 goes out at 0, 50, 150, 350, 750 and 1550 ms.
pub(crate) const ANNOUNCE_GAP_FIRST: Duration = Duration::from_millis(50);

/// The longest gap between two announcements.
pub(crate) const ANNOUNCE_GAP_MAX: Duration = Duration::from_secs(1);

const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ARP_HARDWARE_ETHERNET: u16 = 1;
const ARP_REQUEST: u16 = 1;
const ICMPV6_NEIGHBOUR_ADVERTISEMENT: u8 = 136;
const NA_FLAG_OVERRIDE: u8 = 0x20;
const ND_OPTION_TARGET_LINK_ADDRESS: u8 = 2;
/// RFC 4861: neighbour discovery messages must arrive with a hop limit of 255.
const ND_HOP_LIMIT: u32 = 255;

/// The length of a gratuitous ARP frame: 14 bytes of Ethernet header, 28 of ARP.
pub(crate) const GARP_FRAME_LEN: usize = 42;

/// Why an announcement could not be sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AnnounceError {
    #[error("cannot list interfaces: {0}")]
    Interfaces(#[source] nix::Error),
    #[error("interface {nic} does not exist")]
    NoInterface { nic: String },
    #[error("cannot send the announcement on {nic}: {source}")]
    Send {
        nic: String,
        #[source]
        source: std::io::Error,
    },
}

/// The gap before announcement number `sequence` (0 is the first, sent at once).
pub(crate) fn announce_gap(sequence: u32) -> Duration {
    if sequence == 0 {
        return Duration::ZERO;
    }
    let doublings = (sequence - 1).min(16);
    ANNOUNCE_GAP_FIRST
        .saturating_mul(1 << doublings)
        .min(ANNOUNCE_GAP_MAX)
}

/// Sends announcements number `sequences` of `ip` on `nic`, each after its gap (the first
/// of a burst at once), as long as `still_held` says this node holds the address: a burst
/// must not outlive a release, nor the watchdog's removal while the agent was hung.
pub(crate) async fn announce_burst<F, H>(
    nic: &str,
    ip: IpAddr,
    sequences: std::ops::Range<u32>,
    still_held: H,
) -> Result<(), AnnounceError>
where
    H: Fn() -> F,
    F: std::future::Future<Output = bool>,
{
    if sequences.is_empty() {
        return Ok(());
    }
    let Some(link) = ethernet_link_addr(nic)? else {
        // Neighbour caches keyed by MAC exist only on Ethernet-like links.
        tracing::debug!(
            nic,
            "Not announcing on an interface without an Ethernet address"
        );
        return Ok(());
    };
    let mac = link.addr().ok_or_else(|| AnnounceError::NoInterface {
        nic: nic.to_owned(),
    })?;
    for sequence in sequences.start..sequences.end.min(ANNOUNCE_COUNT_MAX) {
        tokio::time::sleep(announce_gap(sequence)).await;
        if !still_held().await {
            return Ok(());
        }
        let sent = match ip {
            IpAddr::V4(ip) => send_garp(&link, &garp_frame(mac, ip)),
            IpAddr::V6(ip) => send_unsolicited_na(&link, ip, &neighbour_advertisement(mac, ip)),
        };
        sent.map_err(|source| AnnounceError::Send {
            nic: nic.to_owned(),
            source,
        })?;
    }
    Ok(())
}

/// A broadcast ARP request from `ip` for `ip`: the form Linux accepts as gratuitous
/// (`arp_is_garp`) and uses to update an existing neighbour entry.
pub(crate) fn garp_frame(mac: [u8; 6], ip: Ipv4Addr) -> [u8; GARP_FRAME_LEN] {
    let mut frame = [0u8; GARP_FRAME_LEN];
    frame[0..6].copy_from_slice(&[0xff; 6]);
    frame[6..12].copy_from_slice(&mac);
    frame[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    frame[14..16].copy_from_slice(&ARP_HARDWARE_ETHERNET.to_be_bytes());
    frame[16..18].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    frame[18] = 6;
    frame[19] = 4;
    frame[20..22].copy_from_slice(&ARP_REQUEST.to_be_bytes());
    frame[22..28].copy_from_slice(&mac);
    frame[28..32].copy_from_slice(&ip.octets());
    // The target hardware address stays zero, as in an ordinary request.
    frame[38..42].copy_from_slice(&ip.octets());
    frame
}

/// An ICMPv6 unsolicited neighbour advertisement for `ip` with the override flag and a
/// target link-layer address option. The kernel fills in the checksum.
pub(crate) fn neighbour_advertisement(mac: [u8; 6], ip: Ipv6Addr) -> [u8; 32] {
    let mut message = [0u8; 32];
    message[0] = ICMPV6_NEIGHBOUR_ADVERTISEMENT;
    message[4] = NA_FLAG_OVERRIDE;
    message[8..24].copy_from_slice(&ip.octets());
    message[24] = ND_OPTION_TARGET_LINK_ADDRESS;
    message[25] = 1;
    message[26..32].copy_from_slice(&mac);
    message
}

/// The link-layer address of `nic` (its index and MAC, as `getifaddrs` reports it), or
/// `None` if it is not an Ethernet interface (loopback, tunnels).
fn ethernet_link_addr(nic: &str) -> Result<Option<LinkAddr>, AnnounceError> {
    let interfaces = nix::ifaddrs::getifaddrs().map_err(AnnounceError::Interfaces)?;
    let link = interfaces
        .filter(|interface| interface.interface_name == nic)
        .find_map(|interface| interface.address?.as_link_addr().copied())
        .ok_or_else(|| AnnounceError::NoInterface {
            nic: nic.to_owned(),
        })?;
    Ok((link.hatype() == ARP_HARDWARE_ETHERNET && link.halen() == 6).then_some(link))
}

/// Sends one Ethernet frame. The socket has protocol 0, so it never receives anything,
/// and the kernel reads the frame's protocol from its Ethernet header.
fn send_garp(link: &LinkAddr, frame: &[u8]) -> std::io::Result<()> {
    let fd = socket::socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    socket::sendto(fd.as_raw_fd(), frame, link, MsgFlags::empty())?;
    Ok(())
}

/// Sends one advertisement to all nodes on the link, from the address itself.
fn send_unsolicited_na(link: &LinkAddr, ip: Ipv6Addr, message: &[u8]) -> std::io::Result<()> {
    let index = u32::try_from(link.ifindex()).map_err(std::io::Error::other)?;
    let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
    socket.set_multicast_hops_v6(ND_HOP_LIMIT)?;
    socket.set_unicast_hops_v6(ND_HOP_LIMIT)?;
    socket.set_multicast_if_v6(index)?;
    socket.bind(&SockAddr::from(SocketAddrV6::new(ip, 0, 0, 0)))?;
    let all_nodes = SocketAddrV6::new(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1), 0, 0, index);
    socket.send_to(message, &SockAddr::from(all_nodes))?;
    Ok(())
}
