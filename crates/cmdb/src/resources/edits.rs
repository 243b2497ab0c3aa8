//! In-place edits of groups and constraints (`Command::UpdateGroup`,
//! `Command::UpdateConstraint`): what `pcs resource group add|remove` and
//! `pcs constraint ... update` do to a CIB, without deleting what runs.
//!
//! An edit is checked exactly as a create is (`ResourceDb::try_config`: the whole
//! configuration after the edit must be valid) and changes nothing when it is refused. Its
//! refusal starts with the field of the spec at fault (`members: `, `first: `, `with: `),
//! so that the API and the UI can show it beside that field, and says how to fix it.
//!
//! An edit changes only the declared configuration: grants, fencing tokens and observed
//! states stay, so members that stay in a group keep running where they run. The
//! scheduler's normal rules do the rest: a removed member is placed on its own, an added
//! member starts after the members before it, and (Pacemaker's rule for every order) a
//! running member placed after one that starts is restarted after it.

use model::{ConfigError, Group, GroupId, ResourceId};

use super::{ResourceDb, StoredConstraint};
use crate::command::CommandResult;

impl ResourceDb {
    /// `UpdateGroup`: the existing group `group.id` gets `group`'s members, in its order.
    pub(crate) fn update_group(&mut self, group: Group) -> CommandResult {
        let Some(stored) = self.groups.get(&group.id) else {
            return CommandResult::Rejected(format!(
                "group {id} does not exist: create it with `encluster group create {id} \
                 MEMBER...`",
                id = group.id
            ));
        };
        if *stored == group {
            return CommandResult::Ok;
        }
        let id = group.id.clone();
        let result = self.try_config_explained(
            |db| {
                db.groups.insert(group.id.clone(), group);
            },
            |error| group_refusal(&id, error),
        );
        debug_assert!(
            self.groups.contains_key(&id),
            "an edit never removes the group it edits"
        );
        result
    }

    /// `UpdateConstraint`: the declared constraint equal to `old` becomes `new`, in its
    /// place in the list (the first one, if two are equal).
    pub(crate) fn update_constraint(
        &mut self,
        old: &StoredConstraint,
        new: StoredConstraint,
    ) -> CommandResult {
        let Some(position) = self.constraints.iter().position(|c| c == old) else {
            return CommandResult::Rejected(format!(
                "no constraint {old} is declared (it was changed or removed meanwhile): \
                 `encluster constraint list` shows the current ones"
            ));
        };
        let count = self.constraints.len();
        let edited = new.clone();
        let result = self.try_config_explained(
            |db| db.constraints[position] = new,
            |error| constraint_refusal(&edited, error),
        );
        debug_assert_eq!(
            self.constraints.len(),
            count,
            "an edit neither adds nor removes a constraint"
        );
        result
    }
}

// Each refusal is one problem for the operator: `; ` separates problems in the API's
// answers (the CLI lists them, the UI spreads them over the fields), so the fix follows
// the problem after `: `, never after `; `.

/// Why a group edit makes the configuration invalid, under `members`, with the fix.
fn group_refusal(group: &GroupId, error: ConfigError) -> String {
    match error {
        ConfigError::UnknownMember { resource, .. } => format!(
            "members: {resource} does not exist: create the resource first, or leave it out \
             of group {group}"
        ),
        ConfigError::EmptyGroup { .. } => format!(
            "members: group {group} needs at least one member: to ungroup them all, delete \
             the group (`encluster group delete {group}`)"
        ),
        ConfigError::MemberOfTwoGroups {
            resource,
            first,
            second,
        } if first == second => {
            format!("members: {resource} is listed twice: list each member once")
        }
        ConfigError::MemberOfTwoGroups {
            resource,
            first,
            second,
        } => {
            let other = if &first == group { second } else { first };
            format!(
                "members: {resource} is already in group {other}: take it out of that group \
                 first (`encluster group update {other} ...`), or leave it out of group \
                 {group}"
            )
        }
        ConfigError::CloneInGroup { resource, .. } => format!(
            "members: {resource} is a clone, and clones cannot be grouped: leave it out, or \
             tie it to the group with a colocation constraint"
        ),
        ConfigError::ColocationInGroup { resource, with, .. } => format!(
            "members: a colocation constraint already ties {resource} to {with}, and one \
             group cannot hold both: remove that constraint first (`encluster constraint \
             list` shows its id), or leave one of them out"
        ),
        other => format!(
            "members: with these members, {other}: leave out the member that causes it, or \
             change the constraints first"
        ),
    }
}

/// Why a constraint edit makes the configuration invalid, under the field at fault, with
/// the fix.
fn constraint_refusal(constraint: &StoredConstraint, error: ConfigError) -> String {
    // The fields of each kind of constraint: the dependent one, then the other one.
    let (first_field, second_field, first, second) = match constraint {
        StoredConstraint::Order(order) => ("first", "then", &order.first, Some(&order.then)),
        StoredConstraint::Colocation(colocation) => (
            "resource",
            "with",
            &colocation.resource,
            Some(&colocation.with),
        ),
        StoredConstraint::Location(location) => ("resource", "node", &location.resource, None),
    };
    let field_of = |name: &ResourceId| {
        if name == first || second != Some(name) {
            first_field
        } else {
            second_field
        }
    };
    match error {
        ConfigError::UnknownConstraintResource { resource } => format!(
            "{}: {resource} is neither a resource nor a group: create it first, or name \
             another",
            field_of(&resource)
        ),
        ConfigError::SelfConstraint { resource } => format!(
            "{second_field}: the constraint would relate {resource} to itself (a group \
             stands for its first or last member): name another resource"
        ),
        ConfigError::ColocationInGroup {
            resource,
            with,
            group,
        } => format!(
            "{second_field}: {resource} and {with} are both in group {group}, which already \
             keeps them on one node: colocate resources of different groups"
        ),
        ConfigError::ColocationCycle { cycle } => {
            let names: Vec<&str> = cycle.iter().map(|id| id.0.as_str()).collect();
            format!(
                "{second_field}: the colocations would form a loop ({}), which cannot be \
                 placed: name another resource",
                names.join(" -> ")
            )
        }
        other => format!("{first_field}: {other}: change the constraint to fix it"),
    }
}

#[cfg(test)]
mod tests;
