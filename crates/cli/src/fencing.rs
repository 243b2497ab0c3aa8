//! `encluster fence add|list|show|remove|test` (fencing devices) and `encluster node fence
//! N` (issue 16). Rendering is pure and pinned by snapshot tests.

use std::collections::BTreeMap;

use anyhow::bail;
use comfy_table::{ContentArrangement, Table, presets};

use crate::commands::Output;
use crate::errors::explain;
use crate::render::render_json;
use crate::resource_commands::Session;

/// `encluster fence ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum FenceCommand {
    /// Add (or replace) a fencing device: a fence agent from the fence-agents package, its
    /// parameters (checked against its meta-data) and the nodes it covers.
    Add {
        /// Its name.
        name: String,
        /// The fence agent, e.g. fence_ipmilan (under /usr/sbin) or an absolute path.
        #[arg(long)]
        agent: String,
        /// The nodes it covers: node1,node2 or node1:plug1;node2:plug2.
        #[arg(long)]
        hosts: String,
        /// An agent parameter, e.g. --param ip=10.0.0.9 (repeat).
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Its fencing level, 1 (tried first, the default) to 9.
        #[arg(long)]
        level: Option<u32>,
        /// How long one call may take (default 20s).
        #[arg(long)]
        timeout: Option<String>,
        /// off (the default) or reboot.
        #[arg(long)]
        action: Option<String>,
    },
    /// The devices and the newest fencing attempts.
    List {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// A device with its agent's parameters.
    Show {
        /// Its name.
        name: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a device.
    Remove {
        /// Its name.
        name: String,
    },
    /// Ask the device whether it answers (the agent's monitor action, run on the master).
    Test {
        /// Its name.
        name: String,
    },
}

pub(crate) async fn run_fence(session: &Session<'_>, command: FenceCommand) -> anyhow::Result<()> {
    let client = session.client;
    let mut output = Output::stdout();
    match command {
        add @ FenceCommand::Add { .. } => {
            let spec = add_spec(add)?;
            client
                .put_fence_device(&spec)
                .await
                .map_err(|e| explain(e, session.target))?;
            output.line(&format!("fence device {} added", spec.name))
        }
        FenceCommand::List { json } => {
            let devices = client
                .fence_devices()
                .await
                .map_err(|e| explain(e, session.target))?;
            if json {
                return output.text(&render_json(&devices));
            }
            output.text(&render_devices(&devices))
        }
        FenceCommand::Show { name, json } => {
            let view = client
                .fence_device(&name)
                .await
                .map_err(|e| explain(e, session.target))?;
            if json {
                return output.text(&render_json(&view));
            }
            output.text(&render_device(&view))
        }
        FenceCommand::Remove { name } => {
            client
                .remove_fence_device(&name)
                .await
                .map_err(|e| explain(e, session.target))?;
            output.line(&format!("fence device {name} removed"))
        }
        FenceCommand::Test { name } => {
            let result = client
                .test_fence_device(&name)
                .await
                .map_err(|e| explain(e, session.target))?;
            if !result.ok {
                bail!("{}", result.detail);
            }
            output.line(&result.detail)
        }
    }
}

/// `encluster node fence N`: the master fences the node now.
pub(crate) async fn run_node_fence(session: &Session<'_>, node: &str) -> anyhow::Result<()> {
    let result = session
        .client
        .fence_node(node)
        .await
        .map_err(|e| explain(e, session.target))?;
    if !result.ok {
        bail!("fencing {node} failed: {}", result.detail);
    }
    Output::stdout().line(&format!("node {node} fenced: {}", result.detail))
}

/// The API's spec of `fence add`.
pub(crate) fn add_spec(command: FenceCommand) -> anyhow::Result<api::FenceDeviceSpec> {
    let FenceCommand::Add {
        name,
        agent,
        hosts,
        params,
        level,
        timeout,
        action,
    } = command
    else {
        bail!("not a `fence add` command");
    };
    let mut parsed = BTreeMap::new();
    for param in params {
        let Some((key, value)) = param.split_once('=') else {
            bail!("--param {param:?} is not KEY=VALUE");
        };
        parsed.insert(key.trim().to_string(), value.to_string());
    }
    Ok(api::FenceDeviceSpec {
        name,
        agent,
        hosts,
        params: parsed,
        level,
        timeout,
        action,
    })
}

/// The devices, then the history, as tables.
pub(crate) fn render_devices(devices: &api::FenceDevices) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(100)
        .set_header(["NAME", "AGENT", "LEVEL", "HOSTS", "ACTION", "TIMEOUT"]);
    for device in &devices.devices {
        table.add_row([
            device.name.clone(),
            device.agent.clone(),
            device.level.unwrap_or(1).to_string(),
            device.hosts.clone(),
            device.action.clone().unwrap_or_else(|| "off".into()),
            device.timeout.clone().unwrap_or_default(),
        ]);
    }
    let mut text = if devices.devices.is_empty() {
        "no fence devices; add one with `encluster fence add NAME --agent fence_... --hosts ...`\n"
            .to_string()
    } else {
        format!("{table}\n")
    };
    if !devices.history.is_empty() {
        let mut history = Table::new();
        history
            .load_style(presets::NOTHING)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(100)
            .set_header(["NODE", "REASON", "OUTCOME", "TOOK", "INCIDENT", "DETAIL"]);
        for record in &devices.history {
            let took = record
                .finished_at_ms
                .map(|end| format!("{} ms", end.saturating_sub(record.started_at_ms)))
                .unwrap_or_else(|| "-".into());
            history.add_row([
                record.node_name.clone(),
                record.reason.clone(),
                record.outcome.clone(),
                took,
                record.incident.map(|i| i.to_string()).unwrap_or_default(),
                record.detail.clone(),
            ]);
        }
        text.push_str(&format!("\nfencing history:\n{history}\n"));
    }
    text
}

/// One device with its agent's parameters.
pub(crate) fn render_device(view: &api::FenceDeviceView) -> String {
    let spec = &view.spec;
    let mut text = format!(
        "{}: {} ({}), level {}, action {}, timeout {}\nhosts: {}\n",
        spec.name,
        spec.agent,
        view.description,
        spec.level.unwrap_or(1),
        spec.action.as_deref().unwrap_or("off"),
        spec.timeout.as_deref().unwrap_or("-"),
        spec.hosts
    );
    for (key, value) in &spec.params {
        text.push_str(&format!("param {key}={value}\n"));
    }
    if !view.parameters.is_empty() {
        let mut table = Table::new();
        table
            .load_style(presets::NOTHING)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(100)
            .set_header(["PARAMETER", "REQUIRED", "DEFAULT", "DESCRIPTION"]);
        for parameter in &view.parameters {
            table.add_row([
                parameter.name.clone(),
                if parameter.required { "yes" } else { "no" }.to_string(),
                parameter.default.clone().unwrap_or_default(),
                parameter.description.clone(),
            ]);
        }
        text.push_str(&format!("{table}\n"));
    }
    text
}

#[cfg(test)]
mod tests;
