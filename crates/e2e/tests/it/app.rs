//! The application protocol end to end (issue 12): real agents start real applications
//! that speak the protocol, with the Python client and with the Rust SDK.
//!
//! Method: each client's conformance driver (`clients/python/conformance.py`,
//! `src/bin/app_conformance.rs`) runs as a `process` resource, walks the one scenario
//! list `clients/conformance/scenarios.json` and prints a line per step to its log (the
//! resource's `process.log`), then obeys commands the test drops in its state directory
//! (`app-control`). The tests read those logs and the cluster's API, polling with a deadline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use api::ResourceSpec;
use e2e::{Cluster, wait_until};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const SETTLE: Duration = Duration::from_secs(30);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A process resource running one client's conformance driver.
pub(crate) fn conformance(name: &str, python: bool, unique: bool) -> ResourceSpec {
    let root = repo_root().canonicalize().expect("repository root");
    let scenarios = root.join("clients/conformance/scenarios.json");
    let (command, args, client) = if python {
        let script = root.join("clients/python/conformance.py");
        ("python3".to_owned(), script.display().to_string(), "python")
    } else {
        (
            env!("CARGO_BIN_EXE_app_conformance").to_owned(),
            String::new(),
            "rust",
        )
    };
    let env = format!(
        "CONFORMANCE_SCENARIOS={};CONFORMANCE_CLIENT={client};CONFORMANCE_COMMAND={command}",
        scenarios.display()
    );
    let mut params = BTreeMap::from([("command".to_owned(), command), ("env".to_owned(), env)]);
    if !args.is_empty() {
        params.insert("args".to_owned(), args);
    }
    ResourceSpec {
        name: name.into(),
        type_name: "process".into(),
        params,
        unique: Some(unique),
        monitor_interval: Some("1s".into()),
        stop_timeout: Some("5s".into()),
        ..Default::default()
    }
}

fn state_dir(cluster: &Cluster, node: u64, name: &str) -> PathBuf {
    cluster.data_dir(node).join("resources").join(name)
}

pub(crate) fn output(cluster: &Cluster, node: u64, name: &str) -> String {
    std::fs::read_to_string(state_dir(cluster, node, name).join("process.log")).unwrap_or_default()
}

/// Waits until the instance on `node` printed a line starting with `prefix`; returns it.
pub(crate) async fn line(cluster: &Cluster, node: u64, name: &str, prefix: &str) -> String {
    wait_until(
        &format!("{prefix:?} from {name} on node {node}"),
        SETTLE,
        || async {
            let text = output(cluster, node, name);
            text.lines()
                .find(|l| l.starts_with(prefix))
                .map(str::to_owned)
        },
    )
    .await
}

pub(crate) fn control(cluster: &Cluster, node: u64, name: &str, command: &str) {
    let dir = state_dir(cluster, node, name);
    let temporary = dir.join("app-control.tmp");
    std::fs::write(&temporary, command).expect("write the command");
    std::fs::rename(&temporary, dir.join("app-control")).expect("hand the command over");
}

async fn running_on(cluster: &Cluster, name: &str, not_on: Option<u64>) -> (u64, u32) {
    wait_until(&format!("{name} running"), SETTLE, || async {
        let (node, pid) = cluster.sole_instance(name).await?;
        (Some(node) != not_on).then_some((node, pid))
    })
    .await
}

/// Waits until all three nodes are online members, so moves may name any of them.
async fn three_online(cluster: &Cluster) {
    wait_until("three online nodes", SETTLE, || async {
        let status = cluster.client(1).status().await.ok()?;
        let online = status.nodes.iter().filter(|n| n.state == "online").count();
        (online == 3).then_some(())
    })
    .await;
}

/// Both clients pass the same conformance scenarios against a real agent.
async fn check_conformance(cluster: &Cluster, name: &str) -> u64 {
    let (node, _) = running_on(cluster, name, None).await;
    let done = line(cluster, node, name, "CONFORMANCE-DONE").await;
    let text = output(cluster, node, name);
    let steps = text
        .lines()
        .filter(|l| l.starts_with("CONFORMANCE {"))
        .count();
    assert_eq!(
        done, "CONFORMANCE-DONE pass",
        "{name} failed conformance:\n{text}"
    );
    assert_eq!(steps, 18, "every scenario step ran:\n{text}");
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_and_rust_sdk_pass_the_same_conformance_scenarios() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let client = cluster.client(master);
    for (name, python) in [("conf-py", true), ("conf-rs", false)] {
        client
            .create_resource(&conformance(name, python, true))
            .await
            .expect("create");
    }
    check_conformance(&cluster, "conf-py").await;
    check_conformance(&cluster, "conf-rs").await;
}

/// A failure the application reports is a monitor failure: the instance is restarted
/// (with a new fencing token), and the failure names the application's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reported_health_failure_restarts_the_instance() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let client = cluster.client(master);
    let spec = conformance("conf-rs", false, true);
    client.create_resource(&spec).await.expect("create");
    let node = check_conformance(&cluster, "conf-rs").await;
    let (_, pid) = running_on(&cluster, "conf-rs", None).await;
    control(
        &cluster,
        node,
        "conf-rs",
        "health-fail database unreachable",
    );
    line(&cluster, node, "conf-rs", "CONTROL health-fail ok").await;
    wait_until(
        "a new instance after the reported failure",
        SETTLE,
        || async {
            let (_, again) = cluster.sole_instance("conf-rs").await?;
            (again != pid).then_some(())
        },
    )
    .await;
    let view = client.resource("conf-rs").await.expect("show");
    let failure = view
        .instances
        .iter()
        .filter_map(|i| i.last_failure.clone())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        failure.contains("the application reported a failure")
            && failure.contains("database unreachable"),
        "the failure does not name the application's reason: {view:?}"
    );
}

/// Issue 12: an instance whose node hung, and whose resource was granted elsewhere under a
/// newer fencing token, cannot overwrite its successor's checkpoint. The resource is not
/// unique, so no lease watchdog kills the old instance (as it would a unique one): it runs
/// on with its old token, the situation fencing tokens exist for. Its write waits in the
/// hung agent's socket and is refused once the agent resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_instance_cannot_checkpoint_after_its_resource_moved_r12() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let client = cluster.client(master);
    three_online(&cluster).await;
    let mut spec = conformance("conf", false, false);
    spec.stop_timeout = Some("2s".into());
    client.create_resource(&spec).await.expect("create");
    // Not on the master, so the rest of the cluster keeps its master while it hangs.
    let to = api::MoveRequest {
        to: Some((1..=3).find(|n| *n != master).expect("another node")),
        for_duration: None,
        clear: false,
    };
    // Setup, on a busy machine: a write refused during a change of master is tried again.
    wait_until("the move to be taken", SETTLE, || async {
        client.move_resource("conf", &to).await.ok()
    })
    .await;
    let (old, old_pid) = running_on(&cluster, "conf", Some(master)).await;
    let old_node_log = line(&cluster, old, "conf", "CONFORMANCE-DONE").await;
    assert_eq!(old_node_log, "CONFORMANCE-DONE pass");
    control(
        &cluster,
        old,
        "conf",
        "checkpoint handover from-the-first-instance",
    );
    let written = line(&cluster, old, "conf", "CONTROL checkpoint handover").await;
    assert_eq!(written, "CONTROL checkpoint handover ok");
    let agent = Pid::from_raw(cluster.pid(old).expect("agent pid") as i32);
    kill(agent, Signal::SIGSTOP).expect("hang the old node's agent");
    let clear = api::MoveRequest {
        to: None,
        for_duration: None,
        clear: true,
    };
    wait_until("the move to be cleared", SETTLE, || async {
        client.move_resource("conf", &clear).await.ok()
    })
    .await;
    let new = wait_until("conf running on another node", SETTLE, || async {
        let view = client.resource("conf").await.ok()?;
        view.instances
            .iter()
            .find(|i| i.node != old && i.state == "running")
            .map(|i| i.node)
    })
    .await;
    line(&cluster, new, "conf", "CONFORMANCE-DONE pass").await;
    // What the first instance checkpointed is there for its successor on another node.
    control(&cluster, new, "conf", "read handover");
    let handed = line(&cluster, new, "conf", "CONTROL read handover").await;
    assert_eq!(handed, "CONTROL read handover from-the-first-instance");
    assert!(
        kill(Pid::from_raw(old_pid as i32), None).is_ok(),
        "the old instance must still run for this test to mean anything"
    );
    control(&cluster, old, "conf", "checkpoint conformance stale");
    // The request is in the hung agent's socket; the agent resumes and must refuse it.
    kill(agent, Signal::SIGCONT).expect("resume the old node's agent");
    let answer = line(&cluster, old, "conf", "CONTROL checkpoint conformance").await;
    // `refused` comes from the cmdb's fence (what happens when the resumed agent reads the
    // request first, as it does in practice); `gone` would mean the agent had stopped the
    // instance first. Both refuse the write.
    assert!(
        answer.starts_with("CONTROL checkpoint conformance error refused")
            || answer.starts_with("CONTROL checkpoint conformance error gone"),
        "a stale write was not refused: {answer}"
    );
    control(&cluster, new, "conf", "read conformance");
    let read = line(&cluster, new, "conf", "CONTROL read conformance").await;
    assert_eq!(
        read, "CONTROL read conformance written by rust",
        "the successor's state"
    );
}

/// Bad input on the socket: a thousand connections at once get a clear `busy` past the
/// limit, and the agent keeps serving the instance that is connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connections_are_bounded_and_the_agent_keeps_serving() {
    use tokio::io::AsyncReadExt;
    let cluster = Cluster::start(1, 1, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let client = cluster.client(1);
    client
        .create_resource(&conformance("conf-rs", false, true))
        .await
        .expect("create");
    check_conformance(&cluster, "conf-rs").await;
    let socket = cluster.data_dir(1).join("app/app.sock");
    let mode = std::fs::metadata(&socket).expect("socket").permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    let mut connections = Vec::new();
    for _ in 0..1000 {
        connections.push(
            tokio::net::UnixStream::connect(&socket)
                .await
                .expect("connect"),
        );
    }
    // Each one gets a clear answer: `busy` past the limit, at once; `hello_first` for one
    // that was taken but never said hello, after 5 s.
    let mut answers = tokio::task::JoinSet::new();
    for mut connection in connections {
        answers.spawn(async move {
            let mut answer = vec![0u8; 512];
            let read = connection.read(&mut answer);
            match tokio::time::timeout(Duration::from_secs(20), read).await {
                Ok(Ok(length)) => String::from_utf8_lossy(&answer[..length]).into_owned(),
                _ => String::new(),
            }
        });
    }
    // Meanwhile the connected instance is served as before.
    control(&cluster, 1, "conf-rs", "checkpoint during-the-storm served");
    let answer = line(
        &cluster,
        1,
        "conf-rs",
        "CONTROL checkpoint during-the-storm",
    )
    .await;
    assert_eq!(answer, "CONTROL checkpoint during-the-storm ok");
    let (mut busy, mut hello_first) = (0, 0);
    while let Some(answer) = answers.join_next().await {
        let answer = answer.expect("no panic");
        if answer.contains("\"code\":\"busy\"") {
            busy += 1;
        } else if answer.contains("\"code\":\"hello_first\"") {
            hello_first += 1;
        } else {
            panic!("an unclear answer: {answer:?}");
        }
    }
    assert_eq!(busy + hello_first, 1000);
    assert!(
        busy >= 800,
        "connections past the limit of 128 are told busy: {busy}"
    );
}

/// A notify process (systemd's protocol) counts as started only once it sent READY=1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_process_is_started_only_after_ready() {
    let cluster = Cluster::start(1, 1, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let client = cluster.client(1);
    let script = "import os, socket, time\n\
        go = os.path.join(os.environ['ENCLUSTER_STATE_DIR'], 'go')\n\
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
        s.sendto(b'STATUS=waiting for go', os.environ['NOTIFY_SOCKET'])\n\
        while not os.path.exists(go): time.sleep(0.05)\n\
        s.sendto(b'READY=1\\nSTATUS=serving', os.environ['NOTIFY_SOCKET'])\n\
        while True: time.sleep(0.5); s.sendto(b'WATCHDOG=1', os.environ['NOTIFY_SOCKET'])\n";
    let args = serde_json::to_string(&["-c", script]).expect("args");
    let spec = ResourceSpec {
        name: "notified".into(),
        type_name: "process".into(),
        params: BTreeMap::from([
            ("command".to_owned(), "python3".to_owned()),
            ("args".to_owned(), args),
            ("notify".to_owned(), "true".to_owned()),
            ("watchdog".to_owned(), "5s".to_owned()),
        ]),
        start_timeout: Some("60s".into()),
        monitor_interval: Some("1s".into()),
        ..Default::default()
    };
    client.create_resource(&spec).await.expect("create");
    // The process runs and has spoken, but has not said READY=1: not started.
    wait_until("the process to run", SETTLE, || async {
        cluster.resource_pid(1, "notified")
    })
    .await;
    let view = client.resource("notified").await.expect("show");
    assert!(
        view.instances.iter().all(|i| i.state != "running"),
        "running before READY=1: {view:?}"
    );
    std::fs::write(state_dir(&cluster, 1, "notified").join("go"), "").expect("go");
    wait_until("started after READY=1", SETTLE, || async {
        let view = client.resource("notified").await.ok()?;
        view.instances
            .iter()
            .any(|i| i.state == "running")
            .then_some(())
    })
    .await;
}

/// Both clients reconnect by themselves across an agent restart (the instances keep
/// running: an agent restart never bounces services) and go on with the same identity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_clients_reconnect_across_an_agent_restart() {
    let mut cluster = Cluster::start(1, 1, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let client = cluster.client(1);
    for (name, python) in [("conf-py", true), ("conf-rs", false)] {
        client
            .create_resource(&conformance(name, python, true))
            .await
            .expect("create");
        check_conformance(&cluster, name).await;
    }
    let pids: Vec<u32> = ["conf-py", "conf-rs"]
        .iter()
        .map(|name| cluster.resource_pid(1, name).expect("running"))
        .collect();
    cluster.stop(1);
    cluster.start_node(1).expect("restart the agent");
    cluster.wait_master(SETTLE).await;
    for (name, pid) in ["conf-py", "conf-rs"].into_iter().zip(pids) {
        control(&cluster, 1, name, "checkpoint after-restart yes");
        let answer = line(&cluster, 1, name, "CONTROL checkpoint after-restart").await;
        assert_eq!(answer, "CONTROL checkpoint after-restart ok", "{name}");
        assert_eq!(
            cluster.resource_pid(1, name),
            Some(pid),
            "{name} kept running"
        );
    }
}

/// A planned stop first asks the application to drain (`prepare_stop` with a deadline),
/// and goes on once it says `stop_ready`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_asks_the_application_to_drain_first() {
    let cluster = Cluster::start(1, 1, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let client = cluster.client(1);
    for (name, python) in [("conf-py", true), ("conf-rs", false)] {
        client
            .create_resource(&conformance(name, python, true))
            .await
            .expect("create");
        check_conformance(&cluster, name).await;
        client.stop_resource(name).await.expect("stop");
        let event = line(&cluster, 1, name, "EVENT ").await;
        assert!(event.contains("prepare_stop"), "{name}: {event}");
        wait_until(&format!("{name} stopped"), SETTLE, || async {
            let view = client.resource(name).await.ok()?;
            view.instances
                .iter()
                .all(|i| i.state == "stopped")
                .then_some(())
        })
        .await;
    }
}

/// A node that loses its lease (here: it is cut off from the other two, which are killed)
/// tells its unique instances `lease_lost` at once, before it stops them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_is_told_at_once_when_its_node_loses_its_lease() {
    let mut cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    three_online(&cluster).await;
    let client = cluster.client(master);
    client
        .create_resource(&conformance("conf-rs", false, true))
        .await
        .expect("create");
    let node = check_conformance(&cluster, "conf-rs").await;
    for other in (1..=3).filter(|n| *n != node) {
        cluster.crash(other);
    }
    let event = line(&cluster, node, "conf-rs", "EVENT ").await;
    assert!(event.starts_with("EVENT lease_lost"), "{event}");
    // The agent, left without a lease, still stops when asked (the lease watch used to
    // wait for a new lease without looking at the shutdown, so the agent never exited).
    let agent = Pid::from_raw(cluster.pid(node).expect("agent pid") as i32);
    kill(agent, Signal::SIGTERM).expect("stop the agent");
    // Without a master its report forwarder may retry a stop report for about 20 s first.
    let exit_within = Duration::from_secs(60);
    let deadline = std::time::Instant::now() + exit_within;
    while cluster.exited(node).is_none() {
        let waited = std::time::Instant::now() < deadline;
        assert!(
            waited,
            "the agent did not exit within {exit_within:?} of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The last `STATUS=` of a notify process reaches the master and shows in the API's
/// resource status, in `encluster status` and in `encluster resource show`, escaped, and
/// follows a new `STATUS=` without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_process_status_text_shows_in_status_and_resource_show() {
    let cluster = Cluster::start(2, 1, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let client = cluster.client(1);
    let script = "import os, socket, time\n\
        go = os.path.join(os.environ['ENCLUSTER_STATE_DIR'], 'go')\n\
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
        s.sendto(b'READY=1\\nSTATUS=serving', os.environ['NOTIFY_SOCKET'])\n\
        while not os.path.exists(go): time.sleep(0.05)\n\
        s.sendto(b'STATUS=draining\\x1b[2J now', os.environ['NOTIFY_SOCKET'])\n\
        while True: time.sleep(3600)\n";
    let args = serde_json::to_string(&["-c", script]).expect("args");
    let spec = ResourceSpec {
        name: "told".into(),
        type_name: "process".into(),
        params: BTreeMap::from([
            ("command".to_owned(), "python3".to_owned()),
            ("args".to_owned(), args),
            ("notify".to_owned(), "true".to_owned()),
        ]),
        unique: Some(true),
        monitor_interval: Some("1s".into()),
        ..Default::default()
    };
    client.create_resource(&spec).await.expect("create");
    let text_of = |status: &api::Status| {
        let view = status.resources.iter().find(|v| v.spec.name == "told")?;
        let running = view.instances.iter().find(|i| i.state == "running")?;
        Some((running.node, running.status_text.clone()?))
    };
    let (node, text) = wait_until("the status text in the master's view", SETTLE, || async {
        text_of(&client.status().await.ok()?)
    })
    .await;
    assert_eq!(text, "serving");
    let master = client
        .status()
        .await
        .expect("status")
        .master
        .expect("a master");
    let status = e2e::output_text(&cluster.cli(1, &["status"]));
    assert!(status.contains("Status texts:"), "{status}");
    assert!(status.contains(": serving"), "{status}");
    let shown = e2e::output_text(&cluster.cli(master, &["resource", "show", "told"]));
    assert!(shown.contains(", status: serving"), "{shown}");

    std::fs::write(state_dir(&cluster, node, "told").join("go"), "").expect("go");
    let text = wait_until("the new status text", SETTLE, || async {
        let (_, text) = text_of(&client.status().await.ok()?)?;
        (text != "serving").then_some(text)
    })
    .await;
    assert_eq!(text, "draining\\u{1b}[2J now", "escaped where it entered");
}
