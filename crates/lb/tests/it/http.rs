//! HTTP mode: per-request balancing, forwarded headers, upgrades and metrics.

use std::collections::HashMap;

use lb::{Algorithm, Protocol};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};

use crate::support::{
    Backend, Client, eventually, fetch, read_head, server_snapshot, service, start,
};

#[tokio::test]
async fn backend_sees_x_forwarded_for_and_proto() {
    let backend = Backend::start("a").await;
    let (_director, addr) = start(service(
        Protocol::Http,
        Algorithm::RoundRobin,
        vec![backend.config(1)],
    ))
    .await;
    let (status, body) = fetch(addr, "/xff").await.expect("request");
    assert_eq!((status, body.as_str()), (200, "xff=127.0.0.1;proto=http"));
    let mut client = Client::connect(addr).await.expect("connect");
    let (_, body) = client
        .get("/xff", "X-Forwarded-For: 10.1.2.3\r\n")
        .await
        .expect("request");
    assert_eq!(
        String::from_utf8_lossy(&body),
        "xff=10.1.2.3, 127.0.0.1;proto=http"
    );
}

#[tokio::test]
async fn weighted_round_robin_balances_each_request_of_one_keep_alive_connection() {
    let backends = [
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    ];
    let servers = backends
        .iter()
        .zip([1, 2, 3])
        .map(|(backend, weight)| backend.config(weight))
        .collect();
    let (director, addr) = start(service(
        Protocol::Http,
        Algorithm::WeightedRoundRobin,
        servers,
    ))
    .await;
    let mut client = Client::connect(addr).await.expect("connect");
    let mut counts: HashMap<String, u32> = HashMap::new();
    for _ in 0..60 {
        let (status, body) = client.get("/name", "").await.expect("request");
        assert_eq!(status, 200);
        *counts
            .entry(String::from_utf8(body).expect("utf-8"))
            .or_insert(0) += 1;
    }
    assert_eq!((counts["a"], counts["b"], counts["c"]), (10, 20, 30));
    let snapshot = director.snapshot();
    assert_eq!(snapshot.services[0].connections_total, 1);
    assert_eq!(snapshot.services[0].requests_total, 60);
    assert_eq!(snapshot.services[0].servers[2].requests_total, 30);
}

#[tokio::test]
async fn websocket_upgrade_is_passed_through_as_bytes() {
    let backend = Backend::start("a").await;
    let (_director, addr) = start(service(
        Protocol::Http,
        Algorithm::RoundRobin,
        vec![backend.config(1)],
    ))
    .await;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut reader = BufReader::new(stream);
    let request = "GET /chat HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\n\
                   Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n";
    reader
        .get_mut()
        .write_all(request.as_bytes())
        .await
        .expect("send");
    let head = read_head(&mut reader).await.expect("response head");
    assert!(
        head.first_line.starts_with("HTTP/1.1 101"),
        "{}",
        head.first_line
    );
    for message in ["ping", "a longer second frame"] {
        reader
            .get_mut()
            .write_all(message.as_bytes())
            .await
            .expect("send frame");
        let mut echo = vec![0; message.len()];
        reader.read_exact(&mut echo).await.expect("echo");
        assert_eq!(echo, message.as_bytes());
    }
}

#[tokio::test]
async fn prometheus_text_carries_service_and_server_counters() {
    let backend = Backend::start("a").await;
    let (director, addr) = start(service(
        Protocol::Http,
        Algorithm::RoundRobin,
        vec![backend.config(1)],
    ))
    .await;
    for _ in 0..3 {
        fetch(addr, "/name").await.expect("request");
    }
    let text = lb::render_prometheus(&director.snapshot());
    assert!(
        text.contains("# TYPE lb_connections_active gauge\n"),
        "{text}"
    );
    assert!(
        text.contains("lb_requests_total{service=\"web\"} 3\n"),
        "{text}"
    );
    assert!(text.contains("lb_server_requests_total{service=\"web\",server=\"a\"} 3\n"));
    assert!(text.contains("lb_server_healthy{service=\"web\",server=\"a\"} 1\n"));
    assert!(!text.contains("127.0.0.1"), "no address labels");
    // Each request's response time is in the server's histogram.
    assert!(
        text.contains("# TYPE lb_server_response_seconds histogram\n"),
        "{text}"
    );
    let labels = "service=\"web\",server=\"a\"";
    for line in [
        format!("lb_server_response_seconds_count{{{labels}}} 3\n"),
        format!("lb_server_response_seconds_bucket{{{labels},le=\"+Inf\"}} 3\n"),
    ] {
        assert!(text.contains(&line), "{line} in {text}");
    }
}

#[tokio::test]
async fn upstream_connections_are_kept_alive_across_client_connections() {
    let backend = Backend::start("a").await;
    let (_director, addr) = start(service(
        Protocol::Http,
        Algorithm::RoundRobin,
        vec![backend.config(1)],
    ))
    .await;
    for _ in 0..20 {
        let (status, _) = fetch(addr, "/name").await.expect("request");
        assert_eq!(status, 200);
    }
    let upstream = backend
        .request_connections
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        upstream, 1,
        "20 sequential requests reuse one pooled upstream connection"
    );
}

#[tokio::test]
async fn a_kept_alive_connection_the_server_closed_is_replaced_without_an_error() {
    let backend = Backend::start("a").await;
    let (director, addr) = start(service(
        Protocol::Http,
        Algorithm::RoundRobin,
        vec![backend.config(1)],
    ))
    .await;
    let mut client = Client::connect(addr).await.expect("connect");
    for round in 0..5 {
        let (status, body) = client.get("/close", "").await.expect("request");
        assert_eq!((status, body.as_slice()), (200, b"a".as_slice()), "{round}");
        let (status, body) = client.get("/name", "").await.expect("request");
        assert_eq!((status, body.as_slice()), (200, b"a".as_slice()), "{round}");
    }
    let upstream = backend
        .request_connections
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        upstream >= 5,
        "each close needs a new connection: {upstream}"
    );
    assert_eq!(director.snapshot().services[0].errors_total, 0);
}

#[tokio::test]
async fn server_max_conns_counts_requests_in_flight_until_their_body_ends() {
    let backend = Backend::start("a").await;
    let mut server = backend.config(1);
    server.max_conns = Some(1);
    let (director, addr) =
        start(service(Protocol::Http, Algorithm::RoundRobin, vec![server])).await;
    let mut kept = Client::connect(addr).await.expect("connect");
    let slow = tokio::spawn(fetch(addr, "/slow/600"));
    let started = eventually(std::time::Duration::from_secs(2), || async {
        server_snapshot(&director, "a").connections_active == 1
    });
    assert!(started.await, "the slow request holds the slot");
    let (status, _) = kept.get("/name", "").await.expect("answered");
    assert_eq!(status, 503, "the only server is full");
    assert_eq!(slow.await.expect("joins").expect("served").0, 200);
    for _ in 0..3 {
        let (status, body) = kept.get("/big/200000", "").await.expect("served");
        assert_eq!((status, body.len()), (200, 200_000));
        assert_eq!(
            server_snapshot(&director, "a").connections_active,
            0,
            "the slot is free once the body has been relayed"
        );
    }
    let server = server_snapshot(&director, "a");
    assert!(server.bytes_out >= 600_000, "{}", server.bytes_out);
    assert_eq!(server.requests_total, 4);
}

#[tokio::test]
async fn a_large_request_body_streams_through_to_the_server_and_is_counted() {
    let backend = Backend::start("a").await;
    let (director, addr) = start(service(
        Protocol::Http,
        Algorithm::RoundRobin,
        vec![backend.config(1)],
    ))
    .await;
    // Larger than RETRY_BODY_LEN_MAX, so it is streamed instead of buffered.
    let body = vec![b'x'; 200_000];
    for _ in 0..2 {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut reader = BufReader::new(stream);
        let head = format!(
            "POST /name HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let writer = reader.get_mut();
        writer.write_all(head.as_bytes()).await.expect("head");
        writer.write_all(&body).await.expect("body");
        let response = read_head(&mut reader).await.expect("response head");
        assert!(
            response.first_line.starts_with("HTTP/1.1 200"),
            "{}",
            response.first_line
        );
        let mut name = [0; 1];
        reader.read_exact(&mut name).await.expect("response body");
        assert_eq!(&name, b"a");
    }
    let server = server_snapshot(&director, "a");
    assert!(server.bytes_in >= 400_000, "{}", server.bytes_in);
    assert_eq!(server.requests_total, 2);
}
