//! Converting the operator's `ResourceSpec` into a `model::Resource`, checking every field
//! and the parameters against the resource type's schema, and back for display.

use std::time::Duration;

use std::collections::BTreeMap;

use model::{CloneOptions, Resource, ResourceId, ResourceOptions, TargetRole};

/// Where OCF resource agents live (`OCF_ROOT`).
pub(crate) fn ocf_root() -> std::path::PathBuf {
    std::env::var_os("OCF_ROOT")
        .map(Into::into)
        .unwrap_or_else(|| "/usr/lib/ocf".into())
}

fn duration(field: &str, value: &Option<String>, errors: &mut Vec<String>) -> Option<Duration> {
    let text = value.as_ref()?;
    match model::parse_duration_text(text) {
        Ok(parsed) if !parsed.is_zero() => Some(parsed),
        Ok(_) => {
            errors.push(format!("{field}: {text:?} must be longer than zero"));
            None
        }
        Err(invalid) => {
            errors.push(format!("{field}: {invalid}"));
            None
        }
    }
}

/// The options of a spec: a user type's timeouts are the defaults of its resources.
fn options_of(
    spec: &::api::ResourceSpec,
    user_type: Option<&model::UserType>,
    errors: &mut Vec<String>,
) -> ResourceOptions {
    let mut options = ResourceOptions::default();
    if let Some(definition) = user_type {
        options.start_timeout = definition.start_timeout;
        options.stop_timeout = definition.stop_timeout;
    }
    if let Some(d) = duration("monitor_interval", &spec.monitor_interval, errors) {
        options.monitor_interval = d;
    }
    if let Some(d) = duration("monitor_timeout", &spec.monitor_timeout, errors) {
        options.monitor_timeout = d;
    }
    if let Some(d) = duration("start_timeout", &spec.start_timeout, errors) {
        options.start_timeout = d;
    }
    if let Some(d) = duration("stop_timeout", &spec.stop_timeout, errors) {
        options.stop_timeout = d;
    }
    options.failure_timeout = duration("failure_timeout", &spec.failure_timeout, errors);
    if let Some(text) = &spec.drain {
        match model::parse_duration(text) {
            Some(drain) if drain <= crate::limits::DRAIN_MAX => options.drain = drain,
            _ => errors.push(format!(
                "drain: {text:?} must be a duration from 0s to {}, like 5s",
                humantime::format_duration(crate::limits::DRAIN_MAX)
            )),
        }
    }
    if let Some(stickiness) = spec.stickiness {
        options.stickiness = stickiness;
    }
    if let Some(threshold) = spec.migration_threshold {
        options.migration_threshold = threshold;
    }
    options.target_role = match spec.target_role.as_deref() {
        None | Some("started") => TargetRole::Started,
        Some("stopped") => TargetRole::Stopped,
        Some(other) => {
            errors.push(format!(
                "target_role: {other:?} is not one of started, stopped"
            ));
            TargetRole::Started
        }
    };
    options
}

/// Check a spec and build the resource; every problem is reported, not just the first.
pub(crate) async fn to_resource(
    spec: &::api::ResourceSpec,
    types: &super::TypeCatalog,
    user_types: &BTreeMap<String, model::UserType>,
) -> Result<Resource, Vec<String>> {
    let mut errors = Vec::new();
    let user_type = user_types.get(&spec.type_name);
    if let Err(invalid) = model::check_name(model::NameKind::Resource, &spec.name) {
        errors.push(format!("name: {invalid}"));
    }
    let options = options_of(spec, user_type, &mut errors);
    if spec.clone && spec.unique == Some(true) {
        errors.push("unique: a clone runs on many nodes, so it cannot be unique".into());
    }
    let params = match user_type {
        Some(definition) => check_user_params(spec, definition, &mut errors),
        None => check_params(spec, types, &mut errors).await,
    };
    // A user type's kind is the default: `clone` makes a clone unless the spec says unique.
    let clone = spec.clone
        || spec.promoted_max.is_some()
        || (spec.unique.is_none()
            && user_type.is_some_and(|t| {
                matches!(t.kind, model::TypeKind::Clone | model::TypeKind::Promotable)
            }));
    check_promoted_max(spec, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Resource {
        id: ResourceId(spec.name.clone()),
        type_name: spec.type_name.clone(),
        params,
        options,
        unique: !clone && spec.unique.unwrap_or(true),
        clone: clone.then_some(CloneOptions {
            max: spec.clone_max,
        }),
        utilization: spec.utilization.clone(),
    })
}

/// The promoted maximum a resource asks for: its `promoted_max`, or 1 when its
/// type (a user type of kind `promotable`) makes it promotable by default.
pub(crate) fn promoted_max_of(
    resource: &::api::ResourceSpec,
    user_types: &BTreeMap<String, model::UserType>,
) -> Option<u32> {
    resource.promoted_max.or_else(|| {
        let definition = user_types.get(&resource.type_name)?;
        let promotable = definition.kind == model::TypeKind::Promotable;
        (promotable && resource.unique.is_none() && !resource.clone).then_some(1)
    })
}

/// A promotable resource is a clone that promotes from 1 to 16 instances.
fn check_promoted_max(spec: &::api::ResourceSpec, errors: &mut Vec<String>) {
    let Some(promoted_max) = spec.promoted_max else {
        return;
    };
    let limit = model::promotable::PROMOTED_MAX_LIMIT;
    if !(1..=limit).contains(&promoted_max) {
        errors.push(format!(
            "promoted_max: {promoted_max} is not from 1 to {limit}"
        ));
    }
    if spec.unique == Some(true) {
        errors.push(
            "unique: a promotable resource runs an instance on many nodes, so it cannot be \
             unique (its promoted role is)"
                .into(),
        );
    }
}

/// Validate parameters against a user type's stored schema (the state machine checks the
/// same again); they are stored as given, defaults filled in by the agent at run time.
fn check_user_params(
    spec: &::api::ResourceSpec,
    definition: &model::UserType,
    errors: &mut Vec<String>,
) -> BTreeMap<String, String> {
    if let Err(problems) = definition.schema.validate(&spec.params) {
        errors.extend(problems.iter().map(ToString::to_string));
    }
    spec.params.clone()
}

/// Validate parameters against the type's schema (for OCF types, from its meta-data) and
/// what the type checks beyond it (`ResourceAgent::prepare`), and return them in the
/// type's canonical form.
async fn check_params(
    spec: &::api::ResourceSpec,
    types: &super::TypeCatalog,
    errors: &mut Vec<String>,
) -> BTreeMap<String, String> {
    if spec.type_name == "lb" {
        if let Err(problems) = crate::lb_agent::service_config(&spec.name, &spec.params) {
            errors.extend(problems.split("; ").map(str::to_string));
        }
        return spec.params.clone();
    }
    let agent = match types.agent(&spec.type_name) {
        Ok(agent) => agent,
        Err(message) => {
            errors.push(message);
            return spec.params.clone();
        }
    };
    match agent.meta().await {
        Ok(schema) => {
            if let Err(problems) = schema.validate(&spec.params) {
                errors.extend(problems.iter().map(ToString::to_string));
                return spec.params.clone();
            }
        }
        Err(error) => {
            errors.push(format!("type: {error}"));
            return spec.params.clone();
        }
    }
    match agent.prepare(&spec.params) {
        Ok(prepared) => prepared,
        Err(problems) => {
            errors.extend(problems);
            spec.params.clone()
        }
    }
}

/// The spec as shown back to the operator, with effective option values.
pub(crate) fn to_spec(resource: &Resource) -> ::api::ResourceSpec {
    let show = |d: Duration| humantime::format_duration(d).to_string();
    let options = &resource.options;
    ::api::ResourceSpec {
        name: resource.id.0.clone(),
        type_name: resource.type_name.clone(),
        params: resource.params.clone(),
        unique: Some(resource.unique),
        clone: resource.clone.is_some(),
        clone_max: resource.clone.as_ref().and_then(|c| c.max),
        monitor_interval: Some(show(options.monitor_interval)),
        monitor_timeout: Some(show(options.monitor_timeout)),
        start_timeout: Some(show(options.start_timeout)),
        stop_timeout: Some(show(options.stop_timeout)),
        stickiness: Some(options.stickiness),
        migration_threshold: Some(options.migration_threshold),
        failure_timeout: options.failure_timeout.map(show),
        drain: (!options.drain.is_zero()).then(|| show(options.drain)),
        target_role: Some(match options.target_role {
            TargetRole::Started => "started".into(),
            TargetRole::Stopped => "stopped".into(),
        }),
        utilization: resource.utilization.clone(),
        promoted_max: None,
    }
}

/// The spec `config export` writes: only what differs from the defaults that `to_resource`
/// fills in, so the file reads like one an operator wrote and converts back to the same
/// resource.
pub(crate) fn to_export_spec(resource: &Resource) -> ::api::ResourceSpec {
    let mut spec = to_spec(resource);
    let defaults = to_spec(&Resource {
        id: resource.id.clone(),
        type_name: resource.type_name.clone(),
        params: Default::default(),
        options: ResourceOptions::default(),
        unique: resource.clone.is_none(),
        clone: resource.clone.clone(),
        utilization: Default::default(),
    });
    let unset = |field: &mut Option<String>, default: &Option<String>| {
        if field == default {
            *field = None;
        }
    };
    unset(&mut spec.monitor_interval, &defaults.monitor_interval);
    unset(&mut spec.monitor_timeout, &defaults.monitor_timeout);
    unset(&mut spec.start_timeout, &defaults.start_timeout);
    unset(&mut spec.stop_timeout, &defaults.stop_timeout);
    unset(&mut spec.failure_timeout, &defaults.failure_timeout);
    unset(&mut spec.target_role, &defaults.target_role);
    if spec.stickiness == defaults.stickiness {
        spec.stickiness = None;
    }
    if spec.migration_threshold == defaults.migration_threshold {
        spec.migration_threshold = None;
    }
    // A singleton is the default; a clone is never unique.
    if resource.unique || resource.clone.is_some() {
        spec.unique = None;
    }
    spec
}
