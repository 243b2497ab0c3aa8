//! Metrics (issue 13): every node samples itself once a second into round-robin series;
//! any node answers a range query for any other, a down node's series are reported
//! unavailable, and the history survives a restart of the agent.

use std::time::Duration;

use e2e::{Cluster, wait_until};

const SETTLE: Duration = Duration::from_secs(20);

fn load_query(node: u64, from_ms: u64, to_ms: u64) -> api::MetricQuery {
    api::MetricQuery {
        name: "host_memory_total_bytes".into(),
        node: Some(node),
        from_ms: Some(from_ms),
        to_ms: Some(to_ms),
        ..api::MetricQuery::default()
    }
}

fn known(range: &api::MetricRange) -> usize {
    range.points.iter().flatten().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_node_answers_for_any_other_and_history_survives_a_restart() {
    let mut cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let started = now_ms();
    // Node 1's series, asked of node 2, fill in as node 1 samples.
    let range = wait_until(
        "three seconds of node 1's memory, through node 2",
        SETTLE,
        || async {
            let range = cluster
                .client(2)
                .metric_range(&load_query(1, started, now_ms()))
                .await
                .ok()?;
            (known(&range) >= 3).then_some(range)
        },
    )
    .await;
    assert_eq!(range.node, 1);
    assert_eq!(range.step_ms, 1_000);
    let total = range.points.iter().flatten().next().expect("known").avg;
    assert!(total > 0.0, "memory total {total}");
    let list = cluster.client(3).metrics(Some(1)).await.expect("list");
    for name in [
        "host_cpu_seconds",
        "agent_resident_bytes",
        "agent_raft_term",
    ] {
        assert!(
            list.series.iter().any(|s| s.name == name),
            "node 1 keeps {name}: {list:?}"
        );
    }
    // A stopped node's series are unavailable, and the answer says so.
    cluster.stop(1);
    let error = cluster
        .client(2)
        .metric_range(&load_query(1, started, now_ms()))
        .await
        .expect_err("node 1 is down");
    assert!(
        error.to_string().contains("node 1 cannot be reached"),
        "{error}"
    );
    // Back, it still has what it recorded before (flushed at shutdown).
    let stopped_at = now_ms();
    cluster.start_node(1).expect("restart node 1");
    let before = wait_until("node 1 answers again", SETTLE, || async {
        cluster
            .client(1)
            .metric_range(&load_query(1, started, stopped_at))
            .await
            .ok()
    })
    .await;
    assert!(known(&before) >= 3, "history after a restart: {before:?}");
    // The CLI shows it as a sparkline.
    let shown = cluster.cli(
        2,
        &["metrics", "show", "host_memory_total_bytes", "--node", "1"],
    );
    let stdout = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(
        stdout.contains("host_memory_total_bytes on node 1"),
        "{stdout}"
    );
    assert!(stdout.contains("mean"), "{stdout}");
    // Bad input gets a clear error.
    let bad = cluster.cli(2, &["metrics", "show", "no_such_series"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("metrics list"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// Every node's `/metrics` passes `promtool check metrics` (Debian's `prometheus`
/// package, which `scripts/test.sh` installs) and carries the node's label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_nodes_prometheus_text_passes_promtool() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let ca = std::fs::read_to_string(cluster.cluster_dir().join("ca.pem")).expect("ca.pem");
    let tls = auth::client_config(&ca, None).expect("client TLS config");
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured((*tls).clone())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    for id in 1..=3u64 {
        let url = format!(
            "https://{}/metrics",
            cluster.nodes[(id - 1) as usize].api_addr
        );
        let text = wait_until("a scrape with the host's figures", SETTLE, || async {
            let answer = http
                .get(&url)
                .bearer_auth(&cluster.admin_token)
                .send()
                .await
                .ok()?;
            let text = answer.text().await.ok()?;
            text.contains("host_cpu_seconds_total").then_some(text)
        })
        .await;
        assert!(text.contains(&format!("node=\"node{id}\"")), "{text}");
        let mut promtool = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("promtool runs: install Debian's prometheus package (scripts/test.sh does)");
        use std::io::Write;
        promtool
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("feed promtool");
        let checked = promtool.wait_with_output().expect("promtool ends");
        assert!(
            checked.status.success(),
            "promtool check metrics refused node {id}'s text: {}{}\n{text}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
    }
    // Without the token, nothing.
    let url = format!("https://{}/metrics", cluster.nodes[0].api_addr);
    let status = wait_until("an answer without a token", SETTLE, || async {
        Some(http.get(&url).send().await.ok()?.status())
    })
    .await;
    assert_eq!(status.as_u16(), 401);
}

/// A resource instance is sampled on the node that runs it: active, and its fail count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_resource_is_sampled_on_its_node() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    cluster
        .client(master)
        .create_resource(&e2e::specs::sleeper("sleeper"))
        .await
        .expect("create");
    let node = wait_until("sleeper running", SETTLE, || async {
        let view = cluster.client(master).resource("sleeper").await.ok()?;
        view.instances
            .iter()
            .find(|i| i.state == "running")
            .map(|i| i.node)
    })
    .await;
    let labels = vec![("resource".to_owned(), "sleeper".to_owned())];
    for name in ["resource_active", "resource_fail_count"] {
        let query = api::MetricQuery {
            name: name.into(),
            labels: labels.clone(),
            node: Some(node),
            ..api::MetricQuery::default()
        };
        let range = wait_until(
            &format!("{name} of sleeper on node {node}"),
            SETTLE,
            || async {
                let range = cluster.client(master).metric_range(&query).await.ok()?;
                (known(&range) > 0).then_some(range)
            },
        )
        .await;
        let last = range.points.iter().flatten().last().expect("known").last;
        let expected = if name == "resource_active" { 1.0 } else { 0.0 };
        assert_eq!(last, expected, "{name}");
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}
