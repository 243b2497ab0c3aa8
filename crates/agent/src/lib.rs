//! The per-node agent: wires the cmdb, the peer channel, the API, the master role and the
//! heartbeat sender into one process (`encluster agent`), plus cluster setup (`init`,
//! `join`).
//!
//! This is the application layer: it may use `anyhow` and read the clock (in `clock`
//! only). Core decisions live in the crates it calls (`membership`, `cmdb`); this crate
//! must not grow its own copies of them.

// Handlers return axum `Response`s as their error type on purpose: the error *is* the
// answer to send. Boxing them would only add allocations on the error path.
#![allow(clippy::result_large_err)]

pub mod alerting;
pub mod api;
pub mod app;
mod certs;
pub mod clock;
pub mod clone_notify;
pub mod config;
pub mod contact;
pub mod host_watchdog;
pub mod lag;
pub mod lb_agent;
mod limits;
pub mod master;
pub mod metrics;
pub mod node;
mod notify;
mod peer;
pub mod placement;
pub mod recovery;
pub mod remote;
pub mod resources;
pub mod serve;
pub mod setup;
pub mod status_texts;
pub mod thresholds;
mod tls;
// --- upgrade ---
pub mod upgrade;
// --- witness ---
pub mod witness;

pub use config::AgentConfig;
