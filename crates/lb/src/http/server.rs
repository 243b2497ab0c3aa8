//! The client side of HTTP mode for the common requests, run in the client connection's task.
//!
//! Requests are read into one reusable buffer and parsed in place (`h1::head`); a request with
//! no body, or a Content-Length body of at most `RETRY_BODY_LEN_MAX`, is encoded straight into
//! the request for the real server (hop-by-hop fields dropped, X-Forwarded-For appended,
//! X-Forwarded-Proto set) and its response is written back by `h1::direct`. Nothing is
//! allocated per request once the buffers have grown, and a small response costs one write.
//!
//! Anything unusual (an Upgrade, a transfer coding or a large body in the request, `Expect`,
//! an absolute or authority request target) is handed over, with the bytes read so far, to
//! hyper's server, which then serves the connection to its end.

use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use hyper::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::{Link, Target, checkout_any, count_error};
use crate::h1::direct::{self, ClientSide, Home};
use crate::h1::head::{self, HeadError, Name, RequestHead, ResponseHead};
use crate::h1::{Conn, ExchangeError};
use crate::limits;
use crate::metered::Metered;
use crate::service::ServiceShared;
use crate::upstream;

use super::spare;

pub(super) type ClientIo = Metered<TcpStream>;

/// How the own loop left a connection.
pub(super) enum Served {
    Closed,
    /// A request the own loop does not serve: hyper takes the connection over, reading `replay`
    /// (the unserved bytes already read) first.
    HandOff {
        client: ClientIo,
        replay: Bytes,
    },
}

/// What a parsed request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) body_len: usize,
    pub(crate) side: ClientSide,
    pub(crate) idempotent: bool,
    pub(crate) has_host: bool,
    pub(crate) has_content_length: bool,
    /// The Connection field names other fields, which end here too.
    pub(crate) names_fields: bool,
}

/// Why a request is not served by the own loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unserved {
    /// Valid, but hyper's server handles it.
    HandOff,
    /// Answered with this status, then the connection closes.
    Reject(StatusCode),
}

/// The buffers one client connection reuses for every request.
struct Buffers {
    read: Vec<u8>,
    request: RequestHead,
    response: ResponseHead,
    /// The request as it goes to the real server.
    upstream: Vec<u8>,
    /// What goes to the client next.
    out: Vec<u8>,
    /// The client's address, as X-Forwarded-For carries it.
    client_ip: String,
}

impl Buffers {
    /// A connection's buffers, holding nothing until its first request arrives.
    fn new(client: std::net::IpAddr) -> Buffers {
        Buffers {
            read: Vec::new(),
            request: RequestHead::default(),
            response: ResponseHead::default(),
            upstream: Vec::new(),
            out: Vec::new(),
            client_ip: client.to_string(),
        }
    }

    /// Takes spare buffers for a request that is arriving.
    fn acquire(&mut self) {
        for buffer in [&mut self.read, &mut self.upstream, &mut self.out] {
            if buffer.capacity() == 0 {
                *buffer = spare::take();
            }
        }
    }

    /// Gives the buffers back while the connection waits for its next request.
    fn release(&mut self) {
        for buffer in [&mut self.read, &mut self.upstream, &mut self.out] {
            spare::give(std::mem::take(buffer));
        }
    }
}

/// Serves requests until the connection closes, fails, or a request is handed over.
pub(super) async fn run(
    shared: &Arc<ServiceShared>,
    peer: SocketAddr,
    mut client: ClientIo,
    mut header_deadline: Pin<&mut Sleep>,
) -> Served {
    let mut buffers = Buffers::new(peer.ip());
    loop {
        let header_read_timeout = shared.header_read_timeout;
        let deadline = header_deadline.as_mut();
        let len = match read_head(&mut client, &mut buffers, deadline, header_read_timeout).await {
            Ok(Some(len)) => len,
            Ok(None) => return Served::Closed,
            Err(status) => return reject(shared, peer, client, &mut buffers.out, status).await,
        };
        let request = match parse(&buffers.read, len, &mut buffers.request) {
            Ok(request) => request,
            Err(Unserved::HandOff) => {
                let replay = Bytes::copy_from_slice(&buffers.read);
                return Served::HandOff { client, replay };
            }
            Err(Unserved::Reject(status)) => {
                return reject(shared, peer, client, &mut buffers.out, status).await;
            }
        };
        let end = len + request.body_len;
        let body = read_to(&mut client, &mut buffers.read, end);
        match tokio::time::timeout(shared.body_read_timeout, body).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Served::Closed,
            Err(_) => {
                // A body that stalls after its head is cut, as a head that stalls is.
                let status = StatusCode::REQUEST_TIMEOUT;
                return reject(shared, peer, client, &mut buffers.out, status).await;
            }
        }
        if !forward(shared, peer, &mut client, &mut buffers, len, request).await {
            let _ = client.shutdown().await;
            return Served::Closed;
        }
        buffers.read.drain(..end);
        if buffers.read.is_empty() {
            buffers.release();
        }
    }
}

/// Reads until a request head is complete; `None` when the client closed or stalled.
async fn read_head(
    client: &mut ClientIo,
    buffers: &mut Buffers,
    mut deadline: Pin<&mut Sleep>,
    header_read_timeout: std::time::Duration,
) -> Result<Option<usize>, StatusCode> {
    let mut searched = 0;
    let mut armed = false;
    loop {
        let read = &mut buffers.read;
        // Empty lines before a request line are ignored (RFC 9112 section 2.2).
        let blank = read
            .iter()
            .take_while(|byte| **byte == b'\r' || **byte == b'\n')
            .count();
        if blank > 0 {
            read.drain(..blank);
            searched = 0;
        }
        if let Some(len) = head::head_end(read, searched) {
            if len > limits::REQUEST_HEAD_LEN_MAX {
                return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
            }
            return Ok(Some(len));
        }
        if read.len() > limits::REQUEST_HEAD_LEN_MAX {
            return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        }
        searched = read.len();
        if !armed {
            // The timer is only moved when the head is not already here; moving it later is
            // a store, with no timer-wheel work.
            deadline
                .as_mut()
                .reset(Instant::now() + header_read_timeout);
            armed = true;
        }
        if read.capacity() == 0 {
            // Between requests the connection holds no buffer: wait for the next request's
            // first byte, then take spare ones.
            let ready = tokio::select! {
                biased;
                // Polled like a read (one waker slot), not through a readiness future.
                ready = std::future::poll_fn(|cx| client.get_ref().poll_read_ready(cx)) => ready,
                () = deadline.as_mut() => return Ok(None),
            };
            if ready.is_err() {
                return Ok(None);
            }
            buffers.acquire();
        }
        let read = &mut buffers.read;
        read.reserve(limits::REQUEST_READ_CHUNK);
        let received = tokio::select! {
            biased;
            received = client.read_buf(read) => received,
            () = deadline.as_mut() => return Ok(None),
        };
        match received {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
    }
}

/// Reads until `end` bytes are buffered (the head and a body of known length).
async fn read_to(client: &mut ClientIo, read: &mut Vec<u8>, end: usize) -> std::io::Result<()> {
    while read.len() < end {
        read.reserve(end - read.len());
        if client.read_buf(read).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(())
}

/// Parses the head at the start of `read` and decides whether the own loop serves it.
pub(crate) fn parse(read: &[u8], len: usize, head: &mut RequestHead) -> Result<Request, Unserved> {
    let bad = Unserved::Reject(StatusCode::BAD_REQUEST);
    match head::parse_request(read, len, limits::REQUEST_HEADERS_MAX, head) {
        Ok(()) => {}
        Err(HeadError::TooManyFields(_)) => {
            return Err(Unserved::Reject(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ));
        }
        Err(HeadError::Malformed(_)) => return Err(bad),
    }
    let method = head.method.of(read);
    let target = head.target.of(read);
    check_target(method, target)?;
    if !target.starts_with(b"/") && target != b"*" {
        // The absolute form: hyper's server takes it, and its Host is set from the target.
        return Err(Unserved::HandOff);
    }
    let fields = scan_fields(read, head)?;
    let (content_length, has_host) = (fields.content_length, fields.host_count == 1);
    if fields.hand_off || (fields.upgrade && direct::has_token(&head.fields, read, b"upgrade")) {
        return Err(Unserved::HandOff);
    }
    let body_len = match content_length {
        Some(length) if length > limits::RETRY_BODY_LEN_MAX => return Err(Unserved::HandOff),
        Some(length) => usize::try_from(length).map_err(|_| Unserved::HandOff)?,
        None => 0,
    };
    let keep_alive = match head.http10 {
        false => !direct::has_token(&head.fields, read, b"close"),
        true => direct::has_token(&head.fields, read, b"keep-alive"),
    };
    Ok(Request {
        body_len,
        side: ClientSide {
            head_request: method == b"HEAD",
            http10: head.http10,
            keep_alive,
        },
        idempotent: matches!(
            method,
            b"GET" | b"HEAD" | b"PUT" | b"DELETE" | b"OPTIONS" | b"TRACE"
        ),
        has_host,
        has_content_length: content_length.is_some(),
        names_fields: direct::connection_names_fields(&head.fields, read),
    })
}

/// What the fields of a request head say about its framing and routing.
struct Fields {
    content_length: Option<u64>,
    host_count: usize,
    upgrade: bool,
    /// A transfer coding or `Expect`: hyper's server takes the request.
    hand_off: bool,
}

/// Reads the fields that frame and route the request, refusing with 400 what RFC 9112
/// says a server must refuse (and what nginx, the stricter of the proxies compared in
/// bench/RESULTS.md, refuses): Content-Length values that differ, Content-Length with
/// Transfer-Encoding, a Host missing from HTTP/1.1, given twice or not a host name.
fn scan_fields(read: &[u8], head: &RequestHead) -> Result<Fields, Unserved> {
    let bad = Unserved::Reject(StatusCode::BAD_REQUEST);
    let mut fields = Fields {
        content_length: None,
        host_count: 0,
        upgrade: false,
        hand_off: false,
    };
    let mut transfer_coded = false;
    for field in &head.fields {
        match field.known {
            Name::TransferEncoding => transfer_coded = true,
            Name::Expect => fields.hand_off = true,
            Name::Upgrade => fields.upgrade = true,
            Name::Host if !valid_host(field.value.of(read)) => return Err(bad),
            Name::Host => fields.host_count += 1,
            Name::ContentLength => {
                let length = head::content_length(field.value.of(read)).ok_or(bad)?;
                if fields
                    .content_length
                    .is_some_and(|previous| previous != length)
                {
                    return Err(bad);
                }
                fields.content_length = Some(length);
            }
            _ => {}
        }
    }
    if transfer_coded && fields.content_length.is_some() {
        return Err(bad);
    }
    if fields.host_count > 1 || (fields.host_count == 0 && !head.http10) {
        return Err(bad);
    }
    fields.hand_off |= transfer_coded;
    Ok(fields)
}

/// Whether a Host value is a host name or address with an optional port, and nothing else
/// (no list, no spaces, no user info or path).
pub(crate) fn valid_host(value: &[u8]) -> bool {
    value.iter().all(|byte| {
        byte.is_ascii_alphanumeric()
            || matches!(byte, b'.' | b'-' | b'_' | b'~' | b':' | b'[' | b']' | b'%')
    })
}

/// Refuses what a reverse proxy must not pass on: `CONNECT` (405: there is no tunnel to
/// open), an authority-form target outside `CONNECT`, `*` outside `OPTIONS`, and a target
/// that is neither the origin nor the absolute form (400).
pub(crate) fn check_target(method: &[u8], target: &[u8]) -> Result<(), Unserved> {
    let bad = Unserved::Reject(StatusCode::BAD_REQUEST);
    if method == b"CONNECT" {
        return Err(Unserved::Reject(StatusCode::METHOD_NOT_ALLOWED));
    }
    if target == b"*" {
        return if method == b"OPTIONS" {
            Ok(())
        } else {
            Err(bad)
        };
    }
    let absolute = [&b"http://"[..], b"https://"].iter().any(|scheme| {
        target.len() > scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme)
    });
    if target.starts_with(b"/") || absolute {
        Ok(())
    } else {
        Err(bad)
    }
}

/// Encodes the request for the real server at `addr`.
pub(crate) fn encode(
    out: &mut Vec<u8>,
    read: &[u8],
    head: &RequestHead,
    request: &Request,
    body: &[u8],
    client_ip: &str,
    addr: SocketAddr,
) {
    out.clear();
    out.extend_from_slice(head.method.of(read));
    out.push(b' ');
    out.extend_from_slice(head.target.of(read));
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for field in &head.fields {
        let name = field.name.of(read);
        if field.known.is_hop_by_hop()
            || matches!(
                field.known,
                Name::ContentLength | Name::XForwardedFor | Name::XForwardedProto
            )
            || (request.names_fields
                && field.known != Name::Host
                && direct::has_token(&head.fields, read, name))
        {
            continue;
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(field.value.of(read));
        out.extend_from_slice(b"\r\n");
    }
    // Writing into a vector cannot fail.
    if !request.has_host {
        let _ = write!(out, "host: {addr}\r\n");
    }
    // The body is all here, so its length is known and replaces whatever the client said.
    if !body.is_empty() || request.has_content_length {
        let _ = write!(out, "content-length: {}\r\n", body.len());
    }
    out.extend_from_slice(b"x-forwarded-for: ");
    for field in &head.fields {
        if field.known == Name::XForwardedFor {
            out.extend_from_slice(field.value.of(read));
            out.extend_from_slice(b", ");
        }
    }
    out.extend_from_slice(client_ip.as_bytes());
    out.extend_from_slice(b"\r\nx-forwarded-proto: http\r\n\r\n");
    out.extend_from_slice(body);
}

/// Proxies one request; returns whether the client connection stays open.
async fn forward(
    shared: &Arc<ServiceShared>,
    peer: SocketAddr,
    client: &mut ClientIo,
    buffers: &mut Buffers,
    len: usize,
    request: Request,
) -> bool {
    shared
        .counters
        .requests_total
        .fetch_add(1, Ordering::Relaxed);
    match send_upstream(shared, peer, buffers, len, &request).await {
        Ok((conn, incoming, home)) => {
            let response = &buffers.response;
            let out = &mut buffers.out;
            let relayed = direct::relay(conn, response, incoming, home, request.side, client, out);
            relayed.await.unwrap_or(false)
        }
        Err(status) => answer_error(client, &mut buffers.out, status, request.side).await,
    }
}

/// Picks a server, sends it the request and reads its response head into `buffers.response`;
/// the error is the status to answer the client with.
async fn send_upstream(
    shared: &Arc<ServiceShared>,
    peer: SocketAddr,
    buffers: &mut Buffers,
    len: usize,
    request: &Request,
) -> Result<(Conn, direct::Incoming, Home), StatusCode> {
    let pool = shared.pool();
    let Target {
        addr,
        lease,
        idle,
        link,
    } = checkout_any(shared, &pool, peer, true).await?;
    let Link::Raw { conn, reused } = link else {
        return Err(StatusCode::BAD_GATEWAY);
    };
    let body = &buffers.read[len..len + request.body_len];
    if let Some(lease) = &lease {
        let counters = &lease.counters;
        counters.requests_total.fetch_add(1, Ordering::Relaxed);
        counters
            .bytes_in
            .fetch_add(body.len() as u64, Ordering::Relaxed);
    }
    let (read, head, client_ip) = (&buffers.read, &buffers.request, &buffers.client_ip);
    encode(
        &mut buffers.upstream,
        read,
        head,
        request,
        body,
        client_ip,
        addr,
    );
    let retry = reused && request.idempotent;
    let head_request = request.side.head_request;
    let response = &mut buffers.response;
    let began = std::time::Instant::now();
    match exchange(conn, &buffers.upstream, head_request, retry, addr, response).await {
        Ok((conn, incoming)) => {
            if let Some(lease) = &lease {
                lease.counters.response_time.observe(began.elapsed());
            }
            Ok((conn, incoming, Home { idle, addr, lease }))
        }
        Err(error) => {
            count_error(&shared.counters, lease.as_ref());
            tracing::debug!(service = %shared.name, %addr, %error, "Upstream exchange failed");
            Err(StatusCode::BAD_GATEWAY)
        }
    }
}

/// Sends the request and reads the response head; when nothing at all came back on a
/// kept-alive connection and `retry` is set, the request goes once more over a new connection,
/// as the server may have closed the idle connection just as the request left.
async fn exchange(
    mut conn: Conn,
    request: &[u8],
    head_request: bool,
    retry: bool,
    addr: SocketAddr,
    response: &mut ResponseHead,
) -> Result<(Conn, direct::Incoming), ExchangeError> {
    let first = match direct::send(&mut conn, request).await {
        Ok(()) => direct::read_response(&mut conn, head_request, response).await,
        Err(error) => Err(error),
    };
    match first {
        Ok(incoming) => return Ok((conn, incoming)),
        Err(ExchangeError::NoResponse(_)) if retry => {}
        Err(error) => return Err(error),
    }
    drop(conn);
    let mut conn = Box::pin(upstream::connect_conn(addr))
        .await
        .map_err(|error| ExchangeError::NoResponse(std::io::Error::other(error)))?;
    direct::send(&mut conn, request).await?;
    let incoming = direct::read_response(&mut conn, head_request, response).await?;
    Ok((conn, incoming))
}

/// Answers with an error of the proxy's own; returns whether the connection stays open.
async fn answer_error(
    client: &mut ClientIo,
    out: &mut Vec<u8>,
    status: StatusCode,
    side: ClientSide,
) -> bool {
    encode_error(out, status, side);
    client.write_all(out).await.is_ok() && side.keep_alive
}

/// Answers a request that cannot be served with `status` and closes the connection.
async fn reject(
    shared: &ServiceShared,
    peer: SocketAddr,
    mut client: ClientIo,
    out: &mut Vec<u8>,
    status: StatusCode,
) -> Served {
    tracing::debug!(service = %shared.name, %peer, %status, "Http request rejected");
    let closing = ClientSide {
        head_request: false,
        http10: false,
        keep_alive: false,
    };
    encode_error(out, status, closing);
    if client.write_all(out).await.is_ok() {
        let _ = client.shutdown().await;
    }
    Served::Closed
}

/// An error response of the proxy's own, with the status as its plain-text body (also for a
/// HEAD request: hyper's server did the same, and the length tells the client what to skip).
pub(crate) fn encode_error(out: &mut Vec<u8>, status: StatusCode, side: ClientSide) {
    let reason = status.canonical_reason().unwrap_or("");
    let body_len = 3 + 1 + reason.len() + 1;
    out.clear();
    let _ = write!(
        out,
        "HTTP/1.1 {} {reason}\r\ncontent-type: text/plain\r\ncontent-length: {body_len}\r\n",
        status.as_u16()
    );
    match (side.keep_alive, side.http10) {
        (false, _) => out.extend_from_slice(b"connection: close\r\n"),
        (true, true) => out.extend_from_slice(b"connection: keep-alive\r\n"),
        (true, false) => {}
    }
    let _ = write!(out, "\r\n{} {reason}\n", status.as_u16());
}

#[cfg(test)]
mod tests;
