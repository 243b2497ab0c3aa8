//! What a resource type is: its name, where it comes from, what it does, its parameters
//! and the operations it supports, as `encluster type show` prints it.
//!
//! Built-in types describe themselves in code; an OCF resource agent's description comes
//! from its meta-data (`resource-agents` parses it); user-defined types (`crate::UserType`)
//! are the third [`TypeClass`]. Plain data: the agent turns it into the API's wire types.

use std::time::Duration;

use crate::ParamSchema;

/// Where a resource type comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TypeClass {
    /// Built into encluster (`process`, `vip`, `lb`).
    Builtin,
    /// An OCF resource agent script, `ocf:<provider>:<agent>`.
    Ocf,
    /// Defined by an operator as data and stored in the cmdb (`crate::UserType`).
    User,
}

impl TypeClass {
    /// The word the API and the CLI use for it.
    pub fn as_str(self) -> &'static str {
        match self {
            TypeClass::Builtin => "builtin",
            TypeClass::Ocf => "ocf",
            TypeClass::User => "user",
        }
    }
}

/// One operation a resource type supports, with the defaults its author recommends
/// (OCF's `<action name timeout interval depth>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionSpec {
    /// `start`, `stop`, `monitor`, `reload`, `reload-agent`, `meta-data`, ...
    pub name: String,
    /// The recommended timeout.
    pub timeout: Option<Duration>,
    /// The recommended interval, for recurring monitors.
    pub interval: Option<Duration>,
    /// The check depth, for monitors.
    pub depth: Option<u32>,
}

/// A resource type's description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeInfo {
    /// The name given as `--type` (`process`, `ocf:heartbeat:Dummy`).
    pub name: String,
    /// Where the type comes from.
    pub class: TypeClass,
    /// One line: what a resource of this type is.
    pub description: String,
    /// The parameters it takes.
    pub schema: ParamSchema,
    /// The operations it supports; empty when the type does not say.
    pub actions: Vec<ActionSpec>,
}

impl TypeInfo {
    /// Whether the type declares the action `name` (for example `reload`).
    pub fn has_action(&self, name: &str) -> bool {
        self.actions.iter().any(|action| action.name == name)
    }
}
