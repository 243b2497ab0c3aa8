//! Fail-stop (issue 10): a node whose Raft core stopped (a full disk) exits instead of
//! answering with a stale master; an old voter returning after `force-quorum` is refused
//! and told what to do; after sequential failures the last node says plainly that it has
//! lost its quorum, and what the operator can do.

use std::collections::BTreeMap;
use std::time::Duration;

use e2e::smallfs::{self, SmallFs};
use e2e::{Cluster, binary, wait_until};

const SETTLE: Duration = Duration::from_secs(20);

fn force_quorum(cluster: &Cluster, id: u64) {
    let config = cluster.nodes[(id - 1) as usize].config.clone();
    let output = std::process::Command::new(binary())
        .args(["force-quorum", "--yes-i-understand-the-risk", "--config"])
        .arg(&config)
        .output()
        .expect("run force-quorum");
    assert!(
        output.status.success(),
        "force-quorum failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Wait until node `id`'s agent exits by itself; its exit code.
async fn exit_code(cluster: &mut Cluster, id: u64, timeout: Duration) -> Option<i32> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = cluster.exited(id) {
            return status.code();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node {id}'s agent did not stop within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Leaves a cluster whose survivor missed a committed write and was then forced to be the
/// only voter. The survivor serves again; the two old voters are stopped. Returns
/// (survivor, the old master).
async fn force_quorum_without_the_last_write(cluster: &mut Cluster) -> (u64, u64) {
    let master = cluster.wait_master(SETTLE).await;
    let survivor = (1..=3).find(|id| *id != master).expect("a follower");
    let old_voters: Vec<u64> = (1..=3).filter(|id| *id != survivor).collect();
    cluster
        .client(master)
        .kv_put("before", "1")
        .await
        .expect("put");
    wait_until("the survivor to hold the write", SETTLE, || async {
        let value = cluster.client(survivor).kv_get("before", true).await.ok()?;
        (value.value == "1").then_some(())
    })
    .await;
    // The survivor misses a write the two others commit, then those two are lost. It is
    // stopped, not paused: a paused agent's kernel still queues the append, and resumed,
    // it would hold the write after all (then the old voter rightly finds no conflict).
    cluster.stop(survivor);
    cluster
        .client(master)
        .kv_put("lost", "1")
        .await
        .expect("put");
    for id in &old_voters {
        cluster.kill9(*id);
    }
    force_quorum(cluster, survivor);
    cluster.start_node(survivor).expect("restart the survivor");
    assert_eq!(cluster.wait_master(SETTLE).await, survivor);
    let after = cluster.client(survivor).kv_put("after", "3").await;
    after.expect("write after force-quorum");
    (survivor, master)
}

/// Issue 10: the old voter, back after a force-quorum, resumed as master in its old term;
/// then openraft panicked on a debug assertion (in release it would silently have taken
/// the survivor's log over entries it had committed), and the agent kept running. It must
/// stop and say what to do; done, it rejoins and the replicas agree, without the write the
/// survivor never had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_voter_returning_after_force_quorum_is_refused_and_told_to_rejoin_10() {
    // The stopped survivor stays a voter: the old voters' membership keeps all three.
    let slow_down = [(r#"down_after = "500ms""#, r#"down_after = "60s""#)];
    let mut cluster = Cluster::start(3, 5, &slow_down).expect("start cluster");
    let (survivor, old_voter) = force_quorum_without_the_last_write(&mut cluster).await;
    cluster.start_node(old_voter).expect("start the old voter");
    let code = exit_code(&mut cluster, old_voter, SETTLE).await;
    assert_eq!(code, Some(70), "the old voter must fail-stop");
    let log = cluster.log(old_voter);
    assert!(
        log.contains("encluster force-quorum") && log.contains("delete its data directory"),
        "the old voter does not say what happened and what to do:\n{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "a log file gets no terminal escape codes"
    );
    // The survivor keeps serving, as the master.
    let still = cluster.client(survivor).kv_put("still", "3").await;
    still.expect("the survivor still writes");
    assert_eq!(cluster.wait_master(SETTLE).await, survivor);

    // What the message says to do: delete the data directory and start again.
    std::fs::remove_dir_all(cluster.data_dir(old_voter)).expect("wipe the data directory");
    cluster
        .start_node(old_voter)
        .expect("restart the wiped old voter");
    wait_until(
        "the old voter to hold the survivor's writes",
        SETTLE,
        || async {
            let value = cluster.client(old_voter).kv_get("still", true).await.ok()?;
            (value.value == "3").then_some(())
        },
    )
    .await;
    for id in [survivor, old_voter] {
        let client = cluster.client(id);
        let lost = client.kv_get("lost", true).await;
        assert!(lost.is_err(), "node {id} still has the discarded write");
        for key in ["before", "after", "still"] {
            client.kv_get(key, true).await.expect("the kept writes");
        }
    }
    assert!(cluster.exited(survivor).is_none() && cluster.exited(old_voter).is_none());
}

/// Issue 10, point 6: three nodes, the master killed twice. The last node cannot write
/// (with two nodes the survivor was a learner: no witness, no fencing), and its status
/// showed the dead master as master and online. It must say it lost its quorum, whom it
/// last heard from, and that `force-quorum` is the way out (`membership.rs` tests that).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_failures_leave_the_last_node_saying_it_lost_its_quorum_10() {
    let mut cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let first = cluster.wait_master(SETTLE).await;
    cluster.client(first).kv_put("one", "1").await.expect("put");
    cluster.kill9(first);
    let second = cluster.wait_master(SETTLE).await;
    // Let the dynamic quorum settle on two nodes: the master votes, the other learns.
    wait_until("the dead master out of the voters", SETTLE, || async {
        let status = cluster.client(second).status().await.ok()?;
        let dead = status.nodes.iter().find(|n| n.id == first)?;
        (dead.state == "down" && dead.role != "voter").then_some(())
    })
    .await;
    cluster
        .client(second)
        .kv_put("two", "2")
        .await
        .expect("put");
    let last = (1..=3)
        .find(|id| ![first, second].contains(id))
        .expect("a third node");
    cluster.kill9(second);

    let status = wait_until(
        "the last node to report its lost quorum",
        SETTLE,
        || async {
            let status = cluster.client(last).status().await.ok()?;
            (status.quorum.as_deref() == Some("lost")).then_some(status)
        },
    )
    .await;
    assert_eq!(status.master, None);
    assert_eq!(status.last_master, Some(second));
    let dead = status
        .nodes
        .iter()
        .find(|n| n.id == second)
        .expect("listed");
    assert!(!dead.is_master, "a dead master is shown as master");
    assert_ne!(dead.state, "online", "a dead master is shown online");
    let health = cluster.client(last).health().await.expect("health");
    assert_eq!(
        (health.master, health.quorum.as_deref()),
        (None, Some("lost"))
    );
    let shown = cluster.cli(last, &["status"]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("quorum lost") && text.contains("encluster force-quorum"),
        "status does not say the quorum is lost and what to do:\n{text}"
    );
}

/// Issue 10: with the data directory on a full filesystem openraft's core stopped
/// (`RaftCore::main error`), yet the node kept answering `/v1/health` with an old master.
/// Now its agent exits; the two others keep serving and no acknowledged write is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_stops_the_nodes_agent_and_the_others_keep_every_write_10() {
    let test = "full_disk_stops_the_nodes_agent_and_the_others_keep_every_write_10";
    if !smallfs::enabled(test) {
        return;
    }
    let mut cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let victim = (1..=3).find(|id| *id != master).expect("a follower");
    let other = (1..=3)
        .find(|id| ![master, victim].contains(id))
        .expect("a third");
    cluster.stop(victim);
    let small = SmallFs::mount_over(&cluster.data_dir(victim), 32 << 20).expect("mount tmpfs");
    cluster
        .start_node(victim)
        .expect("restart on the small filesystem");
    cluster
        .client(master)
        .kv_put("first", "1")
        .await
        .expect("put");
    wait_until("the victim to hold a write", SETTLE, || async {
        cluster.client(victim).kv_get("first", true).await.ok()
    })
    .await;
    small.fill().expect("fill the filesystem");

    let value = "x".repeat(16 * 1024);
    let mut acknowledged: BTreeMap<String, u64> = BTreeMap::new();
    let mut exit = None;
    for i in 0..4000 {
        let key = format!("fill{i}");
        if let Ok(written) = cluster.client(other).kv_put(&key, &value).await {
            acknowledged.insert(key, written.revision);
        }
        exit = cluster.exited(victim);
        if exit.is_some() {
            break;
        }
    }
    let exit = exit.expect("the victim's agent kept running on a full disk");
    assert_eq!(exit.code(), Some(70), "not a fail-stop exit: {exit:?}");
    let log = cluster.log(victim);
    assert!(
        log.contains("openraft's core"),
        "the log does not name the cause:\n{}",
        &log[log.len().saturating_sub(4000)..]
    );

    // The two others keep serving, with every acknowledged write.
    let last = cluster.client(other).kv_put("after", "1").await;
    let last = last.expect("the others still write");
    for id in [master, other] {
        wait_until("the last write everywhere", SETTLE, || async {
            let read = cluster.client(id).kv_get("after", true).await.ok()?;
            (read.revision == last.revision).then_some(())
        })
        .await;
        for (key, revision) in &acknowledged {
            let read = cluster.client(id).kv_get(key, true).await;
            let read = read.unwrap_or_else(|e| panic!("node {id} lost {key}: {e}"));
            assert_eq!(read.revision, *revision, "node {id}: {key} changed");
        }
    }
    drop(small);
}
