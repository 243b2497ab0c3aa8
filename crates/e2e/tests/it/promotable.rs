//! Promotable resources end to end (issue 12, points 4 and 7): Debian's
//! `ocf:pacemaker:Stateful`, unmodified, as a promotable clone on three loopback nodes. It
//! is promoted on exactly one node; when that node's agent is killed (kill -9) or hangs
//! (SIGSTOP), another instance is promoted after the lease, and never two at once.
//!
//! "At once" is checked three ways while the fault plays out: every node's own replica
//! (the resource view, read from each node) never shows two nodes holding or running the
//! promoted role; the instances' own state (Stateful's state file on each node, which
//! says `Promoted` or `Unpromoted`) never says `Promoted` on two nodes; and afterwards the
//! audit of the operation log finds no overlap of the role `db:promoted` on two nodes
//! (promote is the role's start, demote its stop). A killed or hung agent cannot demote;
//! its lease watchdog does, so the state files stay exclusive through both faults.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use e2e::audit::{self, AuditInput};
use e2e::{Cluster, wait_until};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const SETTLE: Duration = Duration::from_secs(30);
const ROLE: &str = "db:promoted";

/// Stateful's state file on node `id`: `Promoted`, `Unpromoted`, or empty when absent.
fn state_file(cluster: &Cluster, id: u64) -> PathBuf {
    cluster.data_dir(id).join("resources/db/Stateful-db.state")
}

fn instance_state(path: &PathBuf) -> String {
    std::fs::read_to_string(path)
        .map(|text| text.trim().to_owned())
        .unwrap_or_default()
}

/// Create `db` with the CLI and wait until it runs on all three nodes, promoted on one;
/// returns that node.
async fn promoted_stateful(cluster: &Cluster) -> u64 {
    assert!(
        std::path::Path::new("/usr/lib/ocf/resource.d/pacemaker/Stateful").exists(),
        "Debian's pacemaker-resource-agents package is missing (scripts/test.sh installs it)"
    );
    let create = cluster.cli(
        1,
        &[
            "resource",
            "create",
            "db",
            "--type",
            "ocf:pacemaker:Stateful",
            "--promotable",
            "--promoted-max",
            "1",
            "--monitor-interval",
            "1s",
        ],
    );
    assert!(
        create.status.success(),
        "{}",
        String::from_utf8_lossy(&create.stderr)
    );
    let client = cluster.client(1);
    wait_until("db promoted on one node of three", SETTLE, || async {
        let view = client.resource("db").await.ok()?;
        let running = view.instances.iter().filter(|i| i.state == "running");
        let promoted: Vec<u64> = view
            .instances
            .iter()
            .filter(|i| i.role.as_deref() == Some("promoted"))
            .map(|i| i.node)
            .collect();
        (running.count() == 3 && promoted.len() == 1).then(|| promoted[0])
    })
    .await
}

/// Samples, until stopped, every node's view of `db` and every node's Stateful state file,
/// and collects each moment that shows two promoted instances.
struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<String>>,
}

impl Sampler {
    fn start(cluster: &Cluster) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<(u64, api::Client)> = (1..=3).map(|id| (id, cluster.client(id))).collect();
        let files: Vec<(u64, PathBuf)> = (1..=3).map(|id| (id, state_file(cluster, id))).collect();
        let stopped = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut violations = Vec::new();
            while !stopped.load(Ordering::SeqCst) {
                let promoted: Vec<u64> = files
                    .iter()
                    .filter(|(_, path)| instance_state(path) == "Promoted")
                    .map(|(id, _)| *id)
                    .collect();
                if promoted.len() > 1 {
                    violations.push(format!("state files promoted on nodes {promoted:?}"));
                }
                for (id, client) in &clients {
                    let Ok(Ok(view)) =
                        tokio::time::timeout(Duration::from_millis(300), client.resource("db"))
                            .await
                    else {
                        continue;
                    };
                    let holders: Vec<(u64, Option<String>)> = view
                        .instances
                        .iter()
                        .filter(|i| i.role.as_deref().is_some_and(|r| r != "unpromoted"))
                        .map(|i| (i.node, i.role.clone()))
                        .collect();
                    if holders.len() > 1 {
                        violations.push(format!("node {id} sees roles {holders:?}"));
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            violations
        });
        Sampler { stop, task }
    }

    async fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("sampler")
    }
}

/// Wait until a node other than `old` runs `db` promoted, by the cluster and by its own
/// state file; returns it.
async fn promoted_elsewhere(cluster: &Cluster, asked: u64, old: u64) -> u64 {
    let client = cluster.client(asked);
    wait_until("another node promoted", SETTLE, || async {
        let view = client.resource("db").await.ok()?;
        let node = view
            .instances
            .iter()
            .find(|i| i.node != old && i.role.as_deref() == Some("promoted"))?
            .node;
        (instance_state(&state_file(cluster, node)) == "Promoted").then_some(node)
    })
    .await
}

/// The audit of the role over the operation logs of `nodes`, read from each one's replica,
/// once they agree and hold the promotions expected (two if the role `moved`).
async fn audit_role(
    cluster: &Cluster,
    nodes: &[u64],
    ended: &BTreeMap<u64, Vec<u64>>,
    moved: bool,
) {
    let logs = wait_until("the replicas' logs to agree", SETTLE, || async {
        let mut logs = Vec::new();
        for id in nodes {
            logs.push(cluster.client(*id).operations(None, true).await.ok()?);
        }
        let agree = logs.iter().all(|log| log.operations == logs[0].operations);
        let promotions = logs[0]
            .operations
            .iter()
            .filter(|op| op.resource == ROLE && op.operation == "start" && op.ok)
            .count();
        let expected = if moved { 2 } else { 1 };
        (agree && promotions >= expected).then_some(logs)
    })
    .await;
    let now_ms = logs[0]
        .operations
        .iter()
        .map(|op| op.finished_at_ms)
        .max()
        .unwrap_or(0)
        + 1_000;
    let violations = audit::check(&AuditInput {
        logs: &logs,
        unique: &[ROLE],
        node_ended_at_ms: ended,
        now_ms,
    });
    assert_eq!(
        violations,
        vec![],
        "the promoted role ran on two nodes at once"
    );
}

fn now_ms() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    u64::try_from(since.as_millis()).expect("ms fit in u64")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateful_stays_promoted_on_exactly_one_node_when_its_agent_is_killed_12() {
    let mut cluster = Cluster::start(3, 3, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let promoted = promoted_stateful(&cluster).await;
    for id in 1..=3 {
        let expected = if id == promoted {
            "Promoted"
        } else {
            "Unpromoted"
        };
        assert_eq!(
            instance_state(&state_file(&cluster, id)),
            expected,
            "node {id}"
        );
    }
    // `resource show` gives each instance's role and score (Stateful: 10 promoted, 5 not;
    // a score reaches the master right after the operation that set it).
    wait_until("resource show with roles and scores", SETTLE, || async {
        let show = cluster.cli(1, &["resource", "show", "db"]);
        let show = String::from_utf8_lossy(&show.stdout).into_owned();
        let shows = |id: u64| {
            let role = if id == promoted {
                ", promoted (promotion score 10)"
            } else {
                ", unpromoted (promotion score 5)"
            };
            show.lines().any(|line| {
                line.trim_start().starts_with(&format!("node{id}: running")) && line.ends_with(role)
            })
        };
        (1..=3).all(shows).then_some(())
    })
    .await;

    export_applies_unchanged(&cluster);

    let sampler = Sampler::start(&cluster);
    let killed_at_ms = now_ms();
    cluster.kill9(promoted);
    let survivor = (1..=3).find(|id| *id != promoted).expect("a survivor");
    let successor = promoted_elsewhere(&cluster, survivor, promoted).await;
    // The killed agent's watchdog demoted its instance when its lease ended.
    assert_eq!(
        instance_state(&state_file(&cluster, promoted)),
        "Unpromoted"
    );
    let violations = sampler.finish().await;
    assert_eq!(violations, Vec::<String>::new());
    assert_ne!(successor, promoted);

    let survivors: Vec<u64> = (1..=3).filter(|id| *id != promoted).collect();
    let ended = BTreeMap::from([(promoted, vec![killed_at_ms])]);
    audit_role(&cluster, &survivors, &ended, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateful_stays_promoted_on_exactly_one_node_when_its_agent_hangs_12() {
    let cluster = Cluster::start(3, 3, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let promoted = promoted_stateful(&cluster).await;

    let sampler = Sampler::start(&cluster);
    let pid = cluster
        .pid(promoted)
        .expect("the promoted node's agent runs");
    let pid = Pid::from_raw(i32::try_from(pid).expect("pid fits"));
    kill(pid, Signal::SIGSTOP).expect("SIGSTOP the agent");
    let survivor = (1..=3).find(|id| *id != promoted).expect("a survivor");
    promoted_elsewhere(&cluster, survivor, promoted).await;
    // The hung agent could not demote; its lease watchdog did, before the lease ended.
    assert_eq!(
        instance_state(&state_file(&cluster, promoted)),
        "Unpromoted"
    );
    kill(pid, Signal::SIGCONT).expect("SIGCONT the agent");
    // Back, the node reports its role stopped, and the cluster, seen from the resumed node,
    // has exactly one promoted instance (the successor's, unless its own lease lapsed
    // meanwhile and the role moved again), which its state file confirms.
    let client = cluster.client(promoted);
    wait_until(
        "the resumed node's report of its demotion",
        SETTLE,
        || async {
            let log = client.operations(Some(ROLE), false).await.ok()?;
            log.operations
                .iter()
                .any(|op| op.node == promoted && op.operation == "stop" && op.ok)
                .then_some(())
        },
    )
    .await;
    wait_until(
        "one promoted instance seen from the resumed node",
        SETTLE,
        || async {
            let view = client.resource("db").await.ok()?;
            let holders: Vec<u64> = view
                .instances
                .iter()
                .filter(|i| i.role.as_deref().is_some_and(|r| r != "unpromoted"))
                .map(|i| i.node)
                .collect();
            let [node] = holders[..] else { return None };
            let promoted_there = view
                .instances
                .iter()
                .any(|i| i.node == node && i.role.as_deref() == Some("promoted"));
            (promoted_there && instance_state(&state_file(&cluster, node)) == "Promoted")
                .then_some(())
        },
    )
    .await;
    let violations = sampler.finish().await;
    assert_eq!(violations, Vec::<String>::new());
    audit_role(&cluster, &[1, 2, 3], &BTreeMap::new(), true).await;
}

/// `config export` writes `promoted_max`, and applying the export changes nothing.
fn export_applies_unchanged(cluster: &Cluster) {
    let exported = cluster.cli(1, &["config", "export"]);
    assert!(exported.status.success());
    let text = String::from_utf8_lossy(&exported.stdout).into_owned();
    assert!(text.contains("promoted_max = 1"), "{text}");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("exported.toml");
    std::fs::write(&file, &text).expect("write the export");
    let path = file.to_str().expect("utf-8 path");
    let applied = cluster.cli(1, &["apply", "-f", path, "--yes"]);
    let stdout = String::from_utf8_lossy(&applied.stdout);
    assert!(
        applied.status.success() && stdout.contains("no changes"),
        "{stdout}"
    );
}

/// `apply -f` refuses a promoted maximum out of range, naming it.
fn apply_refuses_promoted_max(cluster: &Cluster) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("cluster.toml");
    let text = "[[resource]]\nname = \"pg\"\ntype = \"ocf:pacemaker:Stateful\"\n\
                clone = true\npromoted_max = 17\n";
    std::fs::write(&file, text).expect("write cluster.toml");
    let path = file.to_str().expect("utf-8 path");
    let applied = cluster.cli(1, &["apply", "-f", path, "--yes"]);
    assert!(!applied.status.success());
    let stderr = String::from_utf8_lossy(&applied.stderr);
    assert!(
        stderr.contains("promoted_max: 17 is not from 1 to 16"),
        "{stderr}"
    );
}

/// Writes `text` to a file and applies it with the CLI; returns its standard output.
fn apply_text(cluster: &Cluster, text: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("cluster.toml");
    std::fs::write(&file, text).expect("write cluster.toml");
    let path = file.to_str().expect("utf-8 path");
    let applied = cluster.cli(1, &["apply", "-f", path, "--yes"]);
    let stdout = String::from_utf8_lossy(&applied.stdout).into_owned();
    assert!(
        applied.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    stdout
}

/// `apply -f` creates a promotable resource (which then runs promoted), its export
/// applies unchanged, and a file without `promoted_max` makes it a plain clone again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_a_promotable_resource_and_its_export_round_trips_12() {
    let cluster = Cluster::start(1, 1, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let declared = "[[resource]]\nname = \"db\"\ntype = \"ocf:pacemaker:Stateful\"\n\
                    promoted_max = 1\nmonitor_interval = \"1s\"\n";
    let stdout = apply_text(&cluster, declared);
    assert!(
        stdout.contains("~ resource db: promotable, promoted_max 1"),
        "{stdout}"
    );
    let client = cluster.client(1);
    wait_until("db promoted", SETTLE, || async {
        let view = client.resource("db").await.ok()?;
        let promoted = view
            .instances
            .iter()
            .any(|i| i.role.as_deref() == Some("promoted"));
        (promoted && view.spec.promoted_max == Some(1)).then_some(())
    })
    .await;
    export_applies_unchanged(&cluster);
    let plain = "[[resource]]\nname = \"db\"\ntype = \"ocf:pacemaker:Stateful\"\n\
                 clone = true\nmonitor_interval = \"1s\"\n";
    let stdout = apply_text(&cluster, plain);
    assert!(
        stdout.contains("~ resource db: no longer promotable"),
        "{stdout}"
    );
    let view = client.resource("db").await.expect("db");
    assert_eq!(view.spec.promoted_max, None);
}

/// Bad promotable input is refused with the problem named, and nothing is written: a
/// promoted maximum out of range (through the CLI and `apply -f`), a promotable singleton
/// through the API, and a promotion score for a resource that is not
/// promotable is never stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_promotable_input_is_refused_and_nothing_is_written_12() {
    let cluster = Cluster::start(1, 1, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let stateful = [
        "resource",
        "create",
        "pg",
        "--type",
        "ocf:pacemaker:Stateful",
    ];
    for (max, problem) in [
        ("0", "promoted_max: 0 is not from 1 to 16"),
        ("17", "17 is not from 1 to 16"),
    ] {
        let mut args = stateful.to_vec();
        args.extend(["--promotable", "--promoted-max", max]);
        let refused = cluster.cli(1, &args);
        assert!(!refused.status.success());
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(problem), "{stderr}");
    }
    let client = cluster.client(1);
    let singleton = api::ResourceSpec {
        name: "pg".into(),
        type_name: "ocf:pacemaker:Stateful".into(),
        unique: Some(true),
        promoted_max: Some(1),
        ..Default::default()
    };
    let error = client
        .create_resource(&singleton)
        .await
        .expect_err("a unique promotable resource");
    assert!(error.to_string().contains("cannot be unique"), "{error}");

    apply_refuses_promoted_max(&cluster);
    assert!(
        client.resources().await.expect("list").is_empty(),
        "nothing written"
    );

    // A plain clone of a promotable-capable agent runs, never promoted, and keeps no
    // score: the cmdb refuses scores for a resource that is not promotable.
    let plain = api::ResourceSpec {
        name: "pg".into(),
        type_name: "ocf:pacemaker:Stateful".into(),
        clone: true,
        monitor_interval: Some("1s".into()),
        ..Default::default()
    };
    client.create_resource(&plain).await.expect("a plain clone");
    let view = wait_until("the plain clone running", SETTLE, || async {
        let view = client.resource("pg").await.ok()?;
        view.instances
            .iter()
            .any(|i| i.state == "running")
            .then_some(view)
    })
    .await;
    assert!(view.spec.promoted_max.is_none());
    assert!(
        view.instances
            .iter()
            .all(|i| i.role.is_none() && i.promotion_score.is_none()),
        "{view:?}"
    );
}

/// Across a master failover (kill -9 of the master's agent, promoted there or not), the
/// cluster again has exactly one promoted instance on a live node, and never two at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateful_stays_promoted_on_exactly_one_node_across_a_master_failover_12() {
    let mut cluster = Cluster::start(3, 3, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let promoted = promoted_stateful(&cluster).await;

    let sampler = Sampler::start(&cluster);
    let killed_at_ms = now_ms();
    cluster.kill9(master);
    let new_master = cluster.wait_master(SETTLE).await;
    assert_ne!(new_master, master);
    let client = cluster.client(new_master);
    let holder = wait_until(
        "one live node promoted after the failover",
        SETTLE,
        || async {
            let view = client.resource("db").await.ok()?;
            let holders: Vec<u64> = view
                .instances
                .iter()
                .filter(|i| i.role.as_deref() == Some("promoted") && i.node != master)
                .map(|i| i.node)
                .collect();
            let [node] = holders[..] else { return None };
            (instance_state(&state_file(&cluster, node)) == "Promoted").then_some(node)
        },
    )
    .await;
    let violations = sampler.finish().await;
    assert_eq!(violations, Vec::<String>::new());
    assert_ne!(holder, master);
    let survivors: Vec<u64> = (1..=3).filter(|id| *id != master).collect();
    let ended = BTreeMap::from([(master, vec![killed_at_ms])]);
    audit_role(&cluster, &survivors, &ended, holder != promoted).await;
}

/// Clone notifications (Pacemaker's `notify=true`) with a small real OCF agent that records
/// every notification it gets (`crates/e2e/ocf/resource.d/encluster-test/Notifier`): on two
/// nodes, every running instance is told before and after the promotion, with the promoted
/// node named, and of its peer's start; a stop is told too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instance_of_a_notify_clone_is_told_of_starts_and_promotions() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ocf");
    let root = root.canonicalize().expect("the test OCF root");
    let root = root.to_str().expect("utf-8 path");
    let cluster = Cluster::start_with_agent_env(2, 1, &[("OCF_ROOT", root)]).expect("start");
    cluster.wait_master(SETTLE).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("notifications.log");
    let spec = api::ResourceSpec {
        name: "nt".into(),
        type_name: "ocf:encluster-test:Notifier".into(),
        params: BTreeMap::from([
            ("log".to_owned(), log.display().to_string()),
            ("notify".to_owned(), "true".to_owned()),
        ]),
        unique: Some(false),
        promoted_max: Some(1),
        monitor_interval: Some("1s".into()),
        ..Default::default()
    };
    let client = cluster.client(1);
    client
        .create_resource(&spec)
        .await
        .expect("create the clone");
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    // Whichever instance reports its score first may be promoted (node 1's score is higher,
    // but node 2's instance can start and report first), and node 2's instance may start
    // between the promotion's two rounds: each round goes to the instances running then,
    // which its `active=` names.
    let told = |text: &str, promoted: &str| -> Option<(String, String)> {
        let round = |kind: &str| -> Option<String> {
            let mine = format!("{promoted} {kind}-promote promote={promoted} active=");
            let active = text
                .lines()
                .find_map(|line| line.strip_prefix(mine.as_str()))?;
            let line = format!("{kind}-promote promote={promoted} active={active}");
            (active.split(' '))
                .all(|node| text.contains(&format!("{node} {line}")))
                .then_some(line)
        };
        Some((round("pre")?, round("post")?))
    };
    let (promoted, (pre, post)) =
        wait_until("every instance told of the promotion", SETTLE, || async {
            let text = read();
            ["node1", "node2"]
                .into_iter()
                .find_map(|node| Some((node, told(&text, node)?)))
        })
        .await;
    let text = read();
    let view = client.resource("nt").await.expect("the clone's view");
    let holders: Vec<String> = (view.instances.iter())
        .filter(|i| i.role.as_deref() == Some("promoted"))
        .map(|i| format!("node{}", i.node))
        .collect();
    assert_eq!(
        holders,
        [promoted],
        "the notifications name the promoted node: {text}"
    );
    let (pre, post) = (
        text.find(&format!("{promoted} {pre}")).expect("pre"),
        text.find(&format!("{promoted} {post}")).expect("post"),
    );
    assert!(pre < post, "pre before post: {text}");
    // Each start was told to the running instances after it.
    assert!(text.contains(" post-start promote=  active="), "{text}");
    client.stop_resource("nt").await.expect("stop");
    wait_until("the demotion and the stops told", SETTLE, || async {
        let text = read();
        (text.contains("pre-demote promote=  active=node1 node2") && text.contains("pre-stop"))
            .then_some(())
    })
    .await;
}
