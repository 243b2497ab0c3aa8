//! User-defined resource types in the cluster database: creating, changing and deleting
//! them, and checking every resource of a user type against its stored schema.
//!
//! The checks are deterministic (they read only the replicated state), so every replica
//! refuses the same commands with the same reasons: a change of a type that would make
//! one of its resources invalid names each resource and problem, and a type in use is not
//! deleted.

use model::{Group, Resource, ResourceId, UserType};
use std::collections::BTreeMap;

use super::{ResourceDb, StoredConstraint};
use crate::command::{Command, CommandResult};
use crate::limits::USER_TYPES_MAX;

#[cfg(test)]
mod tests;

impl ResourceDb {
    /// Applies one of the commands about user types.
    pub(crate) fn apply_type_command(&mut self, command: Command) -> CommandResult {
        match command {
            Command::PutType { definition, create } => self.put_type(*definition, create),
            Command::DeleteType { name } => self.delete_type(&name),
            Command::ReplaceConfigWithTypes {
                types,
                resources,
                groups,
                constraints,
            } => self.replace_config_with_types(types, resources, groups, constraints),
            other => CommandResult::Rejected(format!("command {other} is not about types")),
        }
    }

    /// Create or replace a user type, re-validating every resource of it.
    pub(crate) fn put_type(&mut self, definition: UserType, create: bool) -> CommandResult {
        let name = definition.name.clone();
        let exists = self.types.contains_key(&name);
        if create && exists {
            return CommandResult::Rejected(format!(
                "type {name} already exists: change it with `encluster type update`"
            ));
        }
        if !create && !exists {
            return CommandResult::Rejected(format!(
                "type {name} does not exist: define it with `encluster type create`"
            ));
        }
        if let Err(reason) = self.admit_types(std::slice::from_ref(&definition)) {
            return CommandResult::Rejected(reason);
        }
        let mut candidate = self.clone();
        candidate.types.insert(name.clone(), definition);
        if let Err(reason) = candidate.check_typed_resources() {
            return CommandResult::Rejected(format!(
                "type {name} cannot change that way, it would make its resources invalid: \
                 {reason}"
            ));
        }
        *self = candidate;
        CommandResult::Ok
    }

    /// Delete a user type no resource uses.
    pub(crate) fn delete_type(&mut self, name: &str) -> CommandResult {
        if !self.types.contains_key(name) {
            return CommandResult::Rejected(format!("type {name} does not exist"));
        }
        let users = self.resources_of_type(name);
        if !users.is_empty() {
            let names: Vec<&str> = users.iter().map(|id| id.0.as_str()).collect();
            return CommandResult::Rejected(format!(
                "type {name} is used by {}: delete them or change their type first",
                names.join(", ")
            ));
        }
        self.types.remove(name);
        CommandResult::Ok
    }

    /// `apply -f` with types: the types first, then the declared configuration, checked
    /// together and applied all or nothing.
    pub fn replace_config_with_types(
        &mut self,
        types: Vec<UserType>,
        resources: Vec<Resource>,
        groups: Vec<Group>,
        constraints: Vec<StoredConstraint>,
    ) -> CommandResult {
        if let Err(reason) = self.admit_types(&types) {
            return CommandResult::Rejected(reason);
        }
        let mut candidate = self.clone();
        for definition in types {
            candidate.types.insert(definition.name.clone(), definition);
        }
        match candidate.replace_config(resources, groups, constraints) {
            CommandResult::Ok => {
                *self = candidate;
                CommandResult::Ok
            }
            other => other,
        }
    }

    /// `apply -f` that also sets which resources are promotable: as
    /// [`Self::replace_config_with_types`], then exactly `promotable` (each a clone, with
    /// its count), checked with the rest and applied all or nothing.
    pub fn replace_config_promotable(
        &mut self,
        types: Vec<UserType>,
        resources: Vec<Resource>,
        groups: Vec<Group>,
        constraints: Vec<StoredConstraint>,
        promotable: BTreeMap<ResourceId, u32>,
    ) -> CommandResult {
        let mut candidate = self.clone();
        match candidate.replace_config_with_types(types, resources, groups, constraints) {
            CommandResult::Ok => {}
            other => return other,
        }
        match candidate.try_config(|db| db.promotable = promotable) {
            CommandResult::Ok => {
                *self = candidate;
                CommandResult::Ok
            }
            other => other,
        }
    }

    /// The resources whose type is `name`, in id order.
    pub fn resources_of_type(&self, name: &str) -> Vec<ResourceId> {
        self.resources
            .values()
            .filter(|resource| resource.type_name == name)
            .map(|resource| resource.id.clone())
            .collect()
    }

    /// Checks new or changed definitions on their own and against the limit.
    fn admit_types(&self, types: &[UserType]) -> Result<(), String> {
        let mut problems = Vec::new();
        for definition in types {
            if let Err(found) = definition.check() {
                problems.push(format!("type {}: {}", definition.name, found.join("; ")));
            }
        }
        let new = types
            .iter()
            .filter(|definition| !self.types.contains_key(&definition.name))
            .count();
        if self.types.len() + new > USER_TYPES_MAX {
            problems.push(format!(
                "too many types (limit {USER_TYPES_MAX}): delete unused ones first"
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Every resource of a user type against its type's schema; each problem names its
    /// resource. Resources of other types are the API's to check.
    pub(crate) fn check_typed_resources(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        for resource in self.resources.values() {
            let Some(definition) = self.types.get(&resource.type_name) else {
                continue;
            };
            if let Err(errors) = definition.schema.validate(&resource.params) {
                for error in errors {
                    problems.push(format!("resource {}: {error}", resource.id));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}
