//! Every API error in one shape: `{"error": "..."}` with the right status. Handlers answer
//! with `api::error`; this middleware rewrites the plain-text or empty error answers that
//! come from elsewhere (axum's extractors: 400, 405, 413, 415, 422) so that a client never
//! has to parse plain text, over HTTP/1.1 and HTTP/2 alike. Other types (a web page) pass.

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::error;
use crate::limits::API_BODY_BYTES_MAX;

/// Longest plain-text error body that is carried over into the JSON message.
const ERROR_TEXT_BYTES_MAX: usize = 4096;

/// A body declared past the limit but at most this long is read and dropped before the
/// 413 goes out, so that the client reads the answer: closing a connection with unread
/// data makes the kernel reset it, and the reset can destroy the answer in flight (what
/// nginx's lingering close avoids). Longer declared bodies are refused unread.
const DRAIN_BYTES_MAX: u64 = 16 << 20;
/// How long such a body may take to be dropped.
const DRAIN_TIME_MAX: std::time::Duration = std::time::Duration::from_secs(5);

/// Refuses a body declared past the limit (413, by the body-limit layer inside) and, when
/// it is not huge, reads it away first so the refusal reaches the client.
pub(crate) async fn drain_oversized(request: Request, next: Next) -> Response {
    use futures::StreamExt;
    let declared = (request.headers().get(header::CONTENT_LENGTH))
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let limit = API_BODY_BYTES_MAX as u64;
    if !declared.is_some_and(|length| length > limit && length <= DRAIN_BYTES_MAX) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let refused = next
        .run(Request::from_parts(parts, axum::body::Body::empty()))
        .await;
    let mut stream = body.into_data_stream();
    let drain = async { while let Some(Ok(_)) = stream.next().await {} };
    let _ = tokio::time::timeout(DRAIN_TIME_MAX, drain).await;
    refused
}

/// Turns a non-JSON error answer into the API's JSON error.
pub(crate) async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || !is_plain(response.headers()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, ERROR_TEXT_BYTES_MAX).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let mut fixed = error(status, explain(status, &parts.headers, text));
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(value) = parts.headers.get(&name) {
            fixed.headers_mut().insert(name, value.clone());
        }
    }
    fixed
}

/// Whether an answer is plain text or has no body type: what axum's rejections send. JSON
/// is already the API's shape, and other types (a web page) are left as their handler made
/// them.
fn is_plain(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE) {
        None => true,
        Some(value) => value
            .to_str()
            .is_ok_and(|value| value.starts_with("text/plain")),
    }
}

/// The message for an error answer whose body was `text`.
fn explain(status: StatusCode, headers: &HeaderMap, text: String) -> String {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("the request body is larger than the API accepts ({API_BODY_BYTES_MAX} bytes)")
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = headers
                .get(header::ALLOW)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("another method");
            format!("this endpoint does not take that method; it takes {allowed}")
        }
        _ if !text.is_empty() => text,
        _ => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase(),
    }
}
