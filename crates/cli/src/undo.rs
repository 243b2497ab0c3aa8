//! Listing and undoing changes, as pcs does: `constraint list|remove`, `resource ban`,
//! `resource clear`, `resource unmanage|manage`, and `config export` (the declared cluster
//! as the file `apply -f` reads).
//!
//! The tables and texts are pure functions of the API's answers, tested without an agent.

use crate::commands::Output;
use crate::errors::explain;
use crate::render::{format_time, render_json};
use crate::resource_args::WaitArgs;
use crate::resource_commands::{Session, wait_if};
use crate::views::{NodeNames, node_label};
use crate::wait::Goal;

/// `constraint list`.
pub(crate) async fn list_constraints(session: &Session<'_>, json: bool) -> anyhow::Result<()> {
    let constraints = session
        .client
        .constraints()
        .await
        .map_err(|error| explain(error, session.target))?;
    let mut output = Output::stdout();
    if json {
        return output.text(&render_json(&constraints));
    }
    let names = session.names().await;
    output.text(&render_constraints(&constraints, &names))
}

/// The table of `constraint list`: id, origin, the constraint in words, expiry.
pub(crate) fn render_constraints(constraints: &[api::ConstraintView], names: &NodeNames) -> String {
    if constraints.is_empty() {
        return "no constraints, moves or bans\n".to_owned();
    }
    let rows: Vec<[String; 4]> = constraints
        .iter()
        .map(|view| {
            [
                view.id.clone(),
                view.origin.clone(),
                constraint_words(&view.constraint, names),
                view.expires_at_ms
                    .map_or_else(|| "-".to_owned(), format_time),
            ]
        })
        .collect();
    let header = ["ID", "ORIGIN", "CONSTRAINT", "EXPIRES"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// A constraint in a few words, with node names where known (`constraint add` says
/// the same in full).
fn constraint_words(spec: &api::ConstraintSpec, names: &NodeNames) -> String {
    match spec {
        api::ConstraintSpec::Location {
            resource,
            node,
            score,
        } => format!("{resource} on {} {score}", node_label(*node, names)),
        api::ConstraintSpec::Colocation {
            resource,
            with,
            score,
        } => format!("{resource} with {with} {score}"),
        api::ConstraintSpec::Order { first, then, kind } => {
            let kind = kind.as_deref().unwrap_or("mandatory");
            format!("{first} then {then} ({kind})")
        }
    }
}

/// `constraint remove ID`.
pub(crate) async fn remove_constraint(session: &Session<'_>, id: &str) -> anyhow::Result<()> {
    session
        .client
        .remove_constraint(id)
        .await
        .map_err(|error| explain(error, session.target))?;
    Output::stdout().line(&format!("removed constraint {id}"))
}

/// `resource ban NAME --node N [--for D]`.
pub(crate) async fn ban(
    session: &Session<'_>,
    name: &str,
    node: &str,
    for_duration: Option<&str>,
) -> anyhow::Result<()> {
    let (node, names) = session.resolve(Some(node)).await?;
    let node = node.expect("a node was given");
    let request = api::BanRequest {
        node,
        for_duration: for_duration.map(str::to_owned),
    };
    session
        .client
        .ban_resource(name, &request)
        .await
        .map_err(|error| explain(error, session.target))?;
    Output::stdout().line(&ban_message(name, node, for_duration, &names))
}

/// What `resource ban` says it did.
pub(crate) fn ban_message(
    name: &str,
    node: u64,
    for_duration: Option<&str>,
    names: &NodeNames,
) -> String {
    let until = match for_duration {
        Some(duration) => format!("for {duration}, or until `encluster resource clear {name}`"),
        None => format!("until `encluster resource clear {name}`"),
    };
    format!(
        "banned {name} from {}: it moves away and stays off {until}",
        node_label(node, names)
    )
}

/// `resource clear NAME [--node N]`.
pub(crate) async fn clear(
    session: &Session<'_>,
    name: &str,
    node: Option<&str>,
    wait: &WaitArgs,
) -> anyhow::Result<()> {
    let (node, _) = session.resolve(node).await?;
    let cleared = session
        .client
        .clear_resource(name, &api::ClearRequest { node })
        .await
        .map_err(|error| explain(error, session.target))?;
    Output::stdout().line(&clear_message(name, &cleared))?;
    let resources = vec![name.to_owned()];
    wait_if(session, &Goal::Placed { resources }, wait).await
}

/// What `resource clear` says it did.
pub(crate) fn clear_message(name: &str, cleared: &api::Cleared) -> String {
    if cleared.removed.is_empty() {
        return format!("{name} had no moves or bans to clear");
    }
    format!(
        "cleared {}: the scheduler places {name} freely again",
        cleared.removed.join(", ")
    )
}

/// `resource unmanage NAME` and `resource manage NAME`.
pub(crate) async fn set_managed(
    session: &Session<'_>,
    name: &str,
    managed: bool,
) -> anyhow::Result<()> {
    session
        .client
        .set_managed(name, managed)
        .await
        .map_err(|error| explain(error, session.target))?;
    let message = if managed {
        format!("resource {name} is managed again: encluster starts, stops and recovers it")
    } else {
        format!(
            "resource {name} is unmanaged: encluster leaves it where it runs and never \
            starts, stops or recovers it, until `encluster resource manage {name}`"
        )
    };
    Output::stdout().line(&message)
}

/// `config export`: the declared cluster as the TOML `apply -f` reads.
pub(crate) async fn export(session: &Session<'_>) -> anyhow::Result<()> {
    let spec = session
        .client
        .config()
        .await
        .map_err(|error| explain(error, session.target))?;
    Output::stdout().text(&crate::apply::render_cluster_file(&spec)?)
}
