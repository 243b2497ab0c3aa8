//! `encluster lb`: virtual services are `lb` resources; these commands read them and edit
//! their server lists. The agent applies an edit to the running director at once, without
//! restarting its listener (in-flight connections finish).

use std::collections::BTreeMap;

use anyhow::bail;

use crate::commands::Output;
use crate::errors::explain;
use crate::resource_commands::Session;

/// `encluster lb ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum LbCommand {
    /// Virtual services (lb resources) with their listen address and where they run.
    List,
    /// One virtual service: its servers with weights and states.
    Show {
        /// The lb resource's name.
        name: String,
    },
    /// Change a service's real servers.
    #[command(subcommand)]
    Server(ServerCommand),
}

/// `encluster lb server ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum ServerCommand {
    /// Add a real server.
    Add {
        /// The lb resource.
        service: String,
        /// The server's name.
        server: String,
        /// host:port.
        addr: String,
        /// Weight (default 1).
        #[arg(long)]
        weight: Option<u32>,
    },
    /// Remove a real server (drain it first to let its connections finish).
    Remove {
        /// The lb resource.
        service: String,
        /// The server's name.
        server: String,
    },
    /// Stop sending new connections to a server; in-flight ones finish.
    Drain {
        /// The lb resource.
        service: String,
        /// The server's name.
        server: String,
    },
    /// Send new connections to a drained or disabled server again.
    Enable {
        /// The lb resource.
        service: String,
        /// The server's name.
        server: String,
    },
    /// Change a server's weight.
    Weight {
        /// The lb resource.
        service: String,
        /// The server's name.
        server: String,
        /// The new weight (0 takes no new connections).
        weight: u32,
    },
}

use model::servers::{pairs, split};

/// The table of `lb show`: one line per server.
pub fn render_service(view: &api::ResourceView) -> String {
    let params = &view.spec.params;
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    let weights: BTreeMap<String, String> = pairs(&get("weights")).into_iter().collect();
    let draining = split(&get("draining"));
    let disabled = split(&get("disabled"));
    let nodes: Vec<String> = running_nodes(view)
        .into_iter()
        .map(|node| node.to_string())
        .collect();
    let mut text = format!(
        "service {}  listen {}  protocol {}  algorithm {}  running on node {}\n",
        view.spec.name,
        get("listen"),
        params.get("protocol").map(String::as_str).unwrap_or("tcp"),
        params
            .get("algorithm")
            .map(String::as_str)
            .unwrap_or("round_robin"),
        if nodes.is_empty() {
            "-".to_string()
        } else {
            nodes.join(",")
        },
    );
    for (name, addr) in pairs(&get("servers")) {
        let state = if disabled.contains(&name) {
            "disabled"
        } else if draining.contains(&name) {
            "draining"
        } else {
            "active"
        };
        let weight = weights.get(&name).cloned().unwrap_or_else(|| "1".into());
        text.push_str(&format!(
            "  {name:<16} {addr:<24} weight {weight:<4} {state}\n"
        ));
    }
    text
}

/// Who directs each listen address: the nodes where a running resource whose `ip` parameter
/// is that address (a `vip` or an IPaddr2) holds it; `-` when none does.
pub fn render_directors(view: &api::ResourceView, all: &[api::ResourceView]) -> String {
    let listen = view.spec.params.get("listen").cloned().unwrap_or_default();
    let mut text = String::new();
    for address in split(&listen) {
        let ip = address
            .rsplit_once(':')
            .map_or(address.as_str(), |(ip, _)| ip)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let holders: Vec<String> = all
            .iter()
            .filter(|r| r.spec.params.get("ip").map(String::as_str) == Some(ip))
            .flat_map(|r| {
                running_nodes(r)
                    .into_iter()
                    .map(move |node| format!("node {node} ({})", r.spec.name))
            })
            .collect();
        let holders = if holders.is_empty() {
            "-".to_string()
        } else {
            holders.join(", ")
        };
        text.push_str(&format!("  director of {address}: {holders}\n"));
    }
    text
}

/// The nodes running a service, in order.
fn running_nodes(view: &api::ResourceView) -> Vec<u64> {
    let mut nodes: Vec<u64> = view
        .instances
        .iter()
        .filter(|i| i.state == "running")
        .map(|i| i.node)
        .collect();
    nodes.sort_unstable();
    nodes
}

/// The counters of `lb show`, from one node running the service.
pub fn render_stats(stats: &api::LbStats) -> String {
    let mut text = format!(
        "counters from node {}: connections {} total, {} active, {} refused; requests {}; \
         errors {}; bytes in {} out {}\n",
        stats.node,
        stats.connections_total,
        stats.connections_active,
        stats.connections_rejected,
        stats.requests_total,
        stats.errors_total,
        stats.bytes_in,
        stats.bytes_out,
    );
    for server in &stats.servers {
        let health = if server.healthy { "healthy" } else { "DOWN" };
        let drained = if server.drained {
            " (drained: safe to remove)"
        } else {
            ""
        };
        text.push_str(&format!(
            "  {:<16} {:<24} {:<8} {:<8} weight {:<3} active {:<4} total {:<6} errors {}{}\n",
            server.name,
            server.addr,
            server.state,
            health,
            server.weight,
            server.connections_active,
            server.connections_total,
            server.errors_total,
            drained,
        ));
    }
    text
}

/// Run an `lb` command.
pub(crate) async fn run_lb(session: &Session<'_>, command: LbCommand) -> anyhow::Result<()> {
    let client = session.client;
    let mut output = Output::stdout();
    match command {
        LbCommand::List => {
            let all = client
                .resources()
                .await
                .map_err(|e| explain(e, session.target))?;
            let services: Vec<_> = all.iter().filter(|r| r.spec.type_name == "lb").collect();
            if services.is_empty() {
                return output.line("no virtual services (create an lb resource)");
            }
            for view in &services {
                output.text(&render_service(view))?;
                output.text(&render_directors(view, &all))?;
            }
            Ok(())
        }
        LbCommand::Show { name } => {
            let view = client
                .resource(&name)
                .await
                .map_err(|e| explain(e, session.target))?;
            if view.spec.type_name != "lb" {
                bail!(
                    "{name} is a {} resource, not a virtual service (lb)",
                    view.spec.type_name
                );
            }
            let mut text = render_service(&view);
            if let Ok(all) = client.resources().await {
                text.push_str(&render_directors(&view, &all));
            }
            // Counters live on each node running the service (one director, or one per VIP
            // for a service with several); a stopped service has none to show.
            for node in running_nodes(&view) {
                if let Ok(stats) = client.lb_stats_on(&name, node).await {
                    text.push_str(&render_stats(&stats));
                }
            }
            output.text(&text)
        }
        LbCommand::Server(server) => {
            let updated = match &server {
                ServerCommand::Add {
                    service,
                    server,
                    addr,
                    weight,
                } => {
                    let request = api::NewServer {
                        server: server.clone(),
                        addr: addr.clone(),
                        weight: *weight,
                    };
                    client.add_server(service, &request).await
                }
                ServerCommand::Remove { service, server } => {
                    client.remove_server(service, server).await
                }
                ServerCommand::Drain { service, server } => {
                    let request = action(server, None);
                    client.server_action(service, "drain", &request).await
                }
                ServerCommand::Enable { service, server } => {
                    let request = action(server, None);
                    client.server_action(service, "enable", &request).await
                }
                ServerCommand::Weight {
                    service,
                    server,
                    weight,
                } => {
                    let request = action(server, Some(*weight));
                    client.server_action(service, "weight", &request).await
                }
            };
            let updated = updated.map_err(|e| explain(e, session.target))?;
            output.text(&render_service(&updated))
        }
    }
}

fn action(server: &str, weight: Option<u32>) -> api::ServerAction {
    api::ServerAction {
        server: server.to_string(),
        weight,
    }
}

#[cfg(test)]
mod tests;
