//! Every rtnetlink call of the `vip` agent, in one place.
//!
//! rtnetlink breaks its API in almost every minor release (see shared/DEPENDENCIES.md
//! §3.6), so a version bump should only ever touch this file. It lists links and
//! addresses, adds one address and deletes one address. It never deletes "all addresses
//! of a link": that would also drop the IPv6 link-local address and the node's own
//! addresses.

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::LinkAttribute;
use nix::errno::Errno;
use std::io;
use std::net::IpAddr;

/// One address configured on one interface, as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InterfaceAddress {
    /// The interface's index.
    pub(crate) index: u32,
    /// The address itself (IFA_LOCAL for IPv4, IFA_ADDRESS for IPv6).
    pub(crate) ip: IpAddr,
    pub(crate) prefix_len: u8,
    /// The IPv4 label (`eth0:web`); `None` for IPv6.
    pub(crate) label: Option<String>,
}

/// One network interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) index: u32,
    pub(crate) name: String,
}

/// Why a netlink request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NetlinkError {
    #[error("cannot open a netlink socket: {0}")]
    Connect(#[source] io::Error),
    #[error("cannot {action}: {source}")]
    Request {
        action: &'static str,
        #[source]
        source: rtnetlink::Error,
    },
}

/// A route netlink connection in the calling thread's network namespace. Its background
/// task is stopped when this is dropped.
pub(crate) struct Rtnl {
    handle: rtnetlink::Handle,
    connection: tokio::task::JoinHandle<()>,
}

impl Drop for Rtnl {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl Rtnl {
    /// Opens a connection; must be called inside a tokio runtime.
    pub(crate) fn connect() -> Result<Self, NetlinkError> {
        let (connection, handle, _messages) =
            rtnetlink::new_connection().map_err(NetlinkError::Connect)?;
        let connection = tokio::spawn(connection);
        Ok(Rtnl { handle, connection })
    }

    /// Every interface with its index and name.
    pub(crate) async fn links(&self) -> Result<Vec<Link>, NetlinkError> {
        let messages: Vec<_> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|source| request_error("list interfaces", source))?;
        let links = messages
            .into_iter()
            .filter_map(|message| {
                let name = message
                    .attributes
                    .iter()
                    .find_map(|attribute| match attribute {
                        LinkAttribute::IfName(name) => Some(name.clone()),
                        _ => None,
                    })?;
                Some(Link {
                    index: message.header.index,
                    name,
                })
            })
            .collect();
        Ok(links)
    }

    /// Every address on every interface.
    pub(crate) async fn addresses(&self) -> Result<Vec<InterfaceAddress>, NetlinkError> {
        let messages = self.address_messages().await?;
        Ok(messages.iter().filter_map(interface_address).collect())
    }

    /// Adds `ip/prefix_len` to interface `index`. IPv6 addresses skip duplicate address
    /// detection, which would keep a taken-over address unusable for a second or more.
    /// An address that is already there counts as added.
    pub(crate) async fn add_address(
        &self,
        index: u32,
        ip: IpAddr,
        prefix_len: u8,
        label: Option<&str>,
    ) -> Result<(), NetlinkError> {
        let mut request = self.handle.address().add(index, ip, prefix_len);
        let message = request.message_mut();
        if let Some(label) = label {
            message
                .attributes
                .push(AddressAttribute::Label(label.to_owned()));
        }
        if ip.is_ipv6() {
            message
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match request.execute().await {
            Err(error) if errno(&error) == Some(Errno::EEXIST as i32) => Ok(()),
            other => other.map_err(|source| request_error("add the address", source)),
        }
    }

    /// Deletes `ip` from interface `index`, whatever its prefix length, and nothing else.
    /// Returns whether anything was deleted; an absent address is not an error.
    pub(crate) async fn delete_address(
        &self,
        index: u32,
        ip: IpAddr,
    ) -> Result<bool, NetlinkError> {
        let mut deleted = false;
        for message in self.address_messages().await? {
            let matches = interface_address(&message)
                .is_some_and(|address| address.index == index && address.ip == ip);
            if !matches {
                continue;
            }
            // The kernel's own description of the address names exactly that address.
            match self.handle.address().del(message).execute().await {
                Ok(()) => deleted = true,
                Err(error) if errno(&error) == Some(Errno::EADDRNOTAVAIL as i32) => {}
                Err(source) => return Err(request_error("delete the address", source)),
            }
        }
        Ok(deleted)
    }

    async fn address_messages(&self) -> Result<Vec<AddressMessage>, NetlinkError> {
        self.handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|source| request_error("list addresses", source))
    }
}

/// The address a message describes. For IPv4, IFA_LOCAL is the address and IFA_ADDRESS
/// may be a point-to-point peer; IPv6 has only IFA_ADDRESS unless point-to-point.
fn interface_address(message: &AddressMessage) -> Option<InterfaceAddress> {
    let mut local = None;
    let mut address = None;
    let mut label = None;
    for attribute in &message.attributes {
        match attribute {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Label(text) => label = Some(text.clone()),
            _ => {}
        }
    }
    Some(InterfaceAddress {
        index: message.header.index,
        ip: local.or(address)?,
        prefix_len: message.header.prefix_len,
        label,
    })
}

fn errno(error: &rtnetlink::Error) -> Option<i32> {
    match error {
        rtnetlink::Error::NetlinkError(message) => Some(message.raw_code().abs()),
        _ => None,
    }
}

fn request_error(action: &'static str, source: rtnetlink::Error) -> NetlinkError {
    NetlinkError::Request { action, source }
}
