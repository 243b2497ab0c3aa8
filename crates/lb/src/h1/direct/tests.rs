//! The direct exchange against scripted servers on loopback sockets, with the client side an
//! in-memory pipe: what the client receives, and whether the connection goes back to the pool.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{ClientSide, Home, read_response, relay, send};
use crate::h1::head::ResponseHead;
use crate::h1::{Conn, ExchangeError};
use crate::upstream::IdleConns;

/// A server that reads one request head, writes `answer`, then closes if `close` is set or
/// else waits for the proxy to hang up.
async fn scripted(answer: &'static [u8], close: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut request = Vec::new();
        while !request.ends_with(b"\r\n\r\n") {
            let mut byte = [0; 1];
            if stream.read(&mut byte).await.expect("read") == 0 {
                return;
            }
            request.push(byte[0]);
        }
        stream.write_all(answer).await.expect("write");
        if !close {
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest).await;
        }
    });
    addr
}

const HTTP11: ClientSide = ClientSide {
    head_request: false,
    http10: false,
    keep_alive: true,
};

/// Proxies one GET to a server answering `answer`; returns what the client got, whether
/// its connection stays open, and how many connections went back to the pool.
async fn proxied(
    answer: &'static [u8],
    close: bool,
    side: ClientSide,
) -> Result<(String, bool, usize), ExchangeError> {
    let addr = scripted(answer, close).await;
    let mut conn = Conn::new(TcpStream::connect(addr).await.expect("connect"));
    send(&mut conn, b"GET / HTTP/1.1\r\n\r\n").await?;
    let mut head = ResponseHead::default();
    let incoming = read_response(&mut conn, side.head_request, &mut head).await?;
    let idle = Arc::new(IdleConns::new());
    let home = Home {
        idle: Arc::clone(&idle),
        addr,
        lease: None,
    };
    let (mut client, mut far) = tokio::io::duplex(1 << 20);
    let mut out = Vec::new();
    let keep_alive = relay(conn, &head, incoming, home, side, &mut client, &mut out).await?;
    drop(client);
    let mut received = Vec::new();
    far.read_to_end(&mut received).await.expect("read");
    let received = String::from_utf8(received).expect("utf-8");
    Ok((stamped(&received), keep_alive, idle.len()))
}

/// The response with the value of a Date field the proxy added replaced by `NOW`.
fn stamped(received: &str) -> String {
    let Some(start) = received.find("\r\ndate: ") else {
        return received.to_owned();
    };
    let value = start + "\r\ndate: ".len();
    let end = value + received[value..].find("\r\n").expect("line end");
    assert_eq!(end - value, "Sun, 06 Nov 1994 08:49:37 GMT".len());
    assert!(received[value..end].ends_with(" GMT"));
    format!("{}NOW{}", &received[..value], &received[end..])
}

#[tokio::test]
async fn a_response_with_a_length_is_relayed_and_its_connection_kept() {
    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=5\r\n\
                   Connection: keep-alive\r\nX-A: b\r\n\r\nhello";
    let (received, keep_alive, idle) = proxied(answer, false, HTTP11).await.expect("relayed");
    assert_eq!(
        received,
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\ndate: NOW\r\n\r\nhello"
    );
    assert!(keep_alive);
    assert_eq!(idle, 1);
}

#[tokio::test]
async fn a_large_body_is_copied_across_many_reads() {
    static ANSWER: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
        let mut answer = b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n".to_vec();
        answer.extend((0..300_000).map(|index| b'a' + (index % 26) as u8));
        answer
    });
    let (received, keep_alive, idle) = proxied(ANSWER.as_slice(), false, HTTP11)
        .await
        .expect("relayed");
    let body = received.split_once("\r\n\r\n").expect("head").1;
    assert_eq!(body.as_bytes(), &ANSWER[ANSWER.len() - 300_000..]);
    assert!(keep_alive);
    assert_eq!(idle, 1);
}

#[tokio::test]
async fn a_chunked_body_is_chunked_again_for_an_http_1_1_client() {
    let answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n\
                   3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n";
    let (received, keep_alive, idle) = proxied(answer, false, HTTP11).await.expect("relayed");
    let (head, body) = received.split_once("\r\n\r\n").expect("head");
    assert_eq!(
        head,
        "HTTP/1.1 200 OK\r\ndate: NOW\r\ntransfer-encoding: chunked"
    );
    assert_eq!(body, "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    assert!(keep_alive);
    assert_eq!(idle, 1);
}

#[tokio::test]
async fn a_chunked_body_reaches_an_http_1_0_client_decoded_and_the_connection_closes() {
    let answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let side = ClientSide {
        http10: true,
        ..HTTP11
    };
    let (received, keep_alive, _) = proxied(answer, false, side).await.expect("relayed");
    assert_eq!(
        received,
        "HTTP/1.1 200 OK\r\ndate: NOW\r\nconnection: close\r\n\r\nabc"
    );
    assert!(!keep_alive);
}

#[tokio::test]
async fn a_body_delimited_by_close_is_relayed_and_the_client_closed() {
    let answer = b"HTTP/1.0 200 OK\r\nX-A: b\r\n\r\nuntil the end";
    let (received, keep_alive, idle) = proxied(answer, true, HTTP11).await.expect("relayed");
    assert_eq!(
        received,
        "HTTP/1.1 200 OK\r\nX-A: b\r\ndate: NOW\r\nconnection: close\r\n\r\nuntil the end"
    );
    assert!(!keep_alive);
    assert_eq!(idle, 0);
}

#[tokio::test]
async fn head_204_and_304_responses_have_no_body_but_keep_their_length_field() {
    let head_side = ClientSide {
        head_request: true,
        ..HTTP11
    };
    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nDate: then\r\n\r\n";
    let (received, keep_alive, idle) = proxied(answer, false, head_side).await.expect("relayed");
    assert_eq!(
        received, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nDate: then\r\n\r\n",
        "a Date the server sent is kept"
    );
    assert!(keep_alive);
    assert_eq!(idle, 1);
    for answer in [
        &b"HTTP/1.1 204 No Content\r\n\r\n"[..],
        b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
    ] {
        let (received, keep_alive, idle) = proxied(answer, false, HTTP11).await.expect("relayed");
        assert!(received.ends_with("\r\n\r\n"), "{received:?}");
        assert!(keep_alive);
        assert_eq!(idle, 1);
    }
}

#[tokio::test]
async fn interim_responses_are_skipped_and_a_protocol_switch_is_refused() {
    let answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let (received, _, _) = proxied(answer, false, HTTP11).await.expect("relayed");
    assert_eq!(
        received,
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\ndate: NOW\r\n\r\nok"
    );
    let answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n";
    let refused = proxied(answer, false, HTTP11).await;
    assert!(matches!(refused, Err(ExchangeError::Malformed(_))));
}

#[tokio::test]
async fn a_server_that_closes_without_answering_gives_no_response() {
    let refused = proxied(b"", true, HTTP11).await;
    assert!(matches!(refused, Err(ExchangeError::NoResponse(_))));
    let cut = proxied(b"HTTP/1.1 200 OK\r\nContent-", true, HTTP11).await;
    assert!(matches!(cut, Err(ExchangeError::Malformed(_))));
}

#[tokio::test]
async fn a_response_with_connection_close_is_not_pooled_and_named_fields_are_dropped() {
    let answer = b"HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n\
                   Content-Length: 2\r\n\r\nok";
    let (received, keep_alive, idle) = proxied(answer, true, HTTP11).await.expect("relayed");
    assert_eq!(
        received,
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\ndate: NOW\r\n\r\nok"
    );
    assert!(
        keep_alive,
        "the client connection does not depend on the server's"
    );
    assert_eq!(idle, 0);
}

#[tokio::test]
async fn a_bad_or_conflicting_length_is_malformed() {
    for answer in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
    ] {
        let refused = proxied(answer, true, HTTP11).await;
        assert!(matches!(refused, Err(ExchangeError::Malformed(_))));
    }
}
