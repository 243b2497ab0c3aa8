//! Issue 11: parameter changes reach running services, and failures are visible and
//! damped. A changed `process` argument restarts the process (a new pid with the new
//! command line), a reloadable change of an OCF agent with `reload` reloads it in place,
//! and a crash-looping process restarts at growing intervals with a failure event each.

use std::collections::BTreeMap;
use std::time::Duration;

use api::{ResourceSpec, ResourceView};
use e2e::{Cluster, wait_until};

const SETTLE: Duration = Duration::from_secs(30);

fn sleeper(name: &str, seconds: &str) -> ResourceSpec {
    ResourceSpec {
        name: name.into(),
        type_name: "process".into(),
        params: BTreeMap::from([
            ("command".into(), "sleep".into()),
            ("args".into(), seconds.into()),
        ]),
        monitor_interval: Some("1s".into()),
        stop_timeout: Some("5s".into()),
        ..Default::default()
    }
}

fn running_nodes(view: &ResourceView) -> Vec<u64> {
    view.instances
        .iter()
        .filter(|i| i.state == "running")
        .map(|i| i.node)
        .collect()
}

/// The node running `name` and its process, once there is exactly one, other than `not`.
async fn running_process(cluster: &Cluster, name: &str, not: Option<u32>) -> (u64, u32) {
    wait_until(&format!("{name} running"), SETTLE, || async {
        let view = cluster.client(1).resource(name).await.ok()?;
        let [node] = running_nodes(&view)[..] else {
            return None;
        };
        let pid = cluster.resource_pid(node, name)?;
        (Some(pid) != not).then_some((node, pid))
    })
    .await
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
        .unwrap_or_default()
}

/// Issue 11: `resource update p1 --param args=2000` answered "updated" and the process
/// kept running with its old arguments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r11_a_changed_argument_restarts_the_process_with_the_new_command_line() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let client = cluster.client(1);
    client
        .create_resource(&sleeper("p1", "1000"))
        .await
        .expect("create");
    let (node, pid) = running_process(&cluster, "p1", None).await;
    assert!(cmdline(pid).contains("1000"), "{}", cmdline(pid));

    let dry = client
        .update_resource_change("p1", &sleeper("p1", "2000"), true)
        .await
        .expect("dry run");
    assert_eq!(dry.change.effect, "restart");
    assert!(!dry.change.applied);
    assert_eq!(
        dry.change.summary,
        format!("would restart p1 on node {node}")
    );
    assert_eq!(
        dry.resource.spec.params["args"], "1000",
        "a dry run changes nothing"
    );

    let update = client
        .update_resource_change("p1", &sleeper("p1", "2000"), false)
        .await
        .expect("update");
    assert_eq!(update.change.effect, "restart");
    assert_eq!(update.change.nodes, [node]);
    assert_eq!(
        update.change.summary,
        format!("will restart p1 on node {node}")
    );
    let (_, new_pid) = running_process(&cluster, "p1", Some(pid)).await;
    assert!(cmdline(new_pid).contains("2000"), "{}", cmdline(new_pid));
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || cmdline(pid).is_empty(),
        "the old process is gone"
    );
}

fn dummy(name: &str, fake: &str) -> ResourceSpec {
    ResourceSpec {
        name: name.into(),
        type_name: "ocf:heartbeat:Dummy".into(),
        params: BTreeMap::from([("fake".into(), fake.into())]),
        monitor_interval: Some("1s".into()),
        ..Default::default()
    }
}

/// Dummy advertises `reload` (OCF 1.0) and its `fake` parameter is not unique: a change
/// of `fake` reloads it under the same grant, with no stop and no second start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ocf_agent_with_reload_is_reloaded_not_restarted() {
    if !std::path::Path::new("/usr/lib/ocf/resource.d/heartbeat/Dummy").exists() {
        panic!("Debian's resource-agents package is needed: apt-get install resource-agents");
    }
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let client = cluster.client(1);
    client
        .create_resource(&dummy("db", "a"))
        .await
        .expect("create");
    let node = wait_until("db running", SETTLE, || async {
        let view = client.resource("db").await.ok()?;
        let [node] = running_nodes(&view)[..] else {
            return None;
        };
        Some(node)
    })
    .await;
    let update = client
        .update_resource_change("db", &dummy("db", "b"), false)
        .await
        .expect("update");
    assert_eq!(update.change.effect, "reload");
    assert_eq!(
        update.change.summary,
        format!("will reload db on node {node}")
    );
    let log = wait_until("the reload in the operation log", SETTLE, || async {
        let log = client.operations(Some("db"), false).await.ok()?;
        log.operations
            .iter()
            .any(|op| op.operation == "reload" && op.ok)
            .then_some(log)
    })
    .await;
    let kinds: Vec<(&str, u64)> = log
        .operations
        .iter()
        .filter(|op| op.operation != "monitor")
        .map(|op| (op.operation.as_str(), op.fencing_token))
        .collect();
    let token = kinds[0].1;
    assert_eq!(
        kinds,
        [("start", token), ("reload", token)],
        "same grant, no restart"
    );
    let view = client.resource("db").await.expect("show");
    assert_eq!(running_nodes(&view), [node]);
}

/// Issue 11: a crashing process restarted 53 times in 3 s and produced no failure event.
/// Now every failure is an event, and the gaps between its starts grow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r11_a_crash_looping_process_backs_off_and_reports_every_failure() {
    let cluster = Cluster::start(1, 5, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let client = cluster.client(1);
    client
        .create_resource(&sleeper("looper", "0.2"))
        .await
        .expect("create");
    let starts = wait_until("six starts", Duration::from_secs(90), || async {
        let log = client.operations(Some("looper"), false).await.ok()?;
        let starts: Vec<u64> = log
            .operations
            .iter()
            .filter(|op| op.operation == "start")
            .map(|op| op.started_at_ms)
            .collect();
        (starts.len() >= 6).then_some(starts)
    })
    .await;
    let gaps: Vec<u64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps[1..].windows(2).all(|w| w[1] >= w[0]),
        "the waits between restarts grow: {gaps:?}"
    );
    let events = client.events(0, 0).await.expect("events");
    let messages: Vec<&str> = events.events.iter().map(|e| e.message.as_str()).collect();
    let failures = events
        .events
        .iter()
        .filter(|e| e.message.starts_with("failed looper"))
        .count();
    assert!(
        failures >= starts.len() - 1,
        "{failures} failure events, {starts:?}"
    );
    let restarts = events
        .events
        .iter()
        .filter(|e| e.message.starts_with("restart looper"))
        .count();
    assert!(
        restarts >= starts.len() - 2,
        "{restarts} restart events: {messages:#?}"
    );
    wait_until("explain shows the backoff", SETTLE, || async {
        let explanation = client.explain_resource("looper").await.ok()?;
        explanation
            .reasons
            .iter()
            .any(|line| line.contains("backs off until"))
            .then_some(())
    })
    .await;
}
