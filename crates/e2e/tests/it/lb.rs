//! Load balancing end to end: virtual services as `lb` resources grouped with loopback
//! VIPs, two directors active at once, and a crashed director's VIP and listener taken
//! over by a survivor. The real servers are small HTTP servers in this test process.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use api::{ConstraintSpec, GroupSpec, ResourceSpec};
use e2e::{Cluster, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SETTLE: Duration = Duration::from_secs(30);

/// An HTTP server answering every request with its name; returns its address.
async fn backend(name: &'static str) -> String {
    slow_backend(name, Duration::ZERO).await.0
}

/// Like `backend`, but waiting `delay` before each answer (a request in flight); also
/// counts the requests it has received.
async fn slow_backend(name: &'static str, delay: Duration) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind backend");
    let addr = listener.local_addr().expect("addr").to_string();
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 1024];
                let _ = stream.read(&mut buffer).await;
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                let body = format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{name}",
                    name.len()
                );
                let _ = stream.write_all(body.as_bytes()).await;
            });
        }
    });
    (addr, received)
}

/// One HTTP request through `addr`; the answering backend's name.
async fn fetch(addr: &str) -> Option<String> {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream
            .write_all(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")
            .await
            .ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.ok()?;
        answer
            .contains("200 OK")
            .then(|| answer.rsplit("\r\n\r\n").next().unwrap_or("").to_string())
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
}

fn director(ip: &str, index: u32, servers: &str) -> (ResourceSpec, ResourceSpec, GroupSpec) {
    let vip = ResourceSpec {
        name: format!("vip{index}"),
        type_name: "vip".into(),
        params: BTreeMap::from([("ip".into(), ip.into())]),
        monitor_interval: Some("1s".into()),
        ..Default::default()
    };
    let lb = ResourceSpec {
        name: format!("web{index}"),
        type_name: "lb".into(),
        params: BTreeMap::from([
            ("listen".into(), format!("{ip}:8080")),
            ("servers".into(), servers.into()),
            ("protocol".into(), "http".into()),
            ("health_interval".into(), "500ms".into()),
            ("health_timeout".into(), "300ms".into()),
        ]),
        monitor_interval: Some("1s".into()),
        ..Default::default()
    };
    let members = vec![vip.name.clone(), lb.name.clone()];
    (
        vip,
        lb,
        GroupSpec {
            name: format!("director{index}"),
            members,
        },
    )
}

/// Wait until both directors are settled: each VIP on the node of its listener, the two
/// listeners on different nodes, none on `not_on`. Returns the nodes of web1 and web2.
async fn settled_directors(cluster: &Cluster, not_on: Option<u64>) -> (u64, u64) {
    wait_until(
        "both directors settled on different nodes",
        SETTLE,
        || async {
            let client = cluster.client(cluster.running()[0]);
            let mut nodes = Vec::new();
            for name in ["web1", "vip1", "web2", "vip2"] {
                let view = client.resource(name).await.ok()?;
                let running: Vec<u64> = view
                    .instances
                    .iter()
                    .filter(|i| i.state == "running")
                    .map(|i| i.node)
                    .collect();
                let [node] = running[..] else { return None };
                nodes.push(node);
            }
            let settled = nodes[0] == nodes[1]
                && nodes[2] == nodes[3]
                && nodes[0] != nodes[2]
                && !nodes.iter().any(|n| Some(*n) == not_on);
            settled.then_some((nodes[0], nodes[2]))
        },
    )
    .await
}

async fn node_of(cluster: &Cluster, name: &str, not_on: Option<u64>) -> u64 {
    wait_until(&format!("{name} running"), SETTLE, || async {
        let view = cluster
            .client(cluster.running()[0])
            .resource(name)
            .await
            .ok()?;
        let node = view.instances.iter().find(|i| i.state == "running")?.node;
        (Some(node) != not_on).then_some(node)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_directors_serve_one_service_and_a_crashed_director_is_taken_over() {
    let mut cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let servers = format!(
        "a={},b={},c={}",
        backend("a").await,
        backend("b").await,
        backend("c").await
    );
    let octets = cluster.base_ip.octets();
    let vips: Vec<String> = [50, 51]
        .iter()
        .map(|last| format!("{}.{}.{}.{last}", octets[0], octets[1], octets[2]))
        .collect();
    let client = cluster.client(master);
    for (index, ip) in vips.iter().enumerate() {
        let (vip, lb, group) = director(ip, index as u32 + 1, &servers);
        client.create_resource(&vip).await.expect("vip");
        client.create_resource(&lb).await.expect("lb");
        client.create_group(&group).await.expect("group");
    }
    let apart = ConstraintSpec::Colocation {
        resource: "web2".into(),
        with: "web1".into(),
        score: "-INFINITY".into(),
    };
    client
        .add_constraint(&apart)
        .await
        .expect("anti-colocation");

    // The constraint may arrive after both groups were first placed: wait until settled.
    let (first, _) = settled_directors(&cluster, None).await;
    let mut answered = BTreeSet::new();
    for round in 0..12 {
        let target = format!("{}:8080", vips[round % 2]);
        let name = wait_until("an answer through a director", SETTLE, || fetch(&target)).await;
        answered.insert(name);
    }
    assert_eq!(
        answered.len(),
        3,
        "requests must be spread over all servers: {answered:?}"
    );

    cluster.crash(first);
    // The scheduler places web1 first and moves web2 away from it if needed (the
    // constraint says web2 avoids web1), so check the settled state.
    settled_directors(&cluster, Some(first)).await;
    for vip in &vips {
        let target = format!("{vip}:8080");
        let name = wait_until("an answer after the takeover", SETTLE, || fetch(&target)).await;
        assert!(["a", "b", "c"].contains(&name.as_str()), "{name}");
    }
}

/// Servers are added and drained at runtime through the CLI: the director applies each
/// change without restarting its listener, a request in flight to the drained server
/// finishes, and the drained server gets no new requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_change_at_runtime_without_dropping_a_request_in_flight() {
    let cluster = Cluster::start(2, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let (slow, slow_received) = slow_backend("slow", Duration::from_millis(1500)).await;
    let servers = format!("slow={slow}");
    let octets = cluster.base_ip.octets();
    let ip = format!("{}.{}.{}.60", octets[0], octets[1], octets[2]);
    let (vip, lb, group) = director(&ip, 1, &servers);
    let client = cluster.client(master);
    client.create_resource(&vip).await.expect("vip");
    client.create_resource(&lb).await.expect("lb");
    client.create_group(&group).await.expect("group");
    node_of(&cluster, "web1", None).await;
    let target = format!("{ip}:8080");
    wait_until("the service answers", SETTLE, || fetch(&target)).await;

    let received_before = slow_received.load(Ordering::SeqCst);
    let in_flight = tokio::spawn({
        let target = target.clone();
        async move { fetch(&target).await }
    });
    wait_until(
        "the request in flight at the slow server",
        SETTLE,
        || async { (slow_received.load(Ordering::SeqCst) > received_before).then_some(()) },
    )
    .await;
    let fast = backend("fast").await;
    let add = cluster.cli(master, &["lb", "server", "add", "web1", "fast", &fast]);
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let drain = cluster.cli(master, &["lb", "server", "drain", "web1", "slow"]);
    assert!(
        drain.status.success(),
        "{}",
        String::from_utf8_lossy(&drain.stderr)
    );
    let shown = String::from_utf8_lossy(&drain.stdout).into_owned();
    assert!(
        shown.contains("slow") && shown.contains("draining"),
        "{shown}"
    );
    let answer = in_flight.await.expect("join");
    assert_eq!(
        answer.as_deref(),
        Some("slow"),
        "the request in flight was dropped"
    );
    wait_until("new requests reach the added server", SETTLE, || async {
        (fetch(&target).await.as_deref() == Some("fast")).then_some(())
    })
    .await;
    for _ in 0..6 {
        assert_eq!(
            fetch(&target).await.as_deref(),
            Some("fast"),
            "a drained server got a request"
        );
    }
    // Counters come from the director node, whichever node the CLI asks.
    for node in [1, 2] {
        let shown = cluster.cli(node, &["lb", "show", "web1"]);
        let text = String::from_utf8_lossy(&shown.stdout).into_owned();
        assert!(
            text.contains("counters from node"),
            "no counters via node {node}: {text}"
        );
        assert!(
            text.contains("drained: safe to remove"),
            "slow is drained and idle: {text}"
        );
    }
    let stats = cluster
        .client(master)
        .lb_stats("web1")
        .await
        .expect("stats");
    let fast = stats
        .servers
        .iter()
        .find(|s| s.name == "fast")
        .expect("fast counted");
    assert!(fast.connections_total >= 7, "{fast:?}");
}

/// An operator's token drains, enables and weighs real servers but may not add or remove
/// one; edits sent at once through different nodes all land (each is applied to the
/// service as it is when it commits, not to the view its sender read).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_drains_and_weighs_servers_and_concurrent_edits_all_land() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let octets = cluster.base_ip.octets();
    let ip = format!("{}.{}.{}.61", octets[0], octets[1], octets[2]);
    let names = ["a", "b", "c", "d", "e", "f"];
    let servers: Vec<String> = (names.iter().zip(1u16..))
        .map(|(name, port)| format!("{name}=127.0.0.1:{}", 9000 + port))
        .collect();
    let (vip, lb, group) = director(&ip, 1, &servers.join(","));
    let admin = cluster.client(master);
    admin.create_resource(&vip).await.expect("vip");
    admin.create_resource(&lb).await.expect("lb");
    admin.create_group(&group).await.expect("group");
    let made = cluster.cli(
        master,
        &["token", "create", "--role", "operator", "--label", "ops"],
    );
    assert!(made.status.success(), "{}", e2e::output_text(&made));
    let token = String::from_utf8(made.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    let operator = |node: u64| cluster.client_with_token(node, Some(token.clone()));
    let action = |server: &str, weight: Option<u32>| api::ServerAction {
        server: server.into(),
        weight,
    };
    // Six edits at once, two through each node, every one read-free.
    let edits = names.iter().zip(0u64..).map(|(name, index)| {
        let client = operator(index % 3 + 1);
        let (verb, weight) = if index % 2 == 0 {
            ("drain", None)
        } else {
            ("weight", Some(7))
        };
        let request = action(name, weight);
        async move { client.server_action("web1", verb, &request).await }
    });
    for result in futures::future::join_all(edits).await {
        result.expect("an operator's runtime edit");
    }
    let params = admin.resource("web1").await.expect("web1").spec.params;
    let mut draining: Vec<&str> = params["draining"].split(',').collect();
    draining.sort_unstable();
    assert_eq!(draining, ["a", "c", "e"], "{params:?}");
    let mut weights: Vec<&str> = params["weights"].split(',').collect();
    weights.sort_unstable();
    assert_eq!(weights, ["b=7", "d=7", "f=7"], "{params:?}");

    let enabled = operator(1)
        .server_action("web1", "enable", &action("a", None))
        .await
        .expect("enable a");
    assert!(
        !enabled.spec.params["draining"].contains('a'),
        "{enabled:?}"
    );
    let new = api::NewServer {
        server: "g".into(),
        addr: "127.0.0.1:9100".into(),
        weight: None,
    };
    let refused = operator(2).add_server("web1", &new).await;
    let refused = refused.expect_err("an operator adds no server").to_string();
    assert!(
        refused.contains("this needs the \"admin\" permission; token \"ops\" has role operator"),
        "{refused}"
    );
    let refused = operator(2).remove_server("web1", "b").await;
    assert!(refused.is_err(), "an operator removes no server");
    let unknown = operator(3)
        .server_action("web1", "drain", &action("z", None))
        .await
        .expect_err("no server z")
        .to_string();
    assert!(
        unknown.contains("no server \"z\" in this service"),
        "{unknown}"
    );
    // The administrator adds one (a bad address is refused with nothing written).
    let bad = api::NewServer {
        addr: "not-an-address".into(),
        ..new.clone()
    };
    admin
        .add_server("web1", &bad)
        .await
        .expect_err("a bad address");
    let added = admin.add_server("web1", &new).await.expect("add g");
    assert!(
        added.spec.params["servers"].ends_with("g=127.0.0.1:9100"),
        "{added:?}"
    );
}

/// A real server that is itself a cluster resource (`app=@backend:PORT`) is followed as it
/// moves: the director sends requests to wherever the resource runs now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_server_that_is_a_cluster_resource_is_followed_as_it_moves() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let port = {
        let probe = std::net::TcpListener::bind("0.0.0.0:0").expect("a free port");
        probe.local_addr().expect("addr").port()
    };
    let client = cluster.client(master);
    let backend = ResourceSpec {
        name: "backend".into(),
        type_name: "process".into(),
        params: BTreeMap::from([
            ("command".into(), "python3".into()),
            (
                "args".into(),
                format!("-m http.server {port} --bind 0.0.0.0 --directory /"),
            ),
            ("probe_tcp".into(), format!("127.0.0.1:{port}")),
        ]),
        monitor_interval: Some("1s".into()),
        ..Default::default()
    };
    client.create_resource(&backend).await.expect("backend");
    let octets = cluster.base_ip.octets();
    let ip = format!("{}.{}.{}.70", octets[0], octets[1], octets[2]);
    let (vip, lb, group) = director(&ip, 1, &format!("app=@backend:{port}"));
    client.create_resource(&vip).await.expect("vip");
    client.create_resource(&lb).await.expect("lb");
    client.create_group(&group).await.expect("group");
    let target = format!("{ip}:8080");
    wait_until("an answer from the backend resource", SETTLE, || {
        fetch(&target)
    })
    .await;

    let from = node_of(&cluster, "backend", None).await;
    let to = (1..=3).find(|n| *n != from).expect("another node");
    let request = api::MoveRequest {
        to: Some(to),
        for_duration: None,
        clear: false,
    };
    client
        .move_resource("backend", &request)
        .await
        .expect("move the backend");
    assert_eq!(node_of(&cluster, "backend", Some(from)).await, to);
    wait_until("an answer after the backend moved", SETTLE, || {
        fetch(&target)
    })
    .await;
    for _ in 0..5 {
        assert!(
            fetch(&target).await.is_some(),
            "the director lost the moved backend"
        );
    }
}

/// A real server that waits 2 s on `/slow`, answers `app`, and dies at once on SIGTERM
/// (Python's default), so that only a drain can let its requests in flight finish.
const SLOW_APP: &str = r#"import http.server, os, sys, time
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/slow"):
            # Held until the test releases it (a file next to this script), at most 25 s.
            release = sys.argv[0] + ".release"
            deadline = time.time() + 25
            while not os.path.exists(release) and time.time() < deadline:
                time.sleep(0.02)
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"app")
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Handler).serve_forever()
"#;

/// One request for `path` through `addr`: the status line and the body.
async fn fetch_path(addr: &str, path: &str) -> Option<(String, String)> {
    fetch_path_within(addr, path, Duration::from_secs(10)).await
}

/// Like `fetch_path`, giving up after `timeout`.
async fn fetch_path_within(addr: &str, path: &str, timeout: Duration) -> Option<(String, String)> {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: test\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.ok()?;
        let (head, body) = answer.split_once("\r\n\r\n")?;
        Some((head.lines().next()?.to_string(), body.to_string()))
    };
    tokio::time::timeout(timeout, attempt).await.ok().flatten()
}

/// Moving a real server that is a cluster resource with a drain: the directors stop sending
/// it new requests as soon as its grant is withdrawn, the node keeps it running for the
/// drain, so the request in flight finishes, and only then stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_real_server_is_drained_before_it_stops() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let port = {
        let probe = std::net::TcpListener::bind("0.0.0.0:0").expect("a free port");
        probe.local_addr().expect("addr").port()
    };
    let script = std::env::temp_dir().join(format!("encluster-slow-app-{port}.py"));
    std::fs::write(&script, SLOW_APP).expect("write the real server");
    let _ = std::fs::remove_file(format!("{}.release", script.display()));
    let client = cluster.client(master);
    let app = ResourceSpec {
        name: "app".into(),
        type_name: "process".into(),
        params: BTreeMap::from([
            ("command".into(), "python3".into()),
            ("args".into(), format!("{} {port}", script.display())),
            ("probe_tcp".into(), format!("127.0.0.1:{port}")),
        ]),
        monitor_interval: Some("1s".into()),
        // Long enough for the test to look at the drain before it releases the requests.
        drain: Some("10s".into()),
        ..Default::default()
    };
    client.create_resource(&app).await.expect("app");
    let fixed = backend("fixed").await;
    let octets = cluster.base_ip.octets();
    let ip = format!("{}.{}.{}.71", octets[0], octets[1], octets[2]);
    let servers = format!("app=@app:{port},fixed={fixed}");
    let (vip, lb, group) = director(&ip, 1, &servers);
    client.create_resource(&vip).await.expect("vip");
    client.create_resource(&lb).await.expect("lb");
    client.create_group(&group).await.expect("group");
    let target = format!("{ip}:8080");
    wait_until("both real servers answering", SETTLE, || async {
        let mut seen = BTreeSet::new();
        for _ in 0..4 {
            seen.insert(fetch_path(&target, "/").await?.1);
        }
        (seen.len() == 2).then_some(())
    })
    .await;

    // Slow requests are held at the app until released. Round robin sends some of them to
    // the app, but the other nodes' remote probes of the listener also take turns, so the
    // test sends one more on each look until the app holds one.
    let mut slow = Vec::new();
    wait_until("a request in flight at the app", SETTLE, || {
        let target = target.clone();
        slow.push(tokio::spawn(async move {
            fetch_path_within(&target, "/slow", SETTLE).await
        }));
        let client = &client;
        async move {
            let stats = client.lb_stats("web1").await.ok()?;
            let app = stats.servers.iter().find(|s| s.name.starts_with("app:"))?;
            (app.connections_active > 0).then_some(())
        }
    })
    .await;
    let from = node_of(&cluster, "app", None).await;
    let to = (1..=3).find(|n| *n != from).expect("another node");
    let request = api::MoveRequest {
        to: Some(to),
        for_duration: None,
        clear: false,
    };
    client.move_resource("app", &request).await.expect("move");
    // During the drain the app is still running, and new requests all go to `fixed`.
    wait_until("the directors draining the app", SETTLE, || async {
        let stats = client.lb_stats("web1").await.ok()?;
        let app = stats.servers.iter().find(|s| s.name.starts_with("app:"))?;
        (app.state == "draining").then_some(())
    })
    .await;
    for _ in 0..5 {
        let answer = fetch_path(&target, "/")
            .await
            .expect("answered during the drain");
        assert_eq!(answer.1, "fixed", "a draining server got a new request");
    }
    std::fs::write(format!("{}.release", script.display()), "").expect("release");
    let mut bodies = Vec::new();
    for request in slow {
        let (status, body) = request
            .await
            .expect("joined")
            .expect("the request in flight finished");
        assert!(status.contains("200"), "{status}");
        bodies.push(body);
    }
    assert!(
        bodies.iter().any(|body| body == "app")
            && bodies.iter().all(|body| body == "app" || body == "fixed"),
        "{bodies:?}"
    );
    assert_eq!(node_of(&cluster, "app", Some(from)).await, to);
    wait_until("the moved app answering", SETTLE, || async {
        let mut seen = BTreeSet::new();
        for _ in 0..4 {
            seen.insert(fetch_path(&target, "/").await?.1);
        }
        seen.contains("app").then_some(())
    })
    .await;
    let _ = std::fs::remove_file(&script);
    let _ = std::fs::remove_file(format!("{}.release", script.display()));
}
