//! Every bound the data plane enforces, in one place so their relations can be checked.

use std::time::Duration;

/// Services one director may run.
pub const SERVICES_MAX: usize = 1024;
/// Real servers in one service.
pub const SERVERS_PER_SERVICE_MAX: usize = 1024;
/// Most listen addresses (VIPs) of one service: one listener each on every node.
pub const LISTEN_ADDRS_MAX: usize = 64;
/// Largest server weight; weights multiply in least-connection comparisons, so they stay small.
pub const WEIGHT_MAX: u32 = 65_536;
/// Longest service or server name.
pub const NAME_LEN_MAX: usize = 128;
/// Longest HTTP health-check path or expected body substring.
pub const HEALTH_TEXT_LEN_MAX: usize = 1024;
/// Bytes of a health-check response body read while looking for the expected substring.
pub const HEALTH_BODY_READ_MAX: usize = 64 * 1024;
/// Largest rise or fall count.
pub const HEALTH_COUNT_MAX: u32 = 100;
/// Shortest health-check interval, so a typo cannot flood a real server.
pub const HEALTH_INTERVAL_MIN: Duration = Duration::from_millis(10);
/// Client addresses remembered for persistence per service; the oldest expire first.
pub const PERSISTENCE_ENTRIES_MAX: usize = 100_000;
/// Maglev lookup-table size per server; the table is the next prime at or above this product.
pub const MAGLEV_TABLE_PER_SERVER: usize = 100;
/// Servers tried for one client connection or request before giving up.
pub const CONNECT_ATTEMPTS_MAX: usize = 3;
/// Time allowed for a connection to a real server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A proxied TCP connection with no traffic either way for this long is closed.
pub const IDLE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(300);
/// Buffer size for one direction of a copied TCP connection.
pub const COPY_BUFFER_LEN: usize = 64 * 1024;
/// Bytes moved by one splice(2) call.
pub const SPLICE_CHUNK_LEN: usize = 256 * 1024;
/// Largest request body buffered so that a request can be retried on another server.
pub const RETRY_BODY_LEN_MAX: u64 = 64 * 1024;
/// Idle upstream HTTP connections kept per real server.
pub const UPSTREAM_IDLE_PER_SERVER_MAX: usize = 256;
/// Longest response head (or chunk-size line) read from a real server.
pub const UPSTREAM_HEAD_LEN_MAX: usize = 64 * 1024;
/// Most header fields in a response head from a real server.
pub const UPSTREAM_HEADERS_MAX: usize = 100;
/// Room made in a connection's read buffer before each read from a real server.
pub const UPSTREAM_READ_CHUNK: usize = 16 * 1024;
/// Idle upstream HTTP connections are closed after this long.
pub const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Time to wait for in-flight connections when the director shuts down.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Pending accepted connections the kernel queues per listener.
pub const LISTEN_BACKLOG: i32 = 4096;

const _: () = assert!(SPLICE_CHUNK_LEN >= COPY_BUFFER_LEN);
const _: () = assert!(CONNECT_ATTEMPTS_MAX >= 2);
const _: () = assert!((WEIGHT_MAX as u64) * (u32::MAX as u64) <= u64::MAX / 2);
const _: () = assert!(MAGLEV_TABLE_PER_SERVER * SERVERS_PER_SERVICE_MAX < u32::MAX as usize);
/// Time a client has to send a complete HTTP request head, on a new or kept-alive connection.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest pause a client may make within a request body before it is answered 408.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest request head a client may send; a longer one is answered with 431 and closed.
pub const REQUEST_HEAD_LEN_MAX: usize = 64 * 1024;
/// Most header fields in a request head from a client; more are answered with 431.
pub const REQUEST_HEADERS_MAX: usize = 100;
/// Room made in a client connection's read buffer before each read of a request head.
pub const REQUEST_READ_CHUNK: usize = 4 * 1024;
/// Spare HTTP buffers kept per thread for connections between requests.
pub const SPARE_BUFFERS_MAX: usize = 256;
/// A buffer larger than this is freed rather than kept spare.
pub const SPARE_BUFFER_LEN_MAX: usize = 16 * 1024;
