//! The properties checked after every step of a run (safety) and at its end (liveness),
//! one module per property, each stating why it must hold.

pub(crate) mod fenced;
pub(crate) mod liveness;
pub(crate) mod replicas;
pub(crate) mod tokens;
pub(crate) mod unique;

use std::collections::BTreeMap;

use model::ResourceId;

/// What the checks remember between steps.
#[derive(Debug, Default)]
pub(crate) struct Checker {
    /// The newest fencing token granted per resource, in commit order.
    pub(crate) granted: BTreeMap<ResourceId, u64>,
    /// The newest token a unique resource was started under, anywhere.
    pub(crate) started: BTreeMap<ResourceId, u64>,
    /// How many starts of a promoted role (promotions) began, for the report.
    pub(crate) promotions: u64,
    /// What the lease-or-fence check remembers (`fenced.rs`).
    pub(crate) fenced: fenced::Memory,
    /// A violation found inside a step, reported after it.
    pub(crate) violation: Option<String>,
}
