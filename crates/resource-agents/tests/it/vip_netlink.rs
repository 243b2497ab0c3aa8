//! The `vip` agent in netlink mode, on real interfaces in network namespaces: the address
//! is added with its label and announced (the peer sees the frames and its neighbour
//! entry moves to our MAC), monitored, and removed without touching other addresses.

use super::netns::{HOST_MAC, HOST_NIC, Link, netns_tests_enabled, poll};
use super::request;
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType};
use resource_agents::{OperationRequest, Outcome, ResourceAgent, Severity, VipAgent};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const VIP: &str = "198.18.0.100";

fn vip_request(state_dir: &Path, params: &[(&str, &str)]) -> OperationRequest {
    let mut all = vec![("ip", VIP), ("mode", "netlink")];
    all.extend_from_slice(params);
    request("web-vip", &all, state_dir)
}

/// The host's IPv4 addresses on `vip0`, one `ip -o` line each.
fn host_ipv4_lines(link: &Link) -> Vec<String> {
    let text = link.host.ip(&["-o", "-4", "addr", "show", "dev", HOST_NIC]);
    text.lines().map(str::to_owned).collect()
}

fn vip_lines(link: &Link) -> Vec<String> {
    let needle = format!("inet {VIP}/");
    host_ipv4_lines(link)
        .into_iter()
        .filter(|line| line.contains(&needle))
        .collect()
}

fn has_link_local(link: &Link) -> bool {
    let text = link
        .host
        .ip(&["-6", "addr", "show", "dev", HOST_NIC, "scope", "link"]);
    text.contains("inet6 fe80::")
}

/// Gratuitous ARP frames for `sender` seen in the peer namespace, with their arrival
/// times, until `count` arrived or `within` passed. `ready` is signalled once the capture
/// socket is open, so nothing sent afterwards is missed.
fn capture_garps(
    link: &Link,
    sender: Ipv4Addr,
    count: usize,
    within: Duration,
    ready: mpsc::SyncSender<()>,
) -> Vec<(Instant, Vec<u8>)> {
    link.peer.enter();
    let fd = socket::socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::EthAll,
    )
    .expect("open a packet capture socket");
    let tick = nix::sys::time::TimeVal::new(0, 20_000);
    socket::setsockopt(&fd, socket::sockopt::ReceiveTimeout, &tick).expect("receive timeout");
    ready.send(()).expect("the test waits for the capture");
    let deadline = Instant::now() + within;
    let mut frames = Vec::new();
    let mut buffer = [0u8; 2048];
    while frames.len() < count && Instant::now() < deadline {
        let Ok(len) = socket::recv(fd.as_raw_fd(), &mut buffer, MsgFlags::empty()) else {
            continue;
        };
        let frame = &buffer[..len];
        if len >= 42 && frame[12..14] == [0x08, 0x06] && frame[28..32] == sender.octets() {
            frames.push((Instant::now(), frame.to_vec()));
        }
    }
    frames
}

fn mac_bytes(text: &str) -> Vec<u8> {
    text.split(':')
        .map(|byte| u8::from_str_radix(byte, 16).expect("hex MAC"))
        .collect()
}

/// Starts the VIP in the host namespace while capturing in the peer namespace; returns
/// the outcome and the frames' delays since the start was called.
/// Start the VIP while capturing `count` announcements: the outcome, how long the start
/// took, and each frame with its delay after the start was called. The agent's runtime
/// lives on for the rest of the burst, which goes on in the background, as in an agent.
fn start_while_capturing(
    link: &Link,
    vip_request: &OperationRequest,
    count: usize,
) -> (Outcome, Duration, Vec<(Duration, Vec<u8>)>) {
    let vip: Ipv4Addr = VIP.parse().expect("ipv4");
    let (ready_sender, ready) = mpsc::sync_channel(1);
    std::thread::scope(|scope| {
        let within = Duration::from_secs(3);
        let capture = scope.spawn(move || capture_garps(link, vip, count, within, ready_sender));
        ready.recv().expect("the capture starts");
        let started = Instant::now();
        let (outcome, took) = link.host.run(|| async {
            let outcome = VipAgent.start(vip_request).await;
            let took = started.elapsed();
            // The burst goes on in this runtime's background: keep it until the capture
            // has seen it (or given up).
            while !capture.is_finished() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (outcome, took)
        });
        let frames = capture.join().expect("capture thread");
        let frames = frames.into_iter().map(|(at, frame)| (at - started, frame));
        (outcome, took, frames.collect())
    })
}

#[test]
fn netlink_vip_is_added_with_its_label_announced_monitored_and_removed() {
    if !netns_tests_enabled("netlink_vip_is_added_with_its_label_announced_monitored_and_removed") {
        return;
    }
    let link = Link::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let vip_request = vip_request(dir.path(), &[("nic", HOST_NIC), ("iflabel", "web")]);
    poll(
        Duration::from_secs(5),
        "the IPv6 link-local address",
        || has_link_local(&link).then_some(()),
    );
    link.seed_stale_peer_neighbour(VIP);
    let (outcome, took, frames) = start_while_capturing(&link, &vip_request, 3);
    assert_eq!(outcome, Outcome::Ok);
    let lines = vip_lines(&link);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(&format!("inet {VIP}/32 ")), "{lines:?}");
    assert!(lines[0].contains("vip0:web"), "labelled: {lines:?}");

    assert_eq!(frames.len(), 3, "three gratuitous ARPs reach the peer");
    for (_, frame) in &frames {
        assert_eq!(frame[6..12], mac_bytes(HOST_MAC), "from the host's MAC");
        assert_eq!(frame[22..28], mac_bytes(HOST_MAC), "ARP sender MAC");
        assert_eq!(frame[38..42], frame[28..32], "ARP target is the VIP itself");
    }
    let delays: Vec<Duration> = frames.iter().map(|(delay, _)| *delay).collect();
    eprintln!("gratuitous ARPs reached the peer {delays:?} after the start was called");
    let burst = delays[2] - delays[0];
    assert!(burst >= Duration::from_millis(140), "{delays:?}");
    assert!(
        took < delays[2],
        "the start returns after the first announcement, not after the burst: took {took:?}, \
         frames at {delays:?}"
    );
    // Packet sockets see a frame just before ARP processes it, hence the wait.
    link.wait_until_peer_learns(VIP);

    link.host.run(|| async {
        assert_eq!(VipAgent.monitor(&vip_request).await, Outcome::Ok);
        let again = VipAgent.start(&vip_request).await;
        assert_eq!(again, Outcome::Ok, "idempotent");
    });
    assert_eq!(vip_lines(&link).len(), 1, "a second start adds nothing");

    link.host.run(|| async {
        assert_eq!(VipAgent.stop(&vip_request).await, Outcome::Ok);
        assert_eq!(VipAgent.monitor(&vip_request).await, Outcome::NotRunning);
        assert_eq!(VipAgent.stop(&vip_request).await, Outcome::Ok, "idempotent");
    });
    let remaining = host_ipv4_lines(&link);
    assert_eq!(remaining.len(), 1, "{remaining:?}");
    assert!(
        remaining[0].contains("inet 198.18.0.1/24 "),
        "{remaining:?}"
    );
    assert!(
        has_link_local(&link),
        "the IPv6 link-local address is left alone"
    );
}

#[test]
fn announcements_stop_once_the_vip_is_released() {
    if !netns_tests_enabled("announcements_stop_once_the_vip_is_released") {
        return;
    }
    let link = Link::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let vip_request = vip_request(dir.path(), &[("nic", HOST_NIC), ("arp_count", "5")]);
    let vip: Ipv4Addr = VIP.parse().expect("ipv4");
    let (ready_sender, ready) = mpsc::sync_channel(1);
    let frames = std::thread::scope(|scope| {
        let within = Duration::from_millis(1500);
        let link = &link;
        let capture = scope.spawn(move || capture_garps(link, vip, 5, within, ready_sender));
        ready.recv().expect("the capture starts");
        link.host.run(|| async {
            assert_eq!(VipAgent.start(&vip_request).await, Outcome::Ok);
            // Released before the second announcement is due (50 ms after the first): a
            // later one would point the neighbours at a host without the address. The
            // runtime, where a wrong burst would go on, lives until the capture's window
            // has passed.
            assert_eq!(VipAgent.stop(&vip_request).await, Outcome::Ok);
            while !capture.is_finished() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        capture.join().expect("capture thread")
    });
    assert_eq!(frames.len(), 1, "only the first announcement went out");
}

#[test]
fn netlink_vip_monitor_reports_not_running_after_someone_else_removes_it() {
    if !netns_tests_enabled("netlink_vip_monitor_reports_not_running_after_someone_else_removes_it")
    {
        return;
    }
    let link = Link::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let vip_request = vip_request(dir.path(), &[("nic", HOST_NIC), ("arp_count", "1")]);
    link.host.run(|| async {
        assert_eq!(VipAgent.start(&vip_request).await, Outcome::Ok);
        assert_eq!(VipAgent.monitor(&vip_request).await, Outcome::Ok);
    });
    link.host
        .ip(&["addr", "del", &format!("{VIP}/32"), "dev", HOST_NIC]);
    link.host.run(|| async {
        assert_eq!(VipAgent.monitor(&vip_request).await, Outcome::NotRunning);
        assert_eq!(VipAgent.stop(&vip_request).await, Outcome::Ok);
    });
    assert_eq!(
        host_ipv4_lines(&link).len(),
        1,
        "198.18.0.1/24 is still there"
    );
}

#[test]
fn netlink_vip_without_nic_goes_to_the_interface_whose_subnet_contains_it() {
    if !netns_tests_enabled(
        "netlink_vip_without_nic_goes_to_the_interface_whose_subnet_contains_it",
    ) {
        return;
    }
    let link = Link::new();
    let dir = tempfile::tempdir().expect("temp dir");
    // A second interface on another subnet must not be chosen.
    link.host.ip(&[
        "link", "add", "other0", "type", "veth", "peer", "name", "other1",
    ]);
    link.host
        .ip(&["addr", "add", "198.19.0.1/24", "dev", "other0"]);
    link.host.ip(&["link", "set", "other0", "up"]);
    let params = [("cidr_netmask", "24"), ("arp_count", "0")];
    let found = vip_request(dir.path(), &params);
    let mut nowhere = vip_request(dir.path(), &params);
    nowhere.params.insert("ip".into(), "198.18.77.1".into());
    let (found_outcome, nowhere_outcome) = link
        .host
        .run(|| async { (VipAgent.start(&found).await, VipAgent.start(&nowhere).await) });
    assert_eq!(found_outcome, Outcome::Ok);
    let lines = vip_lines(&link);
    assert!(
        lines.len() == 1 && lines[0].contains(&format!("inet {VIP}/24 ")),
        "{lines:?}"
    );
    let expected = "no interface has an address in a subnet containing 198.18.77.1; \
                    set the nic parameter";
    assert_eq!(nowhere_outcome, Outcome::failed(Severity::Hard, expected));
    link.host.run(|| async {
        assert_eq!(VipAgent.stop(&found).await, Outcome::Ok);
        assert_eq!(VipAgent.monitor(&found).await, Outcome::NotRunning);
    });
    assert_eq!(vip_lines(&link), Vec::<String>::new());
}

#[test]
fn netlink_ipv6_vip_is_usable_at_once_and_advertised_to_the_peer() {
    if !netns_tests_enabled("netlink_ipv6_vip_is_usable_at_once_and_advertised_to_the_peer") {
        return;
    }
    const VIP6: &str = "2001:2::100";
    let link = Link::new();
    let dir = tempfile::tempdir().expect("temp dir");
    link.host
        .ip_words("-6 addr add 2001:2::1/64 dev vip0 nodad");
    link.peer
        .ip_words("-6 addr add 2001:2::2/64 dev peer0 nodad");
    link.seed_stale_peer_neighbour(VIP6);
    let mut vip_request = vip_request(dir.path(), &[("nic", HOST_NIC), ("arp_count", "2")]);
    vip_request.params.insert("ip".into(), VIP6.into());
    link.host.run(|| async {
        assert_eq!(VipAgent.start(&vip_request).await, Outcome::Ok);
        assert_eq!(VipAgent.monitor(&vip_request).await, Outcome::Ok);
        // Without duplicate address detection the address is usable at once.
        let vip6: std::net::Ipv6Addr = VIP6.parse().expect("ipv6");
        let bound = std::net::UdpSocket::bind((vip6, 0));
        assert!(bound.is_ok(), "{bound:?}");
    });
    let shown = link.host.ip(&["-6", "addr", "show", "dev", HOST_NIC]);
    let vip_line = shown
        .lines()
        .find(|line| line.contains(&format!("inet6 {VIP6}/128 ")))
        .unwrap_or_else(|| panic!("{VIP6}/128 is on {HOST_NIC}: {shown}"));
    assert!(
        vip_line.contains("nodad") && !vip_line.contains("tentative"),
        "{shown}"
    );
    link.wait_until_peer_learns(VIP6);
    link.host.run(|| async {
        assert_eq!(VipAgent.stop(&vip_request).await, Outcome::Ok);
        assert_eq!(VipAgent.monitor(&vip_request).await, Outcome::NotRunning);
    });
    let shown = link.host.ip(&["-6", "addr", "show", "dev", HOST_NIC]);
    assert!(!shown.contains(VIP6), "{shown}");
    assert!(shown.contains("inet6 2001:2::1/64 "), "{shown}");
    assert!(has_link_local(&link), "{shown}");
}

#[test]
fn netlink_vip_on_an_interface_without_ethernet_is_added_without_announcing() {
    if !netns_tests_enabled(
        "netlink_vip_on_an_interface_without_ethernet_is_added_without_announcing",
    ) {
        return;
    }
    let link = Link::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut vip_request = vip_request(dir.path(), &[("nic", "lo")]);
    vip_request.params.insert("ip".into(), "198.18.1.1".into());
    link.host.run(|| async {
        assert_eq!(VipAgent.start(&vip_request).await, Outcome::Ok);
        assert_eq!(VipAgent.monitor(&vip_request).await, Outcome::Ok);
    });
    let shown = link.host.ip_words("-o -4 addr show dev lo");
    assert!(shown.contains("inet 198.18.1.1/32 "), "{shown}");
    link.host.run(|| async {
        assert_eq!(VipAgent.stop(&vip_request).await, Outcome::Ok);
        assert_eq!(VipAgent.monitor(&vip_request).await, Outcome::NotRunning);
    });
    let shown = link.host.ip_words("-o -4 addr show dev lo");
    assert!(
        shown.contains("inet 127.0.0.1/8 ") && !shown.contains("198.18.1.1"),
        "{shown}"
    );
}
