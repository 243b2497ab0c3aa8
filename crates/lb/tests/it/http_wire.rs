//! HTTP mode on the wire: raw requests from clients of both HTTP versions, pipelined,
//! malformed or oversized, against a real server that echoes what it received, checking the
//! exact responses, which connections stay open, and the counters.

use std::net::SocketAddr;
use std::time::Duration;

use lb::{Algorithm, Protocol};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::support::{Head, dead_addr, header, read_head, server_snapshot, service, start};

/// A real server answering by path: `/chunked`, `/no-content`, `/until-close` and `/garbage`
/// send what they say; any other path echoes the request line, fields and body it received.
pub(crate) struct Echo {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Echo {
    pub(crate) async fn start() -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(echo_connection(stream));
                while connections.try_join_next().is_some() {}
            }
        });
        Echo { addr, task }
    }

    pub(crate) fn config(&self) -> lb::ServerConfig {
        lb::ServerConfig {
            name: "echo".to_owned(),
            addr: self.addr,
            weight: 1,
            state: lb::ServerState::Active,
            max_conns: None,
        }
    }
}

async fn echo_connection(stream: TcpStream) {
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_head(&mut reader).await {
        let Some(body) = read_body(&mut reader, &request.headers).await else {
            return;
        };
        let answer: Vec<u8> = match request.path.as_str() {
            "/chunked" => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                            4\r\nwire\r\n0\r\n\r\n"
                .to_vec(),
            "/no-content" => b"HTTP/1.1 204 No Content\r\nX-Seen: 1\r\n\r\n".to_vec(),
            "/until-close" => b"HTTP/1.1 200 OK\r\n\r\nall of it".to_vec(),
            "/garbage" => b"nonsense\r\n\r\n".to_vec(),
            _ => echo(&request, &body),
        };
        if reader.get_mut().write_all(&answer).await.is_err()
            || matches!(request.path.as_str(), "/until-close" | "/garbage")
        {
            return;
        }
    }
}

fn echo(request: &Head, body: &[u8]) -> Vec<u8> {
    let mut text = format!("{}\n", request.first_line);
    for (name, value) in &request.headers {
        text += &format!("{name}: {value}\n");
    }
    text += "\n";
    let mut echoed = text.into_bytes();
    echoed.extend_from_slice(body);
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
        echoed.len()
    );
    if request.first_line.starts_with("HEAD ") {
        return answer.into_bytes();
    }
    answer.push_str(&String::from_utf8_lossy(&echoed));
    answer.into_bytes()
}

/// A request body by Content-Length or chunked; `None` on a broken connection.
async fn read_body(
    reader: &mut BufReader<TcpStream>,
    headers: &[(String, String)],
) -> Option<Vec<u8>> {
    if let Some(len) = header(headers, "content-length") {
        let mut body = vec![0; len.parse().ok()?];
        reader.read_exact(&mut body).await.ok()?;
        return Some(body);
    }
    if header(headers, "transfer-encoding").is_none() {
        return Some(Vec::new());
    }
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.ok()?;
        let size = usize::from_str_radix(line.trim(), 16).ok()?;
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).await.ok()?;
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// One response as the client reads it: status line, fields, body (by length, chunked, or
/// to the end of the connection).
pub(crate) struct Response {
    pub(crate) first_line: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        header(&self.headers, name)
    }
}

pub(crate) async fn read_response(
    reader: &mut BufReader<TcpStream>,
    head_request: bool,
) -> Option<Response> {
    let head = read_head(reader).await?;
    let mut body = Vec::new();
    if head_request || head.first_line.contains(" 204 ") {
    } else if let Some(len) = header(&head.headers, "content-length") {
        body = vec![0; len.parse().ok()?];
        reader.read_exact(&mut body).await.ok()?;
    } else if header(&head.headers, "transfer-encoding").is_some() {
        body = read_chunked(reader).await?;
    } else {
        reader.read_to_end(&mut body).await.ok()?;
    }
    Some(Response {
        first_line: head.first_line,
        headers: head.headers,
        body: String::from_utf8(body).ok()?,
    })
}

async fn read_chunked(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let headers = vec![("transfer-encoding".to_owned(), "chunked".to_owned())];
    read_body(reader, &headers).await
}

pub(crate) async fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    BufReader::new(TcpStream::connect(addr).await.expect("connect"))
}

pub(crate) async fn send(reader: &mut BufReader<TcpStream>, bytes: &[u8]) {
    reader.get_mut().write_all(bytes).await.expect("send");
}

/// Whether the proxy closed the connection (reading gives its end, or a reset).
pub(crate) async fn closed(reader: &mut BufReader<TcpStream>) -> bool {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut rest)).await;
    matches!(read, Ok(Ok(0)) | Ok(Err(_)))
}

pub(crate) async fn echo_service() -> (Echo, lb::Director, SocketAddr) {
    let echo = Echo::start().await;
    let (director, addr) = start(service(
        Protocol::Http,
        Algorithm::RoundRobin,
        vec![echo.config()],
    ))
    .await;
    (echo, director, addr)
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let (_echo, director, addr) = echo_service().await;
    let mut client = connect(addr).await;
    send(
        &mut client,
        b"GET /one HTTP/1.1\r\nHost: t\r\n\r\nPOST /two HTTP/1.1\r\nHost: t\r\n\
          Content-Length: 4\r\n\r\nbodyGET /chunked HTTP/1.1\r\nHost: t\r\n\r\n\
          HEAD /four HTTP/1.1\r\nHost: t\r\n\r\nGET /five HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .await;
    for (path, head_request) in [("/one", false), ("/two", false), ("/chunked", false)] {
        let response = read_response(&mut client, head_request).await.expect(path);
        assert_eq!(response.first_line, "HTTP/1.1 200 OK", "{path}");
        if path == "/chunked" {
            assert_eq!(response.body, "wire");
        } else {
            assert!(response.body.contains(path), "{path}: {}", response.body);
        }
    }
    let head = read_response(&mut client, true).await.expect("head");
    assert!(head.header("content-length").is_some());
    let five = read_response(&mut client, false).await.expect("five");
    assert!(
        five.body.starts_with("GET /five HTTP/1.1\n"),
        "{}",
        five.body
    );
    assert_eq!(director.snapshot().services[0].requests_total, 5);
}

#[tokio::test]
async fn the_server_gets_forwarded_fields_without_hop_by_hop_ones_and_the_small_body() {
    let (_echo, director, addr) = echo_service().await;
    let mut client = connect(addr).await;
    send(
        &mut client,
        b"POST /form HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n\
          TE: trailers\r\nX-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: https\r\n\
          Content-Length: 5\r\n\r\nhello",
    )
    .await;
    let response = read_response(&mut client, false).await.expect("response");
    assert_eq!(
        response.body,
        "POST /form HTTP/1.1\nhost: t\ncontent-length: 5\n\
         x-forwarded-for: 192.0.2.1, 127.0.0.1\nx-forwarded-proto: http\n\nhello"
    );
    let snapshot = director.snapshot();
    let service = &snapshot.services[0];
    assert!(service.bytes_in >= 150, "{}", service.bytes_in);
    assert!(
        service.bytes_out as usize >= response.body.len(),
        "{}",
        service.bytes_out
    );
    let server = server_snapshot(&director, "echo");
    assert_eq!((server.requests_total, server.bytes_in), (1, 5));
    assert!(server.bytes_out as usize >= response.body.len());
}

#[tokio::test]
async fn http_1_0_clients_are_closed_unless_they_ask_for_keep_alive() {
    let (_echo, _director, addr) = echo_service().await;
    let mut client = connect(addr).await;
    send(&mut client, b"GET /old HTTP/1.0\r\n\r\n").await;
    let response = read_response(&mut client, false).await.expect("response");
    assert_eq!(response.first_line, "HTTP/1.1 200 OK");
    assert_eq!(response.header("connection").as_deref(), Some("close"));
    assert!(
        response.body.starts_with("GET /old HTTP/1.1\n"),
        "{}",
        response.body
    );
    assert!(closed(&mut client).await);

    let mut client = connect(addr).await;
    for _ in 0..3 {
        send(
            &mut client,
            b"GET /kept HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        )
        .await;
        let response = read_response(&mut client, false).await.expect("response");
        assert_eq!(response.header("connection").as_deref(), Some("keep-alive"));
    }
    // A chunked response cannot reach an HTTP/1.0 client: it comes decoded, and closed.
    send(
        &mut client,
        b"GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    )
    .await;
    let response = read_response(&mut client, false).await.expect("response");
    assert_eq!(response.header("transfer-encoding"), None);
    assert_eq!(response.body, "wire");
}

#[tokio::test]
async fn a_client_asking_to_close_is_answered_and_closed() {
    let (_echo, _director, addr) = echo_service().await;
    let mut client = connect(addr).await;
    send(
        &mut client,
        b"GET /bye HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    let response = read_response(&mut client, false).await.expect("response");
    assert_eq!(response.header("connection").as_deref(), Some("close"));
    assert!(closed(&mut client).await);
}

#[tokio::test]
async fn responses_without_body_by_length_or_until_close_are_relayed() {
    let (_echo, _director, addr) = echo_service().await;
    let mut client = connect(addr).await;
    send(&mut client, b"GET /no-content HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let response = read_response(&mut client, false).await.expect("204");
    assert_eq!(response.first_line, "HTTP/1.1 204 No Content");
    assert_eq!(response.header("x-seen").as_deref(), Some("1"));
    send(&mut client, b"GET /until-close HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let response = read_response(&mut client, false)
        .await
        .expect("close-delimited");
    assert_eq!(response.body, "all of it");
    assert_eq!(response.header("connection").as_deref(), Some("close"));
}

#[tokio::test]
async fn malformed_requests_get_400_and_the_connection_closes() {
    let (_echo, director, addr) = echo_service().await;
    for request in [
        &b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
    ] {
        let mut client = connect(addr).await;
        send(&mut client, request).await;
        let response = read_response(&mut client, false).await.expect("an answer");
        assert_eq!(
            response.first_line, "HTTP/1.1 400 Bad Request",
            "{request:?}"
        );
        assert!(closed(&mut client).await, "{request:?}");
    }
    assert_eq!(director.snapshot().services[0].requests_total, 0);
    let mut client = connect(addr).await;
    send(&mut client, b"GET /still HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert!(
        read_response(&mut client, false).await.is_some(),
        "the service still serves"
    );
}

#[tokio::test]
async fn oversized_heads_get_431_and_the_connection_closes() {
    let (_echo, _director, addr) = echo_service().await;
    let long_value = "v".repeat(lb::limits::REQUEST_HEAD_LEN_MAX);
    let many: String = (0..=lb::limits::REQUEST_HEADERS_MAX)
        .map(|index| format!("x-{index}: v\r\n"))
        .collect();
    for request in [
        format!("GET / HTTP/1.1\r\nX-Long: {long_value}\r\n\r\n"),
        format!("GET / HTTP/1.1\r\nX-Long: {long_value}"),
        format!("GET / HTTP/1.1\r\n{many}\r\n"),
    ] {
        let mut client = connect(addr).await;
        // The proxy may answer and close before all of it is sent.
        let _ = client.get_mut().write_all(request.as_bytes()).await;
        let response = read_response(&mut client, false).await.expect("an answer");
        assert_eq!(
            response.first_line,
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
        assert!(closed(&mut client).await);
    }
}

#[tokio::test]
async fn a_chunked_request_body_goes_through_hyper_and_the_connection_goes_on() {
    let (_echo, director, addr) = echo_service().await;
    let mut client = connect(addr).await;
    send(&mut client, b"GET /before HTTP/1.1\r\nHost: t\r\n\r\n").await;
    read_response(&mut client, false)
        .await
        .expect("served by the own loop");
    send(
        &mut client,
        b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nGET /after HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .await;
    let upload = read_response(&mut client, false).await.expect("upload");
    assert!(
        upload.body.starts_with("POST /upload HTTP/1.1\n"),
        "{}",
        upload.body
    );
    assert!(upload.body.ends_with("\n\nabcde"), "{}", upload.body);
    let after = read_response(&mut client, false).await.expect("after");
    assert!(
        after.body.starts_with("GET /after HTTP/1.1\n"),
        "{}",
        after.body
    );
    assert_eq!(director.snapshot().services[0].requests_total, 3);
}

#[tokio::test]
async fn unreachable_and_broken_servers_give_503_and_502_on_a_connection_kept_open() {
    let (_echo, _director, addr) = echo_service().await;
    let mut client = connect(addr).await;
    send(&mut client, b"GET /garbage HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let response = read_response(&mut client, false).await.expect("502");
    assert_eq!(response.first_line, "HTTP/1.1 502 Bad Gateway");
    assert_eq!(response.body, "502 Bad Gateway\n");

    let dead = lb::ServerConfig {
        name: "dead".to_owned(),
        addr: dead_addr().await,
        weight: 1,
        state: lb::ServerState::Active,
        max_conns: None,
    };
    let (director, addr) = start(service(Protocol::Http, Algorithm::RoundRobin, vec![dead])).await;
    let mut client = connect(addr).await;
    for _ in 0..2 {
        send(&mut client, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
        let response = read_response(&mut client, false).await.expect("503");
        assert_eq!(response.first_line, "HTTP/1.1 503 Service Unavailable");
    }
    assert!(director.snapshot().services[0].errors_total >= 2);
}

#[tokio::test]
async fn persistence_and_source_hash_keep_every_request_of_a_client_on_one_server() {
    let backends = [
        crate::support::Backend::start("a").await,
        crate::support::Backend::start("b").await,
        crate::support::Backend::start("c").await,
    ];
    for (algorithm, persistence) in [
        (Algorithm::SourceHash, None),
        (Algorithm::RoundRobin, Some(Duration::from_secs(60))),
    ] {
        let servers = backends.iter().map(|backend| backend.config(1)).collect();
        let mut config = service(Protocol::Http, algorithm, servers);
        config.persistence = persistence;
        let (director, addr) = start(config).await;
        let mut kept = crate::support::Client::connect(addr)
            .await
            .expect("connect");
        let (_, first) = kept.get("/name", "").await.expect("request");
        for _ in 0..10 {
            let (_, name) = kept.get("/name", "").await.expect("request");
            assert_eq!(name, first, "{algorithm:?}, one connection");
            let (_, name) = crate::support::fetch(addr, "/name").await.expect("request");
            assert_eq!(name.as_bytes(), first, "{algorithm:?}, new connections");
        }
        assert_eq!(director.snapshot().services[0].requests_total, 21);
        drop(kept);
        director.shutdown().await;
    }
}
