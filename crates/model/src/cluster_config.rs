//! The declared cluster configuration (nodes, resources, groups, constraints), its
//! consistency checks, and the scheduler's whole input.
//!
//! Persisted in the Raft log. Maps are keyed by id and the key always equals the value's
//! own `id` field; [`ClusterConfig::validate`] checks this and every cross-reference.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use crate::{Constraint, Group, GroupId, Millis, NodeId, ObservedState, Resource, ResourceId};

mod cycles;
#[cfg(test)]
mod tests;

/// The most nodes a configuration may declare.
pub const NODE_COUNT_MAX: usize = 1_000;
/// The most resources a configuration may declare.
pub const RESOURCE_COUNT_MAX: usize = 100_000;
/// The most constraints a configuration may declare.
pub const CONSTRAINT_COUNT_MAX: usize = 200_000;

/// What the operator declared about one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeConfig {
    /// The node.
    pub id: NodeId,
    /// Standby: run nothing here; resources move off.
    #[serde(default)]
    pub standby: bool,
    /// Maintenance: leave the resources on this node exactly as they are, with no start, stop
    /// or recovery, and place nothing new here.
    #[serde(default)]
    pub maintenance: bool,
    /// How much of each named capacity (for example `memory`, `cpu`) the node offers; the
    /// summed utilization of its resources never exceeds it. A capacity the node does not
    /// name is unlimited.
    #[serde(default)]
    pub capacity: BTreeMap<String, u64>,
}

/// The whole declared configuration the scheduler places.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ClusterConfig {
    /// The nodes, by id.
    #[serde(default)]
    pub nodes: BTreeMap<NodeId, NodeConfig>,
    /// The resources, by id.
    #[serde(default)]
    pub resources: BTreeMap<ResourceId, Resource>,
    /// The groups, by id.
    #[serde(default)]
    pub groups: BTreeMap<GroupId, Group>,
    /// Order, colocation and location constraints. A constraint may name a group where it
    /// names a resource: see [`ClusterConfig::constraint_member`].
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    /// Resources the cluster leaves alone (Pacemaker's `is-managed=false`): they stay where
    /// they run, nothing starts, stops or recovers them.
    #[serde(default)]
    pub unmanaged: BTreeSet<ResourceId>,
    /// Promotable clones, with the most instances promoted at once (see
    /// [`crate::promotable`]).
    #[serde(default)]
    pub promotable: BTreeMap<ResourceId, u32>,
}

/// Which end of a group a constraint naming the group stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupEnd {
    /// The first member: where the group is placed, and what starts first.
    First,
    /// The last member: what the group's start ends with (an order's `first`).
    Last,
}

/// Everything the scheduler needs: it reads no clock, so `now` is part of the input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulerInput {
    /// What the operator declared.
    pub config: ClusterConfig,
    /// What the cluster observed.
    pub observed: ObservedState,
    /// The current time, in milliseconds since the Unix epoch.
    pub now: Millis,
}

/// Why a configuration is inconsistent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A map key differs from the value's own id.
    #[error("entry {key} holds {id}: the key must equal the id")]
    KeyMismatch { key: String, id: String },
    /// A collection is larger than its limit.
    #[error("too many {what}: {count} is above the maximum {max}")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    /// A group names a resource that does not exist.
    #[error("group {group}: member {resource} does not exist")]
    UnknownMember {
        group: GroupId,
        resource: ResourceId,
    },
    /// A group has no members.
    #[error("group {group} has no members")]
    EmptyGroup { group: GroupId },
    /// A resource is in two groups (or twice in one).
    #[error("resource {resource} is in both group {first} and group {second}")]
    MemberOfTwoGroups {
        resource: ResourceId,
        first: GroupId,
        second: GroupId,
    },
    /// A clone is in a group.
    #[error("group {group}: member {resource} is a clone, and clones cannot be grouped")]
    CloneInGroup {
        group: GroupId,
        resource: ResourceId,
    },
    /// A resource is both unique and a clone.
    #[error("resource {resource} cannot be both unique and a clone")]
    UniqueClone { resource: ResourceId },
    /// A constraint names a resource that does not exist.
    #[error("constraint names {resource}, which is neither a resource nor a group")]
    UnknownConstraintResource { resource: ResourceId },
    /// An order or colocation constraint relates a resource to itself.
    #[error("constraint relates {resource} to itself")]
    SelfConstraint { resource: ResourceId },
    /// Colocation constraints form a loop between groups or resources.
    #[error("colocation constraints form a cycle: {}", cycle_text(.cycle))]
    ColocationCycle { cycle: Vec<ResourceId> },
    /// A colocation relates two members of one group, which always share a node already.
    #[error("colocation of {resource} with {with}: group {group} already colocates them")]
    ColocationInGroup {
        resource: ResourceId,
        with: ResourceId,
        group: GroupId,
    },
    /// A promotable resource that is not a clone, or promotes none or too many.
    #[error("resource {resource} cannot be promotable: {reason}")]
    BadPromotable {
        resource: ResourceId,
        reason: String,
    },
}

impl ClusterConfig {
    /// Checks limits, keys and cross-references; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_count("nodes", self.nodes.len(), NODE_COUNT_MAX)?;
        check_count("resources", self.resources.len(), RESOURCE_COUNT_MAX)?;
        check_count("constraints", self.constraints.len(), CONSTRAINT_COUNT_MAX)?;
        for (key, node) in &self.nodes {
            check_key(key.to_string(), node.id.to_string())?;
        }
        for (key, resource) in &self.resources {
            check_key(key.to_string(), resource.id.to_string())?;
            if resource.unique && resource.clone.is_some() {
                return Err(ConfigError::UniqueClone {
                    resource: resource.id.clone(),
                });
            }
        }
        self.validate_groups()?;
        self.validate_promotable()?;
        self.validate_constraints()
    }

    fn validate_promotable(&self) -> Result<(), ConfigError> {
        let limit = crate::promotable::PROMOTED_MAX_LIMIT;
        for (id, promoted_max) in &self.promotable {
            let reason = match self.resources.get(id) {
                None => Some("it does not exist".to_owned()),
                Some(resource) if resource.clone.is_none() => {
                    Some("only a clone can be promotable: add --clone".to_owned())
                }
                Some(_) if !(1..=limit).contains(promoted_max) => Some(format!(
                    "promoted-max {promoted_max} is not from 1 to {limit}"
                )),
                Some(_) => None,
            };
            if let Some(reason) = reason {
                return Err(ConfigError::BadPromotable {
                    resource: id.clone(),
                    reason,
                });
            }
        }
        Ok(())
    }

    fn validate_groups(&self) -> Result<(), ConfigError> {
        let mut group_of: BTreeMap<&ResourceId, &GroupId> = BTreeMap::new();
        for (key, group) in &self.groups {
            check_key(key.to_string(), group.id.to_string())?;
            if group.members.is_empty() {
                return Err(ConfigError::EmptyGroup {
                    group: group.id.clone(),
                });
            }
            for member in &group.members {
                let Some(resource) = self.resources.get(member) else {
                    return Err(ConfigError::UnknownMember {
                        group: group.id.clone(),
                        resource: member.clone(),
                    });
                };
                if resource.clone.is_some() {
                    return Err(ConfigError::CloneInGroup {
                        group: group.id.clone(),
                        resource: member.clone(),
                    });
                }
                if let Some(first) = group_of.insert(member, &group.id) {
                    return Err(ConfigError::MemberOfTwoGroups {
                        resource: member.clone(),
                        first: first.clone(),
                        second: group.id.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    fn validate_constraints(&self) -> Result<(), ConfigError> {
        let group_of: BTreeMap<&ResourceId, &GroupId> = self
            .groups
            .values()
            .flat_map(|group| group.members.iter().map(move |member| (member, &group.id)))
            .collect();
        for constraint in &self.constraints {
            for resource in constraint.resources() {
                if self.constraint_member(resource, GroupEnd::First).is_none() {
                    return Err(ConfigError::UnknownConstraintResource {
                        resource: resource.clone(),
                    });
                }
            }
            let resolved = self.resolve_constraint(constraint);
            let constraint = &resolved;
            let named = constraint.resources();
            let distinct: BTreeSet<&ResourceId> = named.iter().copied().collect();
            if distinct.len() < named.len() {
                return Err(ConfigError::SelfConstraint {
                    resource: named[0].clone(),
                });
            }
            if let Constraint::Colocation(colocation) = constraint
                && let Some(&group) = group_of.get(&colocation.resource)
                && group_of.get(&colocation.with) == Some(&group)
            {
                return Err(ConfigError::ColocationInGroup {
                    resource: colocation.resource.clone(),
                    with: colocation.with.clone(),
                    group: group.clone(),
                });
            }
        }
        if let Some(cycle) = cycles::colocation_cycle(self) {
            return Err(ConfigError::ColocationCycle { cycle });
        }
        Ok(())
    }
}

impl ClusterConfig {
    /// The resource a constraint's name stands for: the resource of that name, or else the
    /// group of that name by its `end` member (a constraint on a member applies to the
    /// whole group). `None` if the name is neither.
    pub fn constraint_member<'a>(
        &'a self,
        name: &'a ResourceId,
        end: GroupEnd,
    ) -> Option<&'a ResourceId> {
        if self.resources.contains_key(name) {
            return Some(name);
        }
        let group = self.groups.get(&GroupId(name.0.clone()))?;
        match end {
            GroupEnd::First => group.members.first(),
            GroupEnd::Last => group.members.last(),
        }
    }

    /// The constraint with every group name replaced by the member it stands for: the
    /// first member for placement and for an order's `then`, the last for an order's
    /// `first` (the group has started when its last member has). Unknown names stay.
    pub fn resolve_constraint(&self, constraint: &Constraint) -> Constraint {
        let member = |name: &ResourceId, end: GroupEnd| -> ResourceId {
            self.constraint_member(name, end).unwrap_or(name).clone()
        };
        let mut resolved = constraint.clone();
        match &mut resolved {
            Constraint::Order(order) => {
                order.first = member(&order.first, GroupEnd::Last);
                order.then = member(&order.then, GroupEnd::First);
            }
            Constraint::Colocation(colocation) => {
                colocation.resource = member(&colocation.resource, GroupEnd::First);
                colocation.with = member(&colocation.with, GroupEnd::First);
            }
            Constraint::Location(location) => {
                location.resource = member(&location.resource, GroupEnd::First);
            }
        }
        resolved
    }
}

/// `a with b with a`, naming each unit by the resource (or group's first member) involved.
fn cycle_text(cycle: &[ResourceId]) -> String {
    let names: Vec<&str> = cycle.iter().map(|id| id.0.as_str()).collect();
    names.join(" -> ")
}

fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), ConfigError> {
    if count > max {
        return Err(ConfigError::TooMany { what, count, max });
    }
    Ok(())
}

fn check_key(key: String, id: String) -> Result<(), ConfigError> {
    if key != id {
        return Err(ConfigError::KeyMismatch { key, id });
    }
    Ok(())
}
