//! Multi-host tests in network namespaces: real agents on 198.18.x hosts behind a bridge,
//! a real VIP (netlink, gratuitous ARP) with a web server in one group, and faults: a host
//! crash and a partition. An audit polls every host's addresses every 5 ms and records the
//! most hosts that held the VIP at one instant; it must never exceed one. After each fault
//! a second audit reads every reachable host's operation log from its own replica and
//! checks, from the agents' own records with timestamps and fencing tokens, that neither
//! the VIP nor the web server ran on two hosts at once (`e2e::audit`).
//! With a fencing device (issue 16; the bed's own agent `fence/fence_netns`, which kills
//! a namespace's processes and takes its link down), a cut-off holder is fenced and the
//! VIP starts elsewhere only after the fence is confirmed; a fence that times out falls
//! back to the lease. With a watchdog (issue 16, point 2; the bed's user-space stand-in
//! `e2e::netns::watchdog`, never a real device), a host whose agent hangs stops petting it
//! and is reset, and a clean stop disarms it.
//! These run when RUN_NETNS_TESTS=1 (as root; the test command sets it under CI).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use e2e::audit::{self, AuditInput};
use e2e::netns::{TestBed, enabled};
use e2e::site::{SETTLE, wait_for as wait};

/// A bed of three hosts with a cluster, a VIP and a web server grouped together.
fn bed_with_site() -> (TestBed, String) {
    site_on(TestBed::new(3).expect("build the test bed"))
}

/// Starts the agents of `bed` and creates the site: a VIP and a web server grouped.
fn site_on(mut bed: TestBed) -> (TestBed, String) {
    for id in 1..=3 {
        bed.start(id).expect("start agent");
    }
    wait("a master", || {
        bed.cli(1, &["status", "--json"])
            .status
            .success()
            .then_some(())
    });
    let vip = format!("198.18.{}.100", bed.subnet);
    let ok = |output: std::process::Output| {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    ok(bed.create_netlink_vip("vip", &vip));
    ok(bed.cli(
        1,
        &[
            "resource",
            "create",
            "web",
            "--type",
            "process",
            "--param",
            "command=python3",
            "--param",
            "args=-m http.server 8080 --bind 0.0.0.0 --directory /",
            "--param",
            "probe_tcp=127.0.0.1:8080",
            "--monitor-interval",
            "1s",
        ],
    ));
    // Grouped while `web` may still be starting where it was first placed: the master must
    // let that start finish and stop before `web` joins `vip` (the audit checks this).
    ok(bed.cli(1, &["group", "create", "site", "vip", "web"]));
    (bed, vip)
}

/// Audit after faults heal: every host's replica reaches the same applied index and then
/// serves the same resources (configuration, instances, grants), read locally on each.
fn replicas_agree(bed: &TestBed) {
    wait("every replica to agree", || {
        let mut seen = Vec::new();
        for id in 1..=3 {
            let status = bed.cli(id, &["status", "--json"]);
            let status: serde_json::Value = serde_json::from_slice(&status.stdout).ok()?;
            let list = bed.cli(id, &["resource", "list", "--json"]);
            let list: serde_json::Value = serde_json::from_slice(&list.stdout).ok()?;
            seen.push((status["applied_index"].as_u64()?, list));
        }
        let first = &seen[0];
        seen.iter().all(|other| other == first).then_some(())
    });
}

/// `limits::NODE_LEASE`: how long a lease granted before a cut can last after it.
const NODE_LEASE_MS: u64 = 900;

pub(crate) fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    u64::try_from(since.as_millis()).expect("milliseconds fit in u64")
}

/// Audit from the agents' own operation records: the logs of `hosts`, each read from that
/// host's replica (`resource log --json --stale`), agree, and no site resource ran on two
/// hosts at once. `ended` gives the time a host crashed. Also checks that the failover is in
/// the log: `resource` started on at least two hosts. Returns the logs for more checks.
fn operations_audit(
    bed: &TestBed,
    hosts: &[u64],
    ended: &BTreeMap<u64, Vec<u64>>,
) -> Vec<api::Operations> {
    let (logs, table) = no_double_run(bed, hosts, ended);
    for resource in ["vip", "web"] {
        let mut nodes: Vec<u64> = logs[0]
            .operations
            .iter()
            .filter(|op| op.resource == resource && op.operation == "start" && op.ok)
            .map(|op| op.node)
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        assert!(
            nodes.len() >= 2,
            "{resource} did not move in the log:\n{table}"
        );
    }
    logs
}

/// The first half of [`operations_audit`]: the logs agree and no site resource ran on two
/// hosts at once. The logs, and the first host's log as a table for messages.
pub(crate) fn no_double_run(
    bed: &TestBed,
    hosts: &[u64],
    ended: &BTreeMap<u64, Vec<u64>>,
) -> (Vec<api::Operations>, String) {
    // Reports of an isolated or resumed host arrive after the fault heals (retried), so
    // poll until the audit passes; a real double run never passes, whatever arrives later.
    let deadline = Instant::now() + SETTLE;
    let (logs, problems) = loop {
        let logs: Vec<api::Operations> = hosts
            .iter()
            .filter_map(|id| {
                let output = bed.cli(*id, &["resource", "log", "--json", "--stale"]);
                serde_json::from_slice(&output.stdout).ok()
            })
            .collect();
        let violations = audit::check(&AuditInput {
            logs: &logs,
            unique: &["vip", "web"],
            node_ended_at_ms: ended,
            now_ms: now_ms(),
        });
        let mut problems: Vec<String> = violations.iter().map(ToString::to_string).collect();
        if logs.len() < hosts.len() {
            problems.push(format!("{} of {} logs read", logs.len(), hosts.len()));
        }
        if problems.is_empty() || Instant::now() >= deadline {
            break (logs, problems);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let table = bed.cli(hosts[0], &["resource", "log", "--stale"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        problems.is_empty(),
        "operation audit: {}\n{table}",
        problems.join("\n")
    );
    (logs, table.into_owned())
}

/// Wait until `holder`'s starts of the site are in the cluster's records (the observed
/// state comes from those reports), so that a fault cannot cut a start's report off: the
/// operation audit cannot vouch for an instance whose start it never saw.
pub(crate) fn site_reported_on(bed: &TestBed, holder: u64) {
    wait("the site's starts reported", || {
        let list = bed.cli(holder, &["resource", "list", "--json"]);
        let list: Vec<api::ResourceView> = serde_json::from_slice(&list.stdout).ok()?;
        let here = |view: &api::ResourceView| {
            view.instances
                .iter()
                .any(|i| i.node == holder && i.state == "running")
        };
        (list.len() == 2 && list.iter().all(here)).then_some(())
    });
}

pub(crate) fn holders(bed: &TestBed, vip: &str, counted: &[u64]) -> Vec<u64> {
    counted
        .iter()
        .copied()
        .filter(|id| bed.holds(*id, vip))
        .collect()
}

/// How many hosts held `vip` at one instant, as far as reads one after another can tell:
/// each host is read by its own `ip` process, tens of milliseconds apart on a loaded
/// machine, so a handover between two reads would look like two holders. Every holder but
/// the last one read is read again after it: one that still holds held the address all
/// along, so at the instant the last holder was read too. (A real overlap shorter than one
/// such read can be missed; one that lasts, such as a holder that outlives its lease, is
/// not.)
fn holders_at_once(bed: &TestBed, vip: &str, counted: &[u64]) -> usize {
    let seen = holders(bed, vip, counted);
    let Some((_, earlier)) = seen.split_last() else {
        return 0;
    };
    1 + earlier.iter().filter(|id| bed.holds(**id, vip)).count()
}

/// The pid of `web`'s process on host `id` while it lives (a zombie has ended; a hung
/// agent cannot reap its children).
fn web_pid(bed: &TestBed, id: u64) -> Option<u32> {
    let host = &bed.hosts[(id - 1) as usize];
    let state_dir = host
        .config
        .with_file_name("data")
        .join("resources")
        .join("web");
    let text = std::fs::read_to_string(state_dir.join("process.pid")).ok()?;
    let pid: u32 = text.split_whitespace().next()?.parse().ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit(')').next()?.split_whitespace().next()?;
    (state != "Z").then_some(pid)
}

pub(crate) fn web_runners(bed: &TestBed, counted: &[u64]) -> Vec<u64> {
    counted
        .iter()
        .copied()
        .filter(|id| web_pid(bed, *id).is_some())
        .collect()
}

/// Polls every 5 ms until finished: the most hosts (of `counted`) holding `vip` at once,
/// and the most running `web`'s process at once. Dropping it (also when a test fails)
/// stops and joins the thread, so its handle on the bed never keeps the agents alive.
pub(crate) struct Auditor {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<(usize, usize)>>,
}

impl Auditor {
    pub(crate) fn start(bed: Arc<TestBed>, vip: String, counted: Vec<u64>) -> Auditor {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut most_vip, mut most_web) = (0, 0);
            while !stopped.load(Ordering::Relaxed) {
                most_vip = most_vip.max(holders_at_once(&bed, &vip, &counted));
                most_web = most_web.max(web_runners(&bed, &counted).len());
                std::thread::sleep(Duration::from_millis(5));
            }
            (most_vip, most_web)
        });
        Auditor {
            stop,
            thread: Some(thread),
        }
    }

    /// Stop polling; the most VIP holders and `web` runners seen at one instant.
    pub(crate) fn finish(mut self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.take().expect("finished once");
        thread.join().expect("the auditor thread")
    }
}

impl Drop for Auditor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn host_crash_moves_the_vip_and_the_site_keeps_answering_with_one_holder() {
    if !enabled("host_crash_moves_the_vip") {
        return;
    }
    let (mut bed, vip) = bed_with_site();
    let url = format!("http://{vip}:8080/");
    let holder = wait("one VIP holder", || {
        match holders(&bed, &vip, &[1, 2, 3])[..] {
            [one] => Some(one),
            _ => None,
        }
    });
    wait("the site through the VIP", || bed.client_get(&url));
    site_reported_on(&bed, holder);
    // A crashed host answers nothing: its processes die and its link goes dark.
    let crashed_at_ms = now_ms();
    bed.crash(holder);
    bed.link(holder, false).expect("cut the crashed host");
    let survivors: Vec<u64> = (1..=3).filter(|id| *id != holder).collect();
    let bed = Arc::new(bed);
    let auditor = Auditor::start(bed.clone(), vip.clone(), survivors.clone());
    let crashed_at = Instant::now();
    let new_holder = wait("a survivor holding the VIP", || {
        match holders(&bed, &vip, &survivors)[..] {
            [one] => Some(one),
            _ => None,
        }
    });
    wait("the site through the VIP again", || bed.client_get(&url));
    let gap = crashed_at.elapsed();
    let (most, most_web) = auditor.finish();
    assert_ne!(new_holder, holder);
    assert!(most <= 1, "{most} survivors held the VIP at one instant");
    assert!(most_web <= 1, "{most_web} survivors ran web at one instant");
    println!("host crash: the site answered again after {gap:?}");
    // The crashed host's replica went with it; the survivors' replicas are audited.
    let ended = BTreeMap::from([(holder, vec![crashed_at_ms])]);
    operations_audit(&bed, &survivors, &ended);
}

#[test]
fn partitioned_holder_fences_itself_before_the_vip_starts_elsewhere() {
    if !enabled("partitioned_holder_fences_itself") {
        return;
    }
    let (bed, vip) = bed_with_site();
    let holder = wait("one VIP holder", || {
        match holders(&bed, &vip, &[1, 2, 3])[..] {
            [one] => Some(one),
            _ => None,
        }
    });
    site_reported_on(&bed, holder);
    let bed = Arc::new(bed);
    // Count every host, the isolated one too: its agent keeps running, and it must drop the
    // address (its lease ends) before the majority's master starts the VIP elsewhere.
    let auditor = Auditor::start(bed.clone(), vip.clone(), vec![1, 2, 3]);
    bed.link(holder, false).expect("isolate the holder");
    let others: Vec<u64> = (1..=3).filter(|id| *id != holder).collect();
    wait("the VIP on the majority side", || {
        (holders(&bed, &vip, &others).len() == 1).then_some(())
    });
    wait("the isolated holder to drop the VIP", || {
        (!bed.holds(holder, &vip)).then_some(())
    });
    // Not a wait for a signal: the audit keeps watching a little after the takeover, so a
    // late second holder would be seen.
    std::thread::sleep(Duration::from_millis(300));
    let (most, most_web) = auditor.finish();
    assert!(
        most <= 1,
        "split brain: {most} hosts held the VIP at one instant"
    );
    assert!(most_web <= 1, "{most_web} hosts ran web at one instant");
    bed.link(holder, true).expect("heal the partition");
    wait("one holder after healing", || {
        (holders(&bed, &vip, &[1, 2, 3]).len() == 1).then_some(())
    });
    replicas_agree(&bed);
    operations_audit(&bed, &[1, 2, 3], &BTreeMap::new());
}

/// A hung agent (SIGSTOP) cannot stop anything itself; its lease watchdogs, separate
/// processes, remove the VIP and kill the web server when the lease runs out, before the
/// master starts them on a survivor. After SIGCONT the resumed agent's stops report when the
/// watchdogs ended the instances, so the operation audit sees no double run; the cluster
/// converges to one holder.
#[test]
fn hung_holder_gives_the_vip_up_before_it_starts_elsewhere() {
    if !enabled("hung_holder_gives_the_vip_up") {
        return;
    }
    let (bed, vip) = bed_with_site();
    let holder = wait("one VIP holder", || {
        match holders(&bed, &vip, &[1, 2, 3])[..] {
            [one] => Some(one),
            _ => None,
        }
    });
    site_reported_on(&bed, holder);
    assert_eq!(web_runners(&bed, &[1, 2, 3]), [holder]);
    let bed = Arc::new(bed);
    let auditor = Auditor::start(bed.clone(), vip.clone(), vec![1, 2, 3]);
    bed.hang(holder, true);
    let others: Vec<u64> = (1..=3).filter(|id| *id != holder).collect();
    wait("the VIP on a survivor", || {
        (holders(&bed, &vip, &others).len() == 1).then_some(())
    });
    wait("web on a survivor", || {
        (web_runners(&bed, &others).len() == 1).then_some(())
    });
    // Not a wait for a signal: the audit keeps watching a little after the takeover, so a
    // late second holder would be seen.
    std::thread::sleep(Duration::from_millis(300));
    let (most, most_web) = auditor.finish();
    assert!(
        !bed.holds(holder, &vip),
        "the hung host still holds the VIP"
    );
    assert_eq!(
        web_pid(&bed, holder),
        None,
        "web still runs on the hung host"
    );
    assert!(
        most <= 1,
        "split brain: {most} hosts held the VIP at one instant"
    );
    assert!(
        most_web <= 1,
        "{most_web} hosts ran web at one instant: the hung host's was not killed in time"
    );
    bed.hang(holder, false);
    wait("one holder after the hang", || {
        (holders(&bed, &vip, &[1, 2, 3]).len() == 1).then_some(())
    });
    replicas_agree(&bed);
    let logs = operations_audit(&bed, &[1, 2, 3], &BTreeMap::new());
    // The resumed host did record its stops, each ending before it ran.
    for resource in ["vip", "web"] {
        let fenced = logs[0].operations.iter().any(|op| {
            op.node == holder
                && op.resource == resource
                && op.operation == "stop"
                && op.finished_at_ms < op.started_at_ms
        });
        assert!(
            fenced,
            "no stop of {resource} on node {holder} reports the watchdog's time"
        );
    }
}

// --- fence ---
/// The test bed's own fence agent (`crates/e2e/fence/fence_netns`): powers a namespace host
/// off (kills every process in it, takes its link down), in the fence-agents protocol.
fn add_netns_fence_device(bed: &TestBed, extra: &[&str]) {
    let agent = concat!(env!("CARGO_MANIFEST_DIR"), "/fence/fence_netns");
    let hosts: Vec<String> = (1..=3)
        .map(|id| format!("node{id}:{}", bed.hosts[id - 1].netns))
        .collect();
    let hosts = hosts.join(",");
    let mut args = vec!["fence", "add", "bed", "--agent", agent, "--hosts", &hosts];
    args.extend_from_slice(extra);
    let added = bed.cli(1, &args);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
}

/// The finished fencing attempt of `node`, from the fencing history.
fn finished_fence(bed: &TestBed, node: u64, others: &[u64]) -> api::FenceRecordView {
    wait("the fencing attempt finished", || {
        others.iter().find_map(|id| {
            let output = bed.cli(*id, &["fence", "list", "--json"]);
            let devices: api::FenceDevices = serde_json::from_slice(&output.stdout).ok()?;
            (devices.history.into_iter())
                .find(|r| r.node == node && r.reason == "lost" && r.finished_at_ms.is_some())
        })
    })
}

/// The incident `id`, once its resources started elsewhere.
fn started_incident(bed: &TestBed, id: u64, others: &[u64]) -> api::Incident {
    wait("the incident's starts", || {
        others.iter().find_map(|host| {
            let output = bed.cli(*host, &["incidents", "--json"]);
            let incidents: api::Incidents = serde_json::from_slice(&output.stdout).ok()?;
            (incidents.incidents.into_iter()).find(|i| i.id == id && i.started_at_ms.is_some())
        })
    })
}

fn namespace_empty(netns: &str) -> bool {
    let output = std::process::Command::new("ip")
        .args(["netns", "pids", netns])
        .output()
        .expect("ip netns pids");
    output.status.success() && output.stdout.iter().all(u8::is_ascii_whitespace)
}

#[test]
fn cut_off_holder_is_fenced_and_the_vip_starts_elsewhere_only_after_the_fence() {
    if !enabled("cut_off_holder_is_fenced") {
        return;
    }
    fenced_holder(HolderFault::Cut);
}

/// As the cut above, for a crashed holder (agent and processes killed, link down): the
/// master cannot tell a crash from a cut, fences it, and starts the site once the fence
/// confirmed it off. A dead host keeps its addresses until the fence drops them, so the
/// VIP audit counts the survivors, and the dead host holds no VIP once fenced.
#[test]
fn crashed_holder_is_fenced_and_the_vip_starts_elsewhere_only_after_the_fence() {
    if !enabled("crashed_holder_is_fenced") {
        return;
    }
    fenced_holder(HolderFault::Crash);
}

/// As the cut above, for a hung holder (agent SIGSTOPped): the fence kills it, web server
/// and lease watchdogs included, before the site starts elsewhere.
#[test]
fn hung_holder_is_fenced_and_the_vip_starts_elsewhere_only_after_the_fence() {
    if !enabled("hung_holder_is_fenced") {
        return;
    }
    fenced_holder(HolderFault::Hang);
}

/// What happens to the holder in [`fenced_holder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HolderFault {
    Cut,
    Crash,
    Hang,
}

/// A fencing device covers every host; the site's holder (not the master) suffers `fault`;
/// it is fenced, and the site starts elsewhere only once the fence is confirmed (or the
/// holder's lease is surely over), with never two holders and no overlap in the
/// operation logs.
fn fenced_holder(fault: HolderFault) {
    let (mut bed, vip) = bed_with_site();
    add_netns_fence_device(&bed, &[]);
    // A holder that is also the master is replaced by a new master that knows none of its
    // grants and waits out its lease, so fencing cannot be first there: put the site on
    // another node, the case where the fence is what lets it start elsewhere early.
    let holder = holder_apart_from_master(&bed, &vip);
    let others: Vec<u64> = (1..=3).filter(|id| *id != holder).collect();
    let cut_at = now_ms();
    if fault == HolderFault::Crash {
        bed.crash(holder);
    }
    let bed = Arc::new(bed);
    // Every host counts, the faulty one too (its agent runs until the fence kills it),
    // except a crashed one, whose dead namespace keeps the address until the fence.
    let counted = if fault == HolderFault::Crash {
        others.clone()
    } else {
        vec![1, 2, 3]
    };
    let auditor = Auditor::start(bed.clone(), vip.clone(), counted);
    match fault {
        HolderFault::Cut | HolderFault::Crash => {
            bed.link(holder, false).expect("cut the holder off");
        }
        HolderFault::Hang => bed.hang(holder, true),
    }
    wait("the VIP on a survivor", || {
        (holders(&bed, &vip, &others).len() == 1).then_some(())
    });
    let record = finished_fence(&bed, holder, &others);
    let (most, most_web) = auditor.finish();
    assert_eq!(record.outcome, "confirmed", "{record:?}");
    assert!(
        most <= 1,
        "split brain: {most} hosts held the VIP at one instant"
    );
    assert!(most_web <= 1, "{most_web} hosts ran web at one instant");
    // The fenced host really is off: nothing runs in its namespace, and it holds no VIP.
    assert!(namespace_empty(&bed.hosts[(holder - 1) as usize].netns));
    assert!(!bed.holds(holder, &vip), "the fenced host holds the VIP");
    // The site started elsewhere only after the fence was confirmed.
    let incident = record
        .incident
        .expect("the attempt names the node-loss incident");
    let incident = started_incident(&bed, incident, &others);
    let fenced_at = record.finished_at_ms.expect("finished");
    let started_at = incident.started_at_ms.expect("started");
    // Safe starts only: once the fence confirmed the holder off, or once every lease it
    // held had surely ended (granted before the fault, so over by `cut_at + NODE_LEASE`);
    // on a slow machine the lease may end before the fence agent answers.
    let lease_over = cut_at + NODE_LEASE_MS;
    assert!(
        started_at >= fenced_at.min(lease_over),
        "started at {started_at}, before the fence was confirmed at {fenced_at} and before \
         the holder's lease ended at {lease_over}"
    );
    let ended = BTreeMap::from([(holder, vec![fenced_at])]);
    operations_audit(&bed, &others, &ended);
}

/// Where the site runs once it runs on one node other than the master (moved there if it
/// ran on the master).
fn holder_apart_from_master(bed: &TestBed, vip: &str) -> u64 {
    let holder = wait(
        "one VIP holder",
        || match holders(bed, vip, &[1, 2, 3])[..] {
            [one] => Some(one),
            _ => None,
        },
    );
    site_reported_on(bed, holder);
    let master = wait("a master", || {
        let status = bed.cli(1, &["status", "--json"]);
        let status: api::Status = serde_json::from_slice(&status.stdout).ok()?;
        status.master
    });
    if holder != master {
        return holder;
    }
    let to = (1..=3).find(|id| *id != master).expect("another host");
    let moved = bed.cli(
        master,
        &["group", "move", "site", "--to", &to.to_string(), "--wait"],
    );
    assert!(
        moved.status.success(),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );
    wait("the VIP on the chosen host", || {
        (holders(bed, vip, &[1, 2, 3])[..] == [to]).then_some(())
    });
    site_reported_on(bed, to);
    to
}

#[test]
fn a_fence_that_times_out_falls_back_to_the_lease() {
    if !enabled("a_fence_that_times_out") {
        return;
    }
    let (bed, vip) = bed_with_site();
    // The agent waits 30 s before it acts; its device gives it 2 s.
    add_netns_fence_device(&bed, &["--param", "delay=30", "--timeout", "2s"]);
    let holder = wait("one VIP holder", || {
        match holders(&bed, &vip, &[1, 2, 3])[..] {
            [one] => Some(one),
            _ => None,
        }
    });
    site_reported_on(&bed, holder);
    let bed = Arc::new(bed);
    let auditor = Auditor::start(bed.clone(), vip.clone(), vec![1, 2, 3]);
    bed.link(holder, false).expect("cut the holder off");
    let others: Vec<u64> = (1..=3).filter(|id| *id != holder).collect();
    let survivor = wait("the VIP on a survivor", || {
        match holders(&bed, &vip, &others)[..] {
            [one] => Some(one),
            _ => None,
        }
    });
    // The site's starts are in the survivor's log before the audit reads it (the VIP
    // moves only once the fence has timed out, and `web` takes a while to answer).
    site_reported_on(&bed, survivor);
    let record = finished_fence(&bed, holder, &others);
    let (most, most_web) = auditor.finish();
    assert_eq!(record.outcome, "failed", "{record:?}");
    assert!(record.detail.contains("timed out"), "{record:?}");
    assert!(
        record.detail.contains("waiting for the lease"),
        "{record:?}"
    );
    assert!(
        most <= 1,
        "split brain: {most} hosts held the VIP at one instant"
    );
    assert!(most_web <= 1, "{most_web} hosts ran web at one instant");
    // Not fenced: the cut-off host's agent still runs, and gave the VIP up by its lease.
    assert!(!namespace_empty(&bed.hosts[(holder - 1) as usize].netns));
    bed.link(holder, true).expect("heal the cut");
    wait("one holder after healing", || {
        (holders(&bed, &vip, &[1, 2, 3]).len() == 1).then_some(())
    });
    operations_audit(&bed, &[1, 2, 3], &BTreeMap::new());
}

// --- watchdog ---
/// How long the watchdog stand-in waits for a pet before it resets its host.
const WATCHDOG_TIMEOUT: Duration = Duration::from_millis(600);

/// Every host's agent pets a watchdog (the stand-in, a FIFO); the holder's agent hangs
/// (SIGSTOP): it stops petting, and the stand-in resets its host (every process killed,
/// link down, addresses gone) no sooner than its timeout, while the site moves to a
/// survivor with never two holders. The healthy hosts are never reset, and a clean stop
/// (SIGTERM) of a healthy agent disarms its watchdog with the magic close.
#[test]
fn a_hung_host_stops_petting_its_watchdog_and_is_reset() {
    use e2e::netns::watchdog::WatchdogStandIn;
    if !enabled("a_hung_host_stops_petting_its_watchdog_and_is_reset") {
        return;
    }
    let bed = TestBed::new(3).expect("build the test bed");
    let mut stand_ins = Vec::new();
    for host in &bed.hosts {
        let device = host.config.with_file_name("watchdog");
        let stand_in = WatchdogStandIn::start(&device, &host.netns, WATCHDOG_TIMEOUT)
            .expect("the watchdog stand-in");
        let mut config = std::fs::read_to_string(&host.config).expect("read the config");
        let device = device.display().to_string();
        config.push_str(&format!("\n[watchdog]\ndevice = {device:?}\n"));
        std::fs::write(&host.config, config).expect("write the config");
        stand_ins.push(stand_in);
    }
    let (bed, vip) = site_on(bed);
    let holder = wait("one VIP holder", || {
        match holders(&bed, &vip, &[1, 2, 3])[..] {
            [one] => Some(one),
            _ => None,
        }
    });
    site_reported_on(&bed, holder);
    wait("every host petting its watchdog", || {
        stand_ins.iter().all(|s| s.state().pets > 0).then_some(())
    });
    let bed = Arc::new(bed);
    let auditor = Auditor::start(bed.clone(), vip.clone(), vec![1, 2, 3]);
    let hung_at = Instant::now();
    bed.hang(holder, true);
    let watchdog = &stand_ins[(holder - 1) as usize];
    let reset_at = wait("the hung host reset by its watchdog", || {
        watchdog.state().reset_at
    });
    let others: Vec<u64> = (1..=3).filter(|id| *id != holder).collect();
    wait("the VIP on a survivor", || {
        (holders(&bed, &vip, &others).len() == 1).then_some(())
    });
    wait("web on a survivor", || {
        (web_runners(&bed, &others).len() == 1).then_some(())
    });
    // Not a wait for a signal: the audit keeps watching a little after the takeover.
    std::thread::sleep(Duration::from_millis(300));
    let (most, most_web) = auditor.finish();
    assert!(
        reset_at.duration_since(hung_at) >= WATCHDOG_TIMEOUT,
        "the host was reset {:?} after its agent hung, before the pets could have stopped",
        reset_at.duration_since(hung_at)
    );
    let netns = &bed.hosts[(holder - 1) as usize].netns;
    assert!(
        namespace_empty(netns),
        "processes are left on the reset host"
    );
    assert!(!bed.holds(holder, &vip), "the reset host holds the VIP");
    assert!(
        most <= 1,
        "split brain: {most} hosts held the VIP at one instant"
    );
    assert!(most_web <= 1, "{most_web} hosts ran web at one instant");
    for id in &others {
        let state = stand_ins[(*id - 1) as usize].state();
        assert_eq!(state.reset_at, None, "healthy host {id} was reset");
    }
    // A clean stop disarms the watchdog: the magic close, then no reset.
    let stopped = others[0];
    let pid = bed.agent_pid(stopped).expect("a running agent");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("a pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let watchdog = &stand_ins[(stopped - 1) as usize];
    wait("the stopped agent's watchdog disarmed", || {
        watchdog.state().disarmed.then_some(())
    });
    assert_eq!(
        watchdog.state().reset_at,
        None,
        "a clean stop reset its host"
    );
}
