//! The remote monitors' runtime pieces: what of a resource is probed from outside, how
//! an HTTP answer is judged, and real probes against listeners on loopback.

use std::collections::BTreeMap;

use model::{NodeId, Resource, ResourceId};
use monitor::remote::{Probe, TargetKind};

use super::*;

fn resource(type_name: &str, params: &[(&str, &str)]) -> Resource {
    let text = format!("id = \"web\"\ntype = \"{type_name}\"\n");
    let mut resource: Resource = toml::from_str(&text).expect("a minimal resource");
    resource.id = ResourceId("web".into());
    resource.params = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect::<BTreeMap<_, _>>();
    resource
}

#[test]
fn a_process_is_probed_by_its_http_probe_before_its_tcp_probe() {
    let process = resource(
        "process",
        &[
            ("probe_tcp", "127.0.0.1:1"),
            ("probe_http", "http://127.0.0.1:2/health"),
        ],
    );
    let targets = resource_targets(&process, NodeId(2), &[]);
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].id, "resource:web");
    assert_eq!(targets[0].owner, NodeId(2));
    assert_eq!(
        targets[0].probe,
        Probe::Http {
            address: "127.0.0.1:2".into(),
            path: "/health".into()
        }
    );
    assert!(resource_targets(&resource("process", &[]), NodeId(2), &[]).is_empty());
}

#[test]
fn a_vip_answers_when_its_address_does_and_a_single_director_by_its_listeners() {
    let vip = resource_targets(&resource("vip", &[("ip", "10.0.0.5")]), NodeId(1), &[]);
    assert_eq!(vip[0].kind, TargetKind::Vip);
    assert_eq!(vip[0].probe, Probe::Address("10.0.0.5:9".into()));
    let lb = resource(
        "lb",
        &[
            ("listen", "10.0.0.5:80, 10.0.0.6:80"),
            ("servers", "a=1.2.3.4:80"),
        ],
    );
    let ids: Vec<String> = resource_targets(&lb, NodeId(1), &[])
        .into_iter()
        .map(|target| target.id)
        .collect();
    assert_eq!(
        ids,
        ["listener:web@10.0.0.5:80", "listener:web@10.0.0.6:80"]
    );
}

/// A clone director listens on every VIP's address on every node, but only the node
/// holding a VIP answers on it: each instance's listener is probed where its node holds
/// that listener's VIP, and nowhere else.
#[test]
fn a_clone_directors_listener_is_probed_on_the_node_holding_its_vip() {
    let mut lb = resource(
        "lb",
        &[
            ("listen", "10.0.0.5:80, 10.0.0.6:80"),
            ("servers", "a=1.2.3.4:80"),
        ],
    );
    lb.clone = Some(model::CloneOptions::default());
    let held = [
        ("10.0.0.5".parse().expect("ip"), NodeId(1)),
        ("10.0.0.6".parse().expect("ip"), NodeId(2)),
    ];
    let ids = |node| -> Vec<(String, NodeId)> {
        resource_targets(&lb, node, &held)
            .into_iter()
            .map(|target| (target.id, target.owner))
            .collect()
    };
    assert_eq!(
        ids(NodeId(1)),
        [("listener:web@10.0.0.5:80".into(), NodeId(1))]
    );
    assert_eq!(
        ids(NodeId(2)),
        [("listener:web@10.0.0.6:80".into(), NodeId(2))]
    );
    assert!(ids(NodeId(3)).is_empty(), "node 3 holds no VIP");
}

#[test]
fn http_answers_are_judged_by_their_status_line() {
    assert_eq!(http_status_ok(b"HTTP/1.0 200 OK\r\n"), Ok(()));
    assert_eq!(http_status_ok(b"HTTP/1.1 302 Found"), Ok(()));
    assert_eq!(
        http_status_ok(b"HTTP/1.1 503 x"),
        Err("answered 503".into())
    );
    assert!(
        http_status_ok(b"")
            .expect_err("empty")
            .contains("not an HTTP answer")
    );
}

fn target(probe: Probe) -> Target {
    Target::new(TargetKind::Resource, "web", NodeId(2), probe)
}

#[tokio::test]
async fn real_probes_see_an_open_a_refused_and_a_silent_port() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let open = listener.local_addr().expect("addr").to_string();
    let closed = {
        let gone = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        gone.local_addr().expect("addr").to_string()
    };
    let source = Some("127.0.0.1".parse().expect("ip"));
    let seen = probe_target(target(Probe::Tcp(open.clone())), source).await;
    assert!(seen.reachable, "{}", seen.detail);
    let seen = probe_target(target(Probe::Tcp(closed.clone())), source).await;
    assert!(!seen.reachable);
    assert!(seen.detail.contains("refused"), "{}", seen.detail);
    // A refused connection still shows that the address answers.
    let seen = probe_target(target(Probe::Address(closed)), source).await;
    assert!(seen.reachable, "{}", seen.detail);
    // A listener that accepts and never answers fails an HTTP probe at its timeout.
    let http = Probe::Http {
        address: open,
        path: "/".into(),
    };
    let seen = probe_target(target(http), source).await;
    assert!(!seen.reachable);
    assert!(seen.detail.contains("no answer"), "{}", seen.detail);
    drop(listener);
}

#[test]
fn probes_leave_from_the_nodes_own_address_unless_it_is_unspecified() {
    assert_eq!(
        source_of("127.0.3.2:7000"),
        Some("127.0.3.2".parse().expect("ip"))
    );
    assert_eq!(source_of("0.0.0.0:7000"), None);
    assert_eq!(source_of("peer.example:7000"), None);
}
