//! The encluster application protocol and its Rust SDK.
//!
//! A cluster-aware application talks to the agent on its own node over a Unix socket:
//! it learns who it is (resource, instance, fencing token, lease), reads its parameters
//! and accepts or rejects changes to them, reports its health at two depths, is told to
//! drain before a stop, to promote or demote, and at once when the node's lease is lost,
//! and stores small checkpoints that the next instance finds wherever it starts. The
//! protocol is newline-delimited JSON, documented in `docs/app-protocol.md`; [`protocol`]
//! holds its messages, which the agent uses too.
//!
//! ```no_run
//! use app_sdk::{App, Depth, Event};
//!
//! # async fn run() -> Result<(), app_sdk::Error> {
//! let app = App::connect_from_env().await?;
//! let me = app.identity();
//! let history = app.checkpoint_get("history").await?.unwrap_or_default();
//! app.report_health(Depth::LooksAlive, Ok(())).await?;
//! loop {
//!     tokio::select! {
//!         reason = app.lease_lost() => { eprintln!("{}: {reason}", me.instance); break }
//!         event = app.next_event() => match event {
//!             Some(Event::ParamsChanged(change)) => change.accept().await?,
//!             Some(Event::PrepareStop { .. }) => { app.stop_ready().await?; break }
//!             Some(_) => {}
//!             None => break,
//!         },
//!     }
//! }
//! # let _ = history;
//! # Ok(()) }
//! ```
//!
//! The client reconnects by itself when the agent restarts (an upgrade, a crash), with the
//! same instance token, and turns lease loss into a future the application awaits
//! ([`App::lease_lost`]).
//!
//! This crate must never depend on anything inside the agent: applications link it.

#![warn(missing_docs)]

pub mod base64;
mod client;
pub mod framing;
pub mod limits;
pub mod protocol;

pub use client::{App, Error, Event, ParamsChange, RoleChange};
pub use protocol::{Depth, Hello};

#[cfg(test)]
mod tests;
