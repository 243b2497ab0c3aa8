//! The randomized workload for the linearizability check: concurrent clients reading and
//! writing a few keys through random nodes of a real cluster while a fault injector kills
//! (kill -9), pauses (SIGSTOP, later SIGCONT) and restarts random nodes and the master.
//!
//! Each client has its own write session (`Encluster-Session`, `Encluster-Seq`): a retry
//! after a timeout or a connection error repeats the number, possibly on another node, so the
//! cluster applies the write once. Every operation's first call and final answer are taken on
//! one monotonic clock; an operation that gets no answer before its deadline is recorded as
//! unknown. The injector never lets more than a minority of the nodes be down or paused at
//! once, so the cluster should keep serving; at the end every fault is healed, a final
//! linearizable read of every key is taken, and the history goes to the checker.
//! Everything random comes from one seed, printed so a run can be repeated (the cluster's
//! own timing is not repeatable, so a seed replays the workload and the faults, not the
//! interleaving).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use api::{ClientError, WriteSession};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{Action, Op, Outcome, Report, check};
use crate::Cluster;

/// One attempt's timeout; a paused node answers nothing, so the client tries another.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one operation keeps retrying before its outcome counts as unknown; above the
/// agents' forwarding timeout (10 s), so a request that waited out an election can answer.
const OP_DEADLINE: Duration = Duration::from_secs(12);
/// Pause between attempts of one operation.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// How long the healed cluster has to elect a master and answer the final reads.
const HEAL_TIMEOUT: Duration = Duration::from_secs(60);

/// What to run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Nodes in the cluster (3 or 5).
    pub nodes: usize,
    /// Concurrent clients, one session each.
    pub clients: usize,
    /// Keys the clients share.
    pub keys: usize,
    /// How long the clients run.
    pub duration: Duration,
    /// The seed of every random choice of the workload and the injector.
    pub seed: u64,
    /// Whether to inject faults at all.
    pub faults: bool,
}

/// A run's figures and the checker's report.
#[derive(Debug)]
pub struct Summary {
    /// What ran.
    pub settings: Settings,
    /// Operations by kind and outcome, for example `write ok`.
    pub ops: BTreeMap<&'static str, usize>,
    /// Faults injected, by kind (heals, restart and resume, only in the log).
    pub faults: BTreeMap<&'static str, usize>,
    /// The injector's log: when, what, on which node.
    pub fault_log: Vec<String>,
    /// The checker's findings.
    pub report: Report,
    /// How long the check took.
    pub check_time: Duration,
    /// The whole history, for a failure's analysis.
    pub history: Vec<Op>,
    /// Where the agents' logs were saved, when the checker found an anomaly.
    pub logs: Option<std::path::PathBuf>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        writeln!(
            f,
            "seed {} | {} nodes, {} clients, {} keys, {:?} | ops {:?} | faults {:?}",
            s.seed, s.nodes, s.clients, s.keys, s.duration, self.ops, self.faults
        )?;
        write!(f, "{}", self.report)?;
        if let Some(logs) = &self.logs {
            write!(f, "agent logs: {}", logs.display())?;
        }
        Ok(())
    }
}

/// A small seeded generator (SplitMix64): the workload needs repeatable choices, not
/// cryptographic ones.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A duration between `low` and `high`.
    pub fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let span = (high - low).as_millis() as u64 + 1;
        low + Duration::from_millis(self.below(span))
    }
}

/// Start a cluster, run the workload with faults, heal, read every key, and check.
pub async fn run(settings: &Settings) -> anyhow::Result<Summary> {
    let mut cluster = Cluster::start(settings.nodes, 5, &[])?;
    cluster.wait_master(HEAL_TIMEOUT).await;
    let clock = Instant::now();
    let nodes: Arc<Vec<api::Client>> = Arc::new(
        (1..=settings.nodes as u64)
            .map(|id| cluster.client(id))
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for client in 0..settings.clients {
        let worker = Worker {
            client: client as u32,
            keys: settings.keys,
            nodes: nodes.clone(),
            clock,
            rng: Rng::new(settings.seed ^ (0x5eed_0000 + client as u64)),
        };
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move { worker.run(&stop).await }));
    }
    let mut injector = Injector::new(settings, clock);
    if settings.faults {
        injector.run(&mut cluster, settings.duration).await;
    } else {
        tokio::time::sleep(settings.duration).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut history = Vec::new();
    for task in tasks {
        history.extend(task.await?);
    }
    injector.heal_all(&mut cluster);
    cluster.wait_master(HEAL_TIMEOUT).await;
    history.extend(final_reads(&nodes, settings, clock).await?);
    let checked = Instant::now();
    let report = check(&history);
    let check_time = checked.elapsed();
    let logs = (!report.is_clean()).then(|| cluster.save_logs());
    Ok(Summary {
        settings: settings.clone(),
        ops: count_ops(&history),
        faults: injector.counts,
        fault_log: injector.log,
        report,
        check_time,
        history,
        logs,
    })
}

fn count_ops(history: &[Op]) -> BTreeMap<&'static str, usize> {
    let mut ops = BTreeMap::new();
    for op in history {
        let name = match (&op.action, op.outcome, op.final_read) {
            (_, _, true) => "final read",
            (Action::Write { .. }, Outcome::Ok { .. }, _) => "write ok",
            (Action::Write { .. }, Outcome::Failed, _) => "write refused",
            (Action::Write { .. }, Outcome::Unknown, _) => "write unknown",
            (Action::Read { .. }, Outcome::Ok { .. }, _) => "read ok",
            (Action::Read { .. }, _, _) => "read unknown",
        };
        *ops.entry(name).or_insert(0) += 1;
    }
    ops
}

fn key_name(index: u64) -> String {
    format!("lin/k{index}")
}

/// A linearizable read of every key once the cluster is healed, retried until answered.
async fn final_reads(
    nodes: &Arc<Vec<api::Client>>,
    settings: &Settings,
    clock: Instant,
) -> anyhow::Result<Vec<Op>> {
    let mut worker = Worker {
        client: settings.clients as u32,
        keys: settings.keys,
        nodes: nodes.clone(),
        clock,
        rng: Rng::new(settings.seed ^ 0xf1a1),
    };
    let mut reads = Vec::new();
    for key in 0..settings.keys as u64 {
        let mut read = worker.read(&key_name(key), HEAL_TIMEOUT).await;
        anyhow::ensure!(
            matches!(read.outcome, Outcome::Ok { .. }),
            "the healed cluster did not answer a read of {} within {HEAL_TIMEOUT:?}",
            key_name(key)
        );
        read.final_read = true;
        reads.push(read);
    }
    Ok(reads)
}

/// One client: its session, its random choices, its view of the nodes.
struct Worker {
    client: u32,
    keys: usize,
    nodes: Arc<Vec<api::Client>>,
    clock: Instant,
    rng: Rng,
}

/// What one attempt learned.
enum Attempt<T> {
    /// A definite answer.
    Done(T),
    /// Refused for sure (a 4xx answer other than "outcome unknown").
    Refused,
    /// No definite answer and none will come by retrying.
    Unknown,
    /// No answer yet: try again, maybe elsewhere.
    Retry,
}

impl Worker {
    async fn run(mut self, stop: &AtomicBool) -> Vec<Op> {
        let mut session = WriteSession::new(self.rng.next_u64());
        let mut history = Vec::new();
        let mut written = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let key = key_name(self.rng.below(self.keys as u64));
            let op = if self.rng.below(2) == 0 {
                self.read(&key, OP_DEADLINE).await
            } else {
                written += 1;
                let value = format!("c{}-{written}", self.client);
                self.write(&key, &value, &mut session).await
            };
            history.push(op);
            let think = self.rng.between(Duration::ZERO, Duration::from_millis(20));
            tokio::time::sleep(think).await;
        }
        history
    }

    fn now_ns(&self) -> u64 {
        self.clock.elapsed().as_nanos() as u64
    }

    fn node(&mut self) -> &api::Client {
        let index = self.rng.below(self.nodes.len() as u64) as usize;
        &self.nodes[index]
    }

    async fn write(&mut self, key: &str, value: &str, session: &mut WriteSession) -> Op {
        let seq = session.take_seq();
        let call_ns = self.now_ns();
        let deadline = Instant::now() + OP_DEADLINE;
        let (outcome, revision) = loop {
            let node = self.node().clone();
            let answer = tokio::time::timeout(
                ATTEMPT_TIMEOUT,
                node.kv_put_once(key, value, session.id, seq),
            )
            .await;
            let attempt = match answer {
                Err(_) => Attempt::Retry,
                Ok(Ok(written)) => Attempt::Done(written.revision),
                Ok(Err(e)) => classify(&e),
            };
            match attempt {
                Attempt::Done(revision) => {
                    let return_ns = self.now_ns();
                    break (Outcome::Ok { return_ns }, Some(revision));
                }
                Attempt::Refused => break (Outcome::Failed, None),
                Attempt::Unknown => break (Outcome::Unknown, None),
                Attempt::Retry if Instant::now() >= deadline => break (Outcome::Unknown, None),
                Attempt::Retry => tokio::time::sleep(RETRY_PAUSE).await,
            }
        };
        Op {
            client: self.client,
            key: key.to_string(),
            call_ns,
            outcome,
            action: Action::Write {
                value: value.to_string(),
                revision,
            },
            final_read: false,
        }
    }

    async fn read(&mut self, key: &str, patience: Duration) -> Op {
        let call_ns = self.now_ns();
        let deadline = Instant::now() + patience;
        let (outcome, value) = loop {
            let node = self.node().clone();
            let answer = tokio::time::timeout(ATTEMPT_TIMEOUT, node.kv_get(key, false)).await;
            let attempt = match answer {
                Err(_) => Attempt::Retry,
                Ok(Ok(read)) => Attempt::Done(Some((read.value, read.revision))),
                Ok(Err(e)) if e.status() == Some(404) => Attempt::Done(None),
                Ok(Err(e)) => classify(&e),
            };
            match attempt {
                Attempt::Done(value) => {
                    let return_ns = self.now_ns();
                    break (Outcome::Ok { return_ns }, value);
                }
                Attempt::Refused | Attempt::Unknown => break (Outcome::Unknown, None),
                Attempt::Retry if Instant::now() >= deadline => break (Outcome::Unknown, None),
                Attempt::Retry => tokio::time::sleep(RETRY_PAUSE).await,
            }
        };
        Op {
            client: self.client,
            key: key.to_string(),
            call_ns,
            outcome,
            action: Action::Read { value },
            final_read: false,
        }
    }
}

/// A failed attempt: a 4xx is a refusal (nothing was applied), except the session's "outcome
/// unknown" answer for a number it moved past; anything else may succeed on a retry.
fn classify<T>(error: &ClientError) -> Attempt<T> {
    match error {
        ClientError::Api { status, message } if (400..500).contains(status) => {
            if message.contains("outcome is unknown") {
                Attempt::Unknown
            } else {
                Attempt::Refused
            }
        }
        _ => Attempt::Retry,
    }
}

/// A fault in force on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Killed,
    Paused,
}

/// Injects faults at random moments, never on more than a minority of the nodes at once.
struct Injector {
    rng: Rng,
    clock: Instant,
    nodes: usize,
    /// Faults in force, by node id.
    active: BTreeMap<u64, Fault>,
    counts: BTreeMap<&'static str, usize>,
    log: Vec<String>,
}

impl Injector {
    fn new(settings: &Settings, clock: Instant) -> Injector {
        Injector {
            rng: Rng::new(settings.seed ^ 0xfa17),
            clock,
            nodes: settings.nodes,
            active: BTreeMap::new(),
            counts: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    /// How many nodes may be faulty at once: a minority.
    fn budget(&self) -> usize {
        (self.nodes - 1) / 2
    }

    async fn run(&mut self, cluster: &mut Cluster, duration: Duration) {
        let end = self.clock + duration;
        loop {
            let gap = self
                .rng
                .between(Duration::from_millis(500), Duration::from_millis(3000));
            if Instant::now() + gap >= end {
                break;
            }
            tokio::time::sleep(gap).await;
            let heal = self.active.len() >= self.budget()
                || (!self.active.is_empty() && self.rng.below(2) == 0);
            if heal {
                let nodes: Vec<u64> = self.active.keys().copied().collect();
                let node = nodes[self.rng.below(nodes.len() as u64) as usize];
                self.heal(cluster, node);
            } else {
                self.inject(cluster).await;
            }
        }
    }

    async fn inject(&mut self, cluster: &mut Cluster) {
        let healthy: Vec<u64> = (1..=self.nodes as u64)
            .filter(|id| !self.active.contains_key(id))
            .collect();
        let master = self.master(cluster, &healthy).await;
        let target_master = master.is_some() && self.rng.below(2) == 0;
        let node = match master {
            Some(master) if target_master => master,
            _ => healthy[self.rng.below(healthy.len() as u64) as usize],
        };
        let role = if Some(node) == master {
            " (master)"
        } else {
            ""
        };
        match self.rng.below(3) {
            0 => {
                cluster.kill9(node);
                self.active.insert(node, Fault::Killed);
                self.record("kill -9", node, role);
            }
            1 => {
                self.signal(cluster, node, Signal::SIGSTOP);
                self.active.insert(node, Fault::Paused);
                self.record("pause", node, role);
            }
            _ => {
                cluster.kill9(node);
                self.restart(cluster, node);
                self.record("kill -9 and restart", node, role);
            }
        }
    }

    /// The master as one healthy node sees it.
    async fn master(&mut self, cluster: &Cluster, healthy: &[u64]) -> Option<u64> {
        let node = healthy[self.rng.below(healthy.len() as u64) as usize];
        let health = tokio::time::timeout(ATTEMPT_TIMEOUT, cluster.client(node).health()).await;
        health.ok()?.ok()?.master
    }

    fn heal(&mut self, cluster: &mut Cluster, node: u64) {
        match self.active.remove(&node) {
            Some(Fault::Killed) => {
                self.restart(cluster, node);
                self.record("restart", node, "");
            }
            Some(Fault::Paused) => {
                self.signal(cluster, node, Signal::SIGCONT);
                self.record("resume", node, "");
            }
            None => {}
        }
    }

    fn heal_all(&mut self, cluster: &mut Cluster) {
        let nodes: Vec<u64> = self.active.keys().copied().collect();
        for node in nodes {
            self.heal(cluster, node);
        }
    }

    fn restart(&mut self, cluster: &mut Cluster, node: u64) {
        if let Err(e) = cluster.start_node(node) {
            panic!("cannot restart node {node}: {e:#}");
        }
    }

    fn signal(&self, cluster: &Cluster, node: u64, signal: Signal) {
        let pid = cluster.pid(node).expect("a paused or resumed node runs");
        let pid = i32::try_from(pid).expect("pid fits in i32");
        kill(Pid::from_raw(pid), signal).expect("signal a child of this process");
    }

    fn record(&mut self, what: &'static str, node: u64, role: &str) {
        if !matches!(what, "restart" | "resume") {
            *self.counts.entry(what).or_insert(0) += 1;
        }
        let at = self.clock.elapsed().as_secs_f64();
        self.log
            .push(format!("{at:.1} s: {what} node {node}{role}"));
    }
}
