//! Tests of the shared input parsers: each asserts the exact value or message an operator
//! gets, since the CLI and the server must agree on both.

use super::*;

fn check_duration(text: &str, expected: Option<Duration>) {
    assert_eq!(parse_duration_text(text).ok(), expected, "{text:?}");
}

#[test]
fn durations_accept_short_and_long_units_with_or_without_spaces() {
    check_duration("10m", Some(Duration::from_secs(600)));
    check_duration("10minutes", Some(Duration::from_secs(600)));
    check_duration("10 min", Some(Duration::from_secs(600)));
    check_duration("1h30m", Some(Duration::from_secs(5400)));
    check_duration("1h 30m", Some(Duration::from_secs(5400)));
    check_duration("2 hours", Some(Duration::from_secs(7200)));
    check_duration("500ms", Some(Duration::from_millis(500)));
    check_duration("20", Some(Duration::from_secs(20)));
    check_duration("1d", Some(Duration::from_secs(86_400)));
    check_duration("5S", Some(Duration::from_secs(5)));
}

#[test]
fn durations_refuse_garbage_and_overflow() {
    check_duration("", None);
    check_duration("s", None);
    check_duration("10x", None);
    check_duration("-5s", None);
    check_duration("1.5s", None);
    check_duration("99999999999999999999d", None);
    check_duration("999999999999999d", None);
}

#[test]
fn the_duration_message_names_the_text_and_examples() {
    let error = parse_duration_text("10 parsecs").expect_err("not a duration");
    assert_eq!(
        error.to_string(),
        "\"10 parsecs\" is not a duration: write it like 500ms, 10s, 5m, 10minutes or 1h30m"
    );
}

fn check_name_message(text: &str, expected: Option<&str>) {
    let got = check_name(NameKind::Resource, text)
        .err()
        .map(|e| e.to_string());
    assert_eq!(got.as_deref(), expected, "{text:?}");
}

#[test]
fn ordinary_names_are_accepted() {
    for name in ["web", "db-1", "site_a", "v1.2", "9lives", "a"] {
        check_name_message(name, None);
    }
}

#[test]
fn dot_names_are_refused_regression_issue_11() {
    let tail = ": use 1 to 63 ASCII letters, digits, '-', '_' or '.', starting with a letter \
                or digit";
    check_name_message(
        ".",
        Some(&format!(
            "resource name \".\" is reserved (it means a directory){tail}"
        )),
    );
    check_name_message(
        "..",
        Some(&format!(
            "resource name \"..\" is reserved (it means a directory){tail}"
        )),
    );
    check_name_message(
        ".hidden",
        Some(&format!(
            "resource name \".hidden\" does not start with a letter or digit{tail}"
        )),
    );
}

#[test]
fn slashes_spaces_flags_and_long_names_are_refused() {
    for name in ["a/b", "a b", "-x", "", "é", &"x".repeat(64)] {
        assert!(check_name(NameKind::Node, name).is_err(), "{name:?}");
    }
    assert!(check_name(NameKind::Node, &"x".repeat(63)).is_ok());
}

#[test]
fn nodes_resolve_by_name_then_by_id() {
    let nodes = [(NodeId(1), "node1"), (NodeId(2), "node2"), (NodeId(3), "7")];
    assert_eq!(resolve_node("node2", nodes), Ok(NodeId(2)));
    assert_eq!(resolve_node("2", nodes), Ok(NodeId(2)));
    assert_eq!(resolve_node(" 1 ", nodes), Ok(NodeId(1)));
    // A node named "7" is found by its name before any node with id 7.
    assert_eq!(resolve_node("7", nodes), Ok(NodeId(3)));
    let error = resolve_node("node9", nodes).expect_err("no such node");
    assert_eq!(
        error.to_string(),
        "no node \"node9\" in the cluster; the nodes are 1 (node1), 2 (node2), 3 (7)"
    );
}
