//! Tests of the force-quorum record that tells a survivor from the node left behind.

use super::{FORCED_MARKER, forced_entry, write_marker};

#[test]
fn forced_entry_reads_what_force_quorum_wrote_and_refuses_anything_else() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    assert_eq!(forced_entry(dir.path()).expect("no record"), None);
    write_marker(dir.path(), FORCED_MARKER, 7, 42).expect("write the record");
    assert_eq!(forced_entry(dir.path()).expect("the record"), Some((7, 42)));
    std::fs::write(dir.path().join(FORCED_MARKER), "7").expect("truncate the record");
    let error = forced_entry(dir.path()).expect_err("a damaged record is an error");
    assert!(
        error.to_string().contains("is not `<term> <index>`"),
        "{error}"
    );
}

// --- witness ---
mod granted {
    use std::collections::{BTreeMap, BTreeSet};

    use openraft::EntryPayload;
    use openraft::entry::RaftEntry;
    use openraft::vote::RaftLeaderId;

    use super::super::{FORCED_MARKER, force_single_voter_granted};
    use crate::log_store::LogStore;
    use crate::types::{Entry, LogId, Membership};

    fn info(id: u64) -> model::NodeInfo {
        model::NodeInfo {
            name: format!("node{id}"),
            peer_addr: format!("127.0.0.{id}:7500"),
            api_addr: format!("127.0.0.{id}:7511"),
        }
    }

    fn log_id(term: u64, leader: u64, index: u64) -> LogId {
        let leader = openraft::impls::leader_id_adv::LeaderId::new(term, leader).to_committed();
        LogId::new(leader, index)
    }

    /// A log whose newest membership is voters {1, 2} at (3, 1, 4), then a blank entry.
    fn two_voters(dir: &std::path::Path) {
        let nodes: BTreeMap<u64, model::NodeInfo> = [(1, info(1)), (2, info(2))].into();
        let membership =
            Membership::new(vec![BTreeSet::from([1, 2])], nodes).expect("a membership");
        let store = LogStore::open(&dir.join("raft-log.redb")).expect("a log store");
        store
            .append_now(vec![
                Entry::new(log_id(3, 1, 4), EntryPayload::Membership(membership)),
                Entry::new(log_id(3, 1, 5), EntryPayload::Blank),
            ])
            .expect("append");
    }

    #[tokio::test]
    async fn a_grant_rewrites_only_the_membership_it_names_and_only_once() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        two_voters(dir.path());
        let wrong = force_single_voter_granted(dir.path(), 2, (3, 1, 3)).await;
        assert!(wrong.is_err(), "a grant for another membership is void");
        let report = force_single_voter_granted(dir.path(), 2, (3, 1, 4))
            .await
            .expect("the granted membership");
        assert_eq!(report.voters_before, BTreeSet::from([1, 2]));
        assert_eq!(
            (report.term, report.index),
            (3 + super::super::GRANTED_TERM_STEP, 6)
        );
        assert!(
            !dir.path().join(FORCED_MARKER).exists(),
            "the peer must not be told to wipe its data: no committed entry is lost"
        );
        let again = force_single_voter_granted(dir.path(), 2, (3, 1, 4)).await;
        let error = again.expect_err("done already: the newest membership is node 2 alone");
        assert!(error.to_string().contains("is void"), "{error}");
    }
}
