//! Which requests the own loop serves, how they are rewritten for the real server, and the
//! proxy's own error responses.

use std::net::SocketAddr;

use hyper::StatusCode;

use super::{Request, Unserved, encode, encode_error, parse};
use crate::h1::head::{RequestHead, head_end};

fn parsed(text: &str) -> (Result<Request, Unserved>, RequestHead) {
    let buffer = text.as_bytes();
    let len = head_end(buffer, 0).expect("complete head");
    let mut head = RequestHead::default();
    (parse(buffer, len, &mut head), head)
}

fn served(text: &str) -> Request {
    parsed(text).0.expect("served by the own loop")
}

fn unserved(text: &str) -> Unserved {
    parsed(text).0.expect_err("not served by the own loop")
}

#[test]
fn keep_alive_follows_the_version_and_the_connection_field() {
    let keep = |text: &str| served(text).side.keep_alive;
    assert!(keep("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert!(!keep(
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n"
    ));
    assert!(!keep(
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: x-a, close\r\n\r\n"
    ));
    assert!(!keep("GET / HTTP/1.0\r\n\r\n"));
    assert!(keep("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    assert!(served("GET / HTTP/1.0\r\n\r\n").side.http10);
}

#[test]
fn methods_set_head_and_idempotence() {
    let head = served("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(head.side.head_request && head.idempotent);
    let post = served("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc");
    assert!(!post.side.head_request && !post.idempotent);
    assert_eq!(post.body_len, 3);
    assert!(served("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").idempotent);
}

#[test]
fn unusual_requests_are_handed_to_hyper() {
    for text in [
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        "GET http://example/a HTTP/1.1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n",
    ] {
        assert_eq!(unserved(text), Unserved::HandOff, "{text:?}");
    }
}

#[test]
fn connect_odd_targets_and_host_not_there_once_are_refused_regression_15() {
    let bad = Unserved::Reject(StatusCode::BAD_REQUEST);
    assert_eq!(
        unserved("CONNECT example:443 HTTP/1.1\r\nHost: example:443\r\n\r\n"),
        Unserved::Reject(StatusCode::METHOD_NOT_ALLOWED)
    );
    for text in [
        "GET example:80 HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET * HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        assert_eq!(unserved(text), bad, "{text:?}");
    }
}

#[test]
fn an_upgrade_field_without_the_connection_token_is_served_and_dropped() {
    let request = served("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n");
    assert!(request.side.keep_alive);
}

#[test]
fn bad_requests_are_rejected_with_400_and_long_heads_with_431() {
    let bad = Unserved::Reject(StatusCode::BAD_REQUEST);
    for text in [
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        "GET / HTTP/3\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\x7f\x03\x03\r\n\r\n",
    ] {
        assert_eq!(unserved(text), bad, "{text:?}");
    }
    let many: String = (0..=crate::limits::REQUEST_HEADERS_MAX)
        .map(|index| format!("x-{index}: v\r\n"))
        .collect();
    assert_eq!(
        unserved(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
        Unserved::Reject(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
    );
}

#[test]
fn equal_repeated_content_lengths_are_one_length() {
    let request =
        served("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab");
    assert_eq!(request.body_len, 2);
}

/// The request as the real server at 192.0.2.7:8080 gets it from client 10.0.0.9.
fn encoded(text: &str) -> String {
    let buffer = text.as_bytes();
    let len = head_end(buffer, 0).expect("complete head");
    let mut head = RequestHead::default();
    let request = parse(buffer, len, &mut head).expect("served");
    let body = &buffer[len..len + request.body_len];
    let addr = SocketAddr::from(([192, 0, 2, 7], 8080));
    let mut out = Vec::new();
    encode(&mut out, buffer, &head, &request, body, "10.0.0.9", addr);
    String::from_utf8(out).expect("ascii")
}

#[test]
fn hop_by_hop_fields_and_the_ones_connection_names_are_dropped() {
    let text = "GET /p HTTP/1.1\r\nHost: h\r\nConnection: close, X-Private\r\n\
                Keep-Alive: 5\r\nTE: trailers\r\nTrailer: x\r\nProxy-Authorization: s\r\n\
                Upgrade: websocket\r\nX-Private: 1\r\nAccept: */*\r\n\r\n";
    assert_eq!(
        encoded(text),
        "GET /p HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nx-forwarded-for: 10.0.0.9\r\n\
         x-forwarded-proto: http\r\n\r\n"
    );
}

#[test]
fn forwarded_for_is_appended_and_forwarded_proto_replaced() {
    let text = "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 192.0.2.1\r\n\
                X-Forwarded-Proto: https\r\nX-Forwarded-For: 192.0.2.2\r\n\r\n";
    assert_eq!(
        encoded(text),
        "GET / HTTP/1.1\r\nHost: h\r\nx-forwarded-for: 192.0.2.1, 192.0.2.2, 10.0.0.9\r\n\
         x-forwarded-proto: http\r\n\r\n"
    );
}

#[test]
fn a_request_without_host_gets_the_servers_address_and_http_1_1() {
    assert_eq!(
        encoded("GET / HTTP/1.0\r\n\r\n"),
        "GET / HTTP/1.1\r\nhost: 192.0.2.7:8080\r\nx-forwarded-for: 10.0.0.9\r\n\
         x-forwarded-proto: http\r\n\r\n"
    );
}

#[test]
fn the_body_follows_with_its_own_length() {
    assert_eq!(
        encoded("POST /f HTTP/1.1\r\nHost: h\r\ncontent-length:  3 \r\n\r\nabc"),
        "POST /f HTTP/1.1\r\nHost: h\r\ncontent-length: 3\r\nx-forwarded-for: 10.0.0.9\r\n\
         x-forwarded-proto: http\r\n\r\nabc"
    );
    assert_eq!(
        encoded("POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"),
        "POST /f HTTP/1.1\r\nHost: h\r\ncontent-length: 0\r\nx-forwarded-for: 10.0.0.9\r\n\
         x-forwarded-proto: http\r\n\r\n"
    );
}

#[test]
fn error_responses_carry_their_status_as_text_and_say_when_they_close() {
    let side = |keep_alive, http10| crate::h1::direct::ClientSide {
        head_request: false,
        http10,
        keep_alive,
    };
    let mut out = Vec::new();
    encode_error(&mut out, StatusCode::BAD_GATEWAY, side(true, false));
    assert_eq!(
        String::from_utf8_lossy(&out),
        "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: 16\r\n\r\n\
         502 Bad Gateway\n"
    );
    encode_error(&mut out, StatusCode::BAD_REQUEST, side(false, false));
    assert_eq!(
        String::from_utf8_lossy(&out),
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 16\r\n\
         connection: close\r\n\r\n400 Bad Request\n"
    );
    encode_error(&mut out, StatusCode::SERVICE_UNAVAILABLE, side(true, true));
    assert!(String::from_utf8_lossy(&out).contains("\r\nconnection: keep-alive\r\n"));
}

/// A client connection as `run` sees it, and the peer that writes into it.
async fn client_pair() -> (super::ClientIo, tokio::net::TcpStream) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let peer = tokio::net::TcpStream::connect(listener.local_addr().expect("addr"))
        .await
        .expect("connect");
    let (accepted, _) = listener.accept().await.expect("accept");
    let counters = std::sync::Arc::new(crate::counters::ServiceCounters::default());
    let activity = std::sync::Arc::new(crate::activity::Activity::new());
    (
        crate::metered::Metered::new(accepted, counters, activity),
        peer,
    )
}

#[tokio::test(start_paused = true)]
async fn a_head_not_complete_within_the_header_read_timeout_ends_the_connection() {
    use tokio::io::AsyncWriteExt;
    let (mut client, mut peer) = client_pair().await;
    peer.write_all(b"GET / HTTP/1.1\r\nHost:")
        .await
        .expect("send");
    let deadline = tokio::time::sleep(std::time::Duration::ZERO);
    tokio::pin!(deadline);
    let started = tokio::time::Instant::now();
    let mut buffers = super::Buffers::new([127, 0, 0, 1].into());
    let timeout = crate::limits::HEADER_READ_TIMEOUT;
    let head = super::read_head(&mut client, &mut buffers, deadline.as_mut(), timeout).await;
    assert_eq!(head, Ok(None));
    assert!(started.elapsed() >= crate::limits::HEADER_READ_TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn pipelined_heads_are_found_one_after_another_after_blank_lines() {
    use tokio::io::AsyncWriteExt;
    let (mut client, mut peer) = client_pair().await;
    peer.write_all(b"\r\nGET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
        .await
        .expect("send");
    let deadline = tokio::time::sleep(std::time::Duration::ZERO);
    tokio::pin!(deadline);
    let mut buffers = super::Buffers::new([127, 0, 0, 1].into());
    let timeout = crate::limits::HEADER_READ_TIMEOUT;
    let first = super::read_head(&mut client, &mut buffers, deadline.as_mut(), timeout).await;
    assert_eq!(first, Ok(Some(19)));
    assert!(buffers.read.starts_with(b"GET /a "));
    buffers.read.drain(..19);
    let second = super::read_head(&mut client, &mut buffers, deadline.as_mut(), timeout).await;
    assert_eq!(second, Ok(Some(19)));
    assert!(buffers.read.starts_with(b"GET /b "));
}

/// Between requests a connection holds no buffer; the next request takes the spare ones.
#[tokio::test(start_paused = true)]
async fn an_idle_connection_holds_no_buffer_and_reuses_spare_ones() {
    use tokio::io::AsyncWriteExt;
    let (mut client, mut peer) = client_pair().await;
    let deadline = tokio::time::sleep(std::time::Duration::ZERO);
    tokio::pin!(deadline);
    let mut buffers = super::Buffers::new([127, 0, 0, 1].into());
    peer.write_all(b"GET /a HTTP/1.1\r\n\r\n")
        .await
        .expect("send");
    let timeout = crate::limits::HEADER_READ_TIMEOUT;
    let first = super::read_head(&mut client, &mut buffers, deadline.as_mut(), timeout).await;
    assert_eq!(first, Ok(Some(19)));
    let address = buffers.read.as_ptr();
    buffers.read.clear();
    buffers.release();
    assert_eq!(buffers.read.capacity(), 0);
    assert_eq!(buffers.out.capacity() + buffers.upstream.capacity(), 0);
    peer.write_all(b"GET /b HTTP/1.1\r\n\r\n")
        .await
        .expect("send");
    let second = super::read_head(&mut client, &mut buffers, deadline.as_mut(), timeout).await;
    assert_eq!(second, Ok(Some(19)));
    assert_eq!(
        buffers.read.as_ptr(),
        address,
        "the spare read buffer was taken again"
    );
}

#[test]
fn no_prefix_or_byte_mutation_of_a_request_makes_the_parser_panic() {
    let valid = b"POST /a?b=c HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-A\r\n\
                  Content-Length: 3\r\nX-Forwarded-For: 192.0.2.1\r\nX-A: v\r\n\r\nabc";
    let specials = [
        0, b'\r', b'\n', b' ', b'\t', b':', b',', 0x7f, 0x80, 0xff, b'0', b'9',
    ];
    let mut head = RequestHead::default();
    let mut out = Vec::new();
    let mut check = |buffer: &[u8]| {
        for from in [0, buffer.len() / 2, buffer.len()] {
            let Some(len) = head_end(buffer, from) else {
                continue;
            };
            if let Ok(request) = parse(buffer, len, &mut head)
                && let Some(body) = buffer.get(len..len + request.body_len)
            {
                let addr = SocketAddr::from(([127, 0, 0, 1], 1));
                encode(&mut out, buffer, &head, &request, body, "::1", addr);
            }
        }
    };
    for end in 0..=valid.len() {
        check(&valid[..end]);
    }
    for at in 0..valid.len() {
        for special in specials {
            let mut mutated = valid.to_vec();
            mutated[at] = special;
            check(&mutated);
        }
    }
}
