//! Hostile requests to HTTP mode (issue 15): duplicate or missing Host, Connection naming
//! Host, CONNECT, absolute-form and authority-form targets, transfer codings, malformed
//! chunk sizes, and request heads and bodies that stall.
//!
//! Method: raw bytes to a director in front of a real server that echoes what reached it;
//! each case checks the client's answer and what the server got. Stalls use a director
//! with one-second read timeouts and wait for the answer with a deadline, never timing it.

use std::time::Duration;

use lb::{Algorithm, DirectorOptions, Protocol};
use tokio::io::AsyncWriteExt;

use crate::http_wire::{Echo, Response, closed, connect, echo_service, read_response, send};
use crate::support::service;

/// Longest wait for an answer that must come.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

async fn answer(addr: std::net::SocketAddr, request: &[u8]) -> Response {
    let mut client = connect(addr).await;
    send(&mut client, request).await;
    tokio::time::timeout(ANSWER_WAIT, read_response(&mut client, false))
        .await
        .unwrap_or_else(|_| panic!("no answer to {:?}", String::from_utf8_lossy(request)))
        .unwrap_or_else(|| panic!("closed without an answer: {request:?}"))
}

#[tokio::test]
async fn host_must_be_there_once_and_connection_cannot_remove_it_regression_15() {
    let (_echo, director, addr) = echo_service().await;
    // Through the own loop, and through hyper (a chunked body hands the request over).
    for chunked in ["", "Transfer-Encoding: chunked\r\n"] {
        let body = if chunked.is_empty() { "" } else { "0\r\n\r\n" };
        for fields in ["Host: a\r\nHost: b\r\n", "X: 1\r\n", "Host: a, b\r\n"] {
            let request = format!("POST /h HTTP/1.1\r\n{fields}{chunked}\r\n{body}");
            let response = answer(addr, request.as_bytes()).await;
            assert_eq!(
                response.first_line, "HTTP/1.1 400 Bad Request",
                "{request:?}"
            );
        }
        let request = format!(
            "POST /h HTTP/1.1\r\nHost: t\r\nConnection: host, x-forwarded-for, x-hop\r\n\
             X-Hop: 1\r\n{chunked}\r\n{body}"
        );
        let response = answer(addr, request.as_bytes()).await;
        assert_eq!(response.first_line, "HTTP/1.1 200 OK", "{request:?}");
        assert!(response.body.contains("\nhost: t\n"), "{}", response.body);
        assert!(!response.body.contains("x-hop"), "{}", response.body);
    }
    // HTTP/1.0 needs no Host: the proxy names the server.
    let response = answer(addr, b"GET /old HTTP/1.0\r\n\r\n").await;
    assert_eq!(response.first_line, "HTTP/1.1 200 OK");
    assert!(
        response.body.contains("\nhost: 127.0.0.1:"),
        "{}",
        response.body
    );
    assert_eq!(director.snapshot().services[0].requests_total, 3);
}

#[tokio::test]
async fn connect_and_odd_targets_are_refused_and_absolute_ones_set_host_regression_15() {
    let (_echo, director, addr) = echo_service().await;
    for (request, status) in [
        (
            &b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"[..],
            "HTTP/1.1 405 Method Not Allowed",
        ),
        (
            b"GET example.com:80 HTTP/1.1\r\nHost: example.com\r\n\r\n",
            "HTTP/1.1 400 Bad Request",
        ),
        (
            b"GET * HTTP/1.1\r\nHost: example.com\r\n\r\n",
            "HTTP/1.1 400 Bad Request",
        ),
    ] {
        let mut client = connect(addr).await;
        send(&mut client, request).await;
        let response = tokio::time::timeout(ANSWER_WAIT, read_response(&mut client, false))
            .await
            .unwrap_or_else(|_| panic!("no answer to {request:?}"))
            .expect("an answer");
        assert_eq!(response.first_line, status, "{request:?}");
        assert!(closed(&mut client).await, "{request:?}");
    }
    assert_eq!(director.snapshot().services[0].requests_total, 0);

    let response = answer(
        addr,
        b"GET http://real.example/p?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n",
    )
    .await;
    assert_eq!(response.first_line, "HTTP/1.1 200 OK");
    assert!(
        response.body.starts_with("GET /p?q=1 HTTP/1.1\n"),
        "{}",
        response.body
    );
    assert!(
        response.body.contains("\nhost: real.example\n"),
        "{}",
        response.body
    );
    assert!(
        !response.body.contains("other.example"),
        "{}",
        response.body
    );
}

#[tokio::test]
async fn transfer_codings_are_kept_and_bad_chunk_sizes_get_400_regression_15() {
    let (_echo, _director, addr) = echo_service().await;
    let response = answer(
        addr,
        b"POST /z HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
          3\r\nabc\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(response.first_line, "HTTP/1.1 200 OK");
    assert!(
        response
            .body
            .contains("\ntransfer-encoding: gzip, chunked\n"),
        "{}",
        response.body
    );
    assert!(response.body.ends_with("abc"), "{}", response.body);

    // Content-Length beside Transfer-Encoding is how requests are smuggled: refused.
    let both = b"POST /z HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\
                 Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let response = answer(addr, both).await;
    assert_eq!(response.first_line, "HTTP/1.1 400 Bad Request");

    for chunks in ["zz\r\nabc\r\n0\r\n\r\n", "-3\r\nabc\r\n"] {
        let request =
            format!("POST /z HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{chunks}");
        let response = answer(addr, request.as_bytes()).await;
        assert_eq!(
            response.first_line, "HTTP/1.1 400 Bad Request",
            "{chunks:?}"
        );
    }
}

#[tokio::test]
async fn stalled_heads_and_bodies_are_cut_regression_15() {
    let echo = Echo::start().await;
    let mut director = lb::Director::new(DirectorOptions {
        header_read_timeout: Duration::from_secs(1),
        body_read_timeout: Duration::from_secs(1),
        ..DirectorOptions::recommended()
    });
    let config = service(Protocol::Http, Algorithm::RoundRobin, vec![echo.config()]);
    director
        .apply(&lb::LbConfig {
            services: vec![config],
        })
        .await
        .expect("config applies");
    let addr = director.local_addr("web").expect("service runs");

    let mut client = connect(addr).await;
    send(&mut client, b"GET / HTTP/1.1\r\nHost: t\r\n").await;
    assert!(closed(&mut client).await, "a stalled head is cut");

    // A small body (the own loop) and a large or chunked one (hyper) that stop arriving.
    for request in [
        &b"POST /s HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab"[..],
        b"POST /s HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\nab",
        b"POST /s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    ] {
        let mut client = connect(addr).await;
        client.get_mut().write_all(request).await.expect("send");
        let response = tokio::time::timeout(ANSWER_WAIT, read_response(&mut client, false))
            .await
            .unwrap_or_else(|_| panic!("no answer to {request:?}"))
            .expect("an answer");
        assert_eq!(
            response.first_line, "HTTP/1.1 408 Request Timeout",
            "{request:?}"
        );
    }
}
