//! Entry points for the fuzz targets (issue 15, the `fuzz` crate): the proxy's parsers of
//! what clients and real servers send. Each takes any bytes and must not panic; the request
//! target also checks that what the proxy would forward is itself one well-framed request.
//! Not an API: hidden from the docs and used by nothing else.

use std::net::SocketAddr;

use bytes::Bytes;
use hyper::Method;

use crate::h1::head::{self, Name, RequestHead};
use crate::http::server;
use crate::limits;

/// A client's request as the proxy's own loop reads it: the head is parsed, and when the
/// loop serves it (its body is all there), the request for the real server is encoded and
/// parsed again. Panics when the forwarded request has not exactly one `Host`, more than one
/// `Content-Length`, any `Transfer-Encoding`, or does not parse.
pub fn request(data: &[u8]) {
    let Some(len) = head::head_end(data, 0) else {
        return;
    };
    if len > limits::REQUEST_HEAD_LEN_MAX {
        return;
    }
    let mut head = RequestHead::default();
    let Ok(request) = server::parse(data, len, &mut head) else {
        return;
    };
    let Some(body) = data.get(len..len + request.body_len) else {
        return;
    };
    let mut out = Vec::new();
    let server: SocketAddr = ([192, 0, 2, 2], 80).into();
    server::encode(&mut out, data, &head, &request, body, "192.0.2.1", server);
    let end = head::head_end(&out, 0).expect("the forwarded head ends");
    let mut forwarded = RequestHead::default();
    head::parse_request(&out, end, usize::MAX, &mut forwarded)
        .unwrap_or_else(|error| panic!("the forwarded head does not parse: {error}"));
    let count = |name: Name| forwarded.fields.iter().filter(|f| f.known == name).count();
    assert_eq!(count(Name::Host), 1, "forwarded Host fields");
    assert!(
        count(Name::ContentLength) <= 1,
        "forwarded Content-Length fields"
    );
    assert_eq!(
        count(Name::TransferEncoding),
        0,
        "a forwarded Transfer-Encoding"
    );
    assert_eq!(&out[end..], body, "the forwarded body");
}

/// A real server's response head and the framing of its body.
pub fn response(data: &[u8]) {
    let Some(len) = head::head_end(data, 0) else {
        return;
    };
    let bytes = Bytes::copy_from_slice(&data[..len]);
    let Ok((status, _, headers)) = crate::h1::parse_head(bytes) else {
        return;
    };
    for method in [Method::GET, Method::HEAD] {
        let _ = crate::h1::framing(&method, status, &headers);
    }
}

/// A chunk-size line of a chunked body.
pub fn chunk_size(data: &[u8]) {
    let _ = crate::h1::chunk_size(data);
}
