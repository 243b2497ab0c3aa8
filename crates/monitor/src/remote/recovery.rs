//! What an `unreachable` verdict does (issue 13, point 3): by default only a warning (the
//! `remote_view` event and `status`), or, for a resource whose `remote_failure` parameter
//! is `recover`, a failure of that instance, which the master records as a failed monitor
//! under the instance's own grant (fencing token) so recovery runs as for any failure: the
//! grant is spent, the instance is stopped, and only a new grant starts it again.
//!
//! [`Recoveries`] decides, without IO, which instances to fail: each unreachable one whose
//! resource asks for it, once per grant, judged only on views received well after the
//! master first saw that grant running (a restarted instance is not failed again on the views of
//! the one before it, nor on probes that ran while it restarted); a failure that could not
//! be written is retried the next round, and one for an older grant is never sent.

use std::collections::{BTreeMap, BTreeSet};

use model::NodeId;

use super::{Book, Outside, PROBE_INTERVAL_MS, PROBE_TIMEOUT_MS, Target, TargetKind, Verdict};

/// How long after the master first sees a grant running its observers' views count for
/// it: observers report their newest result every second, and probe each target once an
/// interval, so by then each view comes from a probe of this instance.
pub const FRESH_AFTER_MS: u64 = PROBE_INTERVAL_MS + PROBE_TIMEOUT_MS + 1_000;

/// The parameter that chooses it.
pub const REMOTE_FAILURE_PARAM: &str = "remote_failure";

/// What an `unreachable` verdict on a resource's instance does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RemoteFailure {
    /// An event and `status` only (the default).
    #[default]
    Warn,
    /// A failure of the instance: recovery as usual.
    Recover,
}

impl RemoteFailure {
    /// The policy of a `remote_failure` value (`None`: not set, the default).
    pub fn parse(value: Option<&str>) -> Result<RemoteFailure, String> {
        match value {
            None | Some("warn") => Ok(RemoteFailure::Warn),
            Some("recover") => Ok(RemoteFailure::Recover),
            Some(other) => Err(format!(
                "{REMOTE_FAILURE_PARAM}: {other:?} is not a choice; use \"recover\" (an \
                 instance unreachable from outside counts as failed) or \"warn\" (the default)"
            )),
        }
    }
}

/// The resource a target belongs to: `resource:web` and `vip:v1` are their resource's,
/// `listener:web@10.0.0.5:80` its director's; a node's API is no resource's.
pub fn resource_of(target: &Target) -> Option<&str> {
    let name = target.id.split_once(':')?.1;
    match target.kind {
        TargetKind::Resource | TargetKind::Vip => Some(name),
        TargetKind::Listener => name.split_once('@').map(|(resource, _)| resource),
        TargetKind::Node => None,
    }
}

/// One instance to fail: the target, its owner's grant, and the views behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFailed {
    /// The unreachable target.
    pub target: Target,
    /// Its resource.
    pub resource: String,
    /// The fencing token of the owner's grant of it.
    pub fencing_token: u64,
    /// The outside views.
    pub outside: Outside,
}

impl RemoteFailed {
    /// The failure's reason, for the operation log and the failure event.
    pub fn reason(&self) -> String {
        format!(
            "unreachable from outside: {} of {} observers cannot reach {} \
             ({REMOTE_FAILURE_PARAM} = recover)",
            self.outside.observers - self.outside.reachable,
            self.outside.observers,
            self.target.id
        )
    }
}

/// The master's record of the grants it saw running and of the ones it failed.
#[derive(Debug, Default)]
pub struct Recoveries {
    /// (resource, owner, token) → when the master first saw the grant running.
    seen: BTreeMap<(String, NodeId, u64), u64>,
    /// Grants already failed.
    failed: BTreeSet<(String, NodeId, u64)>,
}

impl Recoveries {
    /// The instances to fail at `now_ms`, given every verdict, the observers' views and,
    /// for a target, its resource's policy and the owner's current grant while it runs
    /// (`None` otherwise). A grant is failed once, and only on views received
    /// [`FRESH_AFTER_MS`] after the master first saw it running. Grants no longer given
    /// are forgotten, so the records stay as many as the running targets.
    pub fn due(
        &mut self,
        verdicts: &BTreeMap<String, (Target, Verdict, Outside)>,
        book: &Book,
        now_ms: u64,
        grant_of: impl Fn(&str, NodeId) -> Option<(RemoteFailure, u64)>,
    ) -> Vec<RemoteFailed> {
        let mut out = Vec::new();
        let mut granted = BTreeMap::new();
        for (target, verdict, _) in verdicts.values() {
            let Some(resource) = resource_of(target) else {
                continue;
            };
            let Some((policy, token)) = grant_of(resource, target.owner) else {
                continue;
            };
            let key = (resource.to_owned(), target.owner, token);
            let seen_at = *self.seen.get(&key).unwrap_or(&now_ms);
            granted.insert(key.clone(), seen_at);
            if policy != RemoteFailure::Recover || *verdict != Verdict::Unreachable {
                continue;
            }
            let since = seen_at.saturating_add(FRESH_AFTER_MS);
            let outside = book.outside_since(target, since, now_ms);
            if Verdict::of(true, outside) == Verdict::Unreachable && self.failed.insert(key) {
                out.push(RemoteFailed {
                    target: target.clone(),
                    resource: resource.to_owned(),
                    fencing_token: token,
                    outside,
                });
            }
        }
        self.failed.retain(|key| granted.contains_key(key));
        self.seen = granted;
        out
    }

    /// The failure could not be written: try again next round.
    pub fn not_written(&mut self, failed: &RemoteFailed) {
        self.failed.remove(&(
            failed.resource.clone(),
            failed.target.owner,
            failed.fencing_token,
        ));
    }
}
