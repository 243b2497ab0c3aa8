//! Maps a resource type name to its built-in resource agent.

use crate::ocf::{OcfAgent, OcfType};
use crate::operation::ResourceAgent;
use crate::process::ProcessAgent;
use crate::vip::VipAgent;
use std::path::Path;
use std::sync::Arc;

/// The type name matches no built-in resource agent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown resource type {type_name:?}; known types: process, vip, ocf:<provider>:<agent>")]
pub struct UnknownType {
    pub type_name: String,
}

/// The resource agent for `type_name`: `process`, `vip` or `ocf:<provider>:<agent>`
/// (a script under `ocf_root`, usually `/usr/lib/ocf`).
///
/// Call it once per type and keep the agent: the `process` agent owns the tasks that
/// reap the children it started, and an OCF agent caches its schema.
pub fn builtin(type_name: &str, ocf_root: &Path) -> Result<Arc<dyn ResourceAgent>, UnknownType> {
    match type_name {
        "process" => Ok(Arc::new(ProcessAgent::new())),
        "vip" => Ok(Arc::new(VipAgent)),
        _ => match OcfType::parse(type_name) {
            Some(ocf_type) => Ok(Arc::new(OcfAgent::new(ocf_type, ocf_root))),
            None => Err(UnknownType {
                type_name: type_name.to_owned(),
            }),
        },
    }
}
