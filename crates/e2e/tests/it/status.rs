//! Issue 11: `status` tells the master's truth from any node, and says so at the top when
//! no master can be reached; the CLI survives a dead node (every address in `cli.toml`,
//! `events --follow` moving on without repeating events); `token join` issues a join token
//! that admits a node, whose `join` writes a `cli.toml` the CLI can use.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::output_text as text;
use e2e::{Cluster, binary, wait_until};

const SETTLE: Duration = Duration::from_secs(20);

/// The CLI configured only by a `cli.toml` (no flags or environment for the API).
fn cli_with_config(config: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env("ENCLUSTER_CLI_CONFIG", config)
        .env_remove("ENCLUSTER_API")
        .env_remove("ENCLUSTER_TOKEN")
        .env_remove("ENCLUSTER_CA");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_through_a_follower_shows_the_masters_heartbeat_ages_11() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let follower = (1..=3).find(|id| *id != master).expect("a follower");
    let status = wait_until(
        "the follower to relay the master's view",
        SETTLE,
        || async {
            let status = cluster.client(follower).status().await.ok()?;
            let ages = status.nodes.iter().all(|n| n.last_heartbeat_ms.is_some());
            (ages && status.forwarded_by == Some(follower)).then_some(status)
        },
    )
    .await;
    assert_eq!(status.answered_by, master);
    assert_eq!(status.view.as_deref(), Some("master"));
    let shown = cluster.cli(follower, &["status"]);
    let shown = text(&shown);
    assert!(
        shown.contains(&format!(
            "view: the master's, asked through node {follower}"
        )),
        "{shown}"
    );
    let ages = shown.lines().filter(|line| line.contains(" ago")).count();
    assert!(ages >= 3, "no heartbeat ages: {shown}");
    assert!(!shown.contains("WARNING"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survivor_of_two_lost_nodes_says_at_the_top_that_no_master_is_reachable_11() {
    let mut cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let survivor = (1..=3).find(|id| *id != master).expect("a follower");
    for id in (1..=3).filter(|id| *id != survivor) {
        cluster.kill9(id);
    }
    let shown = wait_until("the survivor to say it has no master", SETTLE, || async {
        let output = cluster.cli(survivor, &["status"]);
        let shown = text(&output);
        shown
            .starts_with("WARNING: no master reachable")
            .then_some(shown)
    })
    .await;
    let first = shown.lines().next().unwrap_or_default();
    assert!(
        first.contains(&format!(
            "showing node {survivor} (node{survivor})'s last view from"
        )),
        "{shown}"
    );
    assert!(shown.contains("quorum: LOST"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_works_through_the_other_nodes_when_the_first_in_cli_toml_is_killed_11() {
    let mut cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    // The node killed below must be online first, or its loss is no new event (a node
    // whose first heartbeats came late is written off once at startup).
    wait_until("three online nodes", SETTLE, || async {
        let status = cluster.client(master).status().await.ok()?;
        let online = status.nodes.iter().filter(|n| n.state == "online").count();
        (online == 3).then_some(())
    })
    .await;
    let config = cluster.cluster_dir().join("cli.toml");
    let first_node = name_a_follower_first(&cluster, master, &config);
    let create = cli_with_config(&config, &["resource", "create", "p1", "--type", "process"])
        .args(["--param", "command=sleep", "--param", "args=600"])
        .output()
        .expect("run the CLI");
    assert!(create.status.success(), "{}", text(&create));

    // events --follow starts on the first node and must move on when it dies.
    let (mut follow, mut lines) = follow_events(&config);
    let seen_first = lines.recv().await.expect("the newest event");
    cluster.kill9(first_node);

    let status = cli_with_config(&config, &["status"])
        .output()
        .expect("run the CLI");
    assert!(status.status.success(), "{}", text(&status));
    let list = cli_with_config(&config, &["resource", "list"])
        .output()
        .expect("run the CLI");
    assert!(
        list.status.success() && text(&list).contains("p1"),
        "{}",
        text(&list)
    );
    // The node's loss is an event that --follow must print from a live node.
    let mut seqs = vec![seq_of(&seen_first)];
    let health = loop {
        let Ok(line) = tokio::time::timeout(SETTLE, lines.recv()).await else {
            panic!("follow printed no loss of node {first_node}; events seen: {seqs:?}");
        };
        let line = line.expect("follow still runs");
        seqs.push(seq_of(&line));
        let node = format!("\"node\":{first_node}");
        if line.contains("node_health") && line.contains(&node) {
            break line;
        }
    };
    assert!(
        health.contains("down") || health.contains("suspect"),
        "{health}"
    );
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, seqs, "events repeated or out of order");
    let _ = follow.kill();
    let _ = follow.wait();
}

/// Checks that `init` wrote every node's address into `config`, then rewrites it with a
/// follower first (so the master that stays records that node's loss as an event; killing
/// the master of three would only test the election). Returns that follower.
fn name_a_follower_first(cluster: &Cluster, master: u64, config: &std::path::Path) -> u64 {
    let written = std::fs::read_to_string(config).expect("cli.toml");
    for node in &cluster.nodes {
        let address = format!("\"https://{}\"", node.api_addr);
        assert!(written.contains(&address), "init wrote {written}");
    }
    let first_node = (1..=3).find(|id| *id != master).expect("a follower");
    let mut order: Vec<u64> = vec![first_node];
    order.extend((1..=3).filter(|id| *id != first_node));
    let apis: Vec<String> = order
        .iter()
        .map(|id| format!("\"https://{}\"", cluster.nodes[(*id - 1) as usize].api_addr))
        .collect();
    assert!(written.starts_with("apis = ["), "init wrote {written}");
    let rest = written
        .split_once('\n')
        .map(|(_, rest)| rest)
        .expect("apis, then token and ca");
    std::fs::write(config, format!("apis = [{}]\n{rest}", apis.join(", ")))
        .expect("reorder cli.toml");
    first_node
}

/// `events --follow --json --last 1` through `config`, and its lines as they come.
fn follow_events(
    config: &std::path::Path,
) -> (std::process::Child, tokio::sync::mpsc::Receiver<String>) {
    let mut follow = cli_with_config(config, &["events", "--follow", "--json", "--last", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start events --follow");
    let (lines_tx, lines) = tokio::sync::mpsc::channel(256);
    let stdout = follow.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.blocking_send(line).is_err() {
                return;
            }
        }
    });
    (follow, lines)
}

fn seq_of(line: &str) -> u64 {
    let event: serde_json::Value = serde_json::from_str(line).expect("an event per line");
    event["seq"].as_u64().expect("a seq")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_join_issues_a_token_that_admits_a_node_with_a_cli_toml_11() {
    let mut cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let issued = cluster.cli(1, &["token", "join"]);
    assert!(issued.status.success(), "{}", text(&issued));
    let token = String::from_utf8_lossy(&issued.stdout).trim().to_string();
    assert!(token.starts_with("enc_join_"), "{token}");
    assert_ne!(token, cluster.join_token);
    let without = cluster
        .client_with_token(2, None)
        .add_join_token(&api::NewJoinToken {
            hash: "0".repeat(64),
            label: "x".into(),
        })
        .await
        .expect_err("only an admin may add a join token");
    assert_eq!(without.status(), Some(401));

    let octets = cluster.base_ip.octets();
    let ip = format!(
        "{}.{}.{}.{}",
        octets[0],
        octets[1],
        octets[2],
        octets[3] + 3
    );
    let dir = cluster.dir.path().join("node4");
    let (peer, api) = (format!("{ip}:7510"), format!("{ip}:7511"));
    let output = Command::new(binary())
        .args([
            "join",
            "--server",
            &cluster.nodes[1].api_addr,
            "--token",
            &token,
        ])
        .args(["--name", "node4", "--peer-addr", &peer, "--api-addr", &api])
        .arg("--dir")
        .arg(&dir)
        .output()
        .expect("run join");
    assert!(output.status.success(), "join failed: {}", text(&output));
    let cli_toml = std::fs::read_to_string(dir.join("cli.toml")).expect("join wrote cli.toml");
    for node in &cluster.nodes {
        assert!(cli_toml.contains(&node.api_addr), "{cli_toml}");
    }
    assert!(
        cli_toml.starts_with(&format!("apis = [\"https://{api}\"")),
        "{cli_toml}"
    );
    cluster.adopt(4, dir.join("encluster.toml"), api, peer);
    cluster.start_node(4).expect("start node 4");
    // The joined node's cli.toml, with the admin token given the documented way.
    wait_until(
        "node 4 online, seen through its own cli.toml",
        SETTLE,
        || async {
            let output = cli_with_config(&dir.join("cli.toml"), &["status", "--json"])
                .env("ENCLUSTER_TOKEN", &cluster.admin_token)
                .output()
                .ok()?;
            let status: api::Status = serde_json::from_slice(&output.stdout).ok()?;
            let node4 = status.nodes.iter().find(|n| n.id == 4)?;
            (node4.state == "online").then_some(())
        },
    )
    .await;
}
