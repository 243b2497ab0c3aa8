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
            TcpRelay::Copy => tokio::try_join!(
                pump_copy(client, server, &activity, &up),
                pump_copy(server, client, &activity, &down)
            ),
            TcpRelay::Splice => tokio::try_join!(
                pump_splice(client, server, &activity, &up),
                pump_splice(server, client, &activity, &down)
            ),
        }
    };
    tokio::select! {
        result = both => result.map(|_| ()),
        () = activity.idle_for(idle_timeout) => {
            Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout"))
        }
    }
}

async fn pump_copy(
    from: &TcpStream,
    to: &TcpStream,
    activity: &Activity,
    tally: &Tally<'_>,
) -> io::Result<()> {
    let mut buffer = Vec::new();
    loop {
        from.readable().await?;
        if buffer.is_empty() {
            buffer = vec![0; limits::COPY_BUFFER_LEN];
        }
        let read = match read_draining(from, &mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
            Err(error) => return Err(error),
        };
        activity.touch();
        write_all(to, &buffer[..read]).await?;
        tally.add(read);
    }
    half_close(to)
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

/// Writes everything, trying at once (a socket with room in its send buffer is the common
/// case) and waiting for writability only when the buffer is full.
async fn write_all(to: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match to.try_write(data) {
            Ok(written) => data = &data[written..],
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => to.writable().await?,
            Err(error) => return Err(error),
        }
    }
    Ok(())
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
