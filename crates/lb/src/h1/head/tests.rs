//! The in-place head parser: complete heads, line endings, limits and malformed input.

use super::{
    HeadError, Name, RequestHead, ResponseHead, content_length, head_end, parse_request,
    parse_response, tokens,
};

/// Parses `text` as a request and renders what was found, one field per line.
fn request(text: &str) -> Result<String, HeadError> {
    let buffer = text.as_bytes();
    let len = head_end(buffer, 0).ok_or(HeadError::Malformed("incomplete"))?;
    let mut head = RequestHead::default();
    parse_request(buffer, len, 4, &mut head)?;
    let mut rendered = format!(
        "{} {} 1.{}\n",
        String::from_utf8_lossy(head.method.of(buffer)),
        String::from_utf8_lossy(head.target.of(buffer)),
        if head.http10 { 0 } else { 1 },
    );
    for field in &head.fields {
        rendered += &format!(
            "{}={:?} {:?}\n",
            String::from_utf8_lossy(field.name.of(buffer)),
            String::from_utf8_lossy(field.value.of(buffer)),
            field.known,
        );
    }
    Ok(rendered)
}

fn check(text: &str, expected: &str) {
    assert_eq!(request(text).expect("parses"), expected, "{text:?}");
}

fn check_malformed(text: &str) {
    assert!(
        matches!(request(text), Err(HeadError::Malformed(_))),
        "{text:?} -> {:?}",
        request(text)
    );
}

#[test]
fn a_request_head_is_split_into_spans_and_known_names() {
    check(
        "GET /a?b HTTP/1.1\r\nHost: example\r\nX-Forwarded-For:  10.0.0.1 \r\nX-Other: v\r\n\r\n",
        "GET /a?b 1.1\nHost=\"example\" Host\nX-Forwarded-For=\"10.0.0.1\" XForwardedFor\n\
         X-Other=\"v\" Other\n",
    );
}

#[test]
fn http_1_0_and_bare_line_feeds_are_accepted() {
    check(
        "HEAD / HTTP/1.0\nConnection: keep-alive\n\n",
        "HEAD / 1.0\nConnection=\"keep-alive\" Connection\n",
    );
}

#[test]
fn an_empty_value_is_kept_as_an_empty_span() {
    check(
        "GET / HTTP/1.1\r\nX-Empty:\r\n\r\n",
        "GET / 1.1\nX-Empty=\"\" Other\n",
    );
}

#[test]
fn malformed_request_lines_are_errors() {
    for text in [
        "GET\r\n\r\n",
        "GET /\r\n\r\n",
        " GET / HTTP/1.1\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "GET / HTTP/1.1 \r\n\r\n",
        "GET /\x7f HTTP/1.1\r\n\r\n",
        "GET /caf\u{e9} HTTP/1.1\r\n\r\n",
    ] {
        check_malformed(text);
    }
}

#[test]
fn malformed_header_lines_are_errors() {
    for text in [
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        "GET / HTTP/1.1\r\n: a\r\n\r\n",
        "GET / HTTP/1.1\r\nNo colon\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
        "GET / HTTP/1.1\r\nX(y): a\r\n\r\n",
    ] {
        check_malformed(text);
    }
}

#[test]
fn more_fields_than_the_limit_is_its_own_error() {
    let text = "GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\ne: 5\r\n\r\n";
    assert_eq!(request(text), Err(HeadError::TooManyFields(4)));
}

#[test]
fn the_head_end_is_found_across_reads() {
    let text = b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest";
    assert_eq!(head_end(text, 0), Some(24));
    // A search that stopped anywhere before the end, even inside the blank line, finds it.
    for from in 0..=23 {
        assert_eq!(head_end(text, from), Some(24), "from {from}");
    }
    assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r", 0), None);
    assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), None);
    assert_eq!(head_end(b"GET / HTTP/1.1\n\nbody", 0), Some(16));
    assert_eq!(head_end(b"", 0), None);
}

#[test]
fn a_head_that_is_only_a_blank_line_is_malformed() {
    let mut head = RequestHead::default();
    assert!(parse_request(b"\r\n", 2, 4, &mut head).is_err());
}

fn response(text: &str) -> Result<(u16, bool, String, usize), HeadError> {
    let buffer = text.as_bytes();
    let len = head_end(buffer, 0).ok_or(HeadError::Malformed("incomplete"))?;
    let mut head = ResponseHead::default();
    parse_response(buffer, len, 4, &mut head)?;
    let status_text = String::from_utf8_lossy(head.status_text.of(buffer)).into_owned();
    Ok((head.status, head.http10, status_text, head.fields.len()))
}

#[test]
fn a_status_line_gives_code_version_and_reason() {
    assert_eq!(
        response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        Ok((200, false, "200 OK".to_owned(), 1))
    );
    assert_eq!(
        response("HTTP/1.0 404 Not Found\r\n\r\n"),
        Ok((404, true, "404 Not Found".to_owned(), 0))
    );
    assert_eq!(
        response("HTTP/1.1 204\r\n\r\n"),
        Ok((204, false, "204".to_owned(), 0))
    );
}

#[test]
fn malformed_status_lines_are_errors() {
    for text in [
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/1.1 200 O\0K\r\n\r\n",
    ] {
        assert!(response(text).is_err(), "{text:?}");
    }
}

#[test]
fn names_are_classified_without_regard_to_case() {
    assert_eq!(Name::classify(b"CONTENT-LENGTH"), Name::ContentLength);
    assert_eq!(Name::classify(b"Transfer-Encoding"), Name::TransferEncoding);
    assert_eq!(Name::classify(b"x-forwarded-proto"), Name::XForwardedProto);
    assert_eq!(Name::classify(b"TE"), Name::Te);
    assert_eq!(Name::classify(b"hosts"), Name::Other);
    assert!(Name::Upgrade.is_hop_by_hop());
    assert!(!Name::Host.is_hop_by_hop());
}

#[test]
fn content_length_takes_plain_digits_only() {
    assert_eq!(content_length(b"0"), Some(0));
    assert_eq!(content_length(b"123"), Some(123));
    assert_eq!(
        content_length(b"9999999999999999999"),
        Some(9_999_999_999_999_999_999)
    );
    for bad in [
        &b""[..],
        b"+1",
        b"-1",
        b"1 2",
        b"1,1",
        b"0x10",
        b"99999999999999999999",
    ] {
        assert_eq!(content_length(bad), None, "{bad:?}");
    }
}

#[test]
fn tokens_are_trimmed_and_empty_ones_skipped() {
    let found: Vec<&[u8]> = tokens(b" close ,, X-Private,keep-alive ").collect();
    assert_eq!(found, [&b"close"[..], b"X-Private", b"keep-alive"]);
}
