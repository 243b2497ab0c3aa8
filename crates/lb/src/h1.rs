//! A lean HTTP/1.1 exchange with a real server, run inside the client connection's task.
//!
//! For a request whose body is in memory, the proxy writes the request head and body with one
//! write, parses the response head itself, and relays the response body straight from the
//! socket. No task, channel or wake-up sits between the client's request and the server's
//! socket, which is where hyper's client spent a third of the proxy's user time per request.
//! Streamed request bodies and upgrades still go through hyper's client.
//!
//! Two submodules serve the proxy's own client loop (`http::server`): `head` parses request and
//! response heads in place, and `direct` sends an encoded request and writes the response to
//! the client without building a message. `exchange` below, with its header map, remains for
//! requests that came through hyper's server.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker, ready};

use bytes::{Buf, Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, StatusCode, Version};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::counters::ServerLease;
use crate::http::BoxError;
use crate::limits;
use crate::upstream::IdleConns;

mod date;
pub(crate) mod direct;
pub(crate) mod head;

/// One kept-alive connection to a real server.
pub(crate) struct Conn {
    stream: TcpStream,
    read: BytesMut,
    write: Vec<u8>,
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExchangeError {
    /// Nothing came back: the server may have closed a kept-alive connection just before the
    /// request arrived, so an idempotent request may go again on a new connection.
    #[error("connection closed before any response: {0}")]
    NoResponse(io::Error),
    #[error("i/o error during the exchange: {0}")]
    Io(#[from] io::Error),
    #[error("malformed response: {0}")]
    Malformed(&'static str),
}

impl Conn {
    pub(crate) fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            read: BytesMut::new(),
            write: Vec::new(),
        }
    }

    /// Whether an idle connection is unusable: the server closed it or sent something
    /// unasked. Only the readiness tokio already tracks is looked at, no system call.
    pub(crate) fn is_stale(&self) -> bool {
        let mut context = Context::from_waker(Waker::noop());
        !self.read.is_empty() || self.stream.poll_read_ready(&mut context).is_ready()
    }
}

/// A response head and the body that follows it on the connection.
pub(crate) struct Response {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) body: RawBody,
}

/// Sends a request whose body is in memory and reads the final response head.
pub(crate) async fn exchange(
    mut conn: Conn,
    method: &Method,
    target: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ExchangeError> {
    encode_request(&mut conn.write, method, target, headers, body);
    if let Err(error) = conn.stream.write_all(&conn.write).await {
        return Err(ExchangeError::NoResponse(error));
    }
    let mut received = false;
    loop {
        let head = read_head(&mut conn, &mut received).await?;
        let (status, version, headers) = parse_head(head)?;
        // Interim responses (100 Continue, 103 Early Hints) are not relayed.
        if status.is_informational() {
            if status == StatusCode::SWITCHING_PROTOCOLS {
                return Err(ExchangeError::Malformed("unrequested protocol switch"));
            }
            continue;
        }
        let framing = framing(method, status, &headers)?;
        // With a transfer coding the length comes from the coding, and a Content-Length
        // beside it must not reach the client (RFC 9112 section 6.3).
        let mut headers = headers;
        if headers.contains_key(header::TRANSFER_ENCODING) {
            headers.remove(header::CONTENT_LENGTH);
        }
        let keep_alive = keeps_alive(version, &headers) && framing != Framing::Close;
        let body = RawBody {
            conn: Some(conn),
            framing,
            keep_alive,
            lease: None,
            home: None,
        };
        return Ok(Response {
            status,
            version,
            headers,
            body,
        });
    }
}

fn encode_request(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    headers: &HeaderMap,
    body: &Bytes,
) {
    out.clear();
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // The body is all here, so its length is known and replaces whatever the client said.
    if !body.is_empty() || headers.contains_key(header::CONTENT_LENGTH) {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Reads until a complete head is buffered and splits it off.
async fn read_head(conn: &mut Conn, received: &mut bool) -> Result<Bytes, ExchangeError> {
    let end = direct::read_head(conn, received).await?;
    Ok(conn.read.split_to(end).freeze())
}

/// Parses a status line and header lines with the proxy's own head parser; header values
/// share the head's buffer.
pub(crate) fn parse_head(head: Bytes) -> Result<(StatusCode, Version, HeaderMap), ExchangeError> {
    let malformed = ExchangeError::Malformed;
    let mut parsed = self::head::ResponseHead::default();
    self::head::parse_response(&head, head.len(), limits::UPSTREAM_HEADERS_MAX, &mut parsed)
        .map_err(|error| match error {
            self::head::HeadError::TooManyFields(_) => malformed("too many headers"),
            self::head::HeadError::Malformed(what) => malformed(what),
        })?;
    let status = StatusCode::from_u16(parsed.status).map_err(|_| malformed("bad status code"))?;
    let version = if parsed.http10 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let mut headers = HeaderMap::with_capacity(parsed.fields.len());
    for field in &parsed.fields {
        let name =
            HeaderName::from_bytes(field.name.of(&head)).map_err(|_| malformed("bad name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice_ref(field.value.of(&head)))
            .map_err(|_| malformed("bad header value"))?;
        headers.append(name, value);
    }
    Ok((status, version, headers))
}

/// How the response body is delimited (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Empty,
    Length(u64),
    Chunked(Chunk),
    Close,
}

/// Where the chunked decoder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

pub(crate) fn framing(
    method: &Method,
    status: StatusCode,
    headers: &HeaderMap,
) -> Result<Framing, ExchangeError> {
    let bodiless = method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let codings = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .next_back();
    let lengths = headers.get_all(header::CONTENT_LENGTH).iter();
    body_framing(
        bodiless,
        codings.map(HeaderValue::as_bytes),
        lengths.map(HeaderValue::as_bytes),
    )
}

/// How a response body is delimited (RFC 9112 section 6.3), from what both kinds of head
/// give: whether the response has no body by its method or status, its last
/// Transfer-Encoding value, and its Content-Length values (all equal, digits only).
pub(crate) fn body_framing<'a>(
    bodiless: bool,
    last_codings: Option<&[u8]>,
    lengths: impl Iterator<Item = &'a [u8]>,
) -> Result<Framing, ExchangeError> {
    if bodiless {
        return Ok(Framing::Empty);
    }
    if let Some(codings) = last_codings {
        let last = codings
            .rsplit(|byte| *byte == b',')
            .next()
            .unwrap_or_default();
        return Ok(match last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            true => Framing::Chunked(Chunk::Size),
            false => Framing::Close,
        });
    }
    let mut length = None;
    for value in lengths {
        let parsed = head::content_length(value.trim_ascii())
            .ok_or(ExchangeError::Malformed("bad content-length"))?;
        if length.is_some_and(|length| length != parsed) {
            return Err(ExchangeError::Malformed("conflicting content-length"));
        }
        length = Some(parsed);
    }
    Ok(match length {
        Some(0) => Framing::Empty,
        Some(length) => Framing::Length(length),
        None => Framing::Close,
    })
}

fn keeps_alive(version: Version, headers: &HeaderMap) -> bool {
    let has = |token: &str| {
        headers.get_all(header::CONNECTION).iter().any(|value| {
            value
                .as_bytes()
                .split(|byte| *byte == b',')
                .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    };
    match version {
        Version::HTTP_11 => !has("close"),
        _ => has("keep-alive"),
    }
}

/// A response body read straight from the server's socket. When it ends cleanly on a
/// connection that stays open, the connection goes back to its server's idle stack.
pub(crate) struct RawBody {
    conn: Option<Conn>,
    framing: Framing,
    keep_alive: bool,
    lease: Option<ServerLease>,
    home: Option<(Arc<IdleConns>, SocketAddr)>,
}

impl RawBody {
    /// Counts the body into `lease` and returns the connection to `idle` at its end.
    pub(crate) fn attach(
        &mut self,
        lease: Option<ServerLease>,
        idle: Arc<IdleConns>,
        addr: SocketAddr,
    ) {
        self.lease = lease;
        self.home = Some((idle, addr));
        if self.framing == Framing::Empty {
            self.finish();
        }
    }

    fn finish(&mut self) {
        self.framing = Framing::Empty;
        self.lease = None;
        if let (Some(conn), Some((idle, addr))) = (self.conn.take(), self.home.take())
            && self.keep_alive
            && conn.read.is_empty()
        {
            idle.put_raw(addr, conn);
        }
    }

    /// Fills the read buffer; an end of stream is an error unless the body runs to the close.
    fn poll_fill(&mut self, context: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let conn = self.conn.as_mut().ok_or(io::ErrorKind::NotConnected)?;
        conn.read.reserve(limits::UPSTREAM_READ_CHUNK);
        tokio_util::io::poll_read_buf(Pin::new(&mut conn.stream), context, &mut conn.read)
    }

    fn take(&mut self, len: usize) -> Bytes {
        match self.conn.as_mut() {
            Some(conn) => conn.read.split_to(len).freeze(),
            None => Bytes::new(),
        }
    }

    fn buffered(&self) -> usize {
        self.conn.as_ref().map_or(0, |conn| conn.read.len())
    }

    /// The next piece of the body, or `None` at its end.
    fn poll_data(&mut self, context: &mut Context<'_>) -> Poll<io::Result<Option<Bytes>>> {
        loop {
            let buffered = self.buffered();
            match self.framing {
                Framing::Empty => {
                    self.finish();
                    return Poll::Ready(Ok(None));
                }
                Framing::Length(remaining) if buffered > 0 => {
                    let len = buffered.min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    let data = self.take(len);
                    // At the end the caller counts the data and then finishes.
                    self.framing = match remaining - len as u64 {
                        0 => Framing::Empty,
                        left => Framing::Length(left),
                    };
                    return Poll::Ready(Ok(Some(data)));
                }
                Framing::Close if buffered > 0 => {
                    return Poll::Ready(Ok(Some(self.take(buffered))));
                }
                Framing::Chunked(state) => {
                    if let Some(data) = self.step_chunked(state)? {
                        return Poll::Ready(Ok(Some(data)));
                    }
                    if self.framing != Framing::Chunked(state) {
                        continue;
                    }
                }
                Framing::Length(_) | Framing::Close => {}
            }
            if ready!(self.poll_fill(context))? == 0 {
                if self.framing == Framing::Close {
                    self.keep_alive = false;
                    self.finish();
                    return Poll::Ready(Ok(None));
                }
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    /// One step of the chunked decoder over what is buffered; returns data when a piece of a
    /// chunk is there, and changes `framing` when it moved on without data.
    fn step_chunked(&mut self, state: Chunk) -> io::Result<Option<Bytes>> {
        let invalid = || io::Error::new(io::ErrorKind::InvalidData, "bad chunked encoding");
        let Some(conn) = self.conn.as_mut() else {
            return Err(invalid());
        };
        let buffer = &mut conn.read;
        match state {
            Chunk::Size => {
                let Some(end) = buffer.windows(2).position(|pair| pair == b"\r\n") else {
                    if buffer.len() > limits::UPSTREAM_HEAD_LEN_MAX {
                        return Err(invalid());
                    }
                    return Ok(None);
                };
                let size = chunk_size(&buffer[..end]).ok_or_else(invalid)?;
                buffer.advance(end + 2);
                self.framing = Framing::Chunked(match size {
                    0 => Chunk::Trailers,
                    size => Chunk::Data(size),
                });
                Ok(None)
            }
            Chunk::Data(remaining) => {
                if buffer.is_empty() {
                    return Ok(None);
                }
                let len = buffer
                    .len()
                    .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                let data = buffer.split_to(len).freeze();
                self.framing = Framing::Chunked(match remaining - len as u64 {
                    0 => Chunk::DataEnd,
                    left => Chunk::Data(left),
                });
                Ok(Some(data))
            }
            Chunk::DataEnd => {
                if buffer.len() < 2 {
                    return Ok(None);
                }
                if &buffer[..2] != b"\r\n" {
                    return Err(invalid());
                }
                buffer.advance(2);
                self.framing = Framing::Chunked(Chunk::Size);
                Ok(None)
            }
            Chunk::Trailers => {
                // Trailer fields are dropped, as hop-by-hop Trailer headers are; the body ends
                // at the first empty line.
                while let Some(end) = buffer.windows(2).position(|pair| pair == b"\r\n") {
                    buffer.advance(end + 2);
                    if end == 0 {
                        self.framing = Framing::Empty;
                        return Ok(None);
                    }
                }
                if buffer.len() > limits::UPSTREAM_HEAD_LEN_MAX {
                    return Err(invalid());
                }
                Ok(None)
            }
        }
    }
}

/// The size on a chunk-size line, ignoring chunk extensions.
pub(crate) fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line
        .iter()
        .position(|byte| *byte == b';' || *byte == b' ' || *byte == b'\t')
        .unwrap_or(line.len());
    if digits == 0 {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(&line[..digits]).ok()?, 16).ok()
}

impl Body for RawBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match ready!(this.poll_data(context)) {
            Ok(Some(data)) => {
                if let Some(lease) = &this.lease {
                    lease
                        .counters
                        .bytes_out
                        .fetch_add(data.len() as u64, Ordering::Relaxed);
                }
                // hyper stops polling a body that says it has ended, so the connection goes
                // back now rather than on a next poll.
                if this.framing == Framing::Empty {
                    this.finish();
                }
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Ok(None) => Poll::Ready(None),
            Err(error) => {
                this.conn = None;
                this.framing = Framing::Empty;
                Poll::Ready(Some(Err(error.into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.framing == Framing::Empty
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            Framing::Empty => SizeHint::with_exact(0),
            Framing::Length(remaining) => SizeHint::with_exact(remaining),
            Framing::Chunked(_) | Framing::Close => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests;
