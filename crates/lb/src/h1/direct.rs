//! The direct exchange: a request the client side has already encoded goes out over a lean
//! connection, and the response head and body are written to the client from the connection's
//! read buffer, without building a message, a header map or a body object.
//!
//! A small response goes to the client with one write for head and body. Bodies delimited by
//! length are copied from the server's socket to the client's; chunked and close-delimited
//! ones go through `RawBody`'s decoder and are chunked again (or, for an HTTP/1.0 client, sent
//! as they are and the connection closed at their end).

use std::io::{self, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Buf;
use hyper::body::Body;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::head::{self, Field, Name, ResponseHead};
use super::{Conn, ExchangeError, Framing, RawBody};
use crate::counters::ServerLease;
use crate::limits;
use crate::upstream::IdleConns;

/// What the response must fit on the client's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientSide {
    /// The request was a HEAD, so the response has no body whatever its head says.
    pub(crate) head_request: bool,
    /// The client speaks HTTP/1.0 and cannot take a chunked body.
    pub(crate) http10: bool,
    /// The client wants the connection kept open after this response.
    pub(crate) keep_alive: bool,
}

/// A final response head at the start of the connection's read buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Incoming {
    len: usize,
    framing: Framing,
    /// The server keeps the connection open after this response.
    keep_alive: bool,
}

/// Where a connection goes back once its response has ended, and what its body is counted in.
pub(crate) struct Home {
    pub(crate) idle: Arc<IdleConns>,
    pub(crate) addr: SocketAddr,
    pub(crate) lease: Option<ServerLease>,
}

/// Writes the encoded request; a failure here means the server saw nothing usable.
pub(crate) async fn send(conn: &mut Conn, request: &[u8]) -> Result<(), ExchangeError> {
    conn.stream
        .write_all(request)
        .await
        .map_err(ExchangeError::NoResponse)
}

/// Reads the final response head into `head`; interim responses are skipped.
pub(crate) async fn read_response(
    conn: &mut Conn,
    head_request: bool,
    head: &mut ResponseHead,
) -> Result<Incoming, ExchangeError> {
    let mut received = false;
    loop {
        let len = read_head(conn, &mut received).await?;
        head::parse_response(&conn.read, len, limits::UPSTREAM_HEADERS_MAX, head)
            .map_err(|_| ExchangeError::Malformed("bad response head"))?;
        if (100..200).contains(&head.status) {
            if head.status == 101 {
                return Err(ExchangeError::Malformed("unrequested protocol switch"));
            }
            conn.read.advance(len);
            continue;
        }
        let framing = framing(head_request, head, &conn.read)?;
        let keep_alive = keeps_alive(head.http10, &head.fields, &conn.read);
        return Ok(Incoming {
            len,
            framing,
            keep_alive: keep_alive && framing != Framing::Close,
        });
    }
}

/// Reads until a complete response head is buffered; its length.
pub(super) async fn read_head(
    conn: &mut Conn,
    received: &mut bool,
) -> Result<usize, ExchangeError> {
    let mut searched = 0;
    loop {
        if let Some(end) = head::head_end(&conn.read, searched) {
            return Ok(end);
        }
        searched = conn.read.len();
        if conn.read.len() > limits::UPSTREAM_HEAD_LEN_MAX {
            return Err(ExchangeError::Malformed("response head too long"));
        }
        conn.read.reserve(limits::UPSTREAM_READ_CHUNK);
        match conn.stream.read_buf(&mut conn.read).await {
            Ok(0) if !*received => {
                let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "closed");
                return Err(ExchangeError::NoResponse(eof));
            }
            Ok(0) => return Err(ExchangeError::Malformed("response head cut short")),
            Ok(_) => *received = true,
            Err(error) if !*received => return Err(ExchangeError::NoResponse(error)),
            Err(error) => return Err(ExchangeError::Io(error)),
        }
    }
}

/// How the response body is delimited (RFC 9112 section 6.3).
fn framing(
    head_request: bool,
    head: &ResponseHead,
    buffer: &[u8],
) -> Result<Framing, ExchangeError> {
    let values = |name| {
        head.fields
            .iter()
            .filter(move |field| field.known == name)
            .map(|field| field.value.of(buffer))
    };
    super::body_framing(
        head_request || head.status == 204 || head.status == 304,
        values(Name::TransferEncoding).next_back(),
        values(Name::ContentLength),
    )
}

/// Whether a Connection field of the head lists `token`: a keyword, or the name of a field
/// that ends at this hop.
pub(crate) fn has_token(fields: &[Field], buffer: &[u8], token: &[u8]) -> bool {
    fields
        .iter()
        .filter(|field| field.known == Name::Connection)
        .flat_map(|field| head::tokens(field.value.of(buffer)))
        .any(|item| item.eq_ignore_ascii_case(token))
}

fn keeps_alive(http10: bool, fields: &[Field], buffer: &[u8]) -> bool {
    match http10 {
        false => !has_token(fields, buffer, b"close"),
        true => has_token(fields, buffer, b"keep-alive"),
    }
}

/// Whether the Connection fields list anything beyond the tokens every message may carry.
pub(crate) fn connection_names_fields(fields: &[Field], buffer: &[u8]) -> bool {
    fields
        .iter()
        .filter(|field| field.known == Name::Connection)
        .flat_map(|field| head::tokens(field.value.of(buffer)))
        .any(|item| {
            !(item.eq_ignore_ascii_case(b"close")
                || item.eq_ignore_ascii_case(b"keep-alive")
                || item.eq_ignore_ascii_case(b"upgrade"))
        })
}

/// Relays the response to the client; returns whether the client connection stays open. An
/// error leaves the client with a cut response, so the caller closes the connection then.
pub(crate) async fn relay<W: AsyncWrite + Unpin>(
    mut conn: Conn,
    head: &ResponseHead,
    incoming: Incoming,
    home: Home,
    side: ClientSide,
    client: &mut W,
    out: &mut Vec<u8>,
) -> io::Result<bool> {
    let chunked = matches!(incoming.framing, Framing::Chunked(_));
    let keep_alive =
        side.keep_alive && incoming.framing != Framing::Close && !(chunked && side.http10);
    out.clear();
    encode_head(out, head, &conn.read, side, chunked, keep_alive);
    conn.read.advance(incoming.len);
    match incoming.framing {
        Framing::Empty => {
            finish(conn, incoming.keep_alive, home);
            client.write_all(out).await?;
        }
        Framing::Length(length) => {
            relay_length(conn, length, incoming.keep_alive, home, client, out).await?;
        }
        Framing::Chunked(_) | Framing::Close => {
            client.write_all(out).await?;
            let body = RawBody {
                conn: Some(conn),
                framing: incoming.framing,
                keep_alive: incoming.keep_alive,
                lease: None,
                home: None,
            };
            Box::pin(relay_coded(
                body,
                home,
                chunked && !side.http10,
                client,
                out,
            ))
            .await?;
        }
    }
    Ok(keep_alive)
}

fn encode_head(
    out: &mut Vec<u8>,
    head: &ResponseHead,
    buffer: &[u8],
    side: ClientSide,
    chunked: bool,
    keep_alive: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(head.status_text.of(buffer));
    out.extend_from_slice(b"\r\n");
    let coded = head
        .fields
        .iter()
        .any(|field| field.known == Name::TransferEncoding);
    let named = connection_names_fields(&head.fields, buffer);
    for field in &head.fields {
        let name = field.name.of(buffer);
        // With a transfer coding the length comes from the coding, and a Content-Length
        // beside it must not reach the client (RFC 9112 section 6.3).
        if field.known.is_hop_by_hop()
            || (coded && field.known == Name::ContentLength)
            || (named && has_token(&head.fields, buffer, name))
        {
            continue;
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(field.value.of(buffer));
        out.extend_from_slice(b"\r\n");
    }
    // A proxy adds the Date a response lacks (RFC 9110 section 6.6.1), as hyper's server did.
    if !head.fields.iter().any(|field| field.known == Name::Date) {
        super::date::write_field(out);
    }
    if chunked && !side.http10 && !side.head_request {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    match (keep_alive, side.http10) {
        (false, _) => out.extend_from_slice(b"connection: close\r\n"),
        (true, true) => out.extend_from_slice(b"connection: keep-alive\r\n"),
        (true, false) => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// Copies a body of known length: what is buffered goes out with the head in one write.
async fn relay_length<W: AsyncWrite + Unpin>(
    mut conn: Conn,
    length: u64,
    keep_alive: bool,
    home: Home,
    client: &mut W,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let mut remaining = length;
    let take = conn.read.len().min(clamp(remaining));
    out.extend_from_slice(&conn.read[..take]);
    conn.read.advance(take);
    remaining -= take as u64;
    count_out(home.lease.as_ref(), take);
    if remaining == 0 {
        finish(conn, keep_alive, home);
        return client.write_all(out).await;
    }
    client.write_all(out).await?;
    while remaining > 0 {
        conn.read.reserve(limits::UPSTREAM_READ_CHUNK);
        if conn.stream.read_buf(&mut conn.read).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let take = conn.read.len().min(clamp(remaining));
        client.write_all(&conn.read[..take]).await?;
        conn.read.advance(take);
        remaining -= take as u64;
        count_out(home.lease.as_ref(), take);
    }
    finish(conn, keep_alive, home);
    Ok(())
}

fn clamp(length: u64) -> usize {
    usize::try_from(length).unwrap_or(usize::MAX)
}

fn count_out(lease: Option<&ServerLease>, len: usize) {
    if let Some(lease) = lease {
        lease
            .counters
            .bytes_out
            .fetch_add(len as u64, Ordering::Relaxed);
    }
}

/// Keeps the connection for the next request if its response ended cleanly, and frees the
/// server's slot.
fn finish(conn: Conn, keep_alive: bool, home: Home) {
    if keep_alive && conn.read.is_empty() {
        home.idle.put_raw(home.addr, conn);
    }
    drop(home.lease);
}

/// Relays a chunked or close-delimited body piece by piece, chunked again for the client when
/// `chunk` is set.
async fn relay_coded<W: AsyncWrite + Unpin>(
    mut body: RawBody,
    home: Home,
    chunk: bool,
    client: &mut W,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    body.attach(home.lease, home.idle, home.addr);
    loop {
        let frame = std::future::poll_fn(|context| Pin::new(&mut body).poll_frame(context)).await;
        let Some(frame) = frame else { break };
        let frame = frame.map_err(io::Error::other)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        if !chunk {
            client.write_all(&data).await?;
            continue;
        }
        out.clear();
        write!(out, "{:x}\r\n", data.len())?;
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\r\n");
        client.write_all(out).await?;
    }
    if chunk {
        client.write_all(b"0\r\n\r\n").await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
