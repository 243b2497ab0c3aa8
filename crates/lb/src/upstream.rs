//! Keep-alive HTTP/1.1 connections to real servers, without a general-purpose client.
//!
//! Each real server keeps two small stacks of idle connections: lean ones (`h1::Conn`), used
//! by every request whose body is in memory, and hyper `SendRequest` handles, used by requests
//! whose body streams. A request checks one out (the most recently used, whose socket is
//! warmest) or opens a new connection, and the response body checks it back in when its last
//! byte has been relayed. A hyper connection is driven by one task of its own; nothing else
//! runs per request, unlike hyper-util's pooled client, which spawned a task per request to
//! wait for the connection to become idle again.

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;

use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::time::Instant;

use crate::h1::Conn;
use crate::limits;
use crate::proxy_body::OutBody;
use crate::service;

/// A handle that sends requests over one upstream connection.
pub(crate) type Sender = SendRequest<OutBody>;

/// Idle connections to one address, newest last: hyper's for streamed request bodies, and
/// the lean exchange's for everything else.
pub(crate) struct IdleConns {
    idle: Mutex<Vec<Idle>>,
    raw: Mutex<Vec<IdleRaw>>,
}

struct Idle {
    sender: Sender,
    addr: SocketAddr,
    since: Instant,
}

struct IdleRaw {
    conn: Conn,
    addr: SocketAddr,
    since: Instant,
}

impl std::fmt::Debug for IdleConns {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("IdleConns")
            .field("idle", &self.lock().len())
            .finish()
    }
}

impl IdleConns {
    pub(crate) fn new() -> IdleConns {
        IdleConns {
            idle: Mutex::new(Vec::new()),
            raw: Mutex::new(Vec::new()),
        }
    }

    fn lock_raw(&self) -> std::sync::MutexGuard<'_, Vec<IdleRaw>> {
        self.raw.lock().expect("no panic while holding the lock")
    }

    /// The newest idle lean connection to `addr` that is still usable.
    fn pop_raw(&self, addr: SocketAddr) -> Option<Conn> {
        let mut idle = self.lock_raw();
        let now = Instant::now();
        while let Some(entry) = idle.pop() {
            let fresh = now.saturating_duration_since(entry.since) < limits::UPSTREAM_IDLE_TIMEOUT;
            if fresh && entry.addr == addr && !entry.conn.is_stale() {
                return Some(entry.conn);
            }
        }
        None
    }

    /// Keeps a lean connection whose last response has ended, unless the stack is full.
    pub(crate) fn put_raw(&self, addr: SocketAddr, conn: Conn) {
        let mut idle = self.lock_raw();
        if idle.len() < limits::UPSTREAM_IDLE_PER_SERVER_MAX {
            idle.push(IdleRaw {
                conn,
                addr,
                since: Instant::now(),
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().expect("no panic while holding the lock")
    }

    /// The newest idle connection to `addr` that the server has not closed; older or closed
    /// ones found on the way are dropped, which closes them.
    fn pop(&self, addr: SocketAddr) -> Option<Sender> {
        let mut idle = self.lock();
        let now = Instant::now();
        while let Some(entry) = idle.pop() {
            let fresh = now.saturating_duration_since(entry.since) < limits::UPSTREAM_IDLE_TIMEOUT;
            if fresh && entry.addr == addr && !entry.sender.is_closed() {
                return Some(entry.sender);
            }
        }
        None
    }

    /// Keeps a connection whose last response has ended, unless the stack is full.
    pub(crate) fn put(&self, addr: SocketAddr, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < limits::UPSTREAM_IDLE_PER_SERVER_MAX {
            idle.push(Idle {
                sender,
                addr,
                since: Instant::now(),
            });
        }
    }

    /// Closes the connections idle for longer than the upstream idle timeout.
    pub(crate) fn prune(&self, now: Instant) {
        let mut idle = self.lock();
        let stale = idle
            .iter()
            .take_while(|entry| {
                now.saturating_duration_since(entry.since) >= limits::UPSTREAM_IDLE_TIMEOUT
            })
            .count();
        idle.drain(..stale);
        drop(idle);
        let mut raw = self.lock_raw();
        let stale = raw
            .iter()
            .take_while(|entry| {
                now.saturating_duration_since(entry.since) >= limits::UPSTREAM_IDLE_TIMEOUT
            })
            .count();
        raw.drain(..stale);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len() + self.lock_raw().len()
    }
}

/// A connection checked out for one request.
pub(crate) struct Upstream {
    pub(crate) sender: Sender,
    /// It served a request before, so the server may have closed it in the meantime.
    pub(crate) reused: bool,
}

/// Why no connection could be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("connect failed: {0}")]
    Connect(#[from] io::Error),
    #[error("http handshake failed: {0}")]
    Handshake(#[from] hyper::Error),
}

/// An idle connection to `addr` that is ready for a request, or a new one.
pub(crate) async fn checkout(idle: &IdleConns, addr: SocketAddr) -> Result<Upstream, ConnectError> {
    while let Some(mut sender) = idle.pop(addr) {
        // The dispatcher may not have taken up the next request yet when the last response
        // body ended; waiting for it is short, and an error means the server closed it.
        if sender.is_ready() || sender.ready().await.is_ok() {
            return Ok(Upstream {
                sender,
                reused: true,
            });
        }
    }
    // Boxed: the connect and handshake futures are large and rare once connections are kept.
    let sender = Box::pin(connect(addr)).await?;
    Ok(Upstream {
        sender,
        reused: false,
    })
}

/// An idle lean connection to `addr`, or a new one; `true` with a reused one.
pub(crate) async fn checkout_raw(
    idle: &IdleConns,
    addr: SocketAddr,
) -> Result<(Conn, bool), ConnectError> {
    if let Some(conn) = idle.pop_raw(addr) {
        return Ok((conn, true));
    }
    Ok((Box::pin(connect_conn(addr)).await?, false))
}

/// Opens a new connection for the lean exchange.
pub(crate) async fn connect_conn(addr: SocketAddr) -> Result<Conn, ConnectError> {
    Ok(Conn::new(service::connect(addr).await?))
}

/// Opens a new connection and spawns the task that drives it; the task ends when the server
/// closes the connection or when the last handle to it is dropped.
pub(crate) async fn connect(addr: SocketAddr) -> Result<Sender, ConnectError> {
    let stream = service::connect(addr).await?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%addr, %error, "Upstream connection failed");
        }
    });
    Ok(sender)
}

#[cfg(test)]
mod tests;
