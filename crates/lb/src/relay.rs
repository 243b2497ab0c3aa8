//! Moving bytes between a client and a real server, both ways, with half-close and an idle
//! timeout.
//!
//! Each direction either copies through a user-space buffer or splices through a pipe
//! (Linux zero-copy). Buffers and pipes are made on the first byte, so an idle connection costs
//! only its two sockets.

use std::io;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};

use std::task::{Context, Poll, ready};
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::activity::Activity;
use crate::limits;

/// How bytes cross the proxy in TCP mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpRelay {
    /// read(2) into a buffer and write(2) it out.
    Copy,
    /// splice(2) socket to pipe to socket, without copying into user space.
    Splice,
}

/// Where the bytes of one direction are counted.
pub(crate) struct Tally<'a> {
    pub(crate) service: &'a AtomicU64,
    pub(crate) server: Option<&'a AtomicU64>,
}

impl Tally<'_> {
    fn add(&self, bytes: usize) {
        let bytes = bytes as u64;
        self.service.fetch_add(bytes, Ordering::Relaxed);
        if let Some(server) = self.server {
            server.fetch_add(bytes, Ordering::Relaxed);
        }
    }
}

/// Relays until both directions end, either fails, or nothing moves for `idle_timeout`.
/// `up` counts client-to-server bytes and `down` server-to-client bytes.
pub(crate) async fn relay(
    client: &TcpStream,
    server: &TcpStream,
    mode: TcpRelay,
    idle_timeout: Duration,
    up: Tally<'_>,
    down: Tally<'_>,
) -> io::Result<()> {
    let activity = Activity::new();
    let both = async {
        match mode {
            TcpRelay::Copy => copy_both(client, server, &activity, &up, &down).await,
            TcpRelay::Splice => tokio::try_join!(
                pump_splice(client, server, &activity, &up),
                pump_splice(server, client, &activity, &down)
            )
            .map(|_| ()),
        }
    };
    tokio::select! {
        result = both => result,
        () = activity.idle_for(idle_timeout) => {
            Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout"))
        }
    }
}

/// One direction of a copied connection: bytes read from one socket wait in
/// `buffer[start..end]` until they are written to the other.
struct CopyDirection {
    buffer: Vec<u8>,
    start: usize,
    end: usize,
    done: bool,
}

impl CopyDirection {
    /// No buffer yet: it is made on the first byte, so an idle connection costs none.
    fn new() -> CopyDirection {
        CopyDirection {
            buffer: Vec::new(),
            start: 0,
            end: 0,
            done: false,
        }
    }

    /// Moves bytes from `from` to `to` until one of them is not ready (Pending, with the
    /// waker registered on that socket's readiness) or `from` ended (Ready, once the end was
    /// passed on). Polled straight from the relay's task: no future per wait, no waiter list,
    /// and the direction with nothing to do costs one readiness check.
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        from: &TcpStream,
        to: &TcpStream,
        activity: &Activity,
        tally: &Tally<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if self.done {
                return Poll::Ready(Ok(()));
            }
            if self.start < self.end {
                ready!(to.poll_write_ready(cx))?;
                match to.try_write(&self.buffer[self.start..self.end]) {
                    Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Ok(written) => self.start += written,
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(error) => return Poll::Ready(Err(error)),
                }
                if self.start == self.end {
                    tally.add(self.end);
                    (self.start, self.end) = (0, 0);
                }
                continue;
            }
            ready!(from.poll_read_ready(cx))?;
            if self.buffer.is_empty() {
                self.buffer = vec![0; limits::COPY_BUFFER_LEN];
            }
            match read_draining(from, &mut self.buffer) {
                Ok(0) => {
                    half_close(to)?;
                    self.done = true;
                }
                Ok(read) => {
                    activity.touch();
                    self.end = read;
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

/// Copies both ways until both directions ended or one failed.
async fn copy_both(
    client: &TcpStream,
    server: &TcpStream,
    activity: &Activity,
    up: &Tally<'_>,
    down: &Tally<'_>,
) -> io::Result<()> {
    let mut upstream = CopyDirection::new();
    let mut downstream = CopyDirection::new();
    std::future::poll_fn(|cx| {
        let up = upstream.poll(cx, client, server, activity, up)?;
        let down = downstream.poll(cx, server, client, activity, down)?;
        if up.is_ready() && down.is_ready() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// One read. A read shorter than the buffer found the socket's queue empty, so the socket's
/// readiness is cleared there and then: the next `readable()` waits for new data instead of
/// costing a read(2) that only says EAGAIN (one system call fewer per message each way).
/// The reactor's edge-triggered events set readiness again for anything arriving later.
fn read_draining(from: &TcpStream, buffer: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    let outcome = from.try_io(Interest::READABLE, || {
        let read = nix::unistd::read(from, buffer).map_err(io::Error::from)?;
        got = read;
        if read > 0 && read < buffer.len() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(read)
    });
    match outcome {
        Err(error) if error.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
        other => other,
    }
}

/// Passes on an end of stream: the peer may still send the other way.
fn half_close(to: &TcpStream) -> io::Result<()> {
    match socket2::SockRef::from(to).shutdown(Shutdown::Write) {
        Err(error) if error.kind() != io::ErrorKind::NotConnected => Err(error),
        _ => Ok(()),
    }
}

async fn pump_splice(
    from: &TcpStream,
    to: &TcpStream,
    activity: &Activity,
    tally: &Tally<'_>,
) -> io::Result<()> {
    let flags = SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE;
    let mut pipe: Option<(OwnedFd, OwnedFd)> = None;
    loop {
        from.readable().await?;
        let (pipe_read, pipe_write) = match &pipe {
            Some(pipe) => pipe,
            None => pipe.insert(new_pipe()?),
        };
        let spliced = from.try_io(Interest::READABLE, || {
            nix::fcntl::splice(
                from,
                None,
                pipe_write,
                None,
                limits::SPLICE_CHUNK_LEN,
                flags,
            )
            .map_err(io::Error::from)
        });
        let read = match spliced {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
            Err(error) => return Err(error),
        };
        activity.touch();
        let mut pending = read;
        while pending > 0 {
            to.writable().await?;
            let spliced = to.try_io(Interest::WRITABLE, || {
                nix::fcntl::splice(pipe_read, None, to, None, pending, flags)
                    .map_err(io::Error::from)
            });
            match spliced {
                Ok(written) => pending -= written,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                Err(error) => return Err(error),
            }
        }
        tally.add(read);
    }
    half_close(to)
}

/// A non-blocking pipe, enlarged to one splice chunk when the system allows it (a failure
/// only means smaller moves).
fn new_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (pipe_read, pipe_write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
    let size = i32::try_from(limits::SPLICE_CHUNK_LEN).expect("splice chunk fits i32");
    let _ = nix::fcntl::fcntl(&pipe_write, FcntlArg::F_SETPIPE_SZ(size));
    Ok((pipe_read, pipe_write))
}
