//! Rolling upgrades: what each node reports of its version, and when the master raises the
//! cluster format (see `cmdb`'s `format` module for what the format gates).
//!
//! Every heartbeat carries the sender's version and the highest cluster format it can
//! write (`peer::HeartbeatVersion`, after the heartbeat itself, so an older master reads
//! the heartbeat and ignores it). The master keeps the newest report of each node
//! ([`NodeReports`]); a node whose heartbeats carry none runs encluster 0.11.0 or older,
//! which writes format 1. The master raises the format to the lowest one every member
//! node reports, once each of them has reported to it recently ([`format_to_raise`]):
//! a node that is down, or has not spoken to this master yet, holds the format back, since
//! it may come back running an older encluster.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use cmdb::{ClusterDb, FORMAT_CURRENT, FORMAT_OLDEST};
use model::BootMs;

/// How recent a node's report must be for the master to count it.
pub(crate) const REPORT_FRESH: Duration = Duration::from_secs(2);

/// What one node last reported of itself, as the master heard it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeReport {
    /// Its version (`0.11.0 (commit 1234abcd)`); `None` for an agent that predates reports.
    pub version: Option<String>,
    /// The highest cluster format it can write.
    pub format: u32,
    /// When the master heard it (boot clock).
    pub at: BootMs,
}

/// The newest report of each node, by node id; filled by the peer listener.
pub type NodeReports = Arc<Mutex<BTreeMap<u64, NodeReport>>>;

static VERSION: OnceLock<String> = OnceLock::new();

/// Names this build's version in heartbeats and `status` (the binary calls it with the
/// text of `encluster --version`); the crate version until then.
pub fn set_version(version: &str) {
    let _ = VERSION.set(version.to_string());
}

/// This build's version.
pub fn version() -> String {
    VERSION
        .get()
        .cloned()
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string())
}

/// The cluster format the master should raise to now, if any: the lowest format reported
/// by the member nodes (the cmdb's node table), when every one of them reported within
/// `REPORT_FRESH` of `now` and that format is above the cluster's. `own` is the master,
/// which reports to itself. Never above what this build can write.
pub(crate) fn format_to_raise(
    db: &ClusterDb,
    reports: &BTreeMap<u64, NodeReport>,
    own: u64,
    now: BootMs,
) -> Option<u32> {
    let oldest_fresh = BootMs(now.0.saturating_sub(REPORT_FRESH.as_millis() as u64));
    let mut lowest = FORMAT_CURRENT;
    for id in db.nodes.keys() {
        if id.0 == own {
            continue;
        }
        let report = reports
            .get(&id.0)
            .filter(|report| report.at >= oldest_fresh)?;
        lowest = lowest.min(report.format.max(FORMAT_OLDEST));
    }
    (!db.nodes.is_empty() && lowest > db.cluster_format()).then_some(lowest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{NodeId, NodeInfo};

    fn db_of(ids: &[u64]) -> ClusterDb {
        let mut db = ClusterDb::default();
        for id in ids {
            let info = NodeInfo {
                name: format!("node{id}"),
                peer_addr: format!("127.0.0.{id}:7510"),
                api_addr: format!("127.0.0.{id}:7511"),
            };
            db.apply(cmdb::Command::UpsertNode {
                id: NodeId(*id),
                info,
                at_ms: 1,
            });
        }
        db
    }

    fn report(format: u32, at: u64) -> NodeReport {
        NodeReport {
            version: None,
            format,
            at: BootMs(at),
        }
    }

    #[test]
    fn the_format_rises_only_when_every_member_reports_it_recently() {
        let db = db_of(&[1, 2, 3]);
        let now = BootMs(10_000);
        let mut reports = BTreeMap::from([(2, report(FORMAT_CURRENT, 9_900))]);
        assert_eq!(format_to_raise(&db, &reports, 1, now), None, "3 unheard");
        reports.insert(3, report(FORMAT_OLDEST, 9_950));
        assert_eq!(format_to_raise(&db, &reports, 1, now), None, "3 is old");
        reports.insert(3, report(FORMAT_CURRENT, 7_000));
        assert_eq!(format_to_raise(&db, &reports, 1, now), None, "3 is stale");
        reports.insert(3, report(FORMAT_CURRENT, 9_990));
        assert_eq!(format_to_raise(&db, &reports, 1, now), Some(FORMAT_CURRENT));
        let mut raised = db.clone();
        raised.apply(cmdb::Command::SetClusterFormat {
            format: FORMAT_CURRENT,
        });
        assert_eq!(format_to_raise(&raised, &reports, 1, now), None, "done");
    }

    #[test]
    fn a_report_of_a_newer_format_raises_only_to_what_this_master_writes() {
        let db = db_of(&[1, 2]);
        let reports = BTreeMap::from([(2, report(FORMAT_CURRENT + 5, 100))]);
        assert_eq!(
            format_to_raise(&db, &reports, 1, BootMs(100)),
            Some(FORMAT_CURRENT)
        );
        assert_eq!(
            format_to_raise(&db_of(&[1]), &reports, 1, BootMs(100)),
            Some(FORMAT_CURRENT)
        );
    }
}
