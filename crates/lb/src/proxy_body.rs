//! The bodies HTTP mode relays: request bodies to a real server and response bodies back,
//! counted into the server's counters.
//!
//! A request body must keep arriving: a pause longer than the body read timeout ends it,
//! and the client is answered 408; a malformed one (a bad chunk size) is answered 400.
//!
//! A response body also returns its upstream connection to the idle stack when its last byte
//! has been passed on, and frees the server's slot then, so that the in-flight gauge and
//! `max_conns` count requests that are really still running.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::StatusCode;
use hyper::body::{Body, Frame, Incoming, SizeHint};

use crate::counters::{ServerCounters, ServerLease};
use crate::h1::RawBody;
use crate::http::BoxError;
use crate::limits;
use crate::upstream::{IdleConns, Sender};

/// A request body as the client sent it: small bodies are buffered so that a failed connect
/// can be retried on another server; larger ones stream and get one attempt.
pub(crate) enum RequestBody {
    Replayable(Bytes),
    Stream {
        body: Option<Incoming>,
        failure: Arc<ClientFailure>,
        timeout: Duration,
    },
}

/// How a streamed request body failed on the client's side, if it did.
#[derive(Default)]
pub(crate) struct ClientFailure(AtomicU8);

const MALFORMED: u8 = 1;
const STALLED: u8 = 2;

impl ClientFailure {
    /// The status to answer the client with instead of the proxy's 502.
    pub(crate) fn status(&self) -> Option<StatusCode> {
        match self.0.load(Ordering::Relaxed) {
            MALFORMED => Some(StatusCode::BAD_REQUEST),
            STALLED => Some(StatusCode::REQUEST_TIMEOUT),
            _ => None,
        }
    }
}

impl RequestBody {
    /// Reads a small body whole (within `timeout`); the error is the status to answer.
    pub(crate) async fn new(body: Incoming, timeout: Duration) -> Result<RequestBody, StatusCode> {
        if body.is_end_stream() {
            return Ok(RequestBody::Replayable(Bytes::new()));
        }
        match body.size_hint().exact() {
            Some(len) if len <= limits::RETRY_BODY_LEN_MAX => {
                match tokio::time::timeout(timeout, Box::pin(body.collect())).await {
                    Ok(Ok(collected)) => Ok(RequestBody::Replayable(collected.to_bytes())),
                    Ok(Err(_)) => Err(StatusCode::BAD_REQUEST),
                    Err(_) => Err(StatusCode::REQUEST_TIMEOUT),
                }
            }
            _ => Ok(RequestBody::Stream {
                body: Some(body),
                failure: Arc::default(),
                timeout,
            }),
        }
    }

    /// Where a streamed body records how the client failed it.
    pub(crate) fn client_failure(&self) -> Option<Arc<ClientFailure>> {
        match self {
            RequestBody::Replayable(_) => None,
            RequestBody::Stream { failure, .. } => Some(Arc::clone(failure)),
        }
    }

    /// The body for one attempt, or `None` once a streamed body has been used.
    pub(crate) fn take(&mut self, lease: Option<&ServerLease>) -> Option<OutBody> {
        let counters = lease.map(|lease| Arc::clone(&lease.counters));
        match self {
            RequestBody::Replayable(bytes) => {
                if let Some(counters) = &counters {
                    counters
                        .bytes_in
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
                Some(OutBody::full(bytes.clone()))
            }
            RequestBody::Stream {
                body,
                failure,
                timeout,
            } => Some(OutBody::Stream {
                inner: body.take()?,
                counters,
                watch: Some(Box::new(StreamWatch {
                    failure: Arc::clone(failure),
                    timeout: *timeout,
                    deadline: None,
                })),
            }),
        }
    }
}

/// A body hyper sends, to a real server or to the client, without boxing: a body held in
/// memory or one streamed from the other side, counted into a server's counters.
pub(crate) enum OutBody {
    Full(Option<Bytes>),
    Stream {
        inner: Incoming,
        counters: Option<Arc<ServerCounters>>,
        /// For a client's request body: its pause timeout and where its failure goes.
        watch: Option<Box<StreamWatch>>,
    },
    Upstream(UpstreamBody),
    Raw(RawBody),
}

impl OutBody {
    pub(crate) fn full(bytes: Bytes) -> OutBody {
        OutBody::Full((!bytes.is_empty()).then_some(bytes))
    }

    pub(crate) fn empty() -> OutBody {
        OutBody::Full(None)
    }
}

impl Body for OutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            OutBody::Full(bytes) => Poll::Ready(bytes.take().map(|bytes| Ok(Frame::data(bytes)))),
            OutBody::Stream {
                inner,
                counters,
                watch,
            } => {
                let polled = match Pin::new(inner).poll_frame(context) {
                    Poll::Ready(polled) => polled,
                    Poll::Pending => match watch {
                        Some(watch) => return watch.poll_stalled(context),
                        None => return Poll::Pending,
                    },
                };
                if let Some(watch) = watch {
                    watch.arrived(&polled);
                }
                if let (Some(counters), Some(Ok(frame))) = (counters, &polled)
                    && let Some(data) = frame.data_ref()
                {
                    counters
                        .bytes_in
                        .fetch_add(data.len() as u64, Ordering::Relaxed);
                }
                Poll::Ready(polled.map(|frame| frame.map_err(BoxError::from)))
            }
            OutBody::Upstream(body) => Pin::new(body).poll_frame(context),
            OutBody::Raw(body) => Pin::new(body).poll_frame(context),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            OutBody::Full(bytes) => bytes.is_none(),
            OutBody::Stream { inner, .. } => inner.is_end_stream(),
            OutBody::Upstream(body) => body.is_end_stream(),
            OutBody::Raw(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            OutBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |bytes| bytes.len() as u64))
            }
            OutBody::Stream { inner, .. } => inner.size_hint(),
            OutBody::Upstream(body) => body.size_hint(),
            OutBody::Raw(body) => body.size_hint(),
        }
    }
}

/// The pause timeout of a client's request body, restarted by every frame.
pub(crate) struct StreamWatch {
    failure: Arc<ClientFailure>,
    timeout: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl StreamWatch {
    /// The body has nothing now: fails it once it has paused for too long.
    fn poll_stalled(
        &mut self,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let timeout = self.timeout;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(deadline.as_mut().poll(context));
        self.failure.0.store(STALLED, Ordering::Relaxed);
        Poll::Ready(Some(Err("the client's request body stalled".into())))
    }

    fn arrived(&mut self, polled: &Option<Result<Frame<Bytes>, hyper::Error>>) {
        self.deadline = None;
        if let Some(Err(_)) = polled {
            self.failure.0.store(MALFORMED, Ordering::Relaxed);
        }
    }
}

/// Where a connection goes back once its response has ended.
pub(crate) struct Checkin {
    pub(crate) idle: Arc<IdleConns>,
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) sender: Sender,
}

/// A response body from a real server, relayed to the client.
pub(crate) struct UpstreamBody {
    inner: Incoming,
    lease: Option<ServerLease>,
    checkin: Option<Checkin>,
}

impl UpstreamBody {
    pub(crate) fn new(
        inner: Incoming,
        lease: Option<ServerLease>,
        checkin: Option<Checkin>,
    ) -> UpstreamBody {
        let mut body = UpstreamBody {
            inner,
            lease,
            checkin,
        };
        // A body that is empty from the start (HEAD, 204, 304) may never be polled.
        if body.inner.is_end_stream() {
            body.finish();
        }
        body
    }

    fn finish(&mut self) {
        if let Some(checkin) = self.checkin.take() {
            checkin.idle.put(checkin.addr, checkin.sender);
        }
        self.lease = None;
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(context);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(lease), Some(data)) = (&this.lease, frame.data_ref()) {
                    lease
                        .counters
                        .bytes_out
                        .fetch_add(data.len() as u64, Ordering::Relaxed);
                }
                if this.inner.is_end_stream() {
                    this.finish();
                }
            }
            Poll::Ready(None) => this.finish(),
            // A broken body drops its connection with it: hyper has closed it already.
            Poll::Ready(Some(Err(_))) => this.checkin = None,
            Poll::Pending => {}
        }
        polled.map(|frame| frame.map(|frame| frame.map_err(BoxError::from)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
