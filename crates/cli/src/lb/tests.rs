//! `encluster lb` rendering of a virtual service's servers (the edits themselves are
//! `model::ServerEdit`, applied by the state machine).

use std::collections::BTreeMap;

#[test]
fn counters_name_every_server_with_its_health_and_drain_state() {
    let server = |name: &str, healthy: bool, drained: bool| api::LbServerStats {
        name: name.into(),
        addr: "127.0.0.1:1".into(),
        state: if drained {
            "draining".into()
        } else {
            "active".into()
        },
        healthy,
        weight: 1,
        connections_active: 0,
        connections_total: 3,
        requests_total: 3,
        errors_total: 0,
        drained,
    };
    let stats = api::LbStats {
        service: "web".into(),
        node: 2,
        connections_total: 6,
        connections_active: 0,
        connections_rejected: 0,
        bytes_in: 10,
        bytes_out: 20,
        requests_total: 6,
        errors_total: 0,
        servers: vec![server("a", true, false), server("b", false, true)],
    };
    let text = super::render_stats(&stats);
    assert!(
        text.starts_with("counters from node 2: connections 6 total"),
        "{text}"
    );
    assert!(
        text.contains("DOWN") && text.contains("drained: safe to remove"),
        "{text}"
    );
}

fn view(
    name: &str,
    type_name: &str,
    params: &[(&str, &str)],
    running: &[u64],
) -> api::ResourceView {
    let params: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let spec = serde_json::json!({ "name": name, "type": type_name, "params": params });
    let instances: Vec<serde_json::Value> = running
        .iter()
        .map(|node| serde_json::json!({"node": node, "state": "running", "fail_count": 0}))
        .collect();
    serde_json::from_value(serde_json::json!({
        "spec": spec,
        "group": null,
        "instances": instances,
    }))
    .expect("a resource view")
}

#[test]
fn each_vip_of_a_service_names_its_director() {
    let web = view(
        "web",
        "lb",
        &[("listen", "198.18.0.101:80,198.18.0.102:80,198.18.0.103:80")],
        &[1, 2, 3],
    );
    let all = vec![
        web.clone(),
        view("vip1", "vip", &[("ip", "198.18.0.101")], &[2]),
        view(
            "vip2",
            "ocf:heartbeat:IPaddr2",
            &[("ip", "198.18.0.102")],
            &[3],
        ),
    ];
    assert_eq!(
        super::render_directors(&web, &all),
        "  director of 198.18.0.101:80: node 2 (vip1)\n\
         \x20 director of 198.18.0.102:80: node 3 (vip2)\n\
         \x20 director of 198.18.0.103:80: -\n"
    );
}
