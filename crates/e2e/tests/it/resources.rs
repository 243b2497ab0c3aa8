//! Resources end to end: real processes and real OCF agents managed by a real cluster.
//! Crashes are restarted in place, moved past the migration threshold, groups follow a
//! lost node in order, operators move, drain and freeze nodes, and bad parameters are
//! refused with every problem named.

use std::collections::BTreeMap;
use std::time::Duration;

use api::{GroupSpec, MoveRequest, NodeModeRequest, ResourceSpec};
use e2e::specs::sleeper;
use e2e::{Cluster, wait_until};

const SETTLE: Duration = Duration::from_secs(30);

/// Wait until `name` runs on exactly one node (and its process exists); return the node.
async fn running_on(cluster: &Cluster, name: &str, not_on: Option<u64>) -> (u64, u32) {
    wait_until(&format!("{name} running"), SETTLE, || async {
        let (node, pid) = cluster.sole_instance(name).await?;
        (Some(node) != not_on).then_some((node, pid))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_process_is_restarted_in_place_then_moved_past_its_threshold() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let mut spec = sleeper("worker");
    spec.migration_threshold = Some(2);
    cluster
        .client(1)
        .create_resource(&spec)
        .await
        .expect("create");
    let (node, pid) = running_on(&cluster, "worker", None).await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the resource process");
    let (again, new_pid) = wait_until("a restart in place", SETTLE, || async {
        let (again, new_pid) = running_on(&cluster, "worker", None).await;
        (new_pid != pid).then_some((again, new_pid))
    })
    .await;
    assert_eq!(
        again, node,
        "below the threshold the resource must restart in place"
    );
    let view = cluster.client(1).resource("worker").await.expect("show");
    let instance = view
        .instances
        .iter()
        .find(|i| i.node == node)
        .expect("instance");
    assert_eq!(instance.fail_count, 1);
    assert!(
        instance
            .last_failure
            .as_deref()
            .unwrap_or("")
            .contains("SIGKILL"),
        "{instance:?}"
    );
    // The second failure reaches the threshold of 2: it must move away from that node.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(new_pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill again");
    let (moved, _) = running_on(&cluster, "worker", Some(node)).await;
    assert_ne!(moved, node);
    let explanation = cluster
        .client(1)
        .explain_resource("worker")
        .await
        .expect("explain");
    let reasons = explanation.reasons.join("\n");
    assert!(
        reasons.contains("migration threshold"),
        "explain does not say why: {reasons}"
    );
}

async fn group_survives_crash_of_its_node(crash_master: bool) {
    let mut cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let client = cluster.client(master);
    for name in ["first", "second"] {
        client
            .create_resource(&sleeper(name))
            .await
            .expect("create");
    }
    let group = GroupSpec {
        name: "site".into(),
        members: vec!["first".into(), "second".into()],
    };
    client.create_group(&group).await.expect("group");
    let target = if crash_master {
        master
    } else {
        (1..=3).find(|n| *n != master).expect("other")
    };
    let to = MoveRequest {
        to: Some(target),
        for_duration: None,
        clear: false,
    };
    client
        .move_group("site", &to)
        .await
        .expect("place the group");
    wait_until("the group on its node", SETTLE, || async {
        let (a, _) = running_on(&cluster, "first", None).await;
        let (b, _) = running_on(&cluster, "second", None).await;
        (a == target && b == target).then_some(())
    })
    .await;
    let before = cluster
        .client(master)
        .events(0, 0)
        .await
        .expect("events")
        .next;
    cluster.crash(target);
    let survivor = cluster.running()[0];
    let (a, _) = running_on(&cluster, "first", Some(target)).await;
    let (b, _) = running_on(&cluster, "second", Some(target)).await;
    assert_eq!(a, b, "group members must stay together");
    let events = cluster
        .client(survivor)
        .events(before, 0)
        .await
        .expect("events")
        .events;
    let start_of = |name: &str| {
        events
            .iter()
            .find(|e| {
                e.kind == "resource_action"
                    && e.detail["action"] == "start"
                    && e.detail["resource"] == name
                    && e.detail["node"] == serde_json::json!(a)
            })
            .map(|e| e.seq)
    };
    let (first, second) = (
        start_of("first").expect("first started"),
        start_of("second").expect("second started"),
    );
    assert!(
        first < second,
        "group must start in order: first at {first}, second at {second}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_of_a_non_master_restarts_its_group_elsewhere_in_order() {
    group_survives_crash_of_its_node(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_of_the_master_restarts_its_group_elsewhere_in_order() {
    group_survives_crash_of_its_node(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_drains_a_node_and_maintenance_leaves_resources_alone() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let client = cluster.client(master);
    client
        .create_resource(&sleeper("drained"))
        .await
        .expect("create");
    let (node, _) = running_on(&cluster, "drained", None).await;
    let standby = NodeModeRequest {
        mode: "standby".into(),
    };
    client.set_node_mode(node, &standby).await.expect("standby");
    let (elsewhere, pid) = running_on(&cluster, "drained", Some(node)).await;
    assert!(
        cluster.resource_pid(node, "drained").is_none(),
        "still running on the standby node"
    );
    client
        .set_node_mode(
            node,
            &NodeModeRequest {
                mode: "online".into(),
            },
        )
        .await
        .expect("online");

    let maintenance = NodeModeRequest {
        mode: "maintenance".into(),
    };
    client
        .set_node_mode(elsewhere, &maintenance)
        .await
        .expect("maintenance");
    // A marker on the third node, stopped after `drained`: once it has stopped, the master
    // has scheduled a round that saw both stop requests.
    client
        .create_resource(&sleeper("marker"))
        .await
        .expect("create the marker");
    let (marker_node, _) = running_on(&cluster, "marker", None).await;
    client
        .stop_resource("drained")
        .await
        .expect("stop is accepted");
    client
        .stop_resource("marker")
        .await
        .expect("stop is accepted");
    wait_until("the marker to stop", SETTLE, || async {
        cluster
            .resource_pid(marker_node, "marker")
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(
        cluster.resource_pid(elsewhere, "drained"),
        Some(pid),
        "maintenance node was touched"
    );
    client
        .set_node_mode(
            elsewhere,
            &NodeModeRequest {
                mode: "ready".into(),
            },
        )
        .await
        .expect("ready");
    wait_until("the stop once maintenance ends", SETTLE, || async {
        cluster
            .resource_pid(elsewhere, "drained")
            .is_none()
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_ocf_agents_run_unmodified() {
    assert!(
        std::path::Path::new("/usr/lib/ocf/resource.d/heartbeat/Dummy").exists(),
        "Debian's resource-agents package is missing (scripts/test.sh installs it)"
    );
    let cluster = Cluster::start(2, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let client = cluster.client(master);
    let dummy = ResourceSpec {
        name: "dummy".into(),
        type_name: "ocf:heartbeat:Dummy".into(),
        monitor_interval: Some("1s".into()),
        ..Default::default()
    };
    client.create_resource(&dummy).await.expect("Dummy");
    let delay = ResourceSpec {
        name: "delay".into(),
        type_name: "ocf:heartbeat:Delay".into(),
        params: BTreeMap::from([
            ("startdelay".into(), "1".into()),
            ("stopdelay".into(), "0".into()),
        ]),
        monitor_interval: Some("1s".into()),
        ..Default::default()
    };
    client.create_resource(&delay).await.expect("Delay");
    for name in ["dummy", "delay"] {
        wait_until(&format!("{name} running"), SETTLE, || async {
            let view = client.resource(name).await.ok()?;
            view.instances
                .iter()
                .any(|i| i.state == "running")
                .then_some(())
        })
        .await;
    }
    client.stop_resource("dummy").await.expect("stop");
    wait_until("dummy stopped", SETTLE, || async {
        let view = client.resource("dummy").await.ok()?;
        view.instances
            .iter()
            .all(|i| i.state == "stopped")
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_violations_are_refused_with_every_problem_and_nothing_changes() {
    let cluster = Cluster::start(1, 5, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let client = cluster.client(1);
    let missing = ResourceSpec {
        name: "bad".into(),
        type_name: "process".into(),
        ..Default::default()
    };
    let error = client
        .create_resource(&missing)
        .await
        .expect_err("no command");
    assert_eq!(error.status(), Some(400));
    assert!(
        error
            .to_string()
            .contains("command: required parameter is missing"),
        "{error}"
    );

    let mut typo = ResourceSpec {
        name: "bad2".into(),
        type_name: "ocf:heartbeat:Dummy".into(),
        ..Default::default()
    };
    typo.params.insert("fak".into(), "1".into());
    typo.monitor_interval = Some("soon".into());
    let error = client
        .create_resource(&typo)
        .await
        .expect_err("unknown param and bad duration");
    let text = error.to_string();
    assert!(text.contains("fak: unknown parameter"), "{text}");
    assert!(text.contains("monitor_interval"), "{text}");

    let unknown = ResourceSpec {
        name: "bad3".into(),
        type_name: "ocf:nobody:Nothing".into(),
        ..Default::default()
    };
    assert_eq!(
        client
            .create_resource(&unknown)
            .await
            .expect_err("no such agent")
            .status(),
        Some(400)
    );

    client
        .create_resource(&sleeper("good"))
        .await
        .expect("a valid resource");
    let mut broken = sleeper("good");
    broken.params.remove("command");
    assert!(
        client.update_resource("good", &broken).await.is_err(),
        "update dropped the command"
    );
    let names: Vec<String> = client
        .resources()
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.spec.name)
        .collect();
    assert_eq!(
        names,
        vec!["good".to_string()],
        "a refused request changed the configuration"
    );
    let good = client.resource("good").await.expect("show");
    assert_eq!(
        good.spec.params.get("command").map(String::as_str),
        Some("sleep")
    );
}

/// `encluster apply -f`: a dry run shows the changes and changes nothing; with `--yes`
/// the cluster matches the file; applying the same file again changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_shows_the_diff_then_makes_the_cluster_match_the_file() {
    let cluster = Cluster::start(2, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let file = cluster.dir.path().join("cluster.toml");
    let text = r#"
[[resource]]
name = "alpha"
type = "process"
params = { command = "sleep", args = "1000" }
monitor_interval = "1s"

[[resource]]
name = "beta"
type = "process"
params = { command = "sleep", args = "1000" }

[[group]]
name = "pair"
members = ["alpha", "beta"]
"#;
    std::fs::write(&file, text).expect("write the cluster file");
    let path = file.to_str().expect("utf-8 path");
    let dry = cluster.cli(master, &["apply", "-f", path, "--dry-run"]);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let diff = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(
        diff.contains("+ resource alpha") && diff.contains("+ group pair"),
        "{diff}"
    );
    assert!(
        cluster
            .client(master)
            .resources()
            .await
            .expect("list")
            .is_empty(),
        "dry run changed"
    );

    let applied = cluster.cli(master, &["apply", "-f", path, "--yes"]);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let (node, _) = running_on(&cluster, "beta", None).await;
    assert_eq!(
        running_on(&cluster, "alpha", None).await.0,
        node,
        "the group runs together"
    );

    let again = cluster.cli(master, &["apply", "-f", path, "--dry-run"]);
    let again = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(
        !again.contains("+ resource"),
        "a second apply would change things: {again}"
    );

    std::fs::write(
        &file,
        text.replacen("args = \"1000\"", "args = \"2000\"", 1),
    )
    .expect("edit");
    let changed = cluster.cli(master, &["apply", "-f", path, "--dry-run"]);
    let changed = String::from_utf8_lossy(&changed.stdout).into_owned();
    assert!(
        changed.contains("~ resource alpha") && changed.contains("params.args 1000 -> 2000"),
        "{changed}"
    );
}

/// Whether `pid` is a live (not zombie) process.
fn process_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|s| s.split_whitespace().next());
    state.is_some_and(|state| state != "Z")
}

/// Issue 10, as reported: `resource delete` while the start still waited on a TCP probe
/// that never answers left the deleted resource's grant waiting for a report for ever, and
/// no resource created later ever started. The start is now abandoned, its process stopped,
/// and the next resource starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r10_delete_during_start_stops_it_and_later_resources_start() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let client = cluster.client(master);
    let slow = ResourceSpec {
        name: "slow".into(),
        type_name: "process".into(),
        params: BTreeMap::from([
            ("command".into(), "sleep".into()),
            ("args".into(), "infinity".into()),
            ("probe_tcp".into(), "127.0.0.1:9".into()),
        ]),
        ..Default::default()
    };
    client.create_resource(&slow).await.expect("create slow");
    // The start is under way once its process exists: the probe then never answers.
    let pid = wait_until("slow's start under way", SETTLE, || async {
        let nodes = cluster.running();
        nodes
            .iter()
            .find_map(|node| cluster.resource_pid(*node, "slow"))
    })
    .await;
    let view = client.resource("slow").await.expect("show slow");
    assert!(
        view.instances.iter().all(|i| i.state != "running"),
        "slow cannot be running, its probe never answers: {view:?}"
    );
    client.delete_resource("slow").await.expect("delete slow");
    client
        .create_resource(&sleeper("after"))
        .await
        .expect("create after");
    running_on(&cluster, "after", None).await;
    wait_until("no process of slow left", SETTLE, || async {
        let recorded = cluster
            .running()
            .iter()
            .any(|node| cluster.resource_pid(*node, "slow").is_some());
        (!recorded && !process_alive(pid)).then_some(())
    })
    .await;
    let views = client.resources().await.expect("list");
    assert!(
        views.iter().all(|view| view.spec.name != "slow"),
        "slow is deleted"
    );
}
