//! Unit tests of configuration parsing and validation: each invalid snapshot is rejected with
//! an error naming the service and server.

use std::time::Duration;

use super::{Algorithm, ConfigError, HealthCheckKind, LbConfig, ServerState};

const VALID: &str = r#"
[[services]]
name = "web"
listen = "10.0.0.10:80"
protocol = "http"
algorithm = "weighted_round_robin"
persistence = "5m"
sorry_server = "127.0.0.1:8099"
max_conns = 1000

[services.health]
interval = "2s"
timeout = "1s"
rise = 2
fall = 3
kind = { type = "http", path = "/healthz", expect_status = 200, body_contains = "ok" }

[[services.servers]]
name = "a"
addr = "10.0.1.1:8080"
weight = 3

[[services.servers]]
name = "b"
addr = "10.0.1.2:8080"
state = "draining"
max_conns = 50
"#;

fn parse(text: &str) -> LbConfig {
    toml::from_str(text).expect("test config parses")
}

fn check(edit: impl FnOnce(&mut LbConfig), expected: &str) {
    let mut config = parse(VALID);
    edit(&mut config);
    let error = config
        .validate()
        .expect_err("the edit makes the config invalid");
    assert_eq!(error.to_string(), expected);
}

#[test]
fn valid_config_parses_with_defaults_and_round_trips() {
    let config = parse(VALID);
    config.validate().expect("valid");
    let web = &config.services[0];
    assert_eq!(web.algorithm, Algorithm::WeightedRoundRobin);
    assert_eq!(web.persistence, Some(Duration::from_secs(300)));
    assert_eq!(web.idle_timeout, Duration::from_secs(300));
    assert_eq!(web.servers[1].weight, 1);
    assert_eq!(web.servers[1].state, ServerState::Draining);
    assert!(matches!(
        web.health.kind,
        HealthCheckKind::Http {
            expect_status: 200,
            ..
        }
    ));
    let json = serde_json::to_string(&config).expect("serializes");
    let back: LbConfig = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, config);
}

#[test]
fn duplicate_server_name_is_rejected() {
    check(
        |config| config.services[0].servers[1].name = "a".to_owned(),
        "service \"web\" server \"a\": duplicate server name",
    );
}

#[test]
fn zero_limits_and_bad_health_settings_are_rejected() {
    check(
        |config| config.services[0].max_conns = Some(0),
        "service \"web\": max_conns must be at least 1",
    );
    check(
        |config| config.services[0].health.timeout = Duration::from_secs(5),
        "service \"web\": health timeout must be positive and at most the interval",
    );
    check(
        |config| config.services[0].health.fall = 0,
        "service \"web\": health fall must be in 1..=100",
    );
    check(
        |config| config.services[0].servers[0].weight = 1_000_000,
        "service \"web\" server \"a\": weight 1000000 above 65536",
    );
}

#[test]
fn two_services_on_one_address_are_rejected() {
    check(
        |config| {
            let mut other = config.services[0].clone();
            other.name = "api".to_owned();
            config.services.push(other);
        },
        "services \"web\" and \"api\" both listen on 10.0.0.10:80",
    );
}

#[test]
fn bad_names_and_paths_are_rejected() {
    check(
        |config| config.services[0].name = "has space".to_owned(),
        "service \"has space\": name \"has space\" must be 1..=128 characters of [A-Za-z0-9-_.:]",
    );
    check(
        |config| {
            config.services[0].health.kind = HealthCheckKind::Http {
                path: "healthz".to_owned(),
                expect_status: 200,
                body_contains: None,
            }
        },
        "service \"web\": health path must start with / and be short",
    );
    let error = LbConfig {
        services: vec![parse(VALID).services[0].clone(); 2],
    }
    .validate();
    assert_eq!(
        error,
        Err(ConfigError::DuplicateService {
            service: "web".to_owned()
        })
    );
}

#[test]
fn listen_is_one_address_or_a_list_of_vips() {
    assert_eq!(
        parse(VALID).services[0].listen,
        vec!["10.0.0.10:80".parse().expect("address")]
    );
    let many = VALID.replace(
        r#"listen = "10.0.0.10:80""#,
        r#"listen = ["10.0.0.10:80", "10.0.0.11:80"]"#,
    );
    let config = parse(&many);
    assert_eq!(config.services[0].listen.len(), 2);
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn empty_repeated_or_shared_listen_addresses_are_rejected() {
    check(
        |config| config.services[0].listen.clear(),
        "service \"web\": listen needs 1..=64 addresses, got 0",
    );
    check(
        |config| {
            let first = config.services[0].listen[0];
            config.services[0].listen.push(first);
        },
        "service \"web\": listen names one address twice",
    );
    check(
        |config| {
            let mut other = config.services[0].clone();
            other.name = "api".to_owned();
            other.listen = vec![
                "10.0.0.99:80".parse().expect("address"),
                config.services[0].listen[0],
            ];
            config.services.push(other);
        },
        "services \"web\" and \"api\" both listen on 10.0.0.10:80",
    );
}
