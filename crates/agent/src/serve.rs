//! Serving an axum router over TLS, with the client's node id (if it presented a node
//! certificate) attached to every request as an extension.
//!
//! A listener faces every machine that can reach it, so every connection is bounded
//! (`ServeLimits`): in number (per client address and in total; one more is told why in a
//! JSON error and closed), in the time it may take to start and to finish a request head,
//! and in the time a request body may take to arrive. Failed accepts (out of file
//! descriptors) back off instead of spinning.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use hyper::body::{Body, Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::{debug, warn};

use crate::limits::{
    ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_MIN, H2_STREAMS_MAX, HANDSHAKE_TIMEOUT, REFUSALS_MAX,
    REQUEST_HEAD_BYTES_MAX,
};

/// The authenticated peer of a connection: the node id from its certificate, if any.
#[derive(Clone, Copy, Debug)]
pub struct PeerIdentity(pub Option<u64>);

/// The bounds of one listener's connections.
#[derive(Clone, Copy, Debug)]
pub struct ServeLimits {
    /// Time a client has to send a request head, from the end of the TLS handshake or of
    /// the previous request.
    pub header_read_timeout: Duration,
    /// Time a client has to send a whole request body, from when the handler reads it;
    /// `None` for no limit (the peer listener's Raft snapshots).
    pub body_read_timeout: Option<Duration>,
    /// Connections served at once.
    pub connections_max: usize,
    /// Connections served at once from one client address.
    pub connections_per_client_max: usize,
}

/// Accept TLS connections until `shutdown`; each connection is served on its own task,
/// owned by a `JoinSet` that is dropped (aborting them) when the loop ends.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    limits: ServeLimits,
    shutdown: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(tls);
    let counts = Arc::new(Counts::default());
    let mut connections = tokio::task::JoinSet::new();
    let mut backoff = ACCEPT_BACKOFF_MIN;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors (or memory): accepting again at once would fail
                // again and burn a core; wait, longer each time, until a connection ends.
                warn!(%error, backoff_ms = backoff.as_millis() as u64, "Accept failed");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        backoff = ACCEPT_BACKOFF_MIN;
        let _ = stream.set_nodelay(true);
        match counts.admit(remote.ip(), &limits) {
            Ok(slot) => {
                let serving = serve_one(acceptor.clone(), router.clone(), limits, stream, remote);
                connections.spawn(async move {
                    serving.await;
                    drop(slot);
                });
            }
            Err(refusal) => {
                if let Some(slot) = counts.admit_refusal() {
                    let acceptor = acceptor.clone();
                    connections.spawn(async move {
                        let refusing = refuse(acceptor, stream, refusal);
                        let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT * 2, refusing).await;
                        drop(slot);
                    });
                }
            }
        }
    }
}

/// Serves one admitted connection: the TLS handshake, then HTTP/1.1 or HTTP/2.
async fn serve_one(
    acceptor: TlsAcceptor,
    router: Router,
    limits: ServeLimits,
    stream: TcpStream,
    remote: SocketAddr,
) {
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
    let tls_stream = match handshake.await {
        Ok(Ok(tls_stream)) => tls_stream,
        Ok(Err(error)) => {
            debug!(%remote, %error, "TLS handshake refused");
            return;
        }
        Err(_) => return,
    };
    let identity = tls_stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(|cert| auth::node_id_from_cert_der(cert.as_ref()))
        .map(|id| id.0);
    let router = router.layer(axum::Extension(PeerIdentity(identity)));
    let body_read_timeout = limits.body_read_timeout;
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let expired = Arc::new(AtomicBool::new(false));
        let request = request.map(|body| match body_read_timeout {
            Some(timeout) => axum::body::Body::new(DeadlineBody::new(body, timeout, &expired)),
            None => axum::body::Body::new(body),
        });
        let answer = router.clone().oneshot(request);
        async move {
            let response = answer.await?;
            if expired.load(Ordering::Relaxed) {
                return Ok(body_timed_out());
            }
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let (io, started) = FirstRead::new(tls_stream);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(REQUEST_HEAD_BYTES_MAX);
    builder.http2().max_concurrent_streams(H2_STREAMS_MAX);
    let serving = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(serving);
    // hyper's own head timeout starts once it knows the protocol, after the first bytes: a
    // client that sends nothing at all is cut here.
    tokio::select! {
        _ = serving.as_mut() => return,
        () = tokio::time::sleep(limits.header_read_timeout) => {}
    }
    if started.load(Ordering::Relaxed) {
        let _ = serving.await;
    } else {
        debug!(%remote, "Connection sent no request in time");
    }
}

fn body_timed_out() -> axum::response::Response {
    crate::api::error(
        StatusCode::REQUEST_TIMEOUT,
        "the request body did not arrive in time; send it at once after the head",
    )
}

/// Why a connection is not served.
#[derive(Clone, Debug)]
struct Refusal {
    status: StatusCode,
    message: String,
}

/// Answers every request on the connection with `refusal`, then closes it.
async fn refuse(acceptor: TlsAcceptor, stream: TcpStream, refusal: Refusal) {
    let Ok(tls_stream) = acceptor.accept(stream).await else {
        return;
    };
    let service = hyper::service::service_fn(move |_request: hyper::Request<Incoming>| {
        let mut response = crate::api::error(refusal.status, refusal.message.clone());
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
        std::future::ready(Ok::<_, std::convert::Infallible>(response))
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().keep_alive(false);
    builder.http2().max_concurrent_streams(1);
    let _ = builder
        .serve_connection(TokioIo::new(tls_stream), service)
        .await;
}

/// Connections served now, in total and per client address.
#[derive(Default)]
struct Counts {
    inner: Mutex<CountsInner>,
}

#[derive(Default)]
struct CountsInner {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
    refusals: usize,
}

/// A connection's place in the counts, given back when it is dropped.
struct Slot {
    counts: Arc<Counts>,
    client: Option<IpAddr>,
}

impl Counts {
    fn admit(self: &Arc<Counts>, client: IpAddr, limits: &ServeLimits) -> Result<Slot, Refusal> {
        let mut inner = self.inner.lock().expect("connection counts lock poisoned");
        if inner.total >= limits.connections_max {
            return Err(Refusal {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: format!(
                    "this node serves at most {} connections at once (api.connections_max) \
                     and all are taken; retry shortly",
                    limits.connections_max
                ),
            });
        }
        let from_client = inner.per_client.get(&client).copied().unwrap_or(0);
        if from_client >= limits.connections_per_client_max {
            return Err(Refusal {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: format!(
                    "{client} already has {from_client} connections open, the most one client \
                     may (api.connections_per_client_max); reuse or close them"
                ),
            });
        }
        inner.total += 1;
        *inner.per_client.entry(client).or_insert(0) += 1;
        Ok(Slot {
            counts: Arc::clone(self),
            client: Some(client),
        })
    }

    /// A slot for telling a refused client why; `None` when too many are being told.
    fn admit_refusal(self: &Arc<Counts>) -> Option<Slot> {
        let mut inner = self.inner.lock().expect("connection counts lock poisoned");
        if inner.refusals >= REFUSALS_MAX {
            return None;
        }
        inner.refusals += 1;
        Some(Slot {
            counts: Arc::clone(self),
            client: None,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut inner = self
            .counts
            .inner
            .lock()
            .expect("connection counts lock poisoned");
        let Some(client) = self.client else {
            inner.refusals -= 1;
            return;
        };
        inner.total -= 1;
        if let Some(count) = inner.per_client.get_mut(&client) {
            *count -= 1;
            if *count == 0 {
                inner.per_client.remove(&client);
            }
        }
    }
}

/// A connection that notes when its first bytes arrive.
struct FirstRead<T> {
    inner: T,
    started: Arc<AtomicBool>,
}

impl<T> FirstRead<T> {
    fn new(inner: T) -> (FirstRead<T>, Arc<AtomicBool>) {
        let started = Arc::new(AtomicBool::new(false));
        let io = FirstRead {
            inner,
            started: Arc::clone(&started),
        };
        (io, started)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for FirstRead<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.started.store(true, Ordering::Relaxed);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FirstRead<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A request body that must arrive in full within its timeout, counted from when the
/// handler first reads it; past it, reading fails and the request is answered 408.
struct DeadlineBody {
    inner: Incoming,
    timeout: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    expired: Arc<AtomicBool>,
}

impl DeadlineBody {
    fn new(inner: Incoming, timeout: Duration, expired: &Arc<AtomicBool>) -> DeadlineBody {
        DeadlineBody {
            inner,
            timeout,
            deadline: None,
            expired: Arc::clone(expired),
        }
    }
}

impl Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let timeout = self.timeout;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if deadline.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err("the request body did not arrive in time".into())));
        }
        Pin::new(&mut self.inner)
            .poll_frame(cx)
            .map(|frame| frame.map(|frame| frame.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests;
