//! The lean exchange against scripted servers on loopback sockets.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, StatusCode, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Chunk, Conn, ExchangeError, Framing, exchange, framing, parse_head};
use crate::upstream::IdleConns;

/// A server that answers each request it reads with the next of `answers`, then, if
/// `close_after` is set, closes; it returns the requests it saw.
async fn scripted(
    answers: Vec<&'static [u8]>,
    close_after: bool,
) -> (SocketAddr, tokio::task::JoinHandle<Vec<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut seen = Vec::new();
        for answer in answers {
            let mut request = Vec::new();
            while !request.ends_with(b"\r\n\r\n") {
                let mut byte = [0; 1];
                if stream.read(&mut byte).await.expect("read") == 0 {
                    return seen;
                }
                request.push(byte[0]);
            }
            seen.push(request);
            stream.write_all(answer).await.expect("write");
        }
        if !close_after {
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest).await;
        }
        seen
    });
    (addr, task)
}

async fn conn(addr: SocketAddr) -> Conn {
    Conn::new(TcpStream::connect(addr).await.expect("connect"))
}

fn request_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("example"));
    headers
}

/// A GET of `/` without a body, on a new connection to `addr`.
async fn get(addr: SocketAddr) -> Result<super::Response, ExchangeError> {
    exchange(
        conn(addr).await,
        &Method::GET,
        "/",
        &request_headers(),
        &Bytes::new(),
    )
    .await
}

#[tokio::test]
async fn content_length_body_is_relayed_and_the_connection_kept() {
    let answers: Vec<&'static [u8]> = vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  one \r\n\r\nhello",
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    ];
    let (addr, server) = scripted(answers, false).await;
    let idle = Arc::new(IdleConns::new());
    let response = exchange(
        conn(addr).await,
        &Method::GET,
        "/a?b",
        &request_headers(),
        &Bytes::new(),
    )
    .await
    .expect("exchange");
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.headers["x-a"], "one");
    let mut body = response.body;
    body.attach(None, Arc::clone(&idle), addr);
    let data = body.collect().await.expect("body").to_bytes();
    assert_eq!(data, "hello");
    let (reused, was_idle) = crate::upstream::checkout_raw(&idle, addr)
        .await
        .expect("kept connection");
    assert!(was_idle, "the connection went back to the idle stack");
    let response = exchange(
        reused,
        &Method::POST,
        "/",
        &request_headers(),
        &Bytes::from_static(b"xyz"),
    )
    .await
    .expect("second exchange on the same connection");
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    drop(response);
    let seen = server.await.expect("server");
    assert_eq!(seen.len(), 2);
    assert!(seen[0].starts_with(b"GET /a?b HTTP/1.1\r\nhost: example\r\n"));
    let second = String::from_utf8_lossy(&seen[1]);
    assert!(second.contains("content-length: 3\r\n"), "{second}");
}

#[tokio::test]
async fn chunked_body_is_decoded_and_its_trailers_dropped() {
    let answer: &'static [u8] =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n\
        5;ext=1\r\nhello\r\n1\r\n \r\n6\r\nworld!\r\n0\r\nTrailer-A: x\r\n\r\n";
    let (addr, _server) = scripted(vec![answer], false).await;
    let idle = Arc::new(IdleConns::new());
    let response = get(addr).await.expect("exchange");
    assert!(
        !response.headers.contains_key("content-length"),
        "a length beside a transfer coding is dropped"
    );
    let mut body = response.body;
    body.attach(None, Arc::clone(&idle), addr);
    let collected = body.collect().await.expect("body");
    assert!(collected.trailers().is_none());
    assert_eq!(collected.to_bytes(), "hello world!");
    assert_eq!(
        idle.len(),
        1,
        "a cleanly ended chunked body keeps the connection"
    );
}

#[tokio::test]
async fn close_delimited_body_runs_to_the_close_and_is_not_kept() {
    let answer: &'static [u8] = b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nuntil the end";
    let (addr, _server) = scripted(vec![answer], true).await;
    let idle = Arc::new(IdleConns::new());
    let response = get(addr).await.expect("exchange");
    assert_eq!(response.version, Version::HTTP_10);
    let mut body = response.body;
    body.attach(None, Arc::clone(&idle), addr);
    assert_eq!(
        body.collect().await.expect("body").to_bytes(),
        "until the end"
    );
    assert_eq!(idle.len(), 0);
}

#[tokio::test]
async fn interim_responses_are_skipped_and_head_has_no_body() {
    let answer: &'static [u8] =
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    let (addr, _server) = scripted(vec![answer], false).await;
    let idle = Arc::new(IdleConns::new());
    let response = exchange(
        conn(addr).await,
        &Method::HEAD,
        "/",
        &request_headers(),
        &Bytes::new(),
    )
    .await
    .expect("exchange");
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.headers["content-length"], "10");
    let mut body = response.body;
    body.attach(None, Arc::clone(&idle), addr);
    assert_eq!(
        idle.len(),
        1,
        "an empty body gives the connection back at once"
    );
    assert!(body.collect().await.expect("body").to_bytes().is_empty());
}

#[tokio::test]
async fn a_connection_closed_before_any_answer_is_reported_as_no_response() {
    let (addr, _server) = scripted(Vec::new(), true).await;
    let result = get(addr).await;
    assert!(matches!(result, Err(ExchangeError::NoResponse(_))));
}

#[tokio::test]
async fn a_body_cut_short_is_an_error_and_the_connection_is_dropped() {
    let answer: &'static [u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort";
    let (addr, _server) = scripted(vec![answer], true).await;
    let idle = Arc::new(IdleConns::new());
    let response = get(addr).await.expect("head arrives");
    let mut body = response.body;
    body.attach(None, Arc::clone(&idle), addr);
    assert!(body.collect().await.is_err());
    assert_eq!(idle.len(), 0);
}

#[test]
fn malformed_heads_are_rejected() {
    for head in [
        &b"HTTP/2 200 OK\r\n\r\n"[..],
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nx: a\x00b\r\n\r\n",
    ] {
        assert!(
            parse_head(Bytes::from_static(head)).is_err(),
            "{}",
            String::from_utf8_lossy(head)
        );
    }
    let (status, version, headers) = parse_head(Bytes::from_static(
        b"HTTP/1.1 204 No Content\r\nA: 1\r\nA: 2\r\n\r\n",
    ))
    .expect("valid head");
    assert_eq!(
        (status, version),
        (StatusCode::NO_CONTENT, Version::HTTP_11)
    );
    assert_eq!(headers.get_all("a").iter().count(), 2);
}

#[test]
fn framing_follows_rfc_9112() {
    let headers = |lines: &[(&'static str, &'static str)]| {
        let mut map = HeaderMap::new();
        for (name, value) in lines {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    };
    let get = Method::GET;
    let ok = StatusCode::OK;
    let with_length = headers(&[("content-length", "12")]);
    assert_eq!(
        framing(&get, ok, &with_length).ok(),
        Some(Framing::Length(12))
    );
    assert_eq!(
        framing(&Method::HEAD, ok, &with_length).ok(),
        Some(Framing::Empty)
    );
    assert_eq!(
        framing(&get, StatusCode::NOT_MODIFIED, &with_length).ok(),
        Some(Framing::Empty)
    );
    let chunked = headers(&[
        ("transfer-encoding", "gzip, chunked"),
        ("content-length", "3"),
    ]);
    assert_eq!(
        framing(&get, ok, &chunked).ok(),
        Some(Framing::Chunked(Chunk::Size))
    );
    let not_last = headers(&[("transfer-encoding", "chunked, gzip")]);
    assert_eq!(framing(&get, ok, &not_last).ok(), Some(Framing::Close));
    assert_eq!(
        framing(&get, ok, &HeaderMap::new()).ok(),
        Some(Framing::Close)
    );
    let conflicting = headers(&[("content-length", "3"), ("content-length", "4")]);
    assert!(framing(&get, ok, &conflicting).is_err());
    let garbage = headers(&[("content-length", "-1")]);
    assert!(framing(&get, ok, &garbage).is_err());
}
