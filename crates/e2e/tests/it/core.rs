//! Cluster core: formation, master failover, catch-up and rejoin.

use std::time::Duration;

use e2e::{Cluster, wait_until};

const SETTLE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_node_cluster_forms_with_one_master_and_three_voters() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let status = wait_until("three online voters", SETTLE, || async {
        let status = cluster.client(1).status().await.ok()?;
        let ready = status.nodes.len() == 3
            && status
                .nodes
                .iter()
                .all(|n| n.role == "voter" && n.state == "online");
        ready.then_some(status)
    })
    .await;
    assert_eq!(status.master, Some(master));
    assert_eq!(status.nodes.iter().filter(|n| n.is_master).count(), 1);
    // A write on any node reaches the master and is readable everywhere, linearizably.
    let written = cluster
        .client(3)
        .kv_put("greeting", "hello")
        .await
        .expect("put via node 3");
    for id in 1..=3 {
        let value = cluster
            .client(id)
            .kv_get("greeting", false)
            .await
            .expect("read");
        assert_eq!(value.value, "hello");
        assert_eq!(value.revision, written.revision);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_kill9_elects_new_master_with_every_committed_write() {
    let mut cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    for i in 0..50 {
        cluster
            .client(1)
            .kv_put(&format!("k{i}"), &format!("v{i}"))
            .await
            .expect("put");
    }
    cluster.kill9(master);
    let new_master = cluster.wait_master(SETTLE).await;
    assert_ne!(new_master, master);
    let survivor = cluster.running()[0];
    for i in 0..50 {
        let value = cluster
            .client(survivor)
            .kv_get(&format!("k{i}"), false)
            .await
            .expect("read");
        assert_eq!(value.value, format!("v{i}"), "committed write k{i} lost");
    }
    cluster
        .client(survivor)
        .kv_put("after", "failover")
        .await
        .expect("write after failover");
    let events = cluster.client(survivor).events(0, 0).await.expect("events");
    let elected = events
        .events
        .iter()
        .any(|e| e.kind == "master_elected" && e.detail["node"] == serde_json::json!(new_master));
    assert!(
        elected,
        "no master_elected event for node {new_master}: {events:?}"
    );
    let down = wait_until("the old master's down event", SETTLE, || async {
        let events = cluster.client(new_master).events(0, 0).await.ok()?;
        events.events.into_iter().find(|e| {
            e.kind == "node_health"
                && e.detail["node"] == serde_json::json!(master)
                && e.detail["to"] == "down"
        })
    })
    .await;
    assert!(down.message.contains("down"), "{down:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_node_catches_up_from_the_log() {
    let mut cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let follower = (1..=3).find(|id| *id != master).expect("a follower");
    cluster.kill9(follower);
    for i in 0..20 {
        cluster
            .client(master)
            .kv_put(&format!("missed{i}"), "x")
            .await
            .expect("put");
    }
    cluster.start_node(follower).expect("restart");
    wait_until("the restarted node to hold every write", SETTLE, || async {
        let value = cluster
            .client(follower)
            .kv_get("missed19", true)
            .await
            .ok()?;
        (value.value == "x").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_with_wiped_data_dir_rejoins_from_a_snapshot() {
    let edits = [(
        "snapshot_logs_since_last = 5000",
        "snapshot_logs_since_last = 40",
    )];
    let mut cluster = Cluster::start(3, 5, &edits).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let victim = (1..=3)
        .rev()
        .find(|id| *id != master && *id != 1)
        .expect("a non-bootstrap follower");
    cluster.kill9(victim);
    let data_dir = cluster
        .cluster_dir()
        .join(format!("node{victim}"))
        .join("data");
    std::fs::remove_dir_all(&data_dir).expect("wipe the data directory");
    // Enough writes that the master snapshots and purges the log the victim would need.
    for i in 0..150 {
        cluster
            .client(master)
            .kv_put(&format!("s{i}"), &format!("{i}"))
            .await
            .expect("put");
    }
    cluster
        .start_node(victim)
        .expect("restart with an empty data directory");
    wait_until("the wiped node to hold the last write", SETTLE, || async {
        let value = cluster.client(victim).kv_get("s149", true).await.ok()?;
        (value.value == "149").then_some(())
    })
    .await;
    assert!(
        data_dir.join("snapshot.bin").exists(),
        "the node did not install a snapshot"
    );
    let first = cluster
        .client(victim)
        .kv_get("s0", true)
        .await
        .expect("first write");
    assert_eq!(
        first.value, "0",
        "the early writes did not come back with the snapshot"
    );
}
