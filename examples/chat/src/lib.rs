//! The MSCS paper's cluster-aware application, for encluster (issue 12): a TCP chat
//! server of the user-defined type `chat` (`examples/chat/chat.toml`) and a client that
//! reconnects. The `encluster` binary runs them as `encluster chat serve` and
//! `encluster chat connect ADDRESS`.
//!
//! The server speaks the application protocol through `app-sdk`: it keeps the last 100
//! lines in a checkpoint (so a moved or restarted instance replays them), applies a
//! changed `MaxUser` live (validate-then-set), refuses the client beyond it with a line
//! that says so, and reports its health at both depths.

pub mod client;
pub mod server;

pub use client::connect;

/// Turns on TCP keepalive probes after 1 s of silence, every second, giving up after 3:
/// a connection whose other end vanished (a crashed host, a VIP gone elsewhere, which
/// answers a probe with a reset) ends in seconds rather than hours.
pub fn keepalive(stream: &tokio::net::TcpStream) {
    let probes = socket2::TcpKeepalive::new()
        .with_time(std::time::Duration::from_secs(1))
        .with_interval(std::time::Duration::from_secs(1))
        .with_retries(3);
    let _ = socket2::SockRef::from(stream).set_tcp_keepalive(&probes);
}
pub use server::{check_max_user, serve};
