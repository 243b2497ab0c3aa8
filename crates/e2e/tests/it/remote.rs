//! Remote monitors (issue 13, point 3) with real agents on loopback: a web server that its
//! own node finds healthy but that stops answering every other node is reported
//! `unreachable` by the master (an event, `status`, the CLI), the observers' series show
//! their probes failing, and the view heals when the server answers again.
//!
//! Method: the server is a real Python HTTP server run as a `process` resource with an
//! HTTP probe on 127.0.0.1. Every agent's remote probes leave from its own node address
//! (127.x.y.N), so a server that answers only 127.0.0.1 once a file exists is "a listener
//! for its own node only": its node's monitor keeps passing while the other nodes' probes
//! fail. The test polls the API with a deadline.
//!
//! With `remote_failure = "recover"` the same verdict is a failure: the master records a
//! failed monitor under the instance's grant and recovery restarts it under a new fencing
//! token.

use std::collections::BTreeMap;
use std::time::Duration;

use e2e::{Cluster, output_text, wait_until};

const SETTLE: Duration = Duration::from_secs(30);

const SERVER: &str = r#"
import http.server, os, sys
port, cut = int(sys.argv[1]), sys.argv[2]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if os.path.exists(cut) and self.client_address[0] != "127.0.0.1":
            self.close_connection = True
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
"#;

fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("0.0.0.0:0").expect("a free port");
    probe.local_addr().expect("addr").port()
}

async fn verdict(cluster: &Cluster, node: u64, target: &str) -> Option<api::RemoteView> {
    let status = cluster.client(node).status().await.ok()?;
    status
        .remote_views
        .into_iter()
        .find(|view| view.target == target)
}

/// The newest known value of `remote_probe_up` for `target` as kept by `observer`.
async fn probe_up(cluster: &Cluster, observer: u64, target: &str) -> Option<f64> {
    let client = cluster.client(observer);
    let list = client.metrics(Some(observer)).await.ok()?;
    let series = list.series.into_iter().find(|series| {
        series.name == "remote_probe_up"
            && series.labels.get("target").map(String::as_str) == Some(target)
    })?;
    let query = api::MetricQuery {
        name: series.name,
        labels: series.labels.into_iter().collect(),
        node: Some(observer),
        ..api::MetricQuery::default()
    };
    let range = client.metric_range(&query).await.ok()?;
    range
        .points
        .iter()
        .rev()
        .flatten()
        .next()
        .map(|point| point.avg)
}

/// The `web` resource: the server on a free port, cut off from the others while `cut`
/// exists, probed on 127.0.0.1.
fn web_spec(cluster: &Cluster, cut: &std::path::Path) -> api::ResourceSpec {
    let script = cluster.cluster_dir().join("only-own-node.py");
    std::fs::write(&script, SERVER).expect("write the server");
    let port = free_port();
    api::ResourceSpec {
        name: "web".into(),
        type_name: "process".into(),
        params: BTreeMap::from([
            ("command".into(), "python3".into()),
            (
                "args".into(),
                format!("{} {port} {}", script.display(), cut.display()),
            ),
            ("probe_http".into(), format!("http://127.0.0.1:{port}/")),
        ]),
        monitor_interval: Some("1s".into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_answering_only_its_own_node_is_reported_unreachable_and_heals() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let cut = cluster.cluster_dir().join("cut");
    let web = web_spec(&cluster, &cut);
    let client = cluster.client(master);
    client.create_resource(&web).await.expect("create web");
    let (owner, _) = wait_until("web running", SETTLE, || cluster.sole_instance("web")).await;
    let observer = (1..=3).find(|n| *n != owner).expect("another node");

    // Both other nodes reach it, and say so to the master.
    let seen = wait_until("web reachable from both other nodes", SETTLE, || async {
        verdict(&cluster, master, "resource:web")
            .await
            .filter(|v| v.verdict == "reachable" && v.observers == 2 && v.node == owner)
    })
    .await;
    assert_eq!(seen.reachable, 2);
    wait_until("the observer's probe series at 1", SETTLE, || async {
        (probe_up(&cluster, observer, "resource:web").await? == 1.0).then_some(())
    })
    .await;

    // The server now answers its own node only.
    std::fs::write(&cut, "").expect("cut the others off");
    let seen = wait_until("web unreachable", SETTLE, || async {
        verdict(&cluster, master, "resource:web")
            .await
            .filter(|v| v.verdict == "unreachable")
    })
    .await;
    assert_eq!(seen.reachable, 0, "{seen:?}");
    let status = client.status().await.expect("status");
    let view = status
        .resources
        .iter()
        .find(|r| r.spec.name == "web")
        .expect("web in status");
    let instance = view
        .instances
        .iter()
        .find(|i| i.node == owner)
        .expect("the owner's instance");
    assert_eq!(instance.state, "running", "its own monitor still passes");
    assert_eq!(instance.remote.as_deref(), Some("unreachable"));
    let shown = cluster.cli(observer, &["status"]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{}", output_text(&shown));
    assert!(text.contains("unreachable"), "{text}");
    assert!(
        text.contains("resource:web on node"),
        "the remote views section: {text}"
    );
    let events = client.events(0, 0).await.expect("events").events;
    let event = events
        .iter()
        .find(|e| e.kind == "remote_view" && e.message.contains("unreachable"))
        .expect("an unreachable event");
    assert_eq!(event.severity, "warning");
    assert!(event.message.contains("0 of 2"), "{}", event.message);
    wait_until("the observer's probe series at 0", SETTLE, || async {
        (probe_up(&cluster, observer, "resource:web").await? == 0.0).then_some(())
    })
    .await;

    // Answering everyone again, it is reachable again, and that is an event too.
    std::fs::remove_file(&cut).expect("let the others in");
    wait_until("web reachable again", SETTLE, || async {
        let events = client.events(0, 0).await.ok()?.events;
        events
            .iter()
            .any(|e| e.kind == "remote_view" && e.message.contains("reachable again"))
            .then_some(())
    })
    .await;
    let seen = verdict(&cluster, master, "resource:web")
        .await
        .expect("judged");
    assert_eq!(seen.verdict, "reachable");
}

/// With `remote_failure = "recover"`, an instance healthy inside but unreachable from a
/// majority outside is failed by the master under its own grant and recovered: restarted
/// under a new fencing token, and, answering everyone again, left running.
/// A value other than recover or warn is refused and nothing is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_with_remote_failure_recover_is_failed_and_restarted() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let client = cluster.client(master);
    let cut = cluster.cluster_dir().join("cut");
    let mut web = web_spec(&cluster, &cut);
    web.unique = Some(true);
    web.params.insert("remote_failure".into(), "restart".into());
    let error = client
        .create_resource(&web)
        .await
        .expect_err("not a choice");
    let text = error.to_string();
    assert!(
        text.contains("remote_failure") && text.contains("recover, warn"),
        "{text}"
    );
    assert!(client.resource("web").await.is_err(), "nothing created");
    web.params.insert("remote_failure".into(), "recover".into());
    client.create_resource(&web).await.expect("create web");
    let (owner, first_pid) =
        wait_until("web running", SETTLE, || cluster.sole_instance("web")).await;
    wait_until("web reachable from both other nodes", SETTLE, || async {
        verdict(&cluster, master, "resource:web")
            .await
            .filter(|v| v.verdict == "reachable" && v.observers == 2)
    })
    .await;
    let first_token = instance(&cluster, master, owner)
        .await
        .and_then(|i| i.assigned_token)
        .expect("a grant");

    // Cut off from the others: the master fails it, with the views as its reason.
    std::fs::write(&cut, "").expect("cut the others off");
    let failed = wait_until("web failed for being unreachable", SETTLE, || async {
        let events = client.events(0, 0).await.ok()?.events;
        events
            .into_iter()
            .find(|e| e.kind == "resource_action" && e.message.contains("unreachable from outside"))
    })
    .await;
    assert!(
        failed.message.contains("of 2 observers"),
        "{}",
        failed.message
    );
    // Recovery restarts it, under a new grant; never two instances at once.
    std::fs::remove_file(&cut).expect("let the others in");
    let (again_owner, again_pid) = wait_until("web restarted", SETTLE, || async {
        let (node, pid) = cluster.sole_instance("web").await?;
        let token = instance(&cluster, master, node).await?.assigned_token?;
        (token > first_token && (node, pid) != (owner, first_pid)).then_some((node, pid))
    })
    .await;
    let view = instance(&cluster, master, again_owner)
        .await
        .expect("the instance");
    assert_eq!(view.state, "running");
    let fails = instance(&cluster, master, owner)
        .await
        .map_or(0, |i| i.fail_count);
    assert!(fails >= 1, "the failure is counted on node {owner}");
    // Answering everyone, it stays up and is reachable.
    wait_until("web reachable again", SETTLE, || async {
        verdict(&cluster, master, "resource:web")
            .await
            .filter(|v| v.verdict == "reachable" && v.node == again_owner)
    })
    .await;
    assert_eq!(
        cluster.sole_instance("web").await,
        Some((again_owner, again_pid)),
        "not failed again once reachable"
    );
}

async fn instance(cluster: &Cluster, node: u64, on: u64) -> Option<api::InstanceView> {
    let view = cluster.client(node).resource("web").await.ok()?;
    view.instances.into_iter().find(|i| i.node == on)
}

/// The known values of `observer`'s `remote_probe_up` series for `target`, asked of
/// node `asker` (which fetches them from the observer).
async fn probe_values(cluster: &Cluster, asker: u64, observer: u64, target: &str) -> Vec<f64> {
    let client = cluster.client(asker);
    let Ok(list) = client.metrics(Some(observer)).await else {
        return Vec::new();
    };
    let Some(series) = list.series.into_iter().find(|series| {
        series.name == "remote_probe_up"
            && series.labels.get("target").map(String::as_str) == Some(target)
    }) else {
        return Vec::new();
    };
    let query = api::MetricQuery {
        name: series.name,
        labels: series.labels.into_iter().collect(),
        node: Some(observer),
        ..api::MetricQuery::default()
    };
    let Ok(range) = client.metric_range(&query).await else {
        return Vec::new();
    };
    range
        .points
        .iter()
        .flatten()
        .map(|point| point.avg)
        .collect()
}

/// Issue 13 point 4: a down node's own series are unavailable, but what the other nodes'
/// remote monitors recorded about it is kept on them, and any node still answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_nodes_series_are_unavailable_but_the_remote_series_about_it_answer() {
    let mut cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let cut = cluster.cluster_dir().join("never-cut");
    let web = web_spec(&cluster, &cut);
    let client = cluster.client(master);
    client.create_resource(&web).await.expect("create web");
    let (owner, _) = wait_until("web running", SETTLE, || cluster.sole_instance("web")).await;
    let others: Vec<u64> = (1..=3).filter(|n| *n != owner).collect();
    let (observer, asker) = (others[0], others[1]);
    wait_until(
        "the observer's probes of web, seen from the third node",
        SETTLE,
        || {
            let cluster = &cluster;
            async move {
                let values = probe_values(cluster, asker, observer, "resource:web").await;
                (values.iter().filter(|value| **value == 1.0).count() >= 2).then_some(())
            }
        },
    )
    .await;

    cluster.kill9(owner);
    let own = api::MetricQuery {
        name: "host_memory_total_bytes".into(),
        node: Some(owner),
        ..api::MetricQuery::default()
    };
    let error = wait_until("the down node's series unavailable", SETTLE, || async {
        cluster.client(asker).metric_range(&own).await.err()
    })
    .await;
    assert!(
        error
            .to_string()
            .contains(&format!("node {owner} cannot be reached")),
        "{error}"
    );
    let values = probe_values(&cluster, asker, observer, "resource:web").await;
    assert!(
        values.iter().filter(|value| **value == 1.0).count() >= 2,
        "the remote series about the down node's service must still answer: {values:?}"
    );
}
