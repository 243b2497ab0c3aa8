//! Two-node clusters with a witness (issue 16, point 3) on the namespace test bed: two hosts
//! with an agent each, `encluster witness serve` in the client namespace (a third machine),
//! and a site (a netlink VIP and a web server, grouped). Every fault runs under the
//! split-brain auditor of the hosts tests (the most hosts holding the VIP, or running the
//! web server, at one instant must never exceed one), and the operation audit checks the
//! agents' own records afterwards.
//! * Either node may crash, one after the other: the survivor keeps or takes the site.
//! * A cut between the two nodes (both still reach the witness) leaves one side serving.
//! * The witness down while both nodes are up changes nothing; a cut while it is down leaves
//!   neither side holding anything, until the witness is back.
//! * A restarted witness keeps its grant: the losing side is still refused.
//!
//! The witness refusing a node of another cluster's CA is tested over real TLS in the
//! agent (`agent/src/witness/tests.rs`). These run when RUN_NETNS_TESTS=1 (as root).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::netns::{TestBed, enabled};
use e2e::site::wait_for as wait;

use crate::hosts::{Auditor, holders, no_double_run, now_ms, site_reported_on};

/// `encluster witness serve` in the bed's client namespace; killed when dropped.
struct WitnessServer {
    netns: String,
    dir: PathBuf,
    listen: String,
    child: Option<Child>,
}

impl WitnessServer {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("witness.log"))
            .expect("the witness log");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns])
            .arg(e2e::binary())
            .args(["witness", "serve", "--listen", &self.listen, "--dir"])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start the witness");
        self.child = Some(child);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("witness.log")).unwrap_or_default()
    }

    /// The grant file the witness keeps for the bed's cluster.
    fn grant(&self) -> Option<String> {
        let entries = std::fs::read_dir(&self.dir).ok()?;
        let path = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| path.extension().is_some_and(|ext| ext == "grant"))?;
        std::fs::read_to_string(path).ok()
    }
}

impl Drop for WitnessServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The bed: the witness is dropped (killed) first, then the hosts and namespaces.
struct Two {
    witness: WitnessServer,
    bed: Arc<TestBed>,
    vip: String,
}

impl Two {
    fn bed_mut(&mut self) -> &mut TestBed {
        Arc::get_mut(&mut self.bed).expect("no auditor holds the bed")
    }
}

fn ok(output: std::process::Output) -> std::process::Output {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Two hosts whose configs name the witness, the witness serving their cluster, and the
/// site, once both nodes vote.
fn two_nodes_with_a_witness() -> Two {
    let mut bed = TestBed::new(2).expect("build the test bed");
    let listen = format!("198.18.{}.200:7480", bed.subnet);
    for host in &bed.hosts {
        let mut config = std::fs::OpenOptions::new()
            .append(true)
            .open(&host.config)
            .expect("the node config");
        writeln!(config, "\n[witness]\naddress = \"{listen}\"").expect("name the witness");
    }
    for id in 1..=2 {
        bed.start(id).expect("start agent");
    }
    wait("a master", || {
        bed.cli(1, &["status", "--json"])
            .status
            .success()
            .then_some(())
    });
    let dir = bed.dir.path().join("witness");
    std::fs::create_dir(&dir).expect("the witness directory");
    let bundle = dir.join("bed.json");
    ok(bed.cli(1, &["witness", "add", "--out", &bundle.to_string_lossy()]));
    let mut witness = WitnessServer {
        netns: bed.client.clone(),
        dir,
        listen,
        child: None,
    };
    witness.start();
    let vip = format!("198.18.{}.100", bed.subnet);
    create_site(&bed, &vip);
    wait("both nodes voting", || {
        (voters(&bed, 1)? == [1, 2]).then_some(())
    });
    Two {
        witness,
        bed: Arc::new(bed),
        vip,
    }
}

fn create_site(bed: &TestBed, vip: &str) {
    ok(bed.create_netlink_vip("vip", vip));
    #[rustfmt::skip]
    let web = [
        "resource", "create", "web", "--type", "process",
        "--param", "command=python3",
        "--param", "args=-m http.server 8080 --bind 0.0.0.0 --directory /",
        "--param", "probe_tcp=127.0.0.1:8080", "--monitor-interval", "1s",
    ];
    ok(bed.cli(1, &web));
    ok(bed.cli(1, &["group", "create", "site", "vip", "web"]));
}

/// The voters as node `id` sees them (the master's view when it reaches one).
fn voters(bed: &TestBed, id: u64) -> Option<Vec<u64>> {
    let output = bed.cli(id, &["status", "--json"]);
    let status: api::Status = serde_json::from_slice(&output.stdout).ok()?;
    Some(
        status
            .nodes
            .iter()
            .filter(|node| node.role == "voter")
            .map(|node| node.id)
            .collect(),
    )
}

/// Whether node `id` is the master and the only voter: the witness granted it the cluster.
fn sole_voter(bed: &TestBed, id: u64) -> bool {
    let output = bed.cli(id, &["status", "--json"]);
    let Ok(status) = serde_json::from_slice::<api::Status>(&output.stdout) else {
        return false;
    };
    let voters: Vec<u64> = status
        .nodes
        .iter()
        .filter(|node| node.role == "voter")
        .map(|node| node.id)
        .collect();
    status.master == Some(id) && voters == [id]
}

fn one_holder(two: &Two) -> u64 {
    let holder = wait("one VIP holder", || {
        match holders(&two.bed, &two.vip, &[1, 2])[..] {
            [one] => Some(one),
            _ => None,
        }
    });
    site_reported_on(&two.bed, holder);
    holder
}

/// Cut (or restore) the link between the two nodes only: each host drops what it sends
/// to the other, and both still reach the witness and the client.
fn cut_between(bed: &TestBed, cut: bool) {
    let verb = if cut { "add" } else { "del" };
    for (from, to) in [(0, 1), (1, 0)] {
        let target = format!("{}/32", bed.hosts[to].addr);
        let output = Command::new("ip")
            .args([
                "-n",
                &bed.hosts[from].netns,
                "route",
                verb,
                "blackhole",
                &target,
            ])
            .output()
            .expect("run ip");
        assert!(
            output.status.success(),
            "ip route {verb} blackhole {target}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The site answers through the VIP from the client namespace.
fn site_answers(two: &Two) -> Option<String> {
    two.bed.client_get(&format!("http://{}:8080/", two.vip))
}

/// Crashes `id` (its processes killed, its link dark) and waits until `survivor` is the
/// only voter and serves the site, under the auditor; the time from the crash until the
/// site answered again.
fn crash_and_fail_over(two: &mut Two, id: u64, survivor: u64) -> Duration {
    let bed = two.bed_mut();
    bed.crash(id);
    bed.link(id, false).expect("cut the crashed host");
    let crashed_at = Instant::now();
    let auditor = Auditor::start(two.bed.clone(), two.vip.clone(), vec![survivor]);
    wait("the survivor granted the cluster", || {
        sole_voter(&two.bed, survivor).then_some(())
    });
    wait("the survivor holding the VIP", || {
        (holders(&two.bed, &two.vip, &[survivor]) == [survivor]).then_some(())
    });
    wait("the site through the VIP", || site_answers(two));
    let gap = crashed_at.elapsed();
    let (most, most_web) = auditor.finish();
    assert!(most <= 1, "{most} hosts held the VIP at one instant");
    assert!(most_web <= 1, "{most_web} hosts ran web at one instant");
    gap
}

#[test]
fn two_nodes_with_a_witness_survive_the_crash_of_either_node() {
    if !enabled("two_nodes_with_a_witness_survive_the_crash_of_either_node") {
        return;
    }
    let mut two = two_nodes_with_a_witness();
    let holder = one_holder(&two);
    wait("the site through the VIP", || site_answers(&two));
    let other = 3 - holder;
    // The node without the site dies: the holder loses its quorum, is granted the cluster
    // by the witness, and serves again as the only voter.
    let first_crash_ms = now_ms();
    let kept = crash_and_fail_over(&mut two, other, holder);
    println!("witness: the holder kept the site; it answered again {kept:?} after the crash");
    // The dead node comes back: it rejoins and votes again (a new epoch).
    let bed = two.bed_mut();
    bed.link(other, true).expect("restore the link");
    bed.start(other).expect("restart the agent");
    // The master records the role once the whole change committed (a joint configuration
    // shows both as voters before; a master lost in the middle of one leaves no two-voter
    // membership to claim).
    wait("both nodes voting again", || {
        let events = two.bed.cli(holder, &["events"]);
        let events = String::from_utf8_lossy(&events.stdout);
        events
            .contains(&format!("node {other} is now a voter"))
            .then_some(())
    });
    // Now the holder dies: the other node takes the site.
    let second_crash_ms = now_ms();
    let taken = crash_and_fail_over(&mut two, holder, other);
    println!("witness: the other node took the site; it answered {taken:?} after the crash");
    let ended = BTreeMap::from([
        (other, vec![first_crash_ms]),
        (holder, vec![second_crash_ms]),
    ]);
    no_double_run(&two.bed, &[other], &ended);
}

#[test]
fn a_cut_between_two_nodes_with_a_witness_leaves_one_side_serving() {
    if !enabled("a_cut_between_two_nodes_with_a_witness_leaves_one_side_serving") {
        return;
    }
    let two = two_nodes_with_a_witness();
    one_holder(&two);
    let auditor = Auditor::start(two.bed.clone(), two.vip.clone(), vec![1, 2]);
    let cut_at = Instant::now();
    cut_between(&two.bed, true);
    let winner = wait("one side granted the cluster", || {
        [1, 2].into_iter().find(|id| sole_voter(&two.bed, *id))
    });
    let loser = 3 - winner;
    wait("the granted side holding the VIP", || {
        (holders(&two.bed, &two.vip, &[1, 2]) == [winner]).then_some(())
    });
    wait("the site through the VIP", || site_answers(&two));
    println!(
        "witness: cut between the nodes; the site answered from one side {:?} after the cut",
        cut_at.elapsed()
    );
    // Not a wait for a signal: the audit keeps watching a little after the takeover, so a
    // late second holder would be seen.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !sole_voter(&two.bed, loser),
        "both sides are the only voter"
    );
    let (most, most_web) = auditor.finish();
    assert!(most <= 1, "split brain: {most} hosts held the VIP at once");
    assert!(most_web <= 1, "{most_web} hosts ran web at one instant");
    cut_between(&two.bed, false);
    wait("both nodes voting after healing", || {
        (voters(&two.bed, winner)? == [1, 2]).then_some(())
    });
    wait("one holder after healing", || {
        (holders(&two.bed, &two.vip, &[1, 2]).len() == 1).then_some(())
    });
    no_double_run(&two.bed, &[1, 2], &BTreeMap::new());
}

#[test]
fn the_witness_down_changes_nothing_and_a_cut_without_it_leaves_nothing_held() {
    if !enabled("the_witness_down_changes_nothing") {
        return;
    }
    let mut two = two_nodes_with_a_witness();
    let holder = one_holder(&two);
    let before = status_of(&two.bed, holder);
    two.witness.stop();
    let auditor = Auditor::start(two.bed.clone(), two.vip.clone(), vec![1, 2]);
    // Not a wait for a signal: nothing may happen while both nodes are up, and the time
    // is longer than both claim waits.
    std::thread::sleep(Duration::from_secs(3));
    let after = status_of(&two.bed, holder);
    assert_eq!(holders(&two.bed, &two.vip, &[1, 2]), [holder]);
    assert_eq!(
        (after.master, after.term, voters(&two.bed, holder)),
        (before.master, before.term, Some(vec![1, 2])),
        "the witness going away changed the cluster"
    );
    // A cut with the witness down: neither side can be granted, both let go.
    cut_between(&two.bed, true);
    wait("the holder letting the VIP go", || {
        holders(&two.bed, &two.vip, &[1, 2])
            .is_empty()
            .then_some(())
    });
    // Not a wait for a signal: longer than both claim waits plus a lease, no side may
    // take the site without the witness.
    std::thread::sleep(Duration::from_secs(3));
    assert!(holders(&two.bed, &two.vip, &[1, 2]).is_empty());
    assert!(!sole_voter(&two.bed, 1) && !sole_voter(&two.bed, 2));
    // The witness back: one side is granted the cluster and serves.
    two.witness.start();
    let winner = wait("one side granted the cluster", || {
        [1, 2].into_iter().find(|id| sole_voter(&two.bed, *id))
    });
    wait("the granted side holding the VIP", || {
        (holders(&two.bed, &two.vip, &[1, 2]) == [winner]).then_some(())
    });
    let (most, most_web) = auditor.finish();
    assert!(most <= 1, "split brain: {most} hosts held the VIP at once");
    assert!(most_web <= 1, "{most_web} hosts ran web at one instant");
    cut_between(&two.bed, false);
    wait("both nodes voting after healing", || {
        (voters(&two.bed, winner)? == [1, 2]).then_some(())
    });
    no_double_run(&two.bed, &[1, 2], &BTreeMap::new());
}

fn status_of(bed: &TestBed, id: u64) -> api::Status {
    let output = ok(bed.cli(id, &["status", "--json"]));
    serde_json::from_slice(&output.stdout).expect("status JSON")
}

#[test]
fn a_restarted_witness_keeps_its_grant() {
    if !enabled("a_restarted_witness_keeps_its_grant") {
        return;
    }
    let mut two = two_nodes_with_a_witness();
    one_holder(&two);
    let auditor = Auditor::start(two.bed.clone(), two.vip.clone(), vec![1, 2]);
    cut_between(&two.bed, true);
    let winner = wait("one side granted the cluster", || {
        [1, 2].into_iter().find(|id| sole_voter(&two.bed, *id))
    });
    let loser = 3 - winner;
    let grant = two.witness.grant().expect("the witness stored its grant");
    two.witness.stop();
    let refusals = |log: &str| log.matches("Witness refused a claim").count();
    let refused_before = refusals(&two.witness.log());
    two.witness.start();
    // The losing side claims again every second: the restarted witness refuses it.
    wait("the restarted witness refusing the other side", || {
        (refusals(&two.witness.log()) > refused_before).then_some(())
    });
    assert_eq!(two.witness.grant().as_deref(), Some(grant.as_str()));
    assert!(
        !sole_voter(&two.bed, loser),
        "the restarted witness granted both"
    );
    assert!(!holders(&two.bed, &two.vip, &[1, 2]).contains(&loser));
    let (most, most_web) = auditor.finish();
    assert!(most <= 1, "split brain: {most} hosts held the VIP at once");
    assert!(most_web <= 1, "{most_web} hosts ran web at one instant");
    cut_between(&two.bed, false);
    wait("both nodes voting after healing", || {
        (voters(&two.bed, winner)? == [1, 2]).then_some(())
    });
    no_double_run(&two.bed, &[1, 2], &BTreeMap::new());
}
