//! Tests of `change_effect`: which changes reload, restart or only apply options.

use super::{ChangeEffect, change_effect};
use crate::{ParamKind, ParamSchema, ParamSpec, Resource, ResourceId};
use std::time::Duration;

fn resource(params: &[(&str, &str)]) -> Resource {
    Resource {
        id: ResourceId("db".into()),
        type_name: "ocf:heartbeat:Dummy".into(),
        params: params
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
        options: Default::default(),
        unique: true,
        clone: None,
        utilization: Default::default(),
    }
}

fn schema(reload: bool) -> ParamSchema {
    let schema = ParamSchema::new(vec![
        ParamSpec::new("state", ParamKind::String, "state file").unique(),
        ParamSpec::new("fake", ParamKind::String, "fake").reloadable(),
        ParamSpec::new("delay", ParamKind::String, "delay"),
    ]);
    if reload {
        schema.with_reload("reload-agent")
    } else {
        schema
    }
}

#[test]
fn reloadable_parameter_change_reloads_when_the_type_has_reload() {
    let old = resource(&[("fake", "a")]);
    let new = resource(&[("fake", "b")]);
    assert_eq!(
        change_effect(Some(&schema(true)), &old, &new),
        ChangeEffect::Reload
    );
    assert_eq!(
        change_effect(Some(&schema(false)), &old, &new),
        ChangeEffect::Restart
    );
    assert_eq!(change_effect(None, &old, &new), ChangeEffect::Restart);
}

#[test]
fn any_other_parameter_change_restarts() {
    let old = resource(&[("fake", "a"), ("delay", "1")]);
    let changed = resource(&[("fake", "b"), ("delay", "2")]);
    assert_eq!(
        change_effect(Some(&schema(true)), &old, &changed),
        ChangeEffect::Restart
    );
    let unknown_added = resource(&[("fake", "a"), ("delay", "1"), ("other", "x")]);
    assert_eq!(
        change_effect(Some(&schema(true)), &old, &unknown_added),
        ChangeEffect::Restart
    );
    let removed = resource(&[("fake", "a")]);
    assert_eq!(
        change_effect(Some(&schema(true)), &old, &removed),
        ChangeEffect::Restart
    );
    let mut other_type = old.clone();
    other_type.type_name = "process".into();
    assert_eq!(
        change_effect(Some(&schema(true)), &old, &other_type),
        ChangeEffect::Restart
    );
}

#[test]
fn options_only_apply_without_an_operation() {
    let old = resource(&[("fake", "a")]);
    let mut new = old.clone();
    assert_eq!(change_effect(None, &old, &new), ChangeEffect::None);
    new.options.monitor_interval = Duration::from_secs(99);
    assert_eq!(change_effect(None, &old, &new), ChangeEffect::Options);
}
