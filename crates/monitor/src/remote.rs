//! Remote monitors (issue 13, point 3), without IO: which node probes which service from
//! outside, when, and what the master makes of the inside and outside views together.
//!
//! A [`Target`] is something running on one node (its owner) that others can reach: a
//! resource with a TCP or HTTP probe, a VIP, a virtual service's listener, or the node's
//! own API. [`observers_of`] picks at most [`OBSERVERS_MAX`] live nodes to watch each
//! target (the next ones after its owner in id order, so the choice is the same on every
//! node and spreads the work); a [`Planner`] spreads each observer's probes over
//! [`PROBE_INTERVAL_MS`] and runs at most [`PROBES_PER_ROUND_MAX`] a round. So however
//! large the cluster, a target gets at most `OBSERVERS_MAX` probes per interval, and a
//! node sends at most `PROBES_PER_ROUND_MAX` a second: a 32-node cluster with 200
//! targets sends 200 probes a second in all, about 6 per node.
//!
//! The master keeps every observer's newest views in a [`Book`] and a [`Judge`] combines
//! them with the owner's own monitor into a [`Verdict`]: `unreachable` when the owner calls
//! the service healthy while a majority of its observers cannot reach it, `failed_inside`
//! for the reverse (its own monitor fails while a majority reaches it from outside).
//! [`recovery`] decides when `unreachable` counts as a failure (`remote_failure = recover`).

use std::collections::BTreeMap;
use std::fmt;

use model::NodeId;

pub mod recovery;

/// How often each observer probes each of its targets.
pub const PROBE_INTERVAL_MS: u64 = 5_000;
/// How many nodes watch one target from outside.
pub const OBSERVERS_MAX: usize = 5;
/// How many probes one observer starts per round (a round is a second).
pub const PROBES_PER_ROUND_MAX: usize = 20;
/// How many targets one observer keeps; further ones (sorted by id) are not probed.
pub const TARGETS_MAX: usize = 512;
/// A view older than this is not counted (its observer stopped reporting).
pub const VIEW_STALE_MS: u64 = 3 * PROBE_INTERVAL_MS;
/// How long one probe may take.
pub const PROBE_TIMEOUT_MS: u64 = 1_000;

const _: () = assert!(PROBE_TIMEOUT_MS < PROBE_INTERVAL_MS);
const _: () = assert!(VIEW_STALE_MS > PROBE_INTERVAL_MS + PROBE_TIMEOUT_MS);
// Every target of a full observer fits into one interval's rounds.
const _: () =
    assert!(TARGETS_MAX <= PROBES_PER_ROUND_MAX * (PROBE_INTERVAL_MS as usize / 1000) * 6);

/// What kind of thing a target is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TargetKind {
    /// A running resource instance with a TCP or HTTP probe.
    Resource,
    /// A VIP: reachable when its address answers at all (a refused connection counts).
    Vip,
    /// A virtual service's listener.
    Listener,
    /// A node's API.
    Node,
}

impl TargetKind {
    /// The word used in target ids, series labels and events.
    pub fn word(self) -> &'static str {
        match self {
            TargetKind::Resource => "resource",
            TargetKind::Vip => "vip",
            TargetKind::Listener => "listener",
            TargetKind::Node => "node",
        }
    }
}

/// How a target is probed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Probe {
    /// A TCP connection to `host:port` must open.
    Tcp(String),
    /// `GET path` on `host:port` must answer 2xx or 3xx.
    Http {
        /// `host:port`.
        address: String,
        /// The request path, starting with `/`.
        path: String,
    },
    /// The address must answer: an open or a refused connection to `host:port` both count.
    Address(String),
}

impl Probe {
    /// Parses a `probe_tcp` parameter (`host:port`).
    pub fn tcp(text: &str) -> Result<Probe, String> {
        let text = text.trim();
        host_port(text)?;
        Ok(Probe::Tcp(text.to_owned()))
    }

    /// Parses a `probe_http` parameter (`http://host:port/path`; the port defaults to 80).
    pub fn http(text: &str) -> Result<Probe, String> {
        let rest = text
            .trim()
            .strip_prefix("http://")
            .ok_or_else(|| format!("{text:?} must start with http://"))?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        let address = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'))
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        host_port(&address)?;
        Ok(Probe::Http {
            address,
            path: path.to_owned(),
        })
    }
}

fn host_port(text: &str) -> Result<(), String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?} is not host:port"))?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!("{text:?} is not host:port"));
    }
    Ok(())
}

/// One thing to watch from outside.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    /// `<kind>:<name>` (`resource:web`, `vip:v1`, `listener:web@10.0.0.5:80`, `node:2`).
    pub id: String,
    /// The node it runs on.
    pub owner: NodeId,
    /// What it is.
    pub kind: TargetKind,
    /// How to probe it.
    pub probe: Probe,
}

impl Target {
    /// A target named `name` of `kind` on `owner`.
    pub fn new(kind: TargetKind, name: &str, owner: NodeId, probe: Probe) -> Target {
        Target {
            id: format!("{}:{name}", kind.word()),
            owner,
            kind,
            probe,
        }
    }
}

/// The nodes that watch a target owned by `owner`: the first [`OBSERVERS_MAX`] of `live`
/// after `owner` in id order, wrapping around; never the owner.
pub fn observers_of(owner: NodeId, live: &[NodeId]) -> Vec<NodeId> {
    let mut sorted: Vec<NodeId> = live.iter().copied().filter(|n| *n != owner).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let split = sorted.partition_point(|n| *n < owner);
    sorted.rotate_left(split);
    sorted.truncate(OBSERVERS_MAX);
    sorted
}

/// One observer's schedule: when each of its targets is next due.
#[derive(Debug, Default)]
pub struct Planner {
    next_due_ms: BTreeMap<Target, u64>,
}

impl Planner {
    /// The targets to probe now, at most [`PROBES_PER_ROUND_MAX`], the longest overdue
    /// first. A new target is first due at a point of the interval derived from its id and
    /// the observer, so the probes of many targets and observers do not come at once.
    /// Targets no longer given are forgotten; past [`TARGETS_MAX`] the rest are ignored.
    pub fn due(&mut self, targets: &[Target], observer: NodeId, now_ms: u64) -> Vec<Target> {
        let mut wanted: Vec<&Target> = targets.iter().collect();
        wanted.sort_unstable();
        wanted.dedup();
        wanted.truncate(TARGETS_MAX);
        let mut next = BTreeMap::new();
        for target in wanted {
            let due = self
                .next_due_ms
                .get(target)
                .copied()
                .unwrap_or_else(|| now_ms + spread(&target.id, observer) % PROBE_INTERVAL_MS);
            next.insert(target.clone(), due);
        }
        self.next_due_ms = next;
        let mut ready: Vec<(u64, &Target)> = self
            .next_due_ms
            .iter()
            .filter(|(_, due)| **due <= now_ms)
            .map(|(target, due)| (*due, target))
            .collect();
        ready.sort_unstable();
        ready.truncate(PROBES_PER_ROUND_MAX);
        let chosen: Vec<Target> = ready.into_iter().map(|(_, t)| t.clone()).collect();
        for target in &chosen {
            let due = self
                .next_due_ms
                .get_mut(target)
                .expect("chosen from the map");
            // Due again one interval later; one far behind starts afresh from now.
            *due = (*due + PROBE_INTERVAL_MS).max(now_ms);
        }
        chosen
    }
}

/// FNV-1a of the target id and the observer: a fixed, well-spread offset.
fn spread(id: &str, observer: NodeId) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes().chain(observer.0.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// One observer's newest view of one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    /// The target's id.
    pub target: String,
    /// The node the observer probed it on (a moved resource is another target).
    pub owner: NodeId,
    /// Whether the probe succeeded.
    pub reachable: bool,
    /// Why it failed (empty when it succeeded).
    pub detail: String,
}

/// The master's book of every observer's views, each with when it arrived.
#[derive(Debug, Default)]
pub struct Book {
    views: BTreeMap<(String, NodeId), BTreeMap<NodeId, (bool, u64)>>,
}

impl Book {
    /// Records `observer`'s views as of `now_ms`; a target it no longer reports keeps its
    /// last view until that is stale.
    pub fn record(&mut self, observer: NodeId, views: &[View], now_ms: u64) {
        for view in views.iter().take(TARGETS_MAX) {
            self.views
                .entry((view.target.clone(), view.owner))
                .or_default()
                .insert(observer, (view.reachable, now_ms));
        }
    }

    /// Forgets stale views.
    pub fn expire(&mut self, now_ms: u64) {
        for by_observer in self.views.values_mut() {
            by_observer.retain(|_, (_, at)| now_ms.saturating_sub(*at) <= VIEW_STALE_MS);
        }
        self.views.retain(|_, by_observer| !by_observer.is_empty());
    }

    /// The fresh views of `target` except its owner's: (reachable, observers).
    pub fn outside(&self, target: &Target, now_ms: u64) -> Outside {
        self.outside_since(target, 0, now_ms)
    }

    /// The fresh views of `target` except its owner's received at `since_ms` or later.
    pub fn outside_since(&self, target: &Target, since_ms: u64, now_ms: u64) -> Outside {
        let mut outside = Outside::default();
        for (observer, (reachable, at)) in self
            .views
            .get(&(target.id.clone(), target.owner))
            .into_iter()
            .flatten()
        {
            if *observer == target.owner
                || now_ms.saturating_sub(*at) > VIEW_STALE_MS
                || *at < since_ms
            {
                continue;
            }
            outside.observers += 1;
            if *reachable {
                outside.reachable += 1;
            }
        }
        outside
    }
}

/// How many observers saw a target, and how many of them reached it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outside {
    /// Observers with a fresh view.
    pub observers: u32,
    /// Of those, the ones that reached it.
    pub reachable: u32,
}

/// What the inside and outside views say together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Healthy inside and reached by a majority outside (or by all, when none reported).
    Reachable,
    /// Healthy inside, but a majority of its observers cannot reach it.
    Unreachable,
    /// Its own monitor fails, yet a majority of its observers reach it.
    FailedInside,
    /// Failed inside and unreachable outside: both agree.
    Down,
    /// No fresh outside view yet.
    Unknown,
}

impl Verdict {
    /// Combines the owner's own monitor with the outside views.
    pub fn of(healthy_inside: bool, outside: Outside) -> Verdict {
        if outside.observers == 0 {
            return Verdict::Unknown;
        }
        let reached_by_majority = outside.reachable * 2 > outside.observers;
        let missed_by_majority = (outside.observers - outside.reachable) * 2 > outside.observers;
        match (healthy_inside, reached_by_majority, missed_by_majority) {
            (true, _, true) => Verdict::Unreachable,
            (true, _, false) => Verdict::Reachable,
            (false, true, _) => Verdict::FailedInside,
            (false, false, _) => Verdict::Down,
        }
    }

    /// The word used in status, events and the API.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Reachable => "reachable",
            Verdict::Unreachable => "unreachable",
            Verdict::FailedInside => "failed_inside",
            Verdict::Down => "down",
            Verdict::Unknown => "unknown",
        }
    }

    /// Whether the two views disagree, which is what gets reported.
    pub fn is_split(self) -> bool {
        matches!(self, Verdict::Unreachable | Verdict::FailedInside)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// A target whose views started or stopped disagreeing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The target.
    pub target: Target,
    /// The verdict before (`Unknown` for a new target).
    pub from: Verdict,
    /// The verdict now.
    pub to: Verdict,
    /// The outside views behind it.
    pub outside: Outside,
}

/// The master's running verdicts, one per target.
#[derive(Debug, Default)]
pub struct Judge {
    verdicts: BTreeMap<String, (Target, Verdict, Outside)>,
}

impl Judge {
    /// Judges every target with its inside health; the changes into or out of a split
    /// verdict (unknown and down are not news: the owner's monitor reports those). A target
    /// no longer given (stopped, moved) is forgotten without a change.
    pub fn judge(&mut self, insides: &[(Target, bool)], book: &Book, now_ms: u64) -> Vec<Change> {
        let mut next = BTreeMap::new();
        let mut changes = Vec::new();
        for (target, healthy) in insides {
            let outside = book.outside(target, now_ms);
            let verdict = Verdict::of(*healthy, outside);
            let before = self
                .verdicts
                .get(&target.id)
                .map_or(Verdict::Unknown, |(_, verdict, _)| *verdict);
            // An unknown verdict keeps the last known one: a view that went stale says
            // nothing new.
            let kept = if verdict == Verdict::Unknown {
                before
            } else {
                verdict
            };
            if kept != before && (kept.is_split() || before.is_split()) {
                changes.push(Change {
                    target: target.clone(),
                    from: before,
                    to: kept,
                    outside,
                });
            }
            next.insert(target.id.clone(), (target.clone(), kept, outside));
        }
        self.verdicts = next;
        changes
    }

    /// The current verdict of every target, by id.
    pub fn verdicts(&self) -> BTreeMap<String, (Target, Verdict, Outside)> {
        self.verdicts.clone()
    }
}

#[cfg(test)]
mod tests;
