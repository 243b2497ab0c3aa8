//! Configuration tests: the defaults are valid, and each mistake gets its own clear message.

use std::time::Duration;

use crate::DetectorConfig;

fn check(change: impl FnOnce(&mut DetectorConfig), expected: &str) {
    let mut config = DetectorConfig::default();
    change(&mut config);
    let error = config.validate().expect_err("the config is invalid");
    assert_eq!(error.to_string(), expected);
}

#[test]
fn defaults_are_the_documented_product_defaults() {
    let config = DetectorConfig::default();
    assert_eq!(config.validate(), Ok(()));
    assert_eq!(config.suspect_after, Duration::from_millis(300));
    assert_eq!(config.down_after, Duration::from_millis(500));
    assert_eq!(config.rejoin_stable, Duration::from_millis(300));
    assert_eq!(config.rejoin_stable_max, Duration::from_secs(10));
    assert_eq!(config.flap_window, Duration::from_secs(60));
}

#[test]
fn zero_or_sub_millisecond_span_is_rejected() {
    check(
        |c| c.suspect_after = Duration::ZERO,
        "suspect_after must be at least 1 ms, got 0ns",
    );
    check(
        |c| c.flap_window = Duration::from_micros(10),
        "flap_window must be at least 1 ms, got 10µs",
    );
}

#[test]
fn span_longer_than_an_hour_is_rejected() {
    check(
        |c| c.rejoin_stable_max = Duration::from_secs(7_200),
        "rejoin_stable_max must be at most 3600s, got 7200s",
    );
}

#[test]
fn suspect_must_come_before_down() {
    check(
        |c| c.down_after = Duration::from_millis(300),
        "suspect_after (300ms) must be shorter than down_after (300ms)",
    );
}

#[test]
fn probation_must_not_exceed_its_cap() {
    check(
        |c| c.rejoin_stable = Duration::from_secs(11),
        "rejoin_stable (11s) must not exceed rejoin_stable_max (10s)",
    );
}
