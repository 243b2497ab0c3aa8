//! A socket wrapper that counts the bytes read and written into the service counters, for HTTP
//! mode where the bytes do not pass through the relay, and touches the idle-timeout activity.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::activity::Activity;
use crate::counters::ServiceCounters;

pub(crate) struct Metered<S> {
    stream: S,
    counters: Arc<ServiceCounters>,
    activity: Arc<Activity>,
}

impl<S> Metered<S> {
    pub(crate) fn new(
        stream: S,
        counters: Arc<ServiceCounters>,
        activity: Arc<Activity>,
    ) -> Metered<S> {
        Metered {
            stream,
            counters,
            activity,
        }
    }

    /// The wrapped stream, to wait for readiness without reading.
    pub(crate) fn get_ref(&self) -> &S {
        &self.stream
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buffer.filled().len();
        let poll = Pin::new(&mut this.stream).poll_read(context, buffer);
        let read = buffer.filled().len() - before;
        if read > 0 {
            this.counters
                .bytes_in
                .fetch_add(read as u64, Ordering::Relaxed);
            this.activity.touch();
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write(context, data);
        if let Poll::Ready(Ok(written)) = &poll {
            this.counters
                .bytes_out
                .fetch_add(*written as u64, Ordering::Relaxed);
            this.activity.touch();
        }
        poll
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write_vectored(context, buffers);
        if let Poll::Ready(Ok(written)) = &poll {
            this.counters
                .bytes_out
                .fetch_add(*written as u64, Ordering::Relaxed);
            this.activity.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(context)
    }
}
