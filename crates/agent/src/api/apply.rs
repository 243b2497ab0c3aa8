//! `encluster apply -f`: compare a declared cluster file with the current configuration,
//! list the differences, and build the one command that replaces the configuration.

use std::collections::BTreeMap;

use cmdb::{Command, StoredConstraint};
use model::{Group, GroupId, Resource, ResourceId};

use super::ApiState;
use super::constraints::to_constraint_spec;
use super::resources::to_constraint;
use super::spec::{to_export_spec, to_resource};

/// Validate the file and compute the changes; every problem is reported.
pub(crate) async fn plan(
    state: &ApiState,
    spec: ::api::ClusterSpec,
) -> Result<(Vec<Command>, Vec<String>), Vec<String>> {
    let mut errors = Vec::new();
    // Types first: the file's resources are checked against the file's types.
    let (types, roles) = checked_types(&spec.types, &mut errors);
    let mut user_types = super::user_types::all_stored(state);
    user_types.extend(types.iter().map(|t| (t.name.clone(), t.clone())));
    let mut resources = Vec::new();
    let mut promotable = BTreeMap::new();
    for resource in &spec.resources {
        match to_resource(resource, &state.types, &user_types).await {
            Ok(checked) => {
                if let Some(promoted_max) = super::spec::promoted_max_of(resource, &user_types) {
                    promotable.insert(checked.id.clone(), promoted_max);
                }
                resources.push(checked);
            }
            Err(problems) => {
                errors.extend(
                    problems
                        .into_iter()
                        .map(|p| format!("resource {}: {p}", resource.name)),
                );
            }
        }
    }
    for group in &spec.groups {
        if let Err(invalid) = model::check_name(model::NameKind::Group, &group.name) {
            errors.push(invalid.to_string());
        }
    }
    let groups: Vec<Group> = spec
        .groups
        .iter()
        .map(|g| Group {
            id: GroupId(g.name.clone()),
            members: g.members.iter().cloned().map(ResourceId).collect(),
        })
        .collect();
    let mut constraints = Vec::new();
    for constraint in spec.constraints {
        match to_constraint(constraint) {
            Ok(c) => constraints.push(StoredConstraint::from(c)),
            Err(problem) => errors.push(format!("constraint: {problem}")),
        }
    }
    let alerts = alert_configs(&spec.alerts, &mut errors);
    let fence_devices = fence_devices(&spec.fence, &mut errors).await;
    if !errors.is_empty() {
        return Err(errors);
    }
    let stored_promotable = state.shared.read(|db| db.resources.promotable.clone());
    // Role programs need cluster format 3: only when they change (a listed type gains,
    // changes or loses some) does the file go as `ReplaceConfigWithRoles`.
    let roles_change = state.shared.read(|db| {
        types
            .iter()
            .any(|t| roles.get(&t.name).cloned().unwrap_or_default() != db.roles_of(&t.name))
    });
    let command = if roles_change {
        Command::ReplaceConfigWithRoles {
            types,
            roles,
            resources,
            groups,
            constraints,
            promotable,
        }
    } else if promotable != stored_promotable {
        Command::ReplaceConfigPromotable {
            types,
            resources,
            groups,
            constraints,
            promotable,
        }
    } else if types.is_empty() {
        Command::ReplaceConfig {
            resources,
            groups,
            constraints,
        }
    } else {
        Command::ReplaceConfigWithTypes {
            types,
            resources,
            groups,
            constraints,
        }
    };
    let (changes, checked, alert_changes, fence_changes) = state.shared.read(|db| {
        let (changes, checked) = check_on_copy(db, &command);
        let fence_changes = fence_diff(&db.fencing, &fence_devices);
        (
            changes,
            checked,
            alert_diff(&db.monitoring, &alerts),
            fence_changes,
        )
    });
    if let cmdb::CommandResult::Rejected(reason) = checked {
        return Err(vec![reason]);
    }
    let mut commands = vec![command];
    if !alert_changes.is_empty() {
        commands.push(Command::ReplaceAlerts { alerts });
    }
    if !fence_changes.is_empty() {
        let devices = fence_devices;
        commands.push(Command::ReplaceFenceDevices { devices });
    }
    let mut changes = changes;
    changes.extend(alert_changes);
    changes.extend(fence_changes);
    Ok((commands, changes))
}

// --- fence ---
/// The stored form of the file's fencing devices; each problem goes to `errors`.
async fn fence_devices(
    specs: &[::api::FenceDeviceSpec],
    errors: &mut Vec<String>,
) -> Vec<model::FenceDevice> {
    let mut devices = Vec::new();
    for spec in specs {
        match super::fencing::to_device(spec).await {
            Ok(device) => devices.push(device),
            Err(problem) => errors.push(format!("fence {}: {problem}", spec.name)),
        }
    }
    devices
}

/// The lines of `apply` for fencing devices: `+ fence NAME`, `~ fence NAME`, `- fence NAME`.
fn fence_diff(current: &cmdb::FenceDb, devices: &[model::FenceDevice]) -> Vec<String> {
    let mut changes = Vec::new();
    for device in devices {
        match current.devices.get(&device.name) {
            None => changes.push(format!("+ fence {}", device.name)),
            Some(old) if old != device => changes.push(format!("~ fence {}", device.name)),
            Some(_) => {}
        }
    }
    for name in current.devices.keys() {
        if !devices.iter().any(|d| &d.name == name) {
            changes.push(format!("- fence {name}"));
        }
    }
    changes
}

/// The changes `command` makes to `current`, and the state machine's own verdict on a
/// copy: what it would refuse is refused here, in the dry run as in the real apply.
fn check_on_copy(db: &cmdb::ClusterDb, command: &Command) -> (Vec<String>, cmdb::CommandResult) {
    let current = &db.resources;
    let mut changes = Vec::new();
    let mut candidate = current.clone();
    let checked = match command {
        Command::ReplaceConfigWithTypes {
            types,
            resources,
            groups,
            constraints,
        } => {
            changes.extend(diff_types(current, types));
            changes.extend(diff(current, resources, groups, constraints));
            candidate.replace_config_with_types(
                types.clone(),
                resources.clone(),
                groups.clone(),
                constraints.clone(),
            )
        }
        Command::ReplaceConfig {
            resources,
            groups,
            constraints,
        } => {
            changes.extend(diff(current, resources, groups, constraints));
            candidate.replace_config(resources.clone(), groups.clone(), constraints.clone())
        }
        Command::ReplaceConfigWithRoles {
            types,
            roles,
            resources,
            groups,
            constraints,
            promotable,
        } => {
            changes.extend(diff_types(current, types));
            changes.extend(diff_roles(db, types, roles));
            changes.extend(diff(current, resources, groups, constraints));
            changes.extend(diff_promotable(&current.promotable, promotable, resources));
            candidate.replace_config_promotable(
                types.clone(),
                resources.clone(),
                groups.clone(),
                constraints.clone(),
                promotable.clone(),
            )
        }
        Command::ReplaceConfigPromotable {
            types,
            resources,
            groups,
            constraints,
            promotable,
        } => {
            changes.extend(diff_types(current, types));
            changes.extend(diff(current, resources, groups, constraints));
            changes.extend(diff_promotable(&current.promotable, promotable, resources));
            candidate.replace_config_promotable(
                types.clone(),
                resources.clone(),
                groups.clone(),
                constraints.clone(),
                promotable.clone(),
            )
        }
        _ => unreachable!("plan builds only these"),
    };
    (changes, checked)
}

/// The file's types, checked, and the role programs of those that have some; each
/// problem names its type.
fn checked_types(
    specs: &[::api::TypeSpec],
    errors: &mut Vec<String>,
) -> (Vec<model::UserType>, BTreeMap<String, model::RolePrograms>) {
    let mut types = Vec::new();
    let mut roles = BTreeMap::new();
    for spec in specs {
        match super::user_types::checked(spec) {
            Ok(defined) => {
                if !defined.roles.is_empty() {
                    roles.insert(defined.definition.name.clone(), defined.roles);
                }
                types.push(defined.definition);
            }
            Err(problems) => {
                let name = &spec.name;
                errors.extend(problems.into_iter().map(|p| format!("type {name}: {p}")));
            }
        }
    }
    (types, roles)
}

/// The role programs of the file's types against the stored ones.
fn diff_roles(
    db: &cmdb::ClusterDb,
    types: &[model::UserType],
    roles: &BTreeMap<String, model::RolePrograms>,
) -> Vec<String> {
    types
        .iter()
        .filter(|t| roles.get(&t.name).cloned().unwrap_or_default() != db.roles_of(&t.name))
        .map(|t| format!("~ type {}: promote, demote and notify programs", t.name))
        .collect()
}

/// The file's types against the stored ones; types the file does not list stay.
fn diff_types(current: &cmdb::ResourceDb, types: &[model::UserType]) -> Vec<String> {
    types
        .iter()
        .filter_map(|definition| match current.types.get(&definition.name) {
            None => Some(format!("+ type {}", definition.name)),
            Some(old) if old != definition => Some(format!("~ type {}", definition.name)),
            Some(_) => None,
        })
        .collect()
}

/// The stored form of the file's alerts; each problem goes to `errors`.
fn alert_configs(specs: &[::api::AlertSpec], errors: &mut Vec<String>) -> Vec<cmdb::AlertConfig> {
    let mut alerts = Vec::new();
    for alert in specs {
        match super::alerts::to_config(alert) {
            Ok(config) => alerts.push(config),
            Err(problem) => errors.push(problem),
        }
    }
    alerts
}

/// The lines of `apply` for alerts: `+ alert NAME`, `~ alert NAME`, `- alert NAME`.
fn alert_diff(current: &cmdb::MonitorDb, alerts: &[cmdb::AlertConfig]) -> Vec<String> {
    let mut changes = Vec::new();
    for alert in alerts {
        match current.alerts.get(&alert.name) {
            None => changes.push(format!("+ alert {}", alert.name)),
            Some(record) if record.config != *alert => {
                changes.push(format!("~ alert {}", alert.name));
            }
            Some(_) => {}
        }
    }
    for name in current.alerts.keys() {
        if !alerts.iter().any(|a| &a.name == name) {
            changes.push(format!("- alert {name}"));
        }
    }
    changes
}

fn diff(
    current: &cmdb::ResourceDb,
    resources: &[Resource],
    groups: &[Group],
    constraints: &[StoredConstraint],
) -> Vec<String> {
    let mut changes = Vec::new();
    let wanted: BTreeMap<&ResourceId, &Resource> = resources.iter().map(|r| (&r.id, r)).collect();
    for (id, resource) in &wanted {
        match current.resources.get(*id) {
            None => changes.push(format!("+ resource {id} ({})", resource.type_name)),
            Some(old) if old != *resource => {
                changes.push(format!(
                    "~ resource {id}: {}",
                    describe_change(old, resource)
                ));
            }
            Some(_) => {}
        }
    }
    for id in current
        .resources
        .keys()
        .filter(|id| !wanted.contains_key(id))
    {
        changes.push(format!("- resource {id}"));
    }
    let wanted_groups: BTreeMap<&GroupId, &Group> = groups.iter().map(|g| (&g.id, g)).collect();
    for (id, group) in &wanted_groups {
        let members: Vec<&str> = group.members.iter().map(|m| m.0.as_str()).collect();
        match current.groups.get(*id) {
            None => changes.push(format!("+ group {} [{}]", id.0, members.join(", "))),
            Some(old) if old != *group => {
                changes.push(format!("~ group {} [{}]", id.0, members.join(", ")))
            }
            Some(_) => {}
        }
    }
    for id in current
        .groups
        .keys()
        .filter(|id| !wanted_groups.contains_key(id))
    {
        changes.push(format!("- group {}", id.0));
    }
    for constraint in constraints
        .iter()
        .filter(|c| !current.constraints.contains(c))
    {
        changes.push(format!("+ constraint {constraint}"));
    }
    for constraint in current
        .constraints
        .iter()
        .filter(|c| !constraints.contains(c))
    {
        changes.push(format!("- constraint {constraint}"));
    }
    changes
}

fn describe_change(old: &Resource, new: &Resource) -> String {
    let mut parts = Vec::new();
    if old.type_name != new.type_name {
        parts.push(format!("type {} -> {}", old.type_name, new.type_name));
    }
    let keys: std::collections::BTreeSet<&String> =
        old.params.keys().chain(new.params.keys()).collect();
    for key in keys {
        let (a, b) = (old.params.get(key), new.params.get(key));
        if a != b {
            let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(unset)".into());
            parts.push(format!("params.{key} {} -> {}", show(a), show(b)));
        }
    }
    if old.options != new.options {
        parts.push("options".into());
    }
    if old.unique != new.unique || old.clone != new.clone {
        parts.push("unique/clone".into());
    }
    if parts.is_empty() {
        parts.push("utilization".into());
    }
    parts.join(", ")
}

/// The lines `apply` shows for resources made promotable, changed or made plain clones.
fn diff_promotable(
    current: &BTreeMap<ResourceId, u32>,
    wanted: &BTreeMap<ResourceId, u32>,
    resources: &[Resource],
) -> Vec<String> {
    let mut changes = Vec::new();
    for (id, promoted_max) in wanted {
        match current.get(id) {
            None => changes.push(format!(
                "~ resource {id}: promotable, promoted_max {promoted_max}"
            )),
            Some(old) if old != promoted_max => {
                changes.push(format!(
                    "~ resource {id}: promoted_max {old} -> {promoted_max}"
                ));
            }
            Some(_) => {}
        }
    }
    let kept = |id: &ResourceId| resources.iter().any(|r| r.id == *id);
    for id in current
        .keys()
        .filter(|id| !wanted.contains_key(*id) && kept(id))
    {
        changes.push(format!("~ resource {id}: no longer promotable"));
    }
    changes
}

/// `GET /v1/config`: the declared cluster as `apply -f` reads it (`config export`), so that
/// applying it changes nothing. Moves, bans and node modes are operational state, not part
/// of the file, and `apply` leaves them as they are.
pub(crate) async fn export(
    axum::extract::State(state): axum::extract::State<ApiState>,
) -> axum::Json<::api::ClusterSpec> {
    let spec = state.shared.read(|db| {
        let resources = &db.resources;
        ::api::ClusterSpec {
            resources: resources
                .resources
                .values()
                .map(|resource| {
                    let mut spec = to_export_spec(resource);
                    spec.promoted_max = resources.promotable.get(&resource.id).copied();
                    spec
                })
                .collect(),
            groups: resources
                .groups
                .values()
                .map(|group| ::api::GroupSpec {
                    name: group.id.0.clone(),
                    members: group.members.iter().map(|m| m.0.clone()).collect(),
                })
                .collect(),
            constraints: resources
                .constraints
                .iter()
                .map(|c| to_constraint_spec(&model::Constraint::from(c.clone())))
                .collect(),
            types: resources
                .types
                .values()
                .map(|definition| {
                    let roles = db.roles_of(&definition.name);
                    super::user_types::to_type_spec(definition, &roles)
                })
                .collect(),
            alerts: db
                .monitoring
                .alerts
                .values()
                .map(|record| super::alerts::to_spec(&record.config))
                .collect(),
            fence: db
                .fencing
                .devices
                .values()
                .map(super::fencing::to_spec)
                .collect(),
        }
    });
    axum::Json(spec)
}
