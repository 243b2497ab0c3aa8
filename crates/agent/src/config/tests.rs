//! The `[api]` and `[lb]` limits: defaults pass, and values out of reason are refused
//! with the field named.

use std::time::Duration;

use super::{ApiLimits, LbLimits, check_limits};

fn check(api: ApiLimits, lb: LbLimits, expected: Option<&str>) {
    match (check_limits(&api, &lb), expected) {
        (Ok(()), None) => {}
        (Err(error), Some(field)) => {
            let message = error.to_string();
            assert!(message.starts_with(field), "{message}");
        }
        (result, expected) => panic!("{result:?}, expected {expected:?}"),
    }
}

#[test]
fn default_limits_pass() {
    check(ApiLimits::default(), LbLimits::default(), None);
}

#[test]
fn limits_out_of_reason_are_refused_with_the_field_named() {
    let api = ApiLimits::default;
    check(
        ApiLimits {
            header_read_timeout: Duration::ZERO,
            ..api()
        },
        LbLimits::default(),
        Some("api.header_read_timeout"),
    );
    check(
        ApiLimits {
            body_read_timeout: Duration::from_secs(3600),
            ..api()
        },
        LbLimits::default(),
        Some("api.body_read_timeout"),
    );
    check(
        api(),
        LbLimits {
            body_read_timeout: Duration::from_millis(10),
            ..LbLimits::default()
        },
        Some("lb.body_read_timeout"),
    );
    check(
        ApiLimits {
            connections_max: 8,
            ..api()
        },
        LbLimits::default(),
        Some("api.connections_max"),
    );
    check(
        ApiLimits {
            connections_per_client_max: 2000,
            ..api()
        },
        LbLimits::default(),
        Some("api.connections_per_client_max"),
    );
}

#[test]
fn the_sections_may_be_left_out_and_fields_given_alone() {
    let api: ApiLimits = toml::from_str("connections_max = 64").expect("parses");
    assert_eq!(api.connections_max, 64);
    assert_eq!(api.header_read_timeout, Duration::from_secs(10));
    let refused = toml::from_str::<ApiLimits>("connection_max = 64");
    assert!(refused.is_err(), "a misspelt field is refused");
}
