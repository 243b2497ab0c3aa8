//! Integration tests of the load-balancer data plane with real sockets on 127.0.0.1.
//!
//! Each test starts hand-written real servers and a director, drives traffic through the
//! service, and checks what the servers saw and what the counters say. Waits poll with a
//! deadline; nothing sleeps for a fixed time to let something happen.

mod hostile;
mod http;
mod http_wire;
mod runtime;
mod support;
mod tcp;
