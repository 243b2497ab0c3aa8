//! What a changed resource definition needs from an instance that runs the old one:
//! nothing, the new options only, a reload, or a restart.
//!
//! One pure function, [`change_effect`], so that the executor (which carries the change
//! out) and the API (which tells the operator before and after an update) always agree.

use crate::{ParamSchema, Resource};
use serde::{Deserialize, Serialize};

#[cfg(test)]
mod tests;

/// How a running instance takes a new definition of its resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeEffect {
    /// Nothing the instance uses changed.
    None,
    /// Only options (timeouts, intervals, stickiness, drain, utilization) changed: they
    /// apply at once, without any operation.
    Options,
    /// Only parameters the type can reload changed: the type's reload operation applies
    /// them, under the same grant.
    Reload,
    /// The type, uniqueness or a parameter that cannot be reloaded changed: the instance is
    /// stopped and started again with the new definition.
    Restart,
}

impl ChangeEffect {
    /// The verb for the operator: `restart`, `reload`, `apply options` or `nothing`.
    pub fn verb(self) -> &'static str {
        match self {
            ChangeEffect::None => "nothing",
            ChangeEffect::Options => "apply options",
            ChangeEffect::Reload => "reload",
            ChangeEffect::Restart => "restart",
        }
    }
}

/// What an instance running `running` needs to run `wanted` instead. `schema` is the
/// type's parameter schema, if known: without it, every parameter change is a restart.
pub fn change_effect(
    schema: Option<&ParamSchema>,
    running: &Resource,
    wanted: &Resource,
) -> ChangeEffect {
    if running.type_name != wanted.type_name || running.unique != wanted.unique {
        return ChangeEffect::Restart;
    }
    if running.params != wanted.params {
        let reloadable = schema.is_some_and(|schema| {
            schema.reload.is_some()
                && changed_params(running, wanted).all(|name| {
                    schema
                        .get(name)
                        .is_some_and(|spec| spec.reloadable && !spec.unique)
                })
        });
        return if reloadable {
            ChangeEffect::Reload
        } else {
            ChangeEffect::Restart
        };
    }
    if running == wanted {
        ChangeEffect::None
    } else {
        ChangeEffect::Options
    }
}

/// The names of the parameters that were added, removed or changed.
fn changed_params<'a>(
    running: &'a Resource,
    wanted: &'a Resource,
) -> impl Iterator<Item = &'a str> {
    let removed_or_changed = running
        .params
        .iter()
        .filter(|(name, value)| wanted.params.get(*name) != Some(*value))
        .map(|(name, _)| name.as_str());
    let added = wanted
        .params
        .keys()
        .filter(|name| !running.params.contains_key(*name))
        .map(String::as_str);
    removed_or_changed.chain(added)
}
