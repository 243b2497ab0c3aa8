//! HTTP mode: each request picks a real server, goes out over a keep-alive pool with
//! X-Forwarded-For and X-Forwarded-Proto, is retried elsewhere when the connect fails, and an
//! Upgrade (WebSocket) is passed through as bytes.
//!
//! The common requests are read, parsed and answered by the own loop in `server`; the others
//! (upgrades, streamed or chunked request bodies, `Expect`) go to hyper's server, which then
//! keeps the connection.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;

use crate::activity::Activity;
use crate::counters::{ServerLease, ServiceCounters};
use crate::h1::{self, Conn};
use crate::limits;
use crate::metered::Metered;
use crate::pool::{Pool, Tried};
use crate::proxy_body::{Checkin, OutBody, RequestBody, UpstreamBody};
use crate::service::{self, Choice, ServiceShared};
use crate::upstream::{self, IdleConns, Upstream};

mod rewind;
pub(crate) mod server;
mod spare;

use rewind::Rewind;
use server::Served;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Serves one client connection until it closes or stays idle for the idle timeout: the own
/// loop first, then hyper's server if a request needs it.
pub(crate) async fn serve(shared: Arc<ServiceShared>, stream: TcpStream, peer: SocketAddr) {
    let idle_timeout = shared.pool().config.idle_timeout;
    let activity = Arc::new(Activity::new());
    let metered = Metered::new(stream, Arc::clone(&shared.counters), Arc::clone(&activity));
    let header_deadline = tokio::time::sleep(shared.header_read_timeout);
    let connection = async {
        tokio::pin!(header_deadline);
        match server::run(&shared, peer, metered, header_deadline).await {
            Served::Closed => {}
            Served::HandOff { client, replay } => {
                let client = Rewind::new(replay, client);
                Box::pin(serve_hyper(Arc::clone(&shared), peer, client)).await;
            }
        }
    };
    tokio::select! {
        biased;
        () = connection => {}
        () = activity.idle_for(idle_timeout) => {
            tracing::debug!(service = %shared.name, %peer, "Http connection idle");
        }
    }
}

/// Serves the rest of a connection with hyper's server.
async fn serve_hyper(
    shared: Arc<ServiceShared>,
    peer: SocketAddr,
    client: Rewind<server::ClientIo>,
) {
    let handler_shared = Arc::clone(&shared);
    // The client's address goes into every request's X-Forwarded-For: format it once.
    let client_ip = HeaderValue::from_str(&peer.ip().to_string())
        .expect("an ip address is a valid header value");
    let handler = hyper::service::service_fn(move |request| {
        handle(
            Arc::clone(&handler_shared),
            peer,
            client_ip.clone(),
            request,
        )
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.header_read_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(client), handler)
        .with_upgrades();
    if let Err(error) = connection.await {
        tracing::debug!(service = %shared.name, %peer, %error, "Http connection failed");
    }
}

async fn handle(
    shared: Arc<ServiceShared>,
    peer: SocketAddr,
    client: HeaderValue,
    request: Request<Incoming>,
) -> Result<Response<OutBody>, Infallible> {
    if let Err(status) = check_request(&request) {
        return Ok(error_response(status));
    }
    shared
        .counters
        .requests_total
        .fetch_add(1, Ordering::Relaxed);
    let pool = shared.pool();
    if is_upgrade(request.headers()) {
        // Boxed, as the other cold paths, so that the future of every request stays small: hyper
        // moves it, and its size is that of its largest state.
        return Ok(Box::pin(upgrade(&shared, &pool, peer, &client, request)).await);
    }
    let (mut parts, body) = request.into_parts();
    prepare_headers(&mut parts.headers, &client, false);
    let mut body = match RequestBody::new(body, shared.body_read_timeout).await {
        Ok(body) => body,
        Err(status) => return Ok(error_response(status)),
    };
    let lean = matches!(body, RequestBody::Replayable(_));
    let target = match checkout_any(&shared, &pool, peer, lean).await {
        Ok(target) => target,
        Err(status) => return Ok(error_response(status)),
    };
    if let Some(lease) = &target.lease {
        lease
            .counters
            .requests_total
            .fetch_add(1, Ordering::Relaxed);
    }
    // RFC 9112 section 3.2.2: with an absolute target, the target's authority is the Host.
    if let Some(authority) = parts.uri.authority()
        && let Ok(host) = HeaderValue::from_str(authority.as_str())
    {
        parts.headers.insert(header::HOST, host);
    }
    if !parts.headers.contains_key(header::HOST)
        && let Ok(host) = HeaderValue::from_str(&target.addr.to_string())
    {
        parts.headers.insert(header::HOST, host);
    }
    parts.uri = origin_form(parts.uri);
    if let (Link::Raw { .. }, RequestBody::Replayable(bytes)) = (&target.link, &body) {
        let bytes = bytes.clone();
        return Ok(forward_raw(&shared, target, &parts, &bytes).await);
    }
    let Some(upstream_body) = body.take(target.lease.as_ref()) else {
        shared.counters.errors_total.fetch_add(1, Ordering::Relaxed);
        return Ok(error_response(StatusCode::SERVICE_UNAVAILABLE));
    };
    let client_failure = body.client_failure();
    let request = Request::from_parts(parts, upstream_body);
    let response = forward(&shared, target, request).await;
    // A request body that was malformed or stalled is the client's fault, not the server's.
    match client_failure.and_then(|failure| failure.status()) {
        Some(status) if response.status() == StatusCode::BAD_GATEWAY => Ok(error_response(status)),
        _ => Ok(response),
    }
}

/// What the proxy refuses before it picks a server: `CONNECT` (405), an authority-form
/// target or `*` outside `OPTIONS` (400), a Host missing from an HTTP/1.1 request, given
/// twice (RFC 9112 section 3.2) or not a host name, and Content-Length with
/// Transfer-Encoding (400, as the own loop).
fn check_request<B>(request: &Request<B>) -> Result<(), StatusCode> {
    let target = request.uri().to_string();
    let method = request.method().as_str().as_bytes();
    match server::check_target(method, target.as_bytes()) {
        Err(server::Unserved::Reject(status)) => return Err(status),
        Err(server::Unserved::HandOff) | Ok(()) => {}
    }
    let headers = request.headers();
    let hosts = headers.get_all(header::HOST).iter().count();
    let http11 = request.version() == hyper::Version::HTTP_11;
    if hosts > 1 || (hosts == 0 && http11 && request.uri().authority().is_none()) {
        return Err(StatusCode::BAD_REQUEST);
    }
    let host_invalid = headers
        .get(header::HOST)
        .is_some_and(|host| !server::valid_host(host.as_bytes()));
    let both_lengths = headers.contains_key(header::TRANSFER_ENCODING)
        && headers.contains_key(header::CONTENT_LENGTH);
    if host_invalid || both_lengths {
        return Err(StatusCode::BAD_REQUEST);
    }
    Ok(())
}

/// A real server (or the sorry server) with a connection ready for the request.
struct Target {
    addr: SocketAddr,
    lease: Option<ServerLease>,
    idle: Arc<IdleConns>,
    link: Link,
}

/// The connection a request goes out on.
enum Link {
    /// hyper's client, for a streamed request body.
    Hyper(Upstream),
    /// The lean exchange, for a body held in memory; `reused` if it served a request before.
    Raw { conn: Conn, reused: bool },
}

/// Picks a server and gets a connection to it, trying other servers when a connect fails.
async fn checkout_any(
    shared: &ServiceShared,
    pool: &Pool,
    peer: SocketAddr,
    lean: bool,
) -> Result<Target, StatusCode> {
    let mut tried = Tried::default();
    for _ in 0..limits::CONNECT_ATTEMPTS_MAX {
        let (addr, lease, idle) = match shared.choose(pool, peer.ip(), tried.as_slice()) {
            Choice::Server(picked) => {
                tried.push(picked.index);
                let idle = Arc::clone(&picked.lease.counters.idle);
                (
                    pool.servers[picked.index].config.addr,
                    Some(picked.lease),
                    idle,
                )
            }
            Choice::Sorry(addr) => {
                shared.counters.sorry_total.fetch_add(1, Ordering::Relaxed);
                (addr, None, Arc::clone(&shared.sorry_idle))
            }
            Choice::Unavailable => break,
        };
        let link = match lean {
            true => upstream::checkout_raw(&idle, addr)
                .await
                .map(|(conn, reused)| Link::Raw { conn, reused }),
            false => upstream::checkout(&idle, addr).await.map(Link::Hyper),
        };
        match link {
            Ok(link) => {
                return Ok(Target {
                    addr,
                    lease,
                    idle,
                    link,
                });
            }
            Err(error) => {
                count_error(&shared.counters, lease.as_ref());
                tracing::debug!(service = %shared.name, %addr, %error, "Upstream connect failed");
                if lease.is_none() {
                    return Err(StatusCode::BAD_GATEWAY);
                }
            }
        }
    }
    shared.counters.errors_total.fetch_add(1, Ordering::Relaxed);
    Err(StatusCode::SERVICE_UNAVAILABLE)
}

struct HyperTarget {
    addr: SocketAddr,
    lease: Option<ServerLease>,
    idle: Arc<IdleConns>,
    upstream: Upstream,
}

/// Sends a request whose body is in memory over the lean exchange; when nothing at all came
/// back on a kept-alive connection and the request is idempotent, it goes once more over a new
/// connection, as the server may have closed the idle connection just as the request left.
async fn forward_raw(
    shared: &ServiceShared,
    target: Target,
    parts: &hyper::http::request::Parts,
    body: &Bytes,
) -> Response<OutBody> {
    let Target {
        addr,
        lease,
        idle,
        link,
    } = target;
    let Link::Raw { conn, reused } = link else {
        return error_response(StatusCode::BAD_GATEWAY);
    };
    if let Some(lease) = &lease {
        lease
            .counters
            .bytes_in
            .fetch_add(body.len() as u64, Ordering::Relaxed);
    }
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    let began = std::time::Instant::now();
    let mut result = h1::exchange(conn, &parts.method, path, &parts.headers, body).await;
    if reused
        && parts.method.is_idempotent()
        && matches!(result, Err(h1::ExchangeError::NoResponse(_)))
    {
        result = match Box::pin(upstream::connect_conn(addr)).await {
            Ok(conn) => {
                Box::pin(h1::exchange(
                    conn,
                    &parts.method,
                    path,
                    &parts.headers,
                    body,
                ))
                .await
            }
            Err(error) => Err(h1::ExchangeError::NoResponse(std::io::Error::other(error))),
        };
    }
    match result {
        Ok(response) => {
            if let Some(lease) = &lease {
                lease.counters.response_time.observe(began.elapsed());
            }
            let mut body = response.body;
            body.attach(lease, idle, addr);
            let mut headers = response.headers;
            remove_hop_headers(&mut headers, false);
            let mut relayed = Response::new(OutBody::Raw(body));
            *relayed.status_mut() = response.status;
            *relayed.version_mut() = response.version;
            *relayed.headers_mut() = headers;
            relayed
        }
        Err(error) => {
            count_error(&shared.counters, lease.as_ref());
            tracing::debug!(service = %shared.name, %addr, %error, "Upstream exchange failed");
            error_response(StatusCode::BAD_GATEWAY)
        }
    }
}

/// Sends the request; when a kept-alive connection turns out to have been closed before the
/// request went out, it goes once more over a new connection to the same server.
async fn forward(
    shared: &ServiceShared,
    target: Target,
    request: Request<OutBody>,
) -> Response<OutBody> {
    let Target {
        addr,
        lease,
        idle,
        link,
    } = target;
    let Link::Hyper(upstream) = link else {
        return error_response(StatusCode::BAD_GATEWAY);
    };
    let mut target = HyperTarget {
        addr,
        lease,
        idle,
        upstream,
    };
    let began = std::time::Instant::now();
    let sent = match target.upstream.sender.try_send_request(request).await {
        Ok(response) => Ok(response),
        Err(mut error) => match error.take_message() {
            Some(request) if target.upstream.reused => {
                match Box::pin(upstream::connect(target.addr)).await {
                    Ok(sender) => {
                        target.upstream = Upstream {
                            sender,
                            reused: false,
                        };
                        target.upstream.sender.send_request(request).await
                    }
                    Err(error) => {
                        count_error(&shared.counters, target.lease.as_ref());
                        let (service, addr) = (&shared.name, target.addr);
                        tracing::debug!(%service, %addr, %error, "Upstream reconnect failed");
                        return error_response(StatusCode::BAD_GATEWAY);
                    }
                }
            }
            _ => Err(error.into_error()),
        },
    };
    match sent {
        Ok(response) => {
            if let Some(lease) = &target.lease {
                lease.counters.response_time.observe(began.elapsed());
            }
            let (mut parts, body) = response.into_parts();
            remove_hop_headers(&mut parts.headers, false);
            let checkin = Checkin {
                idle: target.idle,
                addr: target.addr,
                sender: target.upstream.sender,
            };
            let body = UpstreamBody::new(body, target.lease, Some(checkin));
            Response::from_parts(parts, OutBody::Upstream(body))
        }
        Err(error) => {
            count_error(&shared.counters, target.lease.as_ref());
            let (service, addr) = (&shared.name, target.addr);
            tracing::debug!(%service, %addr, %error, "Upstream request failed");
            error_response(StatusCode::BAD_GATEWAY)
        }
    }
}

/// Passes an Upgrade request to one server on its own connection and, on 101, splices the
/// two upgraded connections together.
async fn upgrade(
    shared: &Arc<ServiceShared>,
    pool: &Pool,
    peer: SocketAddr,
    client: &HeaderValue,
    mut request: Request<Incoming>,
) -> Response<OutBody> {
    let client_upgrade = hyper::upgrade::on(&mut request);
    let (mut parts, body) = request.into_parts();
    prepare_headers(&mut parts.headers, client, true);
    let Some((stream, lease)) = connect_any(shared, pool, peer).await else {
        shared.counters.errors_total.fetch_add(1, Ordering::Relaxed);
        return error_response(StatusCode::SERVICE_UNAVAILABLE);
    };
    let handshake = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await;
    let Ok((mut sender, connection)) = handshake else {
        count_error(&shared.counters, lease.as_ref());
        return error_response(StatusCode::BAD_GATEWAY);
    };
    shared.tasks.spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let upstream = Request::from_parts(
        parts,
        OutBody::Stream {
            inner: body,
            counters: None,
            watch: None,
        },
    );
    let mut response = match sender.send_request(upstream).await {
        Ok(response) => response,
        Err(_) => {
            count_error(&shared.counters, lease.as_ref());
            return error_response(StatusCode::BAD_GATEWAY);
        }
    };
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let server_upgrade = hyper::upgrade::on(&mut response);
        let kill = shared.kill.clone();
        shared.tasks.spawn(async move {
            let tunnel = async {
                let (client, server) = tokio::join!(client_upgrade, server_upgrade);
                let (Ok(client), Ok(server)) = (client, server) else {
                    return;
                };
                let mut client = TokioIo::new(client);
                let mut server = TokioIo::new(server);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            };
            tokio::select! {
                () = kill.cancelled() => {}
                () = tunnel => {}
            }
            drop(lease);
        });
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, OutBody::empty());
    }
    let (parts, body) = response.into_parts();
    Response::from_parts(
        parts,
        OutBody::Upstream(UpstreamBody::new(body, None, None)),
    )
}

/// Connects to a chosen server (or the sorry server), trying others when a connect fails.
async fn connect_any(
    shared: &ServiceShared,
    pool: &Pool,
    peer: SocketAddr,
) -> Option<(TcpStream, Option<ServerLease>)> {
    let mut tried = Tried::default();
    for _ in 0..limits::CONNECT_ATTEMPTS_MAX {
        let (addr, lease) = match shared.choose(pool, peer.ip(), tried.as_slice()) {
            Choice::Server(picked) => {
                tried.push(picked.index);
                (pool.servers[picked.index].config.addr, Some(picked.lease))
            }
            Choice::Sorry(addr) => (addr, None),
            Choice::Unavailable => return None,
        };
        match service::connect(addr).await {
            Ok(stream) => return Some((stream, lease)),
            Err(_) if lease.is_some() => count_error(&shared.counters, lease.as_ref()),
            Err(_) => return None,
        }
    }
    None
}

fn count_error(counters: &ServiceCounters, lease: Option<&ServerLease>) {
    counters.errors_total.fetch_add(1, Ordering::Relaxed);
    if let Some(lease) = lease {
        lease.counters.errors_total.fetch_add(1, Ordering::Relaxed);
    }
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers.get_all(header::CONNECTION).iter().any(|value| {
            value.to_str().is_ok_and(|value| {
                value
                    .split(',')
                    .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
            })
        })
}

/// Drops hop-by-hop headers (keeping Connection and Upgrade for an upgrade), then appends the
/// client address to X-Forwarded-For and sets X-Forwarded-Proto.
pub(crate) fn prepare_headers(headers: &mut HeaderMap, client: &HeaderValue, upgrade: bool) {
    remove_hop_headers(headers, upgrade);
    let forwarded = match headers.get(&X_FORWARDED_FOR) {
        Some(previous) => {
            let mut joined = Vec::with_capacity(previous.len() + 2 + client.len());
            joined.extend_from_slice(previous.as_bytes());
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(client.as_bytes());
            HeaderValue::from_maybe_shared(Bytes::from(joined)).ok()
        }
        None => Some(client.clone()),
    };
    if let Some(value) = forwarded {
        headers.insert(X_FORWARDED_FOR, value);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
}

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

const HOP_COUNT: usize = 7;

/// Hop-by-hop headers end at the proxy; the first two stay on an upgrade request.
static HOP_HEADERS: [HeaderName; HOP_COUNT] = [
    header::CONNECTION,
    header::UPGRADE,
    KEEP_ALIVE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

fn remove_hop_headers(headers: &mut HeaderMap, upgrade: bool) {
    // One pass over the names finds the hop-by-hop headers present, so that a message with
    // none, or with Connection only, costs no hash lookup for the others.
    let mut present = [false; HOP_COUNT];
    for name in headers.keys() {
        if let Some(index) = HOP_HEADERS.iter().position(|hop| hop == name) {
            present[index] = true;
        }
    }
    if upgrade {
        present[0] = false;
        present[1] = false;
    } else if present[0] {
        // Connection names fields that end here too, but never the ones that frame or route
        // the message: Host, Content-Length.
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|token| !token.eq_ignore_ascii_case("close"))
            .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
            .filter(|name| !HOP_HEADERS.contains(name))
            .filter(|name| *name != header::HOST && *name != header::CONTENT_LENGTH)
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    // Codings other than chunked (gzip, ...) describe the content and go on with it; hyper
    // frames the message again with chunked, last, as the kept value says.
    let codings = present[6].then(|| kept_transfer_codings(headers)).flatten();
    for (hop, present) in HOP_HEADERS.iter().zip(present) {
        if present {
            headers.remove(hop);
        }
    }
    if let Some(codings) = codings {
        headers.insert(header::TRANSFER_ENCODING, codings);
    }
}

/// The Transfer-Encoding to send on when it carries a coding other than chunked.
fn kept_transfer_codings(headers: &HeaderMap) -> Option<HeaderValue> {
    let codings: Vec<String> = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|coding| coding.trim().to_ascii_lowercase())
        .filter(|coding| !coding.is_empty())
        .collect();
    if codings.iter().all(|coding| coding == "chunked") {
        return None;
    }
    let mut kept: Vec<&str> = codings
        .iter()
        .map(String::as_str)
        .filter(|coding| *coding != "chunked")
        .collect();
    kept.push("chunked");
    HeaderValue::from_str(&kept.join(", ")).ok()
}

/// The request target as an origin server expects it: a client talking to us as to a proxy
/// may have sent the absolute form.
fn origin_form(uri: Uri) -> Uri {
    if uri.authority().is_none() {
        return uri;
    }
    let path = uri.path_and_query().map_or("/", |path| path.as_str());
    Uri::try_from(path).unwrap_or_else(|_| Uri::from_static("/"))
}

fn error_response(status: StatusCode) -> Response<OutBody> {
    let mut response = Response::new(OutBody::full(Bytes::from(format!("{status}\n"))));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

#[cfg(test)]
mod tests;
