//! Unit tests of the health state machine (rise and fall counting) and of the HTTP response
//! matcher.

use std::time::Duration;

use super::{HealthState, fall_bound, response_matches, rise_bound};
use crate::config::{HealthCheck, HealthCheckKind};

/// Feeds results to a state machine and returns the transitions, one per result.
fn check(healthy: bool, rise: u32, fall: u32, results: &[bool]) -> Vec<Option<bool>> {
    let mut state = HealthState::new(healthy, rise, fall);
    results
        .iter()
        .map(|passed| state.observe(*passed))
        .collect()
}

#[test]
fn up_server_goes_down_after_fall_consecutive_failures() {
    let transitions = check(true, 2, 3, &[false, false, false, false]);
    assert_eq!(transitions, [None, None, Some(false), None]);
}

#[test]
fn a_success_resets_the_failure_streak() {
    let transitions = check(true, 2, 3, &[false, false, true, false, false, false]);
    assert_eq!(transitions, [None, None, None, None, None, Some(false)]);
}

#[test]
fn down_server_comes_back_after_rise_consecutive_successes() {
    let transitions = check(false, 2, 3, &[true, false, true, true, true]);
    assert_eq!(transitions, [None, None, None, Some(true), None]);
}

#[test]
fn fall_and_rise_of_one_switch_on_every_change() {
    let transitions = check(true, 1, 1, &[false, false, true]);
    assert_eq!(transitions, [Some(false), None, Some(true)]);
}

#[test]
fn bounds_count_interval_per_check_plus_one_timeout() {
    let check = HealthCheck {
        kind: HealthCheckKind::Tcp,
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(50),
        rise: 2,
        fall: 3,
    };
    assert_eq!(fall_bound(&check), Duration::from_millis(350));
    assert_eq!(rise_bound(&check), Duration::from_millis(250));
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nall is ok";

#[test]
fn response_with_expected_status_matches() {
    assert!(response_matches(OK, 200, None));
    assert!(!response_matches(OK, 204, None));
    assert!(response_matches(b"HTTP/1.0 503 Busy\r\n\r\n", 503, None));
}

#[test]
fn response_body_must_contain_expected_substring() {
    assert!(response_matches(OK, 200, Some("is ok")));
    assert!(!response_matches(OK, 200, Some("is bad")));
    assert!(response_matches(OK, 200, Some("")));
}

#[test]
fn garbage_or_truncated_response_does_not_match() {
    assert!(!response_matches(b"", 200, None));
    assert!(!response_matches(b"SSH-2.0-OpenSSH\r\n", 200, None));
    assert!(!response_matches(
        b"HTTP/1.1 200 OK\r\nContent-Le",
        200,
        Some("ok")
    ));
}
