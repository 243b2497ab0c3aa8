//! Unit tests of the client's URL building.

#[test]
fn keys_with_reserved_characters_are_percent_encoded() {
    assert_eq!(super::encode_key("a/b c?d#e%"), "a/b%20c%3Fd%23e%25");
    assert_eq!(super::encode_key("plain-key_1.2~"), "plain-key_1.2~");
}

#[test]
fn resource_paths_encode_the_name_and_append_the_action() {
    assert_eq!(super::resource_path("web", ""), "/v1/resources/web");
    assert_eq!(
        super::resource_path("my db", "/move"),
        "/v1/resources/my%20db/move"
    );
}

#[test]
fn a_name_stays_one_path_segment() {
    assert_eq!(super::encode_segment("a/b"), "a%2Fb");
    assert_eq!(
        super::encode_segment("ocf:heartbeat:Dummy"),
        "ocf%3Aheartbeat%3ADummy"
    );
    assert_eq!(super::resource_path("a/..", ""), "/v1/resources/a%2F..");
}

#[test]
fn dot_names_cannot_be_path_segments_regression_issue_11() {
    // Every URL parser resolves `.` and `..` (also as %2E), so the client sends such names
    // in the query instead; this pins that the parser reqwest uses does resolve them.
    let url = reqwest::Url::parse("https://h/v1/resources/%2E%2E").expect("a URL");
    assert_eq!(url.path(), "/v1/");
    assert!(super::is_dot_segment(".."));
    assert!(super::is_dot_segment("."));
    assert!(!super::is_dot_segment("..."));
}
