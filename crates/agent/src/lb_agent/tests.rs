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
    ]);
    let service = service_config("web", &p).expect("valid");
    assert_eq!(service.name, "web");
    assert_eq!(service.servers.len(), 3);
    assert_eq!(service.servers[0].weight, 3);
    assert_eq!(service.servers[1].state, lb::ServerState::Draining);
    assert_eq!(service.servers[2].state, lb::ServerState::Disabled);
    assert_eq!(service.algorithm, lb::Algorithm::Maglev);
    assert!(
        matches!(&service.health.kind, lb::HealthCheckKind::Http { path, .. } if path == "/health")
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
