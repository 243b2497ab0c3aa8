//! Resource views for the API: configuration plus per-node state, from the local replica.

use model::{ResourceId, ResourceState};

use super::ApiState;
use super::spec::to_spec;

/// One resource's view, if it exists.
pub(crate) fn resource_view(state: &ApiState, id: &ResourceId) -> Option<::api::ResourceView> {
    state.shared.read(|db| {
        let resources = &db.resources;
        let resource = resources.resources.get(id)?;
        let group = resources
            .groups
            .values()
            .find(|g| g.members.contains(id))
            .map(|g| g.id.0.clone());
        let mut instances: Vec<::api::InstanceView> = resources
            .status
            .get(id)
            .map(|nodes| {
                nodes
                    .iter()
                    .map(|(node, status)| ::api::InstanceView {
                        node: node.0,
                        state: status.state.to_string(),
                        fail_count: status.fail_count,
                        last_failure: status.last_failure.clone(),
                        last_failure_at_ms: status.last_failure_at,
                        assigned_token: None,
                        role: None,
                        promotion_score: None,
                        remote: None,
                        status_text: None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (node, map) in &resources.assignments {
            let Some(token) = map.get(id) else { continue };
            match instances.iter_mut().find(|i| i.node == node.0) {
                Some(instance) => instance.assigned_token = Some(*token),
                None => instances.push(::api::InstanceView {
                    node: node.0,
                    state: ResourceState::Stopped.to_string(),
                    fail_count: 0,
                    last_failure: None,
                    last_failure_at_ms: None,
                    assigned_token: Some(*token),
                    role: None,
                    promotion_score: None,
                    remote: None,
                    status_text: None,
                }),
            }
        }
        instances.sort_by_key(|i| i.node);
        if let Some(texts) = &state.status_texts {
            let now = crate::clock::boot_ms();
            for instance in &mut instances {
                let running = instance.state == ResourceState::Running.to_string();
                instance.status_text = texts
                    .text(id, model::NodeId(instance.node), now)
                    .filter(|_| running);
            }
        }
        let mut spec = to_spec(resource);
        if let Some(promoted_max) = resources.promotable.get(id) {
            spec.promoted_max = Some(*promoted_max);
            add_roles(resources, resource, *promoted_max, &mut instances);
        }
        Some(::api::ResourceView {
            spec,
            group,
            instances,
            managed: !resources.unmanaged.contains(id),
        })
    })
}

/// Fill in each instance's role and promotion score: a node holding a grant of one of the
/// resource's promoted roles, or running one, is `promoted` when both hold, `promoting`
/// while only the grant does, `demoting` while only the instance does.
fn add_roles(
    resources: &cmdb::ResourceDb,
    resource: &model::Resource,
    promoted_max: u32,
    instances: &mut [::api::InstanceView],
) {
    let roles = model::promotable::roles(resource, promoted_max);
    let scores = resources.promotion_scores.get(&resource.id);
    for instance in instances.iter_mut() {
        let node = model::NodeId(instance.node);
        let granted = roles.iter().any(|role| {
            resources
                .assignments
                .get(&node)
                .is_some_and(|m| m.contains_key(&role.id))
        });
        let running = roles.iter().any(|role| {
            resources
                .status
                .get(&role.id)
                .and_then(|m| m.get(&node))
                .is_some_and(|s| s.state == ResourceState::Running)
        });
        let role = match (granted, running) {
            (true, true) => "promoted",
            (true, false) => "promoting",
            (false, true) => "demoting",
            (false, false) => "unpromoted",
        };
        instance.role = Some(role.to_owned());
        instance.promotion_score = scores.and_then(|s| s.get(&node)).copied();
    }
}

/// Every resource's view, by name.
pub(crate) fn all_views(state: &ApiState) -> Vec<::api::ResourceView> {
    let ids: Vec<ResourceId> = state
        .shared
        .read(|db| db.resources.resources.keys().cloned().collect());
    ids.iter()
        .filter_map(|id| resource_view(state, id))
        .collect()
}
