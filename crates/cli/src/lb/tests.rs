//! Server edits of `encluster lb server`: pure functions over an lb resource's params.

use std::collections::BTreeMap;

use super::{ServerCommand, edit};

fn params() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("listen".to_string(), "127.0.0.50:80".to_string()),
        (
            "servers".to_string(),
            "a=127.0.0.1:1,b=127.0.0.1:2".to_string(),
        ),
    ])
}

fn server(name: &str) -> (String, String) {
    ("web".to_string(), name.to_string())
}

#[test]
fn add_drain_weight_and_remove_edit_the_lists() {
    let (service, name) = server("c");
    let add = ServerCommand::Add {
        service,
        server: name,
        addr: "127.0.0.1:3".into(),
        weight: Some(2),
    };
    let p = edit(&params(), &add).expect("add");
    assert_eq!(p["servers"], "a=127.0.0.1:1,b=127.0.0.1:2,c=127.0.0.1:3");
    assert_eq!(p["weights"], "c=2");
    let (service, name) = server("a");
    let p = edit(
        &p,
        &ServerCommand::Drain {
            service,
            server: name,
        },
    )
    .expect("drain");
    assert_eq!(p["draining"], "a");
    let (service, name) = server("a");
    let p = edit(
        &p,
        &ServerCommand::Weight {
            service,
            server: name,
            weight: 5,
        },
    )
    .expect("weight");
    assert_eq!(p["weights"], "c=2,a=5");
    let (service, name) = server("a");
    let p = edit(
        &p,
        &ServerCommand::Remove {
            service,
            server: name,
        },
    )
    .expect("remove");
    assert_eq!(p["servers"], "b=127.0.0.1:2,c=127.0.0.1:3");
    assert!(
        !p.contains_key("draining"),
        "a removed server leaves no drain entry"
    );
    assert_eq!(p["weights"], "c=2");
}

#[test]
fn unknown_servers_and_duplicates_are_refused_with_the_names() {
    let (service, name) = server("z");
    let error = edit(
        &params(),
        &ServerCommand::Drain {
            service,
            server: name,
        },
    )
    .expect_err("z");
    assert!(error.to_string().contains("no server \"z\""), "{error}");
    assert!(error.to_string().contains("a, b"), "{error}");
    let (service, name) = server("a");
    let add = ServerCommand::Add {
        service,
        server: name,
        addr: "127.0.0.1:9".into(),
        weight: None,
    };
    assert!(
        edit(&params(), &add)
            .expect_err("dup")
            .to_string()
            .contains("already exists")
    );
}

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
