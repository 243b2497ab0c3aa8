//! Discoverable and consistent input (issue 11), through the real CLI and a real cluster:
//! the type catalog, checks at create time that the server makes (so REST and the CLI
//! agree), shell-quoted `args` stored in canonical form, nodes named by name or id in
//! every node subcommand, one duration parser, `--version`, and `resource delete` saying
//! that it stops a running resource first.

use std::collections::BTreeMap;
use std::process::Output;
use std::time::Duration;

use e2e::{Cluster, wait_until};

const SETTLE: Duration = Duration::from_secs(30);

fn text(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn refused(output: Output, expected: &str) {
    assert!(!output.status.success(), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(expected),
        "{expected:?} in {}",
        text(&output)
    );
}

#[test]
fn version_names_the_version_and_the_commit() {
    let output = std::process::Command::new(e2e::binary())
        .arg("--version")
        .output()
        .expect("run encluster --version");
    let version = ok(output);
    assert!(
        version.starts_with("encluster 0.12.0 (commit "),
        "{version}"
    );
    assert!(!version.contains("0.0.0"), "{version}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_are_listed_and_shown_with_every_parameter() {
    let cluster = Cluster::start(1, 5, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let list = ok(cluster.cli(1, &["type", "list"]));
    for name in ["process", "vip", "lb", "ocf:heartbeat:Dummy"] {
        assert!(list.contains(name), "{name} in {list}");
    }
    let process: api::TypeDetail =
        serde_json::from_str(&ok(cluster.cli(1, &["type", "show", "process", "--json"])))
            .expect("type JSON");
    let command = process
        .parameters
        .iter()
        .find(|p| p.name == "command")
        .expect("process has command");
    assert!(command.required, "{command:?}");
    let dummy = ok(cluster.cli(1, &["type", "show", "ocf:heartbeat:Dummy"]));
    assert!(dummy.contains("state  string"), "{dummy}");
    assert!(dummy.contains("actions: start"), "{dummy}");
    let lb = ok(cluster.cli(1, &["type", "show", "lb"]));
    assert!(lb.contains("listen  string, required"), "{lb}");
    refused(
        cluster.cli(1, &["type", "show", "ocf:heartbeat:NoSuchAgent"]),
        "OCF agent heartbeat:NoSuchAgent not found in /usr/lib/ocf/resource.d; install \
         Debian's resource-agents package (apt install resource-agents)",
    );
    refused(
        cluster.cli(
            1,
            &[
                "resource",
                "create",
                "db",
                "--type",
                "ocf:heartbeat:NoSuchAgent",
            ],
        ),
        "apt install resource-agents",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_can_only_fail_is_refused_at_create_time_regression_issue_11() {
    let cluster = Cluster::start(1, 5, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let create = |name: &str, params: &[&str]| {
        let mut args = vec!["resource", "create", name, "--type", "process"];
        for param in params {
            args.extend(["--param", param]);
        }
        cluster.cli(1, &args)
    };
    refused(
        create("..", &["command=sleep"]),
        "resource name \"..\" is reserved",
    );
    refused(
        create(".", &["command=sleep"]),
        "resource name \".\" is reserved",
    );
    refused(create("a b", &["command=sleep"]), "contains a character");
    refused(
        create("p1", &["command=sleep", "env=1BAD=x"]),
        "env: \"1BAD\" is not a valid variable name",
    );
    refused(
        create(
            "p1",
            &["command=sleep", "probe_http=http://127.0.0.1:1/\r\nX: y"],
        ),
        "contains a line break",
    );
    refused(
        create("p1", &["command=sleep", "cwd=/no/such/dir"]),
        "cwd: /no/such/dir",
    );
    refused(
        create("p1", &["command=sleep", "cwd=tmp"]),
        "not an absolute path",
    );
    refused(
        create("p1", &["command=touch /tmp/x"]),
        "is a command line: give the program alone and its arguments in args",
    );
    refused(
        create("p1", &["command=no-such-program-here"]),
        "no executable",
    );
    // Nothing half-written: none of them exists.
    let resources = cluster.client(1).resources().await.expect("list");
    assert!(resources.is_empty(), "{resources:?}");
    // The server refuses the same through REST, whatever the client.
    let spec = api::ResourceSpec {
        name: "..".into(),
        type_name: "process".into(),
        params: BTreeMap::from([("command".into(), "sleep".into())]),
        ..Default::default()
    };
    let error = cluster
        .client(1)
        .create_resource(&spec)
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("is reserved"), "{error}");
    // A name a URL path cannot carry still reaches its resource, through the query.
    let error = cluster.client(1).resource("..").await.expect_err("none");
    assert_eq!(error.status(), Some(404), "{error}");
}

/// The node where `name` runs, once it runs on exactly one.
async fn running_on(cluster: &Cluster, name: &str) -> u64 {
    wait_until(&format!("{name} running"), SETTLE, || async {
        let view = cluster.client(1).resource(name).await.ok()?;
        let nodes: Vec<u64> = view
            .instances
            .iter()
            .filter(|i| i.state == "running")
            .map(|i| i.node)
            .collect();
        match nodes[..] {
            [node] => Some(node),
            _ => None,
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quoted_args_nodes_by_name_durations_and_delete_regression_issue_11() {
    let cluster = Cluster::start(2, 5, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    ok(cluster.cli(
        1,
        &[
            "resource",
            "create",
            "p1",
            "--type",
            "process",
            "--param",
            "command=sh",
            "--param",
            "args=-c 'exec sleep 1000'",
            "--monitor-interval",
            "1s",
        ],
    ));
    let view = cluster.client(1).resource("p1").await.expect("show");
    assert_eq!(view.spec.params["args"], "-c 'exec sleep 1000'");
    let node = running_on(&cluster, "p1").await;
    let other = if node == 1 { 2 } else { 1 };
    let moved = cluster.cli(
        1,
        &[
            "resource",
            "move",
            "p1",
            "--to",
            &format!("node{other}"),
            "--for",
            "10minutes",
        ],
    );
    ok(moved);
    // The server parses the CLI's text with the same parser, so 10minutes is a move.
    wait_until("p1 on the other node", SETTLE, || async {
        (running_on(&cluster, "p1").await == other).then_some(())
    })
    .await;
    // Every node subcommand takes the node by name, as --to does.
    ok(cluster.cli(1, &["node", "standby", &format!("node{other}")]));
    ok(cluster.cli(1, &["node", "online", &format!("node{other}")]));
    ok(cluster.cli(1, &["node", "maintenance", &other.to_string()]));
    ok(cluster.cli(1, &["node", "ready", &format!("node{other}")]));
    refused(
        cluster.cli(1, &["node", "standby", "node9"]),
        "no node \"node9\" in the cluster; the nodes are 1 (node1), 2 (node2)",
    );
    // Back on the node its move prefers once that node is ready again; deleting while the
    // scheduler was still bringing it back raced with the stop of the move.
    wait_until("p1 back on the node it was moved to", SETTLE, || async {
        (running_on(&cluster, "p1").await == other).then_some(())
    })
    .await;
    let on = other;
    let deleted = ok(cluster.cli(1, &["resource", "delete", "p1"]));
    assert!(
        deleted.contains(&format!("stopping p1 on node{on}, then deleting")),
        "{deleted}"
    );
}
