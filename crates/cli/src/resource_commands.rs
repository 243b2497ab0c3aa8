//! Running `resource`, `group`, `constraint`, `node standby|online|maintenance|ready` and
//! `explain`: build the request, call the API, print what happened, and `--wait` if asked.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::commands::Output;
use crate::config::Target;
use crate::errors::{explain, explain_invalid};
use crate::limits::WAIT_POLL_INTERVAL;
use crate::oplog::render_operations;
use crate::render::render_json;
use crate::resource_args::{
    ConstraintAdd, ConstraintCommand, GroupCommand, MoveArgs, ResourceCommand, ResourceOptionArgs,
    WaitArgs, constraint_spec, move_request, new_spec, resolve_node, update_spec,
};
use crate::views::{
    NodeNames, instance_phase, node_label, node_names, render_explanation, render_resource,
    render_resource_table,
};
use crate::wait::{Goal, WaitConfig, wait_for};

/// The API calls of one command, with errors explained against the target.
pub(crate) struct Session<'a> {
    pub(crate) client: &'a api::Client,
    pub(crate) target: &'a Target,
}

impl Session<'_> {
    /// Node names for labels; the labels only read better with them, so a failure is no error.
    pub(crate) async fn names(&self) -> NodeNames {
        match self.client.nodes().await {
            Ok(nodes) => node_names(&nodes),
            Err(_) => NodeNames::new(),
        }
    }

    /// Resolves `--to NODE` (id or name) and returns the node names as well.
    pub(crate) async fn resolve(
        &self,
        node: Option<&str>,
    ) -> anyhow::Result<(Option<u64>, NodeNames)> {
        let Some(node) = node else {
            return Ok((None, self.names().await));
        };
        let nodes = self
            .client
            .nodes()
            .await
            .map_err(|error| explain(error, self.target))?;
        Ok((Some(resolve_node(node, &nodes)?), node_names(&nodes)))
    }

    async fn wait(&self, goal: &Goal, names: &NodeNames, wait: &WaitArgs) -> anyhow::Result<()> {
        let config = WaitConfig {
            poll: WAIT_POLL_INTERVAL,
            timeout: wait.timeout,
        };
        wait_for(self.client, self.target, goal, names, config).await
    }
}

/// The wall clock in milliseconds since the Unix epoch, for failure ages.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// `resource ...`.
pub(crate) async fn run_resource(
    session: &Session<'_>,
    command: ResourceCommand,
) -> anyhow::Result<()> {
    match command {
        ResourceCommand::Create {
            name,
            type_name,
            options,
        } => {
            let spec = new_spec(&name, &type_name, &options);
            let what = format!("resource {name}");
            let view = session
                .client
                .create_resource(&spec)
                .await
                .map_err(|error| explain_invalid(error, session.target, &what))?;
            Output::stdout().line(&format!(
                "created resource {} ({})",
                view.spec.name, view.spec.type_name
            ))
        }
        ResourceCommand::Update {
            name,
            type_name,
            options,
            unset_param,
            dry_run,
        } => {
            let change = (options.as_ref(), unset_param.as_slice(), dry_run);
            update_resource(session, &name, type_name.as_deref(), change).await
        }
        ResourceCommand::Delete { name } => delete_resource(session, &name).await,
        ResourceCommand::Show { name, json } => show_resources(session, Some(&name), json).await,
        ResourceCommand::List { json } => show_resources(session, None, json).await,
        ResourceCommand::Move { name, target, wait } => {
            move_resource(session, &name, &target, &wait).await
        }
        ResourceCommand::Start { name, wait } => {
            role_action(session, RoleAction::Start, name, &wait).await
        }
        ResourceCommand::Stop { name, wait } => {
            role_action(session, RoleAction::Stop, name, &wait).await
        }
        ResourceCommand::Cleanup { name, wait } => {
            role_action(session, RoleAction::Cleanup, name, &wait).await
        }
        ResourceCommand::Log { name, json, stale } => {
            show_log(session, name.as_deref(), json, stale).await
        }
        ResourceCommand::Ban {
            name,
            node,
            for_duration,
        } => crate::undo::ban(session, &name, &node, for_duration.as_deref()).await,
        ResourceCommand::Clear { name, node, wait } => {
            crate::undo::clear(session, &name, node.as_deref(), &wait).await
        }
        ResourceCommand::Unmanage { name } => crate::undo::set_managed(session, &name, false).await,
        ResourceCommand::Manage { name } => crate::undo::set_managed(session, &name, true).await,
    }
}

/// `resource delete`: says where a running resource is stopped first, then deletes it.
async fn delete_resource(session: &Session<'_>, name: &str) -> anyhow::Result<()> {
    let view = session
        .client
        .resource(name)
        .await
        .map_err(|error| explain(error, session.target))?;
    let names = session.names().await;
    let mut output = Output::stdout();
    let running = active_nodes([&view]);
    if !running.is_empty() {
        output.line(&delete_message(name, &running, &names))?;
    }
    session
        .client
        .delete_resource(name)
        .await
        .map_err(|error| explain(error, session.target))?;
    output.line(&format!("deleted resource {name}"))
}

/// What `resource delete` says of a resource running on `nodes`.
pub(crate) fn delete_message(name: &str, nodes: &[u64], names: &NodeNames) -> String {
    let nodes: Vec<String> = nodes.iter().map(|node| node_label(*node, names)).collect();
    format!("stopping {name} on {}, then deleting", nodes.join(", "))
}

/// `resource log`: the operation log as a table or as the API's JSON.
async fn show_log(
    session: &Session<'_>,
    name: Option<&str>,
    json: bool,
    stale: bool,
) -> anyhow::Result<()> {
    let log = session
        .client
        .operations(name, stale)
        .await
        .map_err(|error| explain(error, session.target))?;
    let mut output = Output::stdout();
    if json {
        output.text(&render_json(&log))
    } else {
        output.text(&render_operations(&log.operations))
    }
}

/// `resource update`: read the current spec, change it as asked, write it back (unless a
/// dry run), and say what the server decided the change does to running instances.
async fn update_resource(
    session: &Session<'_>,
    name: &str,
    type_name: Option<&str>,
    (options, unset_params, dry_run): (&ResourceOptionArgs, &[String], bool),
) -> anyhow::Result<()> {
    let current = session
        .client
        .resource(name)
        .await
        .map_err(|error| explain(error, session.target))?;
    let spec = update_spec(current.spec, type_name, options, unset_params)?;
    let what = format!("the update of resource {name}");
    let update = session
        .client
        .update_resource_change(name, &spec, dry_run)
        .await
        .map_err(|error| explain_invalid(error, session.target, &what))?;
    let summary = &update.change.summary;
    match (dry_run, summary.is_empty()) {
        (true, _) => Output::stdout().line(&format!("dry run, nothing changed: {summary}")),
        (false, true) => Output::stdout().line(&format!("updated resource {name}")),
        (false, false) => Output::stdout().line(&format!("updated resource {name}: {summary}")),
    }
}

/// `resource show NAME` (with `name`) or `resource list`.
async fn show_resources(
    session: &Session<'_>,
    name: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let mut output = Output::stdout();
    let views = match name {
        Some(name) => session.client.resource(name).await.map(|view| vec![view]),
        None => session.client.resources().await,
    }
    .map_err(|error| explain(error, session.target))?;
    match (name, json) {
        (Some(_), true) => output.text(&render_json(&views[0])),
        (None, true) => output.text(&render_json(&views)),
        (Some(_), false) => {
            let names = session.names().await;
            output.text(&render_resource(&views[0], &names, now_ms()))
        }
        (None, false) => {
            let names = session.names().await;
            output.text(&render_resource_table(&views, &names, now_ms()))
        }
    }
}

/// The actions that change a resource's target role or failures, each with its goal.
#[derive(Clone, Copy, Debug)]
enum RoleAction {
    Start,
    Stop,
    Cleanup,
}

async fn role_action(
    session: &Session<'_>,
    action: RoleAction,
    name: String,
    wait: &WaitArgs,
) -> anyhow::Result<()> {
    let client = session.client;
    let result = match action {
        RoleAction::Start => client.start_resource(&name).await,
        RoleAction::Stop => client.stop_resource(&name).await,
        RoleAction::Cleanup => client.cleanup_resource(&name).await,
    };
    result.map_err(|error| explain(error, session.target))?;
    let (message, goal) = match action {
        RoleAction::Start => (
            format!("resource {name} may run again (target role started)"),
            Goal::Running { resource: name },
        ),
        RoleAction::Stop => (
            format!(
                "resource {name} stops and stays stopped until `encluster resource start {name}`"
            ),
            Goal::Stopped { resource: name },
        ),
        RoleAction::Cleanup => (
            format!("cleared the fail counts and failures of resource {name}"),
            Goal::Cleaned { resource: name },
        ),
    };
    Output::stdout().line(&message)?;
    wait_if(session, &goal, wait).await
}

pub(crate) async fn wait_if(
    session: &Session<'_>,
    goal: &Goal,
    wait: &WaitArgs,
) -> anyhow::Result<()> {
    if !wait.wait {
        return Ok(());
    }
    let names = session.names().await;
    session.wait(goal, &names, wait).await
}

/// The nodes where any of `views` may be active, which a move without `--to` leaves.
fn active_nodes<'a>(views: impl IntoIterator<Item = &'a api::ResourceView>) -> Vec<u64> {
    let mut nodes: Vec<u64> = views
        .into_iter()
        .flat_map(|view| &view.instances)
        .filter(|instance| instance_phase(instance).is_active())
        .map(|instance| instance.node)
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    nodes
}

/// The nodes where every member of a group is active: where the group runs.
///
/// The agent moves a group away from where its first member runs; members that ran apart
/// (just grouped) have no common node, and then any settled placement counts as moved.
pub(crate) fn group_nodes(members: &[api::ResourceView]) -> Vec<u64> {
    let mut common: Option<Vec<u64>> = None;
    for member in members {
        let nodes = active_nodes([member]);
        common = Some(match common {
            None => nodes,
            Some(common) => common
                .into_iter()
                .filter(|node| nodes.contains(node))
                .collect(),
        });
    }
    common.unwrap_or_default()
}

async fn move_resource(
    session: &Session<'_>,
    name: &str,
    args: &MoveArgs,
    wait: &WaitArgs,
) -> anyhow::Result<()> {
    let (to, names) = session.resolve(args.to.as_deref()).await?;
    // A move away from where it runs is only checkable against where it ran before.
    let before = match (wait.wait && !args.clear, to) {
        (true, None) => Some(
            session
                .client
                .resource(name)
                .await
                .map_err(|error| explain(error, session.target))?,
        ),
        _ => None,
    };
    let request = move_request(to, args.for_duration.as_deref(), args.clear);
    session
        .client
        .move_resource(name, &request)
        .await
        .map_err(|error| explain(error, session.target))?;
    let mut output = Output::stdout();
    let resources = vec![name.to_string()];
    if args.clear {
        output.line(&cleared_move_message("resource", name))?;
        return wait_if(session, &Goal::Placed { resources }, wait).await;
    }
    output.line(&move_message(
        "resource",
        name,
        to,
        args.for_duration.as_deref(),
        &names,
    ))?;
    if !wait.wait {
        return Ok(());
    }
    let goal = match to {
        Some(node) => Goal::RunningOn { resources, node },
        None => Goal::MovedAway {
            resources,
            from: active_nodes(before.as_ref()),
        },
    };
    session.wait(&goal, &names, wait).await
}

/// What `move` says it asked for.
pub(crate) fn move_message(
    kind: &str,
    name: &str,
    to: Option<u64>,
    for_duration: Option<&str>,
    names: &NodeNames,
) -> String {
    let place = match to {
        Some(node) => format!("moves to {}", node_label(node, names)),
        None => "moves away from where it runs".to_string(),
    };
    let lasting = match for_duration {
        Some(duration) => format!("; the preference expires after {duration}"),
        None => format!(
            "; the preference stays until `encluster {kind} move {name} --clear` \
            (a new move replaces it)"
        ),
    };
    format!("{kind} {name} {place}{lasting}")
}

/// What `move --clear` says it did.
pub(crate) fn cleared_move_message(kind: &str, name: &str) -> String {
    format!(
        "cleared the move of {kind} {name}: the scheduler places it where it would anyway \
        (bans stay; `encluster resource clear {name}` lifts them too)"
    )
}

/// `group ...`.
pub(crate) async fn run_group(session: &Session<'_>, command: GroupCommand) -> anyhow::Result<()> {
    let client = session.client;
    let mut output = Output::stdout();
    match command {
        GroupCommand::Create { name, members } => {
            let spec = api::GroupSpec {
                name: name.clone(),
                members: members.clone(),
            };
            let what = format!("group {name}");
            client
                .create_group(&spec)
                .await
                .map_err(|error| explain_invalid(error, session.target, &what))?;
            output.line(&format!(
                "created group {name}: {} run together, started in this order",
                members.join(", ")
            ))
        }
        GroupCommand::Update {
            name,
            members,
            add,
            remove,
        } => {
            let edit = crate::edits::GroupEdit {
                name,
                members,
                add,
                remove,
            };
            crate::edits::update_group(session, edit).await
        }
        GroupCommand::Delete { name } => {
            client
                .delete_group(&name)
                .await
                .map_err(|error| explain(error, session.target))?;
            output.line(&format!(
                "deleted group {name}; its members stay as resources"
            ))
        }
        GroupCommand::Move { name, target, wait } => {
            move_group(session, &name, &target, &wait).await
        }
    }
}

async fn move_group(
    session: &Session<'_>,
    name: &str,
    args: &MoveArgs,
    wait: &WaitArgs,
) -> anyhow::Result<()> {
    let (to, names) = session.resolve(args.to.as_deref()).await?;
    let members: Vec<api::ResourceView> = if wait.wait {
        let views = session
            .client
            .resources()
            .await
            .map_err(|error| explain(error, session.target))?;
        views
            .into_iter()
            .filter(|view| view.group.as_deref() == Some(name))
            .collect()
    } else {
        Vec::new()
    };
    let request = move_request(to, args.for_duration.as_deref(), args.clear);
    session
        .client
        .move_group(name, &request)
        .await
        .map_err(|error| explain(error, session.target))?;
    let mut output = Output::stdout();
    if args.clear {
        output.line(&cleared_move_message("group", name))?;
        let resources: Vec<String> = members.iter().map(|view| view.spec.name.clone()).collect();
        return wait_if(session, &Goal::Placed { resources }, wait).await;
    }
    output.line(&move_message(
        "group",
        name,
        to,
        args.for_duration.as_deref(),
        &names,
    ))?;
    if !wait.wait {
        return Ok(());
    }
    let resources: Vec<String> = members.iter().map(|view| view.spec.name.clone()).collect();
    let goal = match to {
        Some(node) => Goal::RunningOn { resources, node },
        None => Goal::MovedAway {
            resources,
            from: group_nodes(&members),
        },
    };
    session.wait(&goal, &names, wait).await
}

/// `constraint add|list|update|remove ...`.
pub(crate) async fn run_constraint(
    session: &Session<'_>,
    command: ConstraintCommand,
) -> anyhow::Result<()> {
    let add = match command {
        ConstraintCommand::Add(add) => add,
        ConstraintCommand::List { json } => {
            return crate::undo::list_constraints(session, json).await;
        }
        ConstraintCommand::Remove { id } => {
            return crate::undo::remove_constraint(session, &id).await;
        }
        ConstraintCommand::Update { id, constraint } => {
            return crate::edits::update_constraint(session, &id, &constraint).await;
        }
    };
    let node = match &add {
        ConstraintAdd::Location { node, .. } => session.resolve(Some(node)).await?.0,
        _ => None,
    };
    let spec = constraint_spec(&add, node);
    session
        .client
        .add_constraint(&spec)
        .await
        .map_err(|error| explain_invalid(error, session.target, "the constraint"))?;
    Output::stdout().line(&format!("added {}", constraint_text(&spec)))
}

/// A constraint in words.
pub(crate) fn constraint_text(spec: &api::ConstraintSpec) -> String {
    match spec {
        api::ConstraintSpec::Order { first, then, kind } => {
            let kind = kind.as_deref().unwrap_or("mandatory");
            format!("{kind} order: {first} starts before {then}, {then} stops before {first}")
        }
        api::ConstraintSpec::Colocation {
            resource,
            with,
            score,
        } => format!("colocation: {resource} with {with}, score {score}"),
        api::ConstraintSpec::Location {
            resource,
            node,
            score,
        } => format!("location: {resource} on node {node}, score {score}"),
    }
}

/// `node standby|online|maintenance|ready ID`.
pub(crate) async fn run_node_mode(
    session: &Session<'_>,
    id: u64,
    mode: &str,
    wait: &WaitArgs,
) -> anyhow::Result<()> {
    let request = api::NodeModeRequest {
        mode: mode.to_string(),
    };
    session
        .client
        .set_node_mode(id, &request)
        .await
        .map_err(|error| explain(error, session.target))?;
    let names = session.names().await;
    Output::stdout().line(&node_mode_message(id, mode, &names))?;
    if mode == "standby" && wait.wait {
        return session
            .wait(&Goal::Drained { node: id }, &names, wait)
            .await;
    }
    Ok(())
}

/// What a node mode change means for its resources.
pub(crate) fn node_mode_message(id: u64, mode: &str, names: &NodeNames) -> String {
    let node = node_label(id, names);
    match mode {
        "standby" => format!(
            "{node} is in standby: its resources move away; `encluster node online {id}` ends it"
        ),
        "online" => format!("{node} is online: it may run resources again"),
        "maintenance" => format!(
            "{node} is in maintenance: encluster leaves its resources alone until \
            `encluster node ready {id}`"
        ),
        _ => format!("{node} is {mode}: encluster manages its resources again"),
    }
}

/// `explain NAME`.
pub(crate) async fn run_explain(session: &Session<'_>, name: &str) -> anyhow::Result<()> {
    let explanation = session
        .client
        .explain_resource(name)
        .await
        .map_err(|error| explain(error, session.target))?;
    let names = session.names().await;
    Output::stdout().text(&render_explanation(&explanation, &names))
}
