//! `cargo xtask bench-hosts`: the real-host failover benchmark of issue 5 on the
//! namespace test bed (crates/e2e `netns::TestBed`): a VIP (netlink mode, gratuitous ARP)
//! grouped with a web server that answers its node's name, three hosts, and the peers'
//! `failover-client.py` in the client namespace probing every 10 ms over fresh
//! connections. Faults: crash (agent and its processes killed, link down, as a dead host
//! answers nothing), hang (agent SIGSTOPped; its web server keeps running), link cut.
//! Per run: the client-visible gap (longest time without a successful answer around the
//! fault) and split-brain instants (the most hosts holding the VIP at once, polled every
//! 5 ms over every host, the faulty one included).

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use e2e::netns::TestBed;

use super::stats::Summary;

const CLIENT: &str = "../shared/bench/peers/failover-client.py";

fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn cli_ok(bed: &TestBed, args: &[&str]) -> anyhow::Result<()> {
    let output = bed.cli(1, args);
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
    for id in 1..=3 {
        bed.start(id)?;
    }
    wait_for("a master", Duration::from_secs(30), || {
        bed.cli(1, &["status"]).status.success().then_some(())
    })?;
    let vip = format!("198.18.{}.100", bed.subnet);
    cli_ok(
        &bed,
        &[
            "resource",
            "create",
            "vip",
            "--type",
            "vip",
            "--param",
            &format!("ip={vip}"),
            "--param",
            "mode=netlink",
            "--param",
            "nic=eth0",
            "--param",
            "cidr_netmask=24",
            "--monitor-interval",
            "1s",
        ],
    )?;
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
    cli_ok(&bed, &["group", "create", "site", "vip", "web"])?;
    Ok((bed, vip))
}

/// One fault: the gap in ms and the most simultaneous VIP holders seen.
fn run_once(bed: &mut TestBed, vip: &str, fault: &str) -> anyhow::Result<(f64, usize)> {
    let holder = wait_for(
        "one VIP holder",
        Duration::from_secs(30),
        || match holders(bed, vip)[..] {
            [one] => Some(one),
            _ => None,
        },
    )?;
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
    let audit_bed: &TestBed = bed;
    std::thread::scope(|scope| {
        let most = most.clone();
        let stop_flag = stop.clone();
        scope.spawn(move || {
            while !stop_flag.load(Ordering::Relaxed) {
                most.fetch_max(holders(audit_bed, vip).len(), Ordering::Relaxed);
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
    // Restore the faulty host as a rejoining node.
    match fault {
        "crash" => {
            bed.link(holder, true)?;
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
    wait_for("one holder after recovery", Duration::from_secs(30), || {
        (holders(bed, vip).len() == 1).then_some(())
    })?;
    std::thread::sleep(Duration::from_millis(2500));
    Ok((gap * 1000.0, most.load(Ordering::Relaxed)))
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
    println!(
        "| fault | runs | gap median ms | gap p99 ms | min ms | max ms | \
         runs with 2+ VIP holders at once |"
    );
    println!("|---|---|---|---|---|---|---|");
    for fault in ["crash", "hang", "linkdown"] {
        let mut gaps = Vec::new();
        let mut split = 0;
        for _ in 0..runs {
            let (gap, most) = run_once(&mut bed, &vip, fault)?;
            gaps.push(gap);
            if most > 1 {
                split += 1;
            }
        }
        println!("| {fault} | {} | {split} |", Summary::of(gaps).row());
    }
    Ok(())
}
