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
                }),
            }
        }
        instances.sort_by_key(|i| i.node);
        Some(::api::ResourceView {
            spec: to_spec(resource),
            group,
            instances,
            managed: !resources.unmanaged.contains(id),
        })
    })
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
