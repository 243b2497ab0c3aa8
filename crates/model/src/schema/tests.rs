//! Tests of parameter validation: one `check` per feature, one short test per kind and
//! message, asserting the exact text an operator would read.

use super::*;

fn schema() -> ParamSchema {
    ParamSchema::new(vec![
        ParamSpec::new("MaxUser", ParamKind::Integer, "most users at once")
            .with_range(Some(1), Some(10))
            .with_default("5"),
        ParamSpec::new("command", ParamKind::String, "what to run").required(),
        ParamSpec::new(
            "mode",
            ParamKind::Enum(vec!["a".into(), "b".into(), "c".into()]),
            "how",
        ),
        ParamSpec::new("port", ParamKind::Port, "where to listen"),
        ParamSpec::new("verbose", ParamKind::Boolean, "say more").with_default("false"),
        ParamSpec::new("interval", ParamKind::Duration, "how often"),
        ParamSpec::new("ip", ParamKind::IpAddr, "the address"),
        ParamSpec::new("dir", ParamKind::Path, "where to work"),
    ])
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// Validates `pairs` plus a valid `command` and compares the error messages.
fn check_errors(pairs: &[(&str, &str)], expected: &[&str]) {
    let mut given = params(pairs);
    given
        .entry("command".into())
        .or_insert_with(|| "/bin/true".into());
    let errors = schema()
        .validate(&given)
        .expect_err("the parameters should be rejected");
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(messages, expected);
}

fn check_ok(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut given = params(pairs);
    given
        .entry("command".into())
        .or_insert_with(|| "/bin/true".into());
    match schema().validate(&given) {
        Ok(filled) => filled,
        Err(errors) => panic!("unexpected errors: {errors:?}"),
    }
}

#[test]
fn integer_above_maximum_is_rejected() {
    check_errors(
        &[("MaxUser", "11")],
        &["MaxUser: 11 is above the maximum 10"],
    );
}

#[test]
fn integer_below_minimum_is_rejected() {
    check_errors(&[("MaxUser", "0")], &["MaxUser: 0 is below the minimum 1"]);
}

#[test]
fn integer_that_is_not_a_number_is_rejected() {
    check_errors(
        &[("MaxUser", "abc")],
        &["MaxUser: \"abc\" is not an integer"],
    );
}

#[test]
fn integer_within_range_is_accepted() {
    assert_eq!(check_ok(&[("MaxUser", "10")])["MaxUser"], "10");
}

#[test]
fn port_out_of_range_is_rejected() {
    check_errors(
        &[("port", "70000")],
        &["port: 70000 is not a valid port (1-65535)"],
    );
    check_errors(&[("port", "0")], &["port: 0 is not a valid port (1-65535)"]);
    check_errors(
        &[("port", "http")],
        &["port: \"http\" is not a valid port (1-65535)"],
    );
}

#[test]
fn port_in_range_is_accepted() {
    check_ok(&[("port", "65535")]);
    check_ok(&[("port", "1")]);
}

#[test]
fn enum_value_outside_the_list_is_rejected() {
    check_errors(&[("mode", "x")], &["mode: \"x\" is not one of a, b, c"]);
}

#[test]
fn enum_value_in_the_list_is_accepted() {
    check_ok(&[("mode", "b")]);
}

#[test]
fn missing_required_parameter_is_reported() {
    let errors = schema()
        .validate(&params(&[]))
        .expect_err("command is required");
    assert_eq!(
        errors[0].to_string(),
        "command: required parameter is missing"
    );
    assert_eq!(errors.len(), 1);
}

#[test]
fn empty_required_parameter_counts_as_missing() {
    check_errors(
        &[("command", " ")],
        &["command: required parameter is missing"],
    );
}

#[test]
fn unknown_parameter_lists_the_known_ones_and_suggests_a_close_name() {
    let known = "MaxUser, command, mode, port, verbose, interval, ip, dir";
    check_errors(
        &[("Colour", "red")],
        &[&format!(
            "Colour: unknown parameter; known parameters: {known}"
        )],
    );
    check_errors(
        &[("maxuser", "3")],
        &[&format!(
            "maxuser: unknown parameter (did you mean MaxUser?); known parameters: {known}"
        )],
    );
    check_errors(
        &[("verbos", "3")],
        &[&format!(
            "verbos: unknown parameter (did you mean verbose?); known parameters: {known}"
        )],
    );
}

#[test]
fn unknown_parameter_of_a_type_without_parameters_says_so() {
    let errors = ParamSchema::new(vec![])
        .validate(&params(&[("x", "1")]))
        .expect_err("no parameters are known");
    assert_eq!(
        errors[0].to_string(),
        "x: unknown parameter; this type takes no parameters"
    );
}

#[test]
fn boolean_words_are_accepted_and_others_rejected() {
    for word in ["true", "false", "yes", "no", "on", "off", "1", "0", "TRUE"] {
        check_ok(&[("verbose", word)]);
    }
    check_errors(
        &[("verbose", "maybe")],
        &["verbose: \"maybe\" is not a boolean (use true or false)"],
    );
}

#[test]
fn durations_with_units_are_accepted_and_others_rejected() {
    for text in ["10", "500ms", "10s", "2m", "1h30m", "1d"] {
        check_ok(&[("interval", text)]);
    }
    check_errors(
        &[("interval", "10 parsecs")],
        &["interval: \"10 parsecs\" is not a duration (for example 500ms, 10s, 2m, 1h)"],
    );
    check_errors(
        &[("interval", "-5s")],
        &["interval: \"-5s\" is not a duration (for example 500ms, 10s, 2m, 1h)"],
    );
}

#[test]
fn duration_parser_adds_up_parts() {
    assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
    assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration("20"), Some(Duration::from_secs(20)));
    assert_eq!(parse_duration("s"), None);
    assert_eq!(parse_duration("99999999999999999999d"), None);
}

#[test]
fn ip_addresses_of_both_families_are_accepted_and_others_rejected() {
    check_ok(&[("ip", "127.0.0.5")]);
    check_ok(&[("ip", "::1")]);
    check_errors(
        &[("ip", "300.1.1.1")],
        &["ip: \"300.1.1.1\" is not an IP address"],
    );
}

#[test]
fn empty_path_is_rejected() {
    check_ok(&[("dir", "/var/lib/app")]);
    check_errors(
        &[("dir", "")],
        &["dir: \"\" is not a valid path (it is empty)"],
    );
}

#[test]
fn defaults_are_filled_in_for_absent_optional_parameters() {
    let filled = check_ok(&[]);
    assert_eq!(filled["MaxUser"], "5");
    assert_eq!(filled["verbose"], "false");
    assert!(
        !filled.contains_key("mode"),
        "no default, so nothing is invented"
    );
}

#[test]
fn every_problem_is_reported_at_once_in_schema_order() {
    let given = params(&[
        ("MaxUser", "11"),
        ("mode", "x"),
        ("port", "70000"),
        ("Colour", "1"),
    ]);
    let errors = schema().validate(&given).expect_err("four problems");
    let names: Vec<&str> = errors.iter().map(ParamError::param).collect();
    assert_eq!(names, ["MaxUser", "command", "mode", "port", "Colour"]);
}

#[test]
fn port_range_can_be_narrowed_by_the_schema() {
    let schema = ParamSchema::new(vec![
        ParamSpec::new("port", ParamKind::Port, "unprivileged port").with_range(Some(1024), None),
    ]);
    let errors = schema
        .validate(&params(&[("port", "80")]))
        .expect_err("80 is privileged");
    assert_eq!(errors[0].to_string(), "port: 80 is below the minimum 1024");
}

#[test]
fn swapped_letters_count_as_one_typo() {
    assert_eq!(edit_distance("mdoe", "mode"), 1);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(
        closest_name("mdoe", &["mode".into(), "ip".into()]),
        Some("mode".into())
    );
    assert_eq!(closest_name("colour", &["mode".into(), "ip".into()]), None);
}
