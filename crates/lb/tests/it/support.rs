//! Test fixtures: tiny HTTP/1.1 real servers on 127.0.0.1, a raw HTTP client, configs, and
//! polling with a deadline.
//!
//! The real server is hand-written so that tests control it exactly: its name, its health
//! answer, slow responses, large bodies, a silent close after a response and an Upgrade that
//! turns the connection into an echo.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use lb::{
    Algorithm, Director, DirectorOptions, HealthCheck, HealthCheckKind, Protocol, ServerConfig,
    ServerState, ServiceConfig, TcpRelay,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A real server; dropping it closes its listener and every connection.
pub struct Backend {
    pub name: String,
    pub addr: SocketAddr,
    pub healthy: Arc<AtomicBool>,
    /// Connections on which at least one request arrived.
    pub request_connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Backend {
    pub async fn start(name: &str) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind backend");
        Backend::serve(name, listener)
    }

    fn serve(name: &str, listener: TcpListener) -> Backend {
        let addr = listener.local_addr().expect("local addr");
        let healthy = Arc::new(AtomicBool::new(true));
        let request_connections = Arc::new(AtomicUsize::new(0));
        let shared = Shared {
            healthy: Arc::clone(&healthy),
            request_connections: Arc::clone(&request_connections),
        };
        let task = tokio::spawn(accept(name.to_owned(), listener, shared));
        Backend {
            name: name.to_owned(),
            addr,
            healthy,
            request_connections,
            task,
        }
    }

    pub fn config(&self, weight: u32) -> ServerConfig {
        ServerConfig {
            name: self.name.clone(),
            addr: self.addr,
            weight,
            state: ServerState::Active,
            max_conns: None,
        }
    }
}

#[derive(Clone)]
struct Shared {
    healthy: Arc<AtomicBool>,
    request_connections: Arc<AtomicUsize>,
}

async fn accept(name: String, listener: TcpListener, shared: Shared) {
    // The set owns the connections, so aborting this task closes them all.
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        connections.spawn(serve_connection(name.clone(), stream, shared.clone()));
        while connections.try_join_next().is_some() {}
    }
}

async fn serve_connection(name: String, stream: TcpStream, shared: Shared) {
    let mut reader = BufReader::new(stream);
    let mut first = true;
    loop {
        let Some(request) = read_head(&mut reader).await else {
            return;
        };
        if std::mem::take(&mut first) {
            shared.request_connections.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(len) = header(&request.headers, "content-length") {
            let mut body = vec![0; len.parse().unwrap_or(0)];
            if reader.read_exact(&mut body).await.is_err() {
                return;
            }
        }
        if header(&request.headers, "upgrade").is_some() {
            let head =
                "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n";
            let _ = reader.get_mut().write_all(head.as_bytes()).await;
            let (mut read, mut write) = reader.into_inner().into_split();
            let _ = tokio::io::copy(&mut read, &mut write).await;
            return;
        }
        let (status, body) = respond(&name, &request, &shared.healthy).await;
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let stream = reader.get_mut();
        if stream.write_all(head.as_bytes()).await.is_err()
            || stream.write_all(&body).await.is_err()
        {
            return;
        }
        // "/close" closes without saying so first, as a server whose keep-alive timeout ran out.
        if request.path == "/close"
            || header(&request.headers, "connection").is_some_and(|value| value == "close")
        {
            return;
        }
    }
}

async fn respond(name: &str, request: &Head, healthy: &AtomicBool) -> (&'static str, Vec<u8>) {
    let path = request.path.as_str();
    if path == "/health" {
        return match healthy.load(Ordering::SeqCst) {
            true => ("200 OK", b"all ok".to_vec()),
            false => ("503 Unavailable", b"sick".to_vec()),
        };
    }
    if path == "/xff" {
        let xff = header(&request.headers, "x-forwarded-for").unwrap_or_default();
        let proto = header(&request.headers, "x-forwarded-proto").unwrap_or_default();
        return ("200 OK", format!("xff={xff};proto={proto}").into_bytes());
    }
    if let Some(ms) = path.strip_prefix("/slow/") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
    }
    if let Some(len) = path.strip_prefix("/big/") {
        let len: usize = len.parse().unwrap_or(0);
        return (
            "200 OK",
            (0..len).map(|index| (index % 251) as u8).collect(),
        );
    }
    ("200 OK", name.as_bytes().to_vec())
}

pub struct Head {
    pub first_line: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

/// Reads a request or response head; `None` on a closed connection.
pub async fn read_head<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> Option<Head> {
    let mut first_line = String::new();
    if reader.read_line(&mut first_line).await.ok()? == 0 {
        return None;
    }
    let first_line = first_line.trim_end().to_owned();
    let path = first_line.split(' ').nth(1).unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Some(Head {
                first_line,
                path,
                headers,
            });
        }
        let (key, value) = line.split_once(':')?;
        headers.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
}

pub fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
}

/// A keep-alive HTTP/1.1 client connection.
pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Client> {
        Ok(Client {
            reader: BufReader::new(TcpStream::connect(addr).await?),
        })
    }

    /// Sends a GET with extra header lines and returns the status and body.
    pub async fn get(&mut self, path: &str, extra: &str) -> std::io::Result<(u16, Vec<u8>)> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n{extra}\r\n");
        self.reader.get_mut().write_all(request.as_bytes()).await?;
        let closed = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed");
        let head = read_head(&mut self.reader).await.ok_or_else(closed)?;
        let status = head
            .first_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok());
        let len: usize = header(&head.headers, "content-length")
            .and_then(|len| len.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).await?;
        Ok((status.ok_or_else(closed)?, body))
    }
}

/// One request on a new connection; returns the body as text.
pub async fn fetch(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut client = Client::connect(addr).await?;
    let (status, body) = client.get(path, "").await?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

pub fn health(kind: HealthCheckKind, interval_ms: u64, rise: u32, fall: u32) -> HealthCheck {
    HealthCheck {
        kind,
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(interval_ms * 4 / 5),
        rise,
        fall,
    }
}

pub fn http_health() -> HealthCheckKind {
    HealthCheckKind::Http {
        path: "/health".to_owned(),
        expect_status: 200,
        body_contains: Some("ok".to_owned()),
    }
}

/// A service on an ephemeral loopback port with slow health checks that will not interfere.
pub fn service(
    protocol: Protocol,
    algorithm: Algorithm,
    servers: Vec<ServerConfig>,
) -> ServiceConfig {
    ServiceConfig {
        name: "web".to_owned(),
        listen: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        protocol,
        servers,
        algorithm,
        persistence: None,
        health: health(HealthCheckKind::Tcp, 10_000, 1, 3),
        sorry_server: None,
        max_conns: None,
        idle_timeout: Duration::from_secs(30),
    }
}

pub fn director(relay: TcpRelay) -> Director {
    Director::new(DirectorOptions {
        tcp_relay: relay,
        shutdown_grace: Duration::from_secs(5),
        ..DirectorOptions::recommended()
    })
}

/// Starts a director running `service` and returns it with the service's address.
pub async fn start(service: ServiceConfig) -> (Director, SocketAddr) {
    let mut director = director(TcpRelay::Splice);
    director
        .apply(&lb::LbConfig {
            services: vec![service],
        })
        .await
        .expect("config applies");
    let addr = director.local_addr("web").expect("service runs");
    (director, addr)
}

/// Polls `condition` every 10 ms until it holds or `deadline` passes; returns whether it held.
pub async fn eventually<F, Fut>(deadline: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An address where nothing listens (bound, then released).
pub async fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("local addr")
}

pub fn server_snapshot(director: &Director, server: &str) -> lb::ServerSnapshot {
    let snapshot = director.snapshot();
    snapshot.services[0]
        .servers
        .iter()
        .find(|snapshot| snapshot.name == server)
        .expect("server in snapshot")
        .clone()
}
