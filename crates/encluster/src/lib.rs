//! The `encluster` binary's command tree, as a library for the tools that document it.
//!
//! `main.rs` parses these arguments and runs them; `xtask` generates the man pages and the
//! shell completions from `command()`. Nothing here does any work.

pub mod args;

/// The whole command tree, as the binary parses it.
pub fn command() -> clap::Command {
    <args::Args as clap::CommandFactory>::command()
}
