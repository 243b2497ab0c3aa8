//! The idle stack with real hyper connections over in-memory pipes.

use std::net::SocketAddr;
use std::time::Duration;

use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;

use super::{IdleConns, Sender, checkout};
use crate::limits;

const A: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 1);
const B: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 2);

/// A client handle over a pipe whose server side is kept open (and never answers), with the
/// task that drives the connection; aborting the task closes the connection.
async fn sender() -> (Sender, JoinHandle<()>, tokio::io::DuplexStream) {
    let (client, server) = tokio::io::duplex(1024);
    let (sender, connection) = http1::handshake(TokioIo::new(client))
        .await
        .expect("handshake over a pipe");
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    (sender, task, server)
}

#[tokio::test(start_paused = true)]
async fn checkout_takes_the_newest_idle_connection_of_the_same_address() {
    let idle = IdleConns::new();
    let (first, _first_task, _first_pipe) = sender().await;
    let (second, _second_task, _second_pipe) = sender().await;
    let (other, _other_task, _other_pipe) = sender().await;
    idle.put(A, first);
    idle.put(A, second);
    idle.put(B, other);
    assert_eq!(idle.len(), 3);
    let upstream = checkout(&idle, A).await.expect("an idle connection");
    assert!(upstream.reused);
    // The connection to B was newer and is dropped on the way; the older one to A stays.
    assert_eq!(idle.len(), 1);
    let upstream = checkout(&idle, A).await.expect("an idle connection");
    assert!(upstream.reused);
    assert_eq!(idle.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn closed_connections_are_neither_kept_nor_handed_out() {
    let idle = IdleConns::new();
    let (kept, kept_task, _kept_pipe) = sender().await;
    idle.put(A, kept);
    kept_task.abort();
    let _ = kept_task.await;
    let (closed, closed_task, _closed_pipe) = sender().await;
    closed_task.abort();
    let _ = closed_task.await;
    idle.put(A, closed);
    assert_eq!(idle.len(), 1, "a closed connection is not put back");
    assert!(
        idle.pop(A).is_none(),
        "a connection closed while idle is dropped"
    );
    assert_eq!(idle.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn connections_idle_past_the_timeout_are_pruned_and_not_reused() {
    let idle = IdleConns::new();
    let (old, _old_task, _old_pipe) = sender().await;
    idle.put(A, old);
    tokio::time::advance(limits::UPSTREAM_IDLE_TIMEOUT - Duration::from_secs(1)).await;
    let (fresh, _fresh_task, _fresh_pipe) = sender().await;
    idle.put(A, fresh);
    tokio::time::advance(Duration::from_secs(2)).await;
    idle.prune(tokio::time::Instant::now());
    assert_eq!(idle.len(), 1, "only the older connection is stale");
    tokio::time::advance(limits::UPSTREAM_IDLE_TIMEOUT).await;
    assert!(
        idle.pop(A).is_none(),
        "a stale connection is not handed out"
    );
}

#[tokio::test(start_paused = true)]
async fn the_idle_stack_is_bounded() {
    let idle = IdleConns::new();
    let mut pipes = Vec::new();
    for _ in 0..limits::UPSTREAM_IDLE_PER_SERVER_MAX + 3 {
        let (sender, task, pipe) = sender().await;
        idle.put(A, sender);
        pipes.push((task, pipe));
    }
    assert_eq!(idle.len(), limits::UPSTREAM_IDLE_PER_SERVER_MAX);
}
