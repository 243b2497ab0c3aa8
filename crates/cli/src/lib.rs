//! The operator CLI over `api::Client`: `status`, `node`, `events`, `kv`, and resources:
//! `resource`, `group`, `constraint`, `apply` and `explain`.
//!
//! This crate finds the API (flag, environment variable or CLI config file), calls it and
//! prints what it answers, as a table for people or as stable JSON for scripts.
//! It never talks to `cmdb` or the agent's internals and never writes cluster state except
//! through the API; the `encluster` binary parses the command line and calls [`run`].

mod alerts;
mod apply;
// --- rotate ---
mod certs;
mod commands;
mod config;
mod edits;
mod errors;
mod events;
mod fencing;
mod lb;
mod limits;
mod metrics;
mod oplog;
mod render;
mod resource_args;
mod resource_commands;
mod status;
mod types;
mod undo;
mod user_types;
// --- users ---
mod users;
mod views;
mod wait;
// --- witness ---
pub mod witness;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use alerts::AlertCommand;
pub use certs::{CaCommand, CertCommand};
pub use commands::run;
pub use config::connect;
pub use fencing::FenceCommand;
pub use lb::{LbCommand, ServerCommand};
pub use metrics::MetricsCommand;
pub use resource_args::{
    ConstraintAdd, ConstraintCommand, GroupCommand, MoveArgs, ResourceCommand, ResourceOptionArgs,
    WaitArgs,
};
pub use user_types::{TypeDefineArgs, parse_type_file};
pub use users::UserCommand;

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
    /// Show the cluster as the master sees it: quorum, nodes and their modes, resources,
    /// groups and clones, directors and VIPs, pending moves and failed actions.
    Status {
        /// Print the API's status JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Print addresses and every cell whole instead of fitting 100 columns.
        #[arg(long)]
        full: bool,
    },
    /// Tokens: `token join` issues a join token, `token create` an API token with a role.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Nodes: list, remove, standby, online, maintenance, ready.
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
    /// Resources: create, update, delete, show, list, move, start, stop, cleanup.
    #[command(subcommand)]
    Resource(ResourceCommand),
    /// Groups of resources that run together: create, update, delete, move.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Order, colocation and location constraints: add, list, update, remove.
    #[command(subcommand)]
    Constraint(ConstraintCommand),
    /// Make the cluster's resources, groups and constraints match a TOML file: shows the
    /// changes, asks, then applies them. Anything not in the file is removed.
    Apply {
        /// The cluster file: [[type]], [[resource]], [[group]] and [[constraint]] tables.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
        /// Only show the changes.
        #[arg(long)]
        dry_run: bool,
        /// Apply without asking (needed when standard input is not a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Virtual services (load balancing): list, show, and change their real servers.
    #[command(subcommand)]
    Lb(lb::LbCommand),
    /// This node's (or any node's) metrics: list the series, show one over a range.
    #[command(subcommand)]
    Metrics(metrics::MetricsCommand),
    /// The declared cluster: `config export` writes it as the file `apply -f` reads.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Why a resource runs where it runs, or why it is stopped.
    Explain {
        /// The resource's name.
        name: String,
    },
    /// Resource types: list them, or show one's parameters and actions.
    #[command(subcommand)]
    Type(TypeCommand),
    // --- mon ---
    /// Failovers and where their time went: detected, down, lease end, stopped, started,
    /// healthy.
    Incidents {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Alert recipients (executables, webhooks) and threshold rules.
    #[command(subcommand)]
    Alert(alerts::AlertCommand),
    // --- users ---
    /// Users of the API, the CLI and the web UI: add, passwd, role, remove, list, whoami.
    #[command(subcommand)]
    User(users::UserCommand),
    // --- fence ---
    /// Fencing devices: fence agents that power nodes off (add, list, show, remove, test).
    #[command(subcommand)]
    Fence(fencing::FenceCommand),
    // --- rotate ---
    /// Certificates: status, rotate (renew every node's), ca begin / ca finish (replace
    /// the CA in two steps).
    #[command(subcommand)]
    Cert(certs::CertCommand),
}

/// `encluster type ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum TypeCommand {
    /// List the resource types: built-in ones, and the OCF agents installed on the node that
    /// answers.
    List {
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a type's parameters (kind, default, range, whether required) and its actions.
    Show {
        /// The type, e.g. process, vip, lb or ocf:heartbeat:Dummy.
        name: String,
        /// Print the API's JSON instead.
        #[arg(long)]
        json: bool,
    },
    // --- types ---
    /// Define a resource type of your own: a command, parameters with kinds and ranges,
    /// two health checks; from flags, a TOML file (-f), or both.
    Create {
        /// The type's name, as resources give it with --type.
        name: String,
        #[command(flatten)]
        define: Box<TypeDefineArgs>,
    },
    /// Change a user type: the stored definition with the flags (or the file) on top.
    /// Refused, naming each resource and problem, if a resource of the type would become
    /// invalid.
    Update {
        /// The type to change.
        name: String,
        #[command(flatten)]
        define: Box<TypeDefineArgs>,
    },
    /// Delete a user type; refused while resources use it.
    Delete {
        /// The type to delete.
        name: String,
    },
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
        /// The node, by name or id, as shown by `encluster node list`.
        node: String,
    },
    /// Move every resource off a node and keep it free until `node online`.
    Standby {
        /// The node, by name or id (`node2` or `2`).
        node: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Let a node in standby run resources again.
    Online {
        /// The node, by name or id.
        node: String,
    },
    /// Leave a node's resources alone (no starts, stops or recovery) until `node ready`.
    Maintenance {
        /// The node, by name or id.
        node: String,
    },
    /// End maintenance: encluster manages the node's resources again.
    Ready {
        /// The node, by name or id.
        node: String,
    },
    // --- fence ---
    /// Power a node off now through its fencing devices (run by the master).
    Fence {
        /// The node, by name or id.
        node: String,
    },
}

/// `encluster config ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum ConfigCommand {
    /// Print the user types, resources, groups and constraints as the TOML file `apply -f`
    /// reads, so that `config export > f; apply -f f` changes nothing.
    Export,
}

/// `encluster token ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum TokenCommand {
    /// Issue a new join token for `encluster join --token` (admin only). It is made here
    /// and printed once; the cluster stores only its hash. A join token admits one node.
    Join {
        /// A note stored with the token's hash.
        #[arg(long, default_value = "issued by `encluster token join`")]
        label: String,
        /// How many tokens to issue, one per line, one for each node to admit.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
        count: u32,
    },
    /// Issue an API token for an operator (admin only): every change made with it is
    /// recorded under `--label`. Made here and printed once; the cluster stores its hash.
    Admin {
        /// The operator's name, recorded with each change (unique among admin tokens).
        #[arg(long)]
        label: String,
    },
    /// Issue an API token bound to a role (admin only): `viewer`, `operator` or `admin`.
    /// Made here and printed once; the cluster stores its hash.
    Create {
        /// viewer (reads), operator (runtime actions) or admin (everything).
        #[arg(long)]
        role: String,
        /// Who or what it is for, recorded with each change (unique among API tokens).
        #[arg(long)]
        label: String,
    },
    // --- rotate ---
    /// List the stored tokens (admin only): hash prefix, kind, role and label; the
    /// cluster keeps no secrets, only hashes.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke tokens (admin only): they stop working on every node at once. Name them by
    /// --label, by --hash (the prefix `token list` shows) or --all-join.
    Revoke {
        /// Every token with this label.
        #[arg(long, conflicts_with_all = ["hash", "all_join"])]
        label: Option<String>,
        /// The token whose hash starts with this (at least 8 hex digits).
        #[arg(long, conflicts_with = "all_join")]
        hash: Option<String>,
        /// Every unused join token.
        #[arg(long)]
        all_join: bool,
    },
    /// Replace an API token by a new one with the same label and role (admin only); the
    /// old one stops working on every node at once. The new token is printed once; when
    /// it replaces the CLI config file's own token, the file gets it.
    Rotate {
        /// The label of the token to replace (default: the token this CLI uses).
        #[arg(long)]
        label: Option<String>,
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
