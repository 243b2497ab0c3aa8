//! Promotable resources whose program speaks the application protocol (issue 12): a
//! `process` resource running a client's conformance driver as a promotable clone on real
//! agents. Each instance sets its promotion score through the protocol (the test tells it
//! which, through its `app-control` file); the cluster promotes the highest, the
//! application is told `promote` and its answer is the role's start; a demote it answers
//! as failed is the role's failed stop, with its reason in the operation log.
//!
//! "Never two promoted at once" is checked while the fault plays out (every node's view
//! never shows two nodes holding the role) and afterwards by the audit of the operation
//! log of the role (promote is its start, demote its stop).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use e2e::audit::{self, AuditInput};
use e2e::{Cluster, wait_until};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::app::{conformance, control, line, output};

const SETTLE: Duration = Duration::from_secs(30);

/// Create `name` as a promotable clone of the conformance driver (Python or Rust), wait
/// until it runs on every node, and give node `id` the score `scores[id - 1]`.
async fn promotable_app(cluster: &Cluster, name: &str, python: bool, scores: &[i64]) {
    let mut spec = conformance(name, python, false);
    spec.promoted_max = Some(1);
    cluster
        .client(1)
        .create_resource(&spec)
        .await
        .expect("create the promotable application");
    let nodes = scores.len();
    wait_until(
        &format!("{name} running on {nodes} nodes"),
        SETTLE,
        || async {
            let view = cluster.client(1).resource(name).await.ok()?;
            let running = view.instances.iter().filter(|i| i.state == "running");
            (running.count() == nodes).then_some(())
        },
    )
    .await;
    for (index, score) in scores.iter().enumerate() {
        let node = index as u64 + 1;
        control(cluster, node, name, &format!("score {score}"));
        line(cluster, node, name, &format!("CONTROL score {score} ok")).await;
    }
}

/// Waits until the cluster shows `name` promoted on `node` and the application there was
/// told so.
async fn promoted_on(cluster: &Cluster, name: &str, node: u64, python: bool) {
    let told = if python {
        "EVENT {\"event\": \"promote\""
    } else {
        "EVENT promote"
    };
    wait_until(
        &format!("{name} promoted on node {node}"),
        SETTLE,
        || async {
            let view = cluster.client(1).resource(name).await.ok()?;
            let promoted = view
                .instances
                .iter()
                .any(|i| i.node == node && i.role.as_deref() == Some("promoted"));
            (promoted && output(cluster, node, name).contains(told)).then_some(())
        },
    )
    .await;
}

/// Samples every node's view of `name` until stopped; returns each moment that shows two
/// nodes holding (or promoting, or demoting) the promoted role.
struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<String>>,
}

impl Sampler {
    fn start(cluster: &Cluster, name: &str, nodes: u64) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<(u64, api::Client)> =
            (1..=nodes).map(|id| (id, cluster.client(id))).collect();
        let (stopped, name) = (Arc::clone(&stop), name.to_owned());
        let task = tokio::spawn(async move {
            let mut violations = Vec::new();
            while !stopped.load(Ordering::SeqCst) {
                for (id, client) in &clients {
                    let view = client.resource(&name);
                    let Ok(Ok(view)) = tokio::time::timeout(Duration::from_millis(300), view).await
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

/// The audit of `role` over every node's operation log, once the logs agree and hold
/// `promotions` successful promotions.
async fn audit_role(cluster: &Cluster, nodes: u64, role: &str, promotions: usize) {
    let logs = wait_until("the replicas' logs to agree", SETTLE, || async {
        let mut logs = Vec::new();
        for id in 1..=nodes {
            logs.push(cluster.client(id).operations(None, true).await.ok()?);
        }
        let agree = logs.iter().all(|log| log.operations == logs[0].operations);
        let promoted = logs[0]
            .operations
            .iter()
            .filter(|op| op.resource == role && op.operation == "start" && op.ok)
            .count();
        (agree && promoted >= promotions).then_some(logs)
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
        unique: &[role],
        node_ended_at_ms: &BTreeMap::new(),
        now_ms,
    });
    assert_eq!(
        violations,
        vec![],
        "the promoted role ran on two nodes at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_promoted_application_is_promoted_elsewhere_through_the_protocol_12() {
    let cluster = Cluster::start(3, 3, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    promotable_app(&cluster, "ap", false, &[30, 20, 10]).await;
    promoted_on(&cluster, "ap", 1, false).await;

    let sampler = Sampler::start(&cluster, "ap", 3);
    let pid = cluster
        .resource_pid(1, "ap")
        .expect("the application runs on node 1");
    let pid = Pid::from_raw(i32::try_from(pid).expect("pid fits"));
    kill(pid, Signal::SIGKILL).expect("kill -9 the promoted application");
    // Its restarted instance has set no score, so the next best (node 2) is promoted.
    promoted_on(&cluster, "ap", 2, false).await;
    let violations = sampler.finish().await;
    assert_eq!(violations, Vec::<String>::new());
    audit_role(&cluster, 3, "ap:promoted", 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demote_the_application_fails_is_reported_12() {
    let cluster = Cluster::start(2, 1, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    promotable_app(&cluster, "apy", true, &[20, 10]).await;
    promoted_on(&cluster, "apy", 1, true).await;
    control(&cluster, 1, "apy", "demote-fail disk busy");
    line(&cluster, 1, "apy", "CONTROL demote-fail ok").await;

    let sampler = Sampler::start(&cluster, "apy", 2);
    let client = cluster.client(1);
    client
        .stop_resource("apy")
        .await
        .expect("stop the resource");
    let failed = wait_until("the failed demote in the operation log", SETTLE, || async {
        let log = client.operations(Some("apy:promoted"), false).await.ok()?;
        log.operations
            .into_iter()
            .find(|op| op.node == 1 && op.operation == "stop" && !op.ok)
    })
    .await;
    assert_eq!(
        failed.reason.as_deref(),
        Some("stop failed: the application failed to demote: disk busy"),
        "{failed:?}"
    );
    let violations = sampler.finish().await;
    assert_eq!(violations, Vec::<String>::new());
    audit_role(&cluster, 2, "apy:promoted", 1).await;
}
