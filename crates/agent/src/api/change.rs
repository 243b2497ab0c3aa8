//! What a resource update does to the instances that run the resource: restart, reload,
//! options applied at once, or nothing until the next start. Decided here, on the server,
//! with `model::change_effect` (the executor's own rule), so the CLI, the REST API and the
//! dry run all give the same answer.

use ::api::ResourceChange;
use cmdb::ResourceDb;
use model::{ChangeEffect, ParamSchema, Resource, ResourceState, change_effect};

#[cfg(test)]
mod tests;

/// The schema of `type_name` on this node, if it can be read: it says what can reload.
pub(crate) async fn schema_of(type_name: &str) -> Option<ParamSchema> {
    if type_name == "lb" {
        return Some(crate::lb_agent::schema());
    }
    let agent = resource_agents::builtin(type_name, &super::spec::ocf_root()).ok()?;
    agent.meta().await.ok()
}

/// What replacing the stored definition of `new.id` by `new` does, given the type's schema
/// (of the stored type, which the instances run); `applied` says whether it is written.
pub(crate) fn describe(
    resources: &ResourceDb,
    schema: Option<&ParamSchema>,
    new: &Resource,
    applied: bool,
) -> ResourceChange {
    let id = &new.id;
    let effect = resources
        .resources
        .get(id)
        .map_or(ChangeEffect::Restart, |old| change_effect(schema, old, new));
    let nodes: Vec<u64> = resources
        .status
        .get(id)
        .into_iter()
        .flatten()
        .filter(|(_, status)| status.state == ResourceState::Running)
        .map(|(node, _)| node.0)
        .collect();
    let restart = effect == ChangeEffect::Restart && !nodes.is_empty();
    let group_restarts: Vec<String> = if restart {
        followers(resources, new)
    } else {
        Vec::new()
    };
    let will = if applied { "will" } else { "would" };
    let on = nodes
        .iter()
        .map(|node| format!("node {node}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (effect_name, summary) = match effect {
        ChangeEffect::None => ("none", format!("no change to {id}")),
        _ if nodes.is_empty() => (
            "not_running",
            format!("{id} is not running: the change takes effect at its next start"),
        ),
        ChangeEffect::Options => (
            "options",
            format!("options of {id} apply at once on {on}, without a restart"),
        ),
        ChangeEffect::Reload => ("reload", format!("{will} reload {id} on {on}")),
        ChangeEffect::Restart if group_restarts.is_empty() => {
            ("restart", format!("{will} restart {id} on {on}"))
        }
        ChangeEffect::Restart => (
            "restart",
            format!(
                "{will} restart {id} on {on} (and group members {} after it)",
                group_restarts.join(", ")
            ),
        ),
    };
    ResourceChange {
        effect: effect_name.to_owned(),
        nodes: if effect == ChangeEffect::None {
            Vec::new()
        } else {
            nodes
        },
        group_restarts,
        summary,
        applied,
    }
}

/// The members after `resource` in its group that run: a restart restarts them too, in
/// order, as Pacemaker does.
fn followers(resources: &ResourceDb, resource: &Resource) -> Vec<String> {
    let running = |member: &model::ResourceId| {
        resources
            .status
            .get(member)
            .is_some_and(|m| m.values().any(|s| s.state == ResourceState::Running))
    };
    resources
        .groups
        .values()
        .find_map(|group| {
            let index = group.members.iter().position(|m| *m == resource.id)?;
            Some(group.members[index + 1..].to_vec())
        })
        .unwrap_or_default()
        .into_iter()
        .filter(running)
        .map(|member| member.0)
        .collect()
}
