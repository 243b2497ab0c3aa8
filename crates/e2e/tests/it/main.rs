//! End-to-end tests with real `encluster` processes on loopback: cluster formation,
//! failover, catch-up, rejoin from a snapshot, sequential failures down to one node,
//! security refusals, clear errors for bad input, the README's `encluster demo` and every
//! other command of the README (`readme.rs`), and
//! fail-stop (a full disk, an old voter back after `force-quorum`, a lost quorum).
//!
//! Method: each test starts its own cluster on its own 127.x.y.z block, drives it through
//! the HTTPS API and the CLI binary, injects crashes with SIGKILL, and polls for the
//! expected state with a deadline.

mod alerting;
mod app;
mod app_promotable;
mod changes;
mod chat;
mod core;
mod demo;
mod edits;
mod errors;
mod failstop;
mod fencing;
mod hostile;
mod hosts;
mod hosts_promotable;
mod input;
mod lb;
mod linearizability;
mod membership;
mod metrics;
mod openapi;
mod operations;
mod promotable;
mod readme;
mod remote;
mod resources;
mod roles;
mod security;
mod status;
mod types;
mod ui;
mod ui_pages;
mod updates;
// --- upgrade ---
mod upgrade;
// --- users ---
mod users;
// --- rotate ---
mod rotate;
// --- witness ---
mod witness;
