//! What the role scenarios observe, from threads that enter the bed's namespaces: a client
//! sending HTTP requests to every VIP every 10 ms from the client namespace, and an audit
//! reading every host's addresses every 2 ms. Neither spawns a process per probe, so they
//! stay cheap on a small machine and an audit round sees all hosts within a millisecond.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sched::{CloneFlags, setns};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How often the client sends one request to each VIP.
pub const REQUEST_INTERVAL: Duration = Duration::from_millis(10);
/// How long the client waits for an answer. Longer than the director's connect timeout
/// (3 s) plus a retry, so a request the director retries on another real server counts as
/// answered (slowly) rather than failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the audit reads every host's addresses.
const AUDIT_INTERVAL: Duration = Duration::from_millis(2);

/// Move the calling thread into the network namespace `netns` (made by `ip netns add`).
fn enter(netns: &str) -> anyhow::Result<()> {
    let file = std::fs::File::open(format!("/run/netns/{netns}"))
        .with_context(|| format!("open namespace {netns}"))?;
    setns(&file, CloneFlags::CLONE_NEWNET).with_context(|| format!("enter namespace {netns}"))
}

/// One request of the client.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Which VIP (index into the site's VIPs).
    pub vip: usize,
    /// When it was sent.
    pub sent: Instant,
    /// When it was answered or given up; `None` while in flight.
    pub done: Option<Instant>,
    /// The answering real server's node name, or `None` when it failed.
    pub answer: Option<String>,
}

/// The client: requests to every VIP, recorded until dropped.
pub struct Client {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Client {
    /// Start sending requests from `netns` to port `port` of each of `vips`.
    pub fn start(netns: &str, vips: &[String], port: u16) -> anyhow::Result<Client> {
        let targets = vips
            .iter()
            .map(|vip| Ok(SocketAddr::new(vip.parse::<IpAddr>()?, port)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let netns = netns.to_string();
        let thread = std::thread::spawn({
            let samples = samples.clone();
            let stop = stop.clone();
            move || {
                enter(&netns).expect("enter the client namespace");
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the client");
                runtime.block_on(send_forever(targets, samples, stop));
            }
        });
        Ok(Client {
            samples,
            stop,
            thread: Some(thread),
        })
    }

    /// The requests sent in `[from, to]`, once every one of them has finished (each takes
    /// at most the request timeout).
    pub fn sent_between(&self, from: Instant, to: Instant) -> Vec<Sample> {
        let deadline = Instant::now() + REQUEST_TIMEOUT + Duration::from_secs(1);
        loop {
            let samples = self.samples.lock().expect("samples lock");
            let window: Vec<Sample> = samples
                .iter()
                .filter(|s| s.sent >= from && s.sent <= to)
                .cloned()
                .collect();
            drop(samples);
            let finished = window.iter().all(|s| s.done.is_some());
            assert!(
                finished || Instant::now() < deadline,
                "requests outlived their timeout"
            );
            if finished {
                return window;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether each VIP answered its first `count` requests sent after `since`: `None`
    /// while fewer have finished, `Some(false)` as soon as one of them failed.
    pub fn all_answered_since(
        &self,
        since: Instant,
        vip_count: usize,
        count: usize,
    ) -> Option<bool> {
        let samples = self.samples.lock().expect("samples lock");
        let mut verdict = Some(true);
        for vip in 0..vip_count {
            let mine: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.vip == vip && s.sent > since)
                .take(count)
                .collect();
            if mine.iter().any(|s| s.done.is_some() && s.answer.is_none()) {
                return Some(false);
            }
            if mine.len() < count || mine.iter().any(|s| s.done.is_none()) {
                verdict = None;
            }
        }
        verdict
    }

    /// Whether each VIP answered a request sent after `since`.
    pub fn answered_since(&self, since: Instant, vip_count: usize) -> bool {
        let samples = self.samples.lock().expect("samples lock");
        (0..vip_count).all(|vip| {
            samples
                .iter()
                .any(|s| s.vip == vip && s.sent > since && s.answer.is_some())
        })
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn send_forever(
    targets: Vec<SocketAddr>,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval(REQUEST_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        for (vip, target) in targets.iter().copied().enumerate() {
            let samples = samples.clone();
            let sent = Instant::now();
            let slot = {
                let mut samples = samples.lock().expect("samples lock");
                samples.push(Sample {
                    vip,
                    sent,
                    done: None,
                    answer: None,
                });
                samples.len() - 1
            };
            tokio::spawn(async move {
                let answer = tokio::time::timeout(REQUEST_TIMEOUT, get(target))
                    .await
                    .ok()
                    .flatten();
                let mut samples = samples.lock().expect("samples lock");
                samples[slot].done = Some(Instant::now());
                samples[slot].answer = answer;
            });
        }
    }
}

/// One HTTP/1.0 GET; the body of a 200 answer.
async fn get(target: SocketAddr) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(target).await.ok()?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: site\r\n\r\n")
        .await
        .ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.ok()?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head.lines().next()?;
    status
        .split_whitespace()
        .nth(1)
        .is_some_and(|code| code == "200")
        .then(|| body.trim().to_string())
}

/// What the audit saw since it was last reset.
#[derive(Default)]
struct Seen {
    /// Per VIP, the most hosts that held it at one instant.
    most: Vec<usize>,
    /// Per VIP, the hosts holding it at the last round.
    now: Vec<Vec<u64>>,
    /// The first rounds that saw a VIP on two hosts: when, which VIP, which hosts.
    doubles: Vec<(Instant, usize, Vec<u64>)>,
}

/// How many double holdings the audit keeps per period to show in a failure message.
const DOUBLES_KEPT_MAX: usize = 4;

/// What the audit saw in one period.
#[derive(Clone, Debug)]
pub struct Held {
    /// Per VIP, the most hosts that held it at one instant.
    pub most: Vec<usize>,
    /// The first rounds that saw a VIP on two hosts: when, which VIP (index), which hosts.
    pub doubles: Vec<(Instant, usize, Vec<u64>)>,
}

impl Held {
    /// Whether no VIP was ever on two hosts at once.
    pub fn single(&self) -> bool {
        self.most.iter().all(|most| *most <= 1)
    }

    /// The double holdings in words, timed from `origin`.
    pub fn describe(&self, origin: Instant) -> String {
        let doubles: Vec<String> = self
            .doubles
            .iter()
            .map(|(at, vip, hosts)| {
                let ms = at.saturating_duration_since(origin).as_millis();
                format!("VIP {} on hosts {hosts:?} at +{ms} ms", vip + 1)
            })
            .collect();
        format!("most holders {:?}: {}", self.most, doubles.join(", "))
    }
}

/// The audit: every host's addresses, read every 2 ms, and per VIP the most hosts that
/// held it at one instant. Hosts in `excluded` are not counted: a crashed host is off, and
/// the addresses its dead agent left behind answer nobody.
pub struct Audit {
    seen: Arc<Mutex<Seen>>,
    excluded: Arc<Mutex<BTreeSet<u64>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Audit {
    /// Start reading the addresses of `hosts` (namespace names, node id = index + 1).
    pub fn start(hosts: Vec<String>, vips: &[String]) -> anyhow::Result<Audit> {
        let vips = vips
            .iter()
            .map(|vip| vip.parse::<IpAddr>())
            .collect::<Result<Vec<_>, _>>()?;
        let seen = Arc::new(Mutex::new(Seen {
            most: vec![0; vips.len()],
            now: vec![Vec::new(); vips.len()],
            doubles: Vec::new(),
        }));
        let excluded = Arc::new(Mutex::new(BTreeSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let files = hosts
            .iter()
            .map(|netns| {
                std::fs::File::open(format!("/run/netns/{netns}"))
                    .with_context(|| format!("open namespace {netns}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let thread = std::thread::spawn({
            let seen = seen.clone();
            let excluded = excluded.clone();
            let stop = stop.clone();
            move || {
                while !stop.load(Ordering::Relaxed) {
                    let skip = excluded.lock().expect("excluded lock").clone();
                    let round = holders(&files, &vips, &skip);
                    let mut seen = seen.lock().expect("seen lock");
                    for (index, held) in round.into_iter().enumerate() {
                        seen.most[index] = seen.most[index].max(held.len());
                        if held.len() > 1 && seen.doubles.len() < DOUBLES_KEPT_MAX {
                            seen.doubles.push((Instant::now(), index, held.clone()));
                        }
                        seen.now[index] = held;
                    }
                    drop(seen);
                    std::thread::sleep(AUDIT_INTERVAL);
                }
            }
        });
        Ok(Audit {
            seen,
            excluded,
            stop,
            thread: Some(thread),
        })
    }

    /// Count host `id` again (`counted`) or not.
    pub fn count(&self, id: u64, counted: bool) {
        let mut excluded = self.excluded.lock().expect("excluded lock");
        if counted {
            excluded.remove(&id);
        } else {
            excluded.insert(id);
        }
    }

    /// What the audit saw since the last call; starts a new period.
    pub fn take(&self) -> Held {
        self.assert_running();
        let mut seen = self.seen.lock().expect("seen lock");
        let held = Held {
            most: seen.most.clone(),
            doubles: std::mem::take(&mut seen.doubles),
        };
        seen.most = seen.now.iter().map(Vec::len).collect();
        held
    }

    /// Per VIP, the hosts holding it at the last round.
    pub fn holders(&self) -> Vec<Vec<u64>> {
        self.assert_running();
        self.seen.lock().expect("seen lock").now.clone()
    }
}

impl Audit {
    /// A stopped audit would leave its last round standing: nothing it says is true then.
    fn assert_running(&self) {
        let running = self.thread.as_ref().is_some_and(|t| !t.is_finished());
        assert!(running, "the audit thread stopped (see its panic above)");
    }
}

impl Drop for Audit {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One audit round: per VIP, the hosts (not in `skip`) that have it on an interface.
/// The calling thread enters each host's namespace in turn; `getifaddrs` asks the kernel
/// over netlink in the namespace the thread is in.
fn holders(files: &[std::fs::File], vips: &[IpAddr], skip: &BTreeSet<u64>) -> Vec<Vec<u64>> {
    let mut held = vec![Vec::new(); vips.len()];
    for (index, file) in files.iter().enumerate() {
        let id = index as u64 + 1;
        if skip.contains(&id) {
            continue;
        }
        setns(file, CloneFlags::CLONE_NEWNET).expect("enter a host namespace");
        let addresses = nix::ifaddrs::getifaddrs().expect("read a host's addresses");
        let mine: Vec<IpAddr> = addresses
            .filter_map(|a| a.address?.as_sockaddr_in().map(|s| IpAddr::V4(s.ip())))
            .collect();
        for (vip_index, vip) in vips.iter().enumerate() {
            if mine.contains(vip) {
                held[vip_index].push(id);
            }
        }
    }
    held
}

/// One VIP's service during a scenario.
#[derive(Clone, Debug)]
pub struct Outage {
    /// Requests sent.
    pub sent: usize,
    /// Requests that got no 200 answer in time.
    pub failed: usize,
    /// The longest time between two answers (the gap).
    pub gap: Duration,
    /// Failed requests sent before the gap that were in flight at the fault (a request a
    /// real server was answering when it died).
    pub lost_in_flight: usize,
    /// Failed requests sent after the fault but before the directors' health checks can
    /// have noticed a lost real server ([`DETECTION`]): a director still sends requests to
    /// that server for up to its fall bound, as HAProxy and LVS do, and those may fail.
    pub failed_before_detection: usize,
    /// The other failed requests outside the gap: sent before the fault and the gap, or
    /// after answers came again (and after [`DETECTION`]).
    pub failed_outside_gap: usize,
    /// The first few of those: when each was sent and how long it took to fail.
    pub outside_examples: Vec<(Instant, Duration)>,
    /// The slowest answer.
    pub slowest: Duration,
}

/// How long after the fault answers to requests already under way may still arrive: a gap
/// that begins within it began with the fault.
pub const GAP_START_SLACK: Duration = Duration::from_millis(100);

/// The longest a director may keep sending requests to a lost real server: the site's
/// health checks (every 300 ms, 200 ms timeout, down after two misses) plus slack.
pub const DETECTION: Duration = Duration::from_millis(1000);

/// How many failed requests outside the gap an [`Outage`] keeps as examples.
const OUTSIDE_EXAMPLES_MAX: usize = 5;

impl Outage {
    /// Measure one VIP's finished requests (all sent within the scenario) around a fault
    /// injected at `fault`. A failed request counts in the gap when it was sent during the
    /// gap, or between the fault and the gap when the gap began within [`GAP_START_SLACK`]
    /// after the fault (answers already on their way still arrive for a moment). A request
    /// that merely hung across a gap is not excused by it.
    /// The gap is measured from `from`, the start of the window, when the site answered.
    pub fn of(samples: &[Sample], vip: usize, from: Instant, fault: Instant) -> Option<Outage> {
        let mine: Vec<(&Sample, Instant)> = samples
            .iter()
            .filter(|s| s.vip == vip)
            .filter_map(|s| Some((s, s.done?)))
            .collect();
        let mut answered: Vec<Instant> = mine
            .iter()
            .filter(|(s, _)| s.answer.is_some())
            .map(|(_, done)| *done)
            .collect();
        answered.push(from);
        answered.sort();
        let (start, end) = answered
            .windows(2)
            .map(|pair| (pair[0], pair[1]))
            .max_by_key(|(start, end)| end.duration_since(*start))?;
        let failed: Vec<&(&Sample, Instant)> =
            mine.iter().filter(|(s, _)| s.answer.is_none()).collect();
        let began_at_fault = start >= fault && start.duration_since(fault) <= GAP_START_SLACK;
        let excused_from = if began_at_fault { fault } else { start };
        let outside: Vec<_> = failed
            .iter()
            .filter(|(s, _)| s.sent < excused_from || s.sent > end)
            .collect();
        let (lost, others): (Vec<&&(&Sample, Instant)>, Vec<_>) = outside
            .into_iter()
            .partition(|(s, done)| s.sent <= fault && fault <= *done);
        let (detecting, others): (Vec<&&(&Sample, Instant)>, Vec<_>) = others
            .into_iter()
            .partition(|(s, _)| s.sent >= fault && s.sent <= fault + DETECTION);
        let outside_examples = others
            .iter()
            .take(OUTSIDE_EXAMPLES_MAX)
            .map(|(s, done)| (s.sent, done.duration_since(s.sent)))
            .collect();
        let slowest = mine
            .iter()
            .filter(|(s, _)| s.answer.is_some())
            .map(|(s, done)| done.duration_since(s.sent))
            .max()
            .unwrap_or_default();
        Some(Outage {
            sent: mine.len(),
            failed: failed.len(),
            gap: end.duration_since(start),
            lost_in_flight: lost.len(),
            failed_before_detection: detecting.len(),
            failed_outside_gap: others.len(),
            outside_examples,
            slowest,
        })
    }
}
