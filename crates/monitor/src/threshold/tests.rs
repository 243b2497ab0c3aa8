//! Threshold rules: parsing and the hysteresis state machine, with scripted samples.

use super::*;

fn rule(text: &str) -> Rule {
    Rule::parse(text).expect("a valid rule")
}

/// Feeds `(at_ms, value)` samples and returns the transitions with their times.
fn run(rule: &Rule, samples: &[(u64, f64)]) -> Vec<(u64, Transition)> {
    let mut state = Hysteresis::default();
    samples
        .iter()
        .filter_map(|&(at, value)| state.observe(rule, at, value).map(|t| (at, t)))
        .collect()
}

#[test]
fn a_rule_fires_only_after_its_condition_held_for_its_duration() {
    let disk = rule("host_data_disk_used_ratio > 0.9 for 1m");
    let samples = [
        (0, 0.95),
        (30_000, 0.96),
        (50_000, 0.80), // back under: the minute starts again
        (60_000, 0.95),
        (110_000, 0.97),
        (120_000, 0.97),
        (180_000, 0.50),
        (239_999, 0.50),
        (240_000, 0.50),
    ];
    assert_eq!(
        run(&disk, &samples),
        [
            (120_000, Transition::Fired),
            (240_000, Transition::Resolved)
        ]
    );
}

#[test]
fn hysteresis_keeps_a_wavering_value_from_flapping() {
    let disk = rule("host_data_disk_used_ratio > 0.9 clear 0.85");
    let samples = [
        (0, 0.91),
        (1_000, 0.89),
        (2_000, 0.91),
        (3_000, 0.88),
        (4_000, 0.86),
        (5_000, 0.84),
        (6_000, 0.91),
    ];
    assert_eq!(
        run(&disk, &samples),
        [
            (0, Transition::Fired),
            (5_000, Transition::Resolved),
            (6_000, Transition::Fired)
        ]
    );
}

#[test]
fn below_rules_labels_and_gaps() {
    let free = rule("host_memory_available_bytes < 1e9 for 2s");
    let samples = [(0, 5e8), (1_000, f64::NAN), (2_000, 4e8), (3_000, 2e9)];
    assert_eq!(run(&free, &samples), [(2_000, Transition::Fired)]);
    let errors = rule("lb_errors{service=web} >= 5");
    let labels = |v: &str| vec![("service".to_owned(), v.to_owned())];
    assert!(errors.matches("lb_errors", &labels("web")));
    assert!(!errors.matches("lb_errors", &labels("api")));
    assert!(!errors.matches("lb_requests", &labels("web")));
}

#[test]
fn bad_rules_name_their_problem() {
    let error = |text: &str| Rule::parse(text).expect_err("refused");
    assert!(
        error("disk > ").contains("expected"),
        "{}",
        error("disk > ")
    );
    assert!(error("disk ~ 3").contains("unknown comparison"));
    assert!(error("disk > x").contains("not a number"));
    assert!(error("disk > 1 for soon").contains("duration"));
    assert!(error("disk > 1 clear 2").contains("would itself fire"));
    assert!(error("disk{a} > 1").contains("key=value"));
    assert!(error("di/sk > 1").contains("not a series name"));
    assert!(error("disk > 1 until 3").contains("unknown word"));
}

#[test]
fn the_canonical_text_parses_to_the_same_rule() {
    let original = rule("lb_errors{service=web} >= 5 for 1m clear 2");
    assert_eq!(rule(&original.text()), original);
    assert_eq!(
        original.text(),
        "lb_errors{service=web} >= 5 for 1m clear 2"
    );
}
