//! `cargo xtask bench-hosts`: the real-host failover benchmark of issue 5 on the
//! namespace test bed (crates/e2e `netns::TestBed`): a VIP (netlink mode, gratuitous ARP)
//! grouped with a web server that answers its node's name, three hosts, and the peers'
//! `failover-client.py` in the client namespace probing every 10 ms over fresh
//! connections. Faults: crash (agent and its processes killed, link down, as a dead host
//! answers nothing), hang (agent SIGSTOPped; its web server keeps running), link cut.
//! Per run: the client-visible gap (longest time without a successful answer around the
//! fault) and split-brain instants (the most hosts holding the VIP at once, polled every
//! 5 ms over every host, the faulty one included).
//!
//! `FENCE=netns` adds a fencing device with the test bed's own agent
//! (`crates/e2e/fence/fence_netns`, which powers a namespace host off), so a lost holder is
//! fenced and its VIP starts elsewhere once the fence is confirmed, not after its lease
//! (issue 16). `DETECT=fast` gives every agent the tighter failure detection (heartbeat
//! 50 ms, suspect 150 ms, down 300 ms) in place of the defaults (100 / 300 / 500 ms).

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use e2e::netns::TestBed;

use super::stats::Summary;

const CLIENT: &str = "bench/peers/failover-client.py";

fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn cli_ok(bed: &TestBed, args: &[&str]) -> anyhow::Result<()> {
    succeeded(bed.cli(1, args))
}

/// A CLI run's failure as an error with what it printed.
fn succeeded(output: std::process::Output) -> anyhow::Result<()> {
    anyhow::ensure!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

fn holders(bed: &TestBed, vip: &str) -> Vec<u64> {
    (1..=bed.hosts.len() as u64)
        .filter(|id| bed.holds(*id, vip))
        .collect()
}

fn wait_for<T>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn setup() -> anyhow::Result<(TestBed, String)> {
    let mut bed = TestBed::new(3)?;
    if fast_detection() {
        for host in &bed.hosts {
            let config = std::fs::read_to_string(&host.config)?;
            let defaults = [
                (
                    "heartbeat_interval = \"100ms\"",
                    "heartbeat_interval = \"50ms\"",
                ),
                ("suspect_after = \"300ms\"", "suspect_after = \"150ms\""),
                ("down_after = \"500ms\"", "down_after = \"300ms\""),
            ];
            let mut fast = config.clone();
            for (default, tighter) in defaults {
                anyhow::ensure!(fast.contains(default), "the bed's config lacks {default}");
                fast = fast.replace(default, tighter);
            }
            std::fs::write(&host.config, fast)?;
        }
    }
    for id in 1..=3 {
        bed.start(id)?;
    }
    wait_for("a master", Duration::from_secs(30), || {
        bed.cli(1, &["status"]).status.success().then_some(())
    })?;
    let vip = format!("198.18.{}.100", bed.subnet);
    succeeded(bed.create_netlink_vip("vip", &vip))?;
    let serve = "d=/tmp/encbench-$ENCLUSTER_NODE && mkdir -p $d && echo $ENCLUSTER_NODE > \
                 $d/index.html && exec python3 -m http.server 8080 --bind 0.0.0.0 --directory $d";
    cli_ok(
        &bed,
        &[
            "resource",
            "create",
            "web",
            "--type",
            "process",
            "--param",
            "command=sh",
            "--param",
            &format!("args=[\"-c\", \"{serve}\"]"),
            "--param",
            "probe_tcp=127.0.0.1:8080",
            "--monitor-interval",
            "1s",
        ],
    )?;
    if cloned_web() {
        // As with keepalived: the web server runs on every host and only the VIP moves.
        cli_ok(&bed, &["resource", "update", "web", "--clone"])?;
        cli_ok(
            &bed,
            &["constraint", "add", "colocation", "vip", "web", "INFINITY"],
        )?;
    } else {
        cli_ok(&bed, &["group", "create", "site", "vip", "web"])?;
    }
    if fencing() {
        let agent = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../crates/e2e/fence/fence_netns"
        );
        // The API takes an absolute path without `..` segments.
        let agent = std::fs::canonicalize(agent)?;
        let agent = agent.to_string_lossy();
        let hosts: Vec<String> = (bed.hosts.iter().enumerate())
            .map(|(index, host)| format!("node{}:{}", index + 1, host.netns))
            .collect();
        let hosts = hosts.join(",");
        cli_ok(
            &bed,
            &["fence", "add", "bed", "--agent", &agent, "--hosts", &hosts],
        )?;
    }
    Ok((bed, vip))
}

/// `FENCE=netns`: a fencing device covers every host.
fn fencing() -> bool {
    std::env::var("FENCE").is_ok_and(|fence| fence == "netns")
}

/// `DETECT=fast`: heartbeat 50 ms, suspect 150 ms, down 300 ms.
fn fast_detection() -> bool {
    std::env::var("DETECT").is_ok_and(|detect| detect == "fast")
}

/// `SITE=clone`: a cloned web server with the VIP colocated; otherwise (`SITE=group`) the
/// VIP and one web server in a group, both moving on failover.
fn cloned_web() -> bool {
    std::env::var("SITE").is_ok_and(|site| site == "clone")
}

/// One fault: the gap in ms, the most simultaneous VIP holders among hosts the client can
/// reach, and among all hosts (the faulty one included, still holding it or not).
fn run_once(bed: &mut TestBed, vip: &str, fault: &str) -> anyhow::Result<Outcome> {
    match std::env::var("HOLDER").as_deref() {
        Ok("master") => place_vip(bed, vip, true)?,
        Ok("other") => place_vip(bed, vip, false)?,
        _ => {}
    }
    let holder = wait_for(
        "one VIP holder",
        Duration::from_secs(30),
        || match holders(bed, vip)[..] {
            [one] => Some(one),
            _ => None,
        },
    )?;
    let holder_was_master = master(bed, holder) == Some(holder);
    let mut client = Command::new("ip")
        .args([
            "netns",
            "exec",
            &bed.client,
            "python3",
            CLIENT,
            vip,
            "8080",
            "0.01",
            "0.05",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = client.stdout.take().expect("piped");
    let lines = std::thread::spawn(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    std::thread::sleep(Duration::from_millis(1000));
    let most = Arc::new(AtomicUsize::new(0));
    let most_all = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let fault_at = epoch();
    match fault {
        "crash" => {
            bed.crash(holder);
            bed.link(holder, false)?;
        }
        "hang" => bed.hang(holder, true),
        _ => bed.link(holder, false)?,
    }
    let others: Vec<u64> = (1..=3).filter(|id| *id != holder).collect();
    // A crashed or cut-off host cannot answer the client; a hung one still can.
    let reachable: Vec<u64> = if fault == "hang" {
        vec![1, 2, 3]
    } else {
        others.clone()
    };
    let audit_bed: &TestBed = bed;
    std::thread::scope(|scope| {
        let most = most.clone();
        let most_all = most_all.clone();
        let stop_flag = stop.clone();
        let reachable = reachable.clone();
        scope.spawn(move || {
            while !stop_flag.load(Ordering::Relaxed) {
                let now = holders(audit_bed, vip);
                let seen = now.iter().filter(|id| reachable.contains(id)).count();
                most.fetch_max(seen, Ordering::Relaxed);
                most_all.fetch_max(now.len(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let moved = wait_for("the VIP on a survivor", Duration::from_secs(20), || {
            others
                .iter()
                .any(|id| audit_bed.holds(*id, vip))
                .then_some(())
        });
        std::thread::sleep(Duration::from_millis(1500));
        stop.store(true, Ordering::Relaxed);
        moved
    })?;
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(client.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = client.wait();
    let lines = lines.join().unwrap_or_default();
    // Longest interval without a successful answer that overlaps the fault.
    let mut last_ok = fault_at;
    let mut gap: f64 = 0.0;
    for line in &lines {
        let mut words = line.split_whitespace();
        let (Some(_start), Some(end), Some(kind)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        let Ok(end) = end.parse::<f64>() else {
            continue;
        };
        if kind == "ok" {
            if end > fault_at {
                gap = gap.max(end - last_ok);
            }
            last_ok = last_ok.max(end);
        }
    }
    // Restore the faulty host as a rejoining node; a fenced host was powered off whatever
    // the fault, so it restarts like a crashed one.
    let fault = if fencing() { "crash" } else { fault };
    match fault {
        "crash" => {
            bed.crash(holder);
            bed.link(holder, true)?;
            // A fenced host's own link went down too (the fence agent's power-off).
            let netns = &bed.hosts[(holder - 1) as usize].netns;
            let _ = Command::new("ip")
                .args(["-n", netns, "link", "set", "eth0", "up"])
                .output();
            let _ = Command::new("ip")
                .args([
                    "-n",
                    &bed.hosts[(holder - 1) as usize].netns,
                    "addr",
                    "del",
                    &format!("{vip}/24"),
                    "dev",
                    "eth0",
                ])
                .output();
            bed.start(holder)?;
        }
        "hang" => bed.hang(holder, false),
        _ => bed.link(holder, true)?,
    }
    // Wait for full recovery: every node online and a voter again (dynamic quorum shrank
    // the voters while a node was away, and flap damping keeps a node that failed again and
    // again out for a doubling probation), so the next fault meets a whole cluster.
    wait_for(
        "every node an online voter",
        Duration::from_secs(90),
        || {
            let output = bed.cli(1, &["status", "--json"]);
            let status: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
            let nodes = status["nodes"].as_array()?;
            nodes
                .iter()
                .all(|n| n["state"] == "online" && n["role"] == "voter")
                .then_some(())
        },
    )?;
    wait_for("one holder after recovery", Duration::from_secs(30), || {
        (holders(bed, vip).len() == 1).then_some(())
    })?;
    std::thread::sleep(Duration::from_millis(2500));
    Ok(Outcome {
        gap_ms: gap * 1000.0,
        most: most.load(Ordering::Relaxed),
        most_all: most_all.load(Ordering::Relaxed),
        holder_was_master,
    })
}

/// What one fault run measured.
struct Outcome {
    gap_ms: f64,
    /// Most simultaneous holders among hosts the client can reach.
    most: usize,
    /// Most simultaneous holders among all hosts.
    most_all: usize,
    /// Whether the faulty host was the master (its loss needs an election first).
    holder_was_master: bool,
}

/// `HOLDER=master`: move the VIP (or its group) to the master first, for 20 s, so that
/// the fault hits the master and the new master must first be elected. `HOLDER=other`
/// (`on_master` false): to a node other than the master, so that the master that judges
/// the fault is the one that granted the holder its lease (and may fence it).
fn place_vip(bed: &TestBed, vip: &str, on_master: bool) -> anyhow::Result<()> {
    let master = wait_for("a master", Duration::from_secs(30), || master(bed, 1))?;
    let now = holders(bed, vip);
    let target = if on_master {
        master
    } else {
        match now[..] {
            [one] if one != master => return Ok(()),
            _ => (1..=bed.hosts.len() as u64)
                .find(|id| *id != master)
                .expect("another host"),
        }
    };
    if now == [target] {
        return Ok(());
    }
    let to = format!("node{target}");
    let moved = if cloned_web() {
        ["resource", "move", "vip", "--to", &to, "--for", "20s"]
    } else {
        ["group", "move", "site", "--to", &to, "--for", "20s"]
    };
    cli_ok(bed, &moved)?;
    wait_for("the VIP moved", Duration::from_secs(30), || {
        (holders(bed, vip) == [target]).then_some(())
    })?;
    // Let the web server come up behind it.
    std::thread::sleep(Duration::from_millis(1500));
    Ok(())
}

/// `KEEP_LOGS=DIR`: copy every agent's log there, for a post-mortem.
fn keep_logs(bed: &TestBed) {
    let Some(to) = std::env::var_os("KEEP_LOGS") else {
        return;
    };
    for (index, host) in bed.hosts.iter().enumerate() {
        let log = host.config.with_file_name("agent.log");
        let _ = std::fs::copy(log, Path::new(&to).join(format!("agent{}.log", index + 1)));
    }
}

/// The master as `id`'s agent sees it.
fn master(bed: &TestBed, id: u64) -> Option<u64> {
    let output = bed.cli(id, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    status.get("master")?.as_u64()
}

/// Run every fault `runs` times and print Markdown.
pub fn run(runs: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        std::path::Path::new(CLIENT).exists(),
        "{CLIENT} is missing (run from the repository root)"
    );
    let (mut bed, vip) = setup()?;
    println!("# real-host failover benchmark (namespace test bed)\n");
    println!("machine: {}\n", super::machine());
    let site = if cloned_web() {
        "a VIP colocated with a web server cloned on every host (only the VIP moves)"
    } else {
        "a group of a VIP and a web server (both move)"
    };
    println!("site: {site}");
    println!(
        "fencing: {}; detection: {}\n",
        if fencing() {
            "fence_netns covers every host"
        } else {
            "none (leases)"
        },
        if fast_detection() {
            "fast (50 / 150 / 300 ms)"
        } else {
            "defaults (100 / 300 / 500 ms)"
        }
    );
    println!(
        "| fault | runs | gap median ms | gap p99 ms | min ms | max ms | \
         runs with 2+ reachable holders | runs with 2+ holders, faulty host included |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let faults = std::env::var("FAULTS").unwrap_or_else(|_| "crash hang linkdown".into());
    let mut by_role = Vec::new();
    for fault in faults.split_whitespace() {
        let mut gaps = Vec::new();
        let (mut split, mut overlap) = (0, 0);
        let mut role_gaps: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..runs {
            let outcome = run_once(&mut bed, &vip, fault).inspect_err(|_| keep_logs(&bed))?;
            gaps.push(outcome.gap_ms);
            role_gaps[usize::from(outcome.holder_was_master)].push(outcome.gap_ms);
            split += usize::from(outcome.most > 1);
            overlap += usize::from(outcome.most_all > 1);
        }
        by_role.push((fault.to_string(), role_gaps));
        // A crashed host keeps the address in its (dead) namespace, as keepalived's does.
        let overlap = if fault == "crash" {
            "n/a".to_string()
        } else {
            overlap.to_string()
        };
        println!(
            "| {fault} | {} | {split} | {overlap} |",
            Summary::of(gaps).row()
        );
    }
    keep_logs(&bed);
    println!("\nThe same runs by the faulty host's role:\n");
    println!("| fault | holder was | runs | gap median ms | gap p99 ms | min ms | max ms |");
    println!("|---|---|---|---|---|---|---|");
    for (fault, role_gaps) in by_role {
        for (role, gaps) in ["not master", "master"].iter().zip(role_gaps) {
            if !gaps.is_empty() {
                println!("| {fault} | {role} | {} |", Summary::of(gaps).row());
            }
        }
    }
    Ok(())
}
