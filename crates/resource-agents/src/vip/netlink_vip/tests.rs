//! Unit tests of the netlink mode's pure parts: parameters in IPaddr2's spelling, the
//! choice of interface, label limits, the announcement schedule and the frames' bytes.
//! The parts that need a kernel are tested in namespaces by tests/it/vip_netlink.rs.

use super::{NetlinkVipConfig, find_interface, label, subnet_contains};
use crate::vip::announce::{announce_gap, garp_frame, neighbour_advertisement};
use crate::vip::netlink::InterfaceAddress;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

fn config(address: &str, params: &[(&str, &str)]) -> Result<NetlinkVipConfig, String> {
    let params: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    NetlinkVipConfig::from_params(ip(address), &params)
}

#[test]
fn prefix_defaults_to_a_host_route_per_family() {
    assert_eq!(config("198.18.0.10", &[]).expect("valid").prefix_len, 32);
    assert_eq!(config("2001:db8::10", &[]).expect("valid").prefix_len, 128);
    assert_eq!(config("198.18.0.10", &[]).expect("valid").arp_count, 6);
}

#[test]
fn cidr_netmask_accepts_a_prefix_length_or_a_dotted_ipv4_netmask() {
    let by_length = config("198.18.0.10", &[("cidr_netmask", "24")]).expect("valid");
    assert_eq!(by_length.prefix_len, 24);
    let by_mask = config("198.18.0.10", &[("cidr_netmask", "255.255.254.0")]).expect("valid");
    assert_eq!(by_mask.prefix_len, 23);
    let v6 = config("2001:db8::10", &[("cidr_netmask", "64")]).expect("valid");
    assert_eq!(v6.prefix_len, 64);
    for wrong in ["0", "33", "255.0.255.0", "abc"] {
        let error = config("198.18.0.10", &[("cidr_netmask", wrong)]).expect_err(wrong);
        assert!(error.starts_with("cidr_netmask: "), "{error}");
    }
    assert!(config("2001:db8::10", &[("cidr_netmask", "129")]).is_err());
}

#[test]
fn label_longer_than_fifteen_characters_is_refused() {
    assert_eq!(label("eth0", "web").expect("short"), "eth0:web");
    assert_eq!(
        label("eth0", "0123456789").expect("15 bytes"),
        "eth0:0123456789"
    );
    let error = label("eth0", "01234567890").expect_err("16 bytes");
    assert_eq!(
        error,
        "iflabel: the label \"eth0:01234567890\" is longer than 15 characters"
    );
    let refused = config(
        "198.18.0.10",
        &[("nic", "eth0"), ("iflabel", "01234567890")],
    );
    assert!(refused.is_err());
}

#[test]
fn iflabel_on_an_ipv6_address_is_refused() {
    let error = config("2001:db8::10", &[("iflabel", "web")]).expect_err("IPv6 label");
    assert_eq!(error, "iflabel: Linux labels only IPv4 addresses");
}

#[test]
fn arp_count_is_bounded() {
    assert_eq!(
        config("198.18.0.10", &[("arp_count", "0")])
            .expect("0")
            .arp_count,
        0
    );
    assert_eq!(
        config("198.18.0.10", &[("arp_count", "20")])
            .expect("20")
            .arp_count,
        20
    );
    assert!(config("198.18.0.10", &[("arp_count", "21")]).is_err());
}

#[test]
fn subnet_contains_compares_only_the_prefix() {
    assert!(subnet_contains(ip("198.18.0.1"), 24, ip("198.18.0.200")));
    assert!(!subnet_contains(ip("198.18.0.1"), 24, ip("198.18.1.1")));
    assert!(subnet_contains(ip("198.18.0.1"), 0, ip("203.0.113.1")));
    assert!(subnet_contains(ip("2001:db8::1"), 64, ip("2001:db8::ffff")));
    assert!(!subnet_contains(ip("2001:db8::1"), 64, ip("2001:db8:1::1")));
    assert!(!subnet_contains(ip("198.18.0.1"), 0, ip("2001:db8::1")));
}

#[test]
fn interface_is_the_most_specific_subnet_containing_the_vip() {
    let address = |index, text, prefix_len| InterfaceAddress {
        index,
        ip: ip(text),
        prefix_len,
        label: None,
    };
    let addresses = [
        address(1, "127.0.0.1", 8),
        address(2, "198.18.0.1", 16),
        address(3, "198.18.5.1", 24),
        address(4, "198.18.5.77", 32),
    ];
    assert_eq!(find_interface(&addresses, ip("198.18.5.9")), Some(3));
    assert_eq!(find_interface(&addresses, ip("198.18.9.9")), Some(2));
    assert_eq!(find_interface(&addresses, ip("203.0.113.9")), None);
    // The VIP's own address never picks its interface.
    assert_eq!(find_interface(&addresses, ip("198.18.5.77")), Some(3));
}

#[test]
fn announcements_go_out_at_0_50_and_150_ms_then_double_up_to_a_second() {
    let gaps: Vec<Duration> = (0..7).map(announce_gap).collect();
    let ms = |n| Duration::from_millis(n);
    assert_eq!(
        gaps,
        [ms(0), ms(50), ms(100), ms(200), ms(400), ms(800), ms(1000)]
    );
    assert_eq!(announce_gap(u32::MAX), ms(1000));
}

#[test]
fn gratuitous_arp_is_a_broadcast_request_from_and_for_the_vip() {
    let mac = [0x02, 0, 0x5e, 0, 0, 0x01];
    let frame = garp_frame(mac, "198.18.0.100".parse().expect("ipv4"));
    let expected: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0x5e, 0, 0, 0x01, 0x08, 0x06, // Ethernet
        0, 1, 0x08, 0, 6, 4, 0, 1, // ARP: Ethernet, IPv4, request
        0x02, 0, 0x5e, 0, 0, 0x01, 198, 18, 0, 100, // sender
        0, 0, 0, 0, 0, 0, 198, 18, 0, 100, // target
    ];
    assert_eq!(frame, expected);
}

#[test]
fn neighbour_advertisement_overrides_and_carries_the_mac() {
    let mac = [0x02, 0, 0x5e, 0, 0, 0x01];
    let target: std::net::Ipv6Addr = "2001:db8::10".parse().expect("ipv6");
    let message = neighbour_advertisement(mac, target);
    assert_eq!(message[0], 136, "type: neighbour advertisement");
    assert_eq!(
        message[4], 0x20,
        "flags: override only (not solicited, not router)"
    );
    assert_eq!(&message[8..24], &target.octets());
    assert_eq!(
        &message[24..26],
        &[2, 1],
        "target link-layer address option, 8 bytes"
    );
    assert_eq!(&message[26..32], &mac);
}
