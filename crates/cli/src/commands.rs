//! Running one CLI command: connect, call the API, print the rendered answer.

use std::io::Write;

use anyhow::Context;

use crate::apply::run_apply;
use crate::config::{Target, connect_target};
use crate::errors::explain;
use crate::events::run_events;
use crate::render::{render_json, render_nodes};
use crate::resource_args::WaitArgs;
use crate::resource_commands::{
    Session, run_constraint, run_explain, run_group, run_node_mode, run_resource,
};
use crate::status::render_status;
use crate::{ApiArgs, CliCommand, KvCommand, NodeCommand, TokenCommand};

/// Runs `command` against the API that `api` resolves to.
///
/// Errors name the problem and its fix; the caller prints them and exits non-zero.
pub async fn run(api: &ApiArgs, command: CliCommand) -> anyhow::Result<()> {
    let (client, target) = connect_target(api)?;
    let mut output = Output::stdout();
    match command {
        CliCommand::Status { json, full } => {
            let status = client
                .status()
                .await
                .map_err(|error| explain(error, &target))?;
            let text = if json {
                render_json(&status)
            } else {
                render_status(&status, crate::resource_commands::now_ms(), full)
            };
            output.text(&text)
        }
        CliCommand::Token(TokenCommand::Join { label, count }) => {
            let mut tokens = Vec::new();
            for _ in 0..count {
                tokens.push(issue_join_token(&client, &target, &label).await?);
            }
            output.line(&tokens.join("\n"))
        }
        CliCommand::Token(TokenCommand::Admin { label }) => {
            let token = auth::generate_api_token();
            let request = api::NewJoinToken {
                hash: auth::token_hash(&token),
                label,
            };
            client
                .add_admin_token(&request)
                .await
                .map_err(|error| explain(error, &target))?;
            output.line(&token)
        }
        CliCommand::Token(TokenCommand::Create { role, label }) => {
            let token = crate::users::create_token(&client, &target, &role, &label).await?;
            output.line(&token)
        }
        CliCommand::User(command) => crate::users::run_user(&client, &target, command).await,
        // --- rotate ---
        CliCommand::Cert(command) => crate::certs::run_cert(&client, &target, command).await,
        CliCommand::Token(TokenCommand::List { json }) => {
            crate::certs::list_tokens(&client, &target, json).await
        }
        CliCommand::Token(TokenCommand::Revoke {
            label,
            hash,
            all_join,
        }) => {
            let request = api::RevokeTokens {
                label,
                hash,
                all_join,
            };
            crate::certs::revoke_tokens(&client, &target, request).await
        }
        CliCommand::Token(TokenCommand::Rotate { label }) => {
            crate::certs::rotate_token(&client, &target, label).await
        }
        CliCommand::Node(NodeCommand::List { json }) => {
            let nodes = client
                .nodes()
                .await
                .map_err(|error| explain(error, &target))?;
            let text = if json {
                render_json(&nodes)
            } else {
                render_nodes(&nodes)
            };
            output.text(&text)
        }
        CliCommand::Node(NodeCommand::Remove { node }) => {
            remove_node(&client, &target, &node, &mut output).await
        }
        CliCommand::Type(command) => crate::types::run_type(&client, &target, command).await,
        CliCommand::Events { follow, json, last } => {
            run_events(&client, &target, follow, json, last).await
        }
        CliCommand::Kv(KvCommand::Get { key, stale }) => {
            let value = client
                .kv_get(&key, stale)
                .await
                .map_err(|error| explain(error, &target))?;
            output.line(&value.value)
        }
        CliCommand::Kv(KvCommand::Put { key, value }) => {
            let written = client
                .kv_put(&key, &value)
                .await
                .map_err(|error| explain(error, &target))?;
            output.line(&written.revision.to_string())
        }
        command => run_resources(&client, &target, command).await,
    }
}

/// The resource commands, and node modes, which change where resources run.
async fn run_resources(
    client: &api::Client,
    target: &Target,
    command: CliCommand,
) -> anyhow::Result<()> {
    let session = Session { client, target };
    let no_wait = WaitArgs::default();
    match command {
        CliCommand::Resource(command) => run_resource(&session, command).await,
        CliCommand::Group(command) => run_group(&session, command).await,
        CliCommand::Constraint(command) => run_constraint(&session, command).await,
        CliCommand::Apply { file, dry_run, yes } => {
            run_apply(client, target, &file, dry_run, yes).await
        }
        CliCommand::Explain { name } => run_explain(&session, &name).await,
        CliCommand::Config(crate::ConfigCommand::Export) => crate::undo::export(&session).await,
        CliCommand::Lb(command) => crate::lb::run_lb(&session, command).await,
        CliCommand::Metrics(command) => crate::metrics::run_metrics(&session, command).await,
        CliCommand::Incidents { json } => crate::alerts::run_incidents(&session, json).await,
        CliCommand::Alert(command) => crate::alerts::run_alert(&session, command).await,
        // --- fence ---
        CliCommand::Fence(command) => crate::fencing::run_fence(&session, command).await,
        CliCommand::Node(NodeCommand::Fence { node }) => {
            crate::fencing::run_node_fence(&session, &node).await
        }
        CliCommand::Node(NodeCommand::Standby { node, wait }) => {
            let id = resolve_node_id(client, target, &node).await?;
            run_node_mode(&session, id, "standby", &wait).await
        }
        CliCommand::Node(NodeCommand::Online { node }) => {
            let id = resolve_node_id(client, target, &node).await?;
            run_node_mode(&session, id, "online", &no_wait).await
        }
        CliCommand::Node(NodeCommand::Maintenance { node }) => {
            let id = resolve_node_id(client, target, &node).await?;
            run_node_mode(&session, id, "maintenance", &no_wait).await
        }
        CliCommand::Node(NodeCommand::Ready { node }) => {
            let id = resolve_node_id(client, target, &node).await?;
            run_node_mode(&session, id, "ready", &no_wait).await
        }
        CliCommand::Status { .. }
        | CliCommand::Token(_)
        | CliCommand::Node(NodeCommand::List { .. } | NodeCommand::Remove { .. })
        | CliCommand::Events { .. }
        | CliCommand::Type(_)
        | CliCommand::User(_)
        | CliCommand::Cert(_)
        | CliCommand::Kv(_) => unreachable!("`run` handles the cluster-core commands itself"),
    }
}

/// The id of the node `text` names (`node2` or `2`), resolved with the shared parser
/// against the cluster's node list, as `--to` is.
async fn resolve_node_id(client: &api::Client, target: &Target, text: &str) -> anyhow::Result<u64> {
    let nodes = client
        .nodes()
        .await
        .map_err(|error| explain(error, target))?;
    crate::resource_args::resolve_node(text, &nodes)
}

/// Removes a node, naming it in the message when the node list is available.
async fn remove_node(
    client: &api::Client,
    target: &Target,
    text: &str,
    output: &mut Output,
) -> anyhow::Result<()> {
    // A removed node may be in the Raft membership only, so an id that is not in the node
    // list still goes to the API, which says whether it is a member.
    let nodes = client.nodes().await.unwrap_or_default();
    let id = match crate::resource_args::resolve_node(text, &nodes) {
        Ok(id) => id,
        Err(unknown) => text.trim().parse::<u64>().map_err(|_| unknown)?,
    };
    let name = nodes
        .into_iter()
        .find(|node| node.id == id)
        .map(|node| node.name);
    client
        .remove_node(id)
        .await
        .map_err(|error| explain(error, target))?;
    output.line(&removed_message(id, name.as_deref()))
}

/// Makes a join token that pins the cluster CA (as fetched over the verified connection),
/// stores its hash through the API, and returns the token to print once.
async fn issue_join_token(
    client: &api::Client,
    target: &Target,
    label: &str,
) -> anyhow::Result<String> {
    let ca = client.ca().await.map_err(|error| explain(error, target))?;
    let fingerprint = auth::fingerprint_pem(&ca.ca_pem)
        .context("the cluster CA the agent sent is not a certificate")?;
    let token = auth::generate_join_token(&fingerprint);
    let request = api::NewJoinToken {
        hash: auth::token_hash(&token),
        label: label.to_string(),
    };
    client
        .add_join_token(&request)
        .await
        .map_err(|error| explain(error, target))?;
    Ok(token)
}

pub(crate) fn removed_message(id: u64, name: Option<&str>) -> String {
    let node = match name {
        Some(name) => format!("node {id} ({name})"),
        None => format!("node {id}"),
    };
    format!("removed {node} from the cluster; stop its agent if it still runs")
}

/// Standard output that treats a closed pipe (`encluster events | head`) as a normal end.
pub(crate) struct Output {
    stdout: std::io::Stdout,
    closed: bool,
}

impl Output {
    pub(crate) fn stdout() -> Output {
        Output {
            stdout: std::io::stdout(),
            closed: false,
        }
    }

    /// Whether the reader went away, so `--follow` can stop.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Writes `line` and a newline, flushed so `--follow` shows events at once.
    pub(crate) fn line(&mut self, line: &str) -> anyhow::Result<()> {
        self.text(&format!("{line}\n"))
    }

    /// Writes `text` as is.
    pub(crate) fn text(&mut self, text: &str) -> anyhow::Result<()> {
        if self.closed {
            return Ok(());
        }
        let mut lock = self.stdout.lock();
        let result = lock.write_all(text.as_bytes()).and_then(|()| lock.flush());
        match result {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other.context("cannot write to standard output"),
        }
    }
}
