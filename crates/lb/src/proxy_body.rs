//! The bodies HTTP mode relays: request bodies to a real server and response bodies back,
//! counted into the server's counters.
//!
//! A response body also returns its upstream connection to the idle stack when its last byte
//! has been passed on, and frees the server's slot then, so that the in-flight gauge and
//! `max_conns` count requests that are really still running.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body_util::BodyExt;
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
    Stream(Option<Incoming>),
}

impl RequestBody {
    pub(crate) async fn new(body: Incoming) -> RequestBody {
        if body.is_end_stream() {
            return RequestBody::Replayable(Bytes::new());
        }
        match body.size_hint().exact() {
            Some(len) if len <= limits::RETRY_BODY_LEN_MAX => {
                match Box::pin(body.collect()).await {
                    Ok(collected) => RequestBody::Replayable(collected.to_bytes()),
                    Err(_) => RequestBody::Stream(None),
                }
            }
            _ => RequestBody::Stream(Some(body)),
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
            RequestBody::Stream(body) => Some(OutBody::Stream {
                inner: body.take()?,
                counters,
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
            OutBody::Stream { inner, counters } => {
                let polled = ready!(Pin::new(inner).poll_frame(context));
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
