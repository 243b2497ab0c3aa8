//! The promote, demote and notify programs of user-defined types (`ClusterDb::type_roles`,
//! cluster format 3): kept in a table of their own beside `ResourceDb::types`, because a
//! new field inside `model::UserType` would change the layout of every record that holds
//! a type (`PutType`, `ReplaceConfigWithTypes`, `ReplaceConfigPromotable` and snapshots).
//!
//! `PutTypeWithRoles` and `ReplaceConfigWithRoles` set a type and its programs in one
//! entry; the older type commands define a type without programs, so they remove the
//! programs of the types they define, and `DeleteType` those of the type it deletes.

use std::collections::BTreeMap;

use model::{Group, Resource, ResourceId, RolePrograms, UserType};

use crate::command::{Command, CommandResult};
use crate::db::ClusterDb;
use crate::resources::StoredConstraint;

#[cfg(test)]
mod tests;

/// What `ReplaceConfigWithRoles` carries.
pub(crate) struct ConfigWithRoles {
    pub(crate) types: Vec<UserType>,
    pub(crate) roles: BTreeMap<String, RolePrograms>,
    pub(crate) resources: Vec<Resource>,
    pub(crate) groups: Vec<Group>,
    pub(crate) constraints: Vec<StoredConstraint>,
    pub(crate) promotable: BTreeMap<ResourceId, u32>,
}

/// The types an older type command defines or deletes, whose programs go with it.
pub(crate) fn types_replaced(command: &Command) -> Vec<String> {
    match command {
        Command::PutType { definition, .. } => vec![definition.name.clone()],
        Command::DeleteType { name } => vec![name.clone()],
        Command::ReplaceConfigWithTypes { types, .. }
        | Command::ReplaceConfigPromotable { types, .. } => types
            .iter()
            .map(|definition| definition.name.clone())
            .collect(),
        _ => Vec::new(),
    }
}

/// Every problem of `roles` as the programs of `definition`, named by the type.
fn check_roles(definition: &UserType, roles: &RolePrograms) -> Result<(), String> {
    roles
        .check(definition)
        .map_err(|problems| format!("type {}: {}", definition.name, problems.join("; ")))
}

impl ClusterDb {
    /// The role programs of the user type `name` (empty if it has none).
    pub fn roles_of(&self, name: &str) -> RolePrograms {
        self.type_roles.get(name).cloned().unwrap_or_default()
    }

    /// Every user type with its role programs, by name.
    pub fn types_with_roles(&self) -> Vec<model::TypeWithRoles> {
        self.resources
            .types
            .values()
            .map(|definition| model::TypeWithRoles {
                definition: definition.clone(),
                roles: self.roles_of(&definition.name),
            })
            .collect()
    }

    /// `PutTypeWithRoles`: the type as `PutType` sets it, then its programs.
    pub(crate) fn put_type_with_roles(
        &mut self,
        definition: UserType,
        roles: RolePrograms,
        create: bool,
    ) -> CommandResult {
        if let Err(reason) = check_roles(&definition, &roles) {
            return CommandResult::Rejected(reason);
        }
        let name = definition.name.clone();
        let result = self.resources.put_type(definition, create);
        if result == CommandResult::Ok {
            self.set_roles(name, roles);
        }
        result
    }

    /// `ReplaceConfigWithRoles`: `ReplaceConfigPromotable`, then every listed type's
    /// programs; checked first, so a refusal changes nothing.
    pub(crate) fn replace_config_with_roles(&mut self, config: ConfigWithRoles) -> CommandResult {
        let ConfigWithRoles {
            types,
            mut roles,
            resources,
            groups,
            constraints,
            promotable,
        } = config;
        let mut problems = Vec::new();
        for name in roles.keys() {
            if !types.iter().any(|definition| definition.name == *name) {
                problems.push(format!(
                    "type {name}: role programs for a type the file does not define"
                ));
            }
        }
        for definition in &types {
            if let Some(programs) = roles.get(&definition.name)
                && let Err(reason) = check_roles(definition, programs)
            {
                problems.push(reason);
            }
        }
        if !problems.is_empty() {
            return CommandResult::Rejected(problems.join("; "));
        }
        let names: Vec<String> = types.iter().map(|t| t.name.clone()).collect();
        let result = self.resources.replace_config_promotable(
            types,
            resources,
            groups,
            constraints,
            promotable,
        );
        if result == CommandResult::Ok {
            for name in names {
                let programs = roles.remove(&name).unwrap_or_default();
                self.set_roles(name, programs);
            }
        }
        result
    }

    fn set_roles(&mut self, name: String, roles: RolePrograms) {
        if roles.is_empty() {
            self.type_roles.remove(&name);
        } else {
            self.type_roles.insert(name, roles);
        }
    }
}
