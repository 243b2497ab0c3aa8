//! The `encluster` command tree (clap): the agent, cluster setup, the demo and the CLI.
//!
//! In the library so that `cargo xtask dist` generates the man pages and the shell
//! completions from the same tree the binary parses.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// `encluster --version`: the crate version and the git commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ENCLUSTER_GIT_COMMIT"),
    ")"
);

/// encluster: a high-availability cluster manager.
#[derive(Parser, Debug)]
#[command(name = "encluster", version = VERSION, about)]
pub struct Args {
    #[command(flatten)]
    pub api: cli::ApiArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run this node's agent.
    Agent {
        /// The node's config file (written by `init` or `join`).
        #[arg(
            long,
            env = "ENCLUSTER_CONFIG",
            default_value = "/etc/encluster/encluster.toml"
        )]
        config: PathBuf,
    },
    /// Create a new cluster: CA, tokens, and the first node's (or a local cluster's) configs.
    Init(InitArgs),
    /// Add a new node to an existing cluster with a join token.
    Join(JoinArgs),
    /// Start a local 3-node cluster on 127.0.0.x and show what to try.
    Demo {
        /// Where to keep the demo's files (default: a new temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Address of the first node.
        #[arg(long, default_value = "127.0.0.11")]
        base_ip: Ipv4Addr,
    },
    /// DANGER: make this node's surviving members the whole voter set after a majority was
    /// lost for good. Run with the agent stopped.
    ForceQuorum {
        /// The node's config file.
        #[arg(long, env = "ENCLUSTER_CONFIG")]
        config: PathBuf,
        /// Confirm that the lost voters are really gone (powered off or wiped).
        #[arg(long)]
        yes_i_understand_the_risk: bool,
    },
    /// The MSCS paper's chat server (examples/chat) and a client that reconnects.
    #[command(subcommand)]
    Chat(ChatCommand),
    #[command(flatten)]
    Cli(cli::CliCommand),
    // --- witness ---
    /// The witness of two-node clusters: a third vote that holds no data.
    #[command(subcommand)]
    Witness(WitnessCommand),
}

#[derive(Subcommand, Debug)]
pub enum WitnessCommand {
    /// Serve as the witness of the clusters whose bundles are in a directory (on a third
    /// machine, not a node of those clusters).
    Serve {
        /// The directory with the bundles (`encluster witness add`) and the grants.
        #[arg(long)]
        dir: PathBuf,
        /// Address:port the nodes reach it at.
        #[arg(long)]
        listen: String,
    },
    /// Issue a certificate for the cluster's witness and write its bundle to a file.
    Add {
        /// The file to write (must not exist); copy it to the witness's directory.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum ChatCommand {
    /// Serve the chat (what an instance of the `chat` type runs; see examples/chat).
    Serve {
        /// Address:port to listen on.
        #[arg(long, env = "ENCLUSTER_PARAM_listen")]
        listen: String,
        /// Most clients at once (1 to 10).
        #[arg(
            long = "max-user",
            env = "ENCLUSTER_PARAM_MaxUser",
            default_value = "5"
        )]
        max_user: String,
    },
    /// Talk to a chat: stdin to it, its lines to stdout, reconnecting when it moves.
    Connect {
        /// The chat's address:port (its VIP).
        address: String,
    },
    /// The `chat` type's reload command: the server applies MaxUser itself through the
    /// application protocol, so this runs only when it is not connected, and fails.
    #[command(hide = true)]
    Reload,
}

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// The cluster's name.
    #[arg(long, default_value = "encluster")]
    pub cluster_name: String,
    /// Directory for the files; must not exist or be empty.
    #[arg(long)]
    pub dir: PathBuf,
    /// Write configs for N local nodes on consecutive 127.0.0.x addresses.
    #[arg(long)]
    pub local: Option<usize>,
    /// First address for --local.
    #[arg(long, default_value = "127.0.0.11")]
    pub base_ip: Ipv4Addr,
    /// Peer port for --local.
    #[arg(long, default_value_t = 7510)]
    pub peer_port: u16,
    /// API port for --local.
    #[arg(long, default_value_t = 7511)]
    pub api_port: u16,
    /// Largest number of voters (odd).
    #[arg(long, default_value_t = 5)]
    pub voters_max: usize,
    /// Nodes on real hosts, NAME=IP, repeated: configs for all of them in one go (peer and
    /// API on --peer-port and --api-port of each IP).
    #[arg(long = "node", value_name = "NAME=IP", conflicts_with = "local")]
    pub nodes: Vec<String>,
    /// This node's name (without --local).
    #[arg(long, default_value = "node1")]
    pub name: String,
    /// This node's peer address (without --local).
    #[arg(long, default_value = "127.0.0.1:7510")]
    pub peer_addr: String,
    /// This node's API address (without --local).
    #[arg(long, default_value = "127.0.0.1:7511")]
    pub api_addr: String,
}

#[derive(clap::Args, Debug)]
pub struct JoinArgs {
    /// API address of any member, host:port.
    #[arg(long)]
    pub server: String,
    /// The join token printed by `encluster init` or `encluster token join`.
    #[arg(long, env = "ENCLUSTER_JOIN_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Directory for this node's files; must not exist or be empty.
    #[arg(long)]
    pub dir: PathBuf,
    /// This node's name, unique in the cluster.
    #[arg(long)]
    pub name: String,
    /// This node's peer address.
    #[arg(long)]
    pub peer_addr: String,
    /// This node's API address.
    #[arg(long)]
    pub api_addr: String,
}
