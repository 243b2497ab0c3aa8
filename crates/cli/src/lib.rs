//! The operator CLI: `status`, `node list|remove`, `events` and `kv`, all over `api::Client`.
//!
//! This crate finds the API (flag, environment variable or CLI config file), calls it and
//! prints what it answers, as a table for people or as stable JSON for scripts.
//! It never talks to `cmdb` or the agent's internals and never writes cluster state except
//! through the API; the `encluster` binary parses the command line and calls [`run`].

mod commands;
mod config;
mod errors;
mod events;
mod limits;
mod render;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use commands::run;
pub use config::connect;

/// Where the API is and how to authenticate.
/// Flags win over environment variables, and those over the CLI config file.
#[derive(clap::Args, Debug, Clone)]
pub struct ApiArgs {
    /// The API of any agent, e.g. https://127.0.0.11:7511 (host:port means https).
    #[arg(long, env = "ENCLUSTER_API", global = true)]
    pub api: Option<String>,
    /// The API token (the admin token printed by `encluster init`).
    #[arg(long, env = "ENCLUSTER_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// PEM file of the cluster CA, the only CA the CLI trusts for the API.
    #[arg(long, env = "ENCLUSTER_CA", global = true)]
    pub ca: Option<PathBuf>,
    /// The CLI config file written by `encluster init` (TOML: api, token, ca).
    /// Default: $XDG_CONFIG_HOME/encluster/cli.toml or ~/.config/encluster/cli.toml,
    /// then /etc/encluster/cli.toml.
    #[arg(long, env = "ENCLUSTER_CLI_CONFIG", global = true)]
    pub cli_config: Option<PathBuf>,
}

/// The CLI's subcommands.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum CliCommand {
    /// Show the master, Raft term and commit index, and every node.
    Status {
        /// Print the API's status JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Nodes: list, remove.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Show the event log; --follow keeps printing new events.
    Events {
        /// Keep printing new events until Ctrl-C.
        #[arg(long)]
        follow: bool,
        /// Print one JSON object per event and line.
        #[arg(long)]
        json: bool,
        /// How many of the newest events to show first.
        #[arg(long, default_value_t = 50)]
        last: usize,
    },
    /// Key/value access for tests and tools.
    #[command(subcommand)]
    Kv(KvCommand),
}

/// `encluster node ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum NodeCommand {
    /// List every node with its state, role and last heartbeat.
    List {
        /// Print the API's node JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a node from the cluster (its agent should be stopped first).
    Remove {
        /// The node's id, as shown by `encluster node list`.
        id: u64,
    },
}

/// `encluster kv ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum KvCommand {
    /// Print a key's value.
    Get {
        /// The key.
        key: String,
        /// Read the answering node's local copy, which may be stale, instead of a
        /// linearizable read through the master.
        #[arg(long)]
        stale: bool,
    },
    /// Set a key and print the revision of the write.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
}
