//! In-place edits (issue 14): `group update` and `constraint update`, which change a group
//! or a declared constraint without deleting it, as pcs's `resource group add|remove` and
//! `constraint ... update` do; the members that stay in a group keep running.
//!
//! The member list of `group update --add|--remove` and the messages are pure functions of
//! the API's answers, tested without an agent.

use crate::commands::Output;
use crate::errors::{explain, explain_invalid};
use crate::resource_args::{ConstraintAdd, constraint_spec};
use crate::resource_commands::{Session, constraint_text};

/// What `group update` asks for: a new member list, or members to add and remove.
pub(crate) struct GroupEdit {
    /// The group's name.
    pub(crate) name: String,
    /// The new members in start order (empty: edit the current ones).
    pub(crate) members: Vec<String>,
    /// Members to add at the end.
    pub(crate) add: Vec<String>,
    /// Members to take out.
    pub(crate) remove: Vec<String>,
}

/// `group update NAME ...`.
pub(crate) async fn update_group(session: &Session<'_>, edit: GroupEdit) -> anyhow::Result<()> {
    let client = session.client;
    if edit.members.is_empty() && edit.add.is_empty() && edit.remove.is_empty() {
        anyhow::bail!(
            "give the new members (`encluster group update {name} A B C`), or --add and \
             --remove",
            name = edit.name
        );
    }
    let config = client
        .config()
        .await
        .map_err(|error| explain(error, session.target))?;
    let current = config
        .groups
        .into_iter()
        .find(|group| group.name == edit.name)
        .map(|group| group.members);
    let members = if edit.members.is_empty() {
        let Some(current) = &current else {
            anyhow::bail!(
                "group {name} does not exist; create it with `encluster group create {name} \
                 MEMBER...`",
                name = edit.name
            );
        };
        edited_members(&edit.name, current, &edit.add, &edit.remove)?
    } else {
        edit.members
    };
    let spec = api::GroupSpec {
        name: edit.name.clone(),
        members,
    };
    let what = format!("the edit of group {}", edit.name);
    let stored = client
        .update_group(&edit.name, &spec)
        .await
        .map_err(|error| explain_invalid(error, session.target, &what))?;
    Output::stdout().line(&group_update_message(
        &edit.name,
        current.as_deref(),
        &stored.members,
    ))
}

/// The members after `--remove` and then `--add` (at the end, in the order given); a member
/// to remove must be in the group, one to add must not.
pub(crate) fn edited_members(
    name: &str,
    current: &[String],
    add: &[String],
    remove: &[String],
) -> anyhow::Result<Vec<String>> {
    let mut members = current.to_vec();
    for member in remove {
        let Some(position) = members.iter().position(|m| m == member) else {
            anyhow::bail!(
                "{member} is not a member of group {name} (its members: {})",
                current.join(", ")
            );
        };
        members.remove(position);
    }
    for member in add {
        if members.contains(member) {
            anyhow::bail!("{member} is already a member of group {name}");
        }
        members.push(member.clone());
    }
    Ok(members)
}

/// What `group update` did: the new member list, who joined and who left.
pub(crate) fn group_update_message(
    name: &str,
    before: Option<&[String]>,
    after: &[String],
) -> String {
    let mut parts = vec![format!(
        "updated group {name}: {} run together, started in this order",
        after.join(", ")
    )];
    let Some(before) = before else {
        return parts.remove(0);
    };
    let joined: Vec<&str> = after
        .iter()
        .filter(|m| !before.contains(m))
        .map(String::as_str)
        .collect();
    let left: Vec<&str> = before
        .iter()
        .filter(|m| !after.contains(m))
        .map(String::as_str)
        .collect();
    if !joined.is_empty() {
        parts.push(format!("{} joined", joined.join(", ")));
    }
    if !left.is_empty() {
        parts.push(format!("{} left, still a resource", left.join(", ")));
    }
    if after.iter().any(|m| before.contains(m)) {
        parts.push("the members that stayed keep running".to_owned());
    }
    parts.join("; ")
}

/// `constraint update ID ...`.
pub(crate) async fn update_constraint(
    session: &Session<'_>,
    id: &str,
    constraint: &ConstraintAdd,
) -> anyhow::Result<()> {
    let node = match constraint {
        ConstraintAdd::Location { node, .. } => session.resolve(Some(node)).await?.0,
        _ => None,
    };
    let spec = constraint_spec(constraint, node);
    let what = format!("the edit of constraint {id}");
    let view = session
        .client
        .update_constraint(id, &spec)
        .await
        .map_err(|error| explain_invalid(error, session.target, &what))?;
    Output::stdout().line(&format!(
        "updated {id}: {}; its id is now {}",
        constraint_text(&view.constraint),
        view.id
    ))
}
