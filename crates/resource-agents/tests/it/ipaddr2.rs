//! The real `ocf:heartbeat:IPaddr2` from Debian's resource-agents package, run through
//! the `ocf` type inside a network namespace, next to the `vip` agent's netlink mode:
//! both must see the same address, so an operator can move from one to the other.

use super::netns::{HOST_NIC, Link, netns_tests_enabled};
use super::request;
use resource_agents::{Outcome, ResourceAgent, VipAgent, builtin};
use std::path::Path;

const OCF_ROOT: &str = "/usr/lib/ocf";
const VIP: &str = "198.18.0.101";

#[test]
fn ipaddr2_starts_is_monitored_and_stops_through_the_ocf_type() {
    if !netns_tests_enabled("ipaddr2_starts_is_monitored_and_stops_through_the_ocf_type") {
        return;
    }
    let script = Path::new(OCF_ROOT).join("resource.d/heartbeat/IPaddr2");
    assert!(
        script.is_file(),
        "{} is missing: install Debian's resource-agents package",
        script.display()
    );
    let link = Link::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = builtin("ocf:heartbeat:IPaddr2", Path::new(OCF_ROOT)).expect("ocf is built in");
    let params = [
        ("ip", VIP),
        ("cidr_netmask", "24"),
        ("nic", HOST_NIC),
        ("iflabel", "ocf"),
    ];
    let ocf_request = request("ipaddr2-vip", &params, dir.path());
    // The same address, as the `vip` agent in netlink mode would manage it.
    let vip_request = request(
        "ipaddr2-vip",
        &[("ip", VIP), ("mode", "netlink"), ("nic", HOST_NIC)],
        dir.path(),
    );
    link.seed_stale_peer_neighbour(VIP);
    link.host.run(|| async {
        assert_eq!(agent.monitor(&ocf_request).await, Outcome::NotRunning);
        assert_eq!(agent.start(&ocf_request).await, Outcome::Ok);
        assert_eq!(agent.monitor(&ocf_request).await, Outcome::Ok);
        assert_eq!(VipAgent.monitor(&vip_request).await, Outcome::Ok);
    });
    let shown = link.host.ip(&["-o", "-4", "addr", "show", "dev", HOST_NIC]);
    assert!(shown.contains(&format!("inet {VIP}/24 ")), "{shown}");
    assert!(shown.contains("vip0:ocf"), "{shown}");
    // IPaddr2's send_arp announces the address, as the netlink mode does.
    link.wait_until_peer_learns(VIP);
    link.host.run(|| async {
        assert_eq!(agent.stop(&ocf_request).await, Outcome::Ok);
        assert_eq!(agent.monitor(&ocf_request).await, Outcome::NotRunning);
        assert_eq!(VipAgent.monitor(&vip_request).await, Outcome::NotRunning);
        assert_eq!(agent.stop(&ocf_request).await, Outcome::Ok, "idempotent");
    });
    let shown = link.host.ip(&["-o", "-4", "addr", "show", "dev", HOST_NIC]);
    assert!(!shown.contains(VIP), "{shown}");
    assert!(shown.contains("inet 198.18.0.1/24 "), "{shown}");
}
