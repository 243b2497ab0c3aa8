//! Promotable resources: a clone (named in `ClusterConfig::promotable`) of which at most
//! `promoted_max` instances are promoted at once (Pacemaker's promotable clones, with its
//! `promote`, `demote` and promotion scores).
//!
//! Each promoted role is scheduled as a unique resource of its own, the *role* (`db:promoted`
//! for the first of `db`'s roles, `db:promoted:1` for the second): a grant with a fencing
//! token, started (promoted) only while its node holds a valid lease, stopped (demoted) by
//! the node itself before the lease ends, and granted elsewhere only once the old holder is
//! confirmed demoted or its lease is over. So "never two promoted instances" is the unique
//! resource rule, checked by the same simulator invariant and audit. A role may go only to a
//! node where the clone's instance runs and set a promotion score, and prefers the highest
//! score (ties go to the lower node id, the scheduler's usual order). Resource names cannot
//! contain `:`, so a role's id never names a declared resource.

use std::collections::BTreeMap;

use crate::{
    ClusterConfig, ColocationConstraint, Constraint, LocationConstraint, ObservedState, Resource,
    ResourceId, ResourceState, SCORE_INFINITY,
};

/// What marks a role's id: `<resource>:promoted`.
pub const ROLE_MARKER: &str = ":promoted";
/// A role's type is its resource's type with this prefix, so the executor runs the type's
/// `promote`, `demote` and role monitor for it.
pub const ROLE_TYPE_PREFIX: &str = "promoted:";
/// The most promoted instances a resource may ask for.
pub const PROMOTED_MAX_LIMIT: u32 = 16;

/// The id of `base`'s promoted role number `slot`.
pub fn role_id(base: &ResourceId, slot: u32) -> ResourceId {
    if slot == 0 {
        ResourceId(format!("{}{ROLE_MARKER}", base.0))
    } else {
        ResourceId(format!("{}{ROLE_MARKER}:{slot}", base.0))
    }
}

/// The promotable resource a role id belongs to; `None` for any other id.
pub fn base_of(role: &ResourceId) -> Option<ResourceId> {
    let (base, rest) = role.0.split_once(ROLE_MARKER)?;
    let slot_ok = rest.is_empty()
        || rest
            .strip_prefix(':')
            .is_some_and(|slot| slot.parse::<u32>().is_ok());
    (slot_ok && !base.is_empty()).then(|| ResourceId(base.to_owned()))
}

/// The unique resources standing for the `promoted_max` promoted roles of `base`.
pub fn roles(base: &Resource, promoted_max: u32) -> Vec<Resource> {
    (0..promoted_max.min(PROMOTED_MAX_LIMIT))
        .map(|slot| Resource {
            id: role_id(&base.id, slot),
            type_name: format!("{ROLE_TYPE_PREFIX}{}", base.type_name),
            params: base.params.clone(),
            options: base.options.clone(),
            unique: true,
            clone: None,
            utilization: Default::default(),
        })
        .collect()
}

/// The definition of `role`, if it names a role of a promotable resource: `resources` are
/// the declared resources, `promotable` their promoted maximum by id.
pub fn role_of(
    resources: &BTreeMap<ResourceId, Resource>,
    promotable: &BTreeMap<ResourceId, u32>,
    role: &ResourceId,
) -> Option<Resource> {
    let base = base_of(role)?;
    let resource = resources.get(&base)?;
    let promoted_max = *promotable.get(&base)?;
    roles(resource, promoted_max)
        .into_iter()
        .find(|r| r.id == *role)
}

/// Add the roles of every promotable resource to `config`, each with a location preference
/// per node: the node's promotion score where the clone's instance runs and has one,
/// `-INFINITY` everywhere else; roles of one resource never share a node.
pub fn expand(config: &mut ClusterConfig, observed: &ObservedState) {
    let bases: Vec<(Resource, u32)> = config
        .promotable
        .iter()
        .filter_map(|(id, max)| Some((config.resources.get(id)?.clone(), *max)))
        .collect();
    for (base, promoted_max) in bases {
        let roles = roles(&base, promoted_max);
        for (index, role) in roles.iter().enumerate() {
            for node in config.nodes.keys() {
                let running = observed
                    .status(&base.id, *node)
                    .is_some_and(|status| status.state == ResourceState::Running);
                let score = observed
                    .promotion_scores
                    .get(&base.id)
                    .and_then(|scores| scores.get(node));
                let score = match (running, score) {
                    (true, Some(score)) => (*score).clamp(1 - SCORE_INFINITY, SCORE_INFINITY - 1),
                    _ => -SCORE_INFINITY,
                };
                config
                    .constraints
                    .push(Constraint::Location(LocationConstraint {
                        resource: role.id.clone(),
                        node: *node,
                        score,
                        expires_at: None,
                    }));
            }
            for earlier in &roles[..index] {
                config
                    .constraints
                    .push(Constraint::Colocation(ColocationConstraint {
                        resource: role.id.clone(),
                        with: earlier.id.clone(),
                        score: -SCORE_INFINITY,
                    }));
            }
            if config.unmanaged.contains(&base.id) {
                config.unmanaged.insert(role.id.clone());
            }
        }
        for role in roles {
            config.resources.insert(role.id.clone(), role);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_ids_name_their_resource_and_slot() {
        let base = ResourceId("db".into());
        assert_eq!(role_id(&base, 0).0, "db:promoted");
        assert_eq!(role_id(&base, 2).0, "db:promoted:2");
        assert_eq!(base_of(&role_id(&base, 0)), Some(base.clone()));
        assert_eq!(base_of(&role_id(&base, 2)), Some(base));
        assert_eq!(base_of(&ResourceId("db".into())), None);
        assert_eq!(base_of(&ResourceId("db:promotedx".into())), None);
        assert_eq!(base_of(&ResourceId(":promoted".into())), None);
    }
}
