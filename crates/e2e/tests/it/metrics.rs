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
    // One consolidation function, as rrdtool's fetch takes one: its value of each point.
    let query = api::MetricQuery {
        name: "agent_resident_bytes".into(),
        consolidation: Some("MAX".into()),
        ..load_query(1, started, now_ms())
    };
    let maxima = cluster.client(2).metric_range(&query).await.expect("max");
    assert_eq!(maxima.consolidation.as_deref(), Some("max"));
    let expected: Vec<Option<f64>> = maxima.points.iter().map(|p| p.map(|p| p.max)).collect();
    assert_eq!(maxima.values, expected);
    assert!(maxima.values.iter().flatten().count() >= 1, "{maxima:?}");
    let refused = cluster
        .client(2)
        .metric_range(&api::MetricQuery {
            consolidation: Some("median".into()),
            ..load_query(1, started, now_ms())
        })
        .await
        .expect_err("median is no consolidation function");
    assert_eq!(refused.status(), Some(400), "{refused}");
    assert!(
        refused.to_string().contains("min, avg, max and last"),
        "{refused}"
    );
    // The CLI: the list, a table of one function, and the sparkline of the means.
    let list = cli_text(&cluster, &["metrics", "list", "--node", "1"]);
    assert!(
        list.lines().any(|line| line == "agent_resident_bytes"),
        "{list}"
    );
    let show = [
        "metrics",
        "show",
        "agent_resident_bytes",
        "--node",
        "1",
        "--since",
        "1m",
    ];
    let table = cli_text(
        &cluster,
        &[&show[..], &["--consolidation", "max", "--table"]].concat(),
    );
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["START_MS", "MAX"], "{table}");
    assert!(
        lines.any(|line| line
            .split_whitespace()
            .nth(1)
            .is_some_and(|v| v.parse::<f64>().is_ok())),
        "no known point in the table:\n{table}"
    );
    let sparkline = cli_text(&cluster, &show);
    assert!(
        sparkline.starts_with("agent_resident_bytes on node 1") && sparkline.contains("mean"),
        "{sparkline}"
    );
    let list = cluster.client(3).metrics(Some(1)).await.expect("list");
    for name in [
        "host_cpu_seconds",
        "agent_resident_bytes",
        "agent_raft_term",
        "agent_loop_lag_seconds",
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
/// package, which `scripts/test.sh` installs) and carries the node's label; with a
/// director running, its node's text has the real server's response times and the
/// director's monitor durations as histograms, the master's its Raft commit latency, and
/// the archives keep their percentiles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_nodes_prometheus_text_passes_promtool() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let (director, listen, _backend) = start_director(&cluster, master).await;
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
        let mut wanted = vec!["host_cpu_seconds_total"];
        if id == director {
            wanted.extend([
                "lb_server_response_seconds",
                "resource_monitor_duration_seconds",
            ]);
        }
        if id == master {
            wanted.extend(["agent_raft_commit_seconds", "agent_raft_log_write_seconds"]);
        }
        let text = wait_until(
            &format!("node {id}'s scrape with {wanted:?}"),
            SETTLE,
            || async {
                // Connections through the director, timed by its real server's histogram.
                if id == director {
                    let _ = tokio::net::TcpStream::connect(listen).await;
                }
                let answer = http
                    .get(&url)
                    .bearer_auth(&cluster.admin_token)
                    .send()
                    .await
                    .ok()?;
                let text = answer.text().await.ok()?;
                wanted
                    .iter()
                    .all(|name| has_figure(&text, name))
                    .then_some(text)
            },
        )
        .await;
        assert!(text.contains(&format!("node=\"node{id}\"")), "{text}");
        if id == director {
            assert!(
                text.contains("# TYPE lb_server_response_seconds histogram"),
                "{text}"
            );
            assert!(
                text.contains("server=\"b\",service=\"web\",le=\"+Inf\"}"),
                "{text}"
            );
        }
        promtool_check(id, &text);
    }
    // The archives keep the percentiles, for graphs and `metrics show`.
    let list = wait_until("the response time's p99 series", SETTLE, || async {
        let _ = tokio::net::TcpStream::connect(listen).await;
        let list = cluster.client(master).metrics(Some(director)).await.ok()?;
        list.series
            .iter()
            .any(|s| s.name == "lb_server_response_seconds_p99")
            .then_some(list)
    })
    .await;
    assert!(
        list.series
            .iter()
            .any(|s| s.name == "resource_monitor_duration_seconds_p50"),
        "{list:?}"
    );
    // Without the token, nothing.
    let url = format!("https://{}/metrics", cluster.nodes[0].api_addr);
    let status = wait_until("an answer without a token", SETTLE, || async {
        Some(http.get(&url).send().await.ok()?.status())
    })
    .await;
    assert_eq!(status.as_u16(), 401);
}

/// Whether `text` has `name` with a non-zero value: a counter or gauge, or a histogram's
/// `_count`.
fn has_figure(text: &str, name: &str) -> bool {
    text.lines().any(|line| {
        let Some(rest) = line.strip_prefix(name) else {
            return false;
        };
        let plain = rest.starts_with('{') || rest.starts_with("_count{");
        plain
            && line
                .rsplit(' ')
                .next()
                .is_some_and(|v| v != "0" && v != "0.0")
    })
}

/// A TCP director `web` with one real server `b` (a listener of the test's), monitored
/// every second; its node, its listen address and the real server (which accepts and
/// closes every connection while it lives).
async fn start_director(
    cluster: &Cluster,
    master: u64,
) -> (u64, std::net::SocketAddr, std::net::TcpListener) {
    let backend = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the real server");
    let backend_addr = backend.local_addr().expect("addr");
    let acceptor = backend.try_clone().expect("the real server's listener");
    std::thread::spawn(move || acceptor.incoming().for_each(drop));
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let spec = api::ResourceSpec {
        name: "web".into(),
        type_name: "lb".into(),
        params: std::collections::BTreeMap::from([
            ("listen".into(), listen.to_string()),
            ("servers".into(), format!("b={backend_addr}")),
        ]),
        monitor_interval: Some("1s".into()),
        ..Default::default()
    };
    cluster
        .client(master)
        .create_resource(&spec)
        .await
        .expect("create the director");
    let (node, _) = wait_until("the director running", SETTLE, || async {
        let view = cluster.client(master).resource("web").await.ok()?;
        let running: Vec<u64> = view
            .instances
            .iter()
            .filter(|i| i.state == "running")
            .map(|i| i.node)
            .collect();
        let [node] = running[..] else { return None };
        Some((node, ()))
    })
    .await;
    (node, listen, backend)
}

fn promtool_check(id: u64, text: &str) {
    use std::io::Write;
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs: install Debian's prometheus package (scripts/test.sh does)");
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
    for name in ["resource_active", "resource_failures"] {
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

/// A CLI command's standard output, through node 2; it must succeed.
fn cli_text(cluster: &Cluster, args: &[&str]) -> String {
    let output = cluster.cli(2, args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}
