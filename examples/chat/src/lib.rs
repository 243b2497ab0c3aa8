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
pub use server::{check_max_user, serve};
