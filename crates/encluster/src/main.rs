//! The single `encluster` binary: the agent, cluster setup, the demo and the CLI.
//!
//! Thin on purpose: parsing arguments and mapping errors to exit codes; the work is in
//! the `agent` and `cli` crates.

mod demo;
mod samples;

use std::process::ExitCode;

use clap::Parser;
use encluster::args::{Args, ChatCommand, Command, InitArgs, WitnessCommand};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    if let Command::Agent { config } = &args.command
        && let Ok(config) = agent::AgentConfig::load(config)
    {
        // Before the runtime's threads exist: they inherit this thread's priority. A
        // config that does not load is reported by `run`.
        agent::node::raise_priority(&config);
    }
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
            agent::upgrade::set_version(encluster::args::VERSION);
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
        Command::Witness(WitnessCommand::Add { out }) => cli::witness::add(&args.api, &out).await,
        Command::Witness(WitnessCommand::Serve { dir, listen }) => {
            serve_witness(&dir, &listen).await
        }
    }
}

/// `encluster witness serve`: until SIGTERM or SIGINT.
async fn serve_witness(dir: &std::path::Path, listen: &str) -> anyhow::Result<()> {
    let witness = agent::witness::server::Witness::load(dir)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {listen}: {error}"))?;
    tracing::info!(%listen, clusters = ?witness.clusters(), "Witness serving");
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    agent::witness::server::serve(witness, listener, shutdown).await
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
