//! The `lb` type's parameters: parsing into a data-plane service and clear errors.

use std::collections::BTreeMap;

use super::service_config;

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn servers_weights_and_drain_states_become_the_service() {
    let p = params(&[
        ("listen", "127.0.0.50:8080"),
        (
            "servers",
            "a=127.0.0.1:9001, b=127.0.0.1:9002,c=127.0.0.1:9003",
        ),
        ("weights", "a=3"),
        ("draining", "b"),
        ("disabled", "c"),
        ("algorithm", "maglev"),
        ("protocol", "http"),
        ("health", "http"),
        ("health_path", "/health"),
        ("health_body", "ok"),
    ]);
    let service = service_config("web", &p).expect("valid");
    assert_eq!(service.name, "web");
    assert_eq!(service.servers.len(), 3);
    assert_eq!(service.servers[0].weight, 3);
    assert_eq!(service.servers[1].state, lb::ServerState::Draining);
    assert_eq!(service.servers[2].state, lb::ServerState::Disabled);
    assert_eq!(service.algorithm, lb::Algorithm::Maglev);
    assert!(
        matches!(&service.health.kind, lb::HealthCheckKind::Http { path, body_contains, .. }
            if path == "/health" && body_contains.as_deref() == Some("ok"))
    );
}

#[test]
fn bad_parameters_are_named() {
    let missing = service_config("x", &params(&[("listen", "127.0.0.1:1")])).expect_err("servers");
    assert!(
        missing.contains("servers: required parameter is missing"),
        "{missing}"
    );
    let bad = params(&[("listen", "nowhere"), ("servers", "a=127.0.0.1:1")]);
    assert!(
        service_config("x", &bad)
            .expect_err("listen")
            .contains("listen")
    );
    let stray = params(&[
        ("listen", "127.0.0.1:1"),
        ("servers", "a=127.0.0.1:2"),
        ("draining", "z"),
    ]);
    assert!(
        service_config("x", &stray)
            .expect_err("z")
            .contains("\"z\"")
    );
    let shape = params(&[("listen", "127.0.0.1:1"), ("servers", "a:127.0.0.1:2")]);
    assert!(
        service_config("x", &shape)
            .expect_err("shape")
            .contains("name=value")
    );
}

#[test]
fn resource_servers_expand_to_one_server_per_running_instance() {
    let p = params(&[
        ("listen", "127.0.0.50:8080"),
        ("servers", "app=@web-app:9000,fixed=127.0.0.1:9100"),
        ("weights", "app=2"),
    ]);
    let resolve = |resource: &str| {
        assert_eq!(resource, "web-app");
        let instance = |node: &str, ip: &str, draining: bool| super::RunningInstance {
            node: node.to_string(),
            ip: ip.parse().expect("ip"),
            draining,
        };
        vec![
            instance("n1", "127.0.0.11", false),
            instance("n2", "127.0.0.12", false),
            instance("n3", "127.0.0.13", true),
        ]
    };
    let service = super::resolved_service_config("web", &p, &resolve).expect("valid");
    let names: Vec<(&str, String, u32, lb::ServerState)> = service
        .servers
        .iter()
        .map(|s| (s.name.as_str(), s.addr.to_string(), s.weight, s.state))
        .collect();
    let active = lb::ServerState::Active;
    assert_eq!(
        names,
        vec![
            ("app:n1", "127.0.0.11:9000".to_string(), 2, active),
            ("app:n2", "127.0.0.12:9000".to_string(), 2, active),
            // Its grant is withdrawn: it finishes what it has and gets nothing new.
            (
                "app:n3",
                "127.0.0.13:9000".to_string(),
                2,
                lb::ServerState::Draining
            ),
            ("fixed", "127.0.0.1:9100".to_string(), 1, active),
        ]
    );
    let unresolved = service_config("web", &p).expect("syntax is fine without a cluster");
    assert_eq!(unresolved.servers.len(), 1);
    let bad = params(&[("listen", "127.0.0.50:8080"), ("servers", "app=@web-app")]);
    assert!(
        service_config("web", &bad)
            .expect_err("no port")
            .contains("@resource:port")
    );
}

#[test]
fn a_service_lists_several_vips_in_listen() {
    let p = params(&[
        ("listen", "198.18.0.101:80, 198.18.0.102:80"),
        ("servers", "a=127.0.0.1:9001"),
    ]);
    let service = service_config("web", &p).expect("valid");
    let listen: Vec<String> = service.listen.iter().map(ToString::to_string).collect();
    assert_eq!(listen, ["198.18.0.101:80", "198.18.0.102:80"]);

    let twice = params(&[
        ("listen", "198.18.0.101:80,198.18.0.101:80"),
        ("servers", "a=127.0.0.1:9001"),
    ]);
    let error = service_config("web", &twice).expect_err("one address twice");
    assert!(error.contains("listen names one address twice"), "{error}");
    let bad = params(&[
        ("listen", "198.18.0.101:80,nowhere"),
        ("servers", "a=127.0.0.1:9001"),
    ]);
    let error = service_config("web", &bad).expect_err("a bad second address");
    assert!(error.contains("\"nowhere\""), "{error}");
}

/// A reload that follows a cmdb change never brings back a service that a stop removed
/// meanwhile: the stopped node would keep the listener the service's new node must bind
/// (found by the moved-server end-to-end test: the new node's start failed, address in use).
#[tokio::test]
async fn a_reload_after_a_stop_leaves_the_service_stopped() {
    let agent = super::LbAgent::new();
    let first = service_config(
        "web",
        &params(&[("listen", "127.0.0.1:0"), ("servers", "a=127.0.0.1:9001")]),
    )
    .expect("valid");
    let changed = service_config(
        "web",
        &params(&[
            ("listen", "127.0.0.1:0"),
            ("servers", "a=127.0.0.1:9001,b=127.0.0.1:9002"),
        ]),
    )
    .expect("valid");
    assert!(agent.set("web", Some(first)).await.is_ok());
    agent.reload("web", changed.clone()).await;
    assert_eq!(agent.stats("web").await.expect("served").servers.len(), 2);
    assert!(agent.set("web", None).await.is_ok());
    agent.reload("web", changed).await;
    assert!(
        agent.stats("web").await.is_none(),
        "a reload restarted a stopped service"
    );
    assert!(agent.snapshots().await.is_empty());
}
