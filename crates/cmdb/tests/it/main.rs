//! Integration tests of the cmdb storage: the redb log store and the snapshotting state
//! machine must pass openraft's own storage test suite, which checks the log, vote,
//! truncation, purge and snapshot contracts that Raft's safety relies on.

use cmdb::{LogStore, StateMachine, TypeConfig};
use openraft::StorageError;
use openraft::testing::log::{StoreBuilder, Suite};

struct RedbBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for RedbBuilder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let log_store = LogStore::open(&dir.path().join("log.redb")).expect("open log store");
        let state_machine = StateMachine::open(dir.path()).expect("open state machine");
        Ok((dir, log_store, state_machine))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_store_passes_openraft_storage_suite() {
    Suite::test_all(RedbBuilder)
        .await
        .expect("openraft storage suite");
}
