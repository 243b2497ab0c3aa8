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
