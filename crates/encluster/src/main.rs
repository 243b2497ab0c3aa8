//! The single `encluster` binary: the agent, cluster setup, the demo and the CLI.
//!
//! Thin on purpose: parsing arguments and mapping errors to exit codes; the work is in
//! the `agent` and `cli` crates.

mod demo;
mod samples;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

/// `encluster --version`: the crate version and the git commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ENCLUSTER_GIT_COMMIT"),
    ")"
);

/// encluster: a high-availability cluster manager.
#[derive(Parser, Debug)]
#[command(name = "encluster", version = VERSION, about)]
struct Args {
    #[command(flatten)]
    api: cli::ApiArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
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
}

#[derive(Subcommand, Debug)]
enum ChatCommand {
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
struct InitArgs {
    /// The cluster's name.
    #[arg(long, default_value = "encluster")]
    cluster_name: String,
    /// Directory for the files; must not exist or be empty.
    #[arg(long)]
    dir: PathBuf,
    /// Write configs for N local nodes on consecutive 127.0.0.x addresses.
    #[arg(long)]
    local: Option<usize>,
    /// First address for --local.
    #[arg(long, default_value = "127.0.0.11")]
    base_ip: Ipv4Addr,
    /// Peer port for --local.
    #[arg(long, default_value_t = 7510)]
    peer_port: u16,
    /// API port for --local.
    #[arg(long, default_value_t = 7511)]
    api_port: u16,
    /// Largest number of voters (odd).
    #[arg(long, default_value_t = 5)]
    voters_max: usize,
    /// Nodes on real hosts, NAME=IP, repeated: configs for all of them in one go (peer and
    /// API on --peer-port and --api-port of each IP).
    #[arg(long = "node", value_name = "NAME=IP", conflicts_with = "local")]
    nodes: Vec<String>,
    /// This node's name (without --local).
    #[arg(long, default_value = "node1")]
    name: String,
    /// This node's peer address (without --local).
    #[arg(long, default_value = "127.0.0.1:7510")]
    peer_addr: String,
    /// This node's API address (without --local).
    #[arg(long, default_value = "127.0.0.1:7511")]
    api_addr: String,
}

#[derive(clap::Args, Debug)]
struct JoinArgs {
    /// API address of any member, host:port.
    #[arg(long)]
    server: String,
    /// The join token printed by `encluster init` or `encluster token join`.
    #[arg(long, env = "ENCLUSTER_JOIN_TOKEN", hide_env_values = true)]
    token: String,
    /// Directory for this node's files; must not exist or be empty.
    #[arg(long)]
    dir: PathBuf,
    /// This node's name, unique in the cluster.
    #[arg(long)]
    name: String,
    /// This node's peer address.
    #[arg(long)]
    peer_addr: String,
    /// This node's API address.
    #[arg(long)]
    api_addr: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to standard error: the filter from `ENCLUSTER_LOG` (default
/// `info,openraft=error`), one JSON object per line when `ENCLUSTER_LOG_FORMAT=json`,
/// else text, coloured only on a terminal (a journal or a file gets no escape codes).
fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("ENCLUSTER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=error"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match std::env::var("ENCLUSTER_LOG_FORMAT").as_deref() {
        Ok("json") => builder.json().init(),
        _ => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Agent { config } => {
            let config = agent::AgentConfig::load(&config)?;
            let shutdown = CancellationToken::new();
            tokio::spawn(stop_on_signal(shutdown.clone()));
            agent::node::run(config, shutdown).await
        }
        Command::Init(init) => run_init(init),
        Command::Join(join) => {
            let options = agent::setup::JoinOptions {
                server: join.server,
                token: join.token,
                dir: join.dir,
                addrs: agent::setup::NodeAddrs {
                    name: join.name,
                    peer_addr: join.peer_addr,
                    api_addr: join.api_addr,
                },
            };
            let config = agent::setup::join(&options).await?;
            let cli_config = config.with_file_name("cli.toml");
            println!(
                "joined; start the agent with:\n  encluster agent --config {}\n\
                 {} lists the cluster's API addresses for the CLI; add the admin token \
                 there or set ENCLUSTER_TOKEN",
                config.display(),
                cli_config.display()
            );
            Ok(())
        }
        Command::Demo { dir, base_ip } => demo::run(dir, base_ip).await,
        Command::ForceQuorum {
            config,
            yes_i_understand_the_risk,
        } => {
            let config = agent::AgentConfig::load(&config)?;
            agent::recovery::force_quorum(&config, yes_i_understand_the_risk).await
        }
        Command::Chat(command) => run_chat(command).await,
        Command::Cli(command) => cli::run(&args.api, command).await,
    }
}

async fn run_chat(command: ChatCommand) -> anyhow::Result<()> {
    match command {
        ChatCommand::Serve { listen, max_user } => {
            let max_user = chat::check_max_user(&max_user).map_err(anyhow::Error::msg)?;
            chat::serve(&listen, max_user)
                .await
                .map_err(anyhow::Error::msg)
        }
        ChatCommand::Connect { address } => {
            // Exit at once: the runtime would otherwise wait for the blocked stdin read.
            let code = match chat::connect(&address).await {
                Ok(()) => 0,
                Err(error) => {
                    eprintln!("error: {error}");
                    1
                }
            };
            std::process::exit(code)
        }
        ChatCommand::Reload => anyhow::bail!(
            "the chat server takes MaxUser through the application protocol and is not \
             connected to its agent; the instance restarts with the new value"
        ),
    }
}

fn run_init(init: InitArgs) -> anyhow::Result<()> {
    if !init.nodes.is_empty() {
        let mut addrs = Vec::new();
        for node in &init.nodes {
            let Some((name, ip)) = node.split_once('=') else {
                anyhow::bail!("--node {node:?}: expected NAME=IP, e.g. --node web1=10.0.0.1");
            };
            let ip: std::net::IpAddr = ip
                .parse()
                .map_err(|_| anyhow::anyhow!("--node {node:?}: {ip:?} is not an IP address"))?;
            addrs.push(agent::setup::NodeAddrs {
                name: name.to_string(),
                peer_addr: std::net::SocketAddr::new(ip, init.peer_port).to_string(),
                api_addr: std::net::SocketAddr::new(ip, init.api_port).to_string(),
            });
        }
        let output = agent::setup::init(&init.cluster_name, &init.dir, &addrs, init.voters_max)?;
        return print_init(&output);
    }
    let output = match init.local {
        Some(count) => agent::setup::init_local(&agent::setup::LocalOptions {
            cluster_name: init.cluster_name,
            dir: init.dir,
            count,
            base_ip: init.base_ip,
            peer_port: init.peer_port,
            api_port: init.api_port,
            voters_max: init.voters_max,
        })?,
        None => {
            let addrs = agent::setup::NodeAddrs {
                name: init.name,
                peer_addr: init.peer_addr,
                api_addr: init.api_addr,
            };
            agent::setup::init(&init.cluster_name, &init.dir, &[addrs], init.voters_max)?
        }
    };
    print_init(&output)
}

fn print_init(output: &agent::setup::InitOutput) -> anyhow::Result<()> {
    println!("cluster created");
    println!("admin token: {}", output.admin_token);
    println!("join token:  {}", output.join_token);
    println!(
        "CLI config:  {} (export ENCLUSTER_CLI_CONFIG=...)",
        output.cli_config.display()
    );
    for config in &output.configs {
        println!("start:       encluster agent --config {}", config.display());
    }
    Ok(())
}

/// Cancel `shutdown` on SIGINT or SIGTERM.
async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    shutdown.cancel();
}
