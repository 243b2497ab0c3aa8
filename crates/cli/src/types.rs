//! `encluster type list` and `encluster type show NAME`: the resource types and their
//! parameters, from `GET /v1/types`; rendered by pure functions pinned by snapshot tests.
//! User types are defined, changed and deleted by `user_types.rs`.

use crate::TypeCommand;
use crate::commands::Output;
use crate::config::Target;
use crate::errors::explain;
use crate::render::render_json;

/// Runs a `type` subcommand.
pub(crate) async fn run_type(
    client: &api::Client,
    target: &Target,
    command: TypeCommand,
) -> anyhow::Result<()> {
    let mut output = Output::stdout();
    match command {
        TypeCommand::List { json } => {
            let list = client.types().await.map_err(|e| explain(e, target))?;
            if json {
                output.text(&render_json(&list))
            } else {
                output.text(&render_type_list(&list))
            }
        }
        TypeCommand::Show { name, json } => {
            let detail = client
                .resource_type(&name)
                .await
                .map_err(|e| explain(e, target))?;
            if json {
                output.text(&render_json(&detail))
            } else if detail.class == "user" {
                output.text(&crate::user_types::render_user_type(&detail))
            } else {
                output.text(&render_type(&detail))
            }
        }
        // --- types ---
        TypeCommand::Create { name, define } => {
            crate::user_types::define(client, target, &name, &define, true).await
        }
        TypeCommand::Update { name, define } => {
            crate::user_types::define(client, target, &name, &define, false).await
        }
        TypeCommand::Delete { name } => crate::user_types::delete(client, target, &name).await,
    }
}

/// The type list: one line per type, name, class and description.
pub(crate) fn render_type_list(list: &api::TypeList) -> String {
    let width = list
        .types
        .iter()
        .map(|summary| summary.name.len())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for summary in &list.types {
        let line = format!(
            "{:width$}  {:7}  {}",
            summary.name, summary.class, summary.description
        );
        text.push_str(line.trim_end());
        text.push('\n');
    }
    let ocf = list.types.iter().filter(|t| t.class == "ocf").count();
    if ocf == 0 {
        text.push_str(&format!(
            "no OCF agents on node {} (in {}/resource.d)\n\
             for ocf:heartbeat:* types, install Debian's resource-agents package:\n  \
             apt install resource-agents\n",
            list.node, list.ocf_root
        ));
    } else {
        text.push_str(&format!(
            "{ocf} OCF agents installed on node {} (in {}/resource.d)\n",
            list.node, list.ocf_root
        ));
    }
    text.push_str("`encluster type show TYPE` shows a type's parameters\n");
    text
}

/// A type with each parameter on a line of facts and an indented description.
pub(crate) fn render_type(detail: &api::TypeDetail) -> String {
    let mut text = format!("{} ({})", detail.name, detail.class);
    if !detail.description.is_empty() {
        text.push_str(&format!(": {}", detail.description));
    }
    text.push('\n');
    if detail.parameters.is_empty() {
        text.push_str("parameters: none\n");
    } else {
        text.push_str("parameters:\n");
    }
    for parameter in &detail.parameters {
        text.push_str(&format!(
            "  {}  {}\n",
            parameter.name,
            parameter_facts(parameter)
        ));
        if !parameter.description.is_empty() {
            text.push_str(&format!("      {}\n", parameter.description));
        }
    }
    if !detail.actions.is_empty() {
        let actions: Vec<String> = detail.actions.iter().map(action_text).collect();
        text.push_str(&format!("actions: {}\n", actions.join(", ")));
    }
    text
}

fn parameter_facts(parameter: &api::TypeParameter) -> String {
    let mut facts = vec![match parameter.kind.as_str() {
        "enum" => format!("one of {}", parameter.choices.join("|")),
        kind => kind.replace('_', " "),
    }];
    match (parameter.min, parameter.max) {
        (Some(min), Some(max)) => facts.push(format!("{min} to {max}")),
        (Some(min), None) => facts.push(format!("at least {min}")),
        (None, Some(max)) => facts.push(format!("at most {max}")),
        (None, None) => {}
    }
    if parameter.required {
        facts.push("required".to_string());
    }
    match parameter.default.as_deref() {
        Some("") | None => {}
        Some(default) => facts.push(format!("default {default}")),
    }
    if parameter.unique {
        facts.push("unique".to_string());
    }
    if parameter.reloadable {
        facts.push("reloadable".to_string());
    }
    facts.join(", ")
}

fn action_text(action: &api::TypeAction) -> String {
    let mut details = Vec::new();
    if let Some(timeout) = &action.timeout {
        details.push(format!("timeout {timeout}"));
    }
    if let Some(interval) = action.interval.as_deref().filter(|i| *i != "0s") {
        details.push(format!("interval {interval}"));
    }
    if details.is_empty() {
        action.name.clone()
    } else {
        format!("{} ({})", action.name, details.join(" "))
    }
}
