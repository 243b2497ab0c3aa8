//! Why a node can or cannot run a unit, and why a unit ended up where it did, as small
//! values that are turned into sentences only when a plan or an explanation needs them.
//!
//! Formatting lazily matters: a round weighs up to a million (unit, node) pairs.

use model::score_display;

use crate::index::{Index, NodeIdx, ResIdx};

/// A node's score for a unit, and what it is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Score {
    pub(crate) total: i64,
    pub(crate) location: i64,
    pub(crate) colocation: i64,
    pub(crate) stickiness: i64,
}

/// Why a node cannot run a unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Block {
    NotConfigured,
    Down,
    Maintenance,
    Standby,
    /// Suspect nodes keep what they run but take nothing new.
    Suspect,
    Banned {
        resource: ResIdx,
    },
    Threshold {
        resource: ResIdx,
        threshold: u32,
        failures: u32,
    },
    MustRunWith {
        resource: ResIdx,
        with: ResIdx,
    },
    NeverWith {
        resource: ResIdx,
        with: ResIdx,
    },
    Capacity {
        key: usize,
        needed: u64,
        free: u64,
    },
}

/// A node's verdict for a unit.
pub(crate) type Verdict = Result<Score, Block>;

/// Why the chosen node won.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Why {
    /// No other node could run it.
    Only,
    /// It is active here and stickiness is what keeps it here.
    Sticky { runner: (NodeIdx, i64) },
    /// It is active here and this node scores best even without stickiness.
    StaysBest { runner: (NodeIdx, i64) },
    /// It is active here and no node scores higher.
    StaysTie,
    /// A location preference makes this node the best.
    Location { runner: (NodeIdx, i64) },
    /// A colocation makes this node the best.
    Colocation { runner: (NodeIdx, i64) },
    /// This node simply scores best (the others are penalised).
    BestScore { runner: (NodeIdx, i64) },
    /// Several nodes score the same; this one runs the fewest resources.
    LeastLoaded { load: u32 },
    /// Several nodes score the same and are equally loaded; this one has the lowest id.
    LowestId,
    /// A clone instance on one of the best nodes.
    CloneInstance,
    /// The node is in maintenance and the instance is left exactly as it is.
    Frozen,
    /// The resource (or a member of its group) is unmanaged: left where it runs.
    Unmanaged,
}

/// Why a resource is not placed anywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopWhy {
    TargetStopped,
    /// A group member before it is stopped, so it cannot start.
    AfterStoppedMember {
        member: ResIdx,
    },
    /// A mandatory order constraint needs `first`, which is not placed.
    NeedsFirst {
        first: ResIdx,
    },
    /// An `INFINITY` colocation needs `with`, which is not placed.
    WithNotRunning {
        with: ResIdx,
    },
    /// Every node is blocked.
    NoNode,
    /// Unmanaged and not running: nothing starts it.
    Unmanaged,
}

/// The outcome of placing one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Placed on `node` (for clones, the first node) for `why`.
    Placed {
        node: NodeIdx,
        why: Why,
    },
    Stopped(StopWhy),
}

impl Index<'_> {
    pub(crate) fn block_text(&self, node: NodeIdx, block: Block) -> String {
        let node_id = self.node_id(node);
        match block {
            Block::NotConfigured => format!("node {node_id} is not in the configuration"),
            Block::Down => format!("node {node_id} is down"),
            Block::Maintenance => format!("node {node_id} is in maintenance"),
            Block::Standby => format!("node {node_id} is in standby"),
            Block::Suspect => format!("node {node_id} is suspect, so nothing new starts there"),
            Block::Banned { resource } => format!(
                "ban by location constraint: {} may not run on node {node_id}",
                self.resources[resource].id()
            ),
            Block::Threshold {
                resource,
                threshold,
                failures,
            } => format!(
                "migration threshold {threshold} reached on node {node_id} ({} of {})",
                crate::actions::failures(failures),
                self.resources[resource].id()
            ),
            Block::MustRunWith { resource, with } => format!(
                "{} must run with {}, which is not on node {node_id}",
                self.resources[resource].id(),
                self.resources[with].id()
            ),
            Block::NeverWith { resource, with } => format!(
                "{} must never run with {}, which is on node {node_id}",
                self.resources[resource].id(),
                self.resources[with].id()
            ),
            Block::Capacity { key, needed, free } => format!(
                "node {node_id} lacks capacity: {} needs {needed}, {free} free",
                self.capacity_keys[key]
            ),
        }
    }

    pub(crate) fn why_text(&self, node: NodeIdx, score: Option<Score>, why: Why) -> String {
        let node_id = self.node_id(node);
        let total = score.map_or_else(String::new, |score| score_display(score.total));
        let runner = |(runner, runner_score): (NodeIdx, i64)| {
            format!(
                "score {total}; next best node {}: {}",
                self.node_id(runner),
                score_display(runner_score)
            )
        };
        match why {
            Why::Only => format!("node {node_id} is the only node that can run it"),
            Why::Sticky { runner: other } => {
                format!("stickiness keeps it on node {node_id} ({})", runner(other))
            }
            Why::StaysBest { runner: other } => {
                format!(
                    "it stays on node {node_id}, the best node ({})",
                    runner(other)
                )
            }
            Why::StaysTie => format!("it stays on node {node_id}: no node scores higher"),
            Why::Location { runner: other } => {
                format!(
                    "location constraints favour node {node_id} ({})",
                    runner(other)
                )
            }
            Why::Colocation { runner: other } => {
                format!("colocation draws it to node {node_id} ({})", runner(other))
            }
            Why::BestScore { runner: other } => {
                format!("node {node_id} has the best score ({})", runner(other))
            }
            Why::LeastLoaded { load } => {
                format!("node {node_id} is the least loaded of the best nodes (load {load})")
            }
            Why::LowestId => {
                format!("node {node_id} has the lowest id of the best, equally loaded nodes")
            }
            Why::CloneInstance => format!("clone instance on eligible node {node_id}"),
            Why::Frozen => format!("node {node_id} is in maintenance: left as it is"),
            Why::Unmanaged => {
                format!("unmanaged: left as it is on node {node_id} (`resource manage` ends it)")
            }
        }
    }

    pub(crate) fn stop_text(&self, resource: ResIdx, why: StopWhy) -> String {
        let name = |resource: ResIdx| self.resources[resource].id().to_string();
        match why {
            StopWhy::TargetStopped => "target role is stopped".to_owned(),
            StopWhy::AfterStoppedMember { member } => {
                let group = match &self.unit_of(resource).kind {
                    crate::index::UnitKind::Group(group) => group.id.to_string(),
                    _ => String::new(),
                };
                format!(
                    "group {group}: {}, earlier in the group, is stopped",
                    name(member)
                )
            }
            StopWhy::NeedsFirst { first } => {
                format!("order constraint: needs {}, which is stopped", name(first))
            }
            StopWhy::WithNotRunning { with } => {
                format!("colocation: must run with {}, which is stopped", name(with))
            }
            StopWhy::NoNode => "no node can run it".to_owned(),
            StopWhy::Unmanaged => "unmanaged and not running: encluster does not start it \
                (`resource manage` ends it)"
                .to_owned(),
        }
    }

    pub(crate) fn score_text(&self, score: Score) -> String {
        format!(
            "score {} (location {}, colocation {}, stickiness {})",
            score_display(score.total),
            score_display(score.location),
            score_display(score.colocation),
            score_display(score.stickiness)
        )
    }
}
