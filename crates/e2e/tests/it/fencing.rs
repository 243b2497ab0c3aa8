//! Fencing devices (issue 16) with real agents on loopback and Debian's `fence_dummy`, for
//! the fence-agents protocol: a device is added with the CLI (its parameters checked
//! against the agent's meta-data), tested, shown and exported; `node fence` powers a node
//! "off" (fence_dummy's status file says OFF); a killed node is fenced by the master, and
//! the attempt is in the fencing history, linked to the node's incident.
//!
//! Method: each step goes through the CLI binary and the API; the tests poll with a
//! deadline. `fence_dummy` powers nothing off, so no resource runs on the killed node here:
//! the real effect of a fence is tested on the namespace test bed.

use std::time::Duration;

use e2e::{Cluster, output_text, wait_until};

const SETTLE: Duration = Duration::from_secs(20);
const FENCE_DUMMY: &str = "/usr/sbin/fence_dummy";

fn dummy_installed() -> bool {
    if std::path::Path::new(FENCE_DUMMY).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "fence-agents is not installed (apt-get install fence-agents)"
    );
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fence_dummy_devices_fence_nodes_by_hand_and_when_lost() {
    if !dummy_installed() {
        return;
    }
    let mut cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let status_file = dir.path().join("status");
    std::fs::write(&status_file, "on").expect("status file");
    let status_param = format!("status_file={}", status_file.display());
    let refused = cluster.cli(
        master,
        &[
            "fence",
            "add",
            "dummy",
            "--agent",
            "fence_dummy",
            "--hosts",
            "node1,node2,node3",
        ]
        .iter()
        .copied()
        .chain(["--param", "no_such_param=1"])
        .collect::<Vec<_>>(),
    );
    assert!(!refused.status.success(), "an unknown parameter is refused");
    assert!(
        output_text(&refused).contains("no_such_param"),
        "{}",
        output_text(&refused)
    );
    let hosts = "node1,node2,node3";
    let args = [
        "fence",
        "add",
        "dummy",
        "--agent",
        "fence_dummy",
        "--hosts",
        hosts,
        "--param",
        &status_param,
        "--timeout",
        "20s",
    ];
    let added = cluster.cli(master, &args);
    assert!(added.status.success(), "{}", output_text(&added));
    let tested = cluster.cli(master, &["fence", "test", "dummy"]);
    assert!(tested.status.success(), "{}", output_text(&tested));
    let shown = cluster.cli(master, &["fence", "show", "dummy"]);
    assert!(
        output_text(&shown).contains("status_file"),
        "{}",
        output_text(&shown)
    );
    let exported = cluster.cli(master, &["config", "export"]);
    assert!(
        output_text(&exported).contains("[[fence]]"),
        "{}",
        output_text(&exported)
    );
    // By hand: the master runs the agent's off, which writes OFF to the status file.
    let other = if master == 3 { 2 } else { 3 };
    let node_name = format!("node{other}");
    let fenced = cluster.cli(master, &["node", "fence", &node_name]);
    assert!(fenced.status.success(), "{}", output_text(&fenced));
    let status = std::fs::read_to_string(&status_file).expect("status file");
    assert_eq!(status.trim(), "off");
    // Lost: a killed node is fenced by the master, and the attempt names its incident.
    let client = cluster.client(master);
    let victim = if master == 1 { 2 } else { 1 };
    cluster.crash(victim);
    let record = wait_until("the lost node fenced", SETTLE, || async {
        let devices = client.fence_devices().await.ok()?;
        devices
            .history
            .into_iter()
            .find(|r| r.node == victim && r.reason == "lost" && r.finished_at_ms.is_some())
    })
    .await;
    assert_eq!(record.outcome, "confirmed", "{record:?}");
    let incidents = client.incidents().await.expect("incidents").incidents;
    let incident = incidents
        .iter()
        .find(|i| Some(i.id) == record.incident)
        .expect("the attempt names the node's incident");
    assert_eq!(incident.node, victim);
    // The incident shows the confirmation as a phase of its own (the CLI's table shows it
    // when it came before the lease's end: `cli::alerts` tests pin that).
    assert_eq!(
        incident.fence_confirmed_at_ms, record.finished_at_ms,
        "{incident:?}"
    );
    let listed = cluster.cli(master, &["fence", "list"]);
    assert!(
        output_text(&listed).contains("confirmed"),
        "{}",
        output_text(&listed)
    );
}
