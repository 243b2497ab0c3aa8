//! Header rewriting of HTTP mode.

use hyper::header::{HeaderMap, HeaderValue};

use super::{origin_form, prepare_headers};

fn headers(lines: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in lines {
        map.append(*name, HeaderValue::from_static(value));
    }
    map
}

fn names(map: &HeaderMap) -> Vec<&str> {
    let mut names: Vec<&str> = map.keys().map(|name| name.as_str()).collect();
    names.sort_unstable();
    names
}

#[test]
fn hop_by_hop_headers_and_the_ones_connection_names_are_dropped() {
    let mut map = headers(&[
        ("connection", "close, x-private"),
        ("connection", "keep-alive"),
        ("keep-alive", "timeout=5"),
        ("te", "trailers"),
        ("transfer-encoding", "chunked"),
        ("proxy-authorization", "secret"),
        ("upgrade", "websocket"),
        ("x-private", "1"),
        ("accept", "*/*"),
    ]);
    prepare_headers(&mut map, &HeaderValue::from_static("10.0.0.9"), false);
    assert_eq!(
        names(&map),
        ["accept", "x-forwarded-for", "x-forwarded-proto"]
    );
    assert_eq!(map["x-forwarded-for"], "10.0.0.9");
    assert_eq!(map["x-forwarded-proto"], "http");
}

#[test]
fn an_upgrade_keeps_connection_and_upgrade_and_appends_to_forwarded_for() {
    let mut map = headers(&[
        ("connection", "Upgrade"),
        ("upgrade", "websocket"),
        ("te", "trailers"),
        ("x-forwarded-for", "192.0.2.1"),
    ]);
    prepare_headers(&mut map, &HeaderValue::from_static("10.0.0.9"), true);
    assert_eq!(
        names(&map),
        [
            "connection",
            "upgrade",
            "x-forwarded-for",
            "x-forwarded-proto"
        ]
    );
    assert_eq!(map["x-forwarded-for"], "192.0.2.1, 10.0.0.9");
}

#[test]
fn a_message_without_hop_headers_is_left_as_it_is() {
    let mut map = headers(&[("host", "example"), ("accept", "*/*")]);
    prepare_headers(&mut map, &HeaderValue::from_static("::1"), false);
    assert_eq!(
        names(&map),
        ["accept", "host", "x-forwarded-for", "x-forwarded-proto"]
    );
}

#[test]
fn an_absolute_request_target_becomes_origin_form() {
    let absolute = "http://example.com:8080/a/b?c=d".parse().expect("uri");
    assert_eq!(origin_form(absolute), "/a/b?c=d");
    let origin = "/x?y".parse().expect("uri");
    assert_eq!(origin_form(origin), "/x?y");
    let bare = "http://example.com".parse().expect("uri");
    assert_eq!(origin_form(bare), "/");
}
