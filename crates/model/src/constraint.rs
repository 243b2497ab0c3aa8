//! Placement and ordering constraints between resources and nodes, and the score arithmetic
//! the scheduler uses to weigh them.
//!
//! Scores follow Pacemaker: integers clamped to plus or minus [`SCORE_INFINITY`], where
//! `+INFINITY` means "must" and `-INFINITY` means "must not". Constraints are persisted in
//! the Raft log: enums only ever gain variants at the end.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::{Millis, NodeId, ResourceId};

/// The score that means "always" (positive) or "never" (negative).
pub const SCORE_INFINITY: i64 = 1_000_000;

/// Adds two scores the way Pacemaker does: the sum is clamped to plus or minus
/// [`SCORE_INFINITY`], and "never" wins over "always" (`-INFINITY + INFINITY = -INFINITY`).
#[inline]
pub fn score_add(a: i64, b: i64) -> i64 {
    if a <= -SCORE_INFINITY || b <= -SCORE_INFINITY {
        return -SCORE_INFINITY;
    }
    if a >= SCORE_INFINITY || b >= SCORE_INFINITY {
        return SCORE_INFINITY;
    }
    a.saturating_add(b).clamp(-SCORE_INFINITY, SCORE_INFINITY)
}

/// Formats a score for humans: `INFINITY`, `-INFINITY` or the number.
pub fn score_display(score: i64) -> String {
    if score >= SCORE_INFINITY {
        "INFINITY".to_owned()
    } else if score <= -SCORE_INFINITY {
        "-INFINITY".to_owned()
    } else {
        score.to_string()
    }
}

/// One constraint. Persisted: append variants only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Constraint {
    /// Start `then` after `first`, and stop it before.
    Order(OrderConstraint),
    /// Place `resource` relative to where `with` runs.
    Colocation(ColocationConstraint),
    /// Prefer or avoid a node for `resource`.
    Location(LocationConstraint),
}

impl Constraint {
    /// The resources the constraint names, for validation and for deleting a resource.
    pub fn resources(&self) -> Vec<&ResourceId> {
        match self {
            Constraint::Order(order) => vec![&order.first, &order.then],
            Constraint::Colocation(colocation) => vec![&colocation.resource, &colocation.with],
            Constraint::Location(location) => vec![&location.resource],
        }
    }
}

/// Start `then` only after `first` has started; stop `then` before stopping `first`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConstraint {
    /// The resource that starts first.
    pub first: ResourceId,
    /// The resource that starts after it.
    pub then: ResourceId,
    /// Whether `then` needs `first` running at all.
    #[serde(default)]
    pub kind: OrderKind,
}

/// How strong an order constraint is. Persisted: append variants only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// `then` runs only while `first` runs, and restarts when `first` (re)starts.
    #[default]
    Mandatory,
    /// Only orders the actions when both resources change in the same plan.
    Optional,
}

impl fmt::Display for OrderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OrderKind::Mandatory => "mandatory",
            OrderKind::Optional => "optional",
        })
    }
}

/// Place `resource` on a node where `with` runs (positive score) or away from it (negative).
///
/// `INFINITY` means `resource` may run only where `with` runs; `-INFINITY` means never on the
/// same node (anti-colocation). Finite scores are preferences added to that node's score.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColocationConstraint {
    /// The dependent resource, placed after `with`.
    pub resource: ResourceId,
    /// The resource it follows or avoids.
    pub with: ResourceId,
    /// How strongly; see [`SCORE_INFINITY`].
    pub score: i64,
}

/// Prefer (positive score) or avoid (negative) a node for a resource.
///
/// A ban is a score of `-INFINITY`. `resource move --for` creates a preference with an
/// `expires_at`; the scheduler ignores it from that instant on, so temporary moves clear
/// themselves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationConstraint {
    /// The resource (or, for a group member, the whole group) it applies to.
    pub resource: ResourceId,
    /// The node preferred or avoided.
    pub node: NodeId,
    /// How strongly; see [`SCORE_INFINITY`].
    pub score: i64,
    /// When the constraint stops applying, in milliseconds since the Unix epoch.
    #[serde(default)]
    pub expires_at: Option<Millis>,
}

impl LocationConstraint {
    /// Whether the constraint still applies at `now`.
    pub fn is_active(&self, now: Millis) -> bool {
        self.expires_at.is_none_or(|expires_at| now < expires_at)
    }
}
